//! The rate-limit governor's rules: every request Ferry sends to a system first takes a
//! token from that system's bucket, which refills at the system's pace and holds at most
//! its burst. The bucket lives in the store, so every process of a stack (each Lambda
//! function, the embedded runner, a `ferry preview` beside it) draws from the same one.
//!
//! The rules here are plain functions over the stored bucket; the stores apply them
//! atomically ([`crate::ports::RateLimitStore`]) and the HTTP client's governor
//! (`ferry_connectors::governor`) holds the tokens a process took.
//!
//! - [`take`]: how many tokens a process may take now, or how long until one is there.
//! - [`pause`]: after the system said "no more until T" ([`pause_until`] reads it from
//!   a response), the bucket is empty and refills only from T, for every caller.
//! - [`effective`]: the pace a system's config gives (its own, off, or its kind's default).

use crate::model::SystemKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A system's pace: a token bucket refilled with `per_second` tokens a second (a
/// fraction allowed) that holds at most `burst`; every request takes one token.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

// `per_second` is always finite and positive: the config decoder refuses anything else.
impl Eq for RateLimit {}

/// A system's `rate_limit:` as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitSetting {
    /// No pacing: requests go out as fast as Ferry makes them, and only a 429 slows the
    /// one call that met it.
    Off,
    Limit(RateLimit),
}

/// Most tokens a process takes from the shared bucket at a time.
pub const MAX_LEASE: u32 = 10;

/// How long a 429 without `Retry-After` or `X-RateLimit-Reset` pauses the bucket.
pub const BARE_429_PAUSE: Duration = Duration::from_secs(1);

/// The longest pause a response can impose (15 minutes, the longest delay Ferry asks
/// of a queue): a larger `Retry-After` or a reset far away is taken as this.
pub const MAX_PAUSE: Duration = Duration::from_secs(900);

impl RateLimit {
    /// The default pace of a kind of system, for its cloud service:
    /// - Jira Cloud: 10 requests/s, burst 20. Atlassian does not publish its limits
    ///   (developer.atlassian.com/cloud/jira/platform/rate-limiting: "REST API rate limits
    ///   are not published"); its worked example is a budget of 10 calls per second, and
    ///   API-token traffic is held to per-second burst limits kept by a token bucket per
    ///   tenant (Atlassian's 2025 announcement of the burst limits).
    /// - Azure DevOps Services: 10 requests/s, burst 20. Microsoft publishes the limit in
    ///   TSTUs, not requests (learn.microsoft.com/azure/devops/integrate/concepts/rate-limits:
    ///   200 times a typical user's use in a sliding five-minute window, delays first, then
    ///   429); the same pace as Jira's, with the `X-RateLimit-*` headers it sends while it
    ///   delays pausing the bucket.
    /// - Redmine: none (Redmine has no API rate limit; a server in front of it may).
    pub fn default_for(kind: SystemKind) -> Option<RateLimit> {
        match kind {
            SystemKind::Jira | SystemKind::AzureDevops => Some(RateLimit { per_second: 10.0, burst: 20 }),
            SystemKind::Redmine => None,
        }
    }

    /// The burst when the config gives only the pace: two seconds' worth, at least 1.
    pub fn default_burst(per_second: f64) -> u32 {
        (per_second * 2.0).ceil().clamp(1.0, u32::MAX as f64) as u32
    }

    /// Tokens a process takes from the shared bucket at a time (whole: [`take`]): a
    /// quarter of the burst, 1 to [`MAX_LEASE`]. One store request per lease instead of
    /// one per HTTP request; the price is that a process may hold a few tokens another
    /// could have used, and sends a lease's requests close together.
    pub fn lease(&self) -> u32 {
        (self.burst / 4).clamp(1, MAX_LEASE)
    }
}

/// The pace a system is held to: its own `rate_limit`, none when it is `off`, else its
/// kind's default ([`RateLimit::default_for`]) unless the base URL is a loopback host (a
/// simulator or test server on this machine, which no cloud limit applies to).
pub fn effective(setting: Option<RateLimitSetting>, kind: SystemKind, base_url: &str) -> Option<RateLimit> {
    match setting {
        Some(RateLimitSetting::Off) => None,
        Some(RateLimitSetting::Limit(l)) => Some(l),
        None if is_loopback(base_url) => None,
        None => RateLimit::default_for(kind),
    }
}

