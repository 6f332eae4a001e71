//! The tables that map values between the two sides, and the rule for reading them in
//! either direction. A table is written left→right (a row is `(left, right)`); the
//! right→left direction reads the same rows with the columns swapped. When a value
//! appears in more than one row of the column a direction reads, the first row wins,
//! so a many-to-one table maps back to its first left value.

use crate::model::Flow;
use serde::{Deserialize, Serialize};

/// A value table between left and right look-up values (priorities, statuses, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ValueTable {
    pub rows: Vec<(String, String)>,
    /// Where the table came from (`inline`, `priorities.xlsx#Priority`), for messages.
    #[serde(default)]
    pub origin: String,
}

impl ValueTable {
    /// The value `source` maps to in `flow`, matched exactly.
    pub fn lookup(&self, flow: Flow, source: &str) -> Option<&str> {
        lookup(&self.rows, flow, |v| v == source)
    }
}

/// User table: e-mail overrides between the sides.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserTable {
    pub rows: Vec<(String, String)>,
    #[serde(default)]
    pub origin: String,
}

impl UserTable {
    /// The target e-mail for a source e-mail in `flow`, matched ignoring case.
    pub fn lookup(&self, flow: Flow, email: &str) -> Option<&str> {
        lookup(&self.rows, flow, |v| v.eq_ignore_ascii_case(email))
    }
}

/// The other column of the first row whose `flow`-side column `matches`: the left column
/// left→right, the right column right→left.
fn lookup(rows: &[(String, String)], flow: Flow, matches: impl Fn(&str) -> bool) -> Option<&str> {
    rows.iter().find_map(|(left, right)| {
        let (from, to) = match flow {
            Flow::LeftToRight => (left, right),
            Flow::RightToLeft => (right, left),
        };
        matches(from).then_some(to.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[(&str, &str)]) -> Vec<(String, String)> {
        r.iter().map(|(l, r)| (l.to_string(), r.to_string())).collect()
    }

    #[test]
    fn the_reverse_direction_swaps_the_columns_and_the_first_row_wins() {
        let t = ValueTable { rows: rows(&[("High", "2"), ("Highest", "1"), ("Urgent", "1")]), origin: "inline".into() };
        // (flow, source value, mapped)
        let table = [
            (Flow::LeftToRight, "High", Some("2")),
            (Flow::LeftToRight, "Urgent", Some("1")),
            (Flow::LeftToRight, "2", None),
            (Flow::RightToLeft, "1", Some("Highest")),
            (Flow::RightToLeft, "2", Some("High")),
            (Flow::RightToLeft, "High", None),
            (Flow::LeftToRight, "high", None),
        ];
        for (flow, source, mapped) in table {
            assert_eq!(t.lookup(flow, source), mapped, "{flow:?} {source}");
        }
    }

    #[test]
    fn user_overrides_read_both_ways_ignoring_case() {
        let t = UserTable { rows: rows(&[("alice@jira.test", "alice@ado.test")]), origin: String::new() };
        assert_eq!(t.lookup(Flow::LeftToRight, "ALICE@jira.test"), Some("alice@ado.test"));
        assert_eq!(t.lookup(Flow::RightToLeft, "Alice@ADO.test"), Some("alice@jira.test"));
        assert_eq!(t.lookup(Flow::RightToLeft, "alice@jira.test"), None);
    }
}
