//! Which status a commit moves a work item to: a transition keyword right before the
//! item's key (`Fixes APP-12`).
//!
//! The grammar, for each place the key pattern matches the message: the keyword as a
//! whole word (at the start of the message or after a character that is not a letter or
//! digit), in any case, then either a colon or one or more spaces or tabs, or a colon
//! and spaces or tabs, then the key. `Fixes APP-12`, `fixes: APP-12`, `FIXES  APP-12`
//! and `(closes AB#34)` count; `Fixes APP-12, APP-13` moves APP-12 only (the keyword
//! stands before it alone); `prefixes APP-12`, `Fixes\nAPP-12` and `FixesAPP-12` do not
//! count. When several keywords of the integration precede mentions of one item, the
//! first transition in the config wins.

use ferry_domain::SystemKind;

/// Whether `keyword` stands right before byte `at` of `message` (see the module docs).
pub fn keyword_before(message: &str, at: usize, keyword: &str) -> bool {
    let Some(before) = message.get(..at) else { return false };
    let gap = before.trim_end_matches([' ', '\t']);
    let spaced = gap.len() < before.len();
    let (gap, colon) = match gap.strip_suffix(':') {
        Some(g) => (g, true),
        None => (gap, false),
    };
    if !(spaced || colon) || gap.len() < keyword.len() {
        return false;
    }
    let Some(word) = gap.get(gap.len() - keyword.len()..) else { return false };
    if !word.eq_ignore_ascii_case(keyword) {
        return false;
    }
    let rest = &gap[..gap.len() - keyword.len()];
    rest.chars().next_back().is_none_or(|c| !c.is_alphanumeric())
}

/// The status the first of `transitions` (keyword, status) whose keyword stands before
/// one of the item's mentions (each starting at a byte of `starts`) moves it to.
pub fn moved_to<'t>(message: &str, starts: &[usize], transitions: &'t [(String, String)]) -> Option<&'t str> {
    transitions
        .iter()
        .find(|(keyword, _)| starts.iter().any(|&at| keyword_before(message, at, keyword)))
        .map(|(_, status)| status.as_str())
}

/// The field a transition sets: Jira's status (reached through workflow transitions),
/// Azure DevOps' State. Other systems are not commit targets.
pub fn status_field(kind: SystemKind) -> Option<&'static str> {
    match kind {
        SystemKind::Jira => Some("status"),
        SystemKind::AzureDevops => Some("System.State"),
        SystemKind::Redmine => None,
    }
}

/// The field that holds an item's type (Jira's issue type, Azure DevOps' work item
/// type): a status change is written within the item's type, whose workflow or states
/// it follows.
pub fn type_field(kind: SystemKind) -> Option<&'static str> {
    match kind {
        SystemKind::Jira => Some("issuetype"),
        SystemKind::AzureDevops => Some("System.WorkItemType"),
        SystemKind::Redmine => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `message` with the key at the first `APP-12`.
    fn before_key(message: &str, keyword: &str) -> bool {
        keyword_before(message, message.find("APP-12").expect("key"), keyword)
    }

    #[test]
    fn a_keyword_counts_as_a_whole_word_in_any_case_right_before_the_key() {
        for (message, expected) in [
            ("Fixes APP-12", true),
            ("fixes APP-12: the login", true),
            ("FIXES  APP-12", true),
            ("fixes:APP-12", true),
            ("fixes: APP-12", true),
            ("fixes\tAPP-12", true),
            ("Login (fixes APP-12)", true),
            ("Tidy up.\n\nFixes APP-12", true),
            ("prefixes APP-12", false),
            ("FixesAPP-12", false),
            ("Fixes\nAPP-12", false),
            ("Fixes the login for APP-12", false),
            ("fixes APP-7, APP-12", false),
            ("APP-12", false),
            ("fixes- APP-12", false),
        ] {
            assert_eq!(before_key(message, "fixes"), expected, "{message:?}");
        }
    }

    #[test]
    fn the_first_configured_keyword_before_any_mention_gives_the_status() {
        let transitions =
            vec![("fixes".to_string(), "Done".to_string()), ("starts".to_string(), "In Progress".to_string())];
        let message = "Starts APP-12; later: fixes APP-12";
        let starts: Vec<usize> = message.match_indices("APP-12").map(|(i, _)| i).collect();
        assert_eq!(moved_to(message, &starts, &transitions), Some("Done"));
        assert_eq!(moved_to(message, &starts[..1], &transitions), Some("In Progress"));
        assert_eq!(moved_to("APP-12 only", &[0], &transitions), None);
        assert_eq!(moved_to(message, &[message.len() + 5], &transitions), None, "out of range");
    }

    #[test]
    fn a_position_inside_a_character_is_no_mention() {
        assert!(!keyword_before("fixé APP-12", 4, "fix"));
    }
}
