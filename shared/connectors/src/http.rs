//! The HTTP client both connectors share: base-URL policy, auth, retries that honour
//! `Retry-After` (a request that may have been applied is sent again only when that is
//! harmless: [`crate::resend`]), and status classification.

use crate::governor::Governor;
use crate::resend::{may_resend, Repeatable};
use chrono::{DateTime, Utc};
use ferry_domain::limit_meaning::LimitReason;
use ferry_domain::{Backoff, ErrorCategory, LimitSignal, PortError};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Transport settings of one system.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub timeout: Duration,
    /// Attempts for a retryable failure (429, 502/503/504, network), including the first;
    /// one that may have been applied is sent again only as [`crate::resend`] allows.
    pub max_attempts: u32,
    /// Base delay of the jittered exponential backoff when no `Retry-After` is given.
    pub backoff_base: Duration,
    /// Longest wait inside one call: the backoff stops growing at it, and a longer
    /// `Retry-After` surfaces as a rate-limit error so the queue retries later.
    pub max_retry_after: Duration,
    /// Plain http is allowed only for loopback hosts and only when this is set.
    pub allow_http_loopback: bool,
    pub proxy: Option<String>,
    /// PEM bytes of extra CA certificates.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Hosts Ferry may call (base URLs, absolute URLs and redirect targets); empty
    /// means no restriction. Operators set it with [`ALLOWED_HOSTS_VAR`].
    pub allowed_hosts: AllowedHosts,
    /// The system's rate-limit governor: every request takes a token from it first, and
    /// a response that asks for a pause pauses it for every caller. `None`: requests go
    /// out unpaced and a 429 slows only the call that met it.
    pub governor: Option<Arc<Governor>>,
    /// The issue a request writes to, for a system that limits the writes to one issue
    /// (Jira Cloud): the governor spaces out that issue's writes after a 429 of that
    /// limit instead of pausing the whole system.
    pub issue_of_write: Option<IssueOfWrite>,
    /// The connector's non-idempotent requests that are harmless to send again after an
    /// attempt that may have been applied (its searches sent as `POST`, PATCHes a repeat
    /// cannot double); `None`: none.
    pub repeatable: Option<Repeatable>,
}

/// The issue (its id or key as the path gives it) a request of `method` to `path` writes
/// to, if it is such a write.
pub type IssueOfWrite = for<'a> fn(&Method, &'a str) -> Option<&'a str>;

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_attempts: 4,
            backoff_base: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(20),
            allow_http_loopback: false,
            proxy: None,
            ca_cert_pem: None,
            allowed_hosts: AllowedHosts::default(),
            governor: None,
            issue_of_write: None,
            repeatable: None,
        }
    }
}

/// The environment variable holding the host allow-list: comma-separated host names
/// (`dev.azure.com`), IP addresses, or `*.domain` for any subdomain of a domain.
pub const ALLOWED_HOSTS_VAR: &str = "FERRY_ALLOWED_HOSTS";

/// Longest redirect chain followed (reqwest's default).
const MAX_REDIRECTS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// One host, lower-case (an IPv6 address in brackets).
    Exact(String),
    /// Any host ending in `.` + this domain (not the domain itself).
    Subdomains(String),
}

/// A validated host allow-list; the default (empty) allows every host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<HostPattern>);

/// Why an allow-list entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ALLOWED_HOSTS_VAR}: entry {entry:?} {problem}")]
pub struct AllowedHostsError {
    pub entry: String,
    pub problem: String,
}