fn is_loopback(base_url: &str) -> bool {
    match url::Url::parse(base_url).ok().and_then(|u| u.host().map(|h| h.to_owned())) {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A system's bucket as stored: `tokens` as counted at `at_ms` (milliseconds since the
/// epoch). A paused bucket holds no tokens and its `at_ms` is the end of the pause, in
/// the future: it refills from then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub tokens: f64,
    pub at_ms: i64,
}

/// What a store answers a process asking for tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// This many tokens were taken (at least 1).
    Tokens(u32),
    /// None is there yet: ask again after this long.
    Wait(Duration),
}

/// The outcome of [`take`]: tokens taken and the bucket to store, or a wait (nothing to
/// store: the bucket is unchanged).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Take {
    Granted { tokens: u32, bucket: Bucket },
    Wait(Duration),
}

impl Take {
    pub fn grant(&self) -> Grant {
        match self {
            Take::Granted { tokens, .. } => Grant::Tokens(*tokens),
            Take::Wait(d) => Grant::Wait(*d),
        }
    }
}

/// Takes `want` tokens (1 to the burst) from the bucket `stored` (`None`: none stored
/// yet, a full one) at `now_ms`: refills it for the time since it was counted, up to the
/// burst, and takes them when it holds them all, or answers how long until it does. A
/// bucket paused past `now_ms` answers the rest of its pause.
///
/// A lease is taken whole: a bucket running at its pace holds one token at a time, and
/// taking what is there would mean a store request per HTTP request again.
pub fn take(stored: Option<Bucket>, limit: &RateLimit, want: u32, now_ms: i64) -> Take {
    let burst = limit.burst.max(1);
    let want = want.clamp(1, burst);
    let bucket = stored.unwrap_or(Bucket { tokens: f64::from(burst), at_ms: now_ms });
    if now_ms < bucket.at_ms {
        return Take::Wait(Duration::from_millis((bucket.at_ms - now_ms) as u64));
    }
    let elapsed = (now_ms - bucket.at_ms) as f64 / 1000.0;
    let tokens = (bucket.tokens + elapsed * limit.per_second).min(f64::from(burst));
    // A hair under is whole: float sums of refills are inexact.
    let missing = f64::from(want) - tokens;
    if missing <= 1e-9 {
        let left = (tokens - f64::from(want)).max(0.0);
        return Take::Granted { tokens: want, bucket: Bucket { tokens: left, at_ms: now_ms } };
    }
    let wait_ms = (missing / limit.per_second * 1000.0).ceil().max(1.0);
    Take::Wait(Duration::from_millis(wait_ms.min(MAX_PAUSE.as_millis() as f64) as u64))
}

/// The bucket after a pause until `until_ms`: empty, refilling from then. `None` when
/// the stored bucket is paused as long already (nothing to store).
pub fn pause(stored: Option<Bucket>, until_ms: i64) -> Option<Bucket> {
    match stored {
        Some(b) if b.at_ms >= until_ms => None,
        _ => Some(Bucket { tokens: 0.0, at_ms: until_ms }),
    }
}

