//! Redmine REST API (JSON) connector, tested against Redmine 5.
//!
//! Scope: `project` is a project identifier (or numeric id), `entity_type` a tracker
//! name. The API key goes in `X-Redmine-API-Key`; the integration user should be an
//! administrator, because e-mail look-ups (`/users.json`, `/users/ID.json`) and the
//! custom-field catalog (`/custom_fields.json`) are admin-only.
//!
//! Fields (Ferry keys): `subject`, `description` (plain text: Redmine's textile or
//! markdown is read as is, and rich text written here is converted from HTML to plain
//! text with line breaks), `status`, `priority`, `tracker` (by name), `assigned_to`,
//! `author` (users), `start_date`, `due_date` (dates), `done_ratio`, `estimated_hours`,
//! custom fields as `cf_<id>` or by their name, and write-only `notes` (a comment).
//!
//! Filters are a query-string fragment of `/issues.json` conditions, e.g.
//! `priority_id=4&cf_5=x` or `status_id=open`. Redmine cannot negate a whole filter,
//! so a negated filter reads the unfiltered ids and subtracts the filtered ones.
//!
//! Redmine has no remote links: `upsert_remote_link` adds the journal note
//! `Linked: <title> <url>` once (idempotent: an existing note with the URL is kept).
//!
//! Revisions are `updated_on` plus the newest journal id; `changed_by` is the newest
//! journal's author (else the issue's author). `updated_on` has second precision, so
//! a read of changes starts one second before the truncated bound, and pages by
//! position ([`paging`]).
//!
//! One job per file: `api` (URLs and typed requests), `catalog` (statuses, priorities,
//! trackers, custom fields, projects), `search` (listings of `/issues.json`),
//! `snapshot` (an issue as Ferry sees it), `write` (creates and updates), `history`
//! (journals), `users`, `discovery`; `paging` and `wire` hold the read-by-position
//! rules and the wire shapes.

mod api;
mod attachments;
mod catalog;
mod discovery;
mod history;
mod markup;
mod notes;
mod paging;
mod relations;
mod search;
mod snapshot;
mod users;
mod wire;
mod write;

#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod tests;

pub use wire::{error_text, html_to_text};

use crate::http::{Auth, Http, HttpOptions};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_domain::ports::{ChangePage, ChangeQuery, Connector, PortResult, ReadToken};
use ferry_domain::{
    Attachment, AuthConfig, ByteSink, ByteSource, Capabilities, Comment, CommentWrite, EntityId, EntityRef,
    EntitySnapshot, EntityTypeInfo, ErrorCategory, FieldChange, FieldInfo, FieldKey, HistoryEntry, PortError,
    ProjectInfo, Relation, RemoteLink, Scope, SystemConfig, SystemKind, Updated, UserRef,
};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use url::Url;
use wire::{CustomFieldDef, IdName};

const PAGE: u64 = 100;
/// Upper bound on pages of one listing, against a server that never ends.
const MAX_PAGES: u64 = 10_000;
pub const API_KEY_HEADER: &str = "X-Redmine-API-Key";

pub struct RedmineConnector {
    http: Http,
    system: String,
    base: Url,
    me: OnceCell<UserRef>,
    statuses: OnceCell<Vec<IdName>>,
    priorities: OnceCell<Vec<IdName>>,
    trackers: OnceCell<Vec<IdName>>,
    /// `None` when the key may not read the catalog (not an administrator).
    custom_fields: OnceCell<Option<Vec<CustomFieldDef>>>,
    projects: Mutex<HashMap<String, Arc<wire::ProjectDto>>>,
    /// E-mail by user id; `None` when hidden or unreadable.
    emails: Mutex<HashMap<u64, Option<String>>>,
    /// Users by lower-case login (mentions); `None`: no such user.
    logins: Mutex<HashMap<String, Option<wire::UserDto>>>,
}

impl std::fmt::Debug for RedmineConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedmineConnector").field("system", &self.system).field("base", &self.base.as_str()).finish()
    }
}

fn err(category: ErrorCategory, msg: impl Into<String>) -> PortError {
    PortError::new(category, msg)
}

