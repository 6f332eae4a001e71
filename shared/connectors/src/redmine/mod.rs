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

mod paging;
mod wire;

#[cfg(test)]
mod tests;

pub use wire::{error_text, html_to_text};

use crate::http::{Auth, Http, HttpOptions};
use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, SubsecRound, Utc};
use ferry_domain::ports::{ChangePage, ChangeQuery, Connector, PortResult, ReadToken};
use ferry_domain::{
    AuthConfig, EntityId, EntityRef, EntitySnapshot, EntityTypeInfo, ErrorCategory, FieldChange, FieldInfo, FieldKey,
    FieldType, FieldValue, HistoryEntry, PortError, ProjectInfo, RemoteLink, Scope, SystemConfig, SystemKind, UserRef,
};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use url::Url;
use wire::{
    CustomFieldDef, CustomFieldList, IdName, Issue, IssueEnvelope, IssueList, MembershipList, PriorityList,
    ProjectEnvelope, ProjectList, StatusList, TrackerList, UserEnvelope, UserList, CORE_FIELDS, LINK_NOTE_PREFIX,
};

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

/// A write error refined: an assignee Redmine refuses is a missing user.
fn refine(e: PortError) -> PortError {
    if e.category == ErrorCategory::InvalidRequest && e.message.contains("Assignee is invalid") {
        return PortError { category: ErrorCategory::UserNotFound, ..e };
    }
    e
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
        })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> PortResult<Url> {
        let mut url = self.http.url(path)?;
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    fn issue_url(&self, id: u64) -> String {
        self.base.join(&format!("issues/{id}")).map(|u| u.to_string()).unwrap_or_default()
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: Url, what: &str) -> PortResult<T> {
        self.http.send(Method::GET, url, None, None).await?.json(what)
    }

    async fn statuses(&self) -> PortResult<&Vec<IdName>> {
        self.statuses
            .get_or_try_init(|| async {
                let l: StatusList = self.get_json(self.url("issue_statuses.json", &[])?, "Redmine statuses").await?;
                Ok(l.issue_statuses)
            })
            .await
    }

    async fn priorities(&self) -> PortResult<&Vec<IdName>> {
        self.priorities
            .get_or_try_init(|| async {
                let url = self.url("enumerations/issue_priorities.json", &[])?;
                let l: PriorityList = self.get_json(url, "Redmine priorities").await?;
                Ok(l.issue_priorities)
            })
            .await
    }

    async fn all_trackers(&self) -> PortResult<&Vec<IdName>> {
        self.trackers
            .get_or_try_init(|| async {
                let l: TrackerList = self.get_json(self.url("trackers.json", &[])?, "Redmine trackers").await?;
                Ok(l.trackers)
            })
            .await
    }

    async fn custom_fields(&self) -> PortResult<Option<&Vec<CustomFieldDef>>> {
        let r = self
            .custom_fields
            .get_or_try_init(|| async {
                let url = self.url("custom_fields.json", &[])?;
                match self.get_json::<CustomFieldList>(url, "Redmine custom fields").await {
                    Ok(l) => Ok(Some(l.custom_fields.into_iter().filter(|f| f.customized_type == "issue").collect())),
                    // Only administrators may list custom fields.
                    Err(e) if matches!(e.category, ErrorCategory::Permission | ErrorCategory::Auth) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(r.as_ref())
    }

    async fn project(&self, project: &str) -> PortResult<Arc<wire::ProjectDto>> {
        let key = project.to_ascii_lowercase();
        if let Some(p) = self.projects.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(p);
        }
        let url = self.url(&format!("projects/{}.json", enc(project)), &[("include", "trackers")])?;
        let p: ProjectEnvelope = self.get_json(url, "Redmine project").await.map_err(|e| {
            if e.category == ErrorCategory::NotFound {
                err(ErrorCategory::Config, format!("{}: Redmine project {project:?} not found", self.system))
            } else {
                e
            }
        })?;
        let p = Arc::new(p.project);
        if let Ok(mut m) = self.projects.lock() {
            m.insert(key, p.clone());
        }
        Ok(p)
    }

    /// The tracker id of `scope` (a tracker of the project, by name or id).
    async fn tracker_id(&self, scope: &Scope) -> PortResult<u64> {
        let p = self.project(&scope.project).await?;
        wire::lookup_id(&p.trackers, "tracker in this project", &FieldValue::Text(scope.entity_type.clone()))
            .map_err(|e| PortError { category: ErrorCategory::Config, ..e })
    }

    async fn email_of(&self, id: u64) -> Option<String> {
        if let Some(hit) = self.emails.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return hit;
        }
        let url = self.url(&format!("users/{id}.json"), &[]).ok()?;
        let found = match self.get_json::<UserEnvelope>(url, "Redmine user").await {
            Ok(u) => u.user.mail.filter(|m| !m.is_empty()),
            // A passing failure is not remembered.
            Err(e) if e.is_retryable() => return None,
            // Hidden (not an administrator), a group or gone: the user keeps its id only.
            Err(_) => None,
        };
        if let Ok(mut m) = self.emails.lock() {
            m.insert(id, found.clone());
        }
        found
    }

    async fn with_email(&self, u: UserRef) -> UserRef {
        match u.id.parse::<u64>() {
            Ok(id) if u.email.is_none() => UserRef { email: self.email_of(id).await, ..u },
            _ => u,
        }
    }

    async fn read_issue(&self, id: u64) -> PortResult<Option<Issue>> {
        let url = self.url(&format!("issues/{id}.json"), &[("include", "journals,relations")])?;
        match self.get_json::<IssueEnvelope>(url, "Redmine issue").await {
            Ok(e) => Ok(Some(e.issue)),
            Err(e) if e.category == ErrorCategory::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn must_read(&self, id: u64) -> PortResult<Issue> {
        self.read_issue(id)
            .await?
            .ok_or_else(|| err(ErrorCategory::NotFound, format!("{}: Redmine issue {id} not found", self.system)))
    }

    /// Custom field id by `cf_<id>` or by name (from the catalog, else the issue's own values).
    async fn custom_field_id(&self, key: &str, issue: Option<&Issue>) -> PortResult<Option<u64>> {
        if let Some(id) = wire::custom_field_id(key) {
            return Ok(Some(id));
        }
        if let Some(i) = issue {
            if let Some(cv) = i.custom_fields.iter().find(|c| c.name.eq_ignore_ascii_case(key)) {
                return Ok(Some(cv.id));
            }
        }
        Ok(self
            .custom_fields()
            .await?
            .and_then(|defs| defs.iter().find(|d| d.name.eq_ignore_ascii_case(key)))
            .map(|d| d.id))
    }

    async fn snapshot(&self, issue: &Issue, requested: &[FieldKey]) -> PortResult<EntitySnapshot> {
        let updated = wire::parse_time(&issue.updated_on).ok_or_else(|| {
            err(ErrorCategory::BadResponse, format!("Redmine issue {} has no readable updated_on", issue.id))
        })?;
        let mut fields = BTreeMap::new();
        let keys: Vec<String> = if requested.is_empty() {
            CORE_FIELDS
                .iter()
                .map(|s| s.to_string())
                .chain(issue.custom_fields.iter().map(|c| format!("cf_{}", c.id)))
                .collect()
        } else {
            requested.iter().map(|k| k.as_str().to_string()).collect()
        };
        for key in keys {
            let value = match wire::core_value(issue, &key) {
                Some(v) => v,
                None => {
                    let Some(id) = self.custom_field_id(&key, Some(issue)).await? else { continue };
                    match issue.custom_fields.iter().find(|c| c.id == id) {
                        Some(cv) => wire::custom_value(cv),
                        None => continue,
                    }
                }
            };
            let value = match value {
                FieldValue::User(u) => FieldValue::User(self.with_email(u).await),
                v => v,
            };
            fields.insert(FieldKey::new(key), value);
        }
        let changed_by = match wire::changed_by(issue) {
            Some(n) => Some(self.with_email(wire::user_ref(n, None)).await),
            None => None,
        };
        Ok(EntitySnapshot {
            id: EntityId::new(issue.id.to_string()),
            key: issue.id.to_string(),
            revision: wire::revision(issue),
            updated,
            changed_by,
            url: self.issue_url(issue.id),
            fields,
        })
    }

    fn entity_ref(&self, issue: &Issue) -> PortResult<EntityRef> {
        Ok(EntityRef {
            id: EntityId::new(issue.id.to_string()),
            key: issue.id.to_string(),
            url: self.issue_url(issue.id),
            revision: wire::revision(issue),
            updated: wire::parse_time(&issue.updated_on).ok_or_else(|| {
                err(ErrorCategory::BadResponse, format!("Redmine issue {} has no readable updated_on", issue.id))
            })?,
        })
    }

    /// One page of `/issues.json` (offset 0) and the server's clock when it answered.
    async fn list_issues(
        &self,
        query: &[(String, String)],
        limit: usize,
    ) -> PortResult<(Vec<Issue>, Option<DateTime<Utc>>)> {
        let mut url = self.url("issues.json", &[])?;
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
            q.append_pair("limit", &limit.to_string());
        }
        let resp = self.http.send(Method::GET, url, None, None).await?;
        let page: IssueList = resp.json("Redmine issues")?;
        Ok((page.issues, resp.server_time()))
    }

    /// The listing of a read of changes at `position` (see [`paging`]): the issues the
    /// page takes, each with its `updated_on`, and the page's plan.
    async fn list_changes(
        &self,
        base: &[(String, String)],
        position: paging::Position,
        limit: usize,
    ) -> PortResult<(Vec<(u64, DateTime<Utc>)>, paging::Plan, Option<DateTime<Utc>>)> {
        let mut position = position;
        // At most twice: a page that was one second is listed again within that second.
        for _ in 0..2 {
            let mut query = base.to_vec();
            query.extend(paging::listing_conditions(position));
            let (issues, as_of) = self.list_issues(&query, limit).await?;
            let listed = issues
                .iter()
                .map(|i| {
                    wire::parse_time(&i.updated_on).map(|t| (i.id, t)).ok_or_else(|| {
                        err(ErrorCategory::BadResponse, format!("Redmine issue {} has no readable updated_on", i.id))
                    })
                })
                .collect::<PortResult<Vec<_>>>()?;
            let plan = paging::plan(position, &listed, limit);
            match plan.next {
                paging::Next::WithinNow(second) => position = paging::Position::Within { second, after: None },
                _ => {
                    let taken = plan.take.iter().map(|i| listed[*i]).collect();
                    return Ok((taken, plan, as_of));
                }
            }
        }
        Err(err(ErrorCategory::BadResponse, "Redmine listed one second twice as a whole page"))
    }

    /// The ids among `ids` that match the filter conditions `extra` (one listing).
    async fn matching(
        &self,
        base: &[(String, String)],
        extra: &[(String, String)],
        ids: &[u64],
    ) -> PortResult<BTreeSet<u64>> {
        let mut query = with_filter(base, extra);
        let list: Vec<String> = ids.iter().map(u64::to_string).collect();
        query.push(("issue_id".into(), list.join(",")));
        let (issues, _) = self.list_issues(&query, ids.len().max(1)).await?;
        Ok(issues.into_iter().map(|i| i.id).collect())
    }

    /// Issue ids of one listing query, in the server's order (`sort` applies). Offset
    /// paging: only for a sort that edits do not change (`id`); a read of changes pages
    /// by position instead ([`paging`]).
    async fn list_ids(&self, query: &[(String, String)]) -> PortResult<Vec<u64>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let mut url = self.url("issues.json", &[])?;
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in query {
                    q.append_pair(k, v);
                }
                q.append_pair("offset", &offset.to_string()).append_pair("limit", &PAGE.to_string());
            }
            let page: IssueList = self.get_json(url, "Redmine issues").await?;
            let n = page.issues.len() as u64;
            for i in page.issues {
                // Offset paging over a changing list can repeat an issue.
                if seen.insert(i.id) {
                    out.push(i.id);
                }
            }
            offset += PAGE;
            if n == 0 || offset >= page.total_count {
                break;
            }
        }
        Ok(out)
    }

    async fn scope_query(&self, scope: &Scope) -> PortResult<Vec<(String, String)>> {
        let tracker = self.tracker_id(scope).await?;
        Ok(vec![
            ("project_id".into(), scope.project.clone()),
            ("subproject_id".into(), "!*".into()),
            ("tracker_id".into(), tracker.to_string()),
            ("status_id".into(), "*".into()),
        ])
    }

    async fn find_user(&self, email: &str) -> PortResult<Option<UserRef>> {
        let url = self.url("users.json", &[("name", email), ("limit", "100")])?;
        let list: UserList = self.get_json(url, "Redmine users").await.map_err(|e| {
            if e.category == ErrorCategory::Permission {
                PortError {
                    message: format!("{}; finding users by e-mail needs an administrator's API key", e.message),
                    ..e
                }
            } else {
                e
            }
        })?;
        let hits: Vec<UserRef> = list
            .users
            .iter()
            .filter(|u| u.mail.as_deref().is_some_and(|m| m.trim().eq_ignore_ascii_case(email)))
            .map(wire::UserDto::to_user)
            .collect();
        Ok(if hits.len() == 1 { hits.into_iter().next() } else { None })
    }

    async fn user_id_for(&self, field: &str, v: &FieldValue) -> PortResult<Value> {
        let email = match v {
            FieldValue::Null => return Ok(Value::String(String::new())),
            FieldValue::User(u) => {
                if let Ok(id) = u.id.parse::<u64>() {
                    return Ok(Value::from(id));
                }
                u.email.clone().unwrap_or_default()
            }
            other => other.key_string().unwrap_or_default(),
        };
        let email = email.trim();
        if let Ok(id) = email.parse::<u64>() {
            return Ok(Value::from(id));
        }
        match self.find_user_by_email(email).await? {
            Some(u) => {
                u.id.parse::<u64>()
                    .map(Value::from)
                    .map_err(|_| err(ErrorCategory::BadResponse, format!("Redmine user id {:?} is not a number", u.id)))
            }
            None => {
                Err(err(ErrorCategory::UserNotFound, format!("Redmine field {field}: no user with e-mail {email:?}")))
            }
        }
    }

    /// The `issue` object of a create or update. Returns it with the status id wanted (if any).
    async fn issue_body(
        &self,
        changes: &[FieldChange],
        creating: bool,
        current: Option<&Issue>,
    ) -> PortResult<(Map<String, Value>, Option<u64>)> {
        let mut body = Map::new();
        let mut custom = Vec::new();
        let mut status = None;
        for ch in changes {
            let key = ch.field.as_str();
            let v = &ch.value;
            if creating && v.is_null() {
                continue;
            }
            match key {
                "subject" | "description" => {
                    body.insert(key.into(), Value::String(wire::text_of(v)));
                }
                "notes" => {
                    if !v.is_null() {
                        body.insert("notes".into(), Value::String(wire::text_of(v)));
                    }
                }
                "status" => {
                    if v.is_null() {
                        return Err(err(ErrorCategory::InvalidRequest, "Redmine status cannot be empty"));
                    }
                    let id = wire::lookup_id(self.statuses().await?, "status", v)?;
                    body.insert("status_id".into(), Value::from(id));
                    status = Some(id);
                }
                "priority" => {
                    if v.is_null() {
                        return Err(err(ErrorCategory::InvalidRequest, "Redmine priority cannot be empty"));
                    }
                    let id = wire::lookup_id(self.priorities().await?, "priority", v)?;
                    body.insert("priority_id".into(), Value::from(id));
                }
                "tracker" => {
                    let id = wire::lookup_id(self.all_trackers().await?, "tracker", v)?;
                    body.insert("tracker_id".into(), Value::from(id));
                }
                "assigned_to" => {
                    body.insert("assigned_to_id".into(), self.user_id_for(key, v).await?);
                }
                "start_date" | "due_date" => {
                    body.insert(key.into(), wire::date_of(key, v)?);
                }
                "done_ratio" | "estimated_hours" => {
                    body.insert(key.into(), wire::number_of(key, v)?);
                }
                "author" => {
                    return Err(err(ErrorCategory::InvalidRequest, "Redmine field author is read-only"));
                }
                other => {
                    let Some(id) = self.custom_field_id(other, current).await? else {
                        return Err(err(
                            ErrorCategory::InvalidRequest,
                            format!("{other:?} is not a Redmine issue field (use a core field, cf_<id> or a custom field name)"),
                        ));
                    };
                    custom.push(json!({ "id": id, "value": wire::custom_write_value(v) }));
                }
            }
        }
        if !custom.is_empty() {
            body.insert("custom_fields".into(), Value::Array(custom));
        }
        Ok((body, status))
    }

    async fn put_issue(&self, id: u64, body: Map<String, Value>) -> PortResult<()> {
        let url = self.url(&format!("issues/{id}.json"), &[])?;
        self.http.send(Method::PUT, url, Some(&json!({ "issue": body })), None).await.map_err(refine)?;
        Ok(())
    }

    /// A create's steps after the issue exists: the wanted status (a new issue may be
    /// forced into its tracker's default one), then the read of what was made.
    async fn finish_create(&self, id: u64, status: Option<u64>, created: &Issue) -> PortResult<EntityRef> {
        if let (Some(wanted), Some(now)) = (status, &created.status) {
            if now.id != wanted {
                let mut b = Map::new();
                b.insert("status_id".into(), Value::from(wanted));
                self.put_issue(id, b).await?;
            }
        }
        let issue = self.must_read(id).await?;
        self.check_status(&issue, status)?;
        self.entity_ref(&issue)
    }

    async fn update_issue(
        &self,
        id: &EntityId,
        changes: &[FieldChange],
        expected_revision: Option<&str>,
    ) -> PortResult<EntityRef> {
        let id = issue_id(id)?;
        let current = self.must_read(id).await?;
        if let Some(exp) = expected_revision {
            // Redmine has no conditional update; this check narrows the race window only.
            let now = wire::revision(&current);
            if now != exp {
                return Err(err(
                    ErrorCategory::Conflict,
                    format!("{}: Redmine issue {id} is at revision {now}, expected {exp}", self.system),
                ));
            }
        }
        let (body, status) = self.issue_body(changes, false, Some(&current)).await?;
        if body.is_empty() {
            return self.entity_ref(&current);
        }
        self.put_issue(id, body).await?;
        let issue = self.must_read(id).await?;
        self.check_status(&issue, status)?;
        self.entity_ref(&issue)
    }

    /// The caller's key for a journal's field: the requested key that names it (a
    /// custom field may be requested by name), else the journal's own.
    async fn requested_key(&self, name: &str, requested: &[FieldKey], issue: &Issue) -> PortResult<FieldKey> {
        for k in requested {
            if k.as_str() == name {
                return Ok(k.clone());
            }
            if let Some(cf) = name.strip_prefix("cf_").and_then(|id| id.parse::<u64>().ok()) {
                if wire::core_value(issue, k.as_str()).is_none()
                    && self.custom_field_id(k.as_str(), Some(issue)).await? == Some(cf)
                {
                    return Ok(k.clone());
                }
            }
        }
        Ok(FieldKey::new(name))
    }

    /// A journal detail's new value in the form Ferry writes, where it says it plainly:
    /// texts, and statuses, priorities and assignees by their ids.
    async fn detail_value(&self, key: &str, text: Option<String>) -> PortResult<Option<FieldValue>> {
        let Some(text) = text.filter(|t| !t.is_empty()) else { return Ok(Some(FieldValue::Null)) };
        let name_of = |list: &Vec<IdName>| {
            let id = text.parse::<u64>().ok();
            list.iter().find(|n| Some(n.id) == id).map(|n| FieldValue::Option(n.name.clone()))
        };
        Ok(match key {
            "subject" => Some(FieldValue::Text(text)),
            "status" => name_of(self.statuses().await?),
            "priority" => name_of(self.priorities().await?),
            "assigned_to" => Some(FieldValue::User(UserRef { id: text, email: None, display_name: None })),
            k if k.starts_with("cf_") => Some(FieldValue::Text(text)),
            // Description (Redmine's markup, written from HTML) and the rest: no comparable form.
            _ => None,
        })
    }

    /// Redmine ignores a status its workflow does not allow; that is a failed write here.
    fn check_status(&self, issue: &Issue, wanted: Option<u64>) -> PortResult<()> {
        match (wanted, &issue.status) {
            (Some(w), Some(s)) if s.id != w => Err(err(
                ErrorCategory::TransitionNotReachable,
                format!(
                    "{}: Redmine kept issue {} in status {:?}: the workflow does not let this user move it to status id {w}",
                    self.system, issue.id, s.name
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// A listing query with filter conditions: a condition replaces a scope condition of
/// the same name (`status_id=open` narrows the scope's `status_id=*`).
fn with_filter(base: &[(String, String)], extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut q: Vec<(String, String)> =
        base.iter().filter(|(k, _)| !extra.iter().any(|(e, _)| e == k)).cloned().collect();
    q.extend(extra.iter().cloned());
    q
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
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
        let extra = query.filter.map(|f| wire::filter_pairs(&f.condition)).transpose()?;
        let negate = query.filter.is_some_and(|f| f.negate);
        let base = self.scope_query(scope).await?;
        let listing = match (&extra, negate) {
            (Some(extra), false) => with_filter(&base, extra),
            _ => base.clone(),
        };
        let position = match from {
            // Second precision: truncate, then one more second, so the bound only widens.
            None => paging::Position::From { second: query.since.trunc_subsecs(0) - ChronoDuration::seconds(1) },
            Some(t) => t
                .decode()
                .ok_or_else(|| err(ErrorCategory::InvalidRequest, "the read position is not a Redmine position"))?,
        };
        let limit = query.page_size.clamp(1, PAGE as usize);
        let (listed, plan, as_of) = self.list_changes(&listing, position, limit).await?;
        let mut unchanged = 0;
        let mut wanted = Vec::with_capacity(listed.len());
        for (id, updated) in listed {
            if query.seen.get(&EntityId::new(id.to_string())).is_some_and(|s| s.covers_listed(updated)) {
                unchanged += 1;
            } else {
                wanted.push(id);
            }
        }
        if let (Some(extra), true) = (&extra, negate) {
            if !wanted.is_empty() {
                let excluded = self.matching(&base, extra, &wanted).await?;
                wanted.retain(|i| !excluded.contains(i));
            }
        }
        let mut snapshots = Vec::with_capacity(wanted.len());
        for id in wanted {
            if let Some(issue) = self.read_issue(id).await? {
                snapshots.push(self.snapshot(&issue, query.fields).await?);
            }
        }
        snapshots.sort_by(|a, b| {
            let n = |s: &EntitySnapshot| s.id.as_str().parse::<u64>().unwrap_or(0);
            a.updated.cmp(&b.updated).then_with(|| n(a).cmp(&n(b)))
        });
        let next = match plan.next {
            paging::Next::At(p) => Some(ReadToken::encode(&p)),
            _ => None,
        };
        Ok(ChangePage { snapshots, unchanged, through: plan.through, as_of, next })
    }

    async fn get(&self, _scope: &Scope, id: &EntityId, fields: &[FieldKey]) -> PortResult<Option<EntitySnapshot>> {
        let id = issue_id(id)?;
        match self.read_issue(id).await? {
            Some(issue) => self.snapshot(&issue, fields).await.map(Some),
            None => Ok(None),
        }
    }

    async fn create(&self, scope: &Scope, changes: &[FieldChange]) -> PortResult<EntityRef> {
        let project = self.project(&scope.project).await?;
        let tracker = self.tracker_id(scope).await?;
        let (mut body, status) = self.issue_body(changes, true, None).await?;
        body.insert("project_id".into(), Value::from(project.id));
        body.entry("tracker_id").or_insert(Value::from(tracker));
        let url = self.url("issues.json", &[])?;
        let resp = self.http.send(Method::POST, url, Some(&json!({ "issue": body })), None).await.map_err(refine)?;
        let created: IssueEnvelope = resp.json("Redmine create").map_err(PortError::after_applied)?;
        let id = created.issue.id;
        // The issue exists from here on, whatever the next steps answer.
        self.finish_create(id, status, &created.issue).await.map_err(PortError::after_applied)
    }

    async fn update(
        &self,
        _scope: &Scope,
        id: &EntityId,
        changes: &[FieldChange],
        expected_revision: Option<&str>,
    ) -> PortResult<EntityRef> {
        self.update_issue(id, changes, expected_revision).await
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
        let journal = |r: &str| {
            wire::revision_journal(r).ok_or_else(|| {
                err(ErrorCategory::InvalidRequest, format!("{r:?} is not a Redmine revision (updated_on#journal)"))
            })
        };
        let from = after.map(journal).transpose()?;
        let to = journal(through)?;
        let issue = self.must_read(issue_id(id)?).await?;
        let mut out = Vec::new();
        if from.is_none() {
            let author = match &issue.author {
                Some(a) => Some(self.with_email(wire::user_ref(a, None)).await),
                None => None,
            };
            out.push(HistoryEntry { author, created: true, fields: Vec::new() });
        }
        let mut journals: Vec<&wire::Journal> =
            issue.journals.iter().filter(|j| j.id > from.unwrap_or(0) && j.id <= to).collect();
        journals.sort_by_key(|j| j.id);
        for j in journals {
            let mut changed = Vec::new();
            for d in &j.details {
                let (name, text) = wire::detail_field(d);
                let key = self.requested_key(&name, fields, &issue).await?;
                let value = self.detail_value(&name, text).await?;
                changed.push((key, value));
            }
            let author = match &j.user {
                Some(u) => Some(self.with_email(wire::user_ref(u, None)).await),
                None => None,
            };
            out.push(HistoryEntry { author, created: false, fields: changed });
        }
        Ok(out)
    }

    async fn find_by_field(&self, scope: &Scope, field: &FieldKey, value: &str) -> PortResult<Option<EntityRef>> {
        let cf = self.custom_field_id(field.as_str(), None).await?.ok_or_else(|| {
            err(
                ErrorCategory::Config,
                format!(
                    "{}: find by {:?}: only Redmine custom fields (cf_<id> or name) can be searched",
                    self.system,
                    field.as_str()
                ),
            )
        })?;
        let mut q = self.scope_query(scope).await?;
        q.push((format!("cf_{cf}"), value.to_string()));
        q.push(("sort".into(), "id:asc".into()));
        for id in self.list_ids(&q).await? {
            let Some(issue) = self.read_issue(id).await? else { continue };
            // The server's match can ignore case; the remote id must match exactly.
            let exact = issue
                .custom_fields
                .iter()
                .any(|c| c.id == cf && wire::custom_value(c).key_string().as_deref() == Some(value));
            if exact {
                return self.entity_ref(&issue).map(Some);
            }
        }
        Ok(None)
    }

    async fn upsert_remote_link(&self, _scope: &Scope, id: &EntityId, link: &RemoteLink) -> PortResult<()> {
        let id = issue_id(id)?;
        let issue = self.must_read(id).await?;
        let exists = issue.journals.iter().any(|j| {
            j.notes.as_deref().is_some_and(|n| n.starts_with(LINK_NOTE_PREFIX) && n.contains(link.url.as_str()))
        });
        if exists {
            return Ok(());
        }
        let mut body = Map::new();
        body.insert("notes".into(), Value::String(format!("{LINK_NOTE_PREFIX} {} {}", link.title, link.url)));
        self.put_issue(id, body).await
    }

    async fn last_updated(&self, scope: &Scope) -> PortResult<Option<DateTime<Utc>>> {
        let scope_q = self.scope_query(scope).await?;
        let mut url = self.url("issues.json", &[])?;
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in scope_q {
                q.append_pair(&k, &v);
            }
            q.append_pair("sort", "updated_on:desc,id:desc").append_pair("limit", "1");
        }
        let page: IssueList = self.get_json(url, "Redmine issues").await?;
        match page.issues.first() {
            Some(i) => wire::parse_time(&i.updated_on).map(Some).ok_or_else(|| {
                err(ErrorCategory::BadResponse, format!("Redmine issue {} has no readable updated_on", i.id))
            }),
            None => Ok(None),
        }
    }

    async fn validate_filter(&self, scope: &Scope, condition: &str) -> PortResult<()> {
        let extra = wire::filter_pairs(condition)?;
        let base = self.scope_query(scope).await?;
        let mut url = self.url("issues.json", &[])?;
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in base.iter().filter(|(k, _)| !extra.iter().any(|(e, _)| e == k)) {
                q.append_pair(k, v);
            }
            for (k, v) in &extra {
                q.append_pair(k, v);
            }
            q.append_pair("limit", "1");
        }
        match self.get_json::<IssueList>(url, "Redmine issues").await {
            Ok(_) => Ok(()),
            Err(e) if e.category == ErrorCategory::InvalidRequest => Err(err(
                ErrorCategory::Config,
                format!("Redmine refuses the criteria filter {condition:?}: {}", e.message),
            )),
            Err(e) => Err(e),
        }
    }

    async fn integration_user(&self) -> PortResult<UserRef> {
        self.me
            .get_or_try_init(|| async {
                let u: UserEnvelope = self.get_json(self.url("my/account.json", &[])?, "Redmine my account").await?;
                Ok(u.user.to_user())
            })
            .await
            .cloned()
    }

    async fn find_user_by_email(&self, email: &str) -> PortResult<Option<UserRef>> {
        let email = email.trim();
        if email.is_empty() || !email.contains('@') {
            return Ok(None);
        }
        self.find_user(email).await
    }

    async fn projects(&self) -> PortResult<Vec<ProjectInfo>> {
        let mut out = Vec::new();
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let url = self.url("projects.json", &[("offset", &offset.to_string()), ("limit", &PAGE.to_string())])?;
            let page: ProjectList = self.get_json(url, "Redmine projects").await?;
            let n = page.projects.len() as u64;
            out.extend(page.projects.into_iter().map(|p| ProjectInfo {
                id: p.id.to_string(),
                key: p.identifier,
                name: p.name,
            }));
            offset += PAGE;
            if n == 0 || offset >= page.total_count {
                break;
            }
        }
        Ok(out)
    }

    async fn entity_types(&self, project: &str) -> PortResult<Vec<EntityTypeInfo>> {
        let p = self.project(project).await?;
        let states: Vec<String> = self.statuses().await?.iter().map(|s| s.name.clone()).collect();
        Ok(p.trackers
            .iter()
            .map(|t| EntityTypeInfo { id: t.id.to_string(), name: t.name.clone(), states: states.clone() })
            .collect())
    }

    async fn fields(&self, scope: &Scope) -> PortResult<Vec<FieldInfo>> {
        let tracker = self.tracker_id(scope).await?;
        let project = self.project(&scope.project).await?;
        let names = |l: &[IdName]| l.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
        let info = |key: &str, name: &str, field_type: FieldType, required: bool, allowed: Vec<String>| FieldInfo {
            key: FieldKey::new(key),
            name: name.into(),
            field_type,
            required,
            allowed_values: allowed,
        };
        let mut out = vec![
            info("subject", "Subject", FieldType::Text, true, vec![]),
            info("description", "Description", FieldType::Text, false, vec![]),
            info("status", "Status", FieldType::Option, true, names(self.statuses().await?)),
            info("priority", "Priority", FieldType::Option, true, names(self.priorities().await?)),
            info("tracker", "Tracker", FieldType::Option, true, names(&project.trackers)),
            info("assigned_to", "Assignee", FieldType::User, false, vec![]),
            info("author", "Author", FieldType::User, false, vec![]),
            info("start_date", "Start date", FieldType::DateTime, false, vec![]),
            info("due_date", "Due date", FieldType::DateTime, false, vec![]),
            info("done_ratio", "% Done", FieldType::Number, false, vec![]),
            info("estimated_hours", "Estimated time", FieldType::Number, false, vec![]),
            info("notes", "Notes (comment, write-only)", FieldType::Text, false, vec![]),
        ];
        match self.custom_fields().await? {
            Some(defs) => {
                for d in defs.iter().filter(|d| d.trackers.is_empty() || d.trackers.iter().any(|t| t.id == tracker)) {
                    let ty = match d.field_format.as_str() {
                        _ if d.multiple => FieldType::List,
                        "int" | "float" => FieldType::Number,
                        "bool" => FieldType::Bool,
                        "date" => FieldType::DateTime,
                        "list" | "enumeration" | "version" => FieldType::Option,
                        "user" => FieldType::User,
                        "string" | "text" | "link" => FieldType::Text,
                        _ => FieldType::Other,
                    };
                    let allowed = d.possible_values.iter().map(|v| v.value.clone()).collect();
                    out.push(info(&format!("cf_{}", d.id), &d.name, ty, d.is_required, allowed));
                }
            }
            None => {
                // Not an administrator: the custom fields the newest issue carries.
                let q = self.scope_query(scope).await?;
                let mut url = self.url("issues.json", &[])?;
                {
                    let mut qp = url.query_pairs_mut();
                    for (k, v) in &q {
                        qp.append_pair(k, v);
                    }
                    qp.append_pair("sort", "updated_on:desc").append_pair("limit", "1");
                }
                let page: IssueList = self.get_json(url, "Redmine issues").await?;
                for c in page.issues.iter().flat_map(|i| i.custom_fields.iter()) {
                    out.push(info(&format!("cf_{}", c.id), &c.name, FieldType::Text, false, vec![]));
                }
            }
        }
        Ok(out)
    }

    async fn users(&self, project: &str) -> PortResult<Vec<UserRef>> {
        let mut out = Vec::new();
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let url = self.url(
                &format!("projects/{}/memberships.json", enc(project)),
                &[("offset", &offset.to_string()), ("limit", &PAGE.to_string())],
            )?;
            let page: MembershipList = self.get_json(url, "Redmine memberships").await?;
            let n = page.memberships.len() as u64;
            for m in page.memberships {
                // Group memberships have `group` instead of `user`.
                if let Some(u) = m.user {
                    out.push(self.with_email(wire::user_ref(&u, None)).await);
                }
            }
            offset += PAGE;
            if n == 0 || offset >= page.total_count {
                break;
            }
        }
        out.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.id.cmp(&b.id)));
        out.dedup_by(|a, b| a.id == b.id);
        Ok(out)
    }
}
