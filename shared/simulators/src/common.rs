//! Pieces both simulators share: seeded users, fault switches, the request log and the
//! traffic capture that the protocol contract check (`infra/contract`) reads.

use crate::multipart::PartSummary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// When set to a directory, every simulator started in the process appends each
/// request/response pair to `<dir>/<service>-<pid>-<port>.jsonl` (see [`Exchange`]).
pub const CONTRACT_DIR_VAR: &str = "FERRY_CONTRACT_DIR";

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
    hang_next: AtomicU32,
    hang_ms: AtomicU64,
    stale_revision_next: AtomicU32,
    lose_answer: Mutex<Option<LostAnswers>>,
}

/// The requests whose answers are lost: how many more, their method and how their
/// path ends.
#[derive(Debug)]
struct LostAnswers {
    left: u32,
    method: String,
    path_suffix: String,
}

/// What a fault check tells the request handler to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    None,
    /// Answer 429 with this `Retry-After` (seconds).
    RateLimited(u64),
    /// Answer with this 5xx status.
    Fail(u16),
    /// Hold the request this long, then drop it unapplied with a 504 (a client with a
    /// shorter timeout sees a timeout; nothing was changed).
    Hang(Duration),
    /// The request was applied, then its answer replaced by a 504 ([`Faults::lose_answer_next`]).
    AnswerLost,
}

