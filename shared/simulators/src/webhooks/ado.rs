//! Azure DevOps service hooks: subscriptions created with `POST
//! {org}/_apis/hooks/subscriptions` (publisher `tfs`, consumer `webHooks`, action
//! `httpRequest`; consumer inputs `url`, `basicAuthUsername` / `basicAuthPassword` and
//! `httpHeaders`, one `Name:Value` a line), listed, read and deleted there. An event
//! (`workitem.created` / `updated` / `deleted` / `commented`) is a JSON `POST` of the
//! notification: `subscriptionId`, `notificationId` (counting the subscription's
//! notifications, repeated on a retry), `id`, `eventType`, `publisherId`, `message`,
//! `resource` (the work item; for `updated` the update, with the whole work item in
//! `revision`), `resourceVersion`, `resourceContainers` and `createdDate`.

use super::{DeliveryFault, Outbox, Outgoing};
use base64::Engine as _;
use serde_json::{json, Value};
use std::sync::Mutex;

/// The event types the simulator publishes.
pub const EVENTS: &[&str] = &["workitem.created", "workitem.updated", "workitem.deleted", "workitem.commented"];

#[derive(Debug, Clone)]
struct Subscription {
    id: String,
    event_type: String,
    /// `publisherInputs.projectId`: only this project's events.
    project_id: Option<String>,
    url: String,
    basic: Option<(String, String)>,
    headers: Vec<(String, String)>,
    inputs: Value,
    publisher_inputs: Value,
    notifications: u64,
}

/// The service hook subscriptions of one organization.
#[derive(Default)]
pub struct AdoServiceHooks {
    subscriptions: Mutex<Vec<Subscription>>,
    pub outbox: Outbox,
}

