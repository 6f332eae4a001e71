//! A small client for the AWS JSON 1.1 protocol, for the services Ferry calls once in
//! a while (SSM Parameter Store and Secrets Manager, to resolve secret references):
//! each call is one signed `POST /` with the operation in `X-Amz-Target` and its input
//! and output as JSON. Region, endpoint, credentials, retries and timeouts come from
//! the [`SdkConfig`] through the [`Transport`] the S3 client uses too, so it behaves
//! like the SDK client of the service built from the same configuration.
//!
//! The SDK crates of the two services would cost their endpoint rules, serializers and
//! runtime plugins in every Lambda binary for two operations.

use super::signed::error::{shorten, MESSAGE_MAX};
pub use super::signed::AwsRequestError;
use super::signed::{configured_endpoint, hex, Reply, SignedRequest, SigningStyle, Transport};
use aws_types::SdkConfig;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A service spoken to over JSON 1.1: the names its requests and endpoints use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonService {
    /// The SDK's service id, which names its endpoint setting (`AWS_ENDPOINT_URL_SSM`,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`).
    pub service_id: &'static str,
    /// The name requests are signed for.
    pub signing_name: &'static str,
    /// The first label of the service's host names.
    pub endpoint_prefix: &'static str,
    /// What `X-Amz-Target` puts before the operation.
    pub target_prefix: &'static str,
}

/// SSM (Parameter Store).
pub const SSM: JsonService =
    JsonService { service_id: "SSM", signing_name: "ssm", endpoint_prefix: "ssm", target_prefix: "AmazonSSM" };

/// Secrets Manager.
pub const SECRETS_MANAGER: JsonService = JsonService {
    service_id: "Secrets Manager",
    signing_name: "secretsmanager",
    endpoint_prefix: "secretsmanager",
    target_prefix: "secretsmanager",
};

/// The client of one service. Cheap to clone (one shared connection pool and
/// credentials cache).
#[derive(Clone)]
pub struct AwsJsonClient {
    inner: Arc<Inner>,
}

struct Inner {
    service: JsonService,
    transport: Transport,
    /// An unusable region or endpoint fails each call with a `Config` error, as the SDK
    /// clients do, rather than the construction.
    endpoint: Result<Endpoint, String>,
}

impl std::fmt::Debug for AwsJsonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsJsonClient")
            .field("service", &self.inner.service.service_id)
            .field("endpoint", &self.inner.endpoint)
            .finish()
    }
}

impl AwsJsonClient {
    /// A client of `service` configured like its SDK client built from `sdk`, sending
    /// through `http` (which must not follow redirects).
    pub fn from_sdk_config(service: JsonService, sdk: &SdkConfig, http: reqwest::Client) -> Self {
        let endpoint = Endpoint::resolve(
            service,
            sdk.region().map(|r| r.as_ref()),
            configured_endpoint(sdk, service.service_id).as_deref(),
            sdk.use_fips().unwrap_or(false),
            sdk.use_dual_stack().unwrap_or(false),
        );
        Self { inner: Arc::new(Inner { service, transport: Transport::from_sdk_config(sdk, http), endpoint }) }
    }

    /// Calls `operation` (`GetParameter`) with `input`, retrying transient failures, and
    /// reads its output. An output longer than `max_response` bytes is refused.
    pub async fn call<I: Serialize, O: DeserializeOwned>(
        &self,
        operation: &str,
        input: &I,
        max_response: u64,
    ) -> Result<O, AwsRequestError> {
        let body = serde_json::to_vec(input)
            .map_err(|e| AwsRequestError::Construction(format!("the {operation} input is not JSON: {e}")))?;
        let output = self.call_raw(operation, &body, max_response).await?;
        serde_json::from_slice(&output).map_err(|e| {
            AwsRequestError::BadResponse(format!("the {operation} output is not what the protocol promises: {e}"))
        })
    }

