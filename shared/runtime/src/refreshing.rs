//! A connector that survives a rotated token.
//!
//! Secrets are cached (for a Lambda container's life, or a TTL), so after an operator
//! rotates a PAT or API token every warm process would keep sending the revoked one and
//! park each event as `auth`. On an `auth` failure this wrapper reads the secret again
//! past every cache; when it changed, the connector is rebuilt with it and the call is
//! made once more. A create is the exception: it may have written before the failure
//! (the entity exists, a later step was refused), so it is handed back as a transient
//! error and the engine's retry, which looks for an earlier create first, makes it.
//! An unchanged secret means the token really is refused: the error stands.

use crate::connectors::Builder;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_domain::ports::{ChangePage, ChangeQuery, Connector, PortResult, ReadToken};
use ferry_domain::{Attachment, ByteSink, ByteSource, Capabilities, Comment, CommentWrite, Relation};
use ferry_domain::{
    EntityId, EntityRef, EntitySnapshot, EntityTypeInfo, ErrorCategory, FieldChange, FieldInfo, FieldKey, HistoryEntry,
    PortError, ProjectInfo, RemoteLink, Scope, SystemConfig, SystemKind, Updated, UserRef,
};
use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use std::sync::{Arc, RwLock};

pub(crate) struct Refreshing {
    builder: Builder,
    system: SystemConfig,
    kind: SystemKind,
    /// The connector in use and the secret it was built with.
    current: RwLock<(Arc<dyn Connector>, SecretString)>,
}

/// What to do with a call refused as `auth` once a new secret is in place.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Again {
    /// Make the call again (reads, and writes that may repeat).
    Now,
    /// Hand a transient error back (a create, which may have happened already).
    Later,
}

impl Refreshing {
    pub(crate) fn new(builder: Builder, system: SystemConfig, inner: Arc<dyn Connector>, secret: SecretString) -> Self {
        let kind = inner.kind();
        Self { builder, system, kind, current: RwLock::new((inner, secret)) }
    }

    fn current(&self) -> Arc<dyn Connector> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    async fn call<T, F, Fut>(&self, again: Again, f: F) -> PortResult<T>
    where
        F: Fn(Arc<dyn Connector>) -> Fut,
        Fut: Future<Output = PortResult<T>>,
    {
        let used = self.current();
        let e = match f(used.clone()).await {
            Err(e) if e.category == ErrorCategory::Auth => e,
            other => return other,
        };
        let Some(fresh) = self.renewed(&used).await? else { return Err(e) };
        match again {
            Again::Now => f(fresh).await,
            Again::Later => Err(PortError::new(
                ErrorCategory::Server,
                format!(
                    "system {}: the token was refused and has been replaced by a newer one; the write is tried again",
                    self.system.id
                ),
            )),
        }
    }

    /// The outcome of a call that cannot be made again (it consumed a stream): on a
    /// refused token a newer secret is put in place for the next call and the call is
    /// handed back as transient, for the engine's retry.
    async fn refresh_after<T>(&self, used: &Arc<dyn Connector>, result: PortResult<T>) -> PortResult<T> {
        match result {
            Err(e) if e.category == ErrorCategory::Auth => match self.renewed(used).await? {
                Some(_) => Err(PortError::new(
                    ErrorCategory::Server,
                    format!(
                        "system {}: the token was refused and has been replaced by a newer one; the transfer is tried again",
                        self.system.id
                    ),
                )),
                None => Err(e),
            },
            other => other,
        }
    }

    /// A connector with a newer secret than the one `used` was built with, or `None`
    /// when the secret has not changed.
    async fn renewed(&self, used: &Arc<dyn Connector>) -> PortResult<Option<Arc<dyn Connector>>> {
        let known = {
            let cur = self.current.read().unwrap_or_else(|p| p.into_inner());
            if !Arc::ptr_eq(&cur.0, used) {
                // Another call renewed it meanwhile.
                return Ok(Some(cur.0.clone()));
            }
            cur.1.clone()
        };
        let secret = self.builder.secrets.refresh(self.system.auth.token()).await?;
        if secret.expose_secret() == known.expose_secret() {
            return Ok(None);
        }
        let fresh = self.builder.build_with(&self.system, secret.clone()).await?;
        tracing::info!(system = %self.system.id, "the system refused the token; a newer one was read and is used from now on");
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (fresh.clone(), secret);
        Ok(Some(fresh))
    }
}

#[async_trait]
impl Connector for Refreshing {
    fn kind(&self) -> SystemKind {
        self.kind
    }

    async fn changes(
        &self,
        scope: &Scope,
        query: &ChangeQuery<'_>,
        from: Option<&ReadToken>,
    ) -> PortResult<ChangePage> {
        self.call(Again::Now, |c| async move { c.changes(scope, query, from).await }).await
    }

    async fn get(&self, scope: &Scope, id: &EntityId, fields: &[FieldKey]) -> PortResult<Option<EntitySnapshot>> {
        self.call(Again::Now, |c| async move { c.get(scope, id, fields).await }).await
    }

