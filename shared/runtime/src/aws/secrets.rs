//! Secrets on AWS: environment variables, SSM Parameter Store (SecureString) and
//! Secrets Manager. A fetched value is reused for [`SECRET_TTL`], so a warm Lambda
//! picks up a rotated token within that time even if the old one still works; a
//! system refusing the cached value makes the connector ask again at once
//! ([`SecretSource::refresh`]).

use crate::secrets::SecretSource;
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ferry_domain::{ErrorCategory, PortError, SecretRef};
use ferry_store::aws::json::{AwsJsonClient, AwsRequestError, SECRETS_MANAGER, SSM};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a fetched secret is reused before it is fetched again.
pub const SECRET_TTL: Duration = Duration::from_secs(300);

/// An answer is read up to this length: an SSM parameter holds at most 8 KB, a secret
/// 64 KB (about 88 KB as base64).
const RESPONSE_MAX: u64 = 1 << 20;

pub struct AwsSecrets {
    ssm: AwsJsonClient,
    secrets_manager: AwsJsonClient,
    ttl: Duration,
    cache: Mutex<HashMap<SecretRef, (SecretString, Instant)>>,
}

impl AwsSecrets {
    /// Over an SSM and a Secrets Manager client (`ferry_store::aws::json::{SSM, SECRETS_MANAGER}`).
    pub fn new(ssm: AwsJsonClient, secrets_manager: AwsJsonClient) -> Self {
        Self { ssm, secrets_manager, ttl: SECRET_TTL, cache: Mutex::new(HashMap::new()) }
    }

    /// Reuse fetched values for `ttl` instead of [`SECRET_TTL`].
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Clients configured like the SDK clients built from `sdk` (region, credentials,
    /// `AWS_ENDPOINT_URL[_SSM|_SECRETS_MANAGER]`, retries, timeouts), sending through
    /// `http` ([`super::aws_http_client`]).
    pub fn from_conf(sdk: &aws_types::sdk_config::SdkConfig, http: reqwest::Client) -> Self {
        Self::new(
            AwsJsonClient::from_sdk_config(SSM, sdk, http.clone()),
            AwsJsonClient::from_sdk_config(SECRETS_MANAGER, sdk, http),
        )
    }

    fn cached(&self, reference: &SecretRef) -> Option<SecretString> {
        let cache = self.cache.lock().ok()?;
        cache.get(reference).filter(|(_, at)| at.elapsed() < self.ttl).map(|(v, _)| v.clone())
    }

    /// Fetches and (for SSM and Secrets Manager) caches the value.
    async fn fetch_and_keep(&self, reference: &SecretRef) -> Result<SecretString, PortError> {
        let value = self.fetch(reference).await?;
        // Env values are not cached: the process environment is already in memory.
        if !matches!(reference, SecretRef::Env(_)) {
            if let Ok(mut cache) = self.cache.lock() {
                cache.insert(reference.clone(), (value.clone(), Instant::now()));
            }
        }
        Ok(value)
    }

    async fn fetch(&self, reference: &SecretRef) -> Result<SecretString, PortError> {
        match reference {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
                _ => Err(PortError::new(
                    ErrorCategory::Config,
                    format!("secret {reference} is not set: the environment variable {name} is missing or empty"),
                )),
            },
            SecretRef::Ssm(name) => {
                let input = json!({ "Name": name, "WithDecryption": true });
                let out: GetParameterOutput = self
                    .ssm
                    .call("GetParameter", &input, RESPONSE_MAX)
                    .await
                    .map_err(|e| request_error(reference, e))?;
                out.parameter
                    .and_then(|p| p.value)
                    .filter(|v| !v.is_empty())
                    .map(SecretString::from)
                    .ok_or_else(|| PortError::new(ErrorCategory::Config, format!("secret {reference} has no value")))
            }
            SecretRef::SecretsManager(id) => {
                let out: GetSecretValueOutput = self
                    .secrets_manager
                    .call("GetSecretValue", &json!({ "SecretId": id }), RESPONSE_MAX)
                    .await
                    .map_err(|e| request_error(reference, e))?;
                secret_text(reference, out)
            }
        }
    }
}

/// What Ferry reads of SSM's `GetParameter` output.
#[derive(Deserialize)]
struct GetParameterOutput {
    #[serde(rename = "Parameter")]
    parameter: Option<Parameter>,
}

