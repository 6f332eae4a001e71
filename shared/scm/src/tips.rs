//! The commit-graph position of a repository: each selected branch's newest commit,
//! and which commits a poll must walk to get from one position to the next.

use std::collections::{BTreeMap, BTreeSet};

/// Branch name (without `refs/heads/`) → full hex commit id.
pub type Tips = BTreeMap<String, String>;

/// Whether `branch` matches `pattern`: `*` stands for any run of characters (also `/`),
/// everything else is literal (`main`, `release/*`).
pub fn branch_matches(pattern: &str, branch: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == branch;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !branch.starts_with(first) || branch.len() < first.len() + last.len() || !branch.ends_with(last) {
        return false;
    }
    let mut rest = &branch[first.len()..branch.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// The branches of `all` that match any of `patterns`, and the patterns that match none.
pub fn select<'p>(patterns: &'p [String], all: &Tips) -> (Tips, Vec<&'p str>) {
    let selected: Tips = all
        .iter()
        .filter(|(b, _)| patterns.iter().any(|p| branch_matches(p, b)))
        .map(|(b, s)| (b.clone(), s.clone()))
        .collect();
    let unmatched = patterns.iter().filter(|p| !all.keys().any(|b| branch_matches(p, b))).map(String::as_str).collect();
    (selected, unmatched)
}

/// What one poll walks: from the tips that moved, hiding everything the recorded tips
/// reach. Every recorded tip is hidden, also one whose branch moved or went away: after
/// a force-push the commits the old and the new line share are not walked again, and a
/// commit reachable from several branches is walked once, in one walk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WalkPlan {
    pub from: Vec<String>,
    pub hide: Vec<String>,
}

pub fn plan(recorded: &Tips, current: &Tips) -> WalkPlan {
    let hide: BTreeSet<&String> = recorded.values().collect();
    let from: BTreeSet<&String> = current
        .iter()
        .filter(|(b, sha)| recorded.get(*b) != Some(*sha) && !hide.contains(sha))
        .map(|(_, s)| s)
        .collect();
    WalkPlan { from: from.into_iter().cloned().collect(), hide: hide.into_iter().cloned().collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tips(pairs: &[(&str, &str)]) -> Tips {
        pairs.iter().map(|(b, s)| (b.to_string(), s.to_string())).collect()
    }

    #[test]
    fn branch_patterns_match_literally_or_with_a_star() {
        for (pattern, branch, expected) in [
            ("main", "main", true),
            ("main", "main2", false),
            ("release/*", "release/1.0", true),
            ("release/*", "release/1.0/hotfix", true),
            ("release/*", "release", false),
            ("release/*", "prerelease/1", false),
            ("*", "anything/at/all", true),
            ("feat-*-x", "feat-a-x", true),
            ("feat-*-x", "feat-a-y", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "acb", false),
        ] {
            assert_eq!(branch_matches(pattern, branch), expected, "{pattern} vs {branch}");
        }
    }

    #[test]
    fn selection_keeps_matching_branches_and_names_patterns_that_match_nothing() {
        let all = tips(&[("main", "1"), ("release/1", "2"), ("dev", "3")]);
        let patterns = vec!["main".to_string(), "release/*".to_string(), "hotfix/*".to_string()];
        let (selected, unmatched) = select(&patterns, &all);
        assert_eq!(selected, tips(&[("main", "1"), ("release/1", "2")]));
        assert_eq!(unmatched, vec!["hotfix/*"]);
    }

    #[test]
    fn a_walk_starts_at_moved_tips_and_hides_every_recorded_tip() {
        for (recorded, current, from, hide) in [
            // Nothing moved: nothing to walk.
            (tips(&[("main", "a")]), tips(&[("main", "a")]), vec![], vec!["a"]),
            // An empty repository's first push: everything from the new tip.
            (tips(&[]), tips(&[("main", "a")]), vec!["a"], vec![]),
            // A fast-forward and a new branch.
            (tips(&[("main", "a")]), tips(&[("main", "b"), ("dev", "c")]), vec!["b", "c"], vec!["a"]),
            // A force-push: the old tip is still hidden, so the shared base is not walked.
            (tips(&[("main", "a")]), tips(&[("main", "x")]), vec!["x"], vec!["a"]),
            // A new branch at an already recorded commit brings nothing new.
            (tips(&[("main", "a")]), tips(&[("main", "a"), ("copy", "a")]), vec![], vec!["a"]),
            // A deleted branch keeps hiding what it reached.
            (tips(&[("main", "a"), ("old", "o")]), tips(&[("main", "b")]), vec!["b"], vec!["a", "o"]),
        ] {
            let p = plan(&recorded, &current);
            assert_eq!(p.from, from.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{recorded:?} → {current:?}");
            assert_eq!(p.hide, hide.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{recorded:?} → {current:?}");
        }
    }
}