impl Injected {
    /// The `Exchange::injected` label of this fault.
    pub fn label(self) -> Option<String> {
        match self {
            Injected::None => None,
            Injected::RateLimited(_) => Some("rate_limited".into()),
            Injected::Fail(_) => Some("failure".into()),
            Injected::Hang(_) => Some("timeout".into()),
            Injected::AnswerLost => Some("answer_lost".into()),
        }
    }
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
    /// The next `n` requests hang for `hang` and are then answered 504 without being
    /// applied: set `hang` longer than the client's timeout to make it time out.
    pub fn hang_next(&self, n: u32, hang: Duration) {
        self.hang_ms.store(hang.as_millis() as u64, Ordering::SeqCst);
        self.hang_next.store(n, Ordering::SeqCst);
    }
    /// Azure DevOps only: before each of the next `n` work item updates that carry a
    /// `test /rev` operation, another person edits the item (a new revision), so the
    /// test fails as it does when someone saved in between (412).
    pub fn stale_revision_next(&self, n: u32) {
        self.stale_revision_next.store(n, Ordering::SeqCst);
    }
    /// Consumes one pending stale-revision fault, if any.
    pub fn take_stale_revision(&self) -> bool {
        take_one(&self.stale_revision_next)
    }
    /// The next `n` requests of `method` whose path ends with `path_suffix` are applied
    /// as usual, then answered `504 Gateway Timeout` in place of their answer, as a
    /// gateway that gave up waiting does: the client cannot tell that they were applied.
    pub fn lose_answer_next(&self, n: u32, method: &str, path_suffix: &str) {
        if let Ok(mut slot) = self.lose_answer.lock() {
            *slot = Some(LostAnswers { left: n, method: method.into(), path_suffix: path_suffix.into() });
        }
    }
    /// Consumes one pending lost-answer fault that matches this applied request, if any.
    pub fn take_lost_answer(&self, method: &str, path: &str) -> bool {
        let Ok(mut slot) = self.lose_answer.lock() else { return false };
        match slot.as_mut() {
            Some(l) if l.left > 0 && l.method.eq_ignore_ascii_case(method) && path.ends_with(&l.path_suffix) => {
                l.left -= 1;
                true
            }
            _ => false,
        }
    }
    /// Consumes one pending fault, if any; call once per request.
    pub fn take(&self) -> Injected {
        if take_one(&self.rate_limit_next) {
            return Injected::RateLimited(self.retry_after_secs.load(Ordering::SeqCst));
        }
        if take_one(&self.fail_next) {
            return Injected::Fail(self.fail_status.load(Ordering::SeqCst) as u16);
        }
        if take_one(&self.hang_next) {
            return Injected::Hang(Duration::from_millis(self.hang_ms.load(Ordering::SeqCst)));
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
    /// The limit a 429 met, as its `RateLimit-Reason` names it (Jira Cloud).
    #[serde(default)]
    pub limit_reason: Option<String>,
}

/// One change of an entity as its history shows it (Jira changelog entry, Azure DevOps
/// work item update); the first one is the creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// E-mail of the user who made the change.
    pub author: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// Field ids the change set (Jira field ids, Azure DevOps reference names).
    pub fields: Vec<String>,
    pub created: bool,
    /// Whether the change made a new revision. An Azure DevOps work item at the far end
    /// of a link someone added or removed elsewhere gets an update that keeps its `rev`
    /// and its `System.ChangedDate`: no poll that follows `ChangedDate` can see it.
    pub new_revision: bool,
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

/// One request and the simulator's answer, as they went over the wire. Text bodies are the
/// raw text (lossy UTF-8) so a contract checker judges exactly what was sent; binary bodies
/// (files) are kept as their size, multipart bodies as their parts' headers and sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// `jira` or `ado`.
    pub service: String,
    pub method: String,
    pub path: String,
    /// Raw query string, without `?`.
    pub query: String,
    /// Scheme of the `Authorization` header (`Basic`, `Bearer`), never the credential.
    #[serde(default)]
    pub auth_scheme: Option<String>,
    pub request_content_type: Option<String>,
    pub request_body: Option<String>,
    pub status: u16,
    pub response_content_type: Option<String>,
    pub response_body: Option<String>,
    /// Set when a fault switch ([`Faults`]) produced the answer, not the API logic:
    /// `rate_limited` or `failure`.
    pub injected: Option<String>,
    /// The request headers of [`CAPTURED_REQUEST_HEADERS`] that were sent, by lower-case name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_headers: BTreeMap<String, String>,
    /// Size of a binary request body, which is not captured as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body_size: Option<u64>,
    /// The parts of a `multipart/form-data` request (headers and sizes, never content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_parts: Option<Vec<PartSummary>>,
    /// The response headers of [`CAPTURED_RESPONSE_HEADERS`] that were sent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: BTreeMap<String, String>,
    /// Size of a binary response body (a file download), which is not captured as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body_size: Option<u64>,
}

/// Request headers a contract check needs (Jira's XSRF token, chunk ranges). Credentials and
/// cookies are never captured.
pub const CAPTURED_REQUEST_HEADERS: &[&str] = &["x-atlassian-token", "content-range", "range"];

/// Response headers a contract check needs (redirects, partial content, downloads).
pub const CAPTURED_RESPONSE_HEADERS: &[&str] = &["location", "content-range", "content-disposition"];

/// The headers of `names` present in `headers`, by lower-case name.
pub fn captured_headers(headers: &axum::http::HeaderMap, names: &[&str]) -> BTreeMap<String, String> {
    names
        .iter()
        .filter_map(|n| headers.get(*n).and_then(|v| v.to_str().ok()).map(|v| (n.to_string(), v.to_string())))
        .collect()
}

/// A body as the capture keeps it: `(text, binary size, multipart parts)`.
pub type CapturedBody = (Option<String>, Option<u64>, Option<Vec<PartSummary>>);

/// Text bodies (JSON, text, XML, forms, or no declared type) are kept as text; multipart
/// bodies as their parts; anything else (files) as its size only.
pub fn capture_body(content_type: Option<&str>, bytes: &[u8]) -> CapturedBody {
    if bytes.is_empty() {
        return (None, None, None);
    }
    let media = content_type.and_then(|c| c.split(';').next()).map(|m| m.trim().to_ascii_lowercase());
    let size = Some(bytes.len() as u64);
    if let Some(b) = content_type.and_then(crate::multipart::boundary) {
        let parts = crate::multipart::parse(bytes, &b).ok().map(|ps| ps.iter().map(|p| p.summary()).collect());
        return (None, size, parts);
    }
    let textual = match media.as_deref() {
        None => std::str::from_utf8(bytes).is_ok(),
        Some(m) => {
            m.starts_with("text/")
                || m.ends_with("json")
                || m.ends_with("+json")
                || m.ends_with("xml")
                || m == "application/x-www-form-urlencoded"
        }
    };
    if textual {
        (body_text(bytes), None, None)
    } else {
        (None, size, None)
    }
}

/// Traffic capture: off unless [`CONTRACT_DIR_VAR`] was set when the simulator started or
/// [`TrafficLog::capture_to`] switched it on. Exchanges go straight to the file, so memory
/// stays flat however long the run.
#[derive(Debug, Default)]
pub struct TrafficLog {
    on: AtomicBool,
    file: Mutex<Option<(PathBuf, std::fs::File)>>,
}

impl TrafficLog {
    /// Capture into `$FERRY_CONTRACT_DIR` when it is set (except in this crate's own unit
    /// tests); a directory that cannot be written is reported once on stderr and capture
    /// stays off (tests still run).
    pub fn from_env(service: &str, port: u16) -> TrafficLog {
        let log = TrafficLog::default();
        // The simulators' own tests send deliberately broken requests: never captured.
        if cfg!(test) {
            return log;
        }
        if let Some(dir) = std::env::var_os(CONTRACT_DIR_VAR).filter(|d| !d.is_empty()) {
            if let Err(e) = log.capture_to(Path::new(&dir), service, port) {
                eprintln!("{CONTRACT_DIR_VAR}: cannot capture {service} traffic: {e}");
            }
        }
        log
    }