#[derive(Deserialize)]
struct Parameter {
    #[serde(rename = "Value")]
    value: Option<String>,
}

/// What Ferry reads of Secrets Manager's `GetSecretValue` output: the text, or the
/// binary secret as base64.
#[derive(Deserialize)]
struct GetSecretValueOutput {
    #[serde(rename = "SecretString")]
    secret_string: Option<String>,
    #[serde(rename = "SecretBinary")]
    secret_binary: Option<String>,
}

/// The secret's text: `SecretString`, else `SecretBinary` when it is UTF-8 text.
fn secret_text(reference: &SecretRef, out: GetSecretValueOutput) -> Result<SecretString, PortError> {
    if let Some(s) = out.secret_string.filter(|s| !s.is_empty()) {
        return Ok(SecretString::from(s));
    }
    let no_value = || PortError::new(ErrorCategory::Config, format!("secret {reference} has no value"));
    let encoded = out.secret_binary.ok_or_else(no_value)?;
    let binary = BASE64.decode(encoded.trim()).map_err(|_| {
        PortError::new(ErrorCategory::BadResponse, format!("secret {reference}: SecretBinary is not base64"))
    })?;
    match String::from_utf8(binary) {
        Ok(s) if !s.is_empty() => Ok(SecretString::from(s)),
        Ok(_) => Err(no_value()),
        Err(_) => Err(PortError::new(
            ErrorCategory::Config,
            format!("secret {reference} is binary and not UTF-8 text: store the token as a string"),
        )),
    }
}

#[async_trait]
impl SecretSource for AwsSecrets {
    async fn resolve(&self, reference: &SecretRef) -> Result<SecretString, PortError> {
        if let Some(v) = self.cached(reference) {
            return Ok(v);
        }
        self.fetch_and_keep(reference).await
    }

    async fn refresh(&self, reference: &SecretRef) -> Result<SecretString, PortError> {
        self.fetch_and_keep(reference).await
    }
}

/// Classifies a failed request. AWS error codes and messages name the parameter or
/// secret, never its value, so they are safe to show.
fn request_error(reference: &SecretRef, err: AwsRequestError) -> PortError {
    let category = match &err {
        AwsRequestError::Service { code, .. } => service_category(code.as_deref().unwrap_or_default()),
        other => other.category(),
    };
    PortError::new(category, format!("reading secret {reference}: {err}")).with_source(err)
}

