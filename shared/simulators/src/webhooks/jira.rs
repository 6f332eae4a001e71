//! Jira Cloud admin webhooks: registered with `POST /rest/webhooks/1.0/webhook`
//! (`name`, `url`, `events`, an optional JQL `filters."issue-related-events-section"`
//! and a `secret`), listed, read and deleted there. A delivery is a JSON `POST` with
//! `webhookEvent` (`jira:issue_created` / `_updated` / `_deleted`, `comment_created` /
//! `_updated` / `_deleted`), `timestamp`, `user` and the `issue` (its key and fields),
//! plus the `changelog` or `comment`; it carries `X-Atlassian-Webhook-Identifier`
//! (the same on a retry) and, with a secret, `X-Hub-Signature: sha256=<hex>`, the
//! HMAC-SHA256 of the raw body.

use super::{DeliveryFault, Outbox, Outgoing};
use serde_json::{json, Value};
use std::sync::Mutex;

#[derive(Debug, Clone)]
struct Registered {
    id: u64,
    name: String,
    url: String,
    events: Vec<String>,
    /// The project key of a `project = KEY` filter (other JQL matches every issue).
    project: Option<String>,
    jql: Option<String>,
    secret: Option<String>,
}

/// The webhooks registered on one Jira site.
#[derive(Default)]
pub struct JiraWebhooks {
    registered: Mutex<Vec<Registered>>,
    next_id: Mutex<u64>,
    pub outbox: Outbox,
}

/// The events a webhook may subscribe to that the simulator sends.
pub const EVENTS: &[&str] = &[
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
];

impl JiraWebhooks {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Registered>> {
        self.registered.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn any(&self) -> bool {
        !self.lock().is_empty()
    }

    /// `POST /rest/webhooks/1.0/webhook`: the created webhook (201), or 400 with
    /// Jira's error shape.
    pub fn register(&self, base: &str, body: &Value) -> Result<Value, (u16, Value)> {
        let bad = |m: &str| (400, json!({"errorMessages": [m], "errors": {}}));
        let name = body["name"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| bad("The name is required."))?;
        let url = body["url"].as_str().filter(|s| s.starts_with("http")).ok_or_else(|| bad("The URL is invalid."))?;
        let events: Vec<String> = body["events"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if events.is_empty() {
            return Err(bad("At least one event is required."));
        }
        let jql = body["filters"]["issue-related-events-section"].as_str().map(str::to_string);
        let project = jql.as_deref().and_then(project_of);
        let secret = body["secret"].as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let id = {
            let mut n = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            *n
        };
        let r = Registered { id, name: name.into(), url: url.into(), events, project, jql, secret };
        let out = self.json(base, &r);
        self.lock().push(r);
        Ok(out)
    }

    pub fn list(&self, base: &str) -> Value {
        Value::Array(self.lock().iter().map(|r| self.json(base, r)).collect())
    }

    pub fn get(&self, base: &str, id: &str) -> Option<Value> {
        self.lock().iter().find(|r| r.id.to_string() == id).map(|r| self.json(base, r))
    }

    /// Whether a webhook `id` was there to delete.
    pub fn delete(&self, id: &str) -> bool {
        let mut all = self.lock();
        let before = all.len();
        all.retain(|r| r.id.to_string() != id);
        all.len() != before
    }

    fn json(&self, base: &str, r: &Registered) -> Value {
        json!({
            "self": format!("{base}/rest/webhooks/1.0/webhook/{}", r.id),
            "name": r.name,
            "url": r.url,
            "events": r.events,
            "filters": {"issue-related-events-section": r.jql.clone().unwrap_or_default()},
            "excludeBody": false,
            "enabled": true,
            // Jira never shows a webhook's secret again.
        })
    }

    /// Delivers `event` about `issue` (as `GET issue` returns it) to every webhook
    /// that subscribes to it; `extra` holds the `changelog` or `comment`.
    pub fn emit(&self, event: &str, issue: &Value, user: Value, extra: Option<(&str, Value)>) {
        let project = issue["fields"]["project"]["key"].as_str().unwrap_or_default();
        let targets: Vec<Registered> = self
            .lock()
            .iter()
            .filter(|r| r.events.iter().any(|e| e == event))
            .filter(|r| r.project.as_deref().is_none_or(|p| p.eq_ignore_ascii_case(project)))
            .cloned()
            .collect();
        for r in targets {
            let mut body = json!({
                "timestamp": chrono::Utc::now().timestamp_millis(),
                "webhookEvent": event,
                "issue_event_type_name": if event == "jira:issue_created" { "issue_created" } else { "issue_generic" },
                "user": user,
                "issue": issue,
            });
            if let Some((k, v)) = &extra {
                body[*k] = v.clone();
            }
            let body = body.to_string().into_bytes();
            let delivery_id = uuid::Uuid::new_v4().to_string();
            let mut headers = vec![
                ("Content-Type".to_string(), "application/json; charset=utf-8".to_string()),
                ("X-Atlassian-Webhook-Identifier".to_string(), delivery_id.clone()),
            ];
            if let Some(secret) = &r.secret {
                let key = if self.outbox.fault() == DeliveryFault::BadSignature { "not-the-secret" } else { secret };
                headers.push(("X-Hub-Signature".to_string(), signature(key.as_bytes(), &body)));
            }
            self.outbox.deliver(Outgoing { url: r.url.clone(), event: event.into(), delivery_id, headers, body });
        }
    }
}

/// `KEY` of a `project = KEY` filter.
fn project_of(jql: &str) -> Option<String> {
    let (field, value) = jql.split_once('=')?;
    field.trim().eq_ignore_ascii_case("project").then(|| value.trim().trim_matches('"').to_string())
}

/// `sha256=<hex HMAC-SHA256 of body>`, as Jira signs (RFC 2104 over SHA-256).
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let digest = super::hmac::hmac_sha256(secret, body);
    format!("sha256={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}