    async fn get_many(&self, scope: &Scope, ids: &[EntityId], fields: &[FieldKey]) -> PortResult<Vec<EntitySnapshot>> {
        self.call(Again::Now, |c| async move { c.get_many(scope, ids, fields).await }).await
    }

    async fn create(&self, scope: &Scope, changes: &[FieldChange]) -> PortResult<EntityRef> {
        self.call(Again::Later, |c| async move { c.create(scope, changes).await }).await
    }

    /// Made again at once: the same values with the same expected revision (a write
    /// that went through before the refusal makes the guard fail as a conflict).
    async fn update(
        &self,
        scope: &Scope,
        id: &EntityId,
        changes: &[FieldChange],
        expected_revision: Option<&str>,
        fields: &[FieldKey],
    ) -> PortResult<Updated> {
        self.call(Again::Now, |c| async move { c.update(scope, id, changes, expected_revision, fields).await }).await
    }

    fn atomic_updates(&self) -> bool {
        self.current().atomic_updates()
    }

    async fn history(
        &self,
        scope: &Scope,
        id: &EntityId,
        after: Option<&str>,
        through: &str,
        fields: &[FieldKey],
    ) -> PortResult<Vec<HistoryEntry>> {
        self.call(Again::Now, |c| async move { c.history(scope, id, after, through, fields).await }).await
    }

    async fn last_changes(
        &self,
        scope: &Scope,
        id: &EntityId,
        through: &str,
        fields: &[FieldKey],
    ) -> PortResult<Vec<HistoryEntry>> {
        self.call(Again::Now, |c| async move { c.last_changes(scope, id, through, fields).await }).await
    }

    async fn confirm_deleted(&self, scope: &Scope, id: &EntityId) -> PortResult<()> {
        self.call(Again::Now, |c| async move { c.confirm_deleted(scope, id).await }).await
    }

    fn capabilities(&self) -> Capabilities {
        self.current().capabilities()
    }

    async fn comments(&self, scope: &Scope, id: &EntityId) -> PortResult<Vec<Comment>> {
        self.call(Again::Now, |c| async move { c.comments(scope, id).await }).await
    }

    /// Handed back on a refused secret: the comment may have been posted.
    async fn add_comment(&self, scope: &Scope, id: &EntityId, comment: &CommentWrite) -> PortResult<Comment> {
        self.call(Again::Later, |c| async move { c.add_comment(scope, id, comment).await }).await
    }

    async fn edit_comment(
        &self,
        scope: &Scope,
        id: &EntityId,
        comment_id: &str,
        comment: &CommentWrite,
    ) -> PortResult<Comment> {
        self.call(Again::Now, |c| async move { c.edit_comment(scope, id, comment_id, comment).await }).await
    }

    async fn delete_comment(&self, scope: &Scope, id: &EntityId, comment_id: &str) -> PortResult<()> {
        self.call(Again::Now, |c| async move { c.delete_comment(scope, id, comment_id).await }).await
    }

    async fn attachments(&self, scope: &Scope, id: &EntityId) -> PortResult<Vec<Attachment>> {
        self.call(Again::Now, |c| async move { c.attachments(scope, id).await }).await
    }

    /// Not made again: the sink may hold part of the bytes; the engine's retry starts over.
    async fn download(
        &self,
        scope: &Scope,
        id: &EntityId,
        attachment: &Attachment,
        sink: &mut dyn ByteSink,
    ) -> PortResult<u64> {
        let c = self.current();
        let r = c.download(scope, id, attachment, sink).await;
        self.refresh_after(&c, r).await
    }

    /// Not made again: the source has been read from.
    async fn upload(
        &self,
        scope: &Scope,
        id: &EntityId,
        name: &str,
        size: u64,
        source: &mut dyn ByteSource,
    ) -> PortResult<Attachment> {
        let c = self.current();
        let r = c.upload(scope, id, name, size, source).await;
        self.refresh_after(&c, r).await
    }

    async fn delete_attachment(&self, scope: &Scope, id: &EntityId, attachment_id: &str) -> PortResult<()> {
        self.call(Again::Now, |c| async move { c.delete_attachment(scope, id, attachment_id).await }).await
    }

    async fn relations(&self, scope: &Scope, id: &EntityId) -> PortResult<Vec<Relation>> {
        self.call(Again::Now, |c| async move { c.relations(scope, id).await }).await
    }

    async fn add_relation(&self, scope: &Scope, id: &EntityId, relation: &Relation) -> PortResult<()> {
        self.call(Again::Now, |c| async move { c.add_relation(scope, id, relation).await }).await
    }

    async fn remove_relation(&self, scope: &Scope, id: &EntityId, relation: &Relation) -> PortResult<()> {
        self.call(Again::Now, |c| async move { c.remove_relation(scope, id, relation).await }).await
    }

    async fn find_by_field(&self, scope: &Scope, field: &FieldKey, value: &str) -> PortResult<Option<EntityRef>> {
        self.call(Again::Now, |c| async move { c.find_by_field(scope, field, value).await }).await
    }

