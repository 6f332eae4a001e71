//! The service hooks area (`{org}/_apis/hooks/subscriptions`) over
//! [`crate::webhooks::ado`], and the events the organization publishes to it: each
//! successful work item create, update, delete or new comment.

use super::{api, Call, Inner, Reply};
use axum::http::Method;
use serde_json::{json, Value};

pub(crate) fn create(inner: &Inner, call: &Call) -> Reply {
    let Ok(body) = serde_json::from_slice::<Value>(call.body) else {
        return api::bad_request("The request body must be a subscription.");
    };
    let known = |id: &str| inner.project(id).is_some();
    match inner.service_hooks.create(&inner.base, &body, known) {
        Ok(s) => Reply::ok(s),
        Err((status, key, message)) => Reply::error(status, key, message),
    }
}

pub(crate) fn list(inner: &Inner) -> Reply {
    Reply::ok(inner.service_hooks.list(&inner.base))
}

pub(crate) fn get(inner: &Inner, id: &str) -> Reply {
    match inner.service_hooks.get(&inner.base, id) {
        Some(s) => Reply::ok(s),
        None => not_found(id),
    }
}

/// 200 without a body, as Subscriptions_Delete (7.1) declares.
pub(crate) fn delete(inner: &Inner, id: &str) -> Reply {
    if inner.service_hooks.delete(id) {
        Reply::empty(200)
    } else {
        not_found(id)
    }
}

fn not_found(id: &str) -> Reply {
    Reply::error(404, "SubscriptionNotFoundException", format!("Subscription {id} could not be found."))
}

/// Publishes the event a successful request made, if any: `segs` are the path's lower-case
/// segments after `_apis`, `reply` the answer's JSON.
pub(crate) fn publish(inner: &Inner, method: &Method, segs: &[String], reply: &Value) {
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (event, item) = match (method, segs.as_slice()) {
        (&Method::POST, ["wit", "workitems", t]) if t.starts_with('$') => ("workitem.created", reply.clone()),
        (&Method::PATCH, ["wit", "workitems", _]) => ("workitem.updated", update_resource(reply)),
        (&Method::DELETE, ["wit", "workitems", _]) => ("workitem.deleted", reply["resource"].clone()),
        (&Method::POST, ["wit", "workitems", id, "comments"]) => {
            let Some(item) = id.parse().ok().and_then(|id| work_item(inner, id)) else { return };
            ("workitem.commented", item)
        }
        _ => return,
    };
    let fields = if event == "workitem.updated" { &item["revision"]["fields"] } else { &item["fields"] };
    let project = fields["System.TeamProject"].as_str().and_then(|name| inner.project(name));
    let Some(project) = project else { return };
    let id = item["id"].as_u64().or_else(|| item["workItemId"].as_u64()).unwrap_or_default();
    let message = format!(
        "{} #{id} ({})",
        event.trim_start_matches("workitem."),
        fields["System.Title"].as_str().unwrap_or_default()
    );
    inner.service_hooks.publish(event, &project.id, &item, &message);
}

/// A `workitem.updated` resource: the update, with the whole work item as `revision`.
fn update_resource(item: &Value) -> Value {
    json!({
        "id": item["rev"],
        "workItemId": item["id"],
        "rev": item["rev"],
        "revisedBy": item["fields"]["System.ChangedBy"],
        "revisedDate": item["fields"]["System.ChangedDate"],
        "fields": {},
        "url": format!("{}/updates/{}", item["url"].as_str().unwrap_or_default(), item["rev"]),
        "revision": item,
    })
}

fn work_item(inner: &Inner, id: u64) -> Option<Value> {
    let store = inner.store();
    let item = store.items.get(&id)?;
    Some(api::render_item(inner, item, item.current(), &api::Render { fields: None, relations: false, links: true }))
}