/// What a response says about the system's limit, as its headers give it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitSignal {
    pub status: u16,
    /// `Retry-After`.
    pub retry_after: Option<Duration>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset`.
    pub reset: Option<DateTime<Utc>>,
    /// `RateLimit-Reason`: the limit a 429 met ([`crate::limit_meaning`]).
    pub reason: Option<crate::limit_meaning::LimitReason>,
    /// `X-RateLimit-Limit`.
    pub limit: Option<u64>,
    /// Jira's points quota as `Beta-RateLimit` gives it on any answer: the points left
    /// (`r`) and the time until its window ends (`t`).
    pub quota_left: Option<(u64, Duration)>,
}

/// Until when a response pauses every request to its system, if it does:
/// - a `Retry-After` on any answer (a 429, a 503, or Azure DevOps delaying a success):
///   until then;
/// - `X-RateLimit-Remaining: 0`, or a 429, without it: until `X-RateLimit-Reset`;
/// - a 429 with neither: [`BARE_429_PAUSE`].
///
/// Never longer than [`MAX_PAUSE`]; a time already past pauses nothing.
pub fn pause_until(signal: &LimitSignal, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let limited = signal.status == 429;
    let exhausted = signal.remaining == Some(0);
    let until = signal
        .retry_after
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| now + d)
        .or_else(|| signal.reset.filter(|_| limited || exhausted))
        .or_else(|| limited.then(|| now + chrono::Duration::from_std(BARE_429_PAUSE).unwrap_or_default()))?;
    let cap = now + chrono::Duration::from_std(MAX_PAUSE).unwrap_or_default();
    (until > now).then(|| until.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const TEN: RateLimit = RateLimit { per_second: 10.0, burst: 20 };
    const HALF: RateLimit = RateLimit { per_second: 0.5, burst: 1 };
    const FOUR: RateLimit = RateLimit { per_second: 1.0, burst: 4 };

    fn bucket(tokens: f64, at_ms: i64) -> Option<Bucket> {
        Some(Bucket { tokens, at_ms })
    }

    #[test]
    fn a_take_refills_for_the_time_passed_and_takes_what_is_there_or_says_how_long_to_wait() {
        let granted = |tokens, left, at_ms| Take::Granted { tokens, bucket: Bucket { tokens: left, at_ms } };
        // (behaviour, stored bucket, limit, tokens wanted, now in ms, outcome)
        let table = [
            ("a first take finds a full bucket", None, TEN, 5, 1_000, granted(5, 15.0, 1_000)),
            ("a take gets what it asked for", bucket(20.0, 0), TEN, 3, 0, granted(3, 17.0, 0)),
            ("a take waits until the bucket holds it whole", bucket(2.5, 0), TEN, 5, 0, Take::Wait(MS(250))),
            ("asking for none takes one", bucket(4.0, 0), TEN, 0, 0, granted(1, 3.0, 0)),
            ("the bucket refills at the pace", bucket(0.0, 0), TEN, 3, 300, granted(3, 0.0, 300)),
            ("up to the burst, never beyond", bucket(0.0, 0), TEN, 10, 60_000, granted(10, 10.0, 60_000)),
            ("an empty bucket waits for a whole token", bucket(0.0, 0), TEN, 1, 0, Take::Wait(MS(100))),
            ("a part token waits for the rest", bucket(0.75, 0), TEN, 1, 0, Take::Wait(MS(25))),
            ("a slow pace waits long", bucket(0.0, 0), HALF, 1, 0, Take::Wait(MS(2_000))),
            ("a paused bucket waits out the pause", bucket(0.0, 5_000), TEN, 5, 1_000, Take::Wait(MS(4_000))),
            ("and refills only from its end", bucket(0.0, 5_000), TEN, 2, 5_200, granted(2, 0.0, 5_200)),
            ("a lease over the burst is the burst", bucket(20.0, 0), FOUR, 10, 0, granted(4, 0.0, 0)),
        ];
        for (behaviour, stored, limit, want, now, expected) in table {
            assert_eq!(take(stored, &limit, want, now), expected, "{behaviour}");
        }
    }

    #[test]
    fn a_bucket_taken_at_its_pace_never_grants_more_than_burst_plus_pace_times_time() {
        let limit = RateLimit { per_second: 7.0, burst: 5 };
        let (mut stored, mut granted) = (None, 0u64);
        for now in (0..10_000).step_by(13) {
            if let Take::Granted { tokens, bucket } = take(stored, &limit, 3, now) {
                granted += u64::from(tokens);
                stored = Some(bucket);
            }
        }
        // 10 s at 7/s plus the first burst; rounding never adds a token.
        assert!(granted <= 5 + 70, "{granted}");
        assert!(granted >= 5 + 70 - 5, "the pace is used, not lost to rounding: {granted}");
    }

    #[test]
    fn a_pause_empties_the_bucket_until_its_end_unless_a_longer_one_is_stored() {
        // (behaviour, stored bucket, pause until ms, bucket to store)
        let table = [
            ("no bucket yet: an empty one from the end", None, 9_000, bucket(0.0, 9_000)),
            ("a full bucket is emptied", bucket(20.0, 1_000), 9_000, bucket(0.0, 9_000)),
            ("a shorter pause is lengthened", bucket(0.0, 5_000), 9_000, bucket(0.0, 9_000)),
            ("a longer pause is kept", bucket(0.0, 12_000), 9_000, None),
            ("the same pause again writes nothing", bucket(0.0, 9_000), 9_000, None),
        ];
        for (behaviour, stored, until, expected) in table {
            assert_eq!(pause(stored, until), expected, "{behaviour}");
        }
    }

    #[test]
    fn a_response_pauses_every_caller_until_the_time_its_headers_give() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 22, 14, 30).single().unwrap();
        let at = |secs: i64| Some(now + chrono::Duration::seconds(secs));
        let signal = |status, retry_after: Option<u64>, remaining, reset: Option<i64>| LimitSignal {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            remaining,
            reset: reset.and_then(at),
            ..Default::default()
        };
        // (behaviour, response, pause until)
        let table = [
            ("a 429 with Retry-After", signal(429, Some(7), Some(0), Some(60)), at(7)),
            ("a 429 with only a reset", signal(429, None, None, Some(30)), at(30)),
            ("a bare 429 pauses a moment", signal(429, None, None, None), at(1)),
            ("a 503 with Retry-After", signal(503, Some(5), None, None), at(5)),
            ("a success while delayed (Azure DevOps)", signal(200, Some(2), Some(10), None), at(2)),
            ("a success with nothing left, until the reset", signal(200, None, Some(0), Some(40)), at(40)),
            ("nothing left but no time given", signal(200, None, Some(0), None), None),
            ("a success with some left", signal(200, None, Some(3), Some(40)), None),
            ("a plain success", signal(200, None, None, None), None),
            ("a reset on a success with some left", signal(200, None, None, Some(40)), None),
            ("a 500 without Retry-After", signal(500, None, None, None), None),
            ("a reset already past", signal(429, None, None, Some(-5)), None),
            ("Retry-After 0", signal(429, Some(0), None, None), None),
            ("a pause is never longer than 15 minutes", signal(429, Some(86_400), None, None), at(900)),
        ];
        for (behaviour, s, expected) in table {
            assert_eq!(pause_until(&s, now), expected, "{behaviour}");
        }
    }

    #[test]
    fn a_system_is_paced_by_its_setting_or_else_its_kinds_default_except_on_loopback() {
        let own = RateLimit { per_second: 2.5, burst: 4 };
        let jira_default = RateLimit::default_for(SystemKind::Jira);
        // (behaviour, setting, kind, base URL, pace)
        let table = [
            ("its own", Some(RateLimitSetting::Limit(own)), SystemKind::Jira, "https://acme.atlassian.net", Some(own)),
            (
                "its own on loopback too",
                Some(RateLimitSetting::Limit(own)),
                SystemKind::Jira,
                "http://127.0.0.1:9",
                Some(own),
            ),
            ("off", Some(RateLimitSetting::Off), SystemKind::Jira, "https://acme.atlassian.net", None),
            ("Jira Cloud's default", None, SystemKind::Jira, "https://acme.atlassian.net", jira_default),
            ("Azure DevOps' default", None, SystemKind::AzureDevops, "https://dev.azure.com/acme", jira_default),
            ("Redmine has none", None, SystemKind::Redmine, "https://redmine.acme.test", None),
            ("a simulator on 127.0.0.1", None, SystemKind::Jira, "http://127.0.0.1:8080", None),
            ("on localhost", None, SystemKind::AzureDevops, "http://localhost:8080/acme", None),
            ("on ::1", None, SystemKind::AzureDevops, "http://[::1]:8080/acme", None),
        ];
        for (behaviour, setting, kind, url, expected) in table {
            assert_eq!(effective(setting, kind, url), expected, "{behaviour}");
        }
    }

    #[test]
    fn a_lease_is_a_quarter_of_the_burst_between_one_and_ten() {
        for (burst, lease) in [(1, 1), (4, 1), (20, 5), (40, 10), (1000, 10)] {
            assert_eq!(RateLimit { per_second: 10.0, burst }.lease(), lease, "burst {burst}");
        }
        for (per_second, burst) in [(10.0, 20), (0.2, 1), (0.75, 2)] {
            assert_eq!(RateLimit::default_burst(per_second), burst, "{per_second}/s");
        }
    }
}