impl AllowedHosts {
    /// Parses a comma-separated list; blank entries are ignored, so an empty or blank
    /// string means no restriction.
    pub fn parse(list: &str) -> Result<Self, AllowedHostsError> {
        let mut patterns = Vec::new();
        for raw in list.split(',') {
            let entry = raw.trim();
            if entry.is_empty() {
                continue;
            }
            let fail = |problem: &str| AllowedHostsError { entry: entry.to_string(), problem: problem.to_string() };
            if entry.contains("://") || entry.contains('/') {
                return Err(fail("is a URL: give the host name only, e.g. dev.azure.com"));
            }
            let lower = entry.to_ascii_lowercase();
            let (wildcard, host) = match lower.strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, lower.as_str()),
            };
            if host.contains('*') {
                return Err(fail("has a wildcard that is not a leading `*.`: use *.example.com for subdomains"));
            }
            let host = host.trim_end_matches('.');
            if host.contains(':') && !host.starts_with('[') {
                return Err(fail("has a port: give the host name only (ports are not restricted)"));
            }
            let parsed = url::Host::parse(host).map_err(|_| fail("is not a host name or IP address"))?;
            let pattern = match parsed {
                url::Host::Domain(d) => {
                    let label_ok = |l: &str| {
                        !l.is_empty()
                            && !l.starts_with('-')
                            && !l.ends_with('-')
                            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    };
                    if !d.split('.').all(label_ok) {
                        return Err(fail("is not a valid host name"));
                    }
                    if wildcard {
                        if !d.contains('.') {
                            return Err(fail("would allow a whole top-level domain: name at least example.com"));
                        }
                        HostPattern::Subdomains(d)
                    } else {
                        HostPattern::Exact(d)
                    }
                }
                ip if !wildcard => HostPattern::Exact(ip.to_string()),
                _ => return Err(fail("puts a wildcard on an IP address")),
            };
            if !patterns.contains(&pattern) {
                patterns.push(pattern);
            }
        }
        Ok(Self(patterns))
    }

    /// Reads [`ALLOWED_HOSTS_VAR`]; unset or blank means no restriction.
    pub fn from_env() -> Result<Self, AllowedHostsError> {
        match std::env::var(ALLOWED_HOSTS_VAR) {
            Ok(v) => Self::parse(&v),
            Err(std::env::VarError::NotPresent) => Ok(Self::default()),
            Err(std::env::VarError::NotUnicode(_)) => Err(AllowedHostsError {
                entry: "(not UTF-8)".into(),
                problem: "cannot be read: the value is not UTF-8".into(),
            }),
        }
    }

    /// No restriction.
    pub fn is_unrestricted(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `host` (as [`Url::host_str`] gives it) may be called.
    pub fn allows(&self, host: &str) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.0.iter().any(|p| match p {
            HostPattern::Exact(h) => *h == host,
            HostPattern::Subdomains(d) => {
                host.len() > d.len() + 1 && host.ends_with(d.as_str()) && host[..host.len() - d.len()].ends_with('.')
            }
        })
    }

    /// `Ok` when `url`'s host is allowed; else a Config error naming the host and the list.
    pub fn check(&self, what: &str, url: &Url) -> Result<(), PortError> {
        let host = url.host_str().unwrap_or("");
        if self.allows(host) {
            Ok(())
        } else {
            Err(PortError::new(
                ErrorCategory::Config,
                format!("{what}: host {host} is not in {ALLOWED_HOSTS_VAR} ({self})"),
            ))
        }
    }
}

impl std::fmt::Display for AllowedHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match p {
                HostPattern::Exact(h) => f.write_str(h)?,
                HostPattern::Subdomains(d) => write!(f, "*.{d}")?,
            }
        }
        Ok(())
    }
}

/// `url` without user name and password, for messages.
fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            format!("{u} (credentials removed)")
        }
        _ => url.to_string(),
    }
}

/// Credentials, held as secrets and only ever put in the Authorization header (or,
/// for [`Auth::Header`], the vendor's own header).
pub enum Auth {
    Basic {
        username: String,
        password: SecretString,
    },
    Bearer(SecretString),
    /// An API key sent in a vendor header, e.g. Redmine's `X-Redmine-API-Key`.
    Header {
        name: &'static str,
        key: SecretString,
    },
}

/// A response after retries: status and body.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The server's clock when it answered (the `Date` header, RFC 9110 §6.6.1), whole
    /// seconds; `None` when absent or unreadable.
    pub fn server_time(&self) -> Option<DateTime<Utc>> {
        let v = self.headers.get(reqwest::header::DATE)?.to_str().ok()?;
        DateTime::parse_from_rfc2822(v.trim()).ok().map(|d| d.with_timezone(&Utc))
    }

    /// Parses the body as JSON, naming the request on failure.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, PortError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            PortError::new(ErrorCategory::BadResponse, format!("{what}: response is not the expected JSON: {e}"))
        })
    }
}

/// Extracts a vendor error message from an error body (Jira ErrorCollection, ADO
/// `{message}`); returns `None` to fall back to the raw text.
pub type ErrorText = fn(&[u8]) -> Option<String>;

pub struct Http {
    client: reqwest::Client,
    base: Url,
    auth_name: HeaderName,
    auth: HeaderValue,
    system: String,
    opts: HttpOptions,
    error_text: ErrorText,
    /// A `Retry-After` on a successful response (Azure DevOps sends one while it delays
    /// a client) paces the next requests of this client until then.
    paced_until: std::sync::Mutex<Option<std::time::Instant>>,
    /// The same client without redirects, built on first use ([`Http::open_unredirected`]).
    no_redirect: std::sync::OnceLock<reqwest::Client>,
}

