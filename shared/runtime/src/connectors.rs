//! Builds connectors for configured systems, one per system, reused across calls.

use crate::refreshing::Refreshing;
use crate::secrets::SecretSource;
use crate::RuntimeError;
use async_trait::async_trait;
use ferry_connectors::ado::AdoConnector;
use ferry_connectors::governor::Governors;
use ferry_connectors::http::{AllowedHosts, HttpOptions};
use ferry_connectors::jira::JiraConnector;
use ferry_connectors::redmine::RedmineConnector;
use ferry_domain::ports::{Connector, ConnectorFactory, PortResult, RateLimitStore};
use ferry_domain::{CaCert, ErrorCategory, PortError, SecretRef, SystemConfig, SystemKind};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The transport settings operators give through the environment, read once where a
/// runtime is built: [`ferry_connectors::http::ALLOWED_HOSTS_VAR`] (the host
/// allow-list). A malformed value stops start-up with a message naming the entry.
pub fn http_options_from_env() -> Result<HttpOptions, RuntimeError> {
    let allowed_hosts = AllowedHosts::from_env()?;
    Ok(HttpOptions { allowed_hosts, ..HttpOptions::default() })
}

/// Connectors by system id, with the config they were built from (a changed config
/// builds a new one).
type Built = HashMap<String, (SystemConfig, Arc<dyn Connector>)>;

/// What a connector is built from: the secret source, the transport settings and the
/// systems' rate-limit governors.
#[derive(Clone)]
pub(crate) struct Builder {
    pub(crate) secrets: Arc<dyn SecretSource>,
    http: HttpOptions,
    governors: Option<Arc<Governors>>,
}

impl Builder {
    /// A connector for `system` authenticating with `secret`.
    pub(crate) async fn build_with(
        &self,
        system: &SystemConfig,
        secret: SecretString,
    ) -> PortResult<Arc<dyn Connector>> {
        let opts = self.options(system).await?;
        Ok(match system.kind {
            SystemKind::Jira => Arc::new(JiraConnector::new(system, secret, opts)?),
            SystemKind::AzureDevops => Arc::new(AdoConnector::new(system, secret, opts)?),
            SystemKind::Redmine => Arc::new(RedmineConnector::new(system, secret, opts)?),
        })
    }

    /// The transport settings of `system`.
    async fn options(&self, system: &SystemConfig) -> PortResult<HttpOptions> {
        let mut opts = self.http.clone();
        opts.allow_http_loopback = system.allow_http_loopback;
        opts.proxy = system.proxy.clone();
        opts.governor = self.governors.as_ref().and_then(|g| g.of(system));
        if let Some(ca) = &system.ca_cert {
            opts.ca_cert_pem = Some(self.ca_pem(system.id.as_str(), ca).await?);
        }
        Ok(opts)
    }

    /// The PEM of system `system`'s extra CAs, wherever the config says it lives.
    pub(crate) async fn ca_pem(&self, system: &str, ca: &CaCert) -> PortResult<Vec<u8>> {
        let reference = match ca {
            CaCert::Pem(pem) => return Ok(pem.as_bytes().to_vec()),
            CaCert::File(path) => {
                return std::fs::read(path).map_err(|e| {
                    PortError::new(ErrorCategory::Config, format!("system {system}: CA certificate {path:?}: {e}"))
                })
            }
            CaCert::Ssm(name) => SecretRef::Ssm(name.clone()),
            CaCert::SecretsManager(id) => SecretRef::SecretsManager(id.clone()),
        };
        let pem = self
            .secrets
            .resolve(&reference)
            .await
            .map_err(|e| PortError { message: format!("system {system}: CA certificate: {}", e.message), ..e })?;
        Ok(pem.expose_secret().as_bytes().to_vec())
    }
}

/// A connector that manages a system's webhook subscriptions.
pub enum HookAdmin {
    Jira(JiraConnector),
    Ado(AdoConnector),
}

pub struct Connectors {
    builder: Builder,
    cache: Mutex<Built>,
}

impl Connectors {
    /// Connectors without rate-limit governors: requests go out unpaced (a person acting
    /// in a test or the demo, a tool's own look-ups).
    pub fn new(secrets: Arc<dyn SecretSource>, http: HttpOptions) -> Self {
        Self { builder: Builder { secrets, http, governors: None }, cache: Mutex::new(HashMap::new()) }
    }

    /// Paces every request to a system by its `rate_limit` (or its kind's default), from
    /// buckets in `store` that every process of the runtime shares
    /// ([`ferry_connectors::governor`]).
    pub fn with_governors(mut self, store: Arc<dyn RateLimitStore>) -> Self {
        self.builder.governors = Some(Arc::new(Governors::new(store)));
        self
    }

