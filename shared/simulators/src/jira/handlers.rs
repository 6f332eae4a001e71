//! HTTP surface: routing, the auth/fault/logging middleware and the endpoint handlers.

// Helpers return a ready error `Response` as their `Err`, the natural shape for handlers.
#![allow(clippy::result_large_err)]

use super::hierarchy;
use super::jql::{self, SearchCtx};
use super::store::{FieldErrors, FieldSel, Inner, Issue, RemoteLink, Set};
use crate::common::{
    auth_scheme, capture_body, captured_headers, Exchange, Injected, RequestRecord, SimUser, CAPTURED_REQUEST_HEADERS,
    CAPTURED_RESPONSE_HEADERS,
};
use crate::hooks::{HookRequest, HookWhen};
use crate::limits::{
    is_read, issue_written, objects_in, request_points, IssueWriteVerdict, JiraVerdict, QuotaState, QuotaVerdict,
};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine;
use chrono::{Duration, Utc};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) type S = State<Arc<Inner>>;
pub(super) type Q = Query<Vec<(String, String)>>;

#[derive(Clone)]
pub(super) struct Caller(pub(super) SimUser);

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    use axum::extract::DefaultBodyLimit;
    use axum::routing::{delete, put};
    // Uploads may carry several files up to the limit each; Jira's own 413 is answered for
    // any one file over it, so the transport limit sits well above.
    let upload_body_limit = usize::try_from(inner.seed.attachment_upload_limit.saturating_mul(2))
        .unwrap_or(usize::MAX)
        .saturating_add(1 << 20);
    let api = Router::new()
        .route("/rest/api/3/myself", get(myself))
        .route("/rest/api/3/serverInfo", get(super::projects::server_info))
        .route("/rest/api/3/search/jql", get(search_get).post(search_post))
        .route("/rest/api/3/issue", post(create_issue))
        .route("/rest/api/3/issue/bulkfetch", post(bulk_fetch_issues))
        .route("/rest/api/3/issue/:key", get(get_issue).put(edit_issue).delete(super::deletion::delete_issue))
        .route("/rest/api/3/issue/:key/changelog", get(changelog))
        .route("/rest/api/3/issue/:key/assignee", put(assign_issue))
        .route("/rest/api/3/issue/:key/transitions", get(get_transitions).post(do_transition))
        .route("/rest/api/3/issue/:key/remotelink", get(get_remote_links).post(upsert_remote_link))
        .route("/rest/api/3/issue/:key/editmeta", get(editmeta))
        .route("/rest/api/3/issue/:key/comment", get(super::comments::list).post(super::comments::add))
        .route(
            "/rest/api/3/issue/:key/comment/:id",
            get(super::comments::get).put(super::comments::update).delete(super::comments::delete),
        )
        .route("/rest/api/3/comment/list", post(super::comments::by_ids))
        .route("/rest/api/3/comment/:id/properties", get(super::comments::property_keys))
        .route(
            "/rest/api/3/comment/:id/properties/:key",
            get(super::comments::get_property)
                .put(super::comments::set_property)
                .delete(super::comments::delete_property),
        )
        .route(
            "/rest/api/3/issue/:key/attachments",
            post(super::attachments::upload).layer(DefaultBodyLimit::max(upload_body_limit)),
        )
        .route("/rest/api/3/attachment/meta", get(super::attachments::settings))
        .route("/rest/api/3/attachment/content/:id", get(super::attachments::content))
        .route("/rest/api/3/attachment/:id", get(super::attachments::metadata).delete(super::attachments::delete))
        .route("/rest/api/3/issueLinkType", get(super::links::types))
        .route("/rest/api/3/issueLinkType/:id", get(super::links::link_type))
        .route("/rest/api/3/issueLink", post(super::links::create))
        .route("/rest/api/3/issueLink/:id", get(super::links::get).delete(delete(super::links::delete)))
        .route("/rest/api/3/search/approximate-count", post(approximate_count))
        .route("/rest/api/3/jql/parse", post(jql_parse))
        .route("/rest/api/3/changelog/bulkfetch", post(bulk_changelog))
        .route("/rest/api/3/field", get(fields))
        .route("/rest/api/3/project/search", get(project_search))
        .route("/rest/api/3/project/:key", get(super::projects::get))
        .route("/rest/api/3/project/:key/statuses", get(project_statuses))
        .route("/rest/api/3/project/:key/components", get(super::projects::components))
        .route("/rest/api/3/project/:key/versions", get(super::projects::versions))
        .route("/rest/api/3/issue/createmeta/:project/issuetypes", get(createmeta_types))
        .route("/rest/api/3/issue/createmeta/:project/issuetypes/:type", get(createmeta_fields))
        .route("/rest/api/3/priority/:id", get(priority))
        .route("/rest/api/3/user", get(get_user))
        .route("/rest/api/3/user/search", get(user_search))
        .route("/rest/api/3/user/assignable/search", get(assignable_search))
        .route("/rest/webhooks/1.0/webhook", get(super::webhook_events::list).post(super::webhook_events::register))
        .route("/rest/webhooks/1.0/webhook/:id", get(super::webhook_events::get).delete(super::webhook_events::delete))
        .fallback(unknown_resource)
        .layer(middleware::from_fn_with_state(inner.clone(), gate));
    // The media service is another host in Jira Cloud: its downloads are authorised by the
    // token in the URL, not by the site's basic auth, and are not Jira REST traffic.
    Router::new().route("/media/file/:id/binary", get(super::attachments::media)).merge(api).with_state(inner)
}

// ---------- responses ----------

pub(super) fn json_resp(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

pub(super) fn error(status: StatusCode, messages: &[&str], errors: FieldErrors) -> Response {
    json_resp(status, json!({"errorMessages": messages, "errors": errors}))
}

pub(super) fn bad_request(msg: &str) -> Response {
    error(StatusCode::BAD_REQUEST, &[msg], FieldErrors::new())
}

pub(super) fn field_errors(errors: FieldErrors) -> Response {
    error(StatusCode::BAD_REQUEST, &[], errors)
}

pub(super) fn issue_not_found() -> Response {
    error(StatusCode::NOT_FOUND, &["Issue does not exist or you do not have permission to see it."], FieldErrors::new())
}

pub(super) fn project_not_found(key: &str) -> Response {
    error(StatusCode::NOT_FOUND, &[&format!("No project could be found with key '{key}'.")], FieldErrors::new())
}

pub(super) fn parse_json(body: &Bytes) -> Result<Value, Response> {
    if body.is_empty() {
        return Err(bad_request("No content to map to Object due to end of input"));
    }
    serde_json::from_slice::<Value>(body).map_err(|e| bad_request(&format!("Unexpected character in JSON: {e}")))
}

pub(super) fn object(v: &Value) -> Result<&Map<String, Value>, Response> {
    v.as_object().ok_or_else(|| bad_request("Can not deserialize instance of object out of non-object token"))
}

/// An optional object member of a request body (`fields`, `update`): absent or null is `None`.
pub(super) fn optional_object<'a>(
    o: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, Response> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(bad_request(&format!("'{key}' must be an object."))),
    }
}

/// Query parameters, possibly repeated and/or comma-separated.
pub(super) struct Params(pub(super) Vec<(String, String)>);

impl Params {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    pub(super) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect()
    }
    pub(super) fn int(&self, name: &str, default: i64) -> Result<i64, Response> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| bad_request(&format!("The value '{v}' for parameter '{name}' is not a valid number."))),
        }
    }
}

// ---------- middleware ----------

fn authenticate(inner: &Inner, headers: &HeaderMap) -> Option<SimUser> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (email, token) = text.split_once(':')?;
    inner
        .seed
        .users
        .iter()
        .find(|u| u.active && u.email.eq_ignore_ascii_case(email) && inner.token_of(u) == token)
        .cloned()
}

