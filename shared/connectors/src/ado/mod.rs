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

mod attachments;
mod comments;
mod markup;
mod relations;
mod wiql;
mod wire;

pub use attachments::SIMPLE_UPLOAD_MAX;
pub use wire::error_text;

use crate::http::{check_base_url, Auth, Http, HttpOptions};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_domain::ports::{ChangePage, ChangeQuery, Connector, PortResult, QueryFilter, ReadToken};
use ferry_domain::{Attachment, ByteSink, ByteSource, Capabilities, Comment, CommentWrite, Relation};
use ferry_domain::{
    AuthConfig, EntityId, EntityRef, EntitySnapshot, EntityTypeInfo, ErrorCategory, FieldChange, FieldInfo, FieldKey,
    FieldValue, HistoryEntry, PortError, ProjectInfo, RemoteLink, Scope, SystemConfig, SystemKind, UserRef,
};
use reqwest::Method;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use url::Url;
use wire::{
    identity_ref, parse_time, read_value, write_value, FieldCatalog, FieldDef, Identity, ListOf, ProjectDto,
    TypeFieldDef, WiqlResult, WorkItem, WorkItemTypeDto, WorkItemUpdate,
};

const API_VERSION: &str = "7.1";

/// Where a read of changes continues: after `(changed, id)` in the order (changed date,
/// then id), or from `changed` on when no item marked a position yet.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct AdoPosition {
    #[serde(with = "chrono::serde::ts_milliseconds")]
    changed: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
}

impl AdoPosition {
    fn start(&self) -> wiql::Start {
        match self.id {
            Some(id) => wiql::Start::After(self.changed, id),
            None => wiql::Start::Since(self.changed),
        }
    }
}
/// `workitemsbatch` and `workitems?ids=` take at most 200 ids.
const BATCH: usize = 200;
const JSON_PATCH: &str = "application/json-patch+json";
/// How long an e-mail with no identity is remembered as absent.
const NEGATIVE_USER_TTL: Duration = Duration::from_secs(300);
/// How long a work item type's field list is reused. Within it a field just taken off
/// the type reads as empty rather than missing.
const TYPE_FIELDS_TTL: Duration = Duration::from_secs(60);
/// Fields every read includes, for revision, echo detection and ordering.
const BASE_FIELDS: [&str; 6] =
    ["System.Id", "System.Rev", "System.ChangedDate", "System.ChangedBy", "System.WorkItemType", "System.Title"];

