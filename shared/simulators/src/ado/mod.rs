//! Azure DevOps Services REST 7.1 simulator: work item tracking (wit), projects (core) and
//! identities (ims) on one 127.0.0.1 host, `http://127.0.0.1:PORT/{organization}`.
//!
//! Wire shapes follow Microsoft's httpExamples rather than the Swagger where they disagree
//! (docs/system-apis.md §5): lists are `{count, value}`, `_links` is `{self:{href}}`, errors carry the
//! service's `{$id, innerException, message, typeName, typeKey, errorCode, eventId}`.
//!
//! wit: WIQL, work items (get, list, batch, create, update, delete), updates, revisions, fields,
//! types and states, comments (with versions), attachments (simple and chunked upload,
//! download), relation types, the recycle bin. Work item links keep both ends (relations.rs).

mod api;
mod attachments;
#[cfg(test)]
mod collab_tests;
mod comments;
mod deletion;
mod discovery;
mod model;
mod patch;
mod relations;
mod service_hooks;
#[cfg(test)]
mod tests;
mod wiql;

pub use model::{AdoField, AdoProject, AdoSeed, AdoSeedWorkItem, AdoState, AdoWorkItemType, FieldKind};

use crate::common::{
    auth_scheme, capture_body, captured_headers, Exchange, Faults, Injected, RequestLog, RequestRecord, SimUser,
    TrafficLog, CAPTURED_REQUEST_HEADERS,
};
use crate::hooks::{HookRequest, HookWhen};
use crate::limits::{AdoHeaders, AdoVerdict};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use model::Store;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard};

/// A running simulator; clones share it.
#[derive(Clone)]
pub struct AdoSim {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// `http://127.0.0.1:PORT/{org}`
    base: String,
    seed: AdoSeed,
    store: Mutex<Store>,
    faults: Faults,
    log: RequestLog,
    traffic: TrafficLog,
    hooks: crate::hooks::Hooks,
    /// The global consumption limit, when a test turns it on.
    limiter: crate::limits::AdoLimiter,
    port: u16,
    started: chrono::DateTime<chrono::Utc>,
    /// PATs that replaced a user's seeded one, by lower-case e-mail.
    pats: Mutex<std::collections::HashMap<String, String>>,
    /// (work item type, field reference name), lower case: fields taken off a type.
    removed_fields: Mutex<std::collections::HashSet<(String, String)>>,
    /// Service hook subscriptions, and the deliveries of their events.
    service_hooks: crate::webhooks::ado::AdoServiceHooks,
}

impl Inner {
    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the store half-written: every
        // mutation is computed first and stored in one step.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn user_by_email(&self, email: &str) -> Option<&SimUser> {
        self.seed.users.iter().find(|u| u.email.eq_ignore_ascii_case(email))
    }
    /// The user's current PAT.
    fn pat_of<'a>(&self, user: &'a SimUser) -> std::borrow::Cow<'a, str> {
        match self.pats.lock().unwrap_or_else(|p| p.into_inner()).get(&user.email.to_ascii_lowercase()) {
            Some(t) => std::borrow::Cow::Owned(t.clone()),
            None => std::borrow::Cow::Borrowed(user.token.as_str()),
        }
    }
    /// Whether the work item type holds the field (every seeded field, unless removed).
    pub(crate) fn type_has(&self, type_name: &str, field: &str) -> bool {
        let key = (type_name.to_ascii_lowercase(), field.to_ascii_lowercase());
        !self.removed_fields.lock().unwrap_or_else(|p| p.into_inner()).contains(&key)
    }
    fn project(&self, key: &str) -> Option<&AdoProject> {
        self.seed.projects.iter().find(|p| p.name.eq_ignore_ascii_case(key) || p.id.eq_ignore_ascii_case(key))
    }
}

