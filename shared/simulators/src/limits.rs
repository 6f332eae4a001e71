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
//! - Jira Cloud's per-issue write limit ([`JiraIssueWriteLimit`]): at most so many writes
//!   to one issue within a sliding window; over it, 429 with
//!   `RateLimit-Reason: jira-per-issue-on-write` and `Retry-After` until the oldest write
//!   leaves the window. The site's other issues are not affected.
//! - Jira Cloud's points-based quota ([`JiraQuota`]): every request costs points
//!   ([`request_points`]) from the tenant's budget for the current window (an hour, aligned
//!   to the clock); over it, 429 with `RateLimit-Reason: jira-quota-tenant-based`,
//!   `Retry-After` and `X-RateLimit-Reset` at the window's end. Every answer carries the
//!   `Beta-RateLimit-Policy` / `Beta-RateLimit` headers.
//! - Azure DevOps: TSTUs per user in a sliding window (one TSTU per request here; the
//!   service weighs requests by the work they cause); a 429 carries `Retry-After` (until
//!   enough usage leaves the window), `X-RateLimit-Resource`, `X-RateLimit-Delay`,
//!   `X-RateLimit-Limit`, `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` (Unix epoch:
//!   when the usage would be back to 0). From 80 % of the limit on, successes carry the
//!   same `X-RateLimit-*` headers, and the one that uses the last TSTU a `Retry-After`
//!   too (the service sends them while it delays a user). The simulator does not delay.

use chrono::{DateTime, Utc};
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

/// Jira Cloud's per-issue write limit: at most `writes` writes to one issue (an edit, a
/// transition, an assignment, a comment, a remote link or an attachment) within any
/// `window`. Atlassian does not publish the numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraIssueWriteLimit {
    pub writes: u32,
    pub window: Duration,
    /// The users (e-mails) whose writes it limits; empty: every user.
    pub users: Vec<String>,
}

/// What the per-issue write limit says of one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueWriteVerdict {
    /// Not limited (no limit on, or not this user's).
    Free,
    Pass,
    /// Over it: 429, `Retry-After` this many seconds; `limit` is the writes allowed a window.
    Refuse {
        retry_after: u64,
        limit: u32,
    },
}

#[derive(Default)]
pub(crate) struct IssueWriteLimiter {
    limit: Mutex<Option<JiraIssueWriteLimit>>,
    /// Per issue id: when each write in the window was made, oldest first.
    writes: Mutex<HashMap<u64, VecDeque<Instant>>>,
}

impl IssueWriteLimiter {
    /// Turns the limit on (no writes counted yet) or off.
    pub(crate) fn set(&self, limit: Option<JiraIssueWriteLimit>) {
        *lock(&self.limit) = limit;
        lock(&self.writes).clear();
    }

    pub(crate) fn is_on(&self) -> bool {
        lock(&self.limit).is_some()
    }

    /// Counts one write of `email` to the issue `issue` at `now`; a refused one counts nothing.
    pub(crate) fn check(&self, email: &str, issue: u64, now: Instant) -> IssueWriteVerdict {
        let Some(limit) = lock(&self.limit).clone().filter(|l| applies(&l.users, email)) else {
            return IssueWriteVerdict::Free;
        };
        let mut writes = lock(&self.writes);
        let made = writes.entry(issue).or_default();
        while made.front().is_some_and(|t| now.saturating_duration_since(*t) >= limit.window) {
            made.pop_front();
        }
        if made.len() as u64 >= u64::from(limit.writes) {
            let frees_in = made.front().map_or(Duration::ZERO, |t| (*t + limit.window).saturating_duration_since(now));
            return IssueWriteVerdict::Refuse { retry_after: whole_secs(frees_in), limit: limit.writes };
        }
        made.push_back(now);
        IssueWriteVerdict::Pass
    }
}

