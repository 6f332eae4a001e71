//! Jira Cloud REST v3 connector.
//!
//! Reads go through `POST /rest/api/3/search/jql` (token paging, no totals) and
//! `GET /issue/{id}`; rich text is converted between ADF and HTML at this edge
//! ([`crate::adf`]); status changes go through workflow transitions, several hops if
//! needed. Jira has no optimistic concurrency on edits, so `expected_revision` is
//! ignored: the engine's fingerprint and revision checks carry that role.
//!
//! One job per file:
//! - `wire`: the response shapes Ferry reads (from the official spec) and their decoding;
//! - `api`: URLs under `/rest/api/3` and typed requests;
//! - `catalog`: what Ferry caches about the site (profile zone, fields, issue types, statuses);
//! - `search`: reads by JQL, paged by token (changes, find by field, newest);
//! - `snapshot`: an issue as Ferry's snapshot, and who changed it last;
//! - `write`: creating and editing issues;
//! - `transitions`: where a transition path is chosen (pure); `workflow`: walking it;
//! - `history`: an issue's changes in a revision window, from its changelog;
//! - `users`: the integration user and look-ups by e-mail;
//! - `discovery`: projects, issue types and fields for `ferry discover`;
//! - `comments`, `attachments`, `relations`: the collaboration reads and writes
//!   (`collab_wire` their response shapes), `media`: which attachment an ADF image shows;
//! - `schema`, `values`, `time`, `jql`, `errors`: field kinds, value conversion,
//!   timestamps, JQL and error answers.
//! - `issue_writes`, `repeatable`: which requests write to an existing issue (for the
//!   rate-limit governor), and which `POST`s are sent again after an answer was lost.

mod api;
mod attachments;
mod catalog;
mod collab_wire;
mod comments;
mod discovery;
mod errors;
mod history;
pub mod issue_writes;
mod jql;
mod media;
mod relations;
pub(crate) mod repeatable;
mod schema;
mod search;
#[cfg(test)]
mod sim_tests;
mod snapshot;
mod time;
mod transitions;
mod users;
mod values;
mod webhooks;
mod wire;
mod workflow;
mod write;

use crate::http::{Auth, Http, HttpOptions};
use async_trait::async_trait;
use catalog::Catalog;
use chrono::{DateTime, Utc};
use ferry_domain::ports::{ChangePage, ChangeQuery, Connector, PortResult, ReadToken};
use ferry_domain::{Attachment, ByteSink, ByteSource, Capabilities, Comment, CommentWrite, Relation};
use ferry_domain::{
    AuthConfig, EntityId, EntityRef, EntitySnapshot, EntityTypeInfo, ErrorCategory, FieldChange, FieldInfo, FieldKey,
    HistoryEntry, PortError, ProjectInfo, RemoteLink, Scope, SystemConfig, SystemKind, Updated, UserRef,
};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::Mutex;
use transitions::Workflow;

pub struct JiraConnector {
    http: Http,
    browse_base: String,
    catalog: Catalog,
    users_by_email: Mutex<HashMap<String, Option<UserRef>>>,
    /// Workflow edges learned from transition reads, per (project, issue type).
    workflows: Mutex<HashMap<(String, String), Workflow>>,
    /// Attachments' media ids, as ADF refers to them.
    media: media::MediaIds,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned cache is still a valid cache.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl JiraConnector {
    /// Builds a connector for `system`. Basic auth uses the configured user name (the
    /// integration user's e-mail) with `secret` as API token; bearer uses `secret`.
    pub fn new(system: &SystemConfig, secret: SecretString, mut opts: HttpOptions) -> Result<Self, PortError> {
        let auth = match &system.auth {
            AuthConfig::Basic { username, .. } => Auth::Basic { username: username.clone(), password: secret },
            AuthConfig::ApiKey { .. } => {
                return Err(PortError::new(
                    ErrorCategory::Config,
                    format!("system {}: API-key auth is Redmine's; use basic, bearer or pat here", system.id),
                ))
            }
            AuthConfig::Bearer { .. } => Auth::Bearer(secret),
            AuthConfig::Pat { .. } => {
                return Err(PortError::new(
                    ErrorCategory::Config,
                    format!(
                        "system {}: Jira Cloud takes basic (e-mail + API token) or bearer auth, not a PAT",
                        system.id
                    ),
                ))
            }
        };
        opts.allow_http_loopback |= system.allow_http_loopback;
        if opts.proxy.is_none() {
            opts.proxy = system.proxy.clone();
        }
        opts.issue_of_write = Some(issue_writes::issue_of_write);
        opts.repeatable = Some(repeatable::repeatable);
        let http = Http::new(&format!("jira {}", system.id), &system.base_url, auth, opts, errors::error_text)?;
        let browse_base = http.base().as_str().trim_end_matches('/').to_string();
        Ok(Self {
            http,
            browse_base,
            catalog: Catalog::default(),
            users_by_email: Mutex::new(HashMap::new()),
            workflows: Mutex::new(HashMap::new()),
            media: media::MediaIds::default(),
        })
    }
}

#[async_trait]
impl Connector for JiraConnector {
    fn kind(&self) -> SystemKind {
        SystemKind::Jira
    }