/// A 429 of the burst limit whose bucket holds `limit` requests.
fn rate_limited(retry_after: u64, limit: u32) -> Response {
    too_many("jira-burst-based", retry_after, u64::from(limit))
}

/// A 429 of one of Jira's limits (`RateLimit-Reason: reason`), whose budget is `limit`,
/// to be retried after `retry_after` seconds.
fn too_many(reason: &'static str, retry_after: u64, limit: u64) -> Response {
    let reset = (Utc::now() + Duration::seconds(retry_after as i64)).format("%Y-%m-%dT%H:%MZ").to_string();
    let mut resp = error(StatusCode::TOO_MANY_REQUESTS, &["Rate limit exceeded."], FieldErrors::new());
    let h = resp.headers_mut();
    let mut put = |name: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(name, v);
        }
    };
    put("retry-after", retry_after.to_string());
    put("x-ratelimit-limit", limit.to_string());
    put("x-ratelimit-remaining", "0".into());
    put("x-ratelimit-reset", reset);
    put("x-ratelimit-nearlimit", "true".into());
    put("ratelimit-reason", reason.into());
    resp
}

/// The request counted against the caller's burst limit (when on): `Err` with the 429
/// when it is over, else whether the answer says the limit is near.
fn burst_limit(inner: &Inner, user: &SimUser) -> Result<bool, Response> {
    match inner.limiter.check(&user.email, std::time::Instant::now()) {
        JiraVerdict::Free => Ok(false),
        JiraVerdict::Pass { near } => Ok(near),
        JiraVerdict::Refuse { retry_after, limit } => Err(rate_limited(retry_after, limit)),
    }
}

/// The tenant's points quota and the per-issue write limit (when on): `Err` with the 429
/// of the first one the request is over; a refused request costs nothing.
fn quota_and_issue_limits(inner: &Inner, user: &SimUser, method: &str, path: &str) -> Result<(), Response> {
    if let QuotaVerdict::Refuse(state) = inner.quota.check(&user.email, Utc::now()) {
        let mut resp = too_many("jira-quota-tenant-based", seconds_until(state.reset), state.points);
        quota_headers(resp.headers_mut(), &state);
        return Err(resp);
    }
    if !inner.issue_writes.is_on() {
        return Ok(());
    }
    let Some(issue) = issue_written(method, path).and_then(|k| {
        let st = inner.lock();
        inner.find_issue(&st, k).map(|i| st.issues[i].id)
    }) else {
        return Ok(());
    };
    match inner.issue_writes.check(&user.email, issue, std::time::Instant::now()) {
        IssueWriteVerdict::Refuse { retry_after, limit } => {
            Err(too_many("jira-per-issue-on-write", retry_after, u64::from(limit)))
        }
        IssueWriteVerdict::Free | IssueWriteVerdict::Pass => Ok(()),
    }
}

/// Whole seconds until `t`, rounded up, at least 1 (`Retry-After`).
fn seconds_until(t: chrono::DateTime<Utc>) -> u64 {
    let ms = (t - Utc::now()).num_milliseconds().max(0) as u64;
    ms.div_ceil(1000).max(1)
}

/// The points-based quota's headers, as Jira Cloud sends them (RFC draft `RateLimit`
/// fields with Atlassian's `Beta-` prefix): the policy (`q` points a `w`-second window),
/// what is left (`r`) and the seconds until the window ends (`t`), and
/// `X-Beta-RateLimit-NearLimit: true` below 20 % of the quota.
fn quota_headers(h: &mut HeaderMap, state: &QuotaState) {
    let reset_in = (state.reset - Utc::now()).num_seconds().max(0);
    let mut put = |name: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(name, v);
        }
    };
    put("beta-ratelimit-policy", format!("\"tenant-app-quota\";q={};w={}", state.points, state.window.as_secs()));
    put("beta-ratelimit", format!("\"tenant-app-quota\";r={};t={reset_in}", state.remaining));
    if (state.remaining as f64) < state.points as f64 * 0.2 {
        put("x-beta-ratelimit-nearlimit", "true".into());
    }
}

/// Charges the points of a request that ran (when the quota counts its user) and puts the
/// quota's headers on its answer. A read's cost depends on the objects it answered, so a
/// JSON answer to a read is read here.
async fn charge_quota(inner: &Inner, user: &SimUser, method: &str, path: &str, resp: Response) -> Response {
    if inner.quota.peek(&user.email, Utc::now()).is_none() {
        return resp;
    }
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let read = is_read(method, path);
    let (resp, objects) = if read && resp.status().is_success() && json {
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let objects = serde_json::from_slice::<Value>(&bytes).map_or(1, |v| objects_in(&v));
        (Response::from_parts(parts, Body::from(bytes)), objects)
    } else {
        let objects = u64::from(read && resp.status().is_success());
        (resp, objects)
    };
    let mut resp = resp;
    if let Some(state) = inner.quota.charge(&user.email, request_points(read, objects), Utc::now()) {
        quota_headers(resp.headers_mut(), &state);
    }
    resp
}

async fn gate(State(inner): S, mut req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    // Bodies are buffered only while traffic is captured for the contract check, or a
    // test hook may want to see them.
    let hooked = inner.hooks.armed();
    let captured_request = if inner.traffic.is_on() || hooked {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let scheme = auth_scheme(req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
        let headers = captured_headers(req.headers(), CAPTURED_REQUEST_HEADERS);
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        req = Request::from_parts(parts, Body::from(bytes.clone()));
        Some((content_type, scheme, bytes, headers))
    } else {
        None
    };
    let delay = inner.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let user = authenticate(&inner, req.headers());
    let hook_request = hooked.then(|| HookRequest {
        method: method.clone(),
        path: path.clone(),
        user: user.as_ref().map(|u| u.email.clone()),
        body: captured_request.as_ref().and_then(|(_, _, b, _)| serde_json::from_slice(b).ok()),
        status: None,
    });
    if let Some(h) = &hook_request {
        inner.hooks.fire(HookWhen::Before, h).await;
    }
    let notify = method != "GET" && inner.webhooks.any();
    let before = (notify && method == "DELETE")
        .then(|| super::webhook_events::issue_in_path(&path).and_then(|k| inner.issue_json(k)))
        .flatten();
    let mut injected = inner.faults.take();
    let resp = match injected {
        Injected::RateLimited(secs) => rate_limited(secs, 100),
        Injected::Fail(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error(status, &["Internal server error"], FieldErrors::new())
        }
        Injected::Hang(hang) => {
            tokio::time::sleep(hang).await;
            error(StatusCode::GATEWAY_TIMEOUT, &["Gateway timeout"], FieldErrors::new())
        }
        // A lost answer is decided once the request was applied, below.
        Injected::None | Injected::AnswerLost => match &user {
            None => {
                let mut r = error(
                    StatusCode::UNAUTHORIZED,
                    &["You are not authenticated. Authentication required to perform this operation."],
                    FieldErrors::new(),
                );
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"protected-area\""));
                r
            }
            Some(u) => match burst_limit(&inner, u)
                .and_then(|near| quota_and_issue_limits(&inner, u, &method, &path).map(|()| near))
            {
                Err(refused) => {
                    // Labelled as a fault's answer: the contract check judges the API's own.
                    injected = Injected::RateLimited(0);
                    refused
                }
                Ok(near) => {
                    req.extensions_mut().insert(Caller(u.clone()));
                    let mut resp = next.run(req).await;
                    if near {
                        resp.headers_mut().insert("x-ratelimit-nearlimit", HeaderValue::from_static("true"));
                    }
                    charge_quota(&inner, u, &method, &path, resp).await
                }
            },
        },
    };
    if let Some(h) = hook_request {
        let answered = HookRequest { status: Some(resp.status().as_u16()), ..h };
        inner.hooks.fire(HookWhen::After, &answered).await;
    }
    let resp = match (&user, notify && resp.status().is_success()) {
        (Some(u), true) => {
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let answer = serde_json::from_slice(&bytes).ok();
            super::webhook_events::publish(&inner, &method, &path, before, answer, u);
            Response::from_parts(parts, Body::from(bytes))
        }
        _ => resp,
    };
    // Applied (and notified), but its answer never reaches the client.
    let resp = if injected == Injected::None && user.is_some() && inner.faults.take_lost_answer(&method, &path) {
        injected = Injected::AnswerLost;
        error(StatusCode::GATEWAY_TIMEOUT, &["Gateway timeout"], FieldErrors::new())
    } else {
        resp
    };
    let status = resp.status().as_u16();
    let resp = match captured_request.filter(|_| inner.traffic.is_on()) {
        None => resp,
        Some((request_content_type, auth_scheme, request_bytes, request_headers)) => {
            let response_content_type =
                resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
            let response_headers = captured_headers(resp.headers(), CAPTURED_RESPONSE_HEADERS);
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let (request_body, request_body_size, request_parts) =
                capture_body(request_content_type.as_deref(), &request_bytes);
            let (response_body, response_body_size, _) = capture_body(response_content_type.as_deref(), &bytes);
            inner.traffic.record(&Exchange {
                service: "jira".into(),
                method: method.clone(),
                path: path.clone(),
                query: query.clone(),
                auth_scheme,
                request_content_type,
                request_body,
                status,
                response_content_type,
                response_body,
                injected: injected.label(),
                request_headers,
                request_body_size,
                request_parts,
                response_headers,
                response_body_size,
            });
            Response::from_parts(parts, Body::from(bytes))
        }
    };
    let limit_reason = resp.headers().get("ratelimit-reason").and_then(|v| v.to_str().ok()).map(str::to_string);
    inner.log.push(RequestRecord { method, path, query, status, user: user.map(|u| u.email), limit_reason });
    resp
}

