//! Jira Cloud platform REST v3 simulator.
//!
//! Serves the endpoints Ferry's Jira connector uses (JQL search with `nextPageToken`
//! paging, issues with changelog, transitions with screens, field metadata, users,
//! remote links) from in-memory state, with Jira's wire quirks: timestamps rendered
//! `2026-11-26T19:24:50.123+0100` in the server zone, JQL dates read in the searcher's
//! profile zone with minute precision, ErrorCollection errors, default search fields
//! `id` only and no `total`.
//!
//! Endpoints (all under `/rest/api/3`, basic auth `email:token`): `myself`; `serverInfo`;
//! `search/jql` (GET, POST); `search/approximate-count`; `jql/parse`; `issue` (POST); `issue/bulkfetch`;
//! `issue/{idOrKey}` (GET, PUT, DELETE); `.../changelog`; `.../editmeta`; `.../assignee` (PUT);
//! `.../transitions` (GET, POST); `.../remotelink` (GET, POST upsert); `.../comment` (GET, POST)
//! and `.../comment/{id}` (GET, PUT, DELETE); `comment/list`; `comment/{id}/properties[/{key}]`;
//! `.../attachments` (multipart POST); `attachment/{id}` (GET, DELETE); `attachment/content/{id}`;
//! `attachment/meta`; `issueLinkType`; `issueLink` (POST) and `issueLink/{id}` (GET, DELETE);
//! `changelog/bulkfetch`; `field`; `project/search`; `project/{key}` with `/statuses`,
//! `/components` and `/versions`; `issue/createmeta/{p}/issuetypes[/{id}]`; `priority/{id}`;
//! `user`; `user/search`; `user/assignable/search`. Attachment bytes are served from a
//! media URL the content endpoint redirects to (`/media/file/{mediaId}/binary`, see
//! [`JiraSim::attachment_media_id`]).

mod attachments;
#[cfg(test)]
mod collab_tests;
mod comments;
mod deletion;
mod handlers;
mod hierarchy;
mod jql;
mod links;
mod projects;
mod store;
#[cfg(test)]
mod tests;
mod webhook_events;

use crate::common::{Faults, RequestRecord, SimUser};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A Jira project (both seeded projects share the issue types and workflow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraProject {
    pub id: String,
    pub key: String,
    pub name: String,
}

/// An id/name pair: issue types, priorities, resolutions, select options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraNamed {
    pub id: String,
    pub name: String,
}

impl JiraNamed {
    pub fn new(id: &str, name: &str) -> Self {
        Self { id: id.into(), name: name.into() }
    }
}

/// Jira's three status categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCategory {
    New,
    Indeterminate,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraStatus {
    pub id: String,
    pub name: String,
    pub category: StatusCategory,
}

/// A workflow transition, available from any status in `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraTransition {
    pub id: String,
    pub name: String,
    pub from: Vec<String>,
    pub to: String,
    /// Field ids on the transition screen; all of them are required.
    pub screen_fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomFieldKind {
    /// Single-line text (`textfield`), plain string values.
    Text,
    /// Single select (`select`) with these options.
    Select(Vec<JiraNamed>),
    /// Number (`float`).
    Number,
}

/// A type of issue link. A link goes from a source issue, which shows the `outward`
/// description ("blocks"), to a destination issue, which shows the `inward` one ("is blocked by").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraLinkType {
    pub id: String,
    pub name: String,
    pub inward: String,
    pub outward: String,
}

impl JiraLinkType {
    pub fn new(id: &str, name: &str, inward: &str, outward: &str) -> Self {
        Self { id: id.into(), name: name.into(), inward: inward.into(), outward: outward.into() }
    }
}

/// Per-issue limits Jira Cloud enforces (a request over one is answered 413).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JiraIssueLimits {
    pub comments: usize,
    pub attachments: usize,
    pub issue_links: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraCustomField {
    /// `customfield_NNNNN`.
    pub id: String,
    pub name: String,
    pub kind: CustomFieldKind,
}

/// Everything a simulator instance starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraSeed {
    /// IANA zone timestamps are rendered in.
    pub server_time_zone: String,
    pub users: Vec<SimUser>,
    pub projects: Vec<JiraProject>,
    pub issue_types: Vec<JiraNamed>,
    pub statuses: Vec<JiraStatus>,
    /// Status of newly created issues.
    pub initial_status_id: String,
    pub transitions: Vec<JiraTransition>,
    /// Highest first.
    pub priorities: Vec<JiraNamed>,
    pub default_priority_id: String,
    pub resolutions: Vec<JiraNamed>,
    pub custom_fields: Vec<JiraCustomField>,
    /// When false, remote-link endpoints answer 403 (issue linking disabled).
    pub remote_links_enabled: bool,
    /// E-mails of the users with the Administer Jira global permission: only they may
    /// list, register or delete admin webhooks (`/rest/webhooks/1.0/webhook`); anyone
    /// else is answered 403.
    pub administrators: Vec<String>,
    /// Hierarchy level by issue type id: 1 epic, 0 standard, -1 sub-task; types not listed
    /// are standard. A parent is one level above its child.
    pub issue_type_levels: BTreeMap<String, i32>,
    pub issue_link_types: Vec<JiraLinkType>,
    /// When false, attachment endpoints answer 403/404 as with attachments turned off.
    pub attachments_enabled: bool,
    /// Largest file an upload accepts, in bytes (`GET /attachment/meta` `uploadLimit`).
    pub attachment_upload_limit: u64,
    pub issue_limits: JiraIssueLimits,
}