    /// A page of `search/jql` (`updated >= since`, ordered by `updated` then key), the
    /// next one from the search's `nextPageToken`. The token belongs to its query, so the
    /// position keeps the JQL's date literal. Every issue comes whole (with changelog),
    /// so nothing is left out as unchanged: the engine dedupes. Jira hands out tokens
    /// that continue after the last issue's sort values (an issue edited meanwhile moves
    /// to the end instead of shifting others past the boundary) and honours them for 7
    /// days; one it refuses fails with `InvalidRequest` and the engine reads again from
    /// its cursor.
    async fn changes(
        &self,
        scope: &Scope,
        query: &ChangeQuery<'_>,
        from: Option<&ReadToken>,
    ) -> PortResult<ChangePage> {
        self.read_changes(scope, query, from).await
    }

    async fn get(&self, _scope: &Scope, id: &EntityId, fields: &[FieldKey]) -> PortResult<Option<EntitySnapshot>> {
        self.read_issue(id, fields).await
    }

    async fn create(&self, scope: &Scope, changes: &[FieldChange]) -> PortResult<EntityRef> {
        self.create_issue(scope, changes).await
    }

    /// Jira's edit API has no precondition (no ETag, no version field), so staleness is
    /// caught by the engine before writing; `expected_revision` only starts the window
    /// of the history returned (the edit's answer holds the changelog).
    async fn update(
        &self,
        scope: &Scope,
        id: &EntityId,
        changes: &[FieldChange],
        expected_revision: Option<&str>,
        fields: &[FieldKey],
    ) -> PortResult<Updated> {
        self.edit_issue(scope, id, changes, expected_revision, fields).await
    }

    /// From the changelog: `GET issue?expand=changelog` holds the newest entries; older
    /// ones inside the window are paged from `/changelog` (oldest first) backwards.
    async fn history(
        &self,
        _scope: &Scope,
        id: &EntityId,
        after: Option<&str>,
        through: &str,
        fields: &[FieldKey],
    ) -> PortResult<Vec<HistoryEntry>> {
        self.read_history(id, after, through, fields).await
    }

    /// The newest changelog entries, paged back only until each field has one.
    async fn last_changes(
        &self,
        _scope: &Scope,
        id: &EntityId,
        through: &str,
        fields: &[FieldKey],
    ) -> PortResult<Vec<HistoryEntry>> {
        self.read_last_changes(id, through, fields).await
    }

    async fn find_by_field(&self, scope: &Scope, field: &FieldKey, value: &str) -> PortResult<Option<EntityRef>> {
        self.search_field(scope, field, value).await
    }

    async fn upsert_remote_link(&self, _scope: &Scope, id: &EntityId, link: &RemoteLink) -> PortResult<()> {
        self.put_remote_link(id, link).await
    }

    async fn last_updated(&self, scope: &Scope) -> PortResult<Option<DateTime<Utc>>> {
        self.newest_update(scope).await
    }

    async fn validate_filter(&self, scope: &Scope, condition: &str) -> PortResult<()> {
        self.check_filter(scope, condition).await
    }

