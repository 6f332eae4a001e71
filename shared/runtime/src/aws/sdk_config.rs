//! The SDK configuration. On Lambda everything the SDK needs is in the environment (region,
//! the role's credentials, optionally an endpoint), so the functions read it from there
//! and leave out aws-config's provider chain (profiles, SSO, STS, IMDS). Operators'
//! tools enable the feature `aws-config-chain` (implied by `operator-credentials`) and
//! load the configuration the standard way.

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::retry::{RetryConfig, RetryMode, RetrySpec};
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::Region;
use aws_types::sdk_config::SdkConfig;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// aws-config's default connect timeout; no other timeout is set by default.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// A required variable is missing or a setting cannot be read. Values are never shown:
/// some of these variables hold credentials.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdkEnvError {
    #[error("the AWS SDK configuration needs the environment variable {0}, which is not set or empty")]
    Missing(&'static str),
    #[error("the environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: &'static str },
}

/// The configuration from the environment variables Lambda sets: region from
/// `AWS_REGION` (or `AWS_DEFAULT_REGION`), static credentials from `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and the optional `AWS_SESSION_TOKEN`, the endpoint from
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` when set (an emulator). Retries and
/// timeouts as aws-config would resolve them: standard mode with 3 attempts unless
/// `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` say otherwise, a 3.1 s connect timeout.
pub fn sdk_config_from_env(
    var: impl Fn(&str) -> Option<String>,
    http_client: SharedHttpClient,
) -> Result<SdkConfig, SdkEnvError> {
    let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")).ok_or(SdkEnvError::Missing("AWS_REGION"))?;
    let access_key = get("AWS_ACCESS_KEY_ID").ok_or(SdkEnvError::Missing("AWS_ACCESS_KEY_ID"))?;
    let secret_key = get("AWS_SECRET_ACCESS_KEY").ok_or(SdkEnvError::Missing("AWS_SECRET_ACCESS_KEY"))?;
    let credentials = Credentials::new(access_key, secret_key, get("AWS_SESSION_TOKEN"), None, "Environment");

    let ignore_endpoints = match get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") {
        None => false,
        Some(v) => parse_bool(&v).ok_or(SdkEnvError::Invalid {
            name: "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
            reason: "expected true or false",
        })?,
    };
    let endpoint = get("AWS_ENDPOINT_URL").filter(|_| !ignore_endpoints);
    let service_endpoints: HashMap<String, String> = if ignore_endpoints {
        HashMap::new()
    } else {
        ["DYNAMODB", "SQS", "S3", "SSM", "SECRETS_MANAGER", "SCHEDULER"]
            .iter()
            .filter_map(|s| {
                let name = format!("AWS_ENDPOINT_URL_{s}");
                get(&name).map(|v| (name, v))
            })
            .collect()
    };

    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .retry_config(retry_config(&get)?)
        .timeout_config(TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).build())
        .http_client(http_client)
        .service_config(ServiceEndpoints(service_endpoints));
    builder.set_endpoint_url(endpoint);
    Ok(builder.build())
}

fn retry_config(get: &impl Fn(&str) -> Option<String>) -> Result<RetryConfig, SdkEnvError> {
    let mut config = RetryConfig::standard();
    if let Some(v) = get("AWS_MAX_ATTEMPTS") {
        match v.trim().parse::<u32>() {
            Ok(n) if n > 0 => config = config.with_max_attempts(n),
            _ => {
                return Err(SdkEnvError::Invalid {
                    name: "AWS_MAX_ATTEMPTS",
                    reason: "expected a whole number above 0",
                })
            }
        }
    }
    if let Some(v) = get("AWS_RETRY_MODE") {
        let mode = RetryMode::from_str(v.trim())
            .map_err(|_| SdkEnvError::Invalid { name: "AWS_RETRY_MODE", reason: "expected standard or adaptive" })?;
        config = config.with_retry_mode(mode);
    }
    if get("AWS_NEW_RETRIES_2026").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        config = config.with_retry_spec(RetrySpec::v2_1());
    }
    Ok(config)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Service-specific endpoints (`AWS_ENDPOINT_URL_DYNAMODB` and so on), which the SDK
/// clients look up before the general `AWS_ENDPOINT_URL`.
#[derive(Debug)]
struct ServiceEndpoints(HashMap<String, String>);

impl LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_ascii_uppercase().replace(' ', "_");
        self.0.get(&format!("{}_{service}", key.env())).cloned()
    }
}

/// The SDK configuration for this build: the full aws-config chain with the feature
/// `aws-config-chain`, the Lambda environment without it. Either way the SDK talks
/// through [`super::http::sdk_http_client`].
pub async fn load_sdk_config() -> Result<SdkConfig, crate::RuntimeError> {
    #[cfg(feature = "aws-config-chain")]
    {
        Ok(aws_config::defaults(BehaviorVersion::latest()).http_client(super::http::sdk_http_client()).load().await)
    }
    #[cfg(not(feature = "aws-config-chain"))]
    {
        Ok(sdk_config_from_env(|n| std::env::var(n).ok(), super::http::sdk_http_client())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::http::sdk_http_client;
    use aws_credential_types::provider::ProvideCredentials;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const LAMBDA: [(&str, &str); 4] = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "very-secret-key"),
        ("AWS_SESSION_TOKEN", "session-token-value"),
    ];

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<_> = LAMBDA.to_vec();
        for (k, val) in extra {
            v.retain(|(n, _)| n != k);
            v.push((k, val));
        }
        v
    }

    #[tokio::test]
    async fn the_lambda_environment_gives_region_credentials_and_defaults() {
        let sdk = sdk_config_from_env(env(&LAMBDA), sdk_http_client()).unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(sdk.endpoint_url(), None);
        let creds = sdk.credentials_provider().unwrap().provide_credentials().await.unwrap();
        assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(creds.secret_access_key(), "very-secret-key");
        assert_eq!(creds.session_token(), Some("session-token-value"));
        let retry = sdk.retry_config().unwrap();
        assert_eq!((retry.mode(), retry.max_attempts()), (RetryMode::Standard, 3));
        assert_eq!(sdk.timeout_config().unwrap().connect_timeout(), Some(CONNECT_TIMEOUT));
        assert!(sdk.http_client().is_some());
        assert!(sdk.behavior_version().is_some());
    }

    #[test]
    fn each_missing_variable_is_named() {
        for (name, expected) in [
            ("AWS_REGION", "AWS_REGION"),
            ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
            ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
        ] {
            let pairs = with(&[(name, " ")]);
            let e = sdk_config_from_env(env(&pairs), sdk_http_client()).unwrap_err();
            assert_eq!(e, SdkEnvError::Missing(expected));
            let text = e.to_string();
            assert!(text.contains(expected), "{text}");
            for (_, value) in LAMBDA {
                assert!(!text.contains(value), "{text} shows a value");
            }
        }
    }

    #[test]
    fn the_default_region_variable_stands_in_and_the_session_token_is_optional() {
        let pairs: Vec<_> = with(&[("AWS_DEFAULT_REGION", "us-west-2")])
            .into_iter()
            .filter(|(k, _)| *k != "AWS_REGION" && *k != "AWS_SESSION_TOKEN")
            .collect();
        let sdk = sdk_config_from_env(env(&pairs), sdk_http_client()).unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-west-2"));
    }

    type RetryCase = (&'static [(&'static str, &'static str)], Result<(RetryMode, u32), &'static str>);

    #[test]
    fn retry_settings_follow_the_standard_variables() {
        let table: [RetryCase; 5] = [
            (&[("AWS_MAX_ATTEMPTS", "1")], Ok((RetryMode::Standard, 1))),
            (&[("AWS_MAX_ATTEMPTS", "7"), ("AWS_RETRY_MODE", "adaptive")], Ok((RetryMode::Adaptive, 7))),
            (&[("AWS_MAX_ATTEMPTS", "0")], Err("AWS_MAX_ATTEMPTS")),
            (&[("AWS_MAX_ATTEMPTS", "many")], Err("AWS_MAX_ATTEMPTS")),
            (&[("AWS_RETRY_MODE", "eager")], Err("AWS_RETRY_MODE")),
        ];
        for (extra, expected) in table {
            let got = sdk_config_from_env(env(&with(extra)), sdk_http_client())
                .map(|c| {
                    let r = c.retry_config().unwrap();
                    (r.mode(), r.max_attempts())
                })
                .map_err(|e| e.to_string());
            match expected {
                Ok(v) => assert_eq!(got, Ok(v), "{extra:?}"),
                Err(name) => assert!(got.as_ref().is_err_and(|e| e.contains(name)), "{extra:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn endpoints_come_from_the_standard_variables() {
        let sdk = sdk_config_from_env(
            env(&with(&[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:5099"),
                ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:6000"),
            ])),
            sdk_http_client(),
        )
        .unwrap();
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:5099"));
        let service = |id| {
            let key = ServiceConfigKey::builder().service_id(id).env("AWS_ENDPOINT_URL").profile("endpoint_url");
            sdk.service_config().unwrap().load_config(key.build().unwrap())
        };
        assert_eq!(service("Secrets Manager").as_deref(), Some("http://127.0.0.1:6000"));
        // None: the client falls back to the general endpoint.
        assert_eq!(service("DynamoDB"), None);

        let ignored = sdk_config_from_env(
            env(&with(&[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:5099"),
                ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
            ])),
            sdk_http_client(),
        )
        .unwrap();
        assert_eq!(ignored.endpoint_url(), None);
    }

    /// A DynamoDB endpoint that drops the first `drops` connections unanswered and then
    /// answers ListTables; returns how many requests it saw and the last one.
    async fn flaky_dynamodb(drops: usize) -> (String, tokio::task::JoinHandle<(usize, String)>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let mut seen = 0;
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 16 * 1024];
                let n = sock.read(&mut buf).await.unwrap();
                seen += 1;
                if seen <= drops {
                    continue;
                }
                let body = r#"{"TableNames":["ferry-config"]}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                sock.write_all(reply.as_bytes()).await.unwrap();
                return (seen, String::from_utf8_lossy(&buf[..n]).to_string());
            }
        });
        (url, handle)
    }

    #[tokio::test]
    async fn sdk_calls_go_through_the_client_signed_and_retried_on_io_errors() {
        let (url, server) = flaky_dynamodb(1).await;
        let pairs: Vec<(&str, String)> =
            LAMBDA.iter().map(|(k, v)| (*k, v.to_string())).chain([("AWS_ENDPOINT_URL", url)]).collect();
        let map: HashMap<String, String> = pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let sdk = sdk_config_from_env(|k| map.get(k).cloned(), sdk_http_client()).unwrap();
        let out = aws_sdk_dynamodb::Client::new(&sdk).list_tables().send().await.unwrap();
        assert_eq!(out.table_names(), ["ferry-config".to_string()]);
        let (seen, request) = server.await.unwrap();
        assert_eq!(seen, 2, "the dropped connection is retried once");
        let lower = request.to_ascii_lowercase();
        assert!(lower.contains("authorization: aws4-hmac-sha256 credential=akidexample/"), "{request}");
        assert!(lower.contains("x-amz-security-token: session-token-value"), "{request}");
        assert!(!request.contains("very-secret-key"));
    }
}
