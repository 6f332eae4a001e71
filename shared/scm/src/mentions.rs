//! Which work items a commit message names: each target's `key_pattern`, a regular
//! expression whose first capture group (or, without one, whole match) is the item's id
//! or key in that system (`\b(APP-\d+)\b` → `APP-12`; `\bAB#(\d+)\b` → `34`).

/// A compiled key pattern.
#[derive(Debug, Clone)]
pub struct KeyPattern {
    source: String,
    re: regex_lite::Regex,
}

impl KeyPattern {
    /// Compiles `pattern`; the error says why it is not a valid expression.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let re = regex_lite::Regex::new(pattern).map_err(|e| e.to_string())?;
        if re.captures_len() > 2 {
            return Err("use at most one capture group: the work item's id or key".into());
        }
        Ok(KeyPattern { source: pattern.to_string(), re })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The items `message` names, each once, in order of first mention.
    pub fn mentions(&self, message: &str) -> Vec<String> {
        self.mentions_at(message).into_iter().map(|(id, _)| id).collect()
    }

    /// [`KeyPattern::mentions`], each item with where each of its mentions starts (the
    /// byte of the whole match: `AB#` of `AB#34`), for the transition keywords before them.
    pub fn mentions_at(&self, message: &str) -> Vec<(String, Vec<usize>)> {
        let mut out: Vec<(String, Vec<usize>)> = Vec::new();
        for caps in self.re.captures_iter(message) {
            let (Some(whole), Some(m)) = (caps.get(0), caps.get(1).or_else(|| caps.get(0))) else { continue };
            let id = m.as_str();
            if id.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(known, _)| known == id) {
                Some((_, starts)) => starts.push(whole.start()),
                None => out.push((id.to_string(), vec![whole.start()])),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_the_capture_group_each_once_in_order() {
        let jira = KeyPattern::new(r"\b(APP-\d+)\b").unwrap();
        let ado = KeyPattern::new(r"\bAB#(\d+)\b").unwrap();
        let whole = KeyPattern::new(r"OPS-\d+").unwrap();
        for (pattern, message, expected) in [
            (&jira, "APP-12: fix the login (see APP-7, APP-12)", vec!["APP-12", "APP-7"]),
            (&jira, "XAPP-12 and APP-12x are not keys", vec![]),
            (&jira, "no key here", vec![]),
            (&ado, "Fixes AB#34 and AB#5\n\nAB#34 again", vec!["34", "5"]),
            (&ado, "AB#x is not an id", vec![]),
            (&whole, "OPS-3 done", vec!["OPS-3"]),
        ] {
            assert_eq!(pattern.mentions(message), expected, "{} in {message:?}", pattern.as_str());
        }
    }

    #[test]
    fn each_mention_keeps_where_its_whole_match_starts() {
        let ado = KeyPattern::new(r"\bAB#(\d+)\b").unwrap();
        assert_eq!(
            ado.mentions_at("Fixes AB#34; AB#5 and AB#34"),
            vec![("34".to_string(), vec![6, 22]), ("5".to_string(), vec![13])]
        );
    }

    #[test]
    fn a_pattern_that_is_not_a_regex_or_has_two_groups_is_refused() {
        assert!(KeyPattern::new(r"(APP-\d+").unwrap_err().contains("without closing"));
        assert!(KeyPattern::new(r"(APP)-(\d+)").unwrap_err().contains("at most one capture group"));
    }
}
