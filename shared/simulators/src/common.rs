//! Pieces both simulators share: seeded users, fault switches and the request log.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// A person (or bot) known to a simulator. Requests authenticate as a user with HTTP
/// basic auth: Jira `email:token`, Azure DevOps `<anything>:token` (a PAT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimUser {
    /// Jira accountId / Azure DevOps VSID (a GUID string).
    pub id: String,
    pub email: String,
    pub display_name: String,
    /// API token / PAT this user authenticates with.
    pub token: String,
    /// Jira: profile privacy hides `emailAddress`.
    pub email_hidden: bool,
    /// IANA zone of the user's profile (Jira reads JQL dates in it).
    pub time_zone: String,
    pub active: bool,
}

impl SimUser {
    pub fn new(id: &str, email: &str, display_name: &str, token: &str) -> Self {
        Self {
            id: id.into(),
            email: email.into(),
            display_name: display_name.into(),
            token: token.into(),
            email_hidden: false,
            time_zone: "UTC".into(),
            active: true,
        }
    }
}

/// Fault switches, changeable while the simulator runs.
#[derive(Debug, Default)]
pub struct Faults {
    rate_limit_next: AtomicU32,
    retry_after_secs: AtomicU64,
    fail_next: AtomicU32,
    fail_status: AtomicU32,
    search_lag_ms: AtomicU64,
    delay_ms: AtomicU64,
}

/// What a fault check tells the request handler to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    None,
    /// Answer 429 with this `Retry-After` (seconds).
    RateLimited(u64),
    /// Answer with this 5xx status.
    Fail(u16),
}

impl Faults {
    /// The next `n` requests get 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit_next(&self, n: u32, retry_after_secs: u64) {
        self.retry_after_secs.store(retry_after_secs, Ordering::SeqCst);
        self.rate_limit_next.store(n, Ordering::SeqCst);
    }
    /// The next `n` requests fail with `status` (e.g. 500, 503).
    pub fn fail_next(&self, n: u32, status: u16) {
        self.fail_status.store(status as u32, Ordering::SeqCst);
        self.fail_next.store(n, Ordering::SeqCst);
    }
    /// Entities updated within the last `lag` are missing from search results
    /// (Jira JQL search / ADO WIQL), as a lagging index would have it.
    pub fn set_search_lag(&self, lag: Duration) {
        self.search_lag_ms.store(lag.as_millis() as u64, Ordering::SeqCst);
    }
    pub fn search_lag(&self) -> Duration {
        Duration::from_millis(self.search_lag_ms.load(Ordering::SeqCst))
    }
    /// Every request is answered after `delay` (timeouts).
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }
    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms.load(Ordering::SeqCst))
    }
    /// Consumes one pending fault, if any; call once per request.
    pub fn take(&self) -> Injected {
        if take_one(&self.rate_limit_next) {
            return Injected::RateLimited(self.retry_after_secs.load(Ordering::SeqCst));
        }
        if take_one(&self.fail_next) {
            return Injected::Fail(self.fail_status.load(Ordering::SeqCst) as u16);
        }
        Injected::None
    }
}

fn take_one(counter: &AtomicU32) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

/// One request as the simulator saw it (for request counting in tests and benchmarks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    /// Authenticated user's e-mail, if any.
    pub user: Option<String>,
}

#[derive(Debug, Default)]
pub struct RequestLog(Mutex<Vec<RequestRecord>>);

impl RequestLog {
    pub fn push(&self, r: RequestRecord) {
        if let Ok(mut v) = self.0.lock() {
            v.push(r);
        }
    }
    pub fn snapshot(&self) -> Vec<RequestRecord> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
    pub fn clear(&self) {
        if let Ok(mut v) = self.0.lock() {
            v.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_one_per_request() {
        let f = Faults::default();
        f.rate_limit_next(1, 2);
        f.fail_next(1, 503);
        assert_eq!(f.take(), Injected::RateLimited(2));
        assert_eq!(f.take(), Injected::Fail(503));
        assert_eq!(f.take(), Injected::None);
    }
}
