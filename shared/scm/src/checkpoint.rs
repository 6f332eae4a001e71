//! Where a poll's walk of the commit graph starts when an earlier poll stopped
//! part-way, and when a poll records how far it got.
//!
//! The tips move only when every commit of a walk was handled; a backlog bigger than
//! one invocation would otherwise be walked from its start by every poll, each spending
//! more of its time on commits already done, until one poll no longer reaches a new
//! commit. So a poll records a checkpoint as it goes: the tips it walks to and the last
//! commit it handled. The walk from the same recorded tips to the same goal tips lists
//! the same commits in the same order (the graph below a commit never changes), so the
//! next poll walks to that goal again and starts after that commit.

use crate::tips::Tips;
use ferry_domain::WalkCheckpoint;
use std::time::Duration;

/// A poll records its checkpoint after this many handled commits...
pub const CHECKPOINT_EVERY: u64 = 25;
/// ...or after this long since the last one, whichever comes first: a poll killed
/// without warning (a crash, a Lambda timeout) walks at most that much again.
pub const CHECKPOINT_AFTER: Duration = Duration::from_secs(20);

/// What a poll walks: to which tips, and after which commit of that walk it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    pub goal: Tips,
    pub after: Option<String>,
    /// Commits of the walk the earlier polls handled.
    pub handled: u64,
}

/// The walk of a poll that fetched the tips `current`, from the `recorded` ones: the
/// checkpointed walk when the mirror still holds (`present`) its goal tips and the
/// recorded ones; else a new walk to `current`. Only then is it the same walk: a recorded
/// tip the mirror lost (a mirror made anew after a force-push removed it) hides nothing,
/// and the larger walk may list the commits in another order. The new walk finds the
/// writes made before done.
pub fn resume(
    recorded: &Tips,
    current: &Tips,
    checkpoint: Option<&WalkCheckpoint>,
    present: impl Fn(&str) -> bool,
) -> Resume {
    match checkpoint {
        Some(c) if c.to.values().chain(recorded.values()).all(|sha| present(sha)) => {
            Resume { goal: c.to.clone(), after: Some(c.after.clone()), handled: c.handled }
        }
        _ => Resume { goal: current.clone(), after: None, handled: 0 },
    }
}

/// Index of the first commit to handle in `walked` (commit ids in the walk's order):
/// the one after `after`, or the first when `after` is not among them (the walk is
/// not the one checkpointed: everything is walked again, the writes being idempotent).
pub fn start_index(walked: &[&str], after: Option<&str>) -> usize {
    after.and_then(|a| walked.iter().position(|sha| *sha == a)).map_or(0, |i| i + 1)
}

/// Whether a poll records its checkpoint now: `handled` commits and `elapsed` time
/// since its last record.
pub fn due(handled: u64, elapsed: Duration) -> bool {
    handled >= CHECKPOINT_EVERY || (handled > 0 && elapsed >= CHECKPOINT_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tips(pairs: &[(&str, &str)]) -> Tips {
        pairs.iter().map(|(b, s)| (b.to_string(), s.to_string())).collect()
    }

    fn checkpoint(to: &[(&str, &str)], after: &str) -> WalkCheckpoint {
        WalkCheckpoint { to: tips(to), after: after.into(), handled: 7 }
    }

    #[test]
    fn a_checkpointed_walk_goes_on_to_its_goal_unless_the_mirror_lost_a_tip_of_it() {
        let current = tips(&[("main", "c2")]);
        let held = |sha: &str| !sha.starts_with("gone");
        // (recorded tips, checkpoint, expected goal, start after, handled before)
        let table = [
            (tips(&[("main", "a")]), None, tips(&[("main", "c2")]), None, 0),
            // The branch moved on since: the walk still ends at its goal, the next goes further.
            (tips(&[("main", "a")]), Some(checkpoint(&[("main", "c1")], "b7")), tips(&[("main", "c1")]), Some("b7"), 7),
            // A goal tip is no longer in the mirror: a new walk to what was fetched.
            (
                tips(&[("main", "a")]),
                Some(checkpoint(&[("main", "c1"), ("dev", "gone")], "b7")),
                tips(&[("main", "c2")]),
                None,
                0,
            ),
            // Nor is a recorded tip: the walk would hide less, so it is another walk.
            (tips(&[("main", "gone-a")]), Some(checkpoint(&[("main", "c1")], "b7")), tips(&[("main", "c2")]), None, 0),
        ];
        for (recorded, cp, goal, after, handled) in table {
            let r = resume(&recorded, &current, cp.as_ref(), held);
            assert_eq!(r, Resume { goal, after: after.map(str::to_string), handled }, "{cp:?}");
        }
    }

    #[test]
    fn the_walk_starts_after_the_checkpointed_commit_or_from_its_start() {
        let walked = ["a", "b", "c", "d"];
        for (after, expected) in [(None, 0), (Some("a"), 1), (Some("c"), 3), (Some("d"), 4), (Some("x"), 0)] {
            assert_eq!(start_index(&walked, after), expected, "{after:?}");
        }
        assert_eq!(start_index(&[], Some("a")), 0);
    }

    #[test]
    fn a_checkpoint_is_due_after_enough_commits_or_time_but_never_for_none() {
        let s = Duration::from_secs;
        for (handled, elapsed, expected) in [
            (0, s(0), false),
            (0, s(600), false),
            (1, s(1), false),
            (CHECKPOINT_EVERY - 1, s(19), false),
            (CHECKPOINT_EVERY, s(0), true),
            (1, CHECKPOINT_AFTER, true),
        ] {
            assert_eq!(due(handled, elapsed), expected, "{handled} after {elapsed:?}");
        }
    }
}
