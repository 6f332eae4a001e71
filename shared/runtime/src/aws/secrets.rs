//! Secrets on AWS: environment variables, SSM Parameter Store (SecureString) and
//! Secrets Manager. A fetched value is reused for [`SECRET_TTL`], so a warm Lambda
//! picks up a rotated token within that time even if the old one still works; a
//! system refusing the cached value makes the connector ask again at once
//! ([`SecretSource::refresh`]).

use crate::secrets::SecretSource;
use async_trait::async_trait;
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use ferry_domain::{ErrorCategory, PortError, SecretRef};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a fetched secret is reused before it is fetched again.
pub const SECRET_TTL: Duration = Duration::from_secs(300);

pub struct AwsSecrets {
    ssm: aws_sdk_ssm::Client,
    secrets_manager: aws_sdk_secretsmanager::Client,
    ttl: Duration,
    cache: Mutex<HashMap<SecretRef, (SecretString, Instant)>>,
}

impl AwsSecrets {
    pub fn new(ssm: aws_sdk_ssm::Client, secrets_manager: aws_sdk_secretsmanager::Client) -> Self {
        Self { ssm, secrets_manager, ttl: SECRET_TTL, cache: Mutex::new(HashMap::new()) }
    }

    /// Reuse fetched values for `ttl` instead of [`SECRET_TTL`].
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn from_conf(sdk: &aws_types::sdk_config::SdkConfig) -> Self {
        Self::new(aws_sdk_ssm::Client::new(sdk), aws_sdk_secretsmanager::Client::new(sdk))
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
                let out = self
                    .ssm
                    .get_parameter()
                    .name(name)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|e| sdk_error(reference, &e))?;
                out.parameter
                    .and_then(|p| p.value)
                    .filter(|v| !v.is_empty())
                    .map(SecretString::from)
                    .ok_or_else(|| PortError::new(ErrorCategory::Config, format!("secret {reference} has no value")))
            }
            SecretRef::SecretsManager(id) => {
                let out = self
                    .secrets_manager
                    .get_secret_value()
                    .secret_id(id)
                    .send()
                    .await
                    .map_err(|e| sdk_error(reference, &e))?;
                if let Some(s) = out.secret_string.filter(|s| !s.is_empty()) {
                    return Ok(SecretString::from(s));
                }
                let binary = out.secret_binary.map(|b| b.into_inner()).unwrap_or_default();
                match String::from_utf8(binary) {
                    Ok(s) if !s.is_empty() => Ok(SecretString::from(s)),
                    Ok(_) => Err(PortError::new(ErrorCategory::Config, format!("secret {reference} has no value"))),
                    Err(_) => Err(PortError::new(
                        ErrorCategory::Config,
                        format!("secret {reference} is binary and not UTF-8 text: store the token as a string"),
                    )),
                }
            }
        }
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

/// Classifies an SDK failure. AWS error codes and messages name the parameter or
/// secret, never its value, so they are safe to show.
fn sdk_error<E: ProvideErrorMetadata, R>(reference: &SecretRef, err: &SdkError<E, R>) -> PortError {
    let (category, detail) = match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            (ErrorCategory::Network, "the service could not be reached".to_string())
        }
        _ => {
            let code = err.code().unwrap_or("unknown error");
            let category = match code {
                "ParameterNotFound" | "ParameterVersionNotFound" | "ResourceNotFoundException" => ErrorCategory::Config,
                "AccessDeniedException" | "AccessDenied" | "KMSAccessDeniedException" => ErrorCategory::Permission,
                "UnrecognizedClientException" | "InvalidSignatureException" | "ExpiredTokenException" => {
                    ErrorCategory::Auth
                }
                "ThrottlingException" | "TooManyUpdates" | "RequestLimitExceeded" => ErrorCategory::RateLimited,
                "InternalServerError" | "InternalServiceError" | "InternalFailure" | "ServiceUnavailable" => {
                    ErrorCategory::Server
                }
                _ => ErrorCategory::Config,
            };
            let message = err.message().map(|m| format!(": {m}")).unwrap_or_default();
            (category, format!("{code}{message}"))
        }
    };
    PortError::new(category, format!("reading secret {reference}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
    use secrecy::ExposeSecret;

    /// Clients aimed at a closed loopback port: every AWS call fails to connect.
    fn unreachable() -> AwsSecrets {
        let creds = Credentials::new("test", "test", None, None, "test");
        let ssm = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(creds.clone())
            .endpoint_url("http://127.0.0.1:9")
            .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
            .http_client(crate::aws::http::sdk_http_client())
            .build();
        let sm = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .endpoint_url("http://127.0.0.1:9")
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .http_client(crate::aws::http::sdk_http_client())
            .build();
        AwsSecrets::new(aws_sdk_ssm::Client::from_conf(ssm), aws_sdk_secretsmanager::Client::from_conf(sm))
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
}
