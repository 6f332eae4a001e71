//! Jira Cloud REST v3 connector.
//!
//! Reads go through `POST /rest/api/3/search/jql` (token paging, no totals) and
//! `GET /issue/{id}`; rich text is converted between ADF and HTML at this edge
//! ([`crate::adf`]); status changes go through workflow transitions, several hops if
//! needed. Jira has no optimistic concurrency on edits, so `expected_revision` is
//! ignored: the engine's fingerprint and revision checks carry that role.

mod convert;
mod history;
#[cfg(test)]
mod sim_tests;

use crate::http::{Auth, Http, HttpOptions};
use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use convert::{FieldMeta, Kind};
use ferry_domain::ports::{ChangePage, ChangeQuery, Connector, PortResult, QueryFilter, ReadToken};
use ferry_domain::{
    AuthConfig, EntityId, EntityRef, EntitySnapshot, EntityTypeInfo, ErrorCategory, FieldChange, FieldInfo, FieldKey,
    FieldType, FieldValue, HistoryEntry, PortError, ProjectInfo, RemoteLink, Scope, SystemConfig, SystemKind, UserRef,
};
use jiff::tz::TimeZone;
use reqwest::Method;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use tokio::sync::OnceCell;
use url::Url;

/// Issues per search page (Jira's default and a safe size with changelogs).
const PAGE_SIZE: u64 = 50;
/// Transition hops tried to reach a target status.
const MAX_HOPS: usize = 5;
/// Guard against a server that keeps handing out page tokens.
const MAX_PAGES: usize = 10_000;
/// Issues per page of a read of changes: what `search/jql` returns at most when more
/// than ids are asked for.
const CHANGES_PAGE_MAX: usize = 100;

/// Where a read of changes continues (see [`JiraConnector::changes`]).
#[derive(Debug, Serialize, Deserialize)]
struct JiraPosition {
    /// The JQL `updated >=` literal the read started with.
    since: String,
    /// The search's `nextPageToken`.
    token: String,
}

#[derive(Debug, Clone)]
struct IssueType {
    id: String,
    name: String,
}

/// Per issue type name: its statuses as (name, category key).
type StatusesByType = Vec<(String, Vec<(String, String)>)>;

pub struct JiraConnector {
    http: Http,
    browse_base: String,
    myself: OnceCell<Value>,
    fields: OnceCell<HashMap<String, FieldMeta>>,
    issue_types: Mutex<HashMap<String, Vec<IssueType>>>,
    /// Project key -> [(issue type name, [status (name, category key)])].
    statuses: Mutex<HashMap<String, StatusesByType>>,
    users_by_email: Mutex<HashMap<String, Option<UserRef>>>,
    /// Workflow edges learned from transition reads, per (project, issue type).
    workflows: Mutex<HashMap<(String, String), Workflow>>,
}

/// From status -> reachable statuses (lower-case names).
type Workflow = HashMap<String, Vec<String>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned cache is still a valid cache.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The array at `key` of a response (the body itself for `None`). A missing or
/// non-array value is a bad response, never an empty list: an empty search would read
/// as "no such issue" and lead to a duplicate.
fn array_at<'a>(v: &'a Value, key: Option<&str>, what: &str) -> PortResult<&'a [Value]> {
    let found = match key {
        Some(k) => v.get(k),
        None => Some(v),
    };
    found.and_then(Value::as_array).map(Vec::as_slice).ok_or_else(|| {
        convert::bad_response(what, key.map_or("expected an array".to_string(), |k| format!("no `{k}` array")))
    })
}