    /// Idempotent by the link's global id.
    async fn upsert_remote_link(&self, scope: &Scope, id: &EntityId, link: &RemoteLink) -> PortResult<()> {
        self.call(Again::Now, |c| async move { c.upsert_remote_link(scope, id, link).await }).await
    }

    async fn last_updated(&self, scope: &Scope) -> PortResult<Option<DateTime<Utc>>> {
        self.call(Again::Now, |c| async move { c.last_updated(scope).await }).await
    }

    async fn validate_filter(&self, scope: &Scope, condition: &str) -> PortResult<()> {
        self.call(Again::Now, |c| async move { c.validate_filter(scope, condition).await }).await
    }

    async fn integration_user(&self) -> PortResult<UserRef> {
        self.call(Again::Now, |c| async move { c.integration_user().await }).await
    }

    async fn find_user_by_email(&self, email: &str) -> PortResult<Option<UserRef>> {
        self.call(Again::Now, |c| async move { c.find_user_by_email(email).await }).await
    }

    async fn projects(&self) -> PortResult<Vec<ProjectInfo>> {
        self.call(Again::Now, |c| async move { c.projects().await }).await
    }

    async fn entity_types(&self, project: &str) -> PortResult<Vec<EntityTypeInfo>> {
        self.call(Again::Now, |c| async move { c.entity_types(project).await }).await
    }

    async fn fields(&self, scope: &Scope) -> PortResult<Vec<FieldInfo>> {
        self.call(Again::Now, |c| async move { c.fields(scope).await }).await
    }

    async fn users(&self, project: &str) -> PortResult<Vec<UserRef>> {
        self.call(Again::Now, |c| async move { c.users(project).await }).await
    }
}

#[cfg(test)]
mod tests {
    use crate::{Connectors, EnvSecrets};
    use ferry_domain::ports::ConnectorFactory;
    use ferry_domain::{
        AuthConfig, EntityId, ErrorCategory, FieldChange, FieldKey, FieldValue, Scope, SecretRef, SystemConfig,
        SystemId, SystemKind,
    };
    use ferry_sim::{JiraSeed, JiraSim};
    use std::sync::Arc;

    const BOT: &str = "ferry-bot@acme.test";

    fn jira(sim: &JiraSim, var: &str) -> SystemConfig {
        SystemConfig {
            id: SystemId::parse("jira").unwrap(),
            kind: SystemKind::Jira,
            base_url: sim.base_url(),
            identity_url: None,
            auth: AuthConfig::Basic { username: BOT.into(), token: SecretRef::Env(var.into()) },
            integration_user: Some(BOT.into()),
            proxy: None,
            ca_cert: None,
            allow_http_loopback: true,
            webhook: None,
            rate_limit: None,
        }
    }

    fn summary(s: &str) -> Vec<FieldChange> {
        vec![FieldChange { field: FieldKey::new("summary"), value: FieldValue::Text(s.into()) }]
    }

    #[tokio::test]
    async fn a_rotated_token_is_read_again_and_the_call_made_once_more() {
        let var = "FERRY_REFRESHING_TEST_TOKEN_A";
        std::env::set_var(var, "jira-bot-token");
        let sim = JiraSim::start(JiraSeed::demo()).await.unwrap();
        let connectors = Connectors::new(Arc::new(EnvSecrets), Default::default());
        let conn = connectors.connector(&jira(&sim, var)).await.unwrap();
        let bugs = Scope { project: "APP".into(), entity_type: "Bug".into() };
        let made = conn.create(&bugs, &summary("before")).await.unwrap();

        sim.rotate_token(BOT, "jira-bot-token-2");
        std::env::set_var(var, "jira-bot-token-2");
        let read = conn.get(&bugs, &made.id, &[FieldKey::new("summary")]).await.unwrap();
        assert!(read.is_some(), "the read went through with the new token");

        // A create refused for its token may have written already: it is handed back
        // as a transient error, and the retry uses the new token.
        sim.rotate_token(BOT, "jira-bot-token-3");
        std::env::set_var(var, "jira-bot-token-3");
        let e = conn.create(&bugs, &summary("after")).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
        conn.create(&bugs, &summary("after")).await.unwrap();
        assert_eq!(sim.issue_keys("APP").len(), 2, "one create each");
    }

    #[tokio::test]
    async fn an_unchanged_secret_that_is_refused_stays_an_auth_error() {
        let var = "FERRY_REFRESHING_TEST_TOKEN_B";
        std::env::set_var(var, "jira-bot-token");
        let sim = JiraSim::start(JiraSeed::demo()).await.unwrap();
        let connectors = Connectors::new(Arc::new(EnvSecrets), Default::default());
        let conn = connectors.connector(&jira(&sim, var)).await.unwrap();
        sim.rotate_token(BOT, "somebody-elses-new-token");
        let bugs = Scope { project: "APP".into(), entity_type: "Bug".into() };
        let e = conn.get(&bugs, &EntityId::new("10000"), &[]).await.unwrap_err();
        assert_eq!(e.category, ErrorCategory::Auth, "{e}");
    }
}