/// Checks the base URL policy: https, or http to a loopback host when allowed.
pub fn check_base_url(base_url: &str, allow_http_loopback: bool) -> Result<Url, PortError> {
    let url = Url::parse(base_url)
        .map_err(|e| PortError::new(ErrorCategory::Config, format!("base URL {base_url:?} is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(PortError::new(
            ErrorCategory::Config,
            format!(
                "base URL {} holds credentials: put them in the system's auth (a secret reference)",
                redacted(base_url)
            ),
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if loopback && allow_http_loopback {
                Ok(url)
            } else {
                Err(PortError::new(
                    ErrorCategory::Config,
                    format!(
                        "base URL {base_url:?} uses plain http: use https, or for a loopback test server set allow_http_loopback: true"
                    ),
                ))
            }
        }
        other => {
            Err(PortError::new(ErrorCategory::Config, format!("base URL {base_url:?}: unsupported scheme {other:?}")))
        }
    }
}

/// A client with the system's transport settings (timeouts, proxy, extra CA certificates)
/// and `redirects` as its redirect policy.
fn build_client(
    system: &str,
    opts: &HttpOptions,
    redirects: reqwest::redirect::Policy,
) -> Result<reqwest::Client, PortError> {
    let mut builder =
        reqwest::Client::builder().timeout(opts.timeout).connect_timeout(Duration::from_secs(10)).redirect(redirects);
    if let Some(p) = &opts.proxy {
        let proxy = reqwest::Proxy::all(p).map_err(|e| {
            PortError::new(ErrorCategory::Config, format!("{system}: proxy {} is invalid: {e}", redacted(p)))
        })?;
        builder = builder.proxy(proxy);
    } else {
        builder = builder.no_proxy();
    }
    if let Some(pem) = &opts.ca_cert_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| PortError::new(ErrorCategory::Config, format!("{system}: CA certificate is not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(PortError::new(
                ErrorCategory::Config,
                format!("{system}: the CA certificate file holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
            ));
        }
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    builder.build().map_err(|e| PortError::new(ErrorCategory::Config, format!("{system}: HTTP client: {e}")))
}

impl Http {
    pub fn new(
        system: &str,
        base_url: &str,
        auth: Auth,
        opts: HttpOptions,
        error_text: ErrorText,
    ) -> Result<Self, PortError> {
        let mut base = check_base_url(base_url, opts.allow_http_loopback)?;
        opts.allowed_hosts.check(system, &base)?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let client = build_client(system, &opts, redirect_policy(&opts, matches!(auth, Auth::Header { .. })))?;
        let auth_name = match &auth {
            Auth::Header { name, .. } => HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                PortError::new(ErrorCategory::Config, format!("{system}: {name:?} is not a header name"))
            })?,
            _ => AUTHORIZATION,
        };
        let mut auth = match auth {
            Auth::Basic { username, password } => {
                use base64::Engine;
                let raw = format!("{username}:{}", password.expose_secret());
                let enc = base64::engine::general_purpose::STANDARD.encode(raw);
                HeaderValue::from_str(&format!("Basic {enc}"))
            }
            Auth::Bearer(t) => HeaderValue::from_str(&format!("Bearer {}", t.expose_secret())),
            Auth::Header { key, .. } => HeaderValue::from_str(key.expose_secret().trim()),
        }
        .map_err(|_| {
            PortError::new(
                ErrorCategory::Config,
                format!("{system}: credentials contain characters not allowed in a header"),
            )
        })?;
        auth.set_sensitive(true);
        Ok(Self {
            client,
            base,
            auth_name,
            auth,
            system: system.into(),
            opts,
            error_text,
            paced_until: std::sync::Mutex::new(None),
            no_redirect: std::sync::OnceLock::new(),
        })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Resolves `path` (relative, e.g. `rest/api/3/myself`, or absolute URL).
    pub fn url(&self, path: &str) -> Result<Url, PortError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| PortError::new(ErrorCategory::Config, format!("{}: bad path {path:?}: {e}", self.system)))
    }

    /// Sends a request, retrying 429/502/503/504 and network errors with jittered
    /// backoff (honouring `Retry-After`), and turns a final non-2xx into a classified
    /// [`PortError`]. A failure that may have been applied is retried only when
    /// [`may_resend`] allows; otherwise it is returned at once. `content_type` defaults to
    /// `application/json` when a body is given.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        content_type: Option<&str>,
    ) -> Result<HttpResponse, PortError> {
        self.send_as(method, url, body, content_type, true).await
    }

    /// [`Http::send`] of a request that makes something new each time although its method
    /// is idempotent (a Redmine note rides on a `PUT` of its issue): after an attempt that
    /// may have been applied it is not sent again.
    pub async fn send_once(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        content_type: Option<&str>,
    ) -> Result<HttpResponse, PortError> {
        self.send_as(method, url, body, content_type, false).await
    }

    /// `repeatable`: whether [`may_resend`] decides a resend after a possibly applied
    /// attempt (otherwise only refusals are sent again).
    async fn send_as(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        content_type: Option<&str>,
        repeatable: bool,
    ) -> Result<HttpResponse, PortError> {
        let what = format!("{} {} {}", self.system, method, url.path());
        // Absolute URLs (e.g. Azure DevOps' identities host) meet the allow-list too.
        self.opts.allowed_hosts.check(&what, &url)?;
        let issue = self.opts.issue_of_write.and_then(|f| f(&method, url.path()));
        let mut attempt = 0u32;
        // Whether every attempt so far was certainly not applied (see `nothing_applied`).
        let mut nothing_applied = true;
        loop {
            attempt += 1;
            self.admit(&what, issue).await.map_err(|e| e.with_nothing_applied(nothing_applied))?;
            let mut req =
                self.client.request(method.clone(), url.clone()).header(self.auth_name.clone(), self.auth.clone());
            if let Some(b) = body {
                let bytes = serde_json::to_vec(b)
                    .map_err(|e| PortError::new(ErrorCategory::BadMessage, format!("{what}: body: {e}")))?;
                req = req.header(CONTENT_TYPE, content_type.unwrap_or("application/json")).body(bytes);
            }
            let result = req.send().await;
            let mut paused = false;
            let (err, wait) = match result {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let body = read_capped(resp, MAX_RESPONSE_BYTES).await;
                    paused = self.observe(status, &headers, issue).await;
                    match body {
                        Ok(body) if status.is_success() => {
                            return Ok(HttpResponse { status, headers, body });
                        }
                        Ok(body) => {
                            // A 4xx is a refusal: the request was not applied. A 5xx may
                            // have been applied in part.
                            nothing_applied &= status.is_client_error();
                            let retry_after = rate_limit_wait(&headers, status, Utc::now());
                            let err = self.status_error(&what, status, &body).with_retry_after(retry_after);
                            (err, retry_after)
                        }
                        Err(BodyError::Transport(e)) => {
                            nothing_applied = false;
                            (network_error(&what, &e), None)
                        }
                        Err(BodyError::TooLarge) => {
                            return Err(PortError::new(
                                ErrorCategory::BadResponse,
                                format!(
                                    "{what}: HTTP {}: the response is larger than {} MB; Ferry reads no more",
                                    status.as_u16(),
                                    MAX_RESPONSE_BYTES >> 20
                                ),
                            ))
                        }
                    }
                }
                Err(e) => {
                    // Only a failed connect is certain not to have sent the request.
                    nothing_applied &= e.is_connect();
                    (network_error(&what, &e), None)
                }
            };
            let err = err.with_nothing_applied(nothing_applied);
            let resend = match repeatable {
                true => may_resend(&method, url.path(), self.opts.repeatable, nothing_applied),
                false => nothing_applied,
            };
            let Some(delay) = self.retry_delay(&err, wait, attempt).filter(|_| resend) else { return Err(err) };
            tracing::debug!(system = %self.system, attempt, delay_ms = delay.as_millis() as u64, "retrying: {err}");
            // A paused governor holds the retry in `admit`, with every other caller.
            if !paused {
                tokio::time::sleep(delay).await;
            }
        }
    }

    /// Before each attempt: the governor's token, or without a governor the pace a
    /// success's `Retry-After` set. Fails (unsent) when the wait is longer than the call
    /// may wait.
    async fn admit(&self, what: &str, issue: Option<&str>) -> Result<(), PortError> {
        match &self.opts.governor {
            Some(g) => g.admit(what, issue, self.opts.max_retry_after).await,
            None => {
                self.wait_for_pace().await;
                Ok(())
            }
        }
    }

    /// After each answer: what it says about the limit. With a governor, a pause it asks
    /// for holds every caller (the retry of a rate-limited call then waits in [`Http::admit`],
    /// not here); without one, a success's `Retry-After` paces this client. Answers
    /// whether the retry waits in [`Http::admit`]. `issue`: the issue the request wrote.
    async fn observe(&self, status: StatusCode, headers: &HeaderMap, issue: Option<&str>) -> bool {
        match &self.opts.governor {
            Some(g) => g.observe(&limit_signal(status, headers), issue).await,
            None => {
                if let Some(d) = retry_after(headers).filter(|_| status.is_success()) {
                    self.pace(d.min(self.opts.max_retry_after));
                }
                false
            }
        }
    }

    fn status_error(&self, what: &str, status: StatusCode, body: &[u8]) -> PortError {
        // A vendor's message is shown as given, but never at unbounded length.
        let detail = (self.error_text)(body).unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        let detail = if detail.chars().count() > 300 {
            format!("{}…", detail.chars().take(300).collect::<String>())
        } else {
            detail
        };
        PortError::new(classify_status(status), format!("{what}: HTTP {}: {detail}", status.as_u16()))
    }
}

