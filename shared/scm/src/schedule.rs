//! When `ferry run` polls a commit integration: on its interval, counted from its last
//! poll that went through or, when polls fail (an unreachable repository), from the
//! last attempt, so a failing repository is tried once per interval, not once per tick.

use chrono::{DateTime, Utc};

/// Whether an active commit integration is due at `now`.
pub fn due(
    last_poll: Option<DateTime<Utc>>,
    last_attempt: Option<DateTime<Utc>>,
    interval_secs: u64,
    now: DateTime<Utc>,
) -> bool {
    match last_poll.into_iter().chain(last_attempt).max() {
        None => true,
        Some(t) => (now - t).num_seconds() >= interval_secs as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_due_an_interval_after_its_last_poll_or_failed_attempt() {
        let t = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap();
        for (last_poll, last_attempt, now, expected) in [
            (None, None, t(0), true),
            (Some(t(0)), None, t(59), false),
            (Some(t(0)), None, t(60), true),
            // A failed attempt after the last poll pushes the next one back.
            (Some(t(0)), Some(t(50)), t(60), false),
            (Some(t(0)), Some(t(50)), t(110), true),
            // An attempt older than the last poll (it went through) does not.
            (Some(t(50)), Some(t(0)), t(109), false),
            (None, Some(t(0)), t(60), true),
        ] {
            assert_eq!(due(last_poll, last_attempt, 60, now), expected, "{last_poll:?} {last_attempt:?} {now}");
        }
    }
}
