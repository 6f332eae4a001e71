//! Creating and editing issues: field values in the shape each field's schema takes,
//! the status reached through workflow transitions afterwards, and the remote link
//! back to the other side.

use super::errors::refine_write_error;
use super::transitions::status_target;
use super::values::to_wire;
use super::wire::CreatedIssue;
use super::JiraConnector;
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityId, EntityRef, FieldChange, PortError, RemoteLink, Scope};
use reqwest::Method;
use serde_json::{json, Map, Value};

/// Whether `field` is written with the issue's fields. The status (and, with a status
/// change, the resolution) is left to the transition; project and issue type are set
/// by the create itself.
fn written_with_fields(field: &str, has_status: bool) -> bool {
    !(field == "status" || (has_status && field == "resolution") || field == "project" || field == "issuetype")
}

impl JiraConnector {
    /// Wire `fields` for `changes`; empty values are left out on create.
    async fn wire_changes(&self, changes: &[FieldChange], skip_nulls: bool) -> PortResult<Map<String, Value>> {
        let has_status = changes.iter().any(|c| c.field.as_str() == "status");
        let mut out = Map::new();
        for c in changes {
            let k = c.field.as_str();
            if !written_with_fields(k, has_status) || (skip_nulls && c.value.is_null()) {
                continue;
            }
            let meta = self.meta(&c.field).await?;
            out.insert(k.to_string(), to_wire(&c.value, &meta)?);
        }
        Ok(out)
    }

    pub(super) async fn create_issue(&self, scope: &Scope, changes: &[FieldChange]) -> PortResult<EntityRef> {
        let target = status_target(changes)?;
        let mut fields = self.wire_changes(changes, true).await?;
        fields.insert("project".into(), json!({"key": scope.project}));
        fields.insert("issuetype".into(), json!({"id": self.issue_type_id(scope).await?}));
        let url = self.api(&["issue"], &[])?;
        let created: CreatedIssue =
            self.post_json(url, &json!({"fields": fields}), "create issue").await.map_err(refine_write_error)?;
        let id = created.id.0;
        // The issue exists from here on, whatever the next steps answer.
        if let Some(status) = target {
            self.transition_to(scope, &id, &status, changes).await.map_err(PortError::after_applied)?;
        }
        self.issue_ref(&id).await.map_err(PortError::after_applied)
    }

    pub(super) async fn edit_issue(
        &self,
        scope: &Scope,
        id: &EntityId,
        changes: &[FieldChange],
    ) -> PortResult<EntityRef> {
        let target = status_target(changes)?;
        let fields = self.wire_changes(changes, false).await?;
        if !fields.is_empty() {
            let url = self.api(&["issue", id.as_str()], &[])?;
            self.send(Method::PUT, url, Some(&json!({"fields": fields}))).await.map_err(refine_write_error)?;
        }
        if let Some(status) = target {
            self.transition_to(scope, id.as_str(), &status, changes).await?;
        }
        self.issue_ref(id.as_str()).await
    }

    /// `POST /issue/{id}/remotelink`, an upsert by `globalId`.
    pub(super) async fn put_remote_link(&self, id: &EntityId, link: &RemoteLink) -> PortResult<()> {
        let url = self.api(&["issue", id.as_str(), "remotelink"], &[])?;
        let body = json!({
            "globalId": link.global_id,
            "application": {"type": "com.ferry.sync", "name": "Ferry"},
            "relationship": "synced with",
            "object": {"url": link.url, "title": link.title},
        });
        self.send(Method::POST, url, Some(&body)).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_and_its_resolution_go_with_the_transition() {
        let cases = [
            ("summary", false, true),
            ("resolution", false, true),
            ("resolution", true, false),
            ("status", true, false),
            ("project", false, false),
            ("issuetype", false, false),
        ];
        for (field, has_status, want) in cases {
            assert_eq!(written_with_fields(field, has_status), want, "{field} (status change: {has_status})");
        }
    }
}