/// A refusal: (status, `typeKey`, message).
pub type Refusal = (u16, &'static str, String);

impl AdoServiceHooks {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscription>> {
        self.subscriptions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn any(&self) -> bool {
        !self.lock().is_empty()
    }

    /// Creates a subscription from its JSON; `known_project` says whether a project id exists.
    pub fn create(&self, base: &str, body: &Value, known_project: impl Fn(&str) -> bool) -> Result<Value, Refusal> {
        let bad = |m: String| (400, "InvalidSubscriptionException", m);
        let want = |key: &str, value: &str| {
            if body[key].as_str() == Some(value) {
                Ok(())
            } else {
                Err(bad(format!("{key} must be '{value}'; this simulator serves web hooks (httpRequest) only.")))
            }
        };
        want("publisherId", "tfs")?;
        want("consumerId", "webHooks")?;
        want("consumerActionId", "httpRequest")?;
        let event_type = body["eventType"].as_str().unwrap_or_default();
        if !EVENTS.contains(&event_type) {
            return Err(bad(format!("The event type '{event_type}' is not supported.")));
        }
        let inputs = &body["consumerInputs"];
        let url = inputs["url"]
            .as_str()
            .filter(|u| u.starts_with("http"))
            .ok_or_else(|| bad("consumerInputs.url is required.".into()))?;
        let project_id = body["publisherInputs"]["projectId"].as_str().filter(|p| !p.is_empty()).map(str::to_string);
        if let Some(p) = &project_id {
            if !known_project(p) {
                return Err((
                    404,
                    "ProjectDoesNotExistException",
                    format!("The project with id '{p}' does not exist."),
                ));
            }
        }
        let basic = match (inputs["basicAuthUsername"].as_str(), inputs["basicAuthPassword"].as_str()) {
            (Some(u), Some(p)) if !u.is_empty() || !p.is_empty() => Some((u.to_string(), p.to_string())),
            _ => None,
        };
        let mut headers = Vec::new();
        for line in inputs["httpHeaders"].as_str().unwrap_or_default().lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) =
                line.split_once(':').ok_or_else(|| bad(format!("The HTTP header '{line}' is not Name:Value.")))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let s = Subscription {
            id: uuid::Uuid::new_v4().to_string(),
            event_type: event_type.into(),
            project_id,
            url: url.into(),
            basic,
            headers,
            inputs: inputs.clone(),
            // An object on the wire even when the request names no filter (the spec's
            // `publisherInputs` is a non-nullable dictionary).
            publisher_inputs: match &body["publisherInputs"] {
                v @ Value::Object(_) => v.clone(),
                _ => json!({}),
            },
            notifications: 0,
        };
        let out = json_of(base, &s);
        self.lock().push(s);
        Ok(out)
    }

    pub fn list(&self, base: &str) -> Value {
        let all: Vec<Value> = self.lock().iter().map(|s| json_of(base, s)).collect();
        json!({"count": all.len(), "value": all})
    }

    pub fn get(&self, base: &str, id: &str) -> Option<Value> {
        self.lock().iter().find(|s| s.id.eq_ignore_ascii_case(id)).map(|s| json_of(base, s))
    }

    pub fn delete(&self, id: &str) -> bool {
        let mut all = self.lock();
        let before = all.len();
        all.retain(|s| !s.id.eq_ignore_ascii_case(id));
        before != all.len()
    }

    /// Publishes `event_type` about a work item of project (`project_id`) with its
    /// `resource` to every matching subscription.
    pub fn publish(&self, event_type: &str, project_id: &str, resource: &Value, message: &str) {
        let mut outgoing = Vec::new();
        for s in self.lock().iter_mut() {
            let matches = s.event_type == event_type
                && s.project_id.as_deref().is_none_or(|p| p.eq_ignore_ascii_case(project_id));
            if !matches {
                continue;
            }
            s.notifications += 1;
            let body = json!({
                "subscriptionId": s.id,
                "notificationId": s.notifications,
                "id": uuid::Uuid::new_v4().to_string(),
                "eventType": event_type,
                "publisherId": "tfs",
                "message": {"text": message, "html": message, "markdown": message},
                "detailedMessage": {"text": message, "html": message, "markdown": message},
                "resource": resource,
                "resourceVersion": if event_type == "workitem.commented" { "1.0-preview.1" } else { "1.0" },
                "resourceContainers": {
                    "collection": {"id": "c3d1b8a4-0000-4000-8000-000000000001"},
                    "account": {"id": "a1b2c3d4-0000-4000-8000-000000000001"},
                    "project": {"id": project_id},
                },
                "createdDate": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            });
            outgoing.push((s.clone(), body));
        }
        let wrong = self.outbox.fault() == DeliveryFault::BadSignature;
        for (s, body) in outgoing {
            let mut headers = vec![("Content-Type".to_string(), "application/json; charset=utf-8".to_string())];
            if let Some((user, password)) = &s.basic {
                let password = if wrong { "not-the-password" } else { password };
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                headers.push(("Authorization".to_string(), format!("Basic {token}")));
            }
            for (k, v) in &s.headers {
                headers.push((k.clone(), if wrong { "not-the-value".to_string() } else { v.clone() }));
            }
            let delivery_id = format!("{}:{}", s.id, body["notificationId"]);
            self.outbox.deliver(Outgoing {
                url: s.url.clone(),
                event: event_type.into(),
                delivery_id,
                headers,
                body: body.to_string().into_bytes(),
            });
        }
    }
}

/// A subscription as the service returns it; the password is never shown again.
fn json_of(base: &str, s: &Subscription) -> Value {
    let mut inputs = s.inputs.clone();
    if inputs.get("basicAuthPassword").is_some() {
        inputs["basicAuthPassword"] = json!("********");
    }
    json!({
        "id": s.id,
        "url": format!("{base}/_apis/hooks/subscriptions/{}", s.id),
        "status": "enabled",
        "publisherId": "tfs",
        "eventType": s.event_type,
        "resourceVersion": "1.0",
        "consumerId": "webHooks",
        "consumerActionId": "httpRequest",
        "publisherInputs": s.publisher_inputs,
        "consumerInputs": inputs,
    })
}
