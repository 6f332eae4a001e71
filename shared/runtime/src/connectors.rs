//! Builds connectors for configured systems, one per system, reused across calls.

use crate::secrets::SecretSource;
use async_trait::async_trait;
use ferry_connectors::ado::AdoConnector;
use ferry_connectors::http::{AllowedHosts, HttpOptions};
use ferry_connectors::jira::JiraConnector;
use ferry_connectors::redmine::RedmineConnector;
use ferry_domain::ports::{Connector, ConnectorFactory, PortResult};
use ferry_domain::{ErrorCategory, PortError, SystemConfig, SystemKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The transport settings operators give through the environment, read once where a
/// runtime is built: [`ferry_connectors::http::ALLOWED_HOSTS_VAR`] (the host
/// allow-list). A malformed value stops start-up with a message naming the entry.
pub fn http_options_from_env() -> Result<HttpOptions, PortError> {
    let allowed_hosts = AllowedHosts::from_env().map_err(|e| PortError::new(ErrorCategory::Config, e.to_string()))?;
    Ok(HttpOptions { allowed_hosts, ..HttpOptions::default() })
}

/// Connectors by system id, with the config they were built from (a changed config
/// builds a new one).
type Built = HashMap<String, (SystemConfig, Arc<dyn Connector>)>;

pub struct Connectors {
    secrets: Arc<dyn SecretSource>,
    http: HttpOptions,
    cache: Mutex<Built>,
}

impl Connectors {
    pub fn new(secrets: Arc<dyn SecretSource>, http: HttpOptions) -> Self {
        Self { secrets, http, cache: Mutex::new(HashMap::new()) }
    }

    /// Builds a connector without caching (e.g. acting as another user in the demo).
    pub async fn build(&self, system: &SystemConfig) -> PortResult<Arc<dyn Connector>> {
        let secret = self.secrets.resolve(system.auth.token()).await?;
        let mut opts = self.http.clone();
        opts.allow_http_loopback = system.allow_http_loopback;
        opts.proxy = system.proxy.clone();
        if let Some(path) = &system.ca_cert {
            opts.ca_cert_pem = Some(std::fs::read(path).map_err(|e| {
                PortError::new(ErrorCategory::Config, format!("system {}: CA certificate {path:?}: {e}", system.id))
            })?);
        }
        Ok(match system.kind {
            SystemKind::Jira => Arc::new(JiraConnector::new(system, secret, opts)?),
            SystemKind::AzureDevops => Arc::new(AdoConnector::new(system, secret, opts)?),
            SystemKind::Redmine => Arc::new(RedmineConnector::new(system, secret, opts)?),
        })
    }
}

#[async_trait]
impl ConnectorFactory for Connectors {
    async fn connector(&self, system: &SystemConfig) -> PortResult<Arc<dyn Connector>> {
        if let Ok(cache) = self.cache.lock() {
            if let Some((cfg, conn)) = cache.get(system.id.as_str()) {
                if cfg == system {
                    return Ok(conn.clone());
                }
            }
        }
        let conn = self.build(system).await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(system.id.to_string(), (system.clone(), conn.clone()));
        }
        Ok(conn)
    }
}
