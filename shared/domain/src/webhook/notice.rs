//! What an authentic delivery says, and all Ferry takes from it: its delivery id (for
//! replay defence) and the project it concerns (to choose the directions to poll).
//! Issue fields, changelogs and comment bodies are ignored: the poll reads the truth.

use super::verify::HookRequest;
use super::Rejection;
use crate::model::SystemKind;
use serde_json::Value;

/// Jira's id of one delivery, the same on its retries.
pub const JIRA_DELIVERY_HEADER: &str = "x-atlassian-webhook-identifier";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Unique per delivery of one event, repeated on a retry of it.
    pub delivery_id: String,
    /// The project key (Jira) or name (Azure DevOps) of the changed entity.
    pub project: String,
    /// The service's event name (`jira:issue_updated`, `workitem.updated`), for logs.
    pub event: String,
}

/// Reads the notice of an authentic delivery of a `kind` system.
pub fn notice(kind: SystemKind, request: &HookRequest<'_>) -> Result<Notice, Rejection> {
    let payload: Value = serde_json::from_slice(request.body).map_err(|_| Rejection::BadPayload)?;
    match kind {
        SystemKind::Jira => jira_notice(request, &payload),
        SystemKind::AzureDevops => ado_notice(&payload),
        SystemKind::Redmine => Err(Rejection::BadPayload),
    }
}

/// Issue and comment events carry the issue; its project is in `fields.project`, and
/// its key's prefix names the project where the fields are trimmed.
fn jira_notice(request: &HookRequest<'_>, payload: &Value) -> Result<Notice, Rejection> {
    let delivery_id = request.header(JIRA_DELIVERY_HEADER).map(str::trim).filter(|s| !s.is_empty());
    let issue = &payload["issue"];
    let project = issue["fields"]["project"]["key"]
        .as_str()
        .or_else(|| issue["key"].as_str().and_then(|k| k.rsplit_once('-')).map(|(p, _)| p));
    match (delivery_id, project) {
        (Some(id), Some(project)) if !project.is_empty() => Ok(Notice {
            delivery_id: id.to_string(),
            project: project.to_string(),
            event: payload["webhookEvent"].as_str().unwrap_or_default().to_string(),
        }),
        _ => Err(Rejection::BadPayload),
    }
}

/// A service hook event: `notificationId` counts the subscription's deliveries (a
/// retry repeats it), so the delivery id is the subscription's id with it. The work
/// item's fields hold `System.TeamProject`: in `resource.fields` for created, deleted,
/// restored and commented events, in `resource.revision.fields` for updated ones.
fn ado_notice(payload: &Value) -> Result<Notice, Rejection> {
    let notification = match &payload["notificationId"] {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let subscription = payload["subscriptionId"].as_str().unwrap_or_default();
    let resource = &payload["resource"];
    let project = resource["revision"]["fields"]["System.TeamProject"]
        .as_str()
        .or_else(|| resource["fields"]["System.TeamProject"].as_str());
    match (notification, project) {
        (Some(n), Some(project)) if !project.is_empty() => Ok(Notice {
            delivery_id: format!("{subscription}:{n}"),
            project: project.to_string(),
            event: payload["eventType"].as_str().unwrap_or_default().to_string(),
        }),
        _ => Err(Rejection::BadPayload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jira(id: Option<&str>, body: Value) -> Result<Notice, Rejection> {
        let headers: Vec<(String, String)> =
            id.map(|i| vec![("X-Atlassian-Webhook-Identifier".to_string(), i.to_string())]).unwrap_or_default();
        let body = body.to_string();
        notice(SystemKind::Jira, &HookRequest { headers: &headers, body: body.as_bytes() })
    }

    fn ado(body: Value) -> Result<Notice, Rejection> {
        let body = body.to_string();
        notice(SystemKind::AzureDevops, &HookRequest { headers: &[], body: body.as_bytes() })
    }

    fn ok(id: &str, project: &str, event: &str) -> Result<Notice, Rejection> {
        Ok(Notice { delivery_id: id.into(), project: project.into(), event: event.into() })
    }

    #[test]
    fn a_jira_delivery_names_its_id_and_the_issue_project() {
        let issue = json!({"id": "10002", "key": "APP-7", "fields": {"project": {"id": "10000", "key": "APP"}}});
        let trimmed = json!({"id": "10002", "key": "OPS-12"});
        let cases = [
            (
                Some("d-1"),
                json!({"webhookEvent": "jira:issue_updated", "issue": issue}),
                ok("d-1", "APP", "jira:issue_updated"),
            ),
            (
                Some("d-2"),
                json!({"webhookEvent": "comment_created", "issue": trimmed}),
                ok("d-2", "OPS", "comment_created"),
            ),
            (None, json!({"webhookEvent": "jira:issue_updated", "issue": issue}), Err(Rejection::BadPayload)),
            (Some(" "), json!({"webhookEvent": "jira:issue_updated", "issue": issue}), Err(Rejection::BadPayload)),
            (
                Some("d-3"),
                json!({"webhookEvent": "project_created", "project": {"key": "APP"}}),
                Err(Rejection::BadPayload),
            ),
        ];
        for (id, body, expected) in cases {
            assert_eq!(jira(id, body.clone()), expected, "{body}");
        }
    }

    #[test]
    fn an_ado_delivery_names_its_subscription_notification_and_project() {
        let created = json!({"subscriptionId": "s-1", "notificationId": 4, "eventType": "workitem.created",
            "resource": {"id": 5, "fields": {"System.TeamProject": "Fabrikam"}}});
        let updated = json!({"subscriptionId": "s-1", "notificationId": 5, "eventType": "workitem.updated",
            "resource": {"workItemId": 5, "revision": {"fields": {"System.TeamProject": "Fabrikam"}}}});
        let no_id = json!({"eventType": "workitem.updated", "resource": {"fields": {"System.TeamProject": "F"}}});
        let no_project = json!({"subscriptionId": "s", "notificationId": 1, "resource": {"fields": {}}});
        let cases = [
            (created, ok("s-1:4", "Fabrikam", "workitem.created")),
            (updated, ok("s-1:5", "Fabrikam", "workitem.updated")),
            (no_id, Err(Rejection::BadPayload)),
            (no_project, Err(Rejection::BadPayload)),
        ];
        for (body, expected) in cases {
            assert_eq!(ado(body.clone()), expected, "{body}");
        }
    }

    #[test]
    fn a_body_that_is_not_json_is_a_bad_payload() {
        let r = notice(SystemKind::Jira, &HookRequest { headers: &[], body: b"<xml/>" });
        assert_eq!(r, Err(Rejection::BadPayload));
    }
}