impl AdoSim {
    /// Binds 127.0.0.1 on an ephemeral port, serves in the background (tokio::spawn) and
    /// returns once the socket is listening.
    pub async fn start(seed: AdoSeed) -> std::io::Result<AdoSim> {
        AdoSim::start_on(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), seed).await
    }

    /// As [`AdoSim::start`], on the given loopback address (port 0 = any free port); any
    /// other address is refused: the simulator is for this machine only.
    pub async fn start_on(addr: std::net::SocketAddr, seed: AdoSeed) -> std::io::Result<AdoSim> {
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{addr} is not a loopback address; the simulator listens on 127.0.0.0/8 or ::1 only"),
            ));
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let port = local.port();
        let base = format!("http://{local}/{}", seed.organization);
        let inner = Arc::new(Inner {
            base,
            store: Mutex::new(Store { next_id: 1, next_comment_id: 1, next_file_id: 1, ..Store::default() }),
            faults: Faults::default(),
            log: RequestLog::default(),
            traffic: TrafficLog::from_env("ado", port),
            hooks: crate::hooks::Hooks::default(),
            limiter: Default::default(),
            port,
            started: chrono::Utc::now(),
            pats: Mutex::new(Default::default()),
            removed_fields: Mutex::new(Default::default()),
            service_hooks: Default::default(),
            seed,
        });
        patch::load_seed_items(&inner).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        // Uploads up to the seed's limits reach the handlers, which answer the service's
        // own errors for files over them.
        let body_limit = usize::try_from(inner.seed.attachment_max_bytes.max(inner.seed.simple_upload_max_bytes))
            .unwrap_or(usize::MAX)
            .saturating_add(1 << 20);
        let app = Router::new()
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::max(body_limit))
            .with_state(inner.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "ado simulator stopped");
            }
        });
        Ok(AdoSim { inner })
    }

    /// `http://127.0.0.1:PORT/{organization}`
    pub fn base_url(&self) -> String {
        self.inner.base.clone()
    }
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }
    /// Turns the global consumption limit on (no usage counted yet) or off (`None`, the
    /// default): see [`crate::limits`].
    pub fn set_rate_limit(&self, limit: Option<crate::limits::AdoRateLimit>) {
        self.inner.limiter.set(limit);
    }
    /// Test hooks that interleave other work with a request (see [`crate::hooks`]).
    pub fn hooks(&self) -> &crate::hooks::Hooks {
        &self.inner.hooks
    }
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.inner.log.snapshot()
    }
    /// The delivery side of the service hook subscriptions: faults and what was sent.
    pub fn service_hooks(&self) -> &crate::webhooks::Outbox {
        &self.inner.service_hooks.outbox
    }

    pub fn clear_requests(&self) {
        self.inner.log.clear()
    }
    /// Appends every later request and answer to `<dir>/ado-<pid>-<port>.jsonl` (as
    /// `FERRY_CONTRACT_DIR` does from the start); returns that file's path.
    pub fn capture_traffic(&self, dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
        self.inner.traffic.capture_to(dir, "ado", self.inner.port)
    }
    /// The work item as `GET workitems/{id}?$expand=relations` returns it.
    pub fn work_item_json(&self, id: u64) -> Option<Value> {
        let store = self.inner.store();
        let item = store.items.get(&id)?;
        Some(api::render_item(
            &self.inner,
            item,
            item.current(),
            &api::Render { fields: None, relations: true, links: true },
        ))
    }
    /// Ids of the work items of a project (name or id), ascending.
    pub fn work_item_ids(&self, project: &str) -> Vec<u64> {
        let Some(p) = self.inner.project(project) else {
            return Vec::new();
        };
        let store = self.inner.store();
        store.items.values().filter(|i| i.project_id == p.id).map(|i| i.id).collect()
    }
    pub fn user(&self, email: &str) -> Option<SimUser> {
        self.inner.user_by_email(email).cloned()
    }
    /// Revokes the user's PAT and issues `pat` in its place (a rotation): requests with
    /// the old one answer 401 from now on.
    pub fn rotate_pat(&self, email: &str, pat: &str) {
        self.inner.pats.lock().unwrap_or_else(|p| p.into_inner()).insert(email.to_ascii_lowercase(), pat.to_string());
    }
    /// Takes a field off a work item type, as a process change does: the type's field
    /// list leaves it out and its work items no longer carry it.
    pub fn remove_type_field(&self, type_name: &str, field: &str) {
        let key = (type_name.to_ascii_lowercase(), field.to_ascii_lowercase());
        self.inner.removed_fields.lock().unwrap_or_else(|p| p.into_inner()).insert(key);
    }
    /// The work item's updates, oldest first (the first is the creation), authors as
    /// e-mails and fields as the reference names each update changed (`System.Rev`,
    /// `System.Id` and the revision bookkeeping left out).
    pub fn history(&self, id: u64) -> Option<Vec<crate::common::Revision>> {
        let store = self.inner.store();
        let item = store.items.get(&id)?;
        let bookkeeping = [
            "System.Id",
            "System.Rev",
            "System.ChangedDate",
            "System.ChangedBy",
            "System.RevisedDate",
            "System.AuthorizedDate",
            "System.AuthorizedAs",
            "System.Watermark",
            "System.CreatedDate",
            "System.CreatedBy",
        ];
        Some(
            item.updates
                .iter()
                .enumerate()
                .map(|(i, u)| crate::common::Revision {
                    author: self
                        .inner
                        .seed
                        .users
                        .iter()
                        .find(|x| x.id == u.by_user)
                        .map_or_else(|| u.by_user.clone(), |x| x.email.clone()),
                    at: u.at,
                    fields: u.fields.keys().filter(|k| !bookkeeping.contains(&k.as_str())).cloned().collect(),
                    created: i == 0,
                    new_revision: i == 0 || item.updates[i - 1].rev != u.rev,
                })
                .collect(),
        )
    }
}