/// The category of an SSM or Secrets Manager error code. A code not listed is a
/// configuration problem (a parameter or secret Ferry cannot use), which no retry fixes.
fn service_category(code: &str) -> ErrorCategory {
    match code {
        "ParameterNotFound" | "ParameterVersionNotFound" | "ResourceNotFoundException" => ErrorCategory::Config,
        "AccessDeniedException" | "AccessDenied" | "KMSAccessDeniedException" => ErrorCategory::Permission,
        "UnrecognizedClientException" | "InvalidSignatureException" | "ExpiredTokenException" => ErrorCategory::Auth,
        "ThrottlingException" | "TooManyUpdates" | "RequestLimitExceeded" => ErrorCategory::RateLimited,
        "InternalServerError" | "InternalServiceError" | "InternalFailure" | "ServiceUnavailable" => {
            ErrorCategory::Server
        }
        _ => ErrorCategory::Config,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;
    use aws_smithy_types::retry::RetryConfig;
    use aws_types::region::Region;
    use aws_types::SdkConfig;
    use secrecy::ExposeSecret;

    /// Clients aimed at a closed loopback port: every AWS call fails to connect.
    fn unreachable() -> AwsSecrets {
        let sdk = SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new("test", "test", None, None, "test")))
            .endpoint_url("http://127.0.0.1:9")
            .retry_config(RetryConfig::disabled())
            .build();
        AwsSecrets::from_conf(&sdk, reqwest::Client::new())
    }

    #[tokio::test]
    async fn env_reference_reads_the_process_environment() {
        std::env::set_var("FERRY_AWS_SECRETS_TEST_TOKEN", "tok-123");
        let s = unreachable();
        let v = s.resolve(&SecretRef::Env("FERRY_AWS_SECRETS_TEST_TOKEN".into())).await.unwrap();
        assert_eq!(v.expose_secret(), "tok-123");
    }

    #[tokio::test]
    async fn missing_env_reference_names_the_variable() {
        let e = unreachable().resolve(&SecretRef::Env("FERRY_AWS_SURELY_UNSET".into())).await.unwrap_err();
        assert_eq!(e.category, ErrorCategory::Config);
        assert!(e.message.contains("FERRY_AWS_SURELY_UNSET"), "{}", e.message);
    }

    #[tokio::test]
    async fn unreachable_services_fail_as_network_errors_naming_the_reference() {
        let s = unreachable();
        for r in [SecretRef::Ssm("/ferry/jira-token".into()), SecretRef::SecretsManager("ferry/ado-pat".into())] {
            let e = s.resolve(&r).await.unwrap_err();
            assert_eq!(e.category, ErrorCategory::Network, "{r}: {}", e.message);
            assert!(e.message.contains(&r.to_string()), "{}", e.message);
        }
    }

    #[tokio::test]
    async fn resolved_aws_values_are_served_from_the_cache() {
        let s = unreachable();
        let r = SecretRef::Ssm("/ferry/cached".into());
        s.cache.lock().unwrap().insert(r.clone(), (SecretString::from("from-cache".to_string()), Instant::now()));
        // The endpoint is unreachable, so only the cache can answer.
        assert_eq!(s.resolve(&r).await.unwrap().expose_secret(), "from-cache");
    }

    #[tokio::test]
    async fn a_cached_value_expires_after_the_ttl_and_a_refresh_skips_the_cache() {
        let s = unreachable().with_ttl(Duration::from_millis(50));
        let r = SecretRef::Ssm("/ferry/rotated".into());
        s.cache.lock().unwrap().insert(r.clone(), (SecretString::from("old".to_string()), Instant::now()));
        assert_eq!(s.refresh(&r).await.unwrap_err().category, ErrorCategory::Network, "a refresh asks the service");
        assert_eq!(s.resolve(&r).await.unwrap().expose_secret(), "old", "the failed refresh kept the cache");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(s.resolve(&r).await.unwrap_err().category, ErrorCategory::Network, "expired: asked again");
    }

    #[test]
    fn a_secret_is_its_text_or_its_binary_when_that_is_utf8() {
        let r = SecretRef::SecretsManager("ferry/ado-pat".into());
        let out = |text: Option<&str>, binary: Option<&str>| GetSecretValueOutput {
            secret_string: text.map(str::to_string),
            secret_binary: binary.map(str::to_string),
        };
        let table: [(GetSecretValueOutput, Result<&str, ErrorCategory>); 6] = [
            (out(Some("pat"), None), Ok("pat")),
            (out(Some(""), Some("cGF0LWJpbg==")), Ok("pat-bin")),
            (out(None, Some("cGF0LWJpbg==")), Ok("pat-bin")),
            (out(None, Some("//79")), Err(ErrorCategory::Config)),
            (out(None, Some("not base64!")), Err(ErrorCategory::BadResponse)),
            (out(None, None), Err(ErrorCategory::Config)),
        ];
        for (given, want) in table {
            let got = secret_text(&r, given).map(|s| s.expose_secret().to_string()).map_err(|e| {
                assert!(e.message.contains("ferry/ado-pat"), "{}", e.message);
                e.category
            });
            assert_eq!(got.as_deref().map_err(|c| *c), want);
        }
    }

    #[test]
    fn service_errors_are_classified_by_their_code_and_name_the_reference() {
        let r = SecretRef::Ssm("/ferry/jira-token".into());
        let service = |code: &str| AwsRequestError::Service {
            status: 400,
            code: Some(code.into()),
            message: Some("details".into()),
            bucket_region: None,
        };
        let table = [
            (service("ParameterNotFound"), ErrorCategory::Config),
            (service("ResourceNotFoundException"), ErrorCategory::Config),
            (service("AccessDeniedException"), ErrorCategory::Permission),
            (service("UnrecognizedClientException"), ErrorCategory::Auth),
            (service("ThrottlingException"), ErrorCategory::RateLimited),
            (service("InternalServerError"), ErrorCategory::Server),
            (service("DecryptionFailure"), ErrorCategory::Config),
            (AwsRequestError::Timeout("after 3 s".into()), ErrorCategory::Network),
            (AwsRequestError::Construction("no region".into()), ErrorCategory::Config),
        ];
        for (err, want) in table {
            let e = request_error(&r, err);
            assert_eq!(e.category, want, "{}", e.message);
            assert!(
                e.message.starts_with("reading secret ") && e.message.contains("/ferry/jira-token"),
                "{}",
                e.message
            );
        }
    }
}
