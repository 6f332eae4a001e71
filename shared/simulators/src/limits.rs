//! The services' rate limits, off unless a test or benchmark turns them on
//! (`JiraSim::set_rate_limit`, `AdoSim::set_rate_limit`, `ferry-ado-sim --rate-limit`).
//! A request over the limit is answered 429 and has no effect; near the limit the
//! answers say so in their headers, as the services' do (docs/system-apis.md §2.11, §3.11).
//!
//! - Jira Cloud: a token bucket per user (Atlassian's burst limits are token buckets);
//!   a 429 carries `Retry-After` (whole seconds), `X-RateLimit-Limit`,
//!   `X-RateLimit-Remaining: 0`, `X-RateLimit-Reset` (`yyyy-MM-ddTHH:mmZ`),
//!   `X-RateLimit-NearLimit: true` and `RateLimit-Reason: jira-burst-based`; a success
//!   with less than 20 % of the bucket left carries `X-RateLimit-NearLimit: true`.
//! - Azure DevOps: TSTUs per user in a sliding window (one TSTU per request here; the
//!   service weighs requests by the work they cause); a 429 carries `Retry-After` (until
//!   enough usage leaves the window), `X-RateLimit-Resource`, `X-RateLimit-Delay`,
//!   `X-RateLimit-Limit`, `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` (Unix epoch:
//!   when the usage would be back to 0). From 80 % of the limit on, successes carry the
//!   same `X-RateLimit-*` headers, and the one that uses the last TSTU a `Retry-After`
//!   too (the service sends them while it delays a user). The simulator does not delay.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Jira Cloud's burst limit: a token bucket per user, refilled with `per_second` tokens a
/// second up to `burst`; every request takes one.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraRateLimit {
    pub per_second: f64,
    pub burst: u32,
    /// The users (e-mails) it applies to; empty: every user.
    pub users: Vec<String>,
}

/// Azure DevOps' global consumption limit: at most `limit` TSTUs per user within any
/// `window` (the service: 200 × a typical user's use in a sliding five minutes).
#[derive(Debug, Clone, PartialEq)]
pub struct AdoRateLimit {
    pub limit: u32,
    pub window: Duration,
    /// The users (e-mails) it applies to; empty: every user.
    pub users: Vec<String>,
}

fn applies(users: &[String], email: &str) -> bool {
    users.is_empty() || users.iter().any(|u| u.eq_ignore_ascii_case(email))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whole seconds, rounded up, at least 1 (both services answer `Retry-After` so).
fn whole_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

/// What the Jira limit says of one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JiraVerdict {
    /// Not limited (no limit on, or not this user's).
    Free,
    /// Within the limit; `near`: less than 20 % of the bucket is left.
    Pass { near: bool },
    /// Over it: 429, `Retry-After` this many seconds; `limit` is the bucket's size.
    Refuse { retry_after: u64, limit: u32 },
}

#[derive(Default)]
pub(crate) struct JiraLimiter {
    limit: Mutex<Option<JiraRateLimit>>,
    /// Per lower-case e-mail: tokens and when they were counted.
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl JiraLimiter {
    /// Turns the limit on (every bucket full) or off.
    pub(crate) fn set(&self, limit: Option<JiraRateLimit>) {
        *lock(&self.limit) = limit;
        lock(&self.buckets).clear();
    }

    /// Counts one request of `email` at `now`.
    pub(crate) fn check(&self, email: &str, now: Instant) -> JiraVerdict {
        let Some(limit) = lock(&self.limit).clone().filter(|l| applies(&l.users, email)) else {
            return JiraVerdict::Free;
        };
        let burst = f64::from(limit.burst.max(1));
        let mut buckets = lock(&self.buckets);
        let (tokens, at) = buckets.entry(email.to_ascii_lowercase()).or_insert((burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * limit.per_second).min(burst);
        *at = now;
        // A hair under a whole token is a whole token: float sums of refills are inexact.
        if *tokens + 1e-9 < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - *tokens) / limit.per_second);
            return JiraVerdict::Refuse { retry_after: whole_secs(wait), limit: limit.burst };
        }
        *tokens = (*tokens - 1.0).max(0.0);
        JiraVerdict::Pass { near: *tokens < burst * 0.2 }
    }
}

/// The `X-RateLimit-*` headers of an Azure DevOps answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdoHeaders {
    pub limit: u32,
    pub remaining: u32,
    /// When the user's usage would be back to 0, from now.
    pub reset_in: Duration,
    /// `Retry-After` in seconds, when the answer carries one.
    pub retry_after: Option<u64>,
}

/// What the Azure DevOps limit says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdoVerdict {
    /// Not limited (no limit on, or not this user's).
    Free,
    /// Within the limit; near it the answer carries these headers.
    Pass(Option<AdoHeaders>),
    /// Over it: 429 with these headers.
    Refuse(AdoHeaders),
}

/// From this share of the limit on, successes announce the usage.
const ANNOUNCE_FROM: f64 = 0.8;

