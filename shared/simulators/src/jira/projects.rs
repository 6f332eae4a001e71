//! The project reads official clients make first (`GET /project/{key}` and its components
//! and versions) and `serverInfo`.

use super::handlers::{json_resp, project_not_found, S};
use super::store::Inner;
use super::JiraProject;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde_json::{json, Value};

fn find<'a>(inner: &'a Inner, id_or_key: &str) -> Option<&'a JiraProject> {
    inner.seed.projects.iter().find(|p| p.id == id_or_key || p.key.eq_ignore_ascii_case(id_or_key))
}

/// `GET /project/{projectIdOrKey}` (`Project`, with its issue types).
pub(super) async fn get(axum::extract::State(inner): S, Path(key): Path<String>) -> Response {
    let Some(p) = find(&inner, &key) else {
        return project_not_found(&key);
    };
    let mut o = inner.project_json(&p.id);
    let lead = inner.seed.users.first().map(|u| inner.user_json(u)).unwrap_or(Value::Null);
    let extra = json!({
        "description": "",
        "lead": lead,
        "components": [],
        "issueTypes": inner.seed.issue_types.iter().map(|t| inner.issuetype_json(t)).collect::<Vec<_>>(),
        "assigneeType": "UNASSIGNED",
        "versions": [],
        "roles": {},
        "style": "classic",
        "isPrivate": false,
        "properties": {},
        "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
    });
    if let (Some(o), Some(extra)) = (o.as_object_mut(), extra.as_object()) {
        o.extend(extra.clone());
    }
    json_resp(StatusCode::OK, o)
}

/// `GET /project/{projectIdOrKey}/components`: the demo projects have none.
pub(super) async fn components(axum::extract::State(inner): S, Path(key): Path<String>) -> Response {
    match find(&inner, &key) {
        Some(_) => json_resp(StatusCode::OK, json!([])),
        None => project_not_found(&key),
    }
}

/// `GET /project/{projectIdOrKey}/versions`: the demo projects have none.
pub(super) async fn versions(axum::extract::State(inner): S, Path(key): Path<String>) -> Response {
    match find(&inner, &key) {
        Some(_) => json_resp(StatusCode::OK, json!([])),
        None => project_not_found(&key),
    }
}

/// `GET /serverInfo` (`ServerInformation`).
pub(super) async fn server_info(axum::extract::State(inner): S) -> Response {
    json_resp(
        StatusCode::OK,
        json!({
            "baseUrl": inner.base,
            "displayUrl": inner.base,
            "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0],
            "deploymentType": "Cloud",
            "buildNumber": 100_300,
            "buildDate": inner.ts(inner.started),
            "serverTime": inner.ts(Utc::now()),
            "scmInfo": "ferry-sim",
            "serverTitle": "Jira",
        }),
    )
}