fn issue_id(id: &EntityId) -> PortResult<u64> {
    id.as_str()
        .trim()
        .trim_start_matches('#')
        .parse::<u64>()
        .map_err(|_| err(ErrorCategory::InvalidRequest, format!("{:?} is not a Redmine issue id", id.as_str())))
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl RedmineConnector {
    /// `system.base_url` is the Redmine root (`https://redmine.example.com`, or with a
    /// sub-path); `secret` is the API key of the integration user.
    pub fn new(system: &SystemConfig, secret: SecretString, mut opts: HttpOptions) -> Result<Self, PortError> {
        let name = system.id.as_str().to_string();
        if !matches!(system.auth, AuthConfig::ApiKey { .. }) {
            return Err(err(
                ErrorCategory::Config,
                format!(
                    "system {name}: Redmine authenticates with an API key: use auth: {{ kind: api_key, token: ... }}"
                ),
            ));
        }
        opts.allow_http_loopback |= system.allow_http_loopback;
        let http =
            Http::new(&name, &system.base_url, Auth::Header { name: API_KEY_HEADER, key: secret }, opts, error_text)?;
        let base = http.base().clone();
        Ok(Self {
            http,
            system: name,
            base,
            me: OnceCell::new(),
            statuses: OnceCell::new(),
            priorities: OnceCell::new(),
            trackers: OnceCell::new(),
            custom_fields: OnceCell::new(),
            projects: Mutex::new(HashMap::new()),
            emails: Mutex::new(HashMap::new()),
            logins: Mutex::new(HashMap::new()),
        })
    }
}

#[async_trait]
impl Connector for RedmineConnector {
    fn kind(&self) -> SystemKind {
        SystemKind::Redmine
    }

    /// A page of `/issues.json` by position ([`paging`]), then each issue read in full
    /// (the listing has no journals: revision and changed-by need them), except those
    /// the engine's seen revisions show unchanged. A negated filter lists unfiltered
    /// and drops the page's issues that match it (Redmine cannot negate a filter).
    async fn changes(
        &self,
        scope: &Scope,
        query: &ChangeQuery<'_>,
        from: Option<&ReadToken>,
    ) -> PortResult<ChangePage> {
        self.read_changes(scope, query, from).await
    }

    async fn get(&self, _scope: &Scope, id: &EntityId, fields: &[FieldKey]) -> PortResult<Option<EntitySnapshot>> {
        self.get_issue(_scope, id, fields).await
    }

    async fn create(&self, scope: &Scope, changes: &[FieldChange]) -> PortResult<EntityRef> {
        self.create_issue(scope, changes).await
    }

    /// Redmine answers an update with no body: the answer holds the new revision only.
    async fn update(
        &self,
        scope: &Scope,
        id: &EntityId,
        changes: &[FieldChange],
        expected_revision: Option<&str>,
        _fields: &[FieldKey],
    ) -> PortResult<Updated> {
        self.edit_issue(scope, id, changes, expected_revision).await.map(Updated::bare)
    }

    /// From the journals (`include=journals`); a revision names its newest journal.
    async fn history(
        &self,
        _scope: &Scope,
        id: &EntityId,
        after: Option<&str>,
        through: &str,
        fields: &[FieldKey],
    ) -> PortResult<Vec<HistoryEntry>> {
        self.read_history(_scope, id, after, through, fields).await
    }

    async fn find_by_field(&self, scope: &Scope, field: &FieldKey, value: &str) -> PortResult<Option<EntityRef>> {
        self.search_field(scope, field, value).await
    }

    async fn upsert_remote_link(&self, _scope: &Scope, id: &EntityId, link: &RemoteLink) -> PortResult<()> {
        self.add_link_note(_scope, id, link).await
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
        self.list_users(project).await
    }

    /// Redmine 5.0's API edits and deletes a journal's notes, attaches and deletes
    /// files, sets the parent and adds and deletes relations.
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

    async fn comments(&self, scope: &Scope, id: &EntityId) -> PortResult<Vec<Comment>> {
        self.list_notes(scope, id).await
    }

    async fn add_comment(&self, scope: &Scope, id: &EntityId, comment: &CommentWrite) -> PortResult<Comment> {
        self.post_note(scope, id, comment).await
    }

    async fn edit_comment(
        &self,
        scope: &Scope,
        id: &EntityId,
        comment_id: &str,
        comment: &CommentWrite,
    ) -> PortResult<Comment> {
        self.edit_note(scope, id, comment_id, comment).await
    }

    async fn delete_comment(&self, scope: &Scope, id: &EntityId, comment_id: &str) -> PortResult<()> {
        self.delete_note(scope, id, comment_id).await
    }

    async fn attachments(&self, scope: &Scope, id: &EntityId) -> PortResult<Vec<Attachment>> {
        self.list_attachments(scope, id).await
    }

    async fn download(
        &self,
        _scope: &Scope,
        _id: &EntityId,
        attachment: &Attachment,
        sink: &mut dyn ByteSink,
    ) -> PortResult<u64> {
        self.download_file(attachment, sink).await
    }

    async fn upload(
        &self,
        scope: &Scope,
        id: &EntityId,
        name: &str,
        size: u64,
        source: &mut dyn ByteSource,
    ) -> PortResult<Attachment> {
        self.upload_file(scope, id, name, size, source).await
    }

    async fn delete_attachment(&self, scope: &Scope, id: &EntityId, attachment_id: &str) -> PortResult<()> {
        self.detach_file(scope, id, attachment_id).await
    }

    async fn relations(&self, scope: &Scope, id: &EntityId) -> PortResult<Vec<Relation>> {
        self.list_relations(scope, id).await
    }

    async fn add_relation(&self, scope: &Scope, id: &EntityId, relation: &Relation) -> PortResult<()> {
        self.add_relation_to(scope, id, relation).await
    }

    async fn remove_relation(&self, scope: &Scope, id: &EntityId, relation: &Relation) -> PortResult<()> {
        self.remove_relation_from(scope, id, relation).await
    }
}
