//! Where an activation starts a commit link: by default each selected branch's newest
//! commit (none for an empty repository, "0"), or an override the operator names.
//!
//! - A commit (`--from-commit SHA`): the commits after it are linked, on every selected
//!   branch, as `git log SHA..BRANCH` lists them. The commit must be in the fetched
//!   history; an abbreviated id must name exactly one commit.
//! - A date (`--since DATE`): each branch starts where it stood at that date, its newest
//!   commit on the first-parent line committed before it. A branch with no commit before
//!   the date starts from nothing: all its commits are linked. Merges committed after the
//!   date bring their side branch's commits with them, whatever their dates: they reached
//!   the branch after it.
//!
//! An override replaces a recorded position (the operator asked to sync again from
//! there); the links and comments already made are found, not made twice.

use crate::tips::Tips;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Each selected branch's newest commit; a position recorded earlier is kept.
    Newest,
    /// After this commit (full or abbreviated hex id).
    Commit(String),
    /// Where each branch stood at this time.
    Since(DateTime<Utc>),
}

impl Start {
    /// The reason an activation reports for a start taken from this override.
    pub fn reason(&self) -> &'static str {
        match self {
            Start::Newest => "newest_commits",
            Start::Commit(_) => "from_commit",
            Start::Since(_) => "since_date",
        }
    }
}

/// A branch's position at `since`: the first commit of its first-parent line (newest
/// first, with each commit's committer time in seconds) committed before `since`;
/// `None` when every commit is that late or later.
pub fn position_at(first_parent_line: &[(String, i64)], since: DateTime<Utc>) -> Option<&str> {
    first_parent_line.iter().find(|(_, time)| *time < since.timestamp()).map(|(sha, _)| sha.as_str())
}

/// The position a commit start records: the commit on every selected branch, so each
/// branch's walk hides what the commit reaches.
pub fn after_commit(selected: &Tips, sha: &str) -> Tips {
    selected.keys().map(|b| (b.clone(), sha.to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tips::plan;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn a_branch_starts_at_its_newest_first_parent_commit_made_before_the_date() {
        let line: Vec<(String, i64)> =
            [("c", 300), ("b", 200), ("a", 100)].iter().map(|(s, t)| (s.to_string(), *t)).collect();
        for (case, since, expected) in [
            ("between two commits", 250, Some("b")),
            ("exactly at a commit: that commit is after the start", 200, Some("a")),
            ("after the newest", 1_000, Some("c")),
            ("before the oldest: all of the branch is linked", 50, None),
        ] {
            assert_eq!(position_at(&line, at(since)), expected, "{case}");
        }
        assert_eq!(position_at(&[], at(10)), None, "an empty line has no position");
    }

    #[test]
    fn a_commit_start_walks_each_branch_from_its_tip_down_to_the_commit() {
        let selected: Tips =
            [("main", "m2"), ("release/1", "r1")].iter().map(|(b, s)| (b.to_string(), s.to_string())).collect();
        let recorded = after_commit(&selected, "m0");
        assert_eq!(recorded.len(), 2);
        let walk = plan(&recorded, &selected);
        assert_eq!(walk.from, vec!["m2".to_string(), "r1".to_string()]);
        assert_eq!(walk.hide, vec!["m0".to_string()]);
        assert!(after_commit(&Tips::new(), "m0").is_empty(), "an empty repository has no branch to start");
    }
}
