//! When `ferry status` exits non-zero: an active direction whose last poll is older
//! than its lag threshold, or parked failures.

use ferry_engine::IntegrationStatus;

/// How many poll intervals an active direction may go without a poll before it is
/// behind, unless `--max-lag` says otherwise.
const INTERVALS_BEHIND: u64 = 3;

/// What is wrong, one line per direction and cause; empty when all is well.
pub fn problems(status: &[IntegrationStatus], max_lag_secs: Option<u64>) -> Vec<String> {
    let mut out = Vec::new();
    for i in status {
        let threshold = max_lag_secs.unwrap_or(i.poll_interval_secs * INTERVALS_BEHIND);
        for f in &i.flows {
            let lag = f.lag_secs.unwrap_or(0).max(0) as u64;
            if i.active && lag > threshold {
                out.push(format!(
                    "{} {}: last poll {lag}s ago, over the threshold of {threshold}s",
                    i.integration, f.flow
                ));
            }
            if f.open_failures > 0 {
                out.push(format!(
                    "{} {}: {} failure(s) parked (`ferry failures list`)",
                    i.integration, f.flow, f.open_failures
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_domain::{Flow, FlowCounts};
    use ferry_engine::FlowStatus;

    fn status(active: bool, lag: Option<i64>, failures: usize) -> Vec<IntegrationStatus> {
        let flow = FlowStatus {
            flow: Flow::LeftToRight,
            start: None,
            watermark: None,
            last_poll: None,
            lag_secs: lag,
            counts: FlowCounts::default(),
            open_failures: failures,
            conflicts: 0,
            targets_deleted: 0,
        };
        vec![IntegrationStatus {
            integration: "i".into(),
            active,
            version: 1,
            poll_interval_secs: 60,
            left: "l".into(),
            right: "r".into(),
            links: 0,
            flows: vec![flow],
            commits: None,
        }]
    }

    #[test]
    fn a_direction_is_behind_past_three_intervals_or_the_given_threshold() {
        for (active, lag, failures, max, expected) in [
            (true, Some(180), 0, None, 0),
            (true, Some(181), 0, None, 1),
            (true, Some(30), 0, Some(20), 1),
            (false, Some(10_000), 0, None, 0),
            (true, None, 0, None, 0),
            (false, None, 2, None, 1),
            (true, Some(500), 1, None, 2),
        ] {
            let found = problems(&status(active, lag, failures), max);
            assert_eq!(found.len(), expected, "{active} {lag:?} {failures} {max:?}: {found:?}");
        }
    }
}