fn str_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
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
        let http = Http::new(&format!("jira {}", system.id), &system.base_url, auth, opts, convert::error_text)?;
        let browse_base = http.base().as_str().trim_end_matches('/').to_string();
        Ok(Self {
            http,
            browse_base,
            myself: OnceCell::new(),
            fields: OnceCell::new(),
            issue_types: Mutex::new(HashMap::new()),
            statuses: Mutex::new(HashMap::new()),
            users_by_email: Mutex::new(HashMap::new()),
            workflows: Mutex::new(HashMap::new()),
        })
    }

    // ------------------------------------------------------------ HTTP helpers

    fn api(&self, segments: &[&str], query: &[(&str, String)]) -> PortResult<Url> {
        let mut url = self.http.url("rest/api/3/")?;
        {
            let mut segs = url
                .path_segments_mut()
                .map_err(|_| PortError::new(ErrorCategory::Config, "jira base URL cannot take a path"))?;
            segs.pop_if_empty();
            for s in segments {
                segs.push(s);
            }
        }
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    async fn get_json(&self, url: Url, what: &str) -> PortResult<Value> {
        self.http.send(Method::GET, url, None, None).await?.json(what)
    }

    async fn post_json(&self, url: Url, body: &Value, what: &str) -> PortResult<Value> {
        let resp = self.http.send(Method::POST, url, Some(body), None).await?;
        if resp.body.is_empty() {
            return Ok(Value::Null);
        }
        resp.json(what)
    }

    async fn search_page(&self, body: &Value) -> PortResult<Value> {
        let url = self.api(&["search", "jql"], &[])?;
        self.post_json(url, body, "search/jql").await
    }

    // ------------------------------------------------------------ caches

    async fn myself(&self) -> PortResult<&Value> {
        self.myself
            .get_or_try_init(|| async {
                let url = self.api(&["myself"], &[])?;
                self.get_json(url, "myself").await
            })
            .await
    }

    /// The integration user's profile zone: Jira reads JQL date literals in it.
    async fn time_zone(&self) -> PortResult<TimeZone> {
        let me = self.myself().await?;
        let name = me.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
        Ok(TimeZone::get(name).unwrap_or_else(|_| {
            tracing::warn!(time_zone = name, "unknown Jira profile time zone; using UTC");
            TimeZone::UTC
        }))
    }

    async fn field_metas(&self) -> PortResult<&HashMap<String, FieldMeta>> {
        self.fields
            .get_or_try_init(|| async {
                let url = self.api(&["field"], &[])?;
                let v = self.get_json(url, "field").await?;
                let list = v.as_array().ok_or_else(|| convert::bad_response("field", "expected an array"))?;
                Ok(list.iter().filter_map(FieldMeta::from_json).map(|m| (m.id.clone(), m)).collect())
            })
            .await
    }

    async fn meta(&self, field: &FieldKey) -> PortResult<FieldMeta> {
        self.field_metas().await?.get(field.as_str()).cloned().ok_or_else(|| {
            PortError::new(
                ErrorCategory::Config,
                format!("Jira has no field {field:?} (see `ferry discover` for field keys)"),
            )
        })
    }

    async fn issue_types(&self, project: &str) -> PortResult<Vec<IssueType>> {
        if let Some(t) = lock(&self.issue_types).get(project) {
            return Ok(t.clone());
        }
        let mut out = Vec::new();
        let mut start = 0u64;
        loop {
            let url = self.api(
                &["issue", "createmeta", project, "issuetypes"],
                &[("startAt", start.to_string()), ("maxResults", "200".into())],
            )?;
            let v = self.get_json(url, "createmeta issuetypes").await?;
            let key = if v.get("issueTypes").is_some() { "issueTypes" } else { "values" };
            let page = array_at(&v, Some(key), "createmeta issuetypes")?;
            for t in page {
                if let (Some(id), Some(name)) = (t.get("id").and_then(str_of), t.get("name").and_then(Value::as_str)) {
                    out.push(IssueType { id, name: name.to_string() });
                }
            }
            let total = v.get("total").and_then(Value::as_u64).unwrap_or(0);
            start += page.len() as u64;
            if page.is_empty() || start >= total {
                break;
            }
        }
        lock(&self.issue_types).insert(project.to_string(), out.clone());
        Ok(out)
    }

    async fn issue_type_id(&self, scope: &Scope) -> PortResult<String> {
        let types = self.issue_types(&scope.project).await?;
        types
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(&scope.entity_type) || t.id == scope.entity_type)
            .map(|t| t.id.clone())
            .ok_or_else(|| {
                PortError::new(
                    ErrorCategory::Config,
                    format!(
                        "Jira project {} has no issue type {:?} (known: {})",
                        scope.project,
                        scope.entity_type,
                        types.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
            })
    }

    /// Statuses per issue type of a project (`/project/{key}/statuses`).
    async fn project_statuses(&self, project: &str) -> PortResult<StatusesByType> {
        if let Some(s) = lock(&self.statuses).get(project) {
            return Ok(s.clone());
        }
        let url = self.api(&["project", project, "statuses"], &[])?;
        let v = self.get_json(url, "project statuses").await?;
        let mut out = Vec::new();
        for t in array_at(&v, None, "project statuses")? {
            let name = t.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            let statuses = t
                .get("statuses")
                .and_then(Value::as_array)
                .map(|ss| {
                    ss.iter()
                        .filter_map(|s| {
                            let n = s.get("name").and_then(Value::as_str)?;
                            let cat =
                                s.pointer("/statusCategory/key").and_then(Value::as_str).unwrap_or("").to_string();
                            Some((n.to_string(), cat))
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push((name, statuses));
        }
        lock(&self.statuses).insert(project.to_string(), out.clone());
        Ok(out)
    }

    // ------------------------------------------------------------ reading issues

    /// Field ids sent to search / get: the requested ones plus what a snapshot needs.
    fn wire_fields(fields: &[FieldKey]) -> Vec<String> {
        if fields.is_empty() {
            // The port's convention: no field list means every field.
            return vec!["*all".to_string()];
        }
        let mut out: Vec<String> = Vec::new();
        for f in fields.iter().map(FieldKey::as_str).chain(["updated", "created", "creator", "reporter"]) {
            if !out.iter().any(|x| x == f) {
                out.push(f.to_string());
            }
        }
        out
    }

    fn snapshot(
        &self,
        issue: &Value,
        fields: &[FieldKey],
        metas: &HashMap<String, FieldMeta>,
    ) -> PortResult<EntitySnapshot> {
        let id =
            issue.get("id").and_then(str_of).ok_or_else(|| convert::bad_response("issue", "an issue has no id"))?;
        let key = issue.get("key").and_then(Value::as_str).unwrap_or(&id).to_string();
        let f = issue.get("fields").cloned().unwrap_or(Value::Null);
        let updated = f
            .get("updated")
            .and_then(convert::parse_time)
            .ok_or_else(|| convert::bad_response("issue", format!("{key} has no readable `updated`")))?;
        let mut values = BTreeMap::new();
        if fields.is_empty() {
            // Every field returned, best effort: system fields Ferry does not model
            // (votes, watches, ...) are left out rather than failing the read.
            for (name, raw) in f.as_object().into_iter().flatten() {
                let kind = metas.get(name.as_str()).map(|m| m.kind);
                if let Ok(v) = convert::to_field_value(raw, kind) {
                    values.insert(FieldKey::new(name.clone()), v);
                }
            }
        }
        for fk in fields {
            // Jira returns every requested field the caller may see, `null` when empty;
            // one it leaves out (no permission, not in the issue's field context) is
            // missing, not empty, and stays out of the snapshot.
            let Some(raw) = f.get(fk.as_str()) else { continue };
            let kind = metas.get(fk.as_str()).map(|m| m.kind);
            let v = convert::to_field_value(raw, kind)
                .map_err(|e| convert::bad_response("issue", format!("{key} field {fk}: {e}")))?;
            values.insert(fk.clone(), v);
        }
        Ok(EntitySnapshot {
            id: EntityId::new(id),
            url: format!("{}/browse/{key}", self.browse_base),
            revision: updated.timestamp_millis().to_string(),
            changed_by: changed_by(issue, updated),
            key,
            updated,
            fields: values,
        })
    }

    async fn entity_ref(&self, id: &str) -> PortResult<EntityRef> {
        let url = self.api(&["issue", id], &[("fields", "updated".into())])?;
        let v = self.get_json(url, "issue").await?;
        let snap = self.snapshot(&v, &[], &HashMap::new())?;
        Ok(EntityRef { id: snap.id, key: snap.key, url: snap.url, revision: snap.revision, updated: snap.updated })
    }

    // ------------------------------------------------------------ writing issues

    /// Wire `fields` for `changes` (status and, with a status change, resolution are
    /// left to the transition).
    async fn wire_changes(&self, changes: &[FieldChange], skip_nulls: bool) -> PortResult<Map<String, Value>> {
        let has_status = changes.iter().any(|c| c.field.as_str() == "status");
        let mut out = Map::new();
        for c in changes {
            let k = c.field.as_str();
            if k == "status" || (has_status && k == "resolution") || k == "project" || k == "issuetype" {
                continue;
            }
            if skip_nulls && c.value.is_null() {
                continue;
            }
            let meta = self.meta(&c.field).await?;
            out.insert(k.to_string(), convert::to_wire(&c.value, &meta)?);
        }
        Ok(out)
    }

    async fn current_status(&self, id: &str) -> PortResult<String> {
        let url = self.api(&["issue", id], &[("fields", "status".into())])?;
        let v = self.get_json(url, "issue").await?;
        Ok(v.pointer("/fields/status/name").and_then(Value::as_str).unwrap_or("").to_string())
    }

    /// Moves the issue to `target` through up to [`MAX_HOPS`] transitions, re-reading
    /// the available transitions after each hop.
    async fn transition_to(&self, scope: &Scope, id: &str, target: &str, changes: &[FieldChange]) -> PortResult<()> {
        let mut current = self.current_status(id).await?;
        if current.eq_ignore_ascii_case(target) {
            return Ok(());
        }
        // Status categories steer multi-hop choices (To Do -> In Progress -> Done).
        let categories: HashMap<String, String> = match self.project_statuses(&scope.project).await {
            Ok(types) => {
                let of_type: Vec<(String, String)> = types
                    .iter()
                    .filter(|(t, _)| t.eq_ignore_ascii_case(&scope.entity_type))
                    .flat_map(|(_, s)| s.clone())
                    .collect();
                if !of_type.is_empty() && !of_type.iter().any(|(n, _)| n.eq_ignore_ascii_case(target)) {
                    return Err(PortError::new(
                        ErrorCategory::TransitionNotReachable,
                        format!(
                            "status {target:?} does not exist for {} {} (from {current:?}); statuses: {}",
                            scope.project,
                            scope.entity_type,
                            of_type.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                of_type.into_iter().map(|(n, c)| (n.to_lowercase(), c)).collect()
            }
            Err(e) => {
                tracing::debug!("project statuses unavailable, transitions go unranked: {e}");
                HashMap::new()
            }
        };
        let start = current.clone();
        let wf_key = (scope.project.clone(), scope.entity_type.to_lowercase());
        let mut visited: Vec<String> = Vec::new();
        for _ in 0..MAX_HOPS {
            visited.push(current.to_lowercase());
            let url = self.api(&["issue", id, "transitions"], &[("expand", "transitions.fields".into())])?;
            let v = self.get_json(url, "transitions").await?;
            let transitions = array_at(&v, Some("transitions"), "transitions")?.to_vec();
            let known = {
                let mut wfs = lock(&self.workflows);
                let wf = wfs.entry(wf_key.clone()).or_default();
                wf.insert(current.to_lowercase(), transitions.iter().map(|t| to_name(t).to_lowercase()).collect());
                wf.clone()
            };
            let chosen = choose_transition(&transitions, target, &visited, &known, &categories);
            let Some(t) = chosen else {
                return Err(PortError::new(
                    ErrorCategory::TransitionNotReachable,
                    format!(
                        "no workflow path from status {start:?} to {target:?} for issue {id} (stuck at {current:?}; visited: {})",
                        visited.join(" -> ")
                    ),
                ));
            };
            let tid = t.get("id").and_then(str_of).unwrap_or_default();
            let fields = self.transition_fields(t, changes).await?;
            let mut body = json!({"transition": {"id": tid}});
            if !fields.is_empty() {
                body["fields"] = Value::Object(fields);
            }
            let url = self.api(&["issue", id, "transitions"], &[])?;
            self.http.send(Method::POST, url, Some(&body), None).await.map_err(|e| {
                let e = convert::refine_write_error(e);
                PortError {
                    message: format!("transition {tid} from {current:?} toward {target:?}: {}", e.message),
                    ..e
                }
            })?;
            current = to_name(t);
            if current.eq_ignore_ascii_case(target) {
                return Ok(());
            }
        }
        Err(PortError::new(
            ErrorCategory::TransitionNotReachable,
            format!(
                "status {target:?} not reached from {start:?} within {MAX_HOPS} transitions for issue {id} (now {current:?})"
            ),
        ))
    }

    /// Values for fields a transition screen requires: Ferry's own change when it has
    /// one, else a sensible allowed value ("Done" for resolutions, else the first).
    async fn transition_fields(&self, transition: &Value, changes: &[FieldChange]) -> PortResult<Map<String, Value>> {
        let mut out = Map::new();
        let Some(fields) = transition.get("fields").and_then(Value::as_object) else {
            return Ok(out);
        };
        for (fid, fm) in fields {
            let required = fm.get("required").and_then(Value::as_bool).unwrap_or(false);
            if let Some(c) = changes.iter().find(|c| c.field.as_str() == fid) {
                if !c.value.is_null() {
                    let meta = match self.meta(&c.field).await {
                        Ok(m) => m,
                        Err(_) => FieldMeta {
                            id: fid.clone(),
                            name: fid.clone(),
                            kind: convert::kind_of(fid, fm.get("schema").unwrap_or(&Value::Null)),
                            schema_type: String::new(),
                        },
                    };
                    out.insert(fid.clone(), convert::to_wire(&c.value, &meta)?);
                    continue;
                }
            }
            if !required || fm.get("hasDefaultValue").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let allowed = fm.get("allowedValues").and_then(Value::as_array).cloned().unwrap_or_default();
            let label =
                |v: &Value| v.get("name").or_else(|| v.get("value")).and_then(Value::as_str).map(str::to_string);
            let pick = allowed
                .iter()
                .find(|v| label(v).is_some_and(|l| l.eq_ignore_ascii_case("Done")))
                .or_else(|| allowed.first());
            let Some(pick) = pick else {
                let name = fm.get("name").and_then(Value::as_str).unwrap_or(fid);
                return Err(PortError::new(
                    ErrorCategory::RequiredFieldMissing,
                    format!(
                        "transition {:?} requires field {fid} ({name}) and Ferry has no value for it: map it or give it a default in Jira",
                        transition.get("name").and_then(Value::as_str).unwrap_or("")
                    ),
                ));
            };
            let value = if let Some(n) = pick.get("name").and_then(Value::as_str) {
                json!({"name": n})
            } else if let Some(v) = pick.get("value").and_then(Value::as_str) {
                json!({"value": v})
            } else {
                json!({"id": pick.get("id").cloned().unwrap_or(Value::Null)})
            };
            out.insert(fid.clone(), value);
        }
        Ok(out)
    }

    fn status_target(changes: &[FieldChange]) -> PortResult<Option<String>> {
        match changes.iter().find(|c| c.field.as_str() == "status") {
            None => Ok(None),
            Some(c) if c.value.is_null() => Ok(None),
            Some(c) => match &c.value {
                FieldValue::Option(s) | FieldValue::Text(s) => Ok(Some(s.clone())),
                other => Err(PortError::new(
                    ErrorCategory::InvalidRequest,
                    format!("status must be a status name, got {other:?}"),
                )),
            },
        }
    }
}

fn to_name(t: &Value) -> String {
    t.pointer("/to/name").and_then(Value::as_str).unwrap_or("").to_string()
}

fn category_rank(cat: &str) -> i32 {
    match cat {
        "new" => 0,
        "done" => 2,
        _ => 1,
    }
}

/// Picks the next transition toward `target`: a direct one; else the first hop of the
/// shortest path through workflow edges already seen; else the unvisited status whose
/// category (to do / in progress / done) is closest to the target's. Ties keep Jira's
/// order.
fn choose_transition<'a>(
    transitions: &'a [Value],
    target: &str,
    visited: &[String],
    known: &Workflow,
    categories: &HashMap<String, String>,
) -> Option<&'a Value> {
    if let Some(t) = transitions.iter().find(|t| to_name(t).eq_ignore_ascii_case(target)) {
        return Some(t);
    }
    let target = target.to_lowercase();
    let distance = |from: &str| -> Option<usize> {
        let mut seen: HashSet<&str> = visited.iter().map(String::as_str).collect();
        let mut frontier = vec![from];
        for d in 0..=MAX_HOPS {
            let mut next = Vec::new();
            for s in frontier {
                if s == target {
                    return Some(d);
                }
                if !seen.insert(s) && d > 0 {
                    continue;
                }
                next.extend(known.get(s).into_iter().flatten().map(String::as_str));
            }
            frontier = next;
        }
        None
    };
    let target_rank = categories.get(&target).map(|c| category_rank(c));
    transitions
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            t.get("isAvailable").and_then(Value::as_bool) != Some(false)
                && !visited.contains(&to_name(t).to_lowercase())
        })
        .min_by_key(|(i, t)| {
            let name = to_name(t).to_lowercase();
            let known_path = distance(&name).unwrap_or(usize::MAX);
            let cat = t
                .pointer("/to/statusCategory/key")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| categories.get(&name).cloned())
                .unwrap_or_default();
            let closeness = target_rank.map_or(0, |tr| (category_rank(&cat) - tr).abs());
            (known_path, closeness, *i)
        })
        .map(|(_, t)| t)
}

/// Adds a search hit; an issue edited while we page can show up twice (on a later
/// page, with a newer `updated`): keep one entry, the newest.
fn merge_snapshot(out: &mut Vec<EntitySnapshot>, index: &mut HashMap<EntityId, usize>, snap: EntitySnapshot) {
    match index.get(&snap.id) {
        Some(&i) => {
            if snap.updated >= out[i].updated {
                out[i] = snap;
            }
        }
        None => {
            index.insert(snap.id.clone(), out.len());
            out.push(snap);
        }
    }
}

/// Who made the issue's latest change: the author of the newest changelog history at
/// (or within a second before) `updated`, otherwise the creator or reporter.
fn changed_by(issue: &Value, updated: DateTime<Utc>) -> Option<UserRef> {
    let threshold = updated - ChronoDuration::seconds(1);
    let newest = issue
        .pointer("/changelog/histories")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|h| {
            let created = h.get("created").and_then(convert::parse_time)?;
            (created >= threshold).then_some((created, h))
        })
        .max_by_key(|(c, _)| *c)
        .and_then(|(_, h)| h.get("author").and_then(convert::user_ref));
    newest.or_else(|| {
        let f = issue.get("fields")?;
        f.get("creator").and_then(convert::user_ref).or_else(|| f.get("reporter").and_then(convert::user_ref))
    })
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
        let (literal, token) = match from {
            None => (convert::jql_since_literal(query.since, &self.time_zone().await?), None),
            Some(t) => {
                let p: JiraPosition = t.decode().ok_or_else(|| {
                    PortError::new(ErrorCategory::InvalidRequest, "the read position is not a Jira search position")
                })?;
                (p.since, Some(p.token))
            }
        };
        let jql = convert::changed_since_jql(&scope.project, &scope.entity_type, &literal, query.filter)?;
        let metas = self.field_metas().await?;
        let mut body = json!({
            "jql": jql,
            "fields": Self::wire_fields(query.fields),
            "expand": "changelog",
            "maxResults": query.page_size.clamp(1, CHANGES_PAGE_MAX),
        });
        if let Some(t) = &token {
            body["nextPageToken"] = json!(t);
        }
        let resp = self.http.send(Method::POST, self.api(&["search", "jql"], &[])?, Some(&body), None).await?;
        let page: Value = resp.json("search/jql")?;
        let mut snapshots: Vec<EntitySnapshot> = Vec::new();
        let mut index: HashMap<EntityId, usize> = HashMap::new();
        for issue in array_at(&page, Some("issues"), "search/jql")? {
            merge_snapshot(&mut snapshots, &mut index, self.snapshot(issue, query.fields, metas)?);
        }
        snapshots.sort_by_key(|s| s.updated);
        let through = snapshots.iter().map(|s| s.updated).max();
        let next_token = page.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty());
        let is_last = page.get("isLast").and_then(Value::as_bool).unwrap_or(next_token.is_none());
        let next = match next_token {
            Some(t) if !is_last => {
                if token.as_deref() == Some(t) {
                    return Err(convert::bad_response("search/jql", "page token repeated"));
                }
                Some(ReadToken::encode(&JiraPosition { since: literal, token: t.to_string() }))
            }
            _ => None,
        };
        Ok(ChangePage { snapshots, unchanged: 0, through, as_of: resp.server_time(), next })
    }

    async fn get(&self, _scope: &Scope, id: &EntityId, fields: &[FieldKey]) -> PortResult<Option<EntitySnapshot>> {
        let metas = self.field_metas().await?;
        let url = self.api(
            &["issue", id.as_str()],
            &[("fields", Self::wire_fields(fields).join(",")), ("expand", "changelog".into())],
        )?;
        match self.get_json(url, "issue").await {
            Ok(v) => self.snapshot(&v, fields, metas).map(Some),
            Err(e) if e.category == ErrorCategory::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create(&self, scope: &Scope, changes: &[FieldChange]) -> PortResult<EntityRef> {
        let target = Self::status_target(changes)?;
        let mut fields = self.wire_changes(changes, true).await?;
        fields.insert("project".into(), json!({"key": scope.project}));
        fields.insert("issuetype".into(), json!({"id": self.issue_type_id(scope).await?}));
        let url = self.api(&["issue"], &[])?;
        let created = self
            .post_json(url, &json!({"fields": fields}), "create issue")
            .await
            .map_err(convert::refine_write_error)?;
        let id = created
            .get("id")
            .and_then(str_of)
            .ok_or_else(|| convert::bad_response("create issue", "no id in the response"))?;
        // The issue exists from here on, whatever the next steps answer.
        if let Some(status) = target {
            self.transition_to(scope, &id, &status, changes).await.map_err(PortError::after_applied)?;
        }
        self.entity_ref(&id).await.map_err(PortError::after_applied)
    }

    /// `expected_revision` is ignored: Jira's edit API has no precondition (no ETag,
    /// no version field), so staleness is caught by the engine before writing.
    async fn update(
        &self,
        scope: &Scope,
        id: &EntityId,
        changes: &[FieldChange],
        _expected_revision: Option<&str>,
    ) -> PortResult<EntityRef> {
        let target = Self::status_target(changes)?;
        let fields = self.wire_changes(changes, false).await?;
        if !fields.is_empty() {
            let url = self.api(&["issue", id.as_str()], &[])?;
            self.http
                .send(Method::PUT, url, Some(&json!({"fields": fields})), None)
                .await
                .map_err(convert::refine_write_error)?;
        }
        if let Some(status) = target {
            self.transition_to(scope, id.as_str(), &status, changes).await?;
        }
        self.entity_ref(id.as_str()).await
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
        let after = after.map(history::revision_millis).transpose()?;
        let through = history::revision_millis(through)?;
        let metas = self.field_metas().await?;
        let url = self.api(
            &["issue", id.as_str()],
            &[("fields", "created,creator,reporter".into()), ("expand", "changelog".into())],
        )?;
        let issue = self.get_json(url, "issue").await?;
        let recent = issue
            .pointer("/changelog/histories")
            .and_then(Value::as_array)
            .ok_or_else(|| convert::bad_response("issue changelog", "no `changelog.histories` array"))?;
        let total = issue.pointer("/changelog/total").and_then(Value::as_u64).unwrap_or(recent.len() as u64);
        let mut entries: Vec<Value> = recent.clone();
        entries.sort_by_key(|h| history::entry_millis(h).unwrap_or(i64::MIN));
        // Older entries exist and the oldest one at hand is still inside the window.
        let mut missing = total.saturating_sub(entries.len() as u64);
        while missing > 0 && entries.first().is_none_or(|h| history::in_window(h, after, through)) {
            let start = missing.saturating_sub(100);
            let url = self.api(
                &["issue", id.as_str(), "changelog"],
                &[("startAt", start.to_string()), ("maxResults", (missing - start).to_string())],
            )?;
            let page = self.get_json(url, "issue changelog").await?;
            let values = array_at(&page, Some("values"), "issue changelog")?;
            if values.is_empty() {
                break;
            }
            let mut older = values.to_vec();
            older.append(&mut entries);
            entries = older;
            missing = start;
        }
        let mut out = Vec::new();
        if after.is_none() {
            out.push(history::creation(&issue));
        }
        out.extend(
            entries.iter().filter(|h| history::in_window(h, after, through)).map(|h| history::entry(h, fields, metas)),
        );
        Ok(out)
    }

    async fn find_by_field(&self, scope: &Scope, field: &FieldKey, value: &str) -> PortResult<Option<EntityRef>> {
        let meta = self.meta(field).await?;
        let op = match meta.kind {
            Kind::Text | Kind::RichText => "~",
            _ => "=",
        };
        let jql = format!(
            "project = {} AND issuetype = {} AND {} {op} {} ORDER BY key ASC",
            convert::jql_str(&scope.project),
            convert::jql_str(&scope.entity_type),
            convert::jql_field(field.as_str()),
            convert::jql_str(value)
        );
        let fields = [field.clone()];
        let metas = self.field_metas().await?;
        let mut token: Option<String> = None;
        for _ in 0..20 {
            let mut body = json!({"jql": jql, "fields": Self::wire_fields(&fields), "maxResults": PAGE_SIZE});
            if let Some(t) = &token {
                body["nextPageToken"] = json!(t);
            }
            let page = self.search_page(&body).await?;
            for issue in array_at(&page, Some("issues"), "search/jql")? {
                let snap = self.snapshot(issue, &fields, metas)?;
                // `~` is a word search: keep only exact matches.
                let hit = snap.fields.get(field).and_then(convert::search_key);
                if hit.as_deref().map(str::trim) == Some(value.trim()) {
                    return Ok(Some(EntityRef {
                        id: snap.id,
                        key: snap.key,
                        url: snap.url,
                        revision: snap.revision,
                        updated: snap.updated,
                    }));
                }
            }
            match page.get("nextPageToken").and_then(Value::as_str) {
                Some(t) if page.get("isLast").and_then(Value::as_bool) != Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(None)
    }

    async fn upsert_remote_link(&self, _scope: &Scope, id: &EntityId, link: &RemoteLink) -> PortResult<()> {
        let url = self.api(&["issue", id.as_str(), "remotelink"], &[])?;
        let body = json!({
            "globalId": link.global_id,
            "application": {"type": "com.ferry.sync", "name": "Ferry"},
            "relationship": "synced with",
            "object": {"url": link.url, "title": link.title},
        });
        self.http.send(Method::POST, url, Some(&body), None).await.map(|_| ())
    }

    async fn last_updated(&self, scope: &Scope) -> PortResult<Option<DateTime<Utc>>> {
        let jql = format!(
            "project = {} AND issuetype = {} ORDER BY updated DESC",
            convert::jql_str(&scope.project),
            convert::jql_str(&scope.entity_type)
        );
        let page = self.search_page(&json!({"jql": jql, "fields": ["updated"], "maxResults": 1})).await?;
        let first = array_at(&page, Some("issues"), "search/jql")?.first();
        match first {
            None => Ok(None),
            Some(i) => i
                .pointer("/fields/updated")
                .and_then(convert::parse_time)
                .map(Some)
                .ok_or_else(|| convert::bad_response("search/jql", "issue without `updated`")),
        }
    }

    async fn validate_filter(&self, scope: &Scope, condition: &str) -> PortResult<()> {
        let tz = self.time_zone().await?;
        let literal = convert::jql_since_literal(Utc::now(), &tz);
        let filter = QueryFilter { condition: condition.to_string(), negate: false };
        let jql = convert::changed_since_jql(&scope.project, &scope.entity_type, &literal, Some(&filter))?;
        let url = self.api(&["jql", "parse"], &[("validation", "strict".into())])?;
        let parsed = self.post_json(url, &json!({ "queries": [jql] }), "jql/parse").await?;
        let errors: Vec<&str> = array_at(&parsed, Some("queries"), "jql/parse")?
            .first()
            .and_then(|q| q.get("errors"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        Err(PortError::new(
            ErrorCategory::Config,
            format!("Jira refuses the criteria filter {condition:?}: {}", errors.join("; ")),
        ))
    }

    async fn integration_user(&self) -> PortResult<UserRef> {
        convert::user_ref(self.myself().await?).ok_or_else(|| convert::bad_response("myself", "no accountId"))
    }

    async fn find_user_by_email(&self, email: &str) -> PortResult<Option<UserRef>> {
        let wanted = email.trim().to_lowercase();
        if wanted.is_empty() {
            return Ok(None);
        }
        if let Some(hit) = lock(&self.users_by_email).get(&wanted) {
            return Ok(hit.clone());
        }
        let url = self.api(&["user", "search"], &[("query", wanted.clone()), ("maxResults", "50".into())])?;
        let v = self.get_json(url, "user/search").await?;
        let mut matches: Vec<UserRef> = array_at(&v, None, "user/search")?
            .iter()
            .filter(|u| u.get("accountType").and_then(Value::as_str) != Some("app"))
            .filter(|u| {
                // Hidden e-mails (privacy) never match, even as the only hit.
                u.get("emailAddress").and_then(Value::as_str).is_some_and(|e| e.trim().eq_ignore_ascii_case(&wanted))
            })
            .filter_map(convert::user_ref)
            .collect();
        matches.dedup_by(|a, b| a.id == b.id);
        let found = if matches.len() == 1 { matches.pop() } else { None };
        lock(&self.users_by_email).insert(wanted, found.clone());
        Ok(found)
    }

    async fn projects(&self) -> PortResult<Vec<ProjectInfo>> {
        let mut out = Vec::new();
        let mut start = 0u64;
        for _ in 0..MAX_PAGES {
            let url = self.api(
                &["project", "search"],
                &[("startAt", start.to_string()), ("maxResults", "50".into()), ("orderBy", "key".into())],
            )?;
            let v = self.get_json(url, "project/search").await?;
            let values = array_at(&v, Some("values"), "project/search")?;
            for p in values {
                if let (Some(id), Some(key)) = (p.get("id").and_then(str_of), p.get("key").and_then(Value::as_str)) {
                    out.push(ProjectInfo {
                        id,
                        key: key.to_string(),
                        name: p.get("name").and_then(Value::as_str).unwrap_or(key).to_string(),
                    });
                }
            }
            start += values.len() as u64;
            if values.is_empty() || v.get("isLast").and_then(Value::as_bool).unwrap_or(true) {
                break;
            }
        }
        Ok(out)
    }

    async fn entity_types(&self, project: &str) -> PortResult<Vec<EntityTypeInfo>> {
        let types = self.issue_types(project).await?;
        let statuses = self.project_statuses(project).await.unwrap_or_default();
        Ok(types
            .into_iter()
            .map(|t| {
                let states = statuses
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&t.name))
                    .map(|(_, s)| s.iter().map(|(n, _)| n.clone()).collect())
                    .unwrap_or_default();
                EntityTypeInfo { id: t.id, name: t.name, states }
            })
            .collect())
    }

    async fn fields(&self, scope: &Scope) -> PortResult<Vec<FieldInfo>> {
        let type_id = self.issue_type_id(scope).await?;
        let metas = self.field_metas().await?;
        let mut out: Vec<FieldInfo> = Vec::new();
        let mut start = 0u64;
        for _ in 0..MAX_PAGES {
            let url = self.api(
                &["issue", "createmeta", scope.project.as_str(), "issuetypes", type_id.as_str()],
                &[("startAt", start.to_string()), ("maxResults", "200".into())],
            )?;
            let v = self.get_json(url, "createmeta fields").await?;
            let page = v
                .get("fields")
                .or_else(|| v.get("results"))
                .or_else(|| v.get("values"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for f in &page {
                let Some(local) = FieldMeta::from_json(f) else {
                    continue;
                };
                let meta = metas.get(&local.id).cloned().unwrap_or(local);
                let allowed = f
                    .get("allowedValues")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| {
                                x.get("name")
                                    .or_else(|| x.get("value"))
                                    .or_else(|| x.get("key"))
                                    .and_then(Value::as_str)
                                    .map(str::to_string)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(FieldInfo {
                    key: FieldKey::new(meta.id.clone()),
                    name: meta.name.clone(),
                    field_type: meta.field_type(),
                    required: f.get("required").and_then(Value::as_bool).unwrap_or(false),
                    allowed_values: allowed,
                });
            }
            let total = v.get("total").and_then(Value::as_u64).unwrap_or(0);
            start += page.len() as u64;
            if page.is_empty() || start >= total {
                break;
            }
        }
        // Fields not on the create screen (status, resolution, created, ...) still sync.
        let statuses = self.project_statuses(&scope.project).await.unwrap_or_default();
        let mut rest: Vec<&FieldMeta> =
            metas.values().filter(|m| !out.iter().any(|f| f.key.as_str() == m.id)).collect();
        rest.sort_by(|a, b| a.id.cmp(&b.id));
        for m in rest {
            let allowed = if m.id == "status" {
                statuses
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&scope.entity_type))
                    .map(|(_, s)| s.iter().map(|(n, _)| n.clone()).collect())
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            out.push(FieldInfo {
                key: FieldKey::new(m.id.clone()),
                name: m.name.clone(),
                field_type: if m.id == "status" { FieldType::Option } else { m.field_type() },
                required: false,
                allowed_values: allowed,
            });
        }
        Ok(out)
    }

    async fn users(&self, project: &str) -> PortResult<Vec<UserRef>> {
        const MAX: u64 = 100;
        let mut out: Vec<UserRef> = Vec::new();
        let mut start = 0u64;
        for _ in 0..MAX_PAGES {
            let url = self.api(
                &["user", "assignable", "search"],
                &[("project", project.to_string()), ("startAt", start.to_string()), ("maxResults", MAX.to_string())],
            )?;
            let v = self.get_json(url, "user/assignable/search").await?;
            let page = array_at(&v, None, "user/assignable/search")?;
            let before = out.len();
            for u in page {
                if u.get("accountType").and_then(Value::as_str) == Some("app") {
                    continue;
                }
                if let Some(r) = convert::user_ref(u) {
                    if !out.iter().any(|x| x.id == r.id) {
                        out.push(r);
                    }
                }
            }
            start += page.len() as u64;
            // The server may cap maxResults below ours: stop on an empty page, or when
            // a page brings nobody new (startAt ignored).
            if page.is_empty()
                || (out.len() == before
                    && page.iter().all(|u| u.get("accountType").and_then(Value::as_str) != Some("app")))
            {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn user(id: &str) -> Value {
        json!({"accountId": id, "displayName": id, "accountType": "atlassian"})
    }

    #[test]
    fn changed_by_is_the_newest_history_author_near_updated() {
        let updated = utc("2026-11-26T18:24:50.500Z");
        let cases = [
            (
                "newest history at updated",
                json!({"fields": {"creator": user("c")}, "changelog": {"histories": [
                    {"created": "2026-11-26T19:24:50.000+0100", "author": user("h1")},
                    {"created": "2026-11-26T19:24:50.500+0100", "author": user("h2")},
                    {"created": "2026-11-26T19:00:00.000+0100", "author": user("old")}]}}),
                Some("h2"),
            ),
            (
                "history too old falls back to creator",
                json!({"fields": {"creator": user("c"), "reporter": user("r")}, "changelog": {"histories": [
                    {"created": "2026-11-26T19:20:00.000+0100", "author": user("old")}]}}),
                Some("c"),
            ),
            ("no creator: reporter", json!({"fields": {"reporter": user("r")}}), Some("r")),
            (
                "epoch created",
                json!({"fields": {}, "changelog": {"histories": [{"created": 1795717490500i64, "author": user("e")}]}}),
                Some("e"),
            ),
            ("nothing known", json!({"fields": {}}), None),
        ];
        for (name, issue, want) in cases {
            assert_eq!(changed_by(&issue, updated).map(|u| u.id).as_deref(), want, "{name}");
        }
    }

    fn snap(id: &str, updated: &str) -> EntitySnapshot {
        EntitySnapshot {
            id: EntityId::new(id),
            key: format!("APP-{id}"),
            revision: utc(updated).timestamp_millis().to_string(),
            updated: utc(updated),
            changed_by: None,
            url: String::new(),
            fields: BTreeMap::new(),
        }
    }

    #[test]
    fn an_issue_seen_on_two_pages_is_kept_once_at_its_newest() {
        let mut out = Vec::new();
        let mut index = HashMap::new();
        for s in [
            snap("1", "2026-11-26T10:00:00Z"),
            snap("2", "2026-11-26T10:01:00Z"),
            snap("1", "2026-11-26T10:05:00Z"),
            snap("2", "2026-11-26T09:00:00Z"),
        ] {
            merge_snapshot(&mut out, &mut index, s);
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].updated, utc("2026-11-26T10:05:00Z"));
        assert_eq!(out[1].updated, utc("2026-11-26T10:01:00Z"));
    }

    #[tokio::test]
    async fn transition_screens_get_mapped_default_or_fail_clearly() {
        let c = connector();
        let screen = |allowed: Value| {
            json!({"id": "31", "name": "Done", "fields": {
                "resolution": {"required": true, "name": "Resolution", "schema": {"type": "resolution"}, "allowedValues": allowed},
                "comment": {"required": false, "name": "Comment"}
            }})
        };
        let picked = c
            .transition_fields(&screen(json!([{"id": "1", "name": "Fixed"}, {"id": "2", "name": "Done"}])), &[])
            .await
            .unwrap();
        assert_eq!(Value::Object(picked), json!({"resolution": {"name": "Done"}}));
        let first = c.transition_fields(&screen(json!([{"id": "7", "value": "Nope"}])), &[]).await.unwrap();
        assert_eq!(Value::Object(first), json!({"resolution": {"value": "Nope"}}));
        let err = c.transition_fields(&screen(json!([])), &[]).await.unwrap_err();
        assert_eq!(err.category, ErrorCategory::RequiredFieldMissing);
        assert!(err.message.contains("resolution"), "{err}");
        let none = c.transition_fields(&json!({"id": "11", "name": "Start"}), &[]).await.unwrap();
        assert!(none.is_empty());
    }

    fn tr(id: &str, to: &str, cat: &str) -> Value {
        json!({"id": id, "name": id, "to": {"name": to, "statusCategory": {"key": cat}}})
    }

    #[test]
    fn next_transition_prefers_direct_then_known_path_then_closest_category() {
        let cats: HashMap<String, String> = [("done", "done"), ("to do", "new"), ("blocked", "indeterminate")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let wf = |edges: &[(&str, &[&str])]| -> Workflow {
            edges.iter().map(|(f, t)| (f.to_string(), t.iter().map(|x| x.to_string()).collect())).collect()
        };
        let from_todo = [
            tr("a", "Blocked", "indeterminate"),
            tr("b", "In Progress", "indeterminate"),
            tr("c", "Won't Fix", "done"),
        ];
        type Case<'a> = (&'a str, Vec<Value>, Vec<&'a str>, Workflow, Option<&'a str>);
        let cases: Vec<Case> = vec![
            ("direct", vec![tr("x", "To Do", "new"), tr("y", "Done", "done")], vec!["in progress"], wf(&[]), Some("y")),
            ("closest category", from_todo.to_vec(), vec!["to do"], wf(&[]), Some("c")),
            (
                "known path beats category",
                from_todo.to_vec(),
                vec!["to do"],
                wf(&[("in progress", &["in review"]), ("in review", &["done"]), ("won't fix", &["to do"])]),
                Some("b"),
            ),
            ("visited excluded", vec![tr("s", "To Do", "new")], vec!["in progress", "to do"], wf(&[]), None),
            (
                "unavailable excluded",
                vec![json!({"id": "u", "isAvailable": false, "to": {"name": "X"}})],
                vec!["to do"],
                wf(&[]),
                None,
            ),
        ];
        for (name, ts, visited, known, want) in cases {
            let visited: Vec<String> = visited.into_iter().map(String::from).collect();
            let got = choose_transition(&ts, "Done", &visited, &known, &cats)
                .and_then(|t| t.get("id").and_then(Value::as_str));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn wire_fields_add_what_snapshots_need_once() {
        let f = JiraConnector::wire_fields(&[FieldKey::new("summary"), FieldKey::new("updated")]);
        assert_eq!(f, vec!["summary", "updated", "created", "creator", "reporter"]);
    }

    fn connector() -> JiraConnector {
        let system: SystemConfig = serde_json::from_value(json!({
            "id": "jira", "kind": "jira", "base_url": "https://acme.atlassian.net/",
            "auth": {"kind": "basic", "username": "bot@acme.test", "token": {"env": "T"}}
        }))
        .unwrap();
        JiraConnector::new(&system, SecretString::from("tok"), HttpOptions::default()).unwrap()
    }

    #[test]
    fn snapshot_reads_revision_url_and_fields_from_a_search_hit() {
        let c = connector();
        let metas: HashMap<String, FieldMeta> = [
            json!({"id": "summary", "name": "Summary", "schema": {"type": "string", "system": "summary"}}),
            json!({"id": "description", "name": "Description", "schema": {"type": "string", "system": "description"}}),
            json!({"id": "priority", "name": "Priority", "schema": {"type": "priority", "system": "priority"}}),
        ]
        .iter()
        .filter_map(FieldMeta::from_json)
        .map(|m| (m.id.clone(), m))
        .collect();
        let issue = json!({
            "id": "10042", "key": "APP-7", "self": "x",
            "fields": {
                "summary": "Main order flow broken",
                "description": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Order entry fails"}]}]},
                "priority": {"id": "2", "name": "High"},
                "assignee": null,
                "updated": "2026-11-26T19:24:50.123+0100",
                "creator": user("5b1")
            }
        });
        let fields = [
            FieldKey::new("summary"),
            FieldKey::new("description"),
            FieldKey::new("priority"),
            FieldKey::new("labels"),
            FieldKey::new("assignee"),
        ];
        let s = c.snapshot(&issue, &fields, &metas).unwrap();
        assert_eq!(s.id.as_str(), "10042");
        assert_eq!(s.key, "APP-7");
        assert_eq!(s.url, "https://acme.atlassian.net/browse/APP-7");
        assert_eq!(s.updated, utc("2026-11-26T18:24:50.123Z"));
        assert_eq!(s.revision, s.updated.timestamp_millis().to_string());
        assert_eq!(s.changed_by.map(|u| u.id).as_deref(), Some("5b1"));
        assert_eq!(s.fields[&FieldKey::new("description")], FieldValue::RichText("<p>Order entry fails</p>".into()));
        assert_eq!(s.fields[&FieldKey::new("priority")], FieldValue::Option("High".into()));
        assert_eq!(s.fields[&FieldKey::new("assignee")], FieldValue::Null, "an explicit null is empty");
        assert_eq!(s.fields.get(&FieldKey::new("labels")), None, "a field Jira left out is missing, not empty");
        let broken = json!({"id": "1", "key": "APP-1", "fields": {"updated": "never"}});
        assert_eq!(c.snapshot(&broken, &[], &metas).unwrap_err().category, ErrorCategory::BadResponse);
    }

    #[test]
    fn api_urls_escape_path_segments_and_query() {
        let c = connector();
        let u = c.api(&["issue", "APP 1/x", "remotelink"], &[("globalId", "a&b=c".into())]).unwrap();
        assert_eq!(u.as_str(), "https://acme.atlassian.net/rest/api/3/issue/APP%201%2Fx/remotelink?globalId=a%26b%3Dc");
    }

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