impl JiraSeed {
    /// The demo data (docs/demo-data.md).
    pub fn demo() -> JiraSeed {
        let user = |n: u32, email: &str, name: &str, token: &str, tz: &str| {
            let mut u = SimUser::new(&format!("5b10ac8d82e05b22cc7d{n:04}"), email, name, token);
            u.time_zone = tz.into();
            u
        };
        let mut dave = user(5, "dave@acme.test", "Dave Hidden", "jira-dave-token", "UTC");
        dave.email_hidden = true;
        let s = |id: &str, name: &str, category| JiraStatus { id: id.into(), name: name.into(), category };
        let t = |id: &str, name: &str, from: &[&str], to: &str, screen: &[&str]| JiraTransition {
            id: id.into(),
            name: name.into(),
            from: from.iter().map(|x| x.to_string()).collect(),
            to: to.into(),
            screen_fields: screen.iter().map(|x| x.to_string()).collect(),
        };
        let (todo, progress, review, done) = ("10000", "3", "10002", "10001");
        JiraSeed {
            server_time_zone: "Europe/Berlin".into(),
            users: vec![
                user(1, "ferry-bot@acme.test", "Ferry Bot", "jira-bot-token", "Europe/Berlin"),
                user(2, "alice@acme.test", "Alice Jones", "jira-alice-token", "UTC"),
                user(3, "bob@acme.test", "Bob Smith", "jira-bob-token", "America/New_York"),
                user(4, "carol@acme.test", "Carol White", "jira-carol-token", "UTC"),
                dave,
                user(6, "erin@acme.test", "Erin Only", "jira-erin-token", "UTC"),
            ],
            administrators: vec!["ferry-bot@acme.test".into(), "alice@acme.test".into()],
            projects: vec![
                JiraProject { id: "10000".into(), key: "APP".into(), name: "Application".into() },
                JiraProject { id: "10001".into(), key: "OPS".into(), name: "Operations".into() },
            ],
            issue_types: vec![
                JiraNamed::new("10000", "Epic"),
                JiraNamed::new("10001", "Bug"),
                JiraNamed::new("10002", "Task"),
                JiraNamed::new("10003", "Sub-task"),
            ],
            statuses: vec![
                s(todo, "To Do", StatusCategory::New),
                s(progress, "In Progress", StatusCategory::Indeterminate),
                s(review, "In Review", StatusCategory::Indeterminate),
                s(done, "Done", StatusCategory::Done),
            ],
            initial_status_id: todo.into(),
            transitions: vec![
                t("11", "Start progress", &[todo], progress, &[]),
                t("21", "Request review", &[progress], review, &[]),
                t("31", "Done", &[progress, review], done, &["resolution"]),
                t("41", "Stop progress", &[progress], todo, &[]),
                t("51", "Rework", &[review], progress, &[]),
                t("61", "Reopen", &[done], todo, &[]),
            ],
            priorities: vec![
                JiraNamed::new("1", "Highest"),
                JiraNamed::new("2", "High"),
                JiraNamed::new("3", "Medium"),
                JiraNamed::new("4", "Low"),
                JiraNamed::new("5", "Lowest"),
            ],
            default_priority_id: "3".into(),
            resolutions: vec![JiraNamed::new("10000", "Done"), JiraNamed::new("10001", "Won't Do")],
            custom_fields: vec![
                JiraCustomField { id: "customfield_10050".into(), name: "ADO ID".into(), kind: CustomFieldKind::Text },
                JiraCustomField {
                    id: "customfield_10051".into(),
                    name: "Severity".into(),
                    kind: CustomFieldKind::Select(vec![
                        JiraNamed::new("10100", "Critical"),
                        JiraNamed::new("10101", "Major"),
                        JiraNamed::new("10102", "Minor"),
                    ]),
                },
                JiraCustomField {
                    id: "customfield_10052".into(),
                    name: "Story Points".into(),
                    kind: CustomFieldKind::Number,
                },
            ],
            remote_links_enabled: true,
            issue_type_levels: BTreeMap::from([("10000".to_string(), 1), ("10003".to_string(), -1)]),
            // Jira Cloud's default link types, with their default ids.
            issue_link_types: vec![
                JiraLinkType::new("10000", "Blocks", "is blocked by", "blocks"),
                JiraLinkType::new("10001", "Cloners", "is cloned by", "clones"),
                JiraLinkType::new("10002", "Duplicate", "is duplicated by", "duplicates"),
                JiraLinkType::new("10003", "Relates", "relates to", "relates to"),
            ],
            attachments_enabled: true,
            // Jira Cloud's maximum (1 GB); tests that want a 413 set a smaller one.
            attachment_upload_limit: 1 << 30,
            issue_limits: JiraIssueLimits { comments: 5000, attachments: 2000, issue_links: 2000 },
        }
    }