async fn unknown_resource(req: Request) -> Response {
    error(StatusCode::NOT_FOUND, &[&format!("null for uri: {}", req.uri())], FieldErrors::new())
}

// ---------- users ----------

async fn myself(State(inner): S, Extension(Caller(me)): Extension<Caller>) -> Response {
    json_resp(StatusCode::OK, inner.user_json(&me))
}

fn user_matches(u: &SimUser, query: &str) -> bool {
    let q = query.to_lowercase();
    let name = u.display_name.to_lowercase();
    name.starts_with(&q) || name.split_whitespace().any(|w| w.starts_with(&q)) || u.email.to_lowercase().starts_with(&q)
}

pub(super) fn page<T: Clone>(items: &[T], start: i64, max: i64) -> Vec<T> {
    let start = start.max(0) as usize;
    let max = max.max(0) as usize;
    items.iter().skip(start).take(max).cloned().collect()
}

async fn user_search(State(inner): S, Query(q): Q) -> Response {
    let p = Params(q);
    let (start, max) = match (p.int("startAt", 0), p.int("maxResults", 50)) {
        (Ok(s), Ok(m)) => (s, m.min(1000)),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let query = p.get("query").unwrap_or("").trim().to_string();
    let account = p.get("accountId").map(str::to_string);
    if query.is_empty() && account.is_none() {
        return bad_request("The query parameter 'query' or 'accountId' must be provided.");
    }
    let found: Vec<Value> = inner
        .seed
        .users
        .iter()
        .filter(|u| u.active)
        .filter(|u| !matches!(&account, Some(a) if a != &u.id))
        .filter(|u| query.is_empty() || user_matches(u, &query))
        .map(|u| inner.user_json(u))
        .collect();
    json_resp(StatusCode::OK, Value::Array(page(&found, start, max)))
}

async fn get_user(State(inner): S, Query(q): Q) -> Response {
    let p = Params(q);
    let Some(id) = p.get("accountId") else {
        return bad_request("The 'accountId' query parameter needs to be provided.");
    };
    match inner.user_by_id(id) {
        Some(u) => json_resp(StatusCode::OK, inner.user_json(u)),
        None => error(
            StatusCode::NOT_FOUND,
            &[&format!("Specified user does not exist or you do not have required permissions: {id}")],
            FieldErrors::new(),
        ),
    }
}

async fn assignable_search(State(inner): S, Query(q): Q) -> Response {
    let p = Params(q);
    let (start, max) = match (p.int("startAt", 0), p.int("maxResults", 50)) {
        (Ok(s), Ok(m)) => (s, m),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let query = p.get("query").unwrap_or("").trim().to_string();
    let account = p.get("accountId").map(str::to_string);
    if !query.is_empty() && account.is_some() {
        return bad_request("Only one of 'query' or 'accountId' may be provided.");
    }
    if let Some(project) = p.get("project") {
        if find_project(&inner, project).is_none() {
            return project_not_found(project);
        }
    } else if let Some(key) = p.get("issueKey").or_else(|| p.get("issueId")) {
        let st = inner.lock();
        if inner.find_issue(&st, key).is_none() {
            return issue_not_found();
        }
    } else {
        return bad_request("One of the following parameters must be provided: 'project', 'issueKey' or 'issueId'.");
    }
    let found: Vec<Value> = inner
        .seed
        .users
        .iter()
        .filter(|u| u.active)
        .filter(|u| !matches!(&account, Some(a) if a != &u.id))
        .filter(|u| query.is_empty() || user_matches(u, &query))
        .map(|u| inner.user_json(u))
        .collect();
    json_resp(StatusCode::OK, Value::Array(page(&found, start, max)))
}

// ---------- metadata ----------

fn find_project<'a>(inner: &'a Inner, id_or_key: &str) -> Option<&'a super::JiraProject> {
    inner.seed.projects.iter().find(|p| p.id == id_or_key || p.key == id_or_key)
}

async fn fields(State(inner): S) -> Response {
    let v: Vec<Value> = inner
        .field_defs()
        .into_iter()
        .map(|d| {
            json!({
                "id": d.id, "key": d.id, "name": d.name, "custom": d.custom, "orderable": d.orderable,
                "navigable": true, "searchable": true, "clauseNames": d.clause_names, "schema": d.schema,
            })
        })
        .collect();
    json_resp(StatusCode::OK, Value::Array(v))
}

fn project_full(inner: &Inner, p: &super::JiraProject, with_types: bool) -> Value {
    let mut o = inner.project_json(&p.id);
    o["style"] = json!("classic");
    o["isPrivate"] = json!(false);
    o["expand"] = json!("description,lead,issueTypes,url,projectKeys,permissions,insight");
    if with_types {
        o["issueTypes"] = inner.seed.issue_types.iter().map(|t| inner.issuetype_json(t)).collect();
    }
    o
}

