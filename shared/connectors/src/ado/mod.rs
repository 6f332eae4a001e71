//! Azure DevOps Services REST 7.1 connector (work item tracking, identities, core).
//!
//! Incremental pulls run WIQL with `timePrecision=true` (millisecond literals) a page
//! of up to 200 ids at a time, then read the page in one batch. Writes are JSON Patch documents; an update with
//! an expected revision starts with `test /rev` so a stale write fails with 412
//! (mapped to [`ErrorCategory::Conflict`]).
//!
//! `users(project)`: ADO has no "users of a project" listing in the specs Ferry
//! follows, so it returns the distinct identities seen as AssignedTo / CreatedBy /
//! ChangedBy on the project's most recently changed work items (up to 200 items).
//!
//! One job per file: `api` (URLs and typed requests), `catalog` (field types and type
//! fields), `search` (WIQL reads, paged by position), `snapshot` (a work item as Ferry
//! sees it), `write` (JSON Patch creates and updates), `history`, `users`,
//! `discovery`; `wiql` and `wire` hold the query language and the wire shapes;
//! `repeatable` names the requests sent again after an answer was lost.

mod api;
mod attachments;
mod catalog;
mod comments;
mod discovery;
mod history;
mod markup;
mod relations;
pub(crate) mod repeatable;
mod search;
mod service_hooks;
mod snapshot;
mod users;
mod wiql;
mod wire;
mod write;

pub use attachments::SIMPLE_UPLOAD_MAX;
pub use service_hooks::HookCredentials;
pub use wire::error_text;

use crate::http::{check_base_url, Auth, Http, HttpOptions};
use async_trait::async_trait;
use catalog::TypeFields;
use chrono::{DateTime, Utc};
use ferry_domain::ports::{ChangePage, ChangeQuery, Connector, PortResult, ReadToken};
use ferry_domain::{Attachment, ByteSink, ByteSource, Capabilities, Comment, CommentWrite, Relation};
use ferry_domain::{
    AuthConfig, EntityId, EntityRef, EntitySnapshot, EntityTypeInfo, ErrorCategory, FieldChange, FieldInfo, FieldKey,
    HistoryEntry, PortError, ProjectInfo, RemoteLink, Scope, SystemConfig, SystemKind, Updated, UserRef,
};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::OnceCell;
use url::Url;
use wire::FieldCatalog;

const API_VERSION: &str = "7.1";
/// `workitemsbatch` and `workitems?ids=` take at most 200 ids; updates are paged by as many.
const BATCH: usize = 200;

pub struct AdoConnector {
    http: Http,
    system: String,
    /// `https://dev.azure.com/acme/` (always ends in `/`).
    base: Url,
    /// Host and path serving `_apis/identities` (`https://vssps.dev.azure.com/acme/`).
    identity_base: Url,
    integration_email: String,
    me: OnceCell<UserRef>,
    catalogs: Mutex<HashMap<String, Arc<FieldCatalog>>>,
    /// Per `project\0type` (lower case): the type's field reference names.
    type_fields: Mutex<HashMap<String, (TypeFields, Instant)>>,
    users: Mutex<HashMap<String, (Option<UserRef>, Instant)>>,
    /// Files over this many bytes are uploaded in chunks.
    simple_upload_max: u64,
}

impl std::fmt::Debug for AdoConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdoConnector")
            .field("system", &self.system)
            .field("base", &self.base.as_str())
            .field("identity_base", &self.identity_base.as_str())
            .finish_non_exhaustive()
    }
}

fn config_err(msg: String) -> PortError {
    PortError::new(ErrorCategory::Config, msg)
}

fn with_slash(mut u: Url) -> Url {
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    u
}

impl AdoConnector {
    /// `system.base_url` is the organization URL (`https://dev.azure.com/acme`); the
    /// identities host comes from `system.identity_url`, else `vssps.dev.azure.com/ORG`
    /// for dev.azure.com and the base itself for any other host. The PAT (`secret`) is
    /// sent as the basic-auth password with an empty user name.
    pub fn new(system: &SystemConfig, secret: SecretString, mut opts: HttpOptions) -> Result<Self, PortError> {
        let name = system.id.as_str().to_string();
        opts.allow_http_loopback |= system.allow_http_loopback;
        let base = with_slash(check_base_url(&system.base_url, opts.allow_http_loopback)?);
        let org =
            base.path_segments().and_then(|mut s| s.rfind(|s| !s.is_empty())).map(str::to_string).ok_or_else(|| {
                config_err(format!(
                    "{name}: base URL {:?} has no organization: use https://dev.azure.com/ORGANIZATION",
                    system.base_url
                ))
            })?;
        let identity_base = match &system.identity_url {
            Some(u) => with_slash(check_base_url(u, opts.allow_http_loopback)?),
            None if base.host_str() == Some("dev.azure.com") => {
                let u = format!("https://vssps.dev.azure.com/{org}/");
                Url::parse(&u).map_err(|e| config_err(format!("{name}: identity URL {u:?}: {e}")))?
            }
            None => base.clone(),
        };
        let integration_email = system
            .integration_user
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .ok_or_else(|| {
                config_err(format!(
                    "{name}: integration_user (the e-mail of the account whose PAT Ferry uses) is required for Azure DevOps"
                ))
            })?
            .to_string();
        let auth = match &system.auth {
            AuthConfig::ApiKey { .. } => {
                return Err(PortError::new(
                    ErrorCategory::Config,
                    format!("system {}: API-key auth is Redmine's; use basic, bearer or pat here", system.id),
                ))
            }
            AuthConfig::Bearer { .. } => Auth::Bearer(secret),
            AuthConfig::Basic { username, .. } => Auth::Basic { username: username.clone(), password: secret },
            AuthConfig::Pat { .. } => Auth::Basic { username: String::new(), password: secret },
        };
        opts.repeatable = Some(repeatable::repeatable);
        let http = Http::new(&name, base.as_str(), auth, opts, error_text)?;
        Ok(Self {
            http,
            system: name,
            base,
            identity_base,
            integration_email,
            me: OnceCell::new(),
            catalogs: Mutex::new(HashMap::new()),
            type_fields: Mutex::new(HashMap::new()),
            users: Mutex::new(HashMap::new()),
            simple_upload_max: attachments::SIMPLE_UPLOAD_MAX,
        })
    }
}