/// No Jira or Azure DevOps answer Ferry asks for comes near this (pages are at most a few
/// hundred entities); a bigger one is refused instead of filling the Lambda's memory.
pub const MAX_RESPONSE_BYTES: usize = 32 << 20;

enum BodyError {
    Transport(reqwest::Error),
    TooLarge,
}

/// Reads a response body chunk by chunk, stopping at `limit` bytes.
async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The category a final HTTP status maps to (vendor-specific cases are refined by
/// the connectors, e.g. a Jira transition error).
pub fn classify_status(status: StatusCode) -> ErrorCategory {
    match status.as_u16() {
        401 => ErrorCategory::Auth,
        403 => ErrorCategory::Permission,
        404 => ErrorCategory::NotFound,
        409 | 412 => ErrorCategory::Conflict,
        429 => ErrorCategory::RateLimited,
        400 | 413 | 415 | 422 => ErrorCategory::InvalidRequest,
        502..=504 => ErrorCategory::Network,
        500..=599 => ErrorCategory::Server,
        _ => ErrorCategory::BadResponse,
    }
}

/// Follows at most [`MAX_REDIRECTS`] redirects, and only to targets that pass the base
/// URL policy (no downgrade to plain http) and the host allow-list. reqwest drops the
/// `Authorization` header on a cross-host redirect, but not a vendor key header
/// ([`Auth::Header`]): with one, a redirect to another host or port is refused.
fn redirect_policy(opts: &HttpOptions, header_auth: bool) -> reqwest::redirect::Policy {
    let allowed = opts.allowed_hosts.clone();
    let allow_http_loopback = opts.allow_http_loopback;
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let next = attempt.url();
        let host = next.host_str().unwrap_or("").to_string();
        if let Err(e) = check_base_url(next.as_str(), allow_http_loopback) {
            return attempt.error(format!("redirect refused: {}", e.message));
        }
        if !allowed.allows(&host) {
            return attempt
                .error(format!("redirect to host {host} refused: it is not in {ALLOWED_HOSTS_VAR} ({allowed})"));
        }
        if header_auth {
            if let Some(prev) = attempt.previous().last() {
                if prev.host_str() != next.host_str() || prev.port_or_known_default() != next.port_or_known_default() {
                    return attempt.error(format!(
                        "redirect to another host ({host}) refused: the API key header would go with it"
                    ));
                }
            }
        }
        attempt.follow()
    })
}