const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8; api-version=7.1";

/// One answer, before it becomes an HTTP response.
pub(crate) struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
    /// A file download: (content type, bytes), instead of a JSON body.
    file: Option<(&'static str, Vec<u8>)>,
}

impl Reply {
    pub(crate) fn ok(body: Value) -> Reply {
        Reply { status: 200, body: Some(body), headers: Vec::new(), file: None }
    }
    /// No body at all.
    pub(crate) fn empty(status: u16) -> Reply {
        Reply { status, body: None, headers: Vec::new(), file: None }
    }
    /// A 200 carrying the bytes of a file.
    pub(crate) fn file(content_type: &'static str, data: Vec<u8>) -> Reply {
        Reply { status: 200, body: None, headers: Vec::new(), file: Some((content_type, data)) }
    }
    pub(crate) fn status(mut self, status: u16) -> Reply {
        self.status = status;
        self
    }
    /// `{count, value}`, the wire form of every list.
    pub(crate) fn list(value: Vec<Value>) -> Reply {
        Reply::ok(json!({"count": value.len(), "value": value}))
    }
    /// The service's error body; `type_key` picks the exception's namespace.
    pub(crate) fn error(status: u16, type_key: &str, message: impl Into<String>) -> Reply {
        let ns = if type_key.starts_with("Vss") || type_key == "TestPatchOperationFailedException" {
            "Microsoft.VisualStudio.Services.WebApi"
        } else if type_key.starts_with("Project") || type_key.starts_with("Team") {
            "Microsoft.TeamFoundation.Core.WebApi"
        } else if type_key == "RequestBlockedException" || type_key == "UnexpectedException" {
            "Microsoft.TeamFoundation.Framework.Server"
        } else if type_key.starts_with("Identity") {
            "Microsoft.VisualStudio.Services.Identity"
        } else {
            "Microsoft.TeamFoundation.WorkItemTracking.Server"
        };
        Reply {
            status,
            body: Some(json!({
                "$id": "1",
                "innerException": null,
                "message": message.into(),
                "typeName": format!("{ns}.{type_key}, {ns}"),
                "typeKey": type_key,
                "errorCode": 0,
                "eventId": 3200,
            })),
            headers: Vec::new(),
            file: None,
        }
    }
    /// The error message (seed loading reports it).
    pub(crate) fn message(&self) -> String {
        self.body.as_ref().and_then(|b| b.get("message")).and_then(Value::as_str).unwrap_or_default().to_string()
    }
    pub(crate) fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = match (self.body, self.file) {
            (Some(b), _) => (status, [("content-type", JSON_CONTENT_TYPE)], b.to_string()).into_response(),
            (None, Some((content_type, data))) => (status, [("content-type", content_type)], data).into_response(),
            (None, None) => status.into_response(),
        };
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().append(HeaderName::from_static(k), v);
            }
        }
        resp
    }
}