/// A work item type's field reference names, lower case.
type TypeFields = Arc<HashSet<String>>;

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

    /// `{base}{segments...}?{query}&api-version=7.1`, each segment percent-encoded.
    fn api(&self, root: &Url, segments: &[&str], query: &[(&str, &str)]) -> PortResult<Url> {
        let mut url = root.clone();
        url.path_segments_mut()
            .map_err(|_| config_err(format!("{}: base URL cannot hold a path", self.system)))?
            .pop_if_empty()
            .extend(segments);
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
            q.append_pair("api-version", API_VERSION);
        }
        Ok(url)
    }

    fn org_api(&self, segments: &[&str], query: &[(&str, &str)]) -> PortResult<Url> {
        self.api(&self.base, segments, query)
    }

    fn wit(&self, project: &str, rest: &[&str], query: &[(&str, &str)]) -> PortResult<Url> {
        let mut segs = vec![project, "_apis", "wit"];
        segs.extend_from_slice(rest);
        self.org_api(&segs, query)
    }

    fn entity_url(&self, project: &str, id: u64) -> String {
        let mut url = self.base.clone();
        if let Ok(mut s) = url.path_segments_mut() {
            s.pop_if_empty().extend([project, "_workitems", "edit", &id.to_string()]);
        }
        url.to_string()
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: Url, what: &str) -> PortResult<T> {
        let resp = self.http.send(Method::GET, url, None, None).await?;
        resp.json(what)
    }

    async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: &Value,
        content_type: Option<&str>,
        what: &str,
    ) -> PortResult<T> {
        let resp = self.http.send(method, url, Some(body), content_type).await.map_err(refine)?;
        resp.json(what)
    }

    async fn catalog(&self, project: &str) -> PortResult<Arc<FieldCatalog>> {
        let key = project.to_ascii_lowercase();
        if let Some(c) = self.catalogs.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(c);
        }
        let url = self.wit(project, &["fields"], &[])?;
        let list: ListOf<FieldDef> = self.get_json(url, "ADO fields").await?;
        let cat = Arc::new(FieldCatalog::new(list.value));
        if let Ok(mut m) = self.catalogs.lock() {
            m.insert(key, cat.clone());
        }
        Ok(cat)
    }

    /// The reference names (lower case) of the fields the scope's work item type has.
    async fn type_field_names(&self, scope: &Scope) -> PortResult<TypeFields> {
        let key = format!("{}\0{}", scope.project.to_ascii_lowercase(), scope.entity_type.to_ascii_lowercase());
        if let Some((names, at)) = self.type_fields.lock().ok().and_then(|m| m.get(&key).cloned()) {
            if at.elapsed() < TYPE_FIELDS_TTL {
                return Ok(names);
            }
        }
        let url = self.wit(&scope.project, &["workitemtypes", &scope.entity_type, "fields"], &[])?;
        let list: ListOf<TypeFieldDef> = self.get_json(url, "ADO type fields").await?;
        let names: TypeFields =
            Arc::new(list.value.into_iter().map(|f| f.reference_name.to_ascii_lowercase()).collect());
        if let Ok(mut m) = self.type_fields.lock() {
            m.insert(key, (names.clone(), Instant::now()));
        }
        Ok(names)
    }

    async fn run_wiql(&self, project: &str, query: String, top: usize) -> PortResult<WiqlResult> {
        let top = top.to_string();
        let url = self.wit(project, &["wiql"], &[("timePrecision", "true"), ("$top", top.as_str())])?;
        self.send_json(Method::POST, url, &json!({ "query": query }), None, "ADO WIQL").await
    }

    async fn read_batch(&self, project: &str, ids: &[u64], fields: &[String]) -> PortResult<Vec<WorkItem>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH) {
            let url = self.wit(project, &["workitemsbatch"], &[])?;
            let body = json!({ "ids": chunk, "fields": fields, "errorPolicy": "omit" });
            // With errorPolicy=omit, items deleted meanwhile come back as null.
            let list: ListOf<Option<WorkItem>> =
                self.send_json(Method::POST, url, &body, None, "ADO work items batch").await?;
            out.extend(list.value.into_iter().flatten());
        }
        Ok(out)
    }

    /// `on_type`: the type's field names (lower case). Azure DevOps leaves empty fields
    /// out of a work item, so a requested field the type has but the item lacks is
    /// empty (`Null`); one the type does not have is missing and stays out.
    fn snapshot(
        &self,
        project: &str,
        item: &WorkItem,
        catalog: &FieldCatalog,
        on_type: &HashSet<String>,
        requested: &[FieldKey],
    ) -> PortResult<EntitySnapshot> {
        let updated = changed_date(item)?;
        let mut fields = BTreeMap::new();
        let wanted: Vec<&str> = if requested.is_empty() {
            item.fields.keys().map(String::as_str).collect()
        } else {
            requested.iter().map(FieldKey::as_str).collect()
        };
        for key in wanted {
            let found = item.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(key));
            let value = match found {
                Some((_, v)) => read_value(key, catalog.kind(key), v).unwrap_or(FieldValue::Null),
                None if on_type.contains(&key.to_ascii_lowercase()) => FieldValue::Null,
                None => continue,
            };
            fields.insert(FieldKey::new(key), value);
        }
        Ok(EntitySnapshot {
            id: EntityId::new(item.id.to_string()),
            key: item.id.to_string(),
            revision: revision(item).to_string(),
            updated,
            changed_by: item.fields.get("System.ChangedBy").and_then(identity_ref),
            url: self.entity_url(project, item.id),
            fields,
        })
    }

    fn entity_ref(&self, project: &str, item: &WorkItem) -> PortResult<EntityRef> {
        Ok(EntityRef {
            id: EntityId::new(item.id.to_string()),
            key: item.id.to_string(),
            url: self.entity_url(project, item.id),
            revision: revision(item).to_string(),
            updated: changed_date(item)?,
        })
    }

    async fn get_item(&self, project: &str, id: u64, query: &[(&str, &str)]) -> PortResult<Option<WorkItem>> {
        let url = self.wit(project, &["workitems", &id.to_string()], query)?;
        match self.get_json::<WorkItem>(url, "ADO work item").await {
            Ok(item) => Ok(Some(item)),
            // A missing project (TF200016) is a configuration error, not a missing item.
            Err(e) if e.category == ErrorCategory::NotFound && !e.message.contains("TF200016") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// JSON Patch `add`/`remove` operations for `changes`, coerced to field types.
    async fn patch_ops(&self, project: &str, changes: &[FieldChange], creating: bool) -> PortResult<Vec<Value>> {
        let catalog = self.catalog(project).await?;
        let mut ops = Vec::with_capacity(changes.len());
        for ch in changes {
            let field = ch.field.as_str();
            wiql::field_ref(field)?;
            let path = format!("/fields/{field}");
            if ch.value.is_null() {
                if !creating {
                    ops.push(json!({ "op": "remove", "path": path }));
                }
                continue;
            }
            let value = write_value(field, catalog.kind(field), &ch.value)?;
            wire::check_length(field, catalog.def(field), &value)?;
            ops.push(json!({ "op": "add", "path": path, "value": value }));
        }
        Ok(ops)
    }

    async fn lookup_identity(&self, email: &str) -> PortResult<Option<UserRef>> {
        let url = self.api(
            &self.identity_base,
            &["_apis", "identities"],
            &[("searchFilter", "General"), ("filterValue", email), ("queryMembership", "None")],
        )?;
        let list: ListOf<Identity> = self.get_json(url, "ADO identities").await?;
        let mut matches: Vec<UserRef> =
            list.value.iter().filter(|i| i.is_user() && i.matches_email(email)).map(Identity::to_user).collect();
        matches.sort();
        matches.dedup_by(|a, b| a.id == b.id);
        Ok(match matches.len() {
            1 => matches.pop(),
            _ => None,
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

fn work_item_id(id: &EntityId) -> PortResult<u64> {
    id.as_str().trim().parse::<u64>().map_err(|_| {
        PortError::new(ErrorCategory::InvalidRequest, format!("{:?} is not an Azure DevOps work item id", id.as_str()))
    })
}

fn revision(item: &WorkItem) -> u64 {
    item.rev.or_else(|| item.fields.get("System.Rev").and_then(Value::as_u64)).unwrap_or(0)
}

fn changed_date(item: &WorkItem) -> PortResult<DateTime<Utc>> {
    item.fields.get("System.ChangedDate").and_then(Value::as_str).and_then(parse_time).ok_or_else(|| {
        PortError::new(ErrorCategory::BadResponse, format!("work item {} has no readable System.ChangedDate", item.id))
    })
}

/// Requested fields plus the ones every read needs, without duplicates.
fn read_fields(requested: &[FieldKey]) -> Vec<String> {
    let mut out: Vec<String> = BASE_FIELDS.iter().map(|s| s.to_string()).collect();
    for f in requested {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(f.as_str())) {
            out.push(f.as_str().to_string());
        }
    }
    out
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
        for f in query.fields {
            wiql::field_ref(f.as_str())?;
        }
        let project = scope.project.as_str();
        let start = match from {
            // Millisecond literals: truncating `since` can only widen the read.
            None => AdoPosition {
                changed: DateTime::<Utc>::from_timestamp_millis(query.since.timestamp_millis()).unwrap_or(query.since),
                id: None,
            },
            Some(t) => t.decode().ok_or_else(|| {
                PortError::new(ErrorCategory::InvalidRequest, "the read position is not an Azure DevOps position")
            })?,
        };
        let top = query.page_size.clamp(1, BATCH);
        let q = wiql::changed_query(&scope.entity_type, start.start(), query.filter)?;
        let r = self.run_wiql(project, q, top).await?;
        let as_of = r.as_of.as_deref().and_then(parse_time);
        let ids: Vec<u64> = r.work_items.iter().map(|w| w.id).collect();
        let mut snapshots = Vec::with_capacity(ids.len());
        let mut position: Option<AdoPosition> = None;
        if !ids.is_empty() {
            let catalog = self.catalog(project).await?;
            let on_type = self.type_field_names(scope).await?;
            let items = self.read_batch(project, &ids, &read_fields(query.fields)).await?;
            let by_id: HashMap<u64, &WorkItem> = items.iter().map(|i| (i.id, i)).collect();
            // In the query's order; an item deleted meanwhile is gone from the batch.
            for id in &ids {
                let Some(item) = by_id.get(id) else { continue };
                let snap = self.snapshot(project, item, &catalog, &on_type, query.fields)?;
                if as_of.is_none_or(|t| snap.updated <= t) {
                    position = Some(AdoPosition { changed: snap.updated, id: Some(*id) });
                }
                snapshots.push(snap);
            }
        }
        snapshots.sort_by(|a, b| {
            let n = |s: &EntitySnapshot| s.id.as_str().parse::<u64>().unwrap_or(0);
            a.updated.cmp(&b.updated).then_with(|| n(a).cmp(&n(b)))
        });
        let through = position.as_ref().map(|p| p.changed);
        // A short page is the last; a full one continues after its position.
        let next = (ids.len() >= top).then(|| ReadToken::encode(&position.unwrap_or(start)));
        Ok(ChangePage { snapshots, unchanged: 0, through, as_of, next })
    }

    async fn get(&self, scope: &Scope, id: &EntityId, fields: &[FieldKey]) -> PortResult<Option<EntitySnapshot>> {
        for f in fields {
            wiql::field_ref(f.as_str())?;
        }
        let id = work_item_id(id)?;
        let project = scope.project.as_str();
        let names = read_fields(fields).join(",");
        // The port's convention: no field list means every field.
        let params: &[(&str, &str)] = if fields.is_empty() { &[] } else { &[("fields", &names)] };
        let Some(item) = self.get_item(project, id, params).await? else {
            return Ok(None);
        };
        let catalog = self.catalog(project).await?;
        let on_type = if fields.is_empty() { Arc::default() } else { self.type_field_names(scope).await? };
        self.snapshot(project, &item, &catalog, &on_type, fields).map(Some)
    }

    async fn create(&self, scope: &Scope, changes: &[FieldChange]) -> PortResult<EntityRef> {
        let project = scope.project.as_str();
        // A new work item starts in its type's initial state; another state is reached
        // by an update right after the create, as the process rules require.
        let (state, rest): (Vec<&FieldChange>, Vec<&FieldChange>) =
            changes.iter().partition(|c| c.field.as_str() == "System.State");
        let rest: Vec<FieldChange> = rest.into_iter().cloned().collect();
        let ops = self.patch_ops(project, &rest, true).await?;
        let ty = format!("${}", scope.entity_type);
        let url = self.wit(project, &["workitems", &ty], &[])?;
        let item: WorkItem =
            self.send_json(Method::POST, url, &Value::Array(ops), Some(JSON_PATCH), "ADO create").await?;
        // The work item exists from here on, whatever the state step answers.
        let created = self.entity_ref(project, &item).map_err(PortError::after_applied)?;
        match state.first() {
            Some(wanted)
                if item.fields.get("System.State").and_then(Value::as_str) != wanted.value.key_string().as_deref() =>
            {
                let change = (*wanted).clone();
                self.update(scope, &created.id, &[change], Some(&created.revision))
                    .await
                    .map_err(PortError::after_applied)
            }
            _ => Ok(created),
        }
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
        let rev = |r: &str| {
            r.trim()
                .parse::<u64>()
                .map_err(|_| PortError::new(ErrorCategory::InvalidRequest, format!("{r:?} is not an Azure DevOps rev")))
        };
        let after = after.map(rev).transpose()?.unwrap_or(0);
        let through = rev(through)?;
        let project = scope.project.as_str();
        let wid = work_item_id(id)?.to_string();
        let catalog = self.catalog(project).await?;
        let mut out = Vec::new();
        let mut skip = 0usize;
        loop {
            let (top, from) = (BATCH.to_string(), skip.to_string());
            let url = self.wit(project, &["workItems", &wid, "updates"], &[("$top", &top), ("$skip", &from)])?;
            let page: ListOf<WorkItemUpdate> = self.get_json(url, "ADO work item updates").await?;
            let n = page.value.len();
            let mut past = false;
            for u in page.value {
                // An update without a rev changed no revision (nothing to attribute).
                let Some(r) = u.rev else { continue };
                past |= r >= through;
                if r <= after || r > through {
                    continue;
                }
                let changed = u.fields.into_iter().flatten().map(|(name, f)| {
                    let value = match f.new_value {
                        None | Some(Value::Null) => Some(FieldValue::Null),
                        Some(v) => read_value(&name, catalog.kind(&name), &v),
                    };
                    let key = fields.iter().find(|k| k.as_str().eq_ignore_ascii_case(&name)).cloned();
                    (key.unwrap_or_else(|| FieldKey::new(name)), value)
                });
                out.push(HistoryEntry {
                    author: u.revised_by.as_ref().and_then(identity_ref),
                    created: r == 1,
                    fields: changed.collect(),
                });
            }
            if n < BATCH || past {
                return Ok(out);
            }
            skip += n;
        }
    }

    async fn update(
        &self,
        scope: &Scope,
        id: &EntityId,
        changes: &[FieldChange],
        expected_revision: Option<&str>,
    ) -> PortResult<EntityRef> {
        let project = scope.project.as_str();
        let wid = work_item_id(id)?;
        let expected = expected_revision
            .map(|r| {
                r.trim().parse::<u64>().map_err(|_| {
                    PortError::new(
                        ErrorCategory::InvalidRequest,
                        format!("expected revision {r:?} is not an Azure DevOps rev"),
                    )
                })
            })
            .transpose()?;
        let field_ops = self.patch_ops(project, changes, false).await?;
        if field_ops.is_empty() {
            // Nothing to write: report the current state, still honouring the guard.
            let item = self
                .get_item(project, wid, &[("fields", &BASE_FIELDS.join(","))])
                .await?
                .ok_or_else(|| PortError::new(ErrorCategory::NotFound, format!("work item {wid} not found")))?;
            if let Some(exp) = expected {
                if revision(&item) != exp {
                    return Err(PortError::new(
                        ErrorCategory::Conflict,
                        format!("work item {wid} is at rev {}, expected {exp}", revision(&item)),
                    ));
                }
            }
            return self.entity_ref(project, &item);
        }
        let mut ops = Vec::with_capacity(field_ops.len() + 1);
        if let Some(exp) = expected {
            ops.push(json!({ "op": "test", "path": "/rev", "value": exp }));
        }
        ops.extend(field_ops);
        let url = self.wit(project, &["workitems", &wid.to_string()], &[])?;
        let item: WorkItem =
            self.send_json(Method::PATCH, url, &Value::Array(ops), Some(JSON_PATCH), "ADO update").await?;
        self.entity_ref(project, &item)
    }

    async fn find_by_field(&self, scope: &Scope, field: &FieldKey, value: &str) -> PortResult<Option<EntityRef>> {
        let project = scope.project.as_str();
        let q = wiql::field_equals_query(&scope.entity_type, field.as_str(), value)?;
        let r = self.run_wiql(project, q, 1).await?;
        let Some(first) = r.work_items.first() else {
            return Ok(None);
        };
        let item = self.get_item(project, first.id, &[("fields", &BASE_FIELDS.join(","))]).await?;
        item.map(|i| self.entity_ref(project, &i)).transpose()
    }

    async fn upsert_remote_link(&self, scope: &Scope, id: &EntityId, link: &RemoteLink) -> PortResult<()> {
        let project = scope.project.as_str();
        let wid = work_item_id(id)?;
        let item = self
            .get_item(project, wid, &[("$expand", "relations")])
            .await?
            .ok_or_else(|| PortError::new(ErrorCategory::NotFound, format!("work item {wid} not found")))?;
        let exists = item
            .relations
            .iter()
            .flatten()
            .any(|r| r.rel.eq_ignore_ascii_case("Hyperlink") && r.url.eq_ignore_ascii_case(&link.url));
        if exists {
            return Ok(());
        }
        // The rev guard keeps two racing upserts from adding the link twice.
        let ops = json!([
            { "op": "test", "path": "/rev", "value": revision(&item) },
            { "op": "add", "path": "/relations/-", "value": {
                "rel": "Hyperlink", "url": link.url, "attributes": { "comment": link.title } } }
        ]);
        let url = self.wit(project, &["workitems", &wid.to_string()], &[])?;
        let _: Value = self.send_json(Method::PATCH, url, &ops, Some(JSON_PATCH), "ADO add link").await?;
        Ok(())
    }

    async fn last_updated(&self, scope: &Scope) -> PortResult<Option<DateTime<Utc>>> {
        let project = scope.project.as_str();
        let r = self.run_wiql(project, wiql::newest_query(Some(&scope.entity_type)), 1).await?;
        let Some(first) = r.work_items.first() else {
            return Ok(None);
        };
        let item = self.get_item(project, first.id, &[("fields", "System.Id,System.ChangedDate")]).await?;
        item.map(|i| changed_date(&i)).transpose()
    }

    async fn validate_filter(&self, scope: &Scope, condition: &str) -> PortResult<()> {
        let filter = QueryFilter { condition: condition.to_string(), negate: false };
        let q = wiql::changed_query(&scope.entity_type, wiql::Start::Since(Utc::now()), Some(&filter))?;
        match self.run_wiql(&scope.project, q, 1).await {
            Ok(_) => Ok(()),
            Err(e) if e.category == ErrorCategory::InvalidRequest => Err(PortError::new(
                ErrorCategory::Config,
                format!("Azure DevOps refuses the criteria filter {condition:?}: {}", e.message),
            )),
            Err(e) => Err(e),
        }
    }

    async fn integration_user(&self) -> PortResult<UserRef> {
        self.me
            .get_or_try_init(|| async {
                self.lookup_identity(&self.integration_email).await?.ok_or_else(|| {
                    config_err(format!(
                        "{}: integration_user {} is not exactly one identity in the organization",
                        self.system, self.integration_email
                    ))
                })
            })
            .await
            .cloned()
    }

    async fn find_user_by_email(&self, email: &str) -> PortResult<Option<UserRef>> {
        let email = email.trim();
        if email.is_empty() || !email.contains('@') {
            return Ok(None);
        }
        let key = email.to_ascii_lowercase();
        if let Some((hit, at)) = self.users.lock().ok().and_then(|m| m.get(&key).cloned()) {
            if hit.is_some() || at.elapsed() < NEGATIVE_USER_TTL {
                return Ok(hit);
            }
        }
        let found = self.lookup_identity(email).await?;
        if let Ok(mut m) = self.users.lock() {
            m.insert(key, (found.clone(), Instant::now()));
        }
        Ok(found)
    }

    async fn projects(&self) -> PortResult<Vec<ProjectInfo>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        // Paging follows the x-ms-continuationtoken response header.
        for _ in 0..1000 {
            let mut q = vec![("$top", "500")];
            if let Some(t) = &token {
                q.push(("continuationToken", t.as_str()));
            }
            let url = self.org_api(&["_apis", "projects"], &q)?;
            let resp = self.http.send(Method::GET, url, None, None).await?;
            let list: ListOf<ProjectDto> = resp.json("ADO projects")?;
            out.extend(list.value.into_iter().map(|p| ProjectInfo { id: p.id, key: p.name.clone(), name: p.name }));
            token = resp
                .headers
                .get("x-ms-continuationtoken")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .filter(|t| !t.is_empty() && Some(t) != token.as_ref());
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }

    async fn entity_types(&self, project: &str) -> PortResult<Vec<EntityTypeInfo>> {
        let url = self.wit(project, &["workitemtypes"], &[])?;
        let list: ListOf<WorkItemTypeDto> = self.get_json(url, "ADO work item types").await?;
        let mut out = Vec::new();
        for t in list.value.into_iter().filter(|t| !t.is_disabled) {
            let states = match t.states {
                Some(s) if !s.is_empty() => s.into_iter().map(|s| s.name).collect(),
                _ => {
                    let url = self.wit(project, &["workitemtypes", &t.name, "states"], &[])?;
                    let s: ListOf<wire::StateDto> = self.get_json(url, "ADO states").await?;
                    s.value.into_iter().map(|s| s.name).collect()
                }
            };
            out.push(EntityTypeInfo { id: t.name.clone(), name: t.name, states });
        }
        Ok(out)
    }

    async fn fields(&self, scope: &Scope) -> PortResult<Vec<FieldInfo>> {
        let project = scope.project.as_str();
        let catalog = self.catalog(project).await?;
        let url =
            self.wit(project, &["workitemtypes", &scope.entity_type, "fields"], &[("$expand", "allowedValues")])?;
        let list: ListOf<TypeFieldDef> = self.get_json(url, "ADO type fields").await?;
        Ok(list
            .value
            .into_iter()
            .map(|f| {
                let allowed: Vec<String> = f
                    .allowed_values
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                let kind = catalog.kind(&f.reference_name);
                let is_choice = !allowed.is_empty() || catalog.def(&f.reference_name).is_some_and(|d| d.is_picklist);
                let name = if f.name.is_empty() {
                    catalog.def(&f.reference_name).map(|d| d.name.clone()).unwrap_or_default()
                } else {
                    f.name
                };
                FieldInfo {
                    field_type: wire::field_type(&f.reference_name, kind, is_choice),
                    key: FieldKey::new(f.reference_name),
                    name,
                    required: f.always_required,
                    allowed_values: allowed,
                }
            })
            .collect())
    }

    async fn users(&self, project: &str) -> PortResult<Vec<UserRef>> {
        let r = self.run_wiql(project, wiql::newest_query(None), BATCH).await?;
        let ids: Vec<u64> = r.work_items.iter().map(|w| w.id).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let fields: Vec<String> = ["System.Id", "System.AssignedTo", "System.CreatedBy", "System.ChangedBy"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let items = self.read_batch(project, &ids, &fields).await?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for item in &items {
            for f in &fields[1..] {
                if let Some(u) = item.fields.get(f.as_str()).and_then(identity_ref) {
                    if seen.insert(u.id.clone()) {
                        out.push(u);
                    }
                }
            }
        }
        out.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.id.cmp(&b.id)));
        Ok(out)
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
