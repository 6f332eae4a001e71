//! What Ferry's own AWS clients (S3 in [`super::s3`], the JSON services in
//! [`super::json`]) share, so each behaves like an SDK client built from the same
//! [`SdkConfig`]: credentials from its provider, cached until shortly before they
//! expire; the standard retry policy with its attempts and backoff; the attempt and
//! operation timeouts; the endpoint chosen as the SDK clients choose it; SigV4
//! signing; bounded response reads.
//!
//! The SDK's own crates would do the same at the cost of their endpoint rules,
//! serializers and runtime plugins in every Lambda binary (about 1.5 MB for S3).

pub(crate) mod error;
mod signing;
#[cfg(test)]
pub(crate) mod test_server;

pub use error::AwsRequestError;
pub(crate) use signing::SigningStyle;
#[cfg(test)]
pub(crate) use signing::EMPTY_SHA256;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_types::service_config::ServiceConfigKey;
use aws_types::SdkConfig;
use ferry_domain::ErrorCategory;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use signing::Signer;
use std::future::Future;
use std::time::{Duration, SystemTime};

/// An error response body is read up to this length (AWS's are a few hundred bytes).
pub(crate) const ERROR_BODY_MAX: u64 = 64 << 10;
/// Cached credentials are renewed this long before they expire, as the SDK does.
const CREDENTIALS_REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// The SDK's standard retry policy: up to `max_attempts`, the wait before attempt n+1
/// a random part of `initial * 2^(n-1)`, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Retry {
    pub max_attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl Retry {
    pub(crate) fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exponential = self.initial.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        Duration::from_secs_f64((jitter.clamp(0.0, 1.0) * exponential).min(self.max.as_secs_f64()))
    }
}

/// One request to sign and send. `url` is final (encoded as the service signs it).
pub(crate) struct SignedRequest<'a> {
    pub method: &'a Method,
    pub url: &'a str,
    /// The region and service name the request is signed for (`ssm`, `s3`).
    pub region: &'a str,
    pub service: &'a str,
    pub style: SigningStyle,
    /// The request's own headers, signed along.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    /// The lowercase hex SHA-256 of `body`.
    pub payload_sha256: &'a str,
    /// A successful response body longer than this is refused ([`AwsRequestError::TooLarge`]).
    pub max_response: u64,
}

/// The answer to one attempt: a success's body, or an error status with the headers and
/// the (bounded) body for the service's client to read.
pub(crate) enum Reply {
    Success(Vec<u8>),
    Failure { status: u16, headers: HeaderMap, body: Vec<u8> },
}

/// Sending, signing and retrying as an SDK client configured from an [`SdkConfig`] would.
pub(crate) struct Transport {
    http: reqwest::Client,
    credentials: Option<SharedCredentialsProvider>,
    cached: tokio::sync::Mutex<Option<Credentials>>,
    pub(crate) retry: Retry,
    /// One attempt, and the whole call with its retries (`TimeoutConfig`).
    attempt_timeout: Option<Duration>,
    operation_timeout: Option<Duration>,
}