/// Query string parameters, looked up case-insensitively as the service does.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    fn parse(q: &str) -> Params {
        Params(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k, true), decode(v, true))
                })
                .collect(),
        )
    }
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }
}

fn decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a handler gets to work with.
pub(crate) struct Call<'a> {
    pub method: &'a Method,
    pub params: Params,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub user: &'a SimUser,
    pub project: Option<&'a AdoProject>,
}

fn authenticate<'a>(headers: &HeaderMap, inner: &'a Inner) -> Option<&'a SimUser> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, cred) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(cred.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (_, pat) = text.split_once(':')?;
    inner.seed.users.iter().find(|u| u.active && !pat.is_empty() && inner.pat_of(u) == pat)
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = inner.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let user = authenticate(&headers, &inner);
    let hook_request = inner.hooks.armed().then(|| HookRequest {
        method: method.to_string(),
        path: uri.path().to_string(),
        user: user.map(|u| u.email.clone()),
        body: serde_json::from_slice(&body).ok(),
        status: None,
    });
    if let Some(h) = &hook_request {
        inner.hooks.fire(HookWhen::Before, h).await;
    }
    let mut injected = inner.faults.take();
    let reply = match injected {
        Injected::RateLimited(secs) => rate_limited(secs),
        Injected::Fail(status) => failure(status),
        Injected::Hang(hang) => {
            tokio::time::sleep(hang).await;
            failure(504)
        }
        // A lost answer is decided once the request was applied, below.
        Injected::None | Injected::AnswerLost => match user {
            None => Reply::empty(401).header("www-authenticate", "Basic realm=\"https://127.0.0.1/\"".into()),
            Some(u) => match inner.limiter.check(&u.email, std::time::Instant::now()) {
                AdoVerdict::Refuse(h) => {
                    // Labelled as a fault's answer: the contract check judges the API's own.
                    injected = Injected::RateLimited(0);
                    with_usage(blocked(), &h)
                }
                AdoVerdict::Pass(Some(h)) => with_usage(route(&inner, &method, &uri, &headers, &body, u), &h),
                AdoVerdict::Pass(None) | AdoVerdict::Free => route(&inner, &method, &uri, &headers, &body, u),
            },
        },
    };
    if (200..300).contains(&reply.status) && method != Method::GET && inner.service_hooks.any() {
        if let Some(body) = &reply.body {
            service_hooks::publish(&inner, &method, &apis_segments(uri.path()), body);
        }
    }
    if let Some(h) = hook_request {
        let answered = HookRequest { status: Some(reply.status), ..h };
        inner.hooks.fire(HookWhen::After, &answered).await;
    }
    // Applied (and notified), but its answer never reaches the client.
    let reply =
        if injected == Injected::None && user.is_some() && inner.faults.take_lost_answer(method.as_str(), uri.path()) {
            injected = Injected::AnswerLost;
            failure(504)
        } else {
            reply
        };
    inner.log.push(RequestRecord {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        status: reply.status,
        user: user.map(|u| u.email.clone()),
        limit_reason: None,
    });
    if inner.traffic.is_on() {
        record_exchange(&inner, &method, &uri, &headers, &body, &reply, injected);
    }
    reply.into_response()
}