    async fn call_raw(&self, operation: &str, body: &[u8], max_response: u64) -> Result<Vec<u8>, AwsRequestError> {
        let Inner { service, transport, endpoint } = &*self.inner;
        let endpoint = endpoint.as_ref().map_err(|e| AwsRequestError::Construction(e.clone()))?;
        let target = format!("{}.{operation}", service.target_prefix);
        let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target.as_str())];
        let payload_sha256 = hex(&Sha256::digest(body));
        let request = SignedRequest {
            method: &Method::POST,
            url: &endpoint.url,
            region: &endpoint.region,
            service: service.signing_name,
            style: SigningStyle::Standard,
            headers: &headers,
            body,
            payload_sha256: &payload_sha256,
            max_response,
        };
        let what = format!("{} {operation}", service.service_id);
        transport
            .with_retries(&what, || async {
                match transport.send(&request).await? {
                    Reply::Success(output) => Ok(output),
                    Reply::Failure { status, headers, body } => Err(service_error(status, &headers, &body)),
                }
            })
            .await
    }
}

/// Where a service's requests go and the region they are signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The URL every request is posted to (the service's root, ending in `/`).
    pub(crate) url: String,
    pub(crate) region: String,
}

impl Endpoint {
    /// `configured` (an endpoint URL) when one is set, else the service's endpoint in
    /// `region`: `https://{prefix}[-fips].{region}.amazonaws.com`, in China's regions
    /// `.amazonaws.com.cn`, dual-stack under `api.aws` (China:
    /// `api.amazonwebservices.com.cn`).
    pub(crate) fn resolve(
        service: JsonService,
        region: Option<&str>,
        configured: Option<&str>,
        fips: bool,
        dual_stack: bool,
    ) -> Result<Self, String> {
        let region = super::signed::region_name(region)?;
        if let Some(url) = configured.map(str::trim).filter(|u| !u.is_empty()) {
            let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            if !matches!(scheme.as_deref(), Some("http" | "https")) || url.contains(['?', '#', '@']) {
                return Err(format!(
                    "the {} endpoint {url:?} (AWS_ENDPOINT_URL[_{}]) is not usable: use http:// or https:// \
                     and a host, without a query, a fragment or user information",
                    service.service_id,
                    service.service_id.to_ascii_uppercase().replace(' ', "_")
                ));
            }
            return Ok(Self { url: format!("{}/", url.trim_end_matches('/')), region });
        }
        let fips = if fips { "-fips" } else { "" };
        let suffix = match (region.starts_with("cn-"), dual_stack) {
            (false, false) => "amazonaws.com",
            (true, false) => "amazonaws.com.cn",
            (false, true) => "api.aws",
            (true, true) => "api.amazonwebservices.com.cn",
        };
        Ok(Self { url: format!("https://{}{fips}.{region}.{suffix}/", service.endpoint_prefix), region })
    }
}

/// The error of a JSON 1.1 response with `status`: its code from `x-amzn-errortype` or
/// the body's `__type` (`com.amazonaws.ssm#ParameterNotFound` → `ParameterNotFound`),
/// its message from the body's `message` (or `Message`).
pub(crate) fn service_error(status: u16, headers: &HeaderMap, body: &[u8]) -> AwsRequestError {
    let document: Option<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(body).ok();
    let field = |name: &str| document.as_ref().and_then(|d| d.get(name)).and_then(|v| v.as_str());
    let header = headers.get("x-amzn-errortype").and_then(|v| v.to_str().ok());
    let code = header
        .or_else(|| field("__type"))
        .or_else(|| field("code"))
        .map(|c| c.split(':').next().unwrap_or(c))
        .map(|c| c.rsplit('#').next().unwrap_or(c).trim())
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let message = field("message").or_else(|| field("Message")).map(|m| shorten(m, MESSAGE_MAX));
    AwsRequestError::Service { status, code, message, bucket_region: None }
}

#[cfg(test)]
mod tests;