    /// Where this runtime's secrets come from (the webhooks' secrets too).
    pub fn secrets(&self) -> Arc<dyn SecretSource> {
        self.builder.secrets.clone()
    }

    /// The PEM of the extra CAs `ca` of system `system` (a source-control system's too),
    /// wherever the config says it lives.
    pub async fn ca_pem(&self, system: &str, ca: &CaCert) -> PortResult<Vec<u8>> {
        self.builder.ca_pem(system, ca).await
    }

    /// The system's own connector, for what only its kind has: the webhook
    /// subscriptions `ferry activate` registers. `None` for a kind without webhooks.
    pub async fn hook_admin(&self, system: &SystemConfig) -> PortResult<Option<HookAdmin>> {
        let secret = self.builder.secrets.resolve(system.auth.token()).await?;
        let opts = self.builder.options(system).await?;
        Ok(match system.kind {
            SystemKind::Jira => Some(HookAdmin::Jira(JiraConnector::new(system, secret, opts)?)),
            SystemKind::AzureDevops => Some(HookAdmin::Ado(AdoConnector::new(system, secret, opts)?)),
            SystemKind::Redmine => None,
        })
    }

    /// Builds a connector without caching (e.g. acting as another user in the demo).
    pub async fn build(&self, system: &SystemConfig) -> PortResult<Arc<dyn Connector>> {
        let secret = self.builder.secrets.resolve(system.auth.token()).await?;
        self.builder.build_with(system, secret).await
    }
}

#[async_trait]
impl ConnectorFactory for Connectors {
    /// The system's connector, which survives a rotated token ([`Refreshing`]).
    async fn connector(&self, system: &SystemConfig) -> PortResult<Arc<dyn Connector>> {
        if let Ok(cache) = self.cache.lock() {
            if let Some((cfg, conn)) = cache.get(system.id.as_str()) {
                if cfg == system {
                    return Ok(conn.clone());
                }
            }
        }
        let secret = self.builder.secrets.resolve(system.auth.token()).await?;
        let inner = self.builder.build_with(system, secret.clone()).await?;
        let conn: Arc<dyn Connector> = Arc::new(Refreshing::new(self.builder.clone(), system.clone(), inner, secret));
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(system.id.to_string(), (system.clone(), conn.clone()));
        }
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EnvSecrets, StaticSecrets};
    use ferry_domain::{AuthConfig, SystemId};

    const CA: &str = include_str!("../../connectors/tests/fixtures/tls/ca.pem");

    fn system(ca: CaCert) -> SystemConfig {
        SystemConfig {
            id: SystemId::parse("jira").unwrap(),
            kind: SystemKind::Jira,
            base_url: "https://acme.atlassian.net".into(),
            identity_url: None,
            auth: AuthConfig::Basic { username: "bot@acme.test".into(), token: SecretRef::Env("T".into()) },
            integration_user: None,
            proxy: None,
            ca_cert: Some(ca),
            allow_http_loopback: false,
            webhook: None,
            rate_limit: None,
        }
    }

    #[tokio::test]
    async fn a_ca_certificate_is_read_inline_or_from_where_it_lives() {
        let secrets = StaticSecrets::new(EnvSecrets)
            .with(SecretRef::Env("T".into()), "token")
            .with(SecretRef::Ssm("/ferry/ca".into()), CA)
            .with(SecretRef::SecretsManager("ferry/ca".into()), CA)
            .with(SecretRef::Ssm("/ferry/not-a-ca".into()), "hello");
        let connectors = Connectors::new(Arc::new(secrets), HttpOptions::default());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, CA).unwrap();
        for ca in [
            CaCert::Pem(CA.into()),
            CaCert::Ssm("/ferry/ca".into()),
            CaCert::SecretsManager("ferry/ca".into()),
            CaCert::File(file.display().to_string()),
        ] {
            connectors.build(&system(ca.clone())).await.unwrap_or_else(|e| panic!("{ca:?}: {e}"));
        }
        // What the reference holds is what the TLS client trusts: not a PEM, no connector.
        let e = connectors.build(&system(CaCert::Ssm("/ferry/not-a-ca".into()))).await.err().unwrap();
        assert_eq!(e.category, ErrorCategory::Config);
        assert!(e.message.contains("CA certificate"), "{e}");
        let e = connectors.build(&system(CaCert::Ssm("/ferry/unknown".into()))).await.err().unwrap();
        assert!(e.message.contains("system jira: CA certificate"), "{e}");
    }
}
