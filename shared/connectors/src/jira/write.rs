//! Creating and editing issues: field values in the shape each field's schema takes,
//! the status reached through workflow transitions afterwards, and the remote link
//! back to the other side.

use super::errors::refine_write_error;
use super::history::revision_millis;
use super::snapshot::{wire_fields, Read};
use super::transitions::status_target;
use super::values::{to_wire, to_wire_with};
use super::wire::{object, CreatedIssue, Issue};
use super::JiraConnector;
use crate::adf;
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityId, EntityRef, FieldChange, FieldKey, FieldValue, PortError, RemoteLink, Scope, Updated};
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
            self.transition_to(scope, &id, &status, changes, None).await.map_err(PortError::after_applied)?;
        }
        self.issue_ref(&id).await.map_err(PortError::after_applied)
    }

    /// `PUT /issue/{id}?returnIssue=true&expand=changelog`, then the status's
    /// transition. The edit answers with the issue as edited (as Get issue shows it,
    /// changelog included), which is what the update returns; a transition makes a later
    /// revision, so after one the issue is read once, with its changelog.
    pub(super) async fn edit_issue(
        &self,
        scope: &Scope,
        id: &EntityId,
        changes: &[FieldChange],
        expected_revision: Option<&str>,
        fields: &[FieldKey],
    ) -> PortResult<Updated> {
        let target = status_target(changes)?;
        // The history's window starts there: a revision that is not one fails before writing.
        expected_revision.map(revision_millis).transpose()?;
        let wire = self.wire_changes(Some(id), changes).await?;
        let mut answered = None;
        if !wire.is_empty() {
            let params = [("returnIssue", "true".to_string()), ("expand", "changelog".to_string())];
            let url = self.api(&["issue", id.as_str()], &params)?;
            answered =
                Some(self.send(Method::PUT, url, Some(&json!({"fields": wire}))).await.map_err(refine_write_error)?);
        }
        let applied = answered.is_some();
        let after = |e: PortError| if applied { e.after_applied() } else { e };
        // No body: a server that ignores `returnIssue`; the issue is read below.
        let body = answered.filter(|r| !r.body.is_empty());
        let mut issue = body.map(|r| object::<Issue>(&r.body, "edit issue")).transpose().map_err(after)?;
        if let Some(status) = target {
            self.transition_to(scope, id.as_str(), &status, changes, issue.as_ref()).await.map_err(after)?;
            // The transition made a later revision than the edit answered with.
            issue = None;
        }
        let issue = match issue.filter(|i| i.updated().is_some() && i.changelog.is_some()) {
            Some(issue) => issue,
            None => self.issue_as_written(id, fields).await.map_err(after)?,
        };
        self.updated_from(&issue, expected_revision, fields).await.map_err(after)
    }

    /// `GET /issue/{id}` with `fields`, creator and changelog: the issue after a write.
    async fn issue_as_written(&self, id: &EntityId, fields: &[FieldKey]) -> PortResult<Issue> {
        let mut wanted = wire_fields(fields);
        if wanted.iter().all(|f| f != "*all") {
            wanted.extend(["created", "creator", "reporter"].map(String::from));
        }
        let url = self.api(&["issue", id.as_str()], &[("fields", wanted.join(",")), ("expand", "changelog".into())])?;
        self.get_json(url, "issue").await
    }

    /// What an update returns of `issue` as written: its revision, `fields` of it, and its
    /// history since `expected_revision`.
    async fn updated_from(
        &self,
        issue: &Issue,
        expected_revision: Option<&str>,
        fields: &[FieldKey],
    ) -> PortResult<Updated> {
        let metas = self.field_metas().await?;
        let mut read = self.snapshot(issue, fields, metas, Read { endpoint: "edit issue", changelog: true })?;
        self.resolve_media(issue, &mut read).await?;
        let target = EntityRef {
            id: read.id.clone(),
            key: read.key.clone(),
            url: read.url.clone(),
            revision: read.revision.clone(),
            updated: read.updated,
        };
        let history = match expected_revision {
            Some(from) => Some(self.history_in(issue, Some(from), &read.revision, fields).await?),
            None => None,
        };
        Ok(Updated { target, read: Some(read), history })
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