async fn project_search(State(inner): S, Query(q): Q) -> Response {
    let p = Params(q);
    let (start, max) = match (p.int("startAt", 0), p.int("maxResults", 50)) {
        (Ok(s), Ok(m)) => (s.max(0), m.clamp(0, 100)),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let keys = p.all("keys");
    let query = p.get("query").unwrap_or("").to_lowercase();
    let with_types = p.all("expand").iter().any(|e| e == "issueTypes");
    let mut matching: Vec<&super::JiraProject> = inner
        .seed
        .projects
        .iter()
        .filter(|pr| keys.is_empty() || keys.iter().any(|k| k == &pr.key || k == &pr.id))
        .filter(|pr| {
            query.is_empty() || pr.key.to_lowercase().contains(&query) || pr.name.to_lowercase().contains(&query)
        })
        .collect();
    matching.sort_by(|a, b| a.key.cmp(&b.key));
    let total = matching.len() as i64;
    let values: Vec<Value> =
        page(&matching, start, max).into_iter().map(|pr| project_full(&inner, pr, with_types)).collect();
    let is_last = start + max >= total;
    let mut o = json!({
        "self": inner.api(&format!("project/search?startAt={start}&maxResults={max}")),
        "maxResults": max, "startAt": start, "total": total, "isLast": is_last, "values": values,
    });
    if !is_last {
        o["nextPage"] = json!(inner.api(&format!("project/search?startAt={}&maxResults={max}", start + max)));
    }
    json_resp(StatusCode::OK, o)
}

async fn project_statuses(State(inner): S, Path(key): Path<String>) -> Response {
    if find_project(&inner, &key).is_none() {
        return project_not_found(&key);
    }
    let statuses: Vec<Value> = inner.seed.statuses.iter().map(|s| inner.status_json(&s.id)).collect();
    let v: Vec<Value> = inner
        .seed
        .issue_types
        .iter()
        .map(|t| {
            json!({"self": inner.api(&format!("issuetype/{}", t.id)), "id": t.id, "name": t.name, "subtask": inner.seed.level(&t.id) < 0, "statuses": statuses})
        })
        .collect();
    json_resp(StatusCode::OK, Value::Array(v))
}

async fn createmeta_types(State(inner): S, Path(project): Path<String>, Query(q): Q) -> Response {
    let p = Params(q);
    let (start, max) = match (p.int("startAt", 0), p.int("maxResults", 50)) {
        (Ok(s), Ok(m)) => (s.max(0), m.clamp(0, 200)),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    if find_project(&inner, &project).is_none() {
        return project_not_found(&project);
    }
    let all: Vec<Value> = inner.seed.issue_types.iter().map(|t| inner.issuetype_json(t)).collect();
    json_resp(
        StatusCode::OK,
        json!({"issueTypes": page(&all, start, max), "maxResults": max, "startAt": start, "total": all.len()}),
    )
}

/// Fields on the create screen, and whether each is required.
const CREATE_SCREEN: &[(&str, bool)] = &[
    ("summary", true),
    ("issuetype", true),
    ("project", true),
    ("description", false),
    ("priority", false),
    ("assignee", false),
    ("reporter", true),
    ("labels", false),
    ("resolution", false),
];

fn on_create_screen(inner: &Inner, field: &str) -> bool {
    (CREATE_SCREEN.iter().any(|(f, _)| *f == field) || inner.seed.custom_fields.iter().any(|c| c.id == field))
        && !inner.is_hidden(field)
}

fn on_edit_screen(inner: &Inner, field: &str) -> bool {
    field != "project" && on_create_screen(inner, field)
}

async fn createmeta_fields(State(inner): S, Path((project, type_id)): Path<(String, String)>, Query(q): Q) -> Response {
    let p = Params(q);
    let (start, max) = match (p.int("startAt", 0), p.int("maxResults", 50)) {
        (Ok(s), Ok(m)) => (s.max(0), m.clamp(0, 200)),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let Some(proj) = find_project(&inner, &project) else {
        return project_not_found(&project);
    };
    if !inner.seed.issue_types.iter().any(|t| t.id == type_id) {
        return error(
            StatusCode::NOT_FOUND,
            &[&format!("Issue type with id '{type_id}' does not exist or is not valid for the project.")],
            FieldErrors::new(),
        );
    }
    let mut all = Vec::new();
    let ids = CREATE_SCREEN
        .iter()
        .map(|(f, r)| (f.to_string(), *r))
        .chain(inner.seed.custom_fields.iter().map(|c| (c.id.clone(), false)));
    for (id, required) in ids {
        if let Some(mut meta) = inner.field_meta(&id, required) {
            meta["fieldId"] = json!(id);
            if id == "project" {
                meta["allowedValues"] = json!([inner.project_json(&proj.id)]);
            }
            if id == "issuetype" {
                meta["allowedValues"] = inner
                    .seed
                    .issue_types
                    .iter()
                    .filter(|t| t.id == type_id)
                    .map(|t| inner.issuetype_json(t))
                    .collect();
            }
            if id == "reporter" {
                meta["hasDefaultValue"] = json!(true);
            }
            all.push(meta);
        }
    }
    json_resp(
        StatusCode::OK,
        json!({"fields": page(&all, start, max), "maxResults": max, "startAt": start, "total": all.len()}),
    )
}

async fn priority(State(inner): S, Path(id): Path<String>) -> Response {
    match inner.seed.priorities.iter().find(|p| p.id == id) {
        Some(p) => {
            let mut o = inner.priority_json(p);
            o["statusColor"] = json!("#4a6785");
            o["description"] = json!(format!("{} priority.", p.name));
            o["isDefault"] = json!(p.id == inner.seed.default_priority_id);
            json_resp(StatusCode::OK, o)
        }
        None => {
            error(StatusCode::NOT_FOUND, &[&format!("The priority with ID '{id}' does not exist.")], FieldErrors::new())
        }
    }
}

// ---------- search ----------

struct SearchReq {
    jql: String,
    fields: Vec<String>,
    expand: Vec<String>,
    max_results: Option<i64>,
    token: Option<String>,
    reconcile: Vec<u64>,
}

pub(super) fn split_expand(s: &str) -> Vec<String> {
    s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
}

async fn search_get(State(inner): S, Extension(Caller(me)): Extension<Caller>, Query(q): Q) -> Response {
    let p = Params(q);
    let max = match p.get("maxResults") {
        None => None,
        Some(_) => match p.int("maxResults", 50) {
            Ok(n) => Some(n),
            Err(e) => return e,
        },
    };
    let mut reconcile = Vec::new();
    for r in p.all("reconcileIssues") {
        match r.parse::<u64>() {
            Ok(n) => reconcile.push(n),
            Err(_) => {
                return bad_request(&format!(
                    "The value '{r}' for parameter 'reconcileIssues' is not a valid issue id."
                ))
            }
        }
    }
    let req = SearchReq {
        jql: p.get("jql").unwrap_or("").to_string(),
        fields: p.all("fields"),
        expand: split_expand(p.get("expand").unwrap_or("")),
        max_results: max,
        token: p.get("nextPageToken").map(str::to_string),
        reconcile,
    };
    search(&inner, &me, req)
}

async fn search_post(State(inner): S, Extension(Caller(me)): Extension<Caller>, body: Bytes) -> Response {
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let o = match object(&v) {
        Ok(o) => o,
        Err(e) => return e,
    };
    const KNOWN: &[&str] =
        &["expand", "fields", "fieldsByKeys", "jql", "maxResults", "nextPageToken", "properties", "reconcileIssues"];
    if let Some(k) = o.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return bad_request(&format!(
            "Unrecognized field \"{k}\" (class com.atlassian.jira.rest.v3.search.SearchAndReconcileRequestBean), not marked as ignorable"
        ));
    }
    let type_err = |f: &str, t: &str| bad_request(&format!("Invalid value for '{f}': expected {t}."));
    let jql = match o.get("jql") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return type_err("jql", "a string"),
    };
    let strings = |f: &str| -> Result<Vec<String>, Response> {
        match o.get(f) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string).ok_or_else(|| type_err(f, "an array of strings")))
                .collect(),
            Some(_) => Err(type_err(f, "an array of strings")),
        }
    };
    let fields = match strings("fields") {
        Ok(f) => f,
        Err(e) => return e,
    };
    if let Err(e) = strings("properties") {
        return e;
    }
    let expand = match o.get("expand") {
        None | Some(Value::Null) => vec![],
        Some(Value::String(s)) => split_expand(s),
        Some(_) => return type_err("expand", "a comma-separated string"),
    };
    let max_results = match o.get("maxResults") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) => Some(n),
            None => return type_err("maxResults", "an integer"),
        },
    };
    let token = match o.get("nextPageToken") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return type_err("nextPageToken", "a string"),
    };
    let reconcile = match o.get("reconcileIssues") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => match a.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>() {
            Some(v) => v,
            None => return type_err("reconcileIssues", "an array of issue ids"),
        },
        Some(_) => return type_err("reconcileIssues", "an array of issue ids"),
    };
    if let Some(Value::Bool(_)) | None | Some(Value::Null) = o.get("fieldsByKeys") {
    } else {
        return type_err("fieldsByKeys", "a boolean");
    }
    search(&inner, &me, SearchReq { jql, fields, expand, max_results, token, reconcile })
}