fn record_exchange(
    inner: &Inner,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    reply: &Reply,
    injected: Injected,
) {
    let request_content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (request_body, request_body_size, request_parts) = capture_body(request_content_type.as_deref(), body);
    let response_headers = reply
        .headers
        .iter()
        .filter(|(k, _)| crate::common::CAPTURED_RESPONSE_HEADERS.contains(k))
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let (response_content_type, response_body, response_body_size) = match (&reply.body, &reply.file) {
        (Some(b), _) => (Some(JSON_CONTENT_TYPE.to_string()), Some(b.to_string()), None),
        (None, Some((ct, data))) => (Some(ct.to_string()), None, Some(data.len() as u64)),
        (None, None) => (None, None, None),
    };
    inner.traffic.record(&Exchange {
        service: "ado".into(),
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        auth_scheme: auth_scheme(headers.get("authorization").and_then(|v| v.to_str().ok())),
        request_content_type,
        request_body,
        status: reply.status,
        response_content_type,
        response_body,
        injected: injected.label(),
        request_headers: captured_headers(headers, CAPTURED_REQUEST_HEADERS),
        request_body_size,
        request_parts,
        response_headers,
        response_body_size,
    });
}

/// The service's answer to a blocked request, without its headers.
fn blocked() -> Reply {
    Reply::error(
        429,
        "RequestBlockedException",
        "TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'Core' in namespace 'User'.",
    )
}

fn rate_limited(secs: u64) -> Reply {
    let usage = AdoHeaders {
        limit: 200,
        remaining: 0,
        reset_in: std::time::Duration::from_secs(secs),
        retry_after: Some(secs),
    };
    with_usage(blocked(), &usage)
}

/// The `X-RateLimit-*` headers (and `Retry-After`) of the global consumption limit.
fn with_usage(reply: Reply, h: &AdoHeaders) -> Reply {
    let reset = chrono::Utc::now() + chrono::Duration::from_std(h.reset_in).unwrap_or_default();
    // Epoch seconds, rounded up: the usage is back to 0 by then.
    let reset = reset.timestamp() + i64::from(reset.timestamp_subsec_millis() > 0);
    let reply = match h.retry_after {
        Some(secs) => reply.header("retry-after", secs.to_string()),
        None => reply,
    };
    reply
        .header("x-ratelimit-resource", "Core".into())
        .header("x-ratelimit-delay", "0.000".into())
        .header("x-ratelimit-limit", h.limit.to_string())
        .header("x-ratelimit-remaining", h.remaining.to_string())
        .header("x-ratelimit-reset", reset.to_string())
}

fn failure(status: u16) -> Reply {
    let activity = uuid::Uuid::new_v4();
    let message = if status == 503 {
        format!("TF400893: The service is temporarily unavailable. Activity Id: {activity}.")
    } else {
        format!("TF400898: An Internal Error Occurred. Activity Id: {activity}.")
    };
    Reply::error(status, "UnexpectedException", message)
}

fn not_found_route(path: &str) -> Reply {
    Reply::error(
        404,
        "VssResourceNotFoundException",
        format!("VS800075: The project or resource at '{path}' does not exist, or the simulator does not serve it."),
    )
}

/// Accepts `7.1` and `7.1-preview[.N]` (query parameter or `Accept: application/json; api-version=`);
/// tells whether the preview flag was given.
fn check_api_version(method: &Method, params: &Params, headers: &HeaderMap) -> Result<bool, Reply> {
    let from_accept = headers.get("accept").and_then(|v| v.to_str().ok()).and_then(|a| {
        a.split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("api-version"))
            .map(|(_, v)| v.trim().to_string())
    });
    let Some(version) = params.get("api-version").map(str::to_string).or(from_accept) else {
        return Err(Reply::error(
            400,
            "VssVersionNotSpecifiedException",
            format!("No api-version was supplied for the \"{method}\" request. The version must be supplied either as part of the Accept header (e.g. \"application/json; api-version=1.0\") or as a query parameter (e.g. '?api-version=1.0')."),
        ));
    };
    let (number, preview) = match version.split_once('-') {
        Some((n, p)) => (n, Some(p)),
        None => (version.as_str(), None),
    };
    let preview_ok = match preview {
        None => true,
        Some(p) => p == "preview" || p.strip_prefix("preview.").is_some_and(|n| n.parse::<u32>().is_ok()),
    };
    let parts: Vec<&str> = number.split('.').collect();
    let well_formed =
        preview_ok && parts.len() == 2 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !well_formed {
        return Err(Reply::error(
            400,
            "VssInvalidApiVersionException",
            format!("The api-version '{version}' is not in a valid format. Expected a version such as '7.1' or '7.1-preview.1'."),
        ));
    }
    if number != "7.1" {
        return Err(Reply::error(
            400,
            "VssVersionOutOfRangeException",
            format!("The requested REST API version of {version} is not served here: this Azure DevOps simulator implements api-version 7.1 only."),
        ));
    }
    Ok(preview.is_some())
}

