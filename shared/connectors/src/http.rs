//! The HTTP client both connectors share: base-URL policy, auth, retries that honour
//! `Retry-After`, and status classification.

use ferry_domain::{ErrorCategory, PortError};
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;
use url::Url;

/// Transport settings of one system.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub timeout: Duration,
    /// Attempts for a retryable failure (429, 502/503/504, network), including the first.
    pub max_attempts: u32,
    /// Base delay of the jittered exponential backoff when no `Retry-After` is given.
    pub backoff_base: Duration,
    /// Longest wait Ferry accepts from a `Retry-After` inside one call; longer waits
    /// surface as a rate-limit error so the queue retries later.
    pub max_retry_after: Duration,
    /// Plain http is allowed only for loopback hosts and only when this is set.
    pub allow_http_loopback: bool,
    pub proxy: Option<String>,
    /// PEM bytes of extra CA certificates.
    pub ca_cert_pem: Option<Vec<u8>>,
}

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
        }
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
}

/// Checks the base URL policy: https, or http to a loopback host when allowed.
pub fn check_base_url(base_url: &str, allow_http_loopback: bool) -> Result<Url, PortError> {
    let url = Url::parse(base_url)
        .map_err(|e| PortError::new(ErrorCategory::Config, format!("base URL {base_url:?} is not a URL: {e}")))?;
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

impl Http {
    pub fn new(
        system: &str,
        base_url: &str,
        auth: Auth,
        opts: HttpOptions,
        error_text: ErrorText,
    ) -> Result<Self, PortError> {
        let mut base = check_base_url(base_url, opts.allow_http_loopback)?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let mut builder = reqwest::Client::builder().timeout(opts.timeout).connect_timeout(Duration::from_secs(10));
        if let Some(p) = &opts.proxy {
            let proxy = reqwest::Proxy::all(p)
                .map_err(|e| PortError::new(ErrorCategory::Config, format!("{system}: proxy {p:?} is invalid: {e}")))?;
            builder = builder.proxy(proxy);
        } else {
            builder = builder.no_proxy();
        }
        if let Some(pem) = &opts.ca_cert_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                PortError::new(ErrorCategory::Config, format!("{system}: CA certificate is not PEM: {e}"))
            })?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let client = builder
            .build()
            .map_err(|e| PortError::new(ErrorCategory::Config, format!("{system}: HTTP client: {e}")))?;
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
        Ok(Self { client, base, auth_name, auth, system: system.into(), opts, error_text })
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
    /// [`PortError`]. `content_type` defaults to `application/json` when a body is given.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        content_type: Option<&str>,
    ) -> Result<HttpResponse, PortError> {
        let what = format!("{} {} {}", self.system, method, url.path());
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut req =
                self.client.request(method.clone(), url.clone()).header(self.auth_name.clone(), self.auth.clone());
            if let Some(b) = body {
                let bytes = serde_json::to_vec(b)
                    .map_err(|e| PortError::new(ErrorCategory::BadMessage, format!("{what}: body: {e}")))?;
                req = req.header(CONTENT_TYPE, content_type.unwrap_or("application/json")).body(bytes);
            }
            let result = req.send().await;
            let (err, wait) = match result {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let body = resp.bytes().await.map(|b| b.to_vec());
                    match body {
                        Ok(body) if status.is_success() => return Ok(HttpResponse { status, headers, body }),
                        Ok(body) => {
                            let retry_after = retry_after(&headers);
                            let err = self.status_error(&what, status, &body).with_retry_after(retry_after);
                            (err, retry_after)
                        }
                        Err(e) => (network_error(&what, &e), None),
                    }
                }
                Err(e) => (network_error(&what, &e), None),
            };
            if !err.is_retryable() || err.category == ErrorCategory::Conflict || attempt >= self.opts.max_attempts {
                return Err(err);
            }
            let delay = match wait {
                Some(d) if d > self.opts.max_retry_after => return Err(err),
                Some(d) => d,
                None => jittered(self.opts.backoff_base, attempt),
            };
            tracing::debug!(system = %self.system, attempt, delay_ms = delay.as_millis() as u64, "retrying: {err}");
            tokio::time::sleep(delay).await;
        }
    }

    fn status_error(&self, what: &str, status: StatusCode, body: &[u8]) -> PortError {
        let detail = (self.error_text)(body).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let t: String = text.chars().take(300).collect();
            t
        });
        PortError::new(classify_status(status), format!("{what}: HTTP {}: {detail}", status.as_u16()))
    }
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

fn network_error(what: &str, e: &reqwest::Error) -> PortError {
    // reqwest's Display can include the URL but never our Authorization header.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect (DNS, TLS, proxy or refused)"
    } else {
        "transport error"
    };
    PortError::new(ErrorCategory::Network, format!("{what}: {kind}: {e}"))
}

/// `Retry-After` in seconds (HTTP-date is not used by Jira or ADO).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

fn jittered(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(6));
    let ms = exp.as_millis() as u64;
    Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_unless_loopback_and_allowed() {
        assert!(check_base_url("https://acme.atlassian.net", false).is_ok());
        assert!(check_base_url("http://acme.atlassian.net", true).is_err());
        assert!(check_base_url("http://127.0.0.1:8080", false).is_err());
        assert!(check_base_url("http://127.0.0.1:8080", true).is_ok());
        assert!(check_base_url("ftp://x", true).is_err());
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
    fn retry_after_reads_seconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
