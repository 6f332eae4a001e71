//! A criteria filter can only narrow the query it is pushed into, never widen it.
//!
//! A filter is a condition in the source system's query language (JQL for Jira, a WIQL
//! condition for Azure DevOps) that Ferry appends to its own query after the project and
//! type scope: `... AND (condition)`. Text that closes that group
//! (`labels = sync) OR (project = HR`) would turn the scope into an alternative and
//! read another project; an `ORDER BY`, `ASOF`, a comment or a statement separator would
//! change what the poll reads or how it pages. [`scoped_clause`] refuses all of those
//! before anything reaches the system, and wraps what it accepts in parentheses; the
//! live system still judges whether the condition itself is valid (at `apply`).

use std::fmt;

/// The language of a filter condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLanguage {
    Jql,
    Wiql,
}

impl fmt::Display for QueryLanguage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueryLanguage::Jql => "JQL",
            QueryLanguage::Wiql => "WIQL",
        })
    }
}

/// Why a condition cannot be a filter; `at` is the 1-based character it was found at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", at.map(|c| format!(" (character {c})")).unwrap_or_default())]
pub struct FilterError {
    pub message: String,
    pub at: Option<usize>,
}

/// What a filter may hold, for hints.
pub const FILTER_RULES: &str = "a filter is one condition inside the integration's project and type: \
     balanced parentheses, closed quotes, and no ORDER BY, ASOF, comments or `;`";

fn refuse(message: impl Into<String>, at: usize) -> FilterError {
    FilterError { message: message.into(), at: Some(at + 1) }
}

/// Checks that `condition` stays inside the group it is put in (see the module docs).
pub fn check_condition(lang: QueryLanguage, condition: &str) -> Result<(), FilterError> {
    let chars: Vec<char> = condition.chars().collect();
    let mut depth: usize = 0;
    let mut opened_at: Vec<usize> = Vec::new();
    let mut words: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' => i = skip_string(lang, &chars, i)?,
            '[' if lang == QueryLanguage::Wiql => {
                let close = chars[i..]
                    .iter()
                    .position(|&x| x == ']')
                    .ok_or_else(|| refuse("a field reference `[` is not closed", i))?;
                i += close + 1;
            }
            '(' => {
                depth += 1;
                opened_at.push(i);
                i += 1;
            }
            ')' => {
                if depth == 0 {
                    return Err(refuse(
                        "`)` closes a parenthesis the filter did not open: the condition would leave its group \
                         and widen the query beyond the integration's project",
                        i,
                    ));
                }
                depth -= 1;
                opened_at.pop();
                i += 1;
            }
            ';' => return Err(refuse("`;` does not belong in a condition", i)),
            '-' if chars.get(i + 1) == Some(&'-') => {
                return Err(refuse("a comment (`--`) does not belong in a condition", i))
            }
            '/' if matches!(chars.get(i + 1), Some('*') | Some('/')) => {
                return Err(refuse("a comment does not belong in a condition", i))
            }
            c if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                words.push((chars[start..i].iter().collect::<String>().to_ascii_lowercase(), start));
            }
            _ => i += 1,
        }
    }
    if let Some(&open) = opened_at.first() {
        return Err(refuse("`(` is never closed", open));
    }
    for (n, (word, at)) in words.iter().enumerate() {
        let next = words.get(n + 1).map(|(w, _)| w.as_str());
        if word == "order" && next == Some("by") {
            return Err(refuse("ORDER BY does not belong in a filter: Ferry orders the poll itself", *at));
        }
        if lang == QueryLanguage::Wiql && word == "asof" {
            return Err(refuse("ASOF does not belong in a filter: Ferry reads the current state", *at));
        }
    }
    Ok(())
}

