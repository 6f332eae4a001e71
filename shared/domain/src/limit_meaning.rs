//! What an answer that speaks of a rate limit means for the requests after it. Jira
//! Cloud runs three independent limits (docs/system-apis.md §2.11) and names the one a
//! 429 met in `RateLimit-Reason`; they call for different answers:
//!
//! - the per-issue write limit (`jira-per-issue-on-write`) holds back writes to that one
//!   issue: the write waits, later writes to the issue are spaced, and the rest of the
//!   site goes on ([`LimitMeaning::DelayIssue`]);
//! - the tenant's points quota (`jira-quota-tenant-based`) is spent for the whole site
//!   until its window ends: every request waits until then ([`LimitMeaning::PauseSite`]);
//! - the burst limit, an unnamed 429, Azure DevOps' headers: [`pause_until`]'s rules.

use crate::rate_limit::{pause_until, LimitSignal, BARE_429_PAUSE, MAX_PAUSE};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The limit a 429 names (`RateLimit-Reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReason {
    /// `jira-burst-based`: the requests per second of the site (or an endpoint).
    Burst,
    /// `jira-per-issue-on-write`: the writes to one issue.
    PerIssueWrite,
    /// `jira-quota-tenant-based`: the tenant's points for the hour.
    TenantQuota,
    /// A reason Ferry does not know.
    Other,
}

impl LimitReason {
    pub fn parse(value: &str) -> LimitReason {
        match value.trim() {
            "jira-burst-based" => LimitReason::Burst,
            "jira-per-issue-on-write" => LimitReason::PerIssueWrite,
            "jira-quota-tenant-based" => LimitReason::TenantQuota,
            _ => LimitReason::Other,
        }
    }
}

/// What the requests after an answer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitMeaning {
    /// Nothing: the answer says nothing about a limit (a failed request is retried by
    /// the HTTP client's own rules).
    Nothing,
    /// Every request to the system waits until then.
    PauseSite(DateTime<Utc>),
    /// Writes to the issue the request wrote wait until `until`, then go one at a time at
    /// least `gap` apart; the rest of the site goes on.
    DelayIssue { until: DateTime<Utc>, gap: Duration },
    /// Only this request waits until then, and is tried again (a per-issue 429 for a
    /// request Ferry cannot tie to an issue).
    RetryThis(DateTime<Utc>),
}

/// What `signal`, the answer to a request (a write to an issue when `writes_issue`), means
/// at `now`:
/// - a 429 of the per-issue write limit: that issue waits out `Retry-After` (else the
///   reset, else [`BARE_429_PAUSE`]), and its later writes are spaced by that wait shared
///   among the writes the limit allows (`X-RateLimit-Limit`), the pace that refilled the
///   issue's window; a request that writes no issue only retries;
/// - a 429 of the tenant quota: the site pauses until the later of `Retry-After` and
///   `X-RateLimit-Reset` (the quota is spent until its window ends, and a retry before
///   then meets another 429);
/// - an answer whose `Beta-RateLimit` says no points are left: the site pauses until the
///   quota's window ends, before any request meets the 429 (a second after `t`: whole
///   seconds, rounded down, e.g. `t=2107` at 16:24:52.5 for a window ending at 17:00);
/// - anything else: [`pause_until`].
///
/// No wait is longer than [`MAX_PAUSE`]; a time already past means nothing.
pub fn meaning(signal: &LimitSignal, writes_issue: bool, now: DateTime<Utc>) -> LimitMeaning {
    let cap = now + to_chrono(MAX_PAUSE);
    let after = signal.retry_after.map(|d| now + to_chrono(d));
    let reason = signal.reason.filter(|_| signal.status == 429);
    match reason {
        Some(LimitReason::PerIssueWrite) => {
            let until = after.or(signal.reset).unwrap_or(now + to_chrono(BARE_429_PAUSE)).min(cap);
            if until <= now {
                return LimitMeaning::Nothing;
            }
            if !writes_issue {
                return LimitMeaning::RetryThis(until);
            }
            let wait = (until - now).to_std().unwrap_or_default();
            let allowed = signal.limit.filter(|n| *n > 0).unwrap_or(1).min(u64::from(u32::MAX)) as u32;
            LimitMeaning::DelayIssue { until, gap: wait / allowed }
        }
        Some(LimitReason::TenantQuota) => {
            let until = match (after, signal.reset) {
                (Some(a), Some(r)) => a.max(r),
                (a, r) => a.or(r).unwrap_or(now + to_chrono(BARE_429_PAUSE)),
            }
            .min(cap);
            if until > now {
                LimitMeaning::PauseSite(until)
            } else {
                LimitMeaning::Nothing
            }
        }
        _ => {
            let spent = signal
                .quota_left
                .filter(|(left, reset_in)| *left == 0 && !reset_in.is_zero())
                .map(|(_, reset_in)| (now + to_chrono(reset_in + Duration::from_secs(1))).min(cap));
            match (pause_until(signal, now), spent) {
                (Some(a), Some(b)) => LimitMeaning::PauseSite(a.max(b)),
                (a, b) => a.or(b).map_or(LimitMeaning::Nothing, LimitMeaning::PauseSite),
            }
        }
    }
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_429_pauses_the_site_delays_one_issue_or_retries_one_request_by_the_limit_it_names() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 14, 30, 20).single().unwrap();
        let at = |secs: i64| now + chrono::Duration::seconds(secs);
        let signal = |status, reason: Option<&str>, retry_after: Option<u64>, limit, reset: Option<i64>| LimitSignal {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            remaining: Some(0),
            reset: reset.map(at),
            reason: reason.map(LimitReason::parse),
            limit,
            quota_left: None,
        };
        let issue =
            |until: i64, gap_ms: u64| LimitMeaning::DelayIssue { until: at(until), gap: Duration::from_millis(gap_ms) };
        let per_issue = Some("jira-per-issue-on-write");
        let quota = Some("jira-quota-tenant-based");
        // (behaviour, answer, writes an issue, meaning)
        let table = [
            (
                "a per-issue 429 delays that issue only",
                signal(429, per_issue, Some(6), Some(3), None),
                true,
                issue(6, 2_000),
            ),
            (
                "its writes spaced by the wait over the writes allowed",
                signal(429, per_issue, Some(2), Some(4), None),
                true,
                issue(2, 500),
            ),
            ("no limit given: a wait per write", signal(429, per_issue, Some(2), None, None), true, issue(2, 2_000)),
            (
                "a per-issue 429 for no known issue retries this one",
                signal(429, per_issue, Some(2), None, None),
                false,
                LimitMeaning::RetryThis(at(2)),
            ),
            ("per-issue with only a reset", signal(429, per_issue, None, Some(1), Some(40)), true, issue(40, 40_000)),
            ("per-issue with nothing: a moment", signal(429, per_issue, None, Some(1), None), true, issue(1, 1_000)),
            (
                "a quota 429 pauses the site until the reset",
                signal(429, quota, Some(5), None, Some(40)),
                false,
                LimitMeaning::PauseSite(at(40)),
            ),
            (
                "or until Retry-After when that is later",
                signal(429, quota, Some(50), None, Some(40)),
                true,
                LimitMeaning::PauseSite(at(50)),
            ),
            (
                "a reset in the past (minutes only) leaves Retry-After",
                signal(429, quota, Some(5), None, Some(-20)),
                false,
                LimitMeaning::PauseSite(at(5)),
            ),
            (
                "a quota's reset an hour off is 15 minutes",
                signal(429, quota, None, None, Some(3_600)),
                false,
                LimitMeaning::PauseSite(at(900)),
            ),
            (
                "a burst 429 pauses the site (pause_until)",
                signal(429, Some("jira-burst-based"), Some(2), Some(100), Some(60)),
                true,
                LimitMeaning::PauseSite(at(2)),
            ),
            (
                "an unknown reason too",
                signal(429, Some("jira-something-new"), Some(3), None, None),
                true,
                LimitMeaning::PauseSite(at(3)),
            ),
            ("no reason too", signal(429, None, Some(3), None, None), true, LimitMeaning::PauseSite(at(3))),
            (
                "a reason on a success is not a 429's",
                signal(200, per_issue, None, None, Some(30)),
                true,
                LimitMeaning::PauseSite(at(30)),
            ),
            ("a plain success", LimitSignal { status: 200, ..Default::default() }, true, LimitMeaning::Nothing),
            (
                "a success that spent the quota pauses the site until its window ends",
                LimitSignal { status: 200, quota_left: Some((0, Duration::from_secs(25))), ..Default::default() },
                true,
                LimitMeaning::PauseSite(at(26)),
            ),
            (
                "points left: nothing",
                LimitSignal { status: 200, quota_left: Some((3, Duration::from_secs(25))), ..Default::default() },
                true,
                LimitMeaning::Nothing,
            ),
            (
                "a window already over: nothing",
                LimitSignal { status: 200, quota_left: Some((0, Duration::ZERO)), ..Default::default() },
                true,
                LimitMeaning::Nothing,
            ),
            (
                "a burst 429 with the quota spent too: the later",
                LimitSignal {
                    status: 429,
                    retry_after: Some(Duration::from_secs(2)),
                    reason: Some(LimitReason::Burst),
                    quota_left: Some((0, Duration::from_secs(25))),
                    ..Default::default()
                },
                true,
                LimitMeaning::PauseSite(at(26)),
            ),
            (
                "a per-issue wait already over",
                signal(429, per_issue, Some(0), Some(1), None),
                true,
                LimitMeaning::Nothing,
            ),
        ];
        for (behaviour, s, writes_issue, expected) in table {
            assert_eq!(meaning(&s, writes_issue, now), expected, "{behaviour}");
        }
    }

    #[test]
    fn a_reason_is_read_from_its_header_value() {
        for (value, reason) in [
            ("jira-burst-based", LimitReason::Burst),
            (" jira-per-issue-on-write ", LimitReason::PerIssueWrite),
            ("jira-quota-tenant-based", LimitReason::TenantQuota),
            ("jira-cost-based", LimitReason::Other),
        ] {
            assert_eq!(LimitReason::parse(value), reason, "{value}");
        }
    }
}