fn network_error(what: &str, e: &reqwest::Error) -> PortError {
    // reqwest's messages name the URL (base URLs never hold credentials) but never a
    // header; the source chain says why (refused redirect, TLS, proxy).
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !detail.contains(&text) {
            detail.push_str(": ");
            detail.push_str(&text);
        }
        source = s.source();
    }
    let (category, kind) = if e.is_redirect() {
        (ErrorCategory::Config, "redirect not followed")
    } else if e.is_timeout() {
        (ErrorCategory::Network, "timed out")
    } else if e.is_connect() {
        (ErrorCategory::Network, "could not connect (DNS, TLS, proxy or refused)")
    } else {
        (ErrorCategory::Network, "transport error")
    };
    PortError::new(category, format!("{what}: {kind}: {detail}"))
}

impl Http {
    fn pace(&self, d: Duration) {
        if let Ok(mut p) = self.paced_until.lock() {
            let until = std::time::Instant::now() + d;
            *p = Some(p.map_or(until, |old| old.max(until)));
        }
    }

    async fn wait_for_pace(&self) {
        let until = self.paced_until.lock().ok().and_then(|p| *p);
        if let Some(d) = until.and_then(|u| u.checked_duration_since(std::time::Instant::now())) {
            tracing::debug!(system = %self.system, wait_ms = d.as_millis() as u64, "pacing after the server's Retry-After");
            tokio::time::sleep(d).await;
        }
    }
}

