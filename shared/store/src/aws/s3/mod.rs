//! A small S3 object client for the payload bucket: PutObject, GetObject and
//! DeleteObject (and any other bucket or object request, for tests and tools), signed
//! with SigV4 and sent over reqwest through the [`Transport`] Ferry's AWS clients share:
//! region, endpoint, credentials, retries and timeouts come from the same [`SdkConfig`]
//! as the SDK clients', resolved the same way (`AWS_ENDPOINT_URL_S3` before
//! `AWS_ENDPOINT_URL`, an endpoint set in code before both; FIPS and dual-stack
//! endpoints when configured).
//!
//! The SDK's S3 crate would do the same, at the cost of about 1.5 MB in each Lambda
//! binary (S3's endpoint rules, checksum and event-stream crates), which the functions
//! cannot afford. Bodies are in memory both ways (Ferry's payloads are a few MB), so
//! every request carries the SHA-256 of its body and S3 checks it.

mod address;
mod error;

pub(crate) use super::signed::hex;
pub use super::signed::AwsRequestError;

use super::signed::{configured_endpoint, Reply, SignedRequest, SigningStyle, Transport, ERROR_BODY_MAX};
use address::Endpoint;
use aws_types::SdkConfig;
use reqwest::Method;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// One request on a bucket (`key` empty) or an object.
#[derive(Debug, Clone)]
pub struct S3Request<'a> {
    pub method: Method,
    pub bucket: &'a str,
    pub key: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    /// A successful response body longer than this is refused ([`AwsRequestError::TooLarge`]).
    pub max_response: u64,
}

/// The S3 client. Cheap to clone (one shared connection pool and credentials cache).
#[derive(Clone)]
pub struct S3Client {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    /// An unusable region or endpoint fails each request with a `Config` error, as the
    /// SDK clients do, rather than the construction.
    endpoint: Result<Endpoint, String>,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client")
            .field("endpoint", &self.inner.endpoint)
            .field("retry", &self.inner.transport.retry)
            .finish()
    }
}

impl S3Client {
    /// A client configured like an SDK client built from `sdk`, sending through `http`
    /// (which must not follow redirects: S3's are errors to report).
    pub fn from_sdk_config(sdk: &SdkConfig, http: reqwest::Client) -> Self {
        let endpoint = Endpoint::resolve(
            sdk.region().map(|r| r.as_ref()),
            configured_endpoint(sdk, "S3").as_deref(),
            sdk.use_fips().unwrap_or(false),
            sdk.use_dual_stack().unwrap_or(false),
        );
        Self { inner: Arc::new(Inner { transport: Transport::from_sdk_config(sdk, http), endpoint }) }
    }

    /// PutObject.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<(), AwsRequestError> {
        let request = S3Request { content_type: Some(content_type), body, ..Self::request(Method::PUT, bucket, key) };
        self.send(request).await.map(drop)
    }

    /// GetObject: the object's bytes, refused when longer than `max_bytes`.
    pub async fn get_object(&self, bucket: &str, key: &str, max_bytes: u64) -> Result<Vec<u8>, AwsRequestError> {
        self.send(S3Request { max_response: max_bytes, ..Self::request(Method::GET, bucket, key) }).await
    }

    /// DeleteObject (S3 answers success for an absent key).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), AwsRequestError> {
        self.send(Self::request(Method::DELETE, bucket, key)).await.map(drop)
    }

    fn request<'a>(method: Method, bucket: &'a str, key: &'a str) -> S3Request<'a> {
        S3Request { method, bucket, key, query: &[], content_type: None, body: &[], max_response: ERROR_BODY_MAX }
    }

    /// Sends `request`, retrying transient failures, and returns the body of its
    /// successful (2xx) response.
    pub async fn send(&self, request: S3Request<'_>) -> Result<Vec<u8>, AwsRequestError> {
        let endpoint = self.inner.endpoint.as_ref().map_err(|e| AwsRequestError::Construction(e.clone()))?;
        let url = endpoint.url(request.bucket, request.key, request.query).map_err(AwsRequestError::Construction)?;
        let payload_sha256 = hex(&Sha256::digest(request.body));
        let headers: Vec<(&str, &str)> = request.content_type.map(|t| ("content-type", t)).into_iter().collect();
        let signed = SignedRequest {
            method: &request.method,
            url: &url,
            region: endpoint.region(),
            service: "s3",
            style: SigningStyle::S3,
            headers: &headers,
            body: request.body,
            payload_sha256: &payload_sha256,
            max_response: request.max_response,
        };
        let what = format!("S3 {}", request.method);
        self.inner
            .transport
            .with_retries(&what, || async {
                match self.inner.transport.send(&signed).await? {
                    Reply::Success(body) => Ok(body),
                    Reply::Failure { status, headers, body } => {
                        let bucket_region = headers.get("x-amz-bucket-region").and_then(|v| v.to_str().ok());
                        Err(AwsRequestError::from_s3_response(status, &body, bucket_region))
                    }
                }
            })
            .await
    }
}

#[cfg(test)]
mod tests;