/// The issue a request writes to, by the id or key in its path, when it is one of the
/// writes the per-issue limit counts: `PUT /issue/{k}` (edit), `PUT /issue/{k}/assignee`,
/// `POST /issue/{k}/transitions`, `POST|PUT|DELETE /issue/{k}/comment[/{id}]`,
/// `POST|PUT|DELETE /issue/{k}/remotelink[/{id}]` and `POST /issue/{k}/attachments`.
/// Creating or deleting an issue is not a write to an existing one.
pub fn issue_written<'a>(method: &str, path: &'a str) -> Option<&'a str> {
    let rest = path.strip_prefix("/rest/api/3/issue/")?;
    let mut parts = rest.split('/');
    let issue = parts.next().filter(|k| !k.is_empty() && *k != "createmeta" && *k != "bulk")?;
    let sub = parts.next();
    let writes = matches!(
        (method, sub),
        ("PUT", None | Some("assignee"))
            | ("POST", Some("transitions" | "attachments"))
            | ("POST" | "PUT" | "DELETE", Some("comment" | "remotelink"))
    );
    writes.then_some(issue)
}

/// Jira Cloud's points-based quota of a tenant: `points` a `window` (an hour at Atlassian),
/// the windows aligned to the clock (one starts every `window` since the Unix epoch).
/// Atlassian publishes no default; its support forum shows `q=100100;w=3600` for one app.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraQuota {
    pub points: u64,
    pub window: Duration,
    /// The users (e-mails) whose requests count (the app's traffic); empty: every user.
    pub users: Vec<String>,
}

/// Where a tenant's quota stands: the `Beta-RateLimit*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaState {
    pub points: u64,
    pub window: Duration,
    pub remaining: u64,
    /// When the current window ends.
    pub reset: DateTime<Utc>,
}

/// What the quota says of one request before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaVerdict {
    /// Not counted (no quota on, or not this user's).
    Free,
    /// Within the quota: run it, then [`JiraQuotaLimiter::charge`] its cost.
    Pass,
    /// Nothing left this window: 429 until its end.
    Refuse(QuotaState),
}

/// A request's cost in points, as Atlassian's rate-limiting page defines the model: every
/// request has a base cost of 1 point; a read adds 1 point for each object it returns (the
/// page weighs objects by kind; the simulator counts each as 1); a write costs the base
/// only. `objects`: the objects of a read's answer ([`objects_in`]).
pub fn request_points(read: bool, objects: u64) -> u64 {
    if read {
        1 + objects
    } else {
        1
    }
}

/// Whether a request reads: a `GET`, or a `POST` that only carries a query too long for a
/// URL (JQL search and count, JQL parsing, bulk changelogs, comments by id).
pub fn is_read(method: &str, path: &str) -> bool {
    const POST_READS: [&str; 5] = [
        "/rest/api/3/search/jql",
        "/rest/api/3/search/approximate-count",
        "/rest/api/3/jql/parse",
        "/rest/api/3/changelog/bulkfetch",
        "/rest/api/3/comment/list",
    ];
    method == "GET" || (method == "POST" && POST_READS.contains(&path))
}

/// The objects a JSON answer holds: the length of its list (`issues`, `values`,
/// `comments`, `histories`, `issueChangeLogs`, or the answer itself when it is an array),
/// else 1 (a single object, e.g. an issue).
pub fn objects_in(answer: &serde_json::Value) -> u64 {
    if let Some(list) = answer.as_array() {
        return list.len() as u64;
    }
    ["issues", "values", "comments", "histories", "issueChangeLogs"]
        .iter()
        .find_map(|k| answer.get(*k).and_then(|v| v.as_array()))
        .map_or(1, |l| l.len() as u64)
}

#[derive(Default)]
pub(crate) struct JiraQuotaLimiter {
    quota: Mutex<Option<JiraQuota>>,
    /// The window counted (its index since the epoch) and the points spent in it.
    spent: Mutex<(i64, u64)>,
}

impl JiraQuotaLimiter {
    /// Turns the quota on (nothing spent yet) or off.
    pub(crate) fn set(&self, quota: Option<JiraQuota>) {
        *lock(&self.quota) = quota;
        *lock(&self.spent) = (i64::MIN, 0);
    }

    fn applying(&self, email: &str) -> Option<JiraQuota> {
        lock(&self.quota).clone().filter(|q| applies(&q.users, email) && !q.window.is_zero())
    }

    /// The window `now` falls in (its index) and when it ends.
    fn window_of(q: &JiraQuota, now: DateTime<Utc>) -> (i64, DateTime<Utc>) {
        let len = q.window.as_millis().max(1) as i64;
        let index = now.timestamp_millis().div_euclid(len);
        let end = DateTime::<Utc>::from_timestamp_millis((index + 1) * len).unwrap_or(now);
        (index, end)
    }