/// Index after the string literal starting at `start` (a quote).
fn skip_string(lang: QueryLanguage, chars: &[char], start: usize) -> Result<usize, FilterError> {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        match lang {
            // JQL escapes with a backslash.
            QueryLanguage::Jql if c == '\\' => i += 2,
            // WIQL doubles the quote.
            QueryLanguage::Wiql if c == quote && chars.get(i + 1) == Some(&quote) => i += 2,
            _ if c == quote => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(refuse(format!("the string starting with {quote} is never closed"), start))
}

/// ` AND (condition)` (` AND NOT (condition)` when `negate`) to append after a query's
/// scope, or an empty string for a blank condition. Refuses a condition that would
/// leave its group ([`check_condition`]).
pub fn scoped_clause(lang: QueryLanguage, condition: &str, negate: bool) -> Result<String, FilterError> {
    let condition = condition.trim();
    if condition.is_empty() {
        return Ok(String::new());
    }
    check_condition(lang, condition)?;
    Ok(format!("{}({condition})", if negate { " AND NOT " } else { " AND " }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use QueryLanguage::{Jql, Wiql};

    #[test]
    fn every_breakout_form_is_refused_in_both_languages() {
        // (language, condition, what the message says)
        let cases = [
            (Jql, "labels = sync) OR (project = HR", "closes a parenthesis"),
            (Jql, "labels = sync) OR project = HR OR (labels = x", "closes a parenthesis"),
            (Jql, "labels = sync)", "closes a parenthesis"),
            (Jql, "(labels = sync", "never closed"),
            (Jql, "labels = sync ORDER BY created DESC", "ORDER BY"),
            (Jql, "labels = sync order\tby key", "ORDER BY"),
            (Jql, "labels = \"sync) OR (project = HR", "never closed"),
            (Jql, "labels = sync; project = HR", "`;`"),
            (Jql, "labels = sync -- comment", "comment"),
            (Jql, "labels = sync /* x */", "comment"),
            (Wiql, "[System.Tags] CONTAINS 'sync') OR ([System.TeamProject] = 'HR'", "closes a parenthesis"),
            (Wiql, "[System.Tags] CONTAINS 'sync')", "closes a parenthesis"),
            (Wiql, "([System.Tags] CONTAINS 'sync'", "never closed"),
            (Wiql, "[System.Tags] CONTAINS 'sync' ORDER BY [System.Id]", "ORDER BY"),
            (Wiql, "[System.Tags] CONTAINS 'sync' ASOF '2020-01-01'", "ASOF"),
            (Wiql, "[System.Tags] CONTAINS 'sync' -- x", "comment"),
            (Wiql, "[System.Tags] CONTAINS 'it''s) OR (1=1", "never closed"),
            (Wiql, "[System.Tags CONTAINS 'sync'", "`[` is not closed"),
            (Wiql, "[System.Id] > 0; DROP", "`;`"),
        ];
        for (lang, condition, says) in cases {
            let e = scoped_clause(lang, condition, false).expect_err(condition);
            assert!(e.to_string().contains(says), "{lang} {condition:?}: {e}");
            assert!(e.at.is_some(), "{condition:?}: {e}");
        }
    }

    #[test]
    fn literals_field_references_and_nested_groups_are_one_condition() {
        let cases = [
            (Jql, "labels = sync", " AND (labels = sync)"),
            (Jql, "summary ~ \"a) OR (b\" AND labels = x", " AND (summary ~ \"a) OR (b\" AND labels = x)"),
            (
                Jql,
                "summary ~ 'it\\'s (x' OR (priority in (High, Low))",
                " AND (summary ~ 'it\\'s (x' OR (priority in (High, Low)))",
            ),
            (Jql, "summary ~ \"order by\"", " AND (summary ~ \"order by\")"),
            (Jql, "  labels = sync  ", " AND (labels = sync)"),
            (Jql, "due >= -5d", " AND (due >= -5d)"),
            (
                Wiql,
                "[System.Tags] CONTAINS 'it''s (x' OR ([System.State] = 'New')",
                " AND ([System.Tags] CONTAINS 'it''s (x' OR ([System.State] = 'New'))",
            ),
            (Wiql, "[Custom.Weird (x)] = \"a) OR (b\"", " AND ([Custom.Weird (x)] = \"a) OR (b\")"),
            (Wiql, "[System.Title] CONTAINS 'asof'", " AND ([System.Title] CONTAINS 'asof')"),
        ];
        for (lang, condition, want) in cases {
            assert_eq!(scoped_clause(lang, condition, false).as_deref(), Ok(want), "{lang} {condition:?}");
        }
        assert_eq!(scoped_clause(Jql, "labels = sync", true).as_deref(), Ok(" AND NOT (labels = sync)"));
        assert_eq!(scoped_clause(Wiql, "   ", false).as_deref(), Ok(""));
    }

    #[test]
    fn the_error_names_the_character_where_the_condition_breaks_out() {
        let e = check_condition(Jql, "labels = sync) OR (project = HR").unwrap_err();
        assert_eq!(e.at, Some(14));
        assert!(e.to_string().ends_with("(character 14)"), "{e}");
    }
}
