//! Creating and editing issues: field values in the shape each field's schema takes,
//! the status reached through workflow transitions afterwards, and the remote link
//! back to the other side.

use super::errors::refine_write_error;
use super::transitions::status_target;
use super::values::{to_wire, to_wire_with};
use super::wire::CreatedIssue;
use super::JiraConnector;
use crate::adf;
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityId, EntityRef, FieldChange, FieldValue, PortError, RemoteLink, Scope};
use reqwest::Method;
use serde_json::{json, Map, Value};

/// Whether `field` is written with the issue's fields. The status (and, with a status
/// change, the resolution) is left to the transition; project and issue type are set
/// by the create itself.
fn written_with_fields(field: &str, has_status: bool) -> bool {
    !(field == "status" || (has_status && field == "resolution") || field == "project" || field == "issuetype")
}

impl JiraConnector {
    /// Wire `fields` for `changes` to issue `id` (`None`: a create, whose empty values
    /// are left out). A rich text's inline images of the issue's attachments become media
    /// nodes; a new issue has no attachments yet.
    async fn wire_changes(&self, id: Option<&EntityId>, changes: &[FieldChange]) -> PortResult<Map<String, Value>> {
        let has_status = changes.iter().any(|c| c.field.as_str() == "status");
        // The issue's attachments, read once for the first rich text with images.
        let mut files = None;
        let mut out = Map::new();
        for c in changes {
            let k = c.field.as_str();
            if !written_with_fields(k, has_status) || (id.is_none() && c.value.is_null()) {
                continue;
            }
            let meta = self.meta(&c.field).await?;
            let images = match (&c.value, id) {
                (FieldValue::RichText(h), Some(id)) if !adf::inline_image_ids(h).is_empty() => Some((h, id)),
                _ => None,
            };
            let wire = match images {
                Some((html, id)) => {
                    let read = match files.take() {
                        Some(f) => f,
                        None => self.issue_files(id).await?,
                    };
                    let media = self.media_for_writing(&read, html).await?;
                    files = Some(read);
                    to_wire_with(&c.value, &meta, &media)?
                }
                None => to_wire(&c.value, &meta)?,
            };
            out.insert(k.to_string(), wire);
        }
        Ok(out)
    }

    pub(super) async fn create_issue(&self, scope: &Scope, changes: &[FieldChange]) -> PortResult<EntityRef> {
        let target = status_target(changes)?;
        let mut fields = self.wire_changes(None, changes).await?;
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
        let fields = self.wire_changes(Some(id), changes).await?;
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