    /// Starts appending exchanges to `<dir>/<service>-<pid>-<port>.jsonl` (the directory
    /// is created); returns the file's path.
    pub fn capture_to(&self, dir: &Path, service: &str, port: u16) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{service}-{}-{port}.jsonl", std::process::id()));
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        if let Ok(mut slot) = self.file.lock() {
            *slot = Some((path.clone(), file));
        }
        self.on.store(true, Ordering::SeqCst);
        Ok(path)
    }

    /// Whether handlers should buffer bodies for [`TrafficLog::record`].
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// The capture file, while capturing.
    pub fn path(&self) -> Option<PathBuf> {
        self.file.lock().ok().and_then(|f| f.as_ref().map(|(p, _)| p.clone()))
    }

    /// Appends one JSON line. A failing write is reported on stderr and does not fail the
    /// request: the contract check then misses the exchange, it is not invented.
    pub fn record(&self, e: &Exchange) {
        if !self.is_on() {
            return;
        }
        let Ok(mut line) = serde_json::to_vec(e) else { return };
        line.push(b'\n');
        if let Ok(mut slot) = self.file.lock() {
            if let Some((path, file)) = slot.as_mut() {
                if let Err(err) = file.write_all(&line) {
                    eprintln!("cannot append to {}: {err}", path.display());
                }
            }
        }
    }
}

/// The scheme word of an `Authorization` header value; the credential after it is dropped.
pub fn auth_scheme(value: Option<&str>) -> Option<String> {
    value.and_then(|v| v.split_whitespace().next()).map(str::to_string)
}

