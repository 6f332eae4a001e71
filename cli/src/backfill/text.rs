//! The words of a followed backfill: the progress line (printed every few seconds when
//! stderr is not a terminal, the bar's message when it is) and the end summary.

use ferry_engine::BackfillCounts;
use ferry_runtime::backfill::pace::Estimate;
use ferry_runtime::backfill::verdict::Verdict;
use std::time::Duration;

/// `backfill: 120/412 done, 3 parked, 2.1/s, ~2m10s left` (`estimate` `None`: a final
/// line, without the pace).
pub fn progress_line(c: &BackfillCounts, estimate: Option<&Estimate>) -> String {
    let detail = detail(c, estimate);
    let sep = if detail.is_empty() { "" } else { ", " };
    format!("backfill: {}/{} done{sep}{detail}", c.done(), c.total)
}

/// What follows the position: the items parked, and the pace and time left while
/// items are still to sync (`estimating…` until the pace is known).
pub fn detail(c: &BackfillCounts, estimate: Option<&Estimate>) -> String {
    let mut parts = Vec::new();
    if c.parked > 0 {
        parts.push(format!("{} parked", c.parked));
    }
    if c.waiting > 0 {
        match estimate {
            None => {}
            Some(Estimate::Estimating) => parts.push("estimating…".to_string()),
            Some(Estimate::Left { per_sec, left }) => {
                parts.push(rate(*per_sec));
                parts.push(format!("~{} left", short(*left)));
            }
        }
    }
    parts.join(", ")
}

/// Items per second, or per minute below one a second.
pub fn rate(per_sec: f64) -> String {
    if per_sec >= 10.0 {
        format!("{per_sec:.0}/s")
    } else if per_sec >= 1.0 {
        format!("{per_sec:.1}/s")
    } else {
        format!("{:.0}/min", per_sec * 60.0)
    }
}

/// `45s`, `2m10s`, `1h05m`.
pub fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Where a person goes on from: who syncs the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    /// This process (the embedded store): after an interrupt, nothing syncs until the
    /// next `ferry run` or a rerun of the command.
    Here,
    /// The functions (AWS): they go on without the command.
    ByFunctions,
}

/// The end summary: how it ended, the counts, and where to look next.
pub fn summary(
    verdict: Verdict,
    c: &BackfillCounts,
    elapsed: Duration,
    integration: &str,
    rerun: &str,
    synced: Synced,
) -> Vec<String> {
    let head = match verdict {
        Verdict::Finished | Verdict::Parked => format!("backfill finished in {}", short(elapsed)),
        Verdict::Stalled => format!("backfill stopped after {}", short(elapsed)),
        Verdict::Interrupted => format!("backfill interrupted after {} at {}/{}", short(elapsed), c.done(), c.total),
    };
    let mut lines = vec![format!(
        "{head}: {} created, {} paired, {} parked, {} ambiguous",
        c.created, c.paired, c.parked, c.ambiguous
    )];
    if c.parked > 0 {
        lines.push(format!(
            "  {} parked: see `ferry failures list --integration {integration}` (retry with `ferry failures retry`)",
            c.parked
        ));
    }
    if c.ambiguous > 0 {
        lines.push(format!("  {} ambiguous: neither paired nor created (listed above)", c.ambiguous));
    }
    match verdict {
        Verdict::Stalled => lines.push(format!(
            "  {} neither synced nor parked, and the sync has nothing more to do for them: {} \
             (`ferry preview {integration} --key KEY` says why)",
            c.waiting,
            shown_keys(c)
        )),
        Verdict::Interrupted if synced == Synced::Here => {
            lines.push(format!("  {} still to sync: run `{rerun}` again to resume (or `ferry run`)", c.waiting))
        }
        Verdict::Interrupted => {
            lines.push(format!("  {} still to sync: the functions go on; run `{rerun}` again to follow", c.waiting))
        }
        Verdict::Finished | Verdict::Parked => {}
    }
    lines
}

