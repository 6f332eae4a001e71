//! A small S3 object client for the payload bucket: PutObject, GetObject and
//! DeleteObject (and any other bucket or object request, for tests and tools), signed
//! with SigV4 and sent over reqwest. It takes its region, endpoint, credentials,
//! retries and timeouts from the same [`SdkConfig`] as the SDK clients, and resolves
//! them the same way: `AWS_ENDPOINT_URL_S3` before `AWS_ENDPOINT_URL`, an endpoint
//! set in code before both; FIPS and dual-stack endpoints when configured.
//!
//! The SDK's S3 crate would do the same, at the cost of about 1.5 MB in each Lambda
//! binary (S3's endpoint rules, checksum and event-stream crates), which the functions
//! cannot afford. Bodies are in memory both ways (Ferry's payloads are a few MB), so
//! every request carries the SHA-256 of its body and S3 checks it.

mod address;
mod error;
mod signing;

pub use error::S3Error;

use address::Endpoint;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_types::service_config::ServiceConfigKey;
use aws_types::SdkConfig;
use ferry_domain::ErrorCategory;
use rand::Rng;
use reqwest::header::HeaderValue;
use reqwest::Method;
use sha2::{Digest, Sha256};
use signing::Signer;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// An error response body is read up to this length (S3's are a few hundred bytes).
const ERROR_BODY_MAX: u64 = 64 << 10;
/// Cached credentials are renewed this long before they expire, as the SDK does.
const CREDENTIALS_REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// One request on a bucket (`key` empty) or an object.
#[derive(Debug, Clone)]
pub struct S3Request<'a> {
    pub method: Method,
    pub bucket: &'a str,
    pub key: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    /// A successful response body longer than this is refused ([`S3Error::TooLarge`]).
    pub max_response: u64,
}

/// The S3 client. Cheap to clone (one shared connection pool and credentials cache).
#[derive(Clone)]
pub struct S3Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// An unusable region or endpoint fails each request with a `Config` error, as the
    /// SDK clients do, rather than the construction.
    endpoint: Result<Endpoint, String>,
    credentials: Option<SharedCredentialsProvider>,
    cached: tokio::sync::Mutex<Option<Credentials>>,
    retry: Retry,
    /// One attempt, and the whole call with its retries (`TimeoutConfig`).
    attempt_timeout: Option<Duration>,
    operation_timeout: Option<Duration>,
}

/// The SDK's standard retry policy: up to `max_attempts`, the wait before attempt n+1
/// a random part of `initial * 2^(n-1)`, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Retry {
    max_attempts: u32,
    initial: Duration,
    max: Duration,
}

impl Retry {
    fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exponential = self.initial.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        Duration::from_secs_f64((jitter.clamp(0.0, 1.0) * exponential).min(self.max.as_secs_f64()))
    }
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client").field("endpoint", &self.inner.endpoint).field("retry", &self.inner.retry).finish()
    }
}

impl S3Client {
    /// A client configured like an SDK client built from `sdk`, sending through `http`
    /// (which must not follow redirects: S3's are errors to report).
    pub fn from_sdk_config(sdk: &SdkConfig, http: reqwest::Client) -> Self {
        let retry = sdk.retry_config().cloned().unwrap_or_else(aws_smithy_types::retry::RetryConfig::standard);
        let timeouts = sdk.timeout_config();
        let endpoint = Endpoint::resolve(
            sdk.region().map(|r| r.as_ref()),
            configured_endpoint(sdk).as_deref(),
            sdk.use_fips().unwrap_or(false),
            sdk.use_dual_stack().unwrap_or(false),
        );
        Self {
            inner: Arc::new(Inner {
                http,
                endpoint,
                credentials: sdk.credentials_provider(),
                cached: tokio::sync::Mutex::new(None),
                retry: Retry {
                    max_attempts: retry.max_attempts().max(1),
                    initial: retry.initial_backoff(),
                    max: retry.max_backoff(),
                },
                attempt_timeout: timeouts.and_then(|t| t.operation_attempt_timeout()),
                operation_timeout: timeouts.and_then(|t| t.operation_timeout()),
            }),
        }
    }

    /// PutObject.
    pub async fn put_object(&self, bucket: &str, key: &str, body: &[u8], content_type: &str) -> Result<(), S3Error> {
        let request = S3Request { content_type: Some(content_type), body, ..Self::request(Method::PUT, bucket, key) };
        self.send(request).await.map(drop)
    }

    /// GetObject: the object's bytes, refused when longer than `max_bytes`.
    pub async fn get_object(&self, bucket: &str, key: &str, max_bytes: u64) -> Result<Vec<u8>, S3Error> {
        self.send(S3Request { max_response: max_bytes, ..Self::request(Method::GET, bucket, key) }).await
    }