    /// Hierarchy level of an issue type (1 epic, 0 standard, -1 sub-task).
    pub fn level(&self, issue_type_id: &str) -> i32 {
        self.issue_type_levels.get(issue_type_id).copied().unwrap_or(0)
    }
}

/// A running Jira simulator; cheap to clone.
#[derive(Clone)]
pub struct JiraSim {
    inner: Arc<store::Inner>,
}

impl JiraSim {
    /// Binds 127.0.0.1 on an ephemeral port and serves on the current tokio runtime.
    pub async fn start(seed: JiraSeed) -> std::io::Result<JiraSim> {
        let tz: chrono_tz::Tz = seed.server_time_zone.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("unknown server time zone '{}'", seed.server_time_zone),
            )
        })?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(store::Inner::new(seed, tz, addr.port()));
        let app = handlers::router(inner.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "jira simulator stopped");
            }
        });
        Ok(JiraSim { inner })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.inner.base.clone()
    }

    /// Grants the Administer Jira global permission to exactly these users (e-mails);
    /// the others are answered 403 on the admin webhook resource.
    pub fn set_administrators(&self, emails: &[&str]) {
        self.inner.set_administrators(emails.iter().map(|e| e.to_string()).collect());
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Turns Jira Cloud's burst rate limit on (every user's bucket full) or off (`None`,
    /// the default): see [`crate::limits`].
    pub fn set_rate_limit(&self, limit: Option<crate::limits::JiraRateLimit>) {
        self.inner.limiter.set(limit);
    }

    /// Turns Jira Cloud's per-issue write limit on (no writes counted) or off (`None`, the
    /// default): see [`crate::limits::JiraIssueWriteLimit`].
    pub fn set_issue_write_limit(&self, limit: Option<crate::limits::JiraIssueWriteLimit>) {
        self.inner.issue_writes.set(limit);
    }

    /// Turns the tenant's points-based quota on (nothing spent) or off (`None`, the
    /// default): see [`crate::limits::JiraQuota`].
    pub fn set_quota(&self, quota: Option<crate::limits::JiraQuota>) {
        self.inner.quota.set(quota);
    }

    /// Test hooks that interleave other work with a request (see [`crate::hooks`]).
    pub fn hooks(&self) -> &crate::hooks::Hooks {
        &self.inner.hooks
    }

    /// The delivery side of the admin webhooks: faults and what was sent.
    pub fn webhooks(&self) -> &crate::webhooks::Outbox {
        &self.inner.webhooks.outbox
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.inner.log.snapshot()
    }

    pub fn clear_requests(&self) {
        self.inner.log.clear()
    }

    /// Appends every later request and answer to `<dir>/jira-<pid>-<port>.jsonl` (as
    /// `FERRY_CONTRACT_DIR` does from the start); returns that file's path.
    pub fn capture_traffic(&self, dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
        self.inner.traffic.capture_to(dir, "jira", self.inner.port)
    }

    /// The issue as `GET /rest/api/3/issue/{key}` returns it (all fields, no expand).
    pub fn issue_json(&self, key: &str) -> Option<serde_json::Value> {
        self.inner.issue_json(key)
    }

    /// The issue's creation and every changelog entry, oldest first (`None`: no such issue).
    pub fn history(&self, key: &str) -> Option<Vec<crate::common::Revision>> {
        self.inner.history(key)
    }

    /// Keys of a project's issues, in creation order.
    pub fn issue_keys(&self, project_key: &str) -> Vec<String> {
        self.inner.issue_keys(project_key)
    }

    pub fn user(&self, email: &str) -> Option<SimUser> {
        self.inner.seed.users.iter().find(|u| u.email.eq_ignore_ascii_case(email)).cloned()
    }

    /// Takes a field out of every issue's field context, as a Jira administrator's
    /// field-configuration change does: issue reads and searches leave it out (even
    /// when asked for by id) and edits cannot set it. [`JiraSim::show_field`] undoes it.
    pub fn hide_field(&self, field: &str) {
        self.inner.set_hidden(field, true)
    }

    pub fn show_field(&self, field: &str) {
        self.inner.set_hidden(field, false)
    }

    /// The media id (Media Services file id) of an attachment: what ADF `media` nodes carry
    /// as `attrs.id`, and the `{id}` of the `/file/{id}/binary` URL that
    /// `GET /rest/api/3/attachment/content/{attachmentId}` redirects to.
    pub fn attachment_media_id(&self, attachment_id: &str) -> Option<String> {
        self.inner.media_id_of(attachment_id)
    }

    /// Revokes the user's API token and issues `token` in its place (a rotation):
    /// requests with the old token answer 401 from now on.
    pub fn rotate_token(&self, email: &str, token: &str) {
        self.inner.rotate_token(email, token)
    }
}
