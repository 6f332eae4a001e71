//! A person acting on a system through its REST API, with their own credentials:
//! the demo, the end-to-end tests and the benchmarks make changes this way, so
//! every change carries a real author (changed-by) as it would in production.

use crate::connectors::Connectors;
use ferry_domain::ports::Connector;
use ferry_domain::{
    AuthConfig, EntityId, EntityRef, EntitySnapshot, FieldChange, FieldKey, FieldValue, PortError, Scope, SecretRef,
    SystemConfig, SystemKind,
};
use std::sync::Arc;

pub struct Actor {
    pub conn: Arc<dyn Connector>,
    pub scope: Scope,
}

impl Actor {
    /// `secret` names the reference the connectors' secret source resolves to this
    /// person's token.
    pub async fn new(
        connectors: &Connectors,
        system: &SystemConfig,
        email: &str,
        secret: SecretRef,
        scope: Scope,
    ) -> Result<Self, PortError> {
        let mut cfg = system.clone();
        cfg.auth = match cfg.kind {
            SystemKind::Jira => AuthConfig::Basic { username: email.into(), token: secret },
            SystemKind::AzureDevops => AuthConfig::Pat { token: secret },
            SystemKind::Redmine => AuthConfig::ApiKey { token: secret },
        };
        cfg.integration_user = Some(email.into());
        Ok(Self { conn: connectors.build(&cfg).await?, scope })
    }

    pub async fn create(&self, fields: Vec<(&str, FieldValue)>) -> Result<EntityRef, PortError> {
        self.conn.create(&self.scope, &changes(fields)).await
    }

    pub async fn update(&self, id: &EntityId, fields: Vec<(&str, FieldValue)>) -> Result<EntityRef, PortError> {
        self.conn.update(&self.scope, id, &changes(fields), None, &[]).await.map(|u| u.target)
    }

    pub async fn get(&self, id: &EntityId) -> Result<Option<EntitySnapshot>, PortError> {
        self.conn.get(&self.scope, id, &[]).await
    }
}

fn changes(fields: Vec<(&str, FieldValue)>) -> Vec<FieldChange> {
    fields.into_iter().map(|(k, v)| FieldChange { field: FieldKey::new(k), value: v }).collect()
}
