//! Creating and updating issues: the `issue` body (core fields by their wire names,
//! look-ups by name, users by e-mail, custom fields), the status Redmine's workflow
//! may refuse silently (checked after the write), and the journal note standing in
//! for a remote link.

use super::wire::{self, Issue, IssueEnvelope, LINK_NOTE_PREFIX};
use super::{err, issue_id, RedmineConnector};
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityId, EntityRef, ErrorCategory, FieldChange, FieldValue, PortError, RemoteLink, Scope};
use reqwest::Method;
use serde_json::{json, Map, Value};

/// A write error refined: an assignee Redmine refuses is a missing user.
fn refine(e: PortError) -> PortError {
    if e.category == ErrorCategory::InvalidRequest && e.message.contains("Assignee is invalid") {
        return PortError { category: ErrorCategory::UserNotFound, ..e };
    }
    e
}

/// Where one change goes in an `issue` body.
enum Entry {
    /// Under this wire name.
    Set(&'static str, Value),
    /// Nowhere (an empty note).
    Skip,
    /// Among the custom fields.
    Custom,
}

impl RedmineConnector {
    /// The `issue` object of a create or update. Returns it with the status id wanted (if any).
    pub(super) async fn issue_body(
        &self,
        changes: &[FieldChange],
        creating: bool,
        current: Option<&Issue>,
    ) -> PortResult<(Map<String, Value>, Option<u64>)> {
        let mut body = Map::new();
        let mut custom = Vec::new();
        let mut status = None;
        for ch in changes {
            let (key, v) = (ch.field.as_str(), &ch.value);
            if creating && v.is_null() {
                continue;
            }
            match self.core_entry(key, v).await? {
                Entry::Set(name, value) => {
                    if name == "status_id" {
                        status = value.as_u64();
                    }
                    body.insert(name.into(), value);
                }
                Entry::Skip => {}
                Entry::Custom => custom.push(self.custom_entry(key, v, current).await?),
            }
        }
        if !custom.is_empty() {
            body.insert("custom_fields".into(), Value::Array(custom));
        }
        Ok((body, status))
    }

    /// Where a change of core field `key` goes in the `issue` body, under its wire name
    /// (look-ups by id, users by id); [`Entry::Custom`] for any other key.
    async fn core_entry(&self, key: &str, v: &FieldValue) -> PortResult<Entry> {
        let set = |name: &'static str, value: Value| Ok(Entry::Set(name, value));
        match key {
            "subject" => set("subject", Value::String(wire::text_of(v))),
            "description" => set("description", Value::String(wire::text_of(v))),
            "notes" if v.is_null() => Ok(Entry::Skip),
            "notes" => set("notes", Value::String(wire::text_of(v))),
            "status" | "priority" if v.is_null() => {
                Err(err(ErrorCategory::InvalidRequest, format!("Redmine {key} cannot be empty")))
            }
            "status" => set("status_id", Value::from(wire::lookup_id(self.statuses().await?, "status", v)?)),
            "priority" => set("priority_id", Value::from(wire::lookup_id(self.priorities().await?, "priority", v)?)),
            "tracker" => set("tracker_id", Value::from(wire::lookup_id(self.all_trackers().await?, "tracker", v)?)),
            "assigned_to" => set("assigned_to_id", self.user_id_for(key, v).await?),
            "start_date" => set("start_date", wire::date_of(key, v)?),
            "due_date" => set("due_date", wire::date_of(key, v)?),
            "done_ratio" => set("done_ratio", wire::number_of(key, v)?),
            "estimated_hours" => set("estimated_hours", wire::number_of(key, v)?),
            "author" => Err(err(ErrorCategory::InvalidRequest, "Redmine field author is read-only")),
            _ => Ok(Entry::Custom),
        }
    }

    /// A `custom_fields` entry for the custom field `key` names (`cf_<id>` or its name).
    async fn custom_entry(&self, key: &str, v: &FieldValue, current: Option<&Issue>) -> PortResult<Value> {
        let Some(id) = self.custom_field_id(key, current).await? else {
            return Err(err(
                ErrorCategory::InvalidRequest,
                format!("{key:?} is not a Redmine issue field (use a core field, cf_<id> or a custom field name)"),
            ));
        };
        Ok(json!({ "id": id, "value": wire::custom_write_value(v) }))
    }

