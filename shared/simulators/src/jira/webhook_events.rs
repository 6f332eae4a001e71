//! The admin webhooks' REST resource (`/rest/webhooks/1.0/webhook`) over
//! [`crate::webhooks::jira`], and the events a successful request fires: issue
//! created, updated (fields, assignee, transition, attachment, remote link) or deleted,
//! and comment created, updated or deleted.

use super::handlers::{json_resp, Caller, S};
use super::store::Inner;
use crate::common::SimUser;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

/// The 403 Jira answers a user without the Administer Jira global permission.
fn forbidden_unless_admin(inner: &Inner, me: &SimUser) -> Option<Response> {
    let admin = inner.is_administrator(&me.email);
    (!admin).then(|| {
        json_resp(
            StatusCode::FORBIDDEN,
            json!({"errorMessages": ["You must have the Administer Jira global permission to manage webhooks."], "errors": {}}),
        )
    })
}

pub(super) async fn list(axum::extract::State(inner): S, Extension(Caller(me)): Extension<Caller>) -> Response {
    if let Some(refused) = forbidden_unless_admin(&inner, &me) {
        return refused;
    }
    json_resp(StatusCode::OK, inner.webhooks.list(&inner.base))
}

pub(super) async fn register(
    axum::extract::State(inner): S,
    Extension(Caller(me)): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = forbidden_unless_admin(&inner, &me) {
        return refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return json_resp(StatusCode::BAD_REQUEST, json!({"errorMessages": ["Invalid JSON."], "errors": {}}));
    };
    match inner.webhooks.register(&inner.base, &body) {
        Ok(w) => json_resp(StatusCode::CREATED, w),
        Err((status, e)) => json_resp(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), e),
    }
}

pub(super) async fn get(
    axum::extract::State(inner): S,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = forbidden_unless_admin(&inner, &me) {
        return refused;
    }
    match inner.webhooks.get(&inner.base, &id) {
        Some(w) => json_resp(StatusCode::OK, w),
        None => not_found(),
    }
}

pub(super) async fn delete(
    axum::extract::State(inner): S,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = forbidden_unless_admin(&inner, &me) {
        return refused;
    }
    if inner.webhooks.delete(&id) {
        axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT)
    } else {
        not_found()
    }
}

fn not_found() -> Response {
    json_resp(StatusCode::NOT_FOUND, json!({"errorMessages": ["Webhook not found."], "errors": {}}))
}

/// The issue a request is about, by its path: `issue/{key}` and below.
pub(super) fn issue_in_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/rest/api/3/issue/")?;
    let key = rest.split('/').next()?;
    (!key.is_empty() && key != "createmeta").then_some(key)
}

/// Fires the event of a successful `method path` by `user`: `before` is the issue as it
/// was (for a deletion), `answer` the response's JSON.
pub(super) fn publish(
    inner: &Inner,
    method: &str,
    path: &str,
    before: Option<Value>,
    answer: Option<Value>,
    user: &SimUser,
) {
    let tail: Vec<&str> = path.trim_start_matches("/rest/api/3/").split('/').collect();
    let current = |key: &str| inner.issue_json(key);
    let (event, issue, extra) = match (method, tail.as_slice()) {
        ("POST", ["issue"]) => {
            let Some(key) = answer.as_ref().and_then(|a| a["key"].as_str().map(str::to_string)) else { return };
            ("jira:issue_created", current(&key), None)
        }
        ("DELETE", ["issue", _]) => ("jira:issue_deleted", before, None),
        ("PUT", ["issue", key])
        | ("PUT", ["issue", key, "assignee"])
        | ("POST", ["issue", key, "transitions" | "attachments" | "remotelink"]) => {
            let issue = current(key);
            let changelog = issue.as_ref().map(|_| latest_changelog(inner, key));
            ("jira:issue_updated", issue, changelog.map(|c| ("changelog", c)))
        }
        ("POST", ["issue", key, "comment"]) => ("comment_created", current(key), answer.map(|c| ("comment", c))),
        ("PUT", ["issue", key, "comment", _]) => ("comment_updated", current(key), answer.map(|c| ("comment", c))),
        ("DELETE", ["issue", key, "comment", id]) => {
            ("comment_deleted", current(key), Some(("comment", json!({"id": id}))))
        }
        _ => return,
    };
    if let Some(issue) = issue {
        inner.webhooks.emit(event, &issue, inner.user_json(user), extra);
    }
}

/// The issue's newest changelog entry, as webhooks carry it (`{id, items}`).
fn latest_changelog(inner: &Inner, key: &str) -> Value {
    let st = inner.lock();
    let Some(idx) = inner.find_issue(&st, key) else { return json!({"items": []}) };
    let all = inner.changelog_expand(&st.issues[idx]);
    let newest = &all["histories"][0];
    json!({"id": newest["id"], "items": newest["items"]})
}
