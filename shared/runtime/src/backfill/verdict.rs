//! When a followed backfill is over, and how: every item done or parked, or nothing more
//! happening while some are still to sync (the sync leaves them be: a filter keeps them
//! out of the polls, a skip rule drops them), which only waiting longer would not change.

use chrono::{DateTime, Utc};
use ferry_domain::Flow;
use ferry_engine::BackfillCounts;
use serde::Serialize;

/// How many polls of every direction, after the counts last changed and with the
/// queues empty, show that nothing more will happen.
pub const QUIET_POLLS: u32 = 2;

/// How a followed backfill ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every item is created or paired.
    Finished,
    /// Every item is created, paired or parked, and some are parked.
    Parked,
    /// Some items are neither, and the sync has nothing more to do for them.
    Stalled,
    /// The person stopped following (the sync goes on: on AWS the functions, on the
    /// embedded store the next `ferry run` or rerun of the command).
    Interrupted,
}

/// The backfill's end, if it is over: `quiet` says nothing more is happening ([`Quiet`]).
pub fn verdict(counts: &BackfillCounts, quiet: bool) -> Option<Verdict> {
    match (counts.waiting, counts.parked) {
        (0, 0) => Some(Verdict::Finished),
        (0, _) => Some(Verdict::Parked),
        _ if quiet => Some(Verdict::Stalled),
        _ => None,
    }
}

/// One direction as the store shows it at a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSeen {
    pub flow: Flow,
    pub last_poll: Option<DateTime<Utc>>,
    /// The last poll left a read to continue (its time budget ended first).
    pub reading: bool,
}

/// Whether nothing more is happening: since the counts last changed, every direction
/// was polled [`QUIET_POLLS`] times and has no read to continue, and the queues are
/// empty (no change waits in them, nor behind a retry's delay).
#[derive(Debug, Clone, Default)]
pub struct Quiet {
    counts: Option<(usize, usize)>,
    /// Per direction: the last poll seen, and the polls seen since the counts changed.
    polls: Vec<(Flow, Option<DateTime<Utc>>, u32)>,
}

impl Quiet {
    /// Takes one reading: the items (done, parked), the directions, the messages queued.
    pub fn observe(&mut self, settled: (usize, usize), flows: &[FlowSeen], queued: u64) -> bool {
        if self.counts != Some(settled) {
            self.counts = Some(settled);
            self.polls = flows.iter().map(|f| (f.flow, f.last_poll, 0)).collect();
            return false;
        }
        for f in flows {
            match self.polls.iter_mut().find(|(flow, _, _)| *flow == f.flow) {
                Some((_, seen, n)) if f.last_poll > *seen => {
                    *seen = f.last_poll;
                    *n += 1;
                }
                Some(_) => {}
                None => self.polls.push((f.flow, f.last_poll, 0)),
            }
        }
        let polled = |flow: Flow| self.polls.iter().any(|(f, _, n)| *f == flow && *n >= QUIET_POLLS);
        queued == 0 && !flows.is_empty() && flows.iter().all(|f| !f.reading && polled(f.flow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(waiting: usize, parked: usize) -> BackfillCounts {
        BackfillCounts { total: 10, created: 10 - waiting - parked, parked, waiting, ..BackfillCounts::default() }
    }

    #[test]
    fn a_backfill_is_over_once_every_item_is_done_or_parked_or_nothing_more_happens() {
        // (case, waiting, parked, quiet, verdict)
        let table = [
            ("all created", 0, 0, false, Some(Verdict::Finished)),
            ("all created, the sync quiet", 0, 0, true, Some(Verdict::Finished)),
            ("the rest parked", 0, 2, false, Some(Verdict::Parked)),
            ("some still to sync", 3, 0, false, None),
            ("some still to sync, some parked", 3, 2, false, None),
            ("some still to sync, nothing more happening", 3, 0, true, Some(Verdict::Stalled)),
            ("stalled beats parked", 3, 2, true, Some(Verdict::Stalled)),
        ];
        for (case, waiting, parked, quiet, want) in table {
            assert_eq!(verdict(&counts(waiting, parked), quiet), want, "{case}");
        }
    }

    fn at(s: i64) -> Option<DateTime<Utc>> {
        Some(DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(s))
    }

    fn flows(l: Option<DateTime<Utc>>, r: Option<DateTime<Utc>>, reading: bool) -> Vec<FlowSeen> {
        vec![
            FlowSeen { flow: Flow::LeftToRight, last_poll: l, reading },
            FlowSeen { flow: Flow::RightToLeft, last_poll: r, reading: false },
        ]
    }

    #[test]
    fn the_sync_is_quiet_after_two_polls_of_each_direction_without_progress_or_queued_work() {
        // Readings in order: (case, (done, parked), flows, queued, quiet after it)
        type Reading = (&'static str, (usize, usize), Vec<FlowSeen>, u64, bool);
        let table: Vec<Reading> = vec![
            ("the first reading knows nothing", (5, 0), flows(at(0), at(0), false), 0, false),
            ("one poll each", (5, 0), flows(at(10), at(10), false), 0, false),
            ("two polls each", (5, 0), flows(at(20), at(20), false), 0, true),
            ("progress starts the count again", (6, 0), flows(at(30), at(30), false), 0, false),
            ("one poll each since", (6, 0), flows(at(40), at(40), false), 0, false),
            ("the left polled twice, the right once", (6, 0), flows(at(50), at(40), false), 0, false),
            ("both twice, but a message queued", (6, 0), flows(at(50), at(50), false), 1, false),
            ("the queue empty", (6, 0), flows(at(50), at(50), false), 0, true),
            ("a read left to continue", (6, 0), flows(at(60), at(60), true), 0, false),
            ("a parked item is a change too", (6, 1), flows(at(70), at(70), false), 0, false),
        ];
        let mut quiet = Quiet::default();
        for (case, settled, seen, queued, want) in table {
            assert_eq!(quiet.observe(settled, &seen, queued), want, "{case}");
        }
        let mut never_polled = Quiet::default();
        for _ in 0..5 {
            assert!(!never_polled.observe((0, 0), &flows(None, None, false), 0), "no poll, no evidence");
        }
    }
}