    pub(super) async fn put_issue(&self, id: u64, body: Map<String, Value>) -> PortResult<()> {
        let url = self.url(&format!("issues/{id}.json"), &[])?;
        // A note in the edit is a new journal each time it is sent: sent once.
        let once = body.contains_key("notes");
        let body = json!({ "issue": body });
        let sent = if once {
            self.http.send_once(Method::PUT, url, Some(&body), None).await
        } else {
            self.http.send(Method::PUT, url, Some(&body), None).await
        };
        sent.map_err(refine)?;
        Ok(())
    }

    /// A create's steps after the issue exists: the wanted status (a new issue may be
    /// forced into its tracker's default one), then the read of what was made.
    pub(super) async fn finish_create(&self, id: u64, status: Option<u64>, created: &Issue) -> PortResult<EntityRef> {
        if let (Some(wanted), Some(now)) = (status, &created.status) {
            if now.id != wanted {
                let mut b = Map::new();
                b.insert("status_id".into(), Value::from(wanted));
                self.put_issue(id, b).await?;
            }
        }
        let issue = self.must_read(id).await?;
        self.check_status(&issue, status)?;
        self.entity_ref(&issue)
    }

    pub(super) async fn update_issue(
        &self,
        id: &EntityId,
        changes: &[FieldChange],
        expected_revision: Option<&str>,
    ) -> PortResult<EntityRef> {
        let id = issue_id(id)?;
        let current = self.must_read(id).await?;
        if let Some(exp) = expected_revision {
            // Redmine has no conditional update; this check narrows the race window only.
            let now = wire::revision(&current);
            if now != exp {
                return Err(err(
                    ErrorCategory::Conflict,
                    format!("{}: Redmine issue {id} is at revision {now}, expected {exp}", self.system),
                ));
            }
        }
        let (body, status) = self.issue_body(changes, false, Some(&current)).await?;
        if body.is_empty() {
            return self.entity_ref(&current);
        }
        self.put_issue(id, body).await?;
        let issue = self.must_read(id).await?;
        self.check_status(&issue, status)?;
        self.entity_ref(&issue)
    }

    /// Redmine ignores a status its workflow does not allow; that is a failed write here.
    pub(super) fn check_status(&self, issue: &Issue, wanted: Option<u64>) -> PortResult<()> {
        match (wanted, &issue.status) {
            (Some(w), Some(s)) if s.id != w => Err(err(
                ErrorCategory::TransitionNotReachable,
                format!(
                    "{}: Redmine kept issue {} in status {:?}: the workflow does not let this user move it to status id {w}",
                    self.system, issue.id, s.name
                ),
            )),
            _ => Ok(()),
        }
    }

    pub(super) async fn create_issue(&self, scope: &Scope, changes: &[FieldChange]) -> PortResult<EntityRef> {
        let project = self.project(&scope.project).await?;
        let tracker = self.tracker_id(scope).await?;
        let (mut body, status) = self.issue_body(changes, true, None).await?;
        body.insert("project_id".into(), Value::from(project.id));
        body.entry("tracker_id").or_insert(Value::from(tracker));
        let url = self.url("issues.json", &[])?;
        let resp = self.http.send(Method::POST, url, Some(&json!({ "issue": body })), None).await.map_err(refine)?;
        let created: IssueEnvelope = resp.json("Redmine create").map_err(PortError::after_applied)?;
        let id = created.issue.id;
        // The issue exists from here on, whatever the next steps answer.
        self.finish_create(id, status, &created.issue).await.map_err(PortError::after_applied)
    }

    pub(super) async fn edit_issue(
        &self,
        _scope: &Scope,
        id: &EntityId,
        changes: &[FieldChange],
        expected_revision: Option<&str>,
    ) -> PortResult<EntityRef> {
        self.update_issue(id, changes, expected_revision).await
    }

    pub(super) async fn add_link_note(&self, _scope: &Scope, id: &EntityId, link: &RemoteLink) -> PortResult<()> {
        let id = issue_id(id)?;
        let issue = self.must_read(id).await?;
        let exists = issue.journals.iter().any(|j| {
            j.notes.as_deref().is_some_and(|n| n.starts_with(LINK_NOTE_PREFIX) && n.contains(link.url.as_str()))
        });
        if exists {
            return Ok(());
        }
        let mut body = Map::new();
        body.insert("notes".into(), Value::String(format!("{LINK_NOTE_PREFIX} {} {}", link.title, link.url)));
        self.put_issue(id, body).await
    }
}