#[derive(Default)]
pub(crate) struct AdoLimiter {
    limit: Mutex<Option<AdoRateLimit>>,
    /// Per lower-case e-mail: when each TSTU in the window was used, oldest first.
    usage: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl AdoLimiter {
    /// Turns the limit on (no usage yet) or off.
    pub(crate) fn set(&self, limit: Option<AdoRateLimit>) {
        *lock(&self.limit) = limit;
        lock(&self.usage).clear();
    }

    /// Counts one request (one TSTU) of `email` at `now`.
    pub(crate) fn check(&self, email: &str, now: Instant) -> AdoVerdict {
        let Some(limit) = lock(&self.limit).clone().filter(|l| applies(&l.users, email)) else {
            return AdoVerdict::Free;
        };
        let mut usage = lock(&self.usage);
        let used = usage.entry(email.to_ascii_lowercase()).or_default();
        while used.front().is_some_and(|t| now.saturating_duration_since(*t) >= limit.window) {
            used.pop_front();
        }
        // When the oldest use leaves the window, and when the newest does (usage back to 0).
        let frees_in = |used: &VecDeque<Instant>| {
            used.front().map_or(Duration::ZERO, |t| (*t + limit.window).saturating_duration_since(now))
        };
        let reset_in = |used: &VecDeque<Instant>| {
            used.back().map_or(Duration::ZERO, |t| (*t + limit.window).saturating_duration_since(now))
        };
        if used.len() as u64 >= u64::from(limit.limit) {
            return AdoVerdict::Refuse(AdoHeaders {
                limit: limit.limit,
                remaining: 0,
                reset_in: reset_in(used),
                retry_after: Some(whole_secs(frees_in(used))),
            });
        }
        used.push_back(now);
        let remaining = limit.limit - used.len() as u32;
        if (used.len() as f64) < f64::from(limit.limit) * ANNOUNCE_FROM {
            return AdoVerdict::Pass(None);
        }
        AdoVerdict::Pass(Some(AdoHeaders {
            limit: limit.limit,
            remaining,
            reset_in: reset_in(used),
            retry_after: (remaining == 0).then(|| whole_secs(frees_in(used))),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn jira_refuses_a_user_over_the_bucket_until_it_refills_and_warns_near_the_end() {
        let l = JiraLimiter::default();
        let t = Instant::now();
        assert_eq!(l.check("bot@acme.test", t), JiraVerdict::Free, "off by default");
        l.set(Some(JiraRateLimit { per_second: 2.0, burst: 5, users: vec![] }));
        let got: Vec<JiraVerdict> = (0..6).map(|_| l.check("bot@acme.test", t)).collect();
        let pass = |near| JiraVerdict::Pass { near };
        assert_eq!(
            got,
            [
                pass(false),
                pass(false),
                pass(false),
                pass(false),
                pass(true),
                JiraVerdict::Refuse { retry_after: 1, limit: 5 }
            ],
            "5 at once, the last one near the limit (none left), the sixth refused"
        );
        assert_eq!(l.check("alice@acme.test", t), pass(false), "per user");
        assert_eq!(
            l.check("BOT@acme.test", t + MS(200)),
            JiraVerdict::Refuse { retry_after: 1, limit: 5 },
            "0.4 of a token"
        );
        assert_eq!(
            l.check("bot@acme.test", t + MS(500)),
            pass(true),
            "a refused request takes nothing; 1 token at 0.5 s"
        );
        l.set(Some(JiraRateLimit { per_second: 0.1, burst: 1, users: vec!["bot@acme.test".into()] }));
        assert_eq!(l.check("bot@acme.test", t), pass(true));
        assert_eq!(l.check("bot@acme.test", t), JiraVerdict::Refuse { retry_after: 10, limit: 1 }, "10 s a token");
        assert_eq!(l.check("alice@acme.test", t), JiraVerdict::Free, "only the users named");
        l.set(None);
        assert_eq!(l.check("bot@acme.test", t), JiraVerdict::Free);
    }

    #[test]
    fn azure_devops_counts_a_sliding_window_announces_from_80_percent_and_refuses_over_the_limit() {
        let l = AdoLimiter::default();
        let t = Instant::now();
        assert_eq!(l.check("bot@acme.test", t), AdoVerdict::Free, "off by default");
        l.set(Some(AdoRateLimit { limit: 5, window: Duration::from_secs(10), users: vec![] }));
        let at = |ms| t + MS(ms);
        let headers =
            |remaining, reset_ms, retry_after| AdoHeaders { limit: 5, remaining, reset_in: MS(reset_ms), retry_after };
        // (behaviour, request at ms, verdict)
        let table = [
            ("well under the limit", 0, AdoVerdict::Pass(None)),
            ("still under 80 %", 1_000, AdoVerdict::Pass(None)),
            ("", 2_000, AdoVerdict::Pass(None)),
            ("at 80 % the headers come", 3_000, AdoVerdict::Pass(Some(headers(1, 10_000, None)))),
            (
                "the last TSTU, with Retry-After until the oldest leaves",
                4_000,
                AdoVerdict::Pass(Some(headers(0, 10_000, Some(6)))),
            ),
            ("over the limit", 5_000, AdoVerdict::Refuse(headers(0, 9_000, Some(5)))),
            ("a refused request uses nothing", 9_999, AdoVerdict::Refuse(headers(0, 4_001, Some(1)))),
            ("the oldest use has left the window", 10_000, AdoVerdict::Pass(Some(headers(0, 10_000, Some(1))))),
        ];
        for (behaviour, ms, want) in table {
            assert_eq!(l.check("bot@acme.test", at(ms)), want, "{behaviour} ({ms} ms)");
        }
        assert_eq!(l.check("bob@acme.test", at(5_000)), AdoVerdict::Pass(None), "per user");
    }
}