/// Refines a write error: an unknown identity in an identity field is a missing user.
fn refine(e: PortError) -> PortError {
    if e.category == ErrorCategory::InvalidRequest {
        let m = e.message.to_ascii_lowercase();
        if m.contains("unknown identity")
            || m.contains("identity not found")
            || m.contains("could not resolve identity")
        {
            return PortError { category: ErrorCategory::UserNotFound, ..e };
        }
    }
    e
}

#[async_trait]
impl Connector for AdoConnector {
    fn kind(&self) -> SystemKind {
        SystemKind::AzureDevops
    }

    /// A page of WIQL (`$top` ids from the position on, ordered by changed date, then
    /// id), read in one batch. The next page starts after the last item the query
    /// listed that was not changed again before the batch read it: a re-changed item
    /// has moved on in the order and comes again later (the engine dedupes it). Every
    /// item comes whole, so nothing is left out as unchanged.
    async fn changes(
        &self,
        scope: &Scope,
        query: &ChangeQuery<'_>,
        from: Option<&ReadToken>,
    ) -> PortResult<ChangePage> {
        self.read_changes(scope, query, from).await
    }

    async fn get(&self, scope: &Scope, id: &EntityId, fields: &[FieldKey]) -> PortResult<Option<EntitySnapshot>> {
        self.read_item(scope, id, fields).await
    }

    /// `POST workitemsbatch`, 200 work items a request.
    async fn get_many(&self, scope: &Scope, ids: &[EntityId], fields: &[FieldKey]) -> PortResult<Vec<EntitySnapshot>> {
        self.read_items(scope, ids, fields).await
    }

    async fn create(&self, scope: &Scope, changes: &[FieldChange]) -> PortResult<EntityRef> {
        self.create_item(scope, changes).await
    }

    /// Every update carries `test /rev`: the PATCH applies at the expected revision or
    /// not at all, and its answer is the revision it made.
    fn atomic_updates(&self) -> bool {
        true
    }

    /// From `workItems/{id}/updates` (one per revision, oldest first), paged by 200.
    async fn history(
        &self,
        scope: &Scope,
        id: &EntityId,
        after: Option<&str>,
        through: &str,
        fields: &[FieldKey],
    ) -> PortResult<Vec<HistoryEntry>> {
        self.read_history(scope, id, after, through, fields).await
    }

    async fn update(
        &self,
        scope: &Scope,
        id: &EntityId,
        changes: &[FieldChange],
        expected_revision: Option<&str>,
        fields: &[FieldKey],
    ) -> PortResult<Updated> {
        self.update_item(scope, id, changes, expected_revision, fields).await
    }

    async fn find_by_field(&self, scope: &Scope, field: &FieldKey, value: &str) -> PortResult<Option<EntityRef>> {
        self.search_field(scope, field, value).await
    }

    async fn upsert_remote_link(&self, scope: &Scope, id: &EntityId, link: &RemoteLink) -> PortResult<()> {
        self.add_link(scope, id, link).await
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

    // The conversation and structure around a work item: comments.rs, attachments.rs,
    // relations.rs.

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
        self.list_comments(scope, id).await
    }

    async fn add_comment(&self, scope: &Scope, id: &EntityId, comment: &CommentWrite) -> PortResult<Comment> {
        self.post_comment(scope, id, comment).await
    }

    async fn edit_comment(
        &self,
        scope: &Scope,
        id: &EntityId,
        comment_id: &str,
        comment: &CommentWrite,
    ) -> PortResult<Comment> {
        self.put_comment(scope, id, comment_id, comment).await
    }

    async fn delete_comment(&self, scope: &Scope, id: &EntityId, comment_id: &str) -> PortResult<()> {
        self.remove_comment(scope, id, comment_id).await
    }

    async fn attachments(&self, scope: &Scope, id: &EntityId) -> PortResult<Vec<Attachment>> {
        self.list_attachments(scope, id).await
    }

    async fn download(
        &self,
        scope: &Scope,
        _id: &EntityId,
        attachment: &Attachment,
        sink: &mut dyn ByteSink,
    ) -> PortResult<u64> {
        self.download_file(scope, attachment, sink).await
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
        self.link(scope, id, relation).await
    }

    async fn remove_relation(&self, scope: &Scope, id: &EntityId, relation: &Relation) -> PortResult<()> {
        self.unlink(scope, id, relation).await
    }
}

#[cfg(test)]
mod tests;
