//! Creating and updating work items with JSON Patch documents: field values coerced
//! to the catalog's types, `test /rev` guarding every update, the state reached by an
//! update right after a create, and the Hyperlink back to the other side.

use super::relations::{Edit, Guard, RelationDto};
use super::snapshot::{revision, work_item_id, BASE_FIELDS};
use super::wire::{write_value, WorkItem};
use super::{markup, wiql, wire, AdoConnector};
use ferry_domain::ports::PortResult;
use ferry_domain::{
    EntityId, EntityRef, ErrorCategory, FieldChange, FieldKey, FieldValue, PortError, RemoteLink, Scope, Updated,
};
use reqwest::Method;
use serde_json::{json, Value};

const JSON_PATCH: &str = "application/json-patch+json";

impl AdoConnector {
    /// JSON Patch `add`/`remove` operations for `changes`, coerced to field types.
    pub(super) async fn patch_ops(
        &self,
        project: &str,
        changes: &[FieldChange],
        creating: bool,
    ) -> PortResult<Vec<Value>> {
        let catalog = self.catalog(project).await?;
        let mut ops = Vec::with_capacity(changes.len());
        for ch in changes {
            let field = ch.field.as_str();
            wiql::field_ref(field)?;
            let path = format!("/fields/{field}");
            if ch.value.is_null() {
                if !creating {
                    ops.push(json!({ "op": "remove", "path": path }));
                }
                continue;
            }
            let value = match &ch.value {
                FieldValue::RichText(h) => {
                    let html = markup::field_from_neutral(h, &self.base, project);
                    write_value(field, catalog.kind(field), &FieldValue::RichText(html))?
                }
                other => write_value(field, catalog.kind(field), other)?,
            };
            wire::check_length(field, catalog.def(field), &value)?;
            ops.push(json!({ "op": "add", "path": path, "value": value }));
        }
        Ok(ops)
    }

    pub(super) async fn create_item(&self, scope: &Scope, changes: &[FieldChange]) -> PortResult<EntityRef> {
        let project = scope.project.as_str();
        // A new work item starts in its type's initial state; another state is reached
        // by an update right after the create, as the process rules require.
        let (state, rest): (Vec<&FieldChange>, Vec<&FieldChange>) =
            changes.iter().partition(|c| c.field.as_str() == "System.State");
        let rest: Vec<FieldChange> = rest.into_iter().cloned().collect();
        let ops = self.patch_ops(project, &rest, true).await?;
        let ty = format!("${}", scope.entity_type);
        let url = self.wit(project, &["workitems", &ty], &[])?;
        let item: WorkItem =
            self.send_json(Method::POST, url, &Value::Array(ops), Some(JSON_PATCH), "ADO create").await?;
        // The work item exists from here on, whatever the state step answers.
        let created = self.entity_ref(project, &item).map_err(PortError::after_applied)?;
        match state.first() {
            Some(wanted)
                if item.fields.get("System.State").and_then(Value::as_str) != wanted.value.key_string().as_deref() =>
            {
                let change = (*wanted).clone();
                self.update_item(scope, &created.id, &[change], Some(&created.revision), &[])
                    .await
                    .map(|u| u.target)
                    .map_err(PortError::after_applied)
            }
            _ => Ok(created),
        }
    }

    /// A `test /rev`-guarded PATCH; its answer is the work item as written, whose
    /// `fields` the update returns (none asked: no snapshot).
    pub(super) async fn update_item(
        &self,
        scope: &Scope,
        id: &EntityId,
        changes: &[FieldChange],
        expected_revision: Option<&str>,
        fields: &[FieldKey],
    ) -> PortResult<Updated> {
        let project = scope.project.as_str();
        let wid = work_item_id(id)?;
        let expected = expected_revision
            .map(|r| {
                r.trim().parse::<u64>().map_err(|_| {
                    PortError::new(
                        ErrorCategory::InvalidRequest,
                        format!("expected revision {r:?} is not an Azure DevOps rev"),
                    )
                })
            })
            .transpose()?;
        let field_ops = self.patch_ops(project, changes, false).await?;
        if field_ops.is_empty() {
            // Nothing to write: report the current state, still honouring the guard.
            let item = self
                .get_item(project, wid, &[("fields", &BASE_FIELDS.join(","))])
                .await?
                .ok_or_else(|| PortError::new(ErrorCategory::NotFound, format!("work item {wid} not found")))?;
            if let Some(exp) = expected {
                if revision(&item) != exp {
                    return Err(PortError::new(
                        ErrorCategory::Conflict,
                        format!("work item {wid} is at rev {}, expected {exp}", revision(&item)),
                    ));
                }
            }
            return self.entity_ref(project, &item).map(Updated::bare);
        }
        let mut ops = Vec::with_capacity(field_ops.len() + 1);
        if let Some(exp) = expected {
            ops.push(json!({ "op": "test", "path": "/rev", "value": exp }));
        }
        ops.extend(field_ops);
        let url = self.wit(project, &["workitems", &wid.to_string()], &[])?;
        let item: WorkItem =
            self.send_json(Method::PATCH, url, &Value::Array(ops), Some(JSON_PATCH), "ADO update").await?;
        // The change is applied from here on, whatever reading its answer does.
        let target = self.entity_ref(project, &item).map_err(PortError::after_applied)?;
        let read = match fields.is_empty() {
            true => None,
            false => Some(self.snapshot_of(scope, &item, fields).await.map_err(PortError::after_applied)?),
        };
        // An atomic update: the revision it made holds nothing but this change.
        Ok(Updated { target, read, history: None })
    }

    pub(super) async fn add_link(&self, scope: &Scope, id: &EntityId, link: &RemoteLink) -> PortResult<()> {
        let wid = work_item_id(id)?;
        let plan = |relations: &[RelationDto]| -> Option<Vec<Value>> {
            let exists = relations
                .iter()
                .any(|r| r.rel.eq_ignore_ascii_case("Hyperlink") && r.url.eq_ignore_ascii_case(&link.url));
            (!exists).then(|| {
                vec![json!({ "op": "add", "path": "/relations/-", "value": {
                    "rel": "Hyperlink", "url": link.url, "attributes": { "comment": link.title } } })]
            })
        };
        // The rev guard keeps two racing upserts from adding the link twice.
        match self.edit_relations(&scope.project, wid, &plan, Guard::Always).await? {
            Edit::Missing => Err(PortError::new(ErrorCategory::NotFound, format!("work item {wid} not found"))),
            Edit::Unchanged | Edit::Applied => Ok(()),
        }
    }
}