/// The lower-case path segments after `_apis` (empty when there is none).
fn apis_segments(path: &str) -> Vec<String> {
    let segs: Vec<String> =
        path.split('/').filter(|s| !s.is_empty()).map(|s| decode(s, false).to_ascii_lowercase()).collect();
    match segs.iter().position(|s| s == "_apis") {
        Some(at) => segs[at + 1..].to_vec(),
        None => Vec::new(),
    }
}

fn route(inner: &Inner, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8], user: &SimUser) -> Reply {
    let path = uri.path();
    let segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(|s| decode(s, false)).collect();
    if segs.is_empty() || !segs[0].eq_ignore_ascii_case(&inner.seed.organization) {
        return not_found_route(path);
    }
    let Some(apis) = segs.iter().position(|s| s.eq_ignore_ascii_case("_apis")) else {
        return not_found_route(path);
    };
    let scope = &segs[1..apis];
    let rest: Vec<&str> = segs[apis + 1..].iter().map(String::as_str).collect();
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let params = Params::parse(uri.query().unwrap_or_default());
    if let Some(reply) = discovery::answer(inner, method, scope, &lower, &params, headers, user) {
        return reply;
    }
    // Attachment URLs are embedded in HTML (`<img src=…/_apis/wit/attachments/{id}?fileName=…>`)
    // and fetched without an api-version: the service serves them.
    let version_optional = method == Method::GET
        && lower.len() == 3
        && lower[..2] == ["wit", "attachments"]
        && params.get("api-version").is_none();
    let preview = match check_api_version(method, &params, headers) {
        Ok(p) => p,
        Err(_) if version_optional => false,
        Err(r) => return r,
    };
    // Work item comments are a preview API (7.1-preview.4): the flag is mandatory.
    if lower.len() >= 4 && lower[..2] == ["wit", "workitems"] && lower[3] == "comments" && !preview {
        return Reply::error(
            400,
            "VssInvalidPreviewVersionException",
            "The requested version \"7.1\" of the resource is under preview. The -preview flag must be supplied in the api-version for such requests. For example: \"7.1-preview.4\"",
        );
    }
    if scope.len() > 2 || (scope.len() == 2 && lower != ["wit", "wiql"]) {
        return not_found_route(path);
    }
    let project = match scope.first() {
        None => None,
        Some(key) => match inner.project(key) {
            Some(p) => Some(p),
            None => {
                return Reply::error(
                    404,
                    "ProjectDoesNotExistWithNameException",
                    format!("TF200016: The following project does not exist: {key}. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server."),
                )
            }
        },
    };
    if let (Some(team), Some(p)) = (scope.get(1), project) {
        if !team.eq_ignore_ascii_case(&format!("{} Team", p.name)) {
            return Reply::error(
                404,
                "TeamNotFoundException",
                format!("TF400344: The team '{team}' does not exist in project {}.", p.name),
            );
        }
    }
    let call = Call { method, params, headers, body, user, project };
    let m = method.clone();
    match (m, lower.as_slice()) {
        (Method::POST, ["wit", "wiql"]) => api::wiql(inner, &call),
        (Method::POST, ["wit", "workitemsbatch"]) => api::batch(inner, &call),
        (Method::GET, ["wit", "workitems"]) => api::list(inner, &call),
        (Method::POST, ["wit", "workitems", t]) if t.starts_with('$') => api::create(inner, &call, &rest[2][1..]),
        (Method::GET, ["wit", "workitems", id]) => api::get(inner, &call, id),
        (Method::PATCH, ["wit", "workitems", id]) => api::update(inner, &call, id),
        (Method::GET, ["wit", "workitems", id, "updates"]) => api::updates(inner, &call, id, None),
        (Method::GET, ["wit", "workitems", id, "updates", n]) => api::updates(inner, &call, id, Some(n)),
        (Method::GET, ["wit", "workitems", id, "revisions"]) => api::revisions(inner, &call, id, None),
        (Method::GET, ["wit", "workitems", id, "revisions", n]) => api::revisions(inner, &call, id, Some(n)),
        (Method::DELETE, ["wit", "workitems", id]) => deletion::delete(inner, &call, id),
        (Method::GET, ["wit", "workitems", id, "comments"]) => comments::list(inner, &call, id),
        (Method::POST, ["wit", "workitems", id, "comments"]) => comments::add(inner, &call, id),
        (Method::GET, ["wit", "workitems", id, "comments", c]) => comments::get(inner, &call, id, c),
        (Method::PATCH, ["wit", "workitems", id, "comments", c]) => comments::update(inner, &call, id, c),
        (Method::DELETE, ["wit", "workitems", id, "comments", c]) => comments::delete(inner, &call, id, c),
        (Method::GET, ["wit", "workitems", id, "comments", c, "versions"]) => {
            comments::versions(inner, &call, id, c, None)
        }
        (Method::GET, ["wit", "workitems", id, "comments", c, "versions", v]) => {
            comments::versions(inner, &call, id, c, Some(v))
        }
        (Method::POST, ["wit", "attachments"]) => attachments::create(inner, &call),
        (Method::PUT, ["wit", "attachments", a]) => attachments::upload_chunk(inner, &call, a),
        (Method::GET, ["wit", "attachments", a]) => attachments::download(inner, &call, a),
        (Method::GET, ["wit", "recyclebin"]) => deletion::list(inner, &call),
        (Method::GET, ["wit", "recyclebin", id]) => deletion::get(inner, &call, id),
        (Method::GET, ["wit", "workitemrelationtypes"]) if call.project.is_none() => {
            Reply::list(relations::TYPES.iter().map(|t| relations::type_json(&inner.base, t)).collect())
        }
        (Method::GET, ["wit", "workitemrelationtypes", _]) if call.project.is_none() => {
            match relations::find(rest[2]) {
                Some(t) => Reply::ok(relations::type_json(&inner.base, t)),
                None => Reply::error(
                    404,
                    "WorkItemLinkTypeNotFoundException",
                    format!("TF201037: The link type '{}' does not exist.", rest[2]),
                ),
            }
        }
        (Method::GET, ["wit", "fields"]) => api::fields(inner, None),
        (Method::GET, ["wit", "fields", _]) => api::fields(inner, Some(rest[2])),
        (Method::GET, ["wit", "workitemtypes"]) => api::types(inner, &call, None),
        (Method::GET, ["wit", "workitemtypes", _]) => api::types(inner, &call, Some(rest[2])),
        (Method::GET, ["wit", "workitemtypes", _, "states"]) => api::states(inner, rest[2]),
        (Method::GET, ["wit", "workitemtypes", _, "fields"]) => api::type_fields(inner, &call, rest[2], None),
        (Method::GET, ["wit", "workitemtypes", _, "fields", _]) => {
            api::type_fields(inner, &call, rest[2], Some(rest[4]))
        }
        (Method::GET, ["projects"]) if call.project.is_none() => api::projects(inner, &call, None),
        (Method::GET, ["projects", _]) if call.project.is_none() => api::projects(inner, &call, Some(rest[1])),
        (Method::GET, ["identities"]) if call.project.is_none() => api::identities(inner, &call),
        (Method::POST, ["hooks", "subscriptions"]) if call.project.is_none() => service_hooks::create(inner, &call),
        (Method::GET, ["hooks", "subscriptions"]) if call.project.is_none() => service_hooks::list(inner),
        (Method::GET, ["hooks", "subscriptions", _]) if call.project.is_none() => service_hooks::get(inner, rest[2]),
        (Method::DELETE, ["hooks", "subscriptions", _]) if call.project.is_none() => {
            service_hooks::delete(inner, rest[2])
        }
        _ => not_found_route(path),
    }
}