fn fingerprint(jql: &str) -> u64 {
    // FNV-1a: stable across runs, unlike the std hasher.
    jql.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

fn encode_token(offset: usize, jql: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("ferry-sim:{offset}:{:016x}", fingerprint(jql)))
}

fn decode_token(token: &str, jql: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split(':');
    if parts.next()? != "ferry-sim" {
        return None;
    }
    let offset = parts.next()?.parse().ok()?;
    (parts.next()? == format!("{:016x}", fingerprint(jql))).then_some(offset)
}

fn encode_search_token(last: &Issue, jql: &str) -> String {
    let text = format!(
        "ferry-sim-after:{:016x}:{}:{}:{}:{}:{}:{}",
        fingerprint(jql),
        last.updated.timestamp_millis(),
        last.created.timestamp_millis(),
        last.project_key,
        last.number,
        last.id,
        last.priority_id.as_deref().unwrap_or("-"),
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// The sort values a search token carries, as an issue to compare against.
fn decode_search_token(token: &str, jql: &str) -> Option<Issue> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let p: Vec<&str> = text.split(':').collect();
    if p.len() != 8 || p[0] != "ferry-sim-after" || p[1] != format!("{:016x}", fingerprint(jql)) {
        return None;
    }
    let updated = chrono::DateTime::from_timestamp_millis(p[2].parse().ok()?)?;
    let created = chrono::DateTime::from_timestamp_millis(p[3].parse().ok()?)?;
    Some(Issue {
        id: p[6].parse().ok()?,
        key: String::new(),
        project_id: String::new(),
        project_key: p[4].to_string(),
        number: p[5].parse().ok()?,
        issuetype_id: String::new(),
        summary: String::new(),
        description: None,
        priority_id: (p[7] != "-").then(|| p[7].to_string()),
        status_id: String::new(),
        resolution_id: None,
        assignee: None,
        reporter: None,
        labels: vec![],
        custom: BTreeMap::new(),
        created,
        updated,
        histories: vec![],
        remote_links: vec![],
        parent: None,
        comments: vec![],
        attachments: vec![],
    })
}

fn search(inner: &Inner, me: &SimUser, req: SearchReq) -> Response {
    if req.reconcile.len() > 50 {
        return bad_request("The number of issues to reconcile must not exceed 50.");
    }
    let sel = FieldSel::parse(&req.fields, "id");
    let id_only = sel.is_id_only();
    let cap = if id_only { 5000 } else { 100 };
    let max = match req.max_results {
        Some(n) if n < 0 => return bad_request("The 'maxResults' parameter must not be negative."),
        // Zero would page forever; Jira answers at least one issue per page.
        Some(n) => (n as usize).clamp(1, cap),
        None => 50.min(cap),
    };
    let after = match &req.token {
        None => None,
        Some(t) => match decode_search_token(t, &req.jql) {
            Some(probe) => Some(probe),
            None => return bad_request("The provided next page token is invalid or expired."),
        },
    };
    let now = Utc::now();
    let st = inner.lock();
    let keys: Vec<(String, u64)> = st.issues.iter().map(|i| (i.key.clone(), i.id)).collect();
    let ctx = SearchCtx {
        seed: &inner.seed,
        user_id: &me.id,
        user_tz: me.time_zone.parse().unwrap_or(chrono_tz::UTC),
        now,
        keys: &keys,
    };
    let query = match jql::compile(&req.jql, &ctx) {
        Ok(q) => q,
        Err(e) => return bad_request(&e.0),
    };
    let lag = inner.faults.search_lag();
    let cutoff = now - Duration::milliseconds(lag.as_millis() as i64);
    let mut hits: Vec<&Issue> = st
        .issues
        .iter()
        .filter(|i| lag.is_zero() || i.updated <= cutoff || req.reconcile.contains(&i.id))
        .filter(|i| jql::matches(&query.cond, i, &inner.seed))
        .collect();
    hits.sort_by(|a, b| jql::compare(a, b, &query.order, &inner.seed));
    // Keyset paging: the next page starts after the last issue's sort values, so an issue
    // that moves in the order between pages shows up again instead of shifting others out.
    if let Some(probe) = &after {
        hits.retain(|i| jql::compare(i, probe, &query.order, &inner.seed) == std::cmp::Ordering::Greater);
    }
    let page: Vec<&Issue> = hits.iter().take(max).copied().collect();
    let is_last = page.len() >= hits.len();
    let per_issue_expand: Vec<String> =
        req.expand.iter().filter(|e| *e != "names" && *e != "schema").cloned().collect();
    let pure_id = id_only && !sel.include.iter().any(|f| f == "key");
    let issues: Vec<Value> = page
        .iter()
        .map(|i| {
            if pure_id && per_issue_expand.is_empty() {
                json!({"id": i.id.to_string()})
            } else {
                let mut b = inner.issue_bean(&st, i, &sel, &per_issue_expand);
                if id_only && b["fields"].as_object().is_some_and(Map::is_empty) {
                    if let Some(o) = b.as_object_mut() {
                        o.remove("fields");
                    }
                }
                b
            }
        })
        .collect();
    let mut out = json!({"issues": issues, "isLast": is_last});
    if !is_last {
        if let Some(last) = page.last() {
            out["nextPageToken"] = json!(encode_search_token(last, &req.jql));
        }
    }
    let selected: Vec<String> = inner.field_defs().into_iter().map(|d| d.id).filter(|id| sel.wants(id)).collect();
    if req.expand.iter().any(|e| e == "names") {
        out["names"] = inner.names_for(selected.iter());
    }
    if req.expand.iter().any(|e| e == "schema") {
        out["schema"] = inner.schemas_for(selected.iter());
    }
    json_resp(StatusCode::OK, out)
}

// ---------- issues ----------

async fn get_issue(State(inner): S, Path(key): Path<String>, Query(q): Q) -> Response {
    let p = Params(q);
    let sel = FieldSel::parse(&p.all("fields"), "*all");
    let expand = split_expand(p.get("expand").unwrap_or(""));
    let st = inner.lock();
    match inner.find_issue(&st, &key) {
        Some(idx) => json_resp(StatusCode::OK, inner.issue_bean(&st, &st.issues[idx], &sel, &expand)),
        None => issue_not_found(),
    }
}

/// `POST /issue/bulkfetch` (`bulkFetchIssues`): up to 100 issues by id or key, each as
/// `GET /issue/{key}` returns it for the same `fields` and `expand` (a list here), in
/// ascending id order. Issues that do not exist (or that the caller may not see) are
/// left out; `issueErrors` lists the ones Jira could not return for a retriable reason,
/// which the simulator never has.
async fn bulk_fetch_issues(State(inner): S, body: Bytes) -> Response {
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let o = match object(&v) {
        Ok(o) => o,
        Err(e) => return e,
    };
    const KNOWN: &[&str] = &["expand", "fields", "fieldsByKeys", "issueIdsOrKeys", "properties"];
    if let Some(k) = o.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return bad_request(&format!(
            "Unrecognized field \"{k}\" (class com.atlassian.jira.rest.v3.issue.BulkFetchIssueRequestBean), not marked as ignorable"
        ));
    }
    let strings = |f: &str| -> Result<Vec<String>, Response> {
        let type_err = || bad_request(&format!("Invalid value for '{f}': expected an array of strings."));
        match o.get(f) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(a)) => a.iter().map(|x| x.as_str().map(str::to_string).ok_or_else(type_err)).collect(),
            Some(_) => Err(type_err()),
        }
    };
    let (wanted, fields, expand, properties) =
        match (strings("issueIdsOrKeys"), strings("fields"), strings("expand"), strings("properties")) {
            (Ok(w), Ok(f), Ok(e), Ok(p)) => (w, f, e, p),
            (Err(e), ..) | (_, Err(e), ..) | (.., Err(e), _) | (.., Err(e)) => return e,
        };
    if wanted.is_empty() || wanted.len() > 100 {
        return bad_request("Between 1 and 100 issue IDs or keys must be provided.");
    }
    if properties.len() > 5 {
        return bad_request("At most 5 issue property keys can be provided.");
    }
    if let Some(Value::Bool(_)) | None | Some(Value::Null) = o.get("fieldsByKeys") {
    } else {
        return bad_request("Invalid value for 'fieldsByKeys': expected a boolean.");
    }
    let sel = FieldSel::parse(&fields, "*navigable");
    let st = inner.lock();
    let mut idxs: Vec<usize> = wanted.iter().filter_map(|k| inner.find_issue(&st, k)).collect();
    idxs.sort_by_key(|i| st.issues[*i].id);
    idxs.dedup();
    let issues: Vec<Value> = idxs.iter().map(|i| inner.issue_bean(&st, &st.issues[*i], &sel, &expand)).collect();
    json_resp(StatusCode::OK, json!({ "issues": issues, "issueErrors": [] }))
}