    fn state(&self, q: &JiraQuota, now: DateTime<Utc>) -> QuotaState {
        let (index, reset) = Self::window_of(q, now);
        let mut spent = lock(&self.spent);
        if spent.0 != index {
            *spent = (index, 0);
        }
        QuotaState { points: q.points, window: q.window, remaining: q.points.saturating_sub(spent.1), reset }
    }

    /// Whether a request of `email` at `now` may run.
    pub(crate) fn check(&self, email: &str, now: DateTime<Utc>) -> QuotaVerdict {
        let Some(q) = self.applying(email) else { return QuotaVerdict::Free };
        let state = self.state(&q, now);
        if state.remaining == 0 {
            QuotaVerdict::Refuse(state)
        } else {
            QuotaVerdict::Pass
        }
    }

    /// Charges `points` for a request of `email` that ran; the state after it, `None`
    /// when the quota does not count this user. A request may take the budget below 0:
    /// its cost is known only once it ran; the next one is refused.
    pub(crate) fn charge(&self, email: &str, points: u64, now: DateTime<Utc>) -> Option<QuotaState> {
        let q = self.applying(email)?;
        let before = self.state(&q, now);
        let mut spent = lock(&self.spent);
        spent.1 = spent.1.saturating_add(points);
        Some(QuotaState { remaining: q.points.saturating_sub(spent.1), ..before })
    }

