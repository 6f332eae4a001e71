//! Asynchronous invocation of a Lambda function (`Invoke` with `X-Amz-Invocation-Type:
//! Event`): the hook function asks the poll function to poll a direction now, and
//! answers the webhook without waiting for the poll. One signed `POST
//! /2015-03-31/functions/{name}/invocations` over the [`Transport`] the other own
//! clients use; the SDK's Lambda crate would cost its endpoint rules and serializers
//! for one operation.

use super::json::{service_error, Endpoint, JsonService};
pub use super::signed::AwsRequestError;
use super::signed::{configured_endpoint, hex, Reply, SignedRequest, SigningStyle, Transport};
use aws_types::SdkConfig;
use reqwest::Method;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Lambda's names: its endpoint setting (`AWS_ENDPOINT_URL_LAMBDA`), signing name and host prefix.
const LAMBDA: JsonService =
    JsonService { service_id: "Lambda", signing_name: "lambda", endpoint_prefix: "lambda", target_prefix: "" };

/// An accepted asynchronous invocation answers 202 with an empty body.
const RESPONSE_MAX: u64 = 64 << 10;

/// Invokes one function asynchronously. Cheap to clone.
#[derive(Clone)]
pub struct LambdaInvoker {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    endpoint: Result<Endpoint, String>,
    function: String,
}

impl std::fmt::Debug for LambdaInvoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaInvoker").field("function", &self.inner.function).finish()
    }
}

/// The function name in `function`: an ARN's name (`...:function:NAME[:QUALIFIER]`
/// keeps `NAME[:QUALIFIER]`'s name) or the name itself. Only names of letters, digits,
/// `-` and `_` are accepted, so the request's path needs no encoding.
pub fn function_name(function: &str) -> Result<String, String> {
    let name = match function.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or_default(),
        None => function,
    }
    .trim();
    let valid = !name.is_empty() && name.len() <= 64;
    if !valid || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(format!("{function:?} is not a Lambda function name or ARN (letters, digits, '-', '_')"));
    }
    Ok(name.to_string())
}

impl LambdaInvoker {
    /// Invokes `function` (a name or ARN) with a client configured like the SDK's Lambda
    /// client built from `sdk` (region, credentials, `AWS_ENDPOINT_URL[_LAMBDA]`, retries,
    /// timeouts), sending through `http` (which must not follow redirects).
    pub fn from_sdk_config(sdk: &SdkConfig, http: reqwest::Client, function: &str) -> Result<Self, String> {
        let endpoint = Endpoint::resolve(
            LAMBDA,
            sdk.region().map(|r| r.as_ref()),
            configured_endpoint(sdk, LAMBDA.service_id).as_deref(),
            sdk.use_fips().unwrap_or(false),
            sdk.use_dual_stack().unwrap_or(false),
        );
        let function = function_name(function)?;
        Ok(Self { inner: Arc::new(Inner { transport: Transport::from_sdk_config(sdk, http), endpoint, function }) })
    }

    /// Queues one invocation with `payload` as its event; answers once Lambda accepted it.
    pub async fn invoke_event(&self, payload: &[u8]) -> Result<(), AwsRequestError> {
        let Inner { transport, endpoint, function } = &*self.inner;
        let endpoint = endpoint.as_ref().map_err(|e| AwsRequestError::Construction(e.clone()))?;
        let url = format!("{}2015-03-31/functions/{function}/invocations", endpoint.url);
        let headers = [("content-type", "application/json"), ("x-amz-invocation-type", "Event")];
        let payload_sha256 = hex(&Sha256::digest(payload));
        let request = SignedRequest {
            method: &Method::POST,
            url: &url,
            region: &endpoint.region,
            service: LAMBDA.signing_name,
            style: SigningStyle::Standard,
            headers: &headers,
            body: payload,
            payload_sha256: &payload_sha256,
            max_response: RESPONSE_MAX,
        };
        transport
            .with_retries("Lambda Invoke", || async {
                match transport.send(&request).await? {
                    Reply::Success(_) => Ok(()),
                    Reply::Failure { status, headers, body } => Err(service_error(status, &headers, &body)),
                }
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::signed::test_server::{header, reply, sdk, server};

    #[test]
    fn the_function_is_named_by_its_name_or_its_arn() {
        let cases = [
            ("ferry-poll", Ok("ferry-poll")),
            ("arn:aws:lambda:eu-west-1:123456789012:function:ferry-poll", Ok("ferry-poll")),
            ("arn:aws:lambda:eu-west-1:123456789012:function:ferry-poll:live", Ok("ferry-poll")),
            ("", Err(())),
            ("ferry/poll", Err(())),
            ("arn:aws:lambda:eu-west-1:123456789012:function:", Err(())),
        ];
        for (given, want) in cases {
            assert_eq!(function_name(given).map_err(|_| ()), want.map(str::to_string), "{given}");
        }
    }

    #[tokio::test]
    async fn an_event_invocation_posts_the_payload_signed_for_lambda() {
        let (url, answered) = server(vec![reply("202 Accepted", &[], "")]).await;
        let invoker = LambdaInvoker::from_sdk_config(&sdk(&url, 3), reqwest::Client::new(), "ferry-poll").unwrap();
        invoker.invoke_event(br#"{"integration":"a","flow":"left_to_right"}"#).await.unwrap();
        let request = &answered.await.unwrap()[0];
        assert!(request.starts_with("POST /2015-03-31/functions/ferry-poll/invocations HTTP/1.1\r\n"), "{request}");
        assert_eq!(header(request, "x-amz-invocation-type"), Some("Event"));
        let authorization = header(request, "authorization").unwrap();
        assert!(authorization.contains("/eu-west-1/lambda/aws4_request"), "{authorization}");
        assert!(authorization.contains("x-amz-invocation-type"), "{authorization}");
        assert!(request.ends_with(r#"{"integration":"a","flow":"left_to_right"}"#), "{request}");
    }

    #[tokio::test]
    async fn a_refused_invocation_is_an_error_with_lambdas_code() {
        let refused = reply(
            "404 Not Found",
            &[("x-amzn-errortype", "ResourceNotFoundException")],
            r#"{"Type":"User","message":"Function not found"}"#,
        );
        let (url, _answered) = server(vec![refused]).await;
        let invoker = LambdaInvoker::from_sdk_config(&sdk(&url, 1), reqwest::Client::new(), "ferry-poll").unwrap();
        let err = invoker.invoke_event(b"{}").await.unwrap_err();
        assert_eq!(err.to_string(), "ResourceNotFoundException (HTTP 404): Function not found");
    }
}