/// Body bytes as captured text; `None` for an empty body.
pub fn body_text(bytes: &[u8]) -> Option<String> {
    (!bytes.is_empty()).then(|| String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_exchanges_are_appended_as_json_lines() {
        let dir = std::env::temp_dir().join(format!("ferry-traffic-test-{}", std::process::id()));
        let log = TrafficLog::default();
        let exchange = Exchange {
            service: "jira".into(),
            method: "GET".into(),
            path: "/rest/api/3/myself".into(),
            query: String::new(),
            auth_scheme: Some("Basic".into()),
            request_content_type: None,
            request_body: None,
            status: 200,
            response_content_type: Some("application/json".into()),
            response_body: Some("{}".into()),
            injected: None,
            ..Exchange::default()
        };
        log.record(&exchange);
        assert!(log.path().is_none(), "capture is off by default");
        let path = log.capture_to(&dir, "jira", 4242).expect("capture file");
        assert!(path.ends_with(format!("jira-{}-4242.jsonl", std::process::id())));
        log.record(&exchange);
        log.record(&Exchange { status: 404, ..exchange.clone() });
        let text = std::fs::read_to_string(&path).expect("written");
        let lines: Vec<Exchange> = text.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], exchange);
        assert_eq!(lines[1].status, 404);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_the_auth_scheme_is_kept_never_the_credential() {
        assert_eq!(auth_scheme(Some("Basic eDpzZWNyZXQ=")).as_deref(), Some("Basic"));
        assert_eq!(auth_scheme(Some("   ")), None);
        assert_eq!(auth_scheme(None), None);
    }

    #[test]
    fn files_are_captured_as_sizes_and_multipart_bodies_as_their_parts() {
        assert_eq!(capture_body(Some("application/json"), b"{}"), (Some("{}".into()), None, None));
        assert_eq!(capture_body(None, b"plain"), (Some("plain".into()), None, None));
        assert_eq!(capture_body(None, b"\xff\xfe"), (None, Some(2), None));
        assert_eq!(capture_body(Some("application/octet-stream"), b"abc"), (None, Some(3), None));
        assert_eq!(capture_body(Some("image/png"), b""), (None, None, None));
        let form =
            b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\n\x00\x01\r\n--B--\r\n";
        let (text, size, parts) = capture_body(Some("multipart/form-data; boundary=B"), form);
        assert_eq!((text, size), (None, Some(form.len() as u64)));
        let parts = parts.expect("parts");
        assert_eq!(
            (parts[0].name.as_deref(), parts[0].filename.as_deref(), parts[0].size),
            (Some("file"), Some("a.bin"), 2)
        );
    }

    #[test]
    fn only_the_listed_headers_are_captured() {
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-atlassian-token", "no-check".parse().expect("header"));
        h.insert("authorization", "Basic secret".parse().expect("header"));
        let got = captured_headers(&h, CAPTURED_REQUEST_HEADERS);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            vec![("x-atlassian-token".to_string(), "no-check".to_string())]
        );
    }

    #[test]
    fn empty_bodies_are_not_captured_as_text() {
        assert_eq!(body_text(b""), None);
        assert_eq!(body_text(b"[1]").as_deref(), Some("[1]"));
    }

    #[test]
    fn faults_are_consumed_one_per_request() {
        let f = Faults::default();
        f.rate_limit_next(1, 2);
        f.fail_next(1, 503);
        f.hang_next(1, Duration::from_millis(1500));
        assert_eq!(f.take(), Injected::RateLimited(2));
        assert_eq!(f.take(), Injected::Fail(503));
        assert_eq!(f.take(), Injected::Hang(Duration::from_millis(1500)));
        assert_eq!(f.take(), Injected::None);
    }

    #[test]
    fn lost_answers_are_consumed_only_by_the_requests_they_name() {
        let f = Faults::default();
        assert!(!f.take_lost_answer("POST", "/rest/api/3/issue"), "none armed");
        f.lose_answer_next(2, "POST", "/rest/api/3/issue");
        assert_eq!(f.take(), Injected::None, "not a fault taken before the request is applied");
        assert!(!f.take_lost_answer("GET", "/rest/api/3/issue"), "another method");
        assert!(!f.take_lost_answer("POST", "/rest/api/3/issue/1/comment"), "another path");
        assert!(f.take_lost_answer("post", "/rest/api/3/issue"));
        assert!(f.take_lost_answer("POST", "/rest/api/3/issue"));
        assert!(!f.take_lost_answer("POST", "/rest/api/3/issue"), "used up");
    }

    #[test]
    fn stale_revision_faults_are_counted_apart_from_request_faults() {
        let f = Faults::default();
        f.stale_revision_next(1);
        assert_eq!(f.take(), Injected::None);
        assert!(f.take_stale_revision());
        assert!(!f.take_stale_revision());
    }
}