    /// DeleteObject (S3 answers success for an absent key).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        self.send(Self::request(Method::DELETE, bucket, key)).await.map(drop)
    }

    fn request<'a>(method: Method, bucket: &'a str, key: &'a str) -> S3Request<'a> {
        S3Request { method, bucket, key, query: &[], content_type: None, body: &[], max_response: ERROR_BODY_MAX }
    }

    /// Sends `request`, retrying transient failures, and returns the body of its
    /// successful (2xx) response.
    pub async fn send(&self, request: S3Request<'_>) -> Result<Vec<u8>, S3Error> {
        let endpoint = self.inner.endpoint.as_ref().map_err(|e| S3Error::Construction(e.clone()))?;
        let url = endpoint.url(request.bucket, request.key, request.query).map_err(S3Error::Construction)?;
        let payload_sha256 = hex(&Sha256::digest(request.body));
        let attempts = async {
            let mut attempt = 1;
            loop {
                let result = with_timeout(
                    self.inner.attempt_timeout,
                    "the attempt",
                    self.attempt(endpoint, &request, &url, &payload_sha256),
                )
                .await;
                match result {
                    Err(e) if e.is_transient() && attempt < self.inner.retry.max_attempts => {
                        let wait = self.inner.retry.backoff(attempt, rand::thread_rng().gen());
                        tracing::debug!(attempt, ?wait, "S3 {} failed, retrying: {e}", request.method);
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                    result => return result,
                }
            }
        };
        with_timeout(self.inner.operation_timeout, "the operation", attempts).await
    }

    /// One signed attempt.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        request: &S3Request<'_>,
        url: &str,
        payload_sha256: &str,
    ) -> Result<Vec<u8>, S3Error> {
        let credentials = self.credentials().await?;
        let own: Vec<(&str, &str)> = request.content_type.map(|t| ("content-type", t)).into_iter().collect();
        let signer =
            Signer { credentials: &credentials, region: endpoint.region(), service: "s3", time: SystemTime::now() };
        let signed =
            signer.headers(request.method.as_str(), url, &own, payload_sha256).map_err(S3Error::Construction)?;
        let mut builder = self.inner.http.request(request.method.clone(), url);
        for (name, value) in own.iter().copied().chain(signed.iter().map(|(n, v)| (*n, v.as_str()))) {
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| S3Error::Construction(format!("the {name} header is not a valid header value")))?;
            // Kept out of any debug output of the request.
            value.set_sensitive(name == "x-amz-security-token" || name == "authorization");
            builder = builder.header(name, value);
        }
        let response = builder.body(request.body.to_vec()).send().await.map_err(transport_error)?;
        let status = response.status();
        if status.is_success() {
            return read_body(response, request.max_response).await;
        }
        let bucket_region =
            response.headers().get("x-amz-bucket-region").and_then(|v| v.to_str().ok()).map(str::to_string);
        // An unreadable error body still leaves the status to classify by.
        let body = read_body(response, ERROR_BODY_MAX).await.unwrap_or_default();
        Err(S3Error::from_response(status.as_u16(), &body, bucket_region.as_deref()))
    }

    /// The provider's credentials, cached until shortly before they expire (the
    /// provider may call STS or a metadata endpoint). One caller refreshes at a time.
    async fn credentials(&self) -> Result<Credentials, S3Error> {
        let provider = self.inner.credentials.as_ref().ok_or_else(|| S3Error::Credentials {
            category: ErrorCategory::Config,
            detail: "no credentials provider is configured".into(),
        })?;
        let mut cached = self.inner.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| fresh(c.expiry(), SystemTime::now())) {
            return Ok(c.clone());
        }
        let credentials = provider.provide_credentials().await.map_err(credentials_error)?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }
}

/// The S3 endpoint an SDK client built from `sdk` would use: one set in code first,
/// then the S3 one (`AWS_ENDPOINT_URL_S3`, or `endpoint_url` in the profile's S3
/// section), then the general one (`AWS_ENDPOINT_URL`).
fn configured_endpoint(sdk: &SdkConfig) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_string);
    }
    let key = ServiceConfigKey::builder().service_id("S3").env("AWS_ENDPOINT_URL").profile("endpoint_url").build();
    let s3 = key.ok().and_then(|key| sdk.service_config().and_then(|c| c.load_config(key)));
    s3.or_else(|| sdk.endpoint_url().map(str::to_string))
}

/// Whether credentials expiring at `expiry` can still sign at `now`.
fn fresh(expiry: Option<SystemTime>, now: SystemTime) -> bool {
    expiry.is_none_or(|at| at > now + CREDENTIALS_REFRESH_BEFORE)
}

fn credentials_error(e: CredentialsError) -> S3Error {
    let category = match &e {
        CredentialsError::ProviderTimedOut(_) => ErrorCategory::Network,
        CredentialsError::CredentialsNotLoaded(_) | CredentialsError::InvalidConfiguration(_) => ErrorCategory::Config,
        _ => ErrorCategory::Auth,
    };
    S3Error::Credentials { category, detail: chain(&e) }
}

async fn with_timeout<T>(
    limit: Option<Duration>,
    what: &str,
    work: impl std::future::Future<Output = Result<T, S3Error>>,
) -> Result<T, S3Error> {
    match limit {
        None => work.await,
        Some(limit) => tokio::time::timeout(limit, work)
            .await
            .unwrap_or_else(|_| Err(S3Error::Timeout(format!("{what} took longer than {limit:?}")))),
    }
}

/// Reads a response body, refusing one longer than `max` bytes as soon as that shows.
async fn read_body(mut response: reqwest::Response, max: u64) -> Result<Vec<u8>, S3Error> {
    if response.content_length().is_some_and(|n| n > max) {
        return Err(S3Error::TooLarge { limit: max });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(S3Error::TooLarge { limit: max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport_error(e: reqwest::Error) -> S3Error {
    if e.is_timeout() {
        S3Error::Timeout(chain(&e))
    } else {
        S3Error::Dispatch(chain(&e))
    }
}

/// An error and its sources on one line (reqwest's own message hides the cause).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(source) = next {
        text.push_str(": ");
        text.push_str(&source.to_string());
        next = source.source();
    }
    text
}

/// Lowercase hex, as SigV4 and the payload keys spell digests.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