async fn changelog(State(inner): S, Path(key): Path<String>, Query(q): Q) -> Response {
    let p = Params(q);
    let (start, max) = match (p.int("startAt", 0), p.int("maxResults", 100)) {
        (Ok(s), Ok(m)) => (s.max(0), m.clamp(0, 100)),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let st = inner.lock();
    let Some(idx) = inner.find_issue(&st, &key) else {
        return issue_not_found();
    };
    let issue = &st.issues[idx];
    let values: Vec<Value> = page(&issue.histories, start, max).iter().map(|h| inner.history_json(h)).collect();
    let total = issue.histories.len() as i64;
    let is_last = start + max >= total;
    let path = format!("issue/{}/changelog", issue.key);
    let mut o = json!({
        "self": inner.api(&format!("{path}?startAt={start}&maxResults={max}")),
        "maxResults": max, "startAt": start, "total": total, "isLast": is_last, "values": values,
    });
    if !is_last {
        o["nextPage"] = json!(inner.api(&format!("{path}?startAt={}&maxResults={max}", start + max)));
    }
    json_resp(StatusCode::OK, o)
}

fn id_of(v: Option<&Value>) -> Option<String> {
    let v = v?;
    v.as_str().map(str::to_string).or_else(|| v.as_i64().map(|n| n.to_string()))
}

async fn create_issue(State(inner): S, Extension(Caller(me)): Extension<Caller>, body: Bytes) -> Response {
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let o = match object(&v) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let empty = Map::new();
    let fields = match o.get("fields") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(f)) => f,
        Some(_) => return bad_request("'fields' must be an object."),
    };
    let update = match optional_object(o, "update") {
        Ok(v) => v,
        Err(e) => return e,
    };
    let mut errors = FieldErrors::new();
    let project = fields.get("project").and_then(|p| {
        let id = id_of(p.get("id"));
        let key = p.get("key").and_then(Value::as_str);
        inner.seed.projects.iter().find(|x| Some(&x.id) == id.as_ref() || Some(x.key.as_str()) == key)
    });
    if project.is_none() {
        errors.insert("project".into(), "Specify a valid project ID or key".into());
    }
    let issuetype = match fields.get("issuetype") {
        None => {
            errors.insert("issuetype".into(), "Specify an issue type".into());
            None
        }
        Some(t) => match inner.parse_set("issuetype", t) {
            Ok(Set::IssueType(id)) => Some(id),
            _ => {
                errors.insert("issuetype".into(), "Specify a valid issue type".into());
                None
            }
        },
    };
    let has_summary = fields.contains_key("summary")
        || update.is_some_and(|u| u.get("summary").is_some_and(|ops| ops.as_array().is_some_and(|a| !a.is_empty())));
    if !has_summary {
        errors.insert("summary".into(), "You must specify a summary of the issue.".into());
    }
    let mut rest = fields.clone();
    rest.remove("project");
    rest.remove("issuetype");
    rest.remove("parent");
    let update_rest = without_parent(update);
    let sets = match inner.collect_sets(Some(&rest), update_rest.as_ref(), &[], &|f| on_create_screen(&inner, f)) {
        Ok(s) => s,
        Err(e) => {
            errors.extend(e);
            vec![]
        }
    };
    let (Some(project), Some(issuetype)) = (project, issuetype) else {
        return field_errors(errors);
    };
    if !errors.is_empty() {
        return field_errors(errors);
    }
    let mut st = inner.lock();
    let parent = match hierarchy::requested_parent_id(&inner, &st, Some(fields), update)
        .map(Option::flatten)
        .and_then(|p| hierarchy::check_parent(&inner, &st, &issuetype, &project.id, None, p).map(|_| p))
    {
        Ok(p) => p,
        Err(msg) => return field_errors(FieldErrors::from([("parent".to_string(), msg)])),
    };
    let number = {
        let c = st.counters.entry(project.key.clone()).or_insert(0);
        *c += 1;
        *c
    };
    let id = st.next_issue_id;
    st.next_issue_id += 1;
    let at = st.tick();
    let mut issue = Issue::blank(id, format!("{}-{number}", project.key), project, number, at);
    issue.issuetype_id = issuetype;
    issue.priority_id = Some(inner.seed.default_priority_id.clone());
    issue.status_id = inner.seed.initial_status_id.clone();
    issue.reporter = Some(me.id.clone());
    issue.parent = parent;
    // Creation writes no history items, as in Jira.
    let _ = inner.apply_sets(&mut issue, sets);
    let key = issue.key.clone();
    st.issues.push(issue);
    json_resp(StatusCode::CREATED, json!({"id": id.to_string(), "key": key, "self": inner.api(&format!("issue/{id}"))}))
}

/// A copy of a request's `fields` / `update` without `parent`, which the hierarchy rules
/// handle apart from the other fields.
fn without_parent(m: Option<&Map<String, Value>>) -> Option<Map<String, Value>> {
    m.map(|m| {
        let mut m = m.clone();
        m.remove("parent");
        m
    })
}

