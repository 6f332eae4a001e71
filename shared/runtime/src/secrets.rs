//! Secret resolution. Config holds only references; values live in the process
//! environment (embedded runtime) or SSM / Secrets Manager (AWS runtime), and never
//! appear in errors or logs.

use async_trait::async_trait;
use ferry_domain::{ErrorCategory, PortError, SecretRef};
use secrecy::SecretString;
use std::collections::HashMap;

#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn resolve(&self, reference: &SecretRef) -> Result<SecretString, PortError>;

    /// The value as it is at its source now, past any cache (which it updates): asked
    /// after a system refused the resolved value, e.g. a token rotated meanwhile.
    async fn refresh(&self, reference: &SecretRef) -> Result<SecretString, PortError> {
        self.resolve(reference).await
    }
}

/// Environment variables; SSM and Secrets Manager references need the AWS backend.
#[derive(Debug, Default, Clone)]
pub struct EnvSecrets;

#[async_trait]
impl SecretSource for EnvSecrets {
    async fn resolve(&self, reference: &SecretRef) -> Result<SecretString, PortError> {
        match reference {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
                _ => Err(PortError::new(
                    ErrorCategory::Config,
                    format!("secret {reference} is not set: export the environment variable {name}"),
                )),
            },
            SecretRef::Ssm(_) | SecretRef::SecretsManager(_) => Err(PortError::new(
                ErrorCategory::Config,
                format!(
                    "secret {reference} lives in AWS; the embedded runtime reads secrets from environment variables: use {{ env: NAME }} here"
                ),
            )),
        }
    }
}

/// Fixed values by reference (the demo and tests), falling back to another source.
pub struct StaticSecrets<F: SecretSource> {
    values: HashMap<SecretRef, SecretString>,
    fallback: F,
}

impl<F: SecretSource> StaticSecrets<F> {
    pub fn new(fallback: F) -> Self {
        Self { values: HashMap::new(), fallback }
    }
    pub fn with(mut self, reference: SecretRef, value: &str) -> Self {
        self.values.insert(reference, SecretString::from(value.to_string()));
        self
    }
}

#[async_trait]
impl<F: SecretSource> SecretSource for StaticSecrets<F> {
    async fn resolve(&self, reference: &SecretRef) -> Result<SecretString, PortError> {
        match self.values.get(reference) {
            Some(v) => Ok(v.clone()),
            None => self.fallback.resolve(reference).await,
        }
    }

    async fn refresh(&self, reference: &SecretRef) -> Result<SecretString, PortError> {
        match self.values.get(reference) {
            Some(v) => Ok(v.clone()),
            None => self.fallback.refresh(reference).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[tokio::test]
    async fn missing_env_secret_names_the_variable_not_a_value() {
        let e = EnvSecrets.resolve(&SecretRef::Env("FERRY_TEST_SURELY_UNSET_VAR".into())).await.unwrap_err();
        assert!(e.message.contains("FERRY_TEST_SURELY_UNSET_VAR"), "{}", e.message);
    }

    #[tokio::test]
    async fn static_secrets_take_precedence_then_fall_back() {
        let s = StaticSecrets::new(EnvSecrets).with(SecretRef::Env("X_TOKEN".into()), "s3cret");
        assert_eq!(s.resolve(&SecretRef::Env("X_TOKEN".into())).await.unwrap().expose_secret(), "s3cret");
        let e = s.resolve(&SecretRef::Ssm("/p".into())).await.unwrap_err();
        assert!(!e.message.contains("s3cret"));
    }
}