    async fn integration_user(&self) -> PortResult<UserRef> {
        self.me().await
    }

    async fn find_user_by_email(&self, email: &str) -> PortResult<Option<UserRef>> {
        self.user_by_email(email).await
    }

    async fn projects(&self) -> PortResult<Vec<ProjectInfo>> {
        self.list_projects().await
    }

    async fn entity_types(&self, project: &str) -> PortResult<Vec<EntityTypeInfo>> {
        self.list_entity_types(project).await
    }

    async fn fields(&self, scope: &Scope) -> PortResult<Vec<FieldInfo>> {
        self.list_fields(scope).await
    }

    async fn users(&self, project: &str) -> PortResult<Vec<UserRef>> {
        self.assignable_users(project).await
    }

    // ---- collaboration (comments.rs, attachments.rs, media.rs, relations.rs)

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            comments: true,
            comment_edits: true,
            attachments: true,
            hierarchy: true,
            links: true,
            deletions: true,
        }
    }

    async fn comments(&self, _scope: &Scope, id: &EntityId) -> PortResult<Vec<Comment>> {
        self.read_comments(id).await
    }

    async fn add_comment(&self, _scope: &Scope, id: &EntityId, comment: &CommentWrite) -> PortResult<Comment> {
        self.post_comment(id, comment).await
    }

    async fn edit_comment(
        &self,
        _scope: &Scope,
        id: &EntityId,
        comment_id: &str,
        comment: &CommentWrite,
    ) -> PortResult<Comment> {
        self.put_comment(id, comment_id, comment).await
    }

    async fn delete_comment(&self, _scope: &Scope, id: &EntityId, comment_id: &str) -> PortResult<()> {
        self.remove_comment(id, comment_id).await
    }

    async fn attachments(&self, _scope: &Scope, id: &EntityId) -> PortResult<Vec<Attachment>> {
        self.list_attachments(id).await
    }

    async fn download(
        &self,
        _scope: &Scope,
        _id: &EntityId,
        attachment: &Attachment,
        sink: &mut dyn ByteSink,
    ) -> PortResult<u64> {
        self.download_attachment(attachment, sink).await
    }

    async fn upload(
        &self,
        _scope: &Scope,
        id: &EntityId,
        name: &str,
        size: u64,
        source: &mut dyn ByteSource,
    ) -> PortResult<Attachment> {
        self.upload_attachment(id, name, size, source).await
    }

    async fn delete_attachment(&self, _scope: &Scope, _id: &EntityId, attachment_id: &str) -> PortResult<()> {
        self.remove_attachment(attachment_id).await
    }

    async fn relations(&self, _scope: &Scope, id: &EntityId) -> PortResult<Vec<Relation>> {
        self.read_relations(id).await
    }

    async fn add_relation(&self, _scope: &Scope, id: &EntityId, relation: &Relation) -> PortResult<()> {
        self.add_issue_relation(id, relation).await
    }

    async fn remove_relation(&self, _scope: &Scope, id: &EntityId, relation: &Relation) -> PortResult<()> {
        self.remove_issue_relation(id, relation).await
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use serde_json::json;

    /// A connector for `https://acme.atlassian.net/` that is never called.
    pub fn connector() -> JiraConnector {
        let system: SystemConfig = serde_json::from_value(json!({
            "id": "jira", "kind": "jira", "base_url": "https://acme.atlassian.net/",
            "auth": {"kind": "basic", "username": "bot@acme.test", "token": {"env": "T"}}
        }))
        .unwrap();
        JiraConnector::new(&system, SecretString::from("tok"), HttpOptions::default()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pat_auth_is_a_config_error() {
        let system: SystemConfig = serde_json::from_value(json!({
            "id": "jira", "kind": "jira", "base_url": "https://acme.atlassian.net",
            "auth": {"kind": "pat", "token": {"env": "T"}}
        }))
        .unwrap();
        let err =
            JiraConnector::new(&system, SecretString::from("s3cr3t-value"), HttpOptions::default()).err().unwrap();
        assert_eq!(err.category, ErrorCategory::Config);
        assert!(!err.message.contains("s3cr3t"));
    }
}