async fn edit_issue(
    State(inner): S,
    Extension(Caller(me)): Extension<Caller>,
    Path(key): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Response {
    let p = Params(q);
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let o = match object(&v) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let fields = match optional_object(o, "fields") {
        Ok(v) => v,
        Err(e) => return e,
    };
    let update = match optional_object(o, "update") {
        Ok(v) => v,
        Err(e) => return e,
    };
    let mut st = inner.lock();
    let Some(idx) = inner.find_issue(&st, &key) else {
        return issue_not_found();
    };
    let labels = st.issues[idx].labels.clone();
    let fields_rest = without_parent(fields);
    let update_rest = without_parent(update);
    let sets =
        match inner.collect_sets(fields_rest.as_ref(), update_rest.as_ref(), &labels, &|f| on_edit_screen(&inner, f)) {
            Ok(s) => s,
            Err(e) => return field_errors(e),
        };
    let parent = match hierarchy::edited_parent(&inner, &st, idx, fields, update, &sets) {
        Ok(p) => p,
        Err(e) => return field_errors(e),
    };
    let mut items = inner.apply_sets(&mut st.issues[idx], sets);
    if let Some(p) = parent.filter(|p| *p != st.issues[idx].parent) {
        items.push(hierarchy::parent_item(st.issues[idx].parent, p));
        st.issues[idx].parent = p;
    }
    st.record(idx, &me.id, items);
    if p.get("returnIssue") == Some("true") {
        let sel = FieldSel::parse(&["*all"], "");
        let expand = split_expand(p.get("expand").unwrap_or(""));
        return json_resp(StatusCode::OK, inner.issue_bean(&st, &st.issues[idx], &sel, &expand));
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn get_transitions(State(inner): S, Path(key): Path<String>, Query(q): Q) -> Response {
    let p = Params(q);
    let with_fields = p.all("expand").iter().any(|e| e == "transitions.fields");
    let st = inner.lock();
    let Some(idx) = inner.find_issue(&st, &key) else {
        return issue_not_found();
    };
    let list = inner.transitions_json(&st.issues[idx], with_fields, p.get("transitionId"));
    json_resp(StatusCode::OK, json!({"expand": "transitions", "transitions": list}))
}

async fn do_transition(
    State(inner): S,
    Extension(Caller(me)): Extension<Caller>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let o = match object(&v) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let Some(tid) = id_of(o.get("transition").and_then(|t| t.get("id"))) else {
        return bad_request("Missing 'transition' identifier");
    };
    let fields = match optional_object(o, "fields") {
        Ok(v) => v,
        Err(e) => return e,
    };
    let update = match optional_object(o, "update") {
        Ok(v) => v,
        Err(e) => return e,
    };
    let mut st = inner.lock();
    let Some(idx) = inner.find_issue(&st, &key) else {
        return issue_not_found();
    };
    let from = st.issues[idx].status_id.clone();
    let Some(tr) = inner.seed.transitions.iter().find(|t| t.id == tid && t.from.contains(&from)) else {
        return bad_request(&format!("Transition id '{tid}' is not valid for this issue."));
    };
    let labels = st.issues[idx].labels.clone();
    let sets = match inner.collect_sets(fields, update, &labels, &|f| tr.screen_fields.iter().any(|s| s == f)) {
        Ok(s) => s,
        Err(e) => return field_errors(e),
    };
    let mut missing = FieldErrors::new();
    for f in &tr.screen_fields {
        let given =
            fields.and_then(|m| m.get(f)).is_some_and(|v| !v.is_null()) || update.and_then(|m| m.get(f)).is_some();
        if !given {
            let name = inner.field_defs().into_iter().find(|d| &d.id == f).map(|d| d.name).unwrap_or_else(|| f.clone());
            missing.insert(f.clone(), format!("{name} is required."));
        }
    }
    if !missing.is_empty() {
        return field_errors(missing);
    }
    let to_done =
        inner.seed.statuses.iter().find(|s| s.id == tr.to).is_some_and(|s| s.category == super::StatusCategory::Done);
    let mut sets = sets;
    if !to_done {
        // Leaving the done category clears the resolution, as Jira's default workflows do.
        sets.push(Set::Resolution(None));
    }
    let to = tr.to.clone();
    let issue = &mut st.issues[idx];
    let mut items = Vec::new();
    if to != from {
        items.push(inner.status_item(&from, &to));
        issue.status_id = to;
    }
    items.extend(inner.apply_sets(issue, sets));
    st.record(idx, &me.id, items);
    StatusCode::NO_CONTENT.into_response()
}

// ---------- remote links ----------

fn links_disabled() -> Response {
    error(StatusCode::FORBIDDEN, &["Issue linking is currently disabled."], FieldErrors::new())
}

fn link_json(inner: &Inner, issue: &Issue, l: &RemoteLink) -> Value {
    let mut o = json!({
        "id": l.id,
        "self": inner.api(&format!("issue/{}/remotelink/{}", issue.key, l.id)),
        "object": l.object,
    });
    if let Some(g) = &l.global_id {
        o["globalId"] = json!(g);
    }
    if !l.application.is_null() {
        o["application"] = l.application.clone();
    }
    if !l.relationship.is_null() {
        o["relationship"] = l.relationship.clone();
    }
    o
}

async fn get_remote_links(State(inner): S, Path(key): Path<String>, Query(q): Q) -> Response {
    if !inner.seed.remote_links_enabled {
        return links_disabled();
    }
    let p = Params(q);
    let st = inner.lock();
    let Some(idx) = inner.find_issue(&st, &key) else {
        return issue_not_found();
    };
    let issue = &st.issues[idx];
    if let Some(g) = p.get("globalId") {
        return match issue.remote_links.iter().find(|l| l.global_id.as_deref() == Some(g)) {
            Some(l) => json_resp(StatusCode::OK, link_json(&inner, issue, l)),
            None => error(
                StatusCode::NOT_FOUND,
                &[&format!("No remote link with global id '{g}' exists on this issue.")],
                FieldErrors::new(),
            ),
        };
    }
    let all: Vec<Value> = issue.remote_links.iter().map(|l| link_json(&inner, issue, l)).collect();
    json_resp(StatusCode::OK, Value::Array(all))
}

async fn upsert_remote_link(State(inner): S, Path(key): Path<String>, body: Bytes) -> Response {
    if !inner.seed.remote_links_enabled {
        return links_disabled();
    }
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let o = match object(&v) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let object_v = o.get("object").cloned().unwrap_or(Value::Null);
    let mut errors = FieldErrors::new();
    for f in ["title", "url"] {
        let present = matches!(object_v.get(f), Some(Value::String(s)) if !s.is_empty());
        if !present {
            errors.insert(f.into(), format!("'{f}' is required."));
        }
    }
    if !errors.is_empty() {
        return field_errors(errors);
    }
    let global_id = match o.get("globalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return bad_request("'globalId' must be a string."),
    };
    let mut st = inner.lock();
    let Some(idx) = inner.find_issue(&st, &key) else {
        return issue_not_found();
    };
    let application = o.get("application").cloned().unwrap_or(Value::Null);
    let relationship = o.get("relationship").cloned().unwrap_or(Value::Null);
    let existing = global_id
        .as_ref()
        .and_then(|g| st.issues[idx].remote_links.iter().position(|l| l.global_id.as_ref() == Some(g)));
    let issue_key = st.issues[idx].key.clone();
    let (status, id) = match existing {
        Some(pos) => {
            let l = &mut st.issues[idx].remote_links[pos];
            l.application = application;
            l.relationship = relationship;
            l.object = object_v;
            (StatusCode::OK, l.id)
        }
        None => {
            let id = st.next_link_id;
            st.next_link_id += 1;
            st.issues[idx].remote_links.push(RemoteLink { id, global_id, application, relationship, object: object_v });
            (StatusCode::CREATED, id)
        }
    };
    json_resp(status, json!({"id": id, "self": inner.api(&format!("issue/{issue_key}/remotelink/{id}"))}))
}

/// `PUT /issue/{key}/assignee` with `{"accountId": "..."|null|"-1"}`.
async fn assign_issue(
    State(inner): S,
    Extension(Caller(me)): Extension<Caller>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    if object(&v).is_err() {
        return bad_request("The request body must be a user object like {\"accountId\": \"...\"}.");
    }
    let mut st = inner.lock();
    let Some(idx) = inner.find_issue(&st, &key) else {
        return issue_not_found();
    };
    let set = match inner.parse_set("assignee", &v) {
        Ok(s) => s,
        Err(e) => return field_errors(FieldErrors::from([("assignee".to_string(), e)])),
    };
    let items = inner.apply_sets(&mut st.issues[idx], vec![set]);
    st.record(idx, &me.id, items);
    StatusCode::NO_CONTENT.into_response()
}

async fn editmeta(State(inner): S, Path(key): Path<String>) -> Response {
    let st = inner.lock();
    if inner.find_issue(&st, &key).is_none() {
        return issue_not_found();
    }
    let mut fields = Map::new();
    let ids = CREATE_SCREEN
        .iter()
        .map(|(f, r)| (f.to_string(), *r))
        .chain(inner.seed.custom_fields.iter().map(|c| (c.id.clone(), false)));
    for (id, required) in ids {
        if !on_edit_screen(&inner, &id) {
            continue;
        }
        if let Some(meta) = inner.field_meta(&id, required) {
            fields.insert(id, meta);
        }
    }
    json_resp(StatusCode::OK, json!({ "fields": fields }))
}

/// `POST /jql/parse?validation=strict|warn|none` (JqlQueriesToParse -> ParsedJqlQueries):
/// each query is parsed and resolved as a search would be, in the caller's context;
/// `errors` lists what is wrong (with `none`, only syntax errors). The optional
/// `structure` is left out: the simulator resolves JQL to ids and keeps no syntax tree.
async fn jql_parse(State(inner): S, Extension(Caller(me)): Extension<Caller>, Query(q): Q, body: Bytes) -> Response {
    let p = Params(q);
    let validation = p.get("validation").unwrap_or("strict");
    if !["strict", "warn", "none"].contains(&validation) {
        return bad_request(&format!("Invalid validation value '{validation}'. Valid values are: strict, warn, none."));
    }
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let o = match object(&v) {
        Ok(o) => o,
        Err(e) => return e,
    };
    if let Some(k) = o.keys().find(|k| k.as_str() != "queries") {
        return bad_request(&format!(
            "Unrecognized field \"{k}\" (class com.atlassian.jira.rest.v2.search.JqlQueriesToParse), not marked as ignorable"
        ));
    }
    let queries: Vec<&str> = match o.get("queries").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => match list.iter().map(Value::as_str).collect::<Option<Vec<_>>>() {
            Some(qs) if qs.iter().all(|q| !q.is_empty()) => qs,
            _ => return bad_request("Each query must be a non-empty string."),
        },
        _ => return bad_request("The list of queries must not be empty."),
    };
    let st = inner.lock();
    let keys: Vec<(String, u64)> = st.issues.iter().map(|i| (i.key.clone(), i.id)).collect();
    let ctx = SearchCtx {
        seed: &inner.seed,
        user_id: &me.id,
        user_tz: me.time_zone.parse().unwrap_or(chrono_tz::UTC),
        now: Utc::now(),
        keys: &keys,
    };
    let parsed: Vec<Value> = queries
        .iter()
        .map(|q| match jql::compile(q, &ctx) {
            Ok(_) => json!({ "query": q }),
            // A query without a restriction is valid JQL; only a search refuses it.
            Err(e) if e.0.starts_with("Unbounded JQL") => json!({ "query": q }),
            Err(e) if validation == "none" && !e.0.starts_with("Error in the JQL Query") => json!({ "query": q }),
            Err(e) => json!({ "query": q, "errors": [e.0] }),
        })
        .collect();
    json_resp(StatusCode::OK, json!({ "queries": parsed }))
}

/// `POST /search/approximate-count` (JQLCountRequestBean -> JQLCountResultsBean).
async fn approximate_count(State(inner): S, Extension(Caller(me)): Extension<Caller>, body: Bytes) -> Response {
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let o = match object(&v) {
        Ok(o) => o,
        Err(e) => return e,
    };
    if let Some(k) = o.keys().find(|k| k.as_str() != "jql") {
        return bad_request(&format!(
            "Unrecognized field \"{k}\" (class com.atlassian.jira.rest.v3.search.JQLCountRequestBean), not marked as ignorable"
        ));
    }
    let jql = o.get("jql").and_then(Value::as_str).unwrap_or("");
    let now = Utc::now();
    let st = inner.lock();
    let keys: Vec<(String, u64)> = st.issues.iter().map(|i| (i.key.clone(), i.id)).collect();
    let ctx = SearchCtx {
        seed: &inner.seed,
        user_id: &me.id,
        user_tz: me.time_zone.parse().unwrap_or(chrono_tz::UTC),
        now,
        keys: &keys,
    };
    let query = match jql::compile(jql, &ctx) {
        Ok(q) => q,
        Err(e) => return bad_request(&e.0),
    };
    let lag = inner.faults.search_lag();
    let cutoff = now - Duration::milliseconds(lag.as_millis() as i64);
    let count = st
        .issues
        .iter()
        .filter(|i| lag.is_zero() || i.updated <= cutoff)
        .filter(|i| jql::matches(&query.cond, i, &inner.seed))
        .count();
    json_resp(StatusCode::OK, json!({ "count": count }))
}

/// `POST /changelog/bulkfetch`: histories of many issues, oldest first per issue,
/// issues in id order, optionally filtered to some fields.
async fn bulk_changelog(State(inner): S, body: Bytes) -> Response {
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let o = match object(&v) {
        Ok(o) => o,
        Err(e) => return e,
    };
    const KNOWN: &[&str] = &["fieldIds", "issueIdsOrKeys", "maxResults", "nextPageToken"];
    if let Some(k) = o.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return bad_request(&format!(
            "Unrecognized field \"{k}\" (class com.atlassian.jira.rest.v3.changelog.BulkChangelogRequestBean), not marked as ignorable"
        ));
    }
    let strings = |f: &str| -> Option<Vec<String>> {
        match o.get(f) {
            None | Some(Value::Null) => Some(vec![]),
            Some(Value::Array(a)) => a.iter().map(|x| x.as_str().map(str::to_string)).collect(),
            Some(_) => None,
        }
    };
    let (Some(wanted), Some(field_ids)) = (strings("issueIdsOrKeys"), strings("fieldIds")) else {
        return bad_request("'issueIdsOrKeys' and 'fieldIds' must be arrays of strings.");
    };
    if wanted.is_empty() || wanted.len() > 1000 {
        return bad_request("Between 1 and 1000 issue IDs or keys must be provided.");
    }
    if field_ids.len() > 10 {
        return bad_request("At most 10 field IDs can be provided.");
    }
    let max = match o.get("maxResults") {
        None | Some(Value::Null) => 1000,
        Some(m) => match m.as_u64() {
            Some(n) if (1..=10000).contains(&n) => n as usize,
            _ => return bad_request("'maxResults' must be between 1 and 10000."),
        },
    };
    let fingerprint_src = format!("{}|{}", wanted.join(","), field_ids.join(","));
    let offset = match o.get("nextPageToken").and_then(Value::as_str) {
        None => 0,
        Some(t) => match decode_token(t, &fingerprint_src) {
            Some(n) => n,
            None => return bad_request("The provided next page token is invalid or expired."),
        },
    };
    let st = inner.lock();
    let mut idxs: Vec<usize> = wanted.iter().filter_map(|k| inner.find_issue(&st, k)).collect();
    idxs.sort_by_key(|i| st.issues[*i].id);
    idxs.dedup();
    let mut flat: Vec<(u64, Value)> = Vec::new();
    for i in idxs {
        let issue = &st.issues[i];
        for h in &issue.histories {
            let mut json = inner.history_json(h);
            if !field_ids.is_empty() {
                let items: Vec<Value> = json["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|it| field_ids.iter().any(|f| it["fieldId"] == json!(f)))
                    .cloned()
                    .collect();
                if items.is_empty() {
                    continue;
                }
                json["items"] = Value::Array(items);
            }
            flat.push((issue.id, json));
        }
    }
    let page_items: Vec<&(u64, Value)> = flat.iter().skip(offset).take(max).collect();
    let mut groups: Vec<Value> = Vec::new();
    for (id, h) in &page_items {
        let id = id.to_string();
        match groups.last_mut() {
            Some(g) if g["issueId"] == json!(id) => {
                if let Some(a) = g["changeHistories"].as_array_mut() {
                    a.push(h.clone());
                }
            }
            _ => groups.push(json!({"issueId": id, "changeHistories": [h]})),
        }
    }
    let mut out = json!({ "issueChangeLogs": groups });
    if offset + page_items.len() < flat.len() {
        out["nextPageToken"] = json!(encode_token(offset + page_items.len(), &fingerprint_src));
    }
    json_resp(StatusCode::OK, out)
}