/// How long to wait before retrying a failed response: `Retry-After` when given; for a
/// 429 or 503 without it, until `X-RateLimit-Reset`.
pub fn rate_limit_wait(headers: &HeaderMap, status: StatusCode, now: DateTime<Utc>) -> Option<Duration> {
    if let Some(d) = retry_after(headers) {
        return Some(d);
    }
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let at = ratelimit_reset(headers)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// `X-RateLimit-Reset`: Jira's ISO `yyyy-MM-ddTHH:mmZ`, Azure DevOps' Unix epoch seconds,
/// or RFC 3339.
pub fn ratelimit_reset(headers: &HeaderMap) -> Option<DateTime<Utc>> {
    let reset = headers.get("x-ratelimit-reset")?.to_str().ok()?.trim();
    if let Ok(epoch) = reset.parse::<i64>() {
        DateTime::<Utc>::from_timestamp(epoch, 0)
    } else if let Ok(t) = DateTime::parse_from_rfc3339(reset) {
        Some(t.with_timezone(&Utc))
    } else {
        // Jira's minute form has no seconds: 2026-11-26T22:15Z.
        Some(chrono::NaiveDateTime::parse_from_str(reset.trim_end_matches('Z'), "%Y-%m-%dT%H:%M").ok()?.and_utc())
    }
}

/// What an answer's status and headers say about the system's limit, for the governor.
pub fn limit_signal(status: StatusCode, headers: &HeaderMap) -> LimitSignal {
    LimitSignal {
        status: status.as_u16(),
        retry_after: retry_after(headers),
        remaining: headers.get("x-ratelimit-remaining").and_then(|v| v.to_str().ok()?.trim().parse().ok()),
        reset: ratelimit_reset(headers),
        reason: headers.get("ratelimit-reason").and_then(|v| v.to_str().ok()).map(LimitReason::parse),
        limit: headers.get("x-ratelimit-limit").and_then(|v| v.to_str().ok()?.trim().parse().ok()),
        quota_left: headers.get("beta-ratelimit").and_then(|v| quota_left(v.to_str().ok()?)),
    }
}

/// Jira's `Beta-RateLimit: "tenant-app-quota";r=<points left>;t=<seconds to the window's
/// end>` (the IETF draft's `RateLimit` field): both, or `None`.
pub fn quota_left(value: &str) -> Option<(u64, Duration)> {
    let param = |name: &str| value.split(';').find_map(|p| p.trim().strip_prefix(name)?.trim().parse::<u64>().ok());
    Some((param("r=")?, Duration::from_secs(param("t=")?)))
}

/// `Retry-After` in seconds (HTTP-date is not used by Jira or ADO).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

/// Slowest transfer rate a file upload or download is given time for, in bytes per second.
const MIN_TRANSFER_RATE: u64 = 256 << 10;

/// The body of [`Http::send_raw`].
pub enum RawBody {
    /// Bytes in memory (none: an empty body), sent again on a retry.
    Bytes(bytes::Bytes),
    /// A body streamed while it is sent (`reqwest::Body::wrap`), sent once.
    Stream(Option<reqwest::Body>),
}

/// Requests whose body is not JSON (a file upload) or whose answer is read as a stream
/// (a file download). Retries follow [`Http::send`]'s rules.
impl Http {
    /// Time for a request that moves `bytes` of a file: the API call's timeout plus the
    /// bytes at [`MIN_TRANSFER_RATE`] (the client's timeout covers the whole exchange).
    pub fn transfer_timeout(&self, bytes: u64) -> Duration {
        self.opts.timeout + Duration::from_secs(bytes / MIN_TRANSFER_RATE)
    }

    /// Sends `body` with `headers` (its content type among them) and returns the
    /// successful response unread, for the caller to stream (`Response::chunk`). Bytes
    /// are sent again on a retryable failure; a stream is sent once, and its failure is
    /// the caller's to retry from the start. `timeout` replaces the client's for this
    /// request.
    pub async fn send_raw(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: RawBody,
        timeout: Duration,
    ) -> Result<reqwest::Response, PortError> {
        self.send_raw_via(&self.client, false, method, url, headers, body, timeout).await
    }

    /// A `GET` of `url` (no body) whose redirect is not followed: the answer, a 2xx or a
    /// 3xx (whose `Location` the caller reads), comes back unread. Jira's attachment
    /// content answers a redirect that names the file's media id.
    pub async fn open_unredirected(&self, url: Url, timeout: Duration) -> Result<reqwest::Response, PortError> {
        let client = match self.no_redirect.get() {
            Some(c) => c,
            None => {
                let c = build_client(&self.system, &self.opts, reqwest::redirect::Policy::none())?;
                self.no_redirect.get_or_init(|| c)
            }
        };
        let empty = RawBody::Bytes(Default::default());
        self.send_raw_via(client, true, Method::GET, url, HeaderMap::new(), empty, timeout).await
    }

    /// [`Http::send_raw`] through `client`; with `keep_redirect` a 3xx answer is
    /// returned as a success is.
    #[allow(clippy::too_many_arguments)]
    async fn send_raw_via(
        &self,
        client: &reqwest::Client,
        keep_redirect: bool,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: RawBody,
        timeout: Duration,
    ) -> Result<reqwest::Response, PortError> {
        let what = format!("{} {} {}", self.system, method, url.path());
        self.opts.allowed_hosts.check(&what, &url)?;
        let issue = self.opts.issue_of_write.and_then(|f| f(&method, url.path()));
        let mut body = body;
        let mut attempt = 0u32;
        let mut nothing_applied = true;
        loop {
            attempt += 1;
            self.admit(&what, issue).await.map_err(|e| e.with_nothing_applied(nothing_applied))?;
            let (this, again) = match &mut body {
                RawBody::Bytes(b) => (Some(reqwest::Body::from(b.clone())), true),
                RawBody::Stream(s) => (s.take(), false),
            };
            let mut req = client
                .request(method.clone(), url.clone())
                .header(self.auth_name.clone(), self.auth.clone())
                .headers(headers.clone())
                .timeout(timeout);
            if let Some(b) = this {
                req = req.body(b);
            }
            let mut paused = false;
            let (err, wait) = match req.send().await {
                Ok(resp) if resp.status().is_success() || (keep_redirect && resp.status().is_redirection()) => {
                    self.observe(resp.status(), resp.headers(), issue).await;
                    return Ok(resp);
                }
                Ok(resp) => {
                    let (status, headers) = (resp.status(), resp.headers().clone());
                    nothing_applied &= status.is_client_error();
                    paused = self.observe(status, &headers, issue).await;
                    let text = read_capped(resp, MAX_RESPONSE_BYTES).await.unwrap_or_default();
                    let wait = rate_limit_wait(&headers, status, Utc::now());
                    (self.status_error(&what, status, &text).with_retry_after(wait), wait)
                }
                Err(e) => {
                    nothing_applied &= e.is_connect();
                    (network_error(&what, &e), None)
                }
            };
            let err = err.with_nothing_applied(nothing_applied);
            let resend = again && may_resend(&method, url.path(), self.opts.repeatable, nothing_applied);
            match self.retry_delay(&err, wait, attempt).filter(|_| resend) {
                Some(delay) => {
                    tracing::debug!(system = %self.system, attempt, delay_ms = delay.as_millis() as u64, "retrying: {err}");
                    // A paused governor holds the retry in `admit`, with every other caller.
                    if !paused {
                        tokio::time::sleep(delay).await;
                    }
                }
                None => return Err(err),
            }
        }
    }

    /// [`Http::send_raw`], its answer read whole (an API answer, at most
    /// [`MAX_RESPONSE_BYTES`]).
    pub async fn send_raw_read(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: RawBody,
        timeout: Duration,
    ) -> Result<HttpResponse, PortError> {
        let what = format!("{} {} {}", self.system, method, url.path());
        let resp = self.send_raw(method, url, headers, body, timeout).await?;
        let (status, headers) = (resp.status(), resp.headers().clone());
        match read_capped(resp, MAX_RESPONSE_BYTES).await {
            Ok(body) => Ok(HttpResponse { status, headers, body }),
            Err(BodyError::Transport(e)) => Err(network_error(&what, &e)),
            Err(BodyError::TooLarge) => Err(PortError::new(
                ErrorCategory::BadResponse,
                format!("{what}: the response is larger than {} MB; Ferry reads no more", MAX_RESPONSE_BYTES >> 20),
            )),
        }
    }

    /// How long to wait before attempt `attempt + 1` after `err`; `None`: give up.
    fn retry_delay(&self, err: &PortError, wait: Option<Duration>, attempt: u32) -> Option<Duration> {
        if !err.is_retryable() || err.category == ErrorCategory::Conflict || attempt >= self.opts.max_attempts {
            return None;
        }
        match wait {
            Some(d) if d > self.opts.max_retry_after => None,
            Some(d) => Some(d),
            // Ferry's one backoff rule; like a server's `Retry-After`, no wait inside one
            // call is longer than `max_retry_after`.
            None => {
                Some(Backoff::new(self.opts.backoff_base, self.opts.max_retry_after).delay(attempt, rand::random()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_without_retry_after_waits_until_x_ratelimit_reset() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T22:14:30Z").unwrap().with_timezone(&Utc);
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        let cases = [
            // (headers, status, expected wait)
            (h(&[("retry-after", "7")]), StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(7))),
            (
                h(&[("x-ratelimit-reset", "2026-11-26T22:15Z")]),
                StatusCode::TOO_MANY_REQUESTS,
                Some(Duration::from_secs(30)),
            ),
            (h(&[("x-ratelimit-reset", "1795731300")]), StatusCode::SERVICE_UNAVAILABLE, Some(Duration::from_secs(30))),
            (h(&[("x-ratelimit-reset", "2026-11-26T22:14Z")]), StatusCode::TOO_MANY_REQUESTS, Some(Duration::ZERO)),
            (h(&[("x-ratelimit-reset", "soon")]), StatusCode::TOO_MANY_REQUESTS, None),
            (h(&[("x-ratelimit-reset", "1795731300")]), StatusCode::INTERNAL_SERVER_ERROR, None),
            (h(&[]), StatusCode::TOO_MANY_REQUESTS, None),
        ];
        for (headers, status, want) in cases {
            assert_eq!(rate_limit_wait(&headers, status, now), want, "{headers:?} {status}");
        }
    }

    #[test]
    fn plain_http_is_refused_unless_loopback_and_allowed() {
        assert!(check_base_url("https://acme.atlassian.net", false).is_ok());
        assert!(check_base_url("http://acme.atlassian.net", true).is_err());
        assert!(check_base_url("http://127.0.0.1:8080", false).is_err());
        assert!(check_base_url("http://127.0.0.1:8080", true).is_ok());
        assert!(check_base_url("ftp://x", true).is_err());
    }

    #[test]
    fn base_urls_with_credentials_are_refused_without_echoing_them() {
        let e = check_base_url("https://bot:hunter2@acme.atlassian.net", false).unwrap_err();
        assert_eq!(e.category, ErrorCategory::Config);
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        assert!(e.message.contains("acme.atlassian.net"), "{}", e.message);
    }

    #[test]
    fn allow_list_entries_parse_or_are_refused_with_a_reason() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("", Ok("")),
            (" , ", Ok("")),
            ("dev.azure.com", Ok("dev.azure.com")),
            ("Dev.Azure.COM, *.Atlassian.net,", Ok("dev.azure.com, *.atlassian.net")),
            ("dev.azure.com,dev.azure.com", Ok("dev.azure.com")),
            ("jira.example.com.", Ok("jira.example.com")),
            ("127.0.0.1", Ok("127.0.0.1")),
            ("[::1]", Ok("[::1]")),
            ("https://dev.azure.com", Err("is a URL")),
            ("dev.azure.com/acme", Err("is a URL")),
            ("dev.azure.com:443", Err("has a port")),
            ("*.net", Err("top-level domain")),
            ("*", Err("wildcard")),
            ("jira.*.com", Err("wildcard")),
            ("**.example.com", Err("wildcard")),
            ("*.127.0.0.1", Err("wildcard on an IP")),
            ("bad host.com", Err("not a")),
            ("-x.example.com", Err("not a valid host name")),
        ];
        for (input, want) in cases {
            match (AllowedHosts::parse(input), want) {
                (Ok(list), Ok(display)) => assert_eq!(list.to_string(), *display, "{input:?}"),
                (Err(e), Err(needle)) => {
                    let msg = e.to_string();
                    assert!(msg.contains(needle) && msg.contains(ALLOWED_HOSTS_VAR), "{input:?}: {msg}");
                }
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn allow_list_matches_exact_hosts_and_subdomains_only() {
        let list = AllowedHosts::parse("dev.azure.com, *.atlassian.net, 127.0.0.1").unwrap();
        let cases = [
            ("dev.azure.com", true),
            ("DEV.azure.com", true),
            ("dev.azure.com.", true),
            ("vssps.dev.azure.com", false),
            ("acme.atlassian.net", true),
            ("a.b.atlassian.net", true),
            ("atlassian.net", false),
            ("evilatlassian.net", false),
            ("atlassian.net.evil.com", false),
            ("127.0.0.1", true),
            ("127.0.0.2", false),
            ("", false),
        ];
        for (host, want) in cases {
            assert_eq!(list.allows(host), want, "{host}");
        }
        assert!(AllowedHosts::default().allows("anything.example"));
        assert!(AllowedHosts::default().is_unrestricted());
    }

    #[test]
    fn a_base_url_outside_the_allow_list_is_a_config_error_naming_host_and_list() {
        let opts =
            HttpOptions { allowed_hosts: AllowedHosts::parse("*.atlassian.net").unwrap(), ..HttpOptions::default() };
        let auth = Auth::Bearer(SecretString::from("tok-value"));
        let err = Http::new("jira j1", "https://jira.evil.example/", auth, opts.clone(), |_| None).err().unwrap();
        assert_eq!(err.category, ErrorCategory::Config);
        assert_eq!(err.message, "jira j1: host jira.evil.example is not in FERRY_ALLOWED_HOSTS (*.atlassian.net)",);
        let auth = Auth::Bearer(SecretString::from("tok-value"));
        assert!(Http::new("jira j1", "https://acme.atlassian.net/", auth, opts, |_| None).is_ok());
    }

    #[tokio::test]
    async fn an_absolute_url_outside_the_allow_list_is_refused_before_sending() {
        let opts =
            HttpOptions { allowed_hosts: AllowedHosts::parse("dev.azure.com").unwrap(), ..HttpOptions::default() };
        let http =
            Http::new("ado a1", "https://dev.azure.com/acme", Auth::Bearer(SecretString::from("t")), opts, |_| None)
                .unwrap();
        let url = Url::parse("https://vssps.dev.azure.com/acme/_apis/identities").unwrap();
        let err = http.send(Method::GET, url, None, None).await.unwrap_err();
        assert_eq!(err.category, ErrorCategory::Config);
        assert!(
            err.message.contains("host vssps.dev.azure.com is not in FERRY_ALLOWED_HOSTS (dev.azure.com)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn statuses_classify_into_categories() {
        assert_eq!(classify_status(StatusCode::TOO_MANY_REQUESTS), ErrorCategory::RateLimited);
        assert_eq!(classify_status(StatusCode::PRECONDITION_FAILED), ErrorCategory::Conflict);
        assert_eq!(classify_status(StatusCode::UNAUTHORIZED), ErrorCategory::Auth);
        assert!(classify_status(StatusCode::SERVICE_UNAVAILABLE).is_retryable());
        assert!(!classify_status(StatusCode::BAD_REQUEST).is_retryable());
    }

    #[test]
    fn jiras_quota_header_reads_points_left_and_seconds_to_the_windows_end() {
        let cases = [
            (r#""tenant-app-quota";r=17842;t=2107"#, Some((17_842, Duration::from_secs(2_107)))),
            (r#""tenant-app-quota";r=0;t=5"#, Some((0, Duration::from_secs(5)))),
            (r#""tenant-app-quota"; t=5; r=0"#, Some((0, Duration::from_secs(5)))),
            (r#""tenant-app-quota";r=0"#, None),
            (r#""tenant-app-quota";r=x;t=5"#, None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(quota_left(value), want, "{value}");
        }
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