impl Transport {
    /// Sends through `http`, which must not follow redirects (the services' are errors
    /// to report).
    pub(crate) fn from_sdk_config(sdk: &SdkConfig, http: reqwest::Client) -> Self {
        let retry = sdk.retry_config().cloned().unwrap_or_else(aws_smithy_types::retry::RetryConfig::standard);
        let timeouts = sdk.timeout_config();
        Self {
            http,
            credentials: sdk.credentials_provider(),
            cached: tokio::sync::Mutex::new(None),
            retry: Retry {
                max_attempts: retry.max_attempts().max(1),
                initial: retry.initial_backoff(),
                max: retry.max_backoff(),
            },
            attempt_timeout: timeouts.and_then(|t| t.operation_attempt_timeout()),
            operation_timeout: timeouts.and_then(|t| t.operation_timeout()),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good or runs out of attempts, each
    /// attempt and the whole within their timeouts. `what` names the call in debug logs.
    pub(crate) async fn with_retries<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, AwsRequestError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AwsRequestError>>,
    {
        let attempts = async {
            let mut n = 1;
            loop {
                match with_timeout(self.attempt_timeout, "the attempt", attempt()).await {
                    Err(e) if e.is_transient() && n < self.retry.max_attempts => {
                        let wait = self.retry.backoff(n, rand::thread_rng().gen());
                        tracing::debug!(attempt = n, ?wait, "{what} failed, retrying: {e}");
                        tokio::time::sleep(wait).await;
                        n += 1;
                    }
                    result => return result,
                }
            }
        };
        with_timeout(self.operation_timeout, "the operation", attempts).await
    }

    /// One signed attempt of `request`.
    pub(crate) async fn send(&self, request: &SignedRequest<'_>) -> Result<Reply, AwsRequestError> {
        let credentials = self.credentials().await?;
        let signer = Signer {
            credentials: &credentials,
            region: request.region,
            service: request.service,
            style: request.style,
            time: SystemTime::now(),
        };
        let signed = signer
            .headers(request.method.as_str(), request.url, request.headers, request.payload_sha256)
            .map_err(AwsRequestError::Construction)?;
        let mut builder = self.http.request(request.method.clone(), request.url);
        for (name, value) in request.headers.iter().copied().chain(signed.iter().map(|(n, v)| (*n, v.as_str()))) {
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| AwsRequestError::Construction(format!("the {name} header is not a valid header value")))?;
            // Kept out of any debug output of the request.
            value.set_sensitive(name == "x-amz-security-token" || name == "authorization");
            builder = builder.header(name, value);
        }
        let response = builder.body(request.body.to_vec()).send().await.map_err(transport_error)?;
        let status = response.status();
        if status.is_success() {
            return read_body(response, request.max_response).await.map(Reply::Success);
        }
        let headers = response.headers().clone();
        // An unreadable error body still leaves the status to classify by.
        let body = read_body(response, ERROR_BODY_MAX).await.unwrap_or_default();
        Ok(Reply::Failure { status: status.as_u16(), headers, body })
    }

    /// The provider's credentials, cached until shortly before they expire (the
    /// provider may call STS or a metadata endpoint). One caller refreshes at a time.
    async fn credentials(&self) -> Result<Credentials, AwsRequestError> {
        let provider = self.credentials.as_ref().ok_or_else(|| AwsRequestError::Credentials {
            category: ErrorCategory::Config,
            detail: "no credentials provider is configured".into(),
        })?;
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| fresh(c.expiry(), SystemTime::now())) {
            return Ok(c.clone());
        }
        let credentials = provider.provide_credentials().await.map_err(credentials_error)?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }
}

/// The endpoint an SDK client of the service `service_id` (`S3`, `SSM`, `Secrets
/// Manager`) built from `sdk` would use: one set in code first, then the service's
/// (`AWS_ENDPOINT_URL_<SERVICE>`, or `endpoint_url` in the profile's service section),
/// then the general one (`AWS_ENDPOINT_URL`).
pub(crate) fn configured_endpoint(sdk: &SdkConfig, service_id: &str) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_string);
    }
    let key =
        ServiceConfigKey::builder().service_id(service_id).env("AWS_ENDPOINT_URL").profile("endpoint_url").build();
    let own = key.ok().and_then(|key| sdk.service_config().and_then(|c| c.load_config(key)));
    own.or_else(|| sdk.endpoint_url().map(str::to_string))
}

/// The region requests are signed for, checked to be a region name (it becomes part of
/// host names).
pub(crate) fn region_name(region: Option<&str>) -> Result<String, String> {
    let region = region.map(str::trim).filter(|r| !r.is_empty()).ok_or_else(|| {
        "no AWS region is configured (set AWS_REGION); AWS requests are signed for a region".to_string()
    })?;
    if !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(format!("the AWS region {region:?} is not a region name (lowercase letters, digits, '-')"));
    }
    Ok(region.to_string())
}

/// Whether credentials expiring at `expiry` can still sign at `now`.
pub(crate) fn fresh(expiry: Option<SystemTime>, now: SystemTime) -> bool {
    expiry.is_none_or(|at| at > now + CREDENTIALS_REFRESH_BEFORE)
}

fn credentials_error(e: CredentialsError) -> AwsRequestError {
    let category = match &e {
        CredentialsError::ProviderTimedOut(_) => ErrorCategory::Network,
        CredentialsError::CredentialsNotLoaded(_) | CredentialsError::InvalidConfiguration(_) => ErrorCategory::Config,
        _ => ErrorCategory::Auth,
    };
    AwsRequestError::Credentials { category, detail: chain(&e) }
}

async fn with_timeout<T>(
    limit: Option<Duration>,
    what: &str,
    work: impl Future<Output = Result<T, AwsRequestError>>,
) -> Result<T, AwsRequestError> {
    match limit {
        None => work.await,
        Some(limit) => tokio::time::timeout(limit, work)
            .await
            .unwrap_or_else(|_| Err(AwsRequestError::Timeout(format!("{what} took longer than {limit:?}")))),
    }
}

/// Reads a response body, refusing one longer than `max` bytes as soon as that shows.
async fn read_body(mut response: reqwest::Response, max: u64) -> Result<Vec<u8>, AwsRequestError> {
    if response.content_length().is_some_and(|n| n > max) {
        return Err(AwsRequestError::TooLarge { limit: max });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(AwsRequestError::TooLarge { limit: max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport_error(e: reqwest::Error) -> AwsRequestError {
    if e.is_timeout() {
        AwsRequestError::Timeout(chain(&e))
    } else {
        AwsRequestError::Dispatch(chain(&e))
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