    /// Where the quota stands for `email` (headers on an answer), `None` when it does not count.
    pub(crate) fn peek(&self, email: &str, now: DateTime<Utc>) -> Option<QuotaState> {
        let q = self.applying(email)?;
        Some(self.state(&q, now))
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
    fn jira_refuses_a_write_over_the_issues_window_until_its_oldest_write_leaves_it() {
        let l = IssueWriteLimiter::default();
        let t = Instant::now();
        let at = |ms| t + MS(ms);
        assert_eq!(l.check("bot@acme.test", 1, t), IssueWriteVerdict::Free, "off by default");
        l.set(Some(JiraIssueWriteLimit { writes: 2, window: Duration::from_secs(10), users: vec![] }));
        let refuse = |retry_after| IssueWriteVerdict::Refuse { retry_after, limit: 2 };
        // (behaviour, issue, at ms, verdict)
        let table = [
            ("a first write", 1, 0, IssueWriteVerdict::Pass),
            ("a second", 1, 1_000, IssueWriteVerdict::Pass),
            ("a third within the window", 1, 2_000, refuse(8)),
            ("another issue has its own window", 2, 2_000, IssueWriteVerdict::Pass),
            ("a refused write counts nothing", 1, 9_500, refuse(1)),
            ("the oldest left the window", 1, 10_000, IssueWriteVerdict::Pass),
            ("and the next one waits for the second", 1, 10_001, refuse(1)),
        ];
        for (behaviour, issue, ms, want) in table {
            assert_eq!(l.check("bot@acme.test", issue, at(ms)), want, "{behaviour}");
        }
        l.set(Some(JiraIssueWriteLimit {
            writes: 1,
            window: Duration::from_secs(10),
            users: vec!["bot@acme.test".into()],
        }));
        assert_eq!(l.check("alice@acme.test", 1, t), IssueWriteVerdict::Free, "only the users named");
    }

    #[test]
    fn the_writes_to_an_existing_issue_are_the_ones_the_per_issue_limit_counts() {
        // (behaviour, method, path, issue written)
        let table = [
            ("an edit", "PUT", "/rest/api/3/issue/APP-1", Some("APP-1")),
            ("by id", "PUT", "/rest/api/3/issue/10001", Some("10001")),
            ("an assignment", "PUT", "/rest/api/3/issue/APP-1/assignee", Some("APP-1")),
            ("a transition", "POST", "/rest/api/3/issue/APP-1/transitions", Some("APP-1")),
            ("a comment", "POST", "/rest/api/3/issue/APP-1/comment", Some("APP-1")),
            ("a comment edited", "PUT", "/rest/api/3/issue/APP-1/comment/7", Some("APP-1")),
            ("a comment deleted", "DELETE", "/rest/api/3/issue/APP-1/comment/7", Some("APP-1")),
            ("a remote link", "POST", "/rest/api/3/issue/APP-1/remotelink", Some("APP-1")),
            ("a remote link deleted", "DELETE", "/rest/api/3/issue/APP-1/remotelink/3", Some("APP-1")),
            ("an attachment", "POST", "/rest/api/3/issue/APP-1/attachments", Some("APP-1")),
            ("a read", "GET", "/rest/api/3/issue/APP-1", None),
            ("the transitions read", "GET", "/rest/api/3/issue/APP-1/transitions", None),
            ("a create", "POST", "/rest/api/3/issue", None),
            ("a deletion", "DELETE", "/rest/api/3/issue/APP-1", None),
            ("createmeta", "GET", "/rest/api/3/issue/createmeta/APP/issuetypes", None),
            ("a search", "POST", "/rest/api/3/search/jql", None),
        ];
        for (behaviour, method, path, want) in table {
            assert_eq!(issue_written(method, path), want, "{behaviour}");
        }
    }

    #[test]
    fn a_read_costs_a_point_and_one_for_each_object_it_answers_and_a_write_one() {
        use serde_json::json;
        // (behaviour, method, path, answer, points)
        let table = [
            ("an issue", "GET", "/rest/api/3/issue/APP-1", json!({"id": "1", "fields": {}}), 2),
            ("a search page", "POST", "/rest/api/3/search/jql", json!({"issues": [{}, {}, {}]}), 4),
            ("an empty page", "GET", "/rest/api/3/search/jql", json!({"issues": []}), 1),
            ("a list", "GET", "/rest/api/3/issue/APP-1/remotelink", json!([{}, {}]), 3),
            ("comments", "GET", "/rest/api/3/issue/APP-1/comment", json!({"comments": [{}], "total": 1}), 2),
            ("changelog values", "GET", "/rest/api/3/issue/APP-1/changelog", json!({"values": [{}, {}]}), 3),
            ("bulk changelogs", "POST", "/rest/api/3/changelog/bulkfetch", json!({"issueChangeLogs": [{}]}), 2),
            ("an edit", "PUT", "/rest/api/3/issue/APP-1", json!(null), 1),
            ("a create answering an object", "POST", "/rest/api/3/issue", json!({"id": "1"}), 1),
            ("a comment added", "POST", "/rest/api/3/issue/APP-1/comment", json!({"id": "1"}), 1),
        ];
        for (behaviour, method, path, answer, points) in table {
            let read = is_read(method, path);
            let objects = if read { objects_in(&answer) } else { 0 };
            assert_eq!(request_points(read, objects), points, "{behaviour}");
        }
    }

    #[test]
    fn the_quota_counts_points_within_clock_aligned_windows_and_refuses_when_none_are_left() {
        use chrono::TimeZone;
        let l = JiraQuotaLimiter::default();
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 14, 59, 0).single().unwrap();
        assert_eq!(l.check("bot@acme.test", t), QuotaVerdict::Free, "off by default");
        l.set(Some(JiraQuota { points: 5, window: Duration::from_secs(3600), users: vec![] }));
        let hour_end = Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).single().unwrap();
        let state = |remaining| QuotaState { points: 5, window: Duration::from_secs(3600), remaining, reset: hour_end };
        assert_eq!(l.check("bot@acme.test", t), QuotaVerdict::Pass);
        assert_eq!(l.charge("bot@acme.test", 3, t), Some(state(2)));
        assert_eq!(l.charge("alice@acme.test", 3, t), Some(state(0)), "the tenant's budget: every user's requests");
        assert_eq!(l.check("bot@acme.test", t), QuotaVerdict::Refuse(state(0)), "spent, until the hour ends");
        let next = hour_end + chrono::Duration::seconds(1);
        assert_eq!(l.check("bot@acme.test", next), QuotaVerdict::Pass, "a new hour");
        assert_eq!(l.peek("bot@acme.test", next).map(|s| s.remaining), Some(5));
        l.set(Some(JiraQuota { points: 5, window: Duration::from_secs(3600), users: vec!["bot@acme.test".into()] }));
        assert_eq!(l.peek("alice@acme.test", t), None, "only the users named");
        assert_eq!(l.charge("alice@acme.test", 9, t), None);
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