fn shown_keys(c: &BackfillCounts) -> String {
    let mut keys = c.waiting_keys.join(", ");
    if c.waiting > c.waiting_keys.len() {
        keys.push_str(", …");
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(total: usize, created: usize, paired: usize, parked: usize) -> BackfillCounts {
        let waiting = total - created - paired - parked;
        BackfillCounts {
            total,
            created,
            paired,
            parked,
            waiting,
            waiting_keys: (0..waiting.min(2)).map(|n| format!("APP-{n}")).collect(),
            ambiguous: 0,
            already_paired: 0,
        }
    }

    fn left(per_sec: f64, secs: u64) -> Estimate {
        Estimate::Left { per_sec, left: Duration::from_secs(secs) }
    }

    #[test]
    fn the_progress_line_says_the_position_the_parked_and_the_time_left_once_known() {
        let table = [
            (counts(412, 0, 0, 0), Estimate::Estimating, "backfill: 0/412 done, estimating…"),
            (counts(449, 83, 37, 3), left(2.14, 130), "backfill: 120/449 done, 3 parked, 2.1/s, ~2m10s left"),
            (counts(412, 100, 0, 0), left(25.0, 12), "backfill: 100/412 done, 25/s, ~12s left"),
            (counts(412, 100, 0, 0), left(0.25, 3600 * 2 + 300), "backfill: 100/412 done, 15/min, ~2h05m left"),
            // Nothing left to sync: no estimate, whatever the pace.
            (counts(412, 409, 0, 3), left(2.0, 0), "backfill: 409/412 done, 3 parked"),
            (counts(412, 412, 0, 0), Estimate::Estimating, "backfill: 412/412 done"),
        ];
        for (c, estimate, want) in table {
            assert_eq!(progress_line(&c, Some(&estimate)), want);
        }
        // The final line of an unfinished backfill has no pace.
        assert_eq!(progress_line(&counts(412, 100, 0, 0), None), "backfill: 100/412 done");
    }

    #[test]
    fn the_summary_says_how_it_ended_and_where_to_look_next() {
        let t = Duration::from_secs(72);
        let rerun = "ferry activate app-bugs --since 2026-01-01";
        let finished = summary(Verdict::Finished, &counts(449, 412, 37, 0), t, "app-bugs", rerun, Synced::Here);
        assert_eq!(finished, vec!["backfill finished in 1m12s: 412 created, 37 paired, 0 parked, 0 ambiguous"]);

        let mut c = counts(449, 409, 37, 3);
        c.ambiguous = 2;
        let parked = summary(Verdict::Parked, &c, t, "app-bugs", rerun, Synced::Here);
        assert_eq!(parked[0], "backfill finished in 1m12s: 409 created, 37 paired, 3 parked, 2 ambiguous");
        assert!(parked[1].contains("3 parked: see `ferry failures list --integration app-bugs`"), "{parked:?}");
        assert!(parked[2].contains("2 ambiguous"), "{parked:?}");

        let stalled = summary(Verdict::Stalled, &counts(449, 400, 37, 0), t, "app-bugs", rerun, Synced::Here);
        assert!(stalled[0].starts_with("backfill stopped after 1m12s: 400 created"), "{stalled:?}");
        assert!(stalled[1].contains("12 neither synced nor parked") && stalled[1].contains("APP-0, APP-1, …"));
        assert!(stalled[1].contains("`ferry preview app-bugs --key KEY`"), "{stalled:?}");

        let c = counts(449, 100, 37, 0);
        let here = summary(Verdict::Interrupted, &c, t, "app-bugs", rerun, Synced::Here);
        assert_eq!(
            here[0],
            "backfill interrupted after 1m12s at 137/449: 100 created, 37 paired, 0 parked, 0 ambiguous"
        );
        assert!(here[1].contains("312 still to sync: run `ferry activate app-bugs --since 2026-01-01` again to resume"));
        let aws = summary(Verdict::Interrupted, &c, t, "app-bugs", rerun, Synced::ByFunctions);
        assert!(aws[1].contains("the functions go on"), "{aws:?}");
    }

    #[test]
    fn durations_are_short() {
        let table =
            [(0, "0s"), (59, "59s"), (60, "1m00s"), (130, "2m10s"), (3599, "59m59s"), (3600, "1h00m"), (7500, "2h05m")];
        for (secs, want) in table {
            assert_eq!(short(Duration::from_secs(secs)), want);
        }
    }
}
