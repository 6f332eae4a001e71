//! A work item as Ferry sees it: its snapshot (fields converted by the catalog's
//! types; empty fields the type has are empty, fields it lacks are missing), its
//! revision and changed date.

use super::wire::{identity_ref, parse_time, read_value, FieldCatalog, WorkItem};
use super::{wiql, AdoConnector};
use chrono::{DateTime, Utc};
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityId, EntityRef, EntitySnapshot, ErrorCategory, FieldKey, FieldValue, PortError, Scope};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Fields every read includes, for revision, echo detection and ordering.
pub(super) const BASE_FIELDS: [&str; 6] =
    ["System.Id", "System.Rev", "System.ChangedDate", "System.ChangedBy", "System.WorkItemType", "System.Title"];

impl AdoConnector {
    /// `on_type`: the type's field names (lower case). Azure DevOps leaves empty fields
    /// out of a work item, so a requested field the type has but the item lacks is
    /// empty (`Null`); one the type does not have is missing and stays out.
    pub(super) fn snapshot(
        &self,
        project: &str,
        item: &WorkItem,
        catalog: &FieldCatalog,
        on_type: &HashSet<String>,
        requested: &[FieldKey],
    ) -> PortResult<EntitySnapshot> {
        let updated = changed_date(item)?;
        let mut fields = BTreeMap::new();
        let wanted: Vec<&str> = if requested.is_empty() {
            item.fields.keys().map(String::as_str).collect()
        } else {
            requested.iter().map(FieldKey::as_str).collect()
        };
        for key in wanted {
            let found = item.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(key));
            let value = match found {
                Some((_, v)) => self.neutral(read_value(key, catalog.kind(key), v).unwrap_or(FieldValue::Null)),
                None if on_type.contains(&key.to_ascii_lowercase()) => FieldValue::Null,
                None => continue,
            };
            fields.insert(FieldKey::new(key), value);
        }
        Ok(EntitySnapshot {
            id: EntityId::new(item.id.to_string()),
            key: item.id.to_string(),
            revision: revision(item).to_string(),
            updated,
            changed_by: item.fields.get("System.ChangedBy").and_then(identity_ref),
            url: self.entity_url(project, item.id),
            fields,
        })
    }

    /// A value as read, with a rich text's mentions and images in neutral form
    /// ([`super::markup::field_to_neutral`]).
    pub(super) fn neutral(&self, v: FieldValue) -> FieldValue {
        match v {
            FieldValue::RichText(h) => FieldValue::RichText(super::markup::field_to_neutral(&h, &self.base)),
            other => other,
        }
    }

    pub(super) fn entity_ref(&self, project: &str, item: &WorkItem) -> PortResult<EntityRef> {
        Ok(EntityRef {
            id: EntityId::new(item.id.to_string()),
            key: item.id.to_string(),
            url: self.entity_url(project, item.id),
            revision: revision(item).to_string(),
            updated: changed_date(item)?,
        })
    }

    pub(super) async fn get_item(
        &self,
        project: &str,
        id: u64,
        query: &[(&str, &str)],
    ) -> PortResult<Option<WorkItem>> {
        let url = self.wit(project, &["workitems", &id.to_string()], query)?;
        match self.get_json::<WorkItem>(url, "ADO work item").await {
            Ok(item) => Ok(Some(item)),
            // A missing project (TF200016) is a configuration error, not a missing item.
            Err(e) if e.category == ErrorCategory::NotFound && !e.message.contains("TF200016") => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn read_item(
        &self,
        scope: &Scope,
        id: &EntityId,
        fields: &[FieldKey],
    ) -> PortResult<Option<EntitySnapshot>> {
        for f in fields {
            wiql::field_ref(f.as_str())?;
        }
        let id = work_item_id(id)?;
        let project = scope.project.as_str();
        let names = read_fields(fields).join(",");
        // The port's convention: no field list means every field.
        let params: &[(&str, &str)] = if fields.is_empty() { &[] } else { &[("fields", &names)] };
        let Some(item) = self.get_item(project, id, params).await? else {
            return Ok(None);
        };
        self.snapshot_of(scope, &item, fields).await.map(Some)
    }

    /// Many work items through `workitemsbatch` ([`Self::read_batch`]), each snapshot as
    /// [`Self::read_item`] makes it; missing or deleted ones are left out.
    pub(super) async fn read_items(
        &self,
        scope: &Scope,
        ids: &[EntityId],
        fields: &[FieldKey],
    ) -> PortResult<Vec<EntitySnapshot>> {
        for f in fields {
            wiql::field_ref(f.as_str())?;
        }
        let ids = ids.iter().map(work_item_id).collect::<PortResult<Vec<u64>>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let project = scope.project.as_str();
        // The port's convention: no field list means every field.
        let names = if fields.is_empty() { Vec::new() } else { read_fields(fields) };
        let items = self.read_batch(project, &ids, &names).await?;
        let catalog = self.catalog(project).await?;
        let on_type = if fields.is_empty() { Arc::default() } else { self.type_field_names(scope).await? };
        items.iter().map(|item| self.snapshot(project, item, &catalog, &on_type, fields)).collect()
    }

    /// The snapshot of a work item a response holds (a read, or the answer of a write,
    /// which holds every field), with the `fields` requested.
    pub(super) async fn snapshot_of(
        &self,
        scope: &Scope,
        item: &WorkItem,
        fields: &[FieldKey],
    ) -> PortResult<EntitySnapshot> {
        let project = scope.project.as_str();
        let catalog = self.catalog(project).await?;
        let on_type = if fields.is_empty() { Arc::default() } else { self.type_field_names(scope).await? };
        self.snapshot(project, item, &catalog, &on_type, fields)
    }
}

pub(super) fn work_item_id(id: &EntityId) -> PortResult<u64> {
    id.as_str().trim().parse::<u64>().map_err(|_| {
        PortError::new(ErrorCategory::InvalidRequest, format!("{:?} is not an Azure DevOps work item id", id.as_str()))
    })
}
pub(super) fn revision(item: &WorkItem) -> u64 {
    item.rev.or_else(|| item.fields.get("System.Rev").and_then(Value::as_u64)).unwrap_or(0)
}
pub(super) fn changed_date(item: &WorkItem) -> PortResult<DateTime<Utc>> {
    item.fields.get("System.ChangedDate").and_then(Value::as_str).and_then(parse_time).ok_or_else(|| {
        PortError::new(ErrorCategory::BadResponse, format!("work item {} has no readable System.ChangedDate", item.id))
    })
}
/// Requested fields plus the ones every read needs, without duplicates.
pub(super) fn read_fields(requested: &[FieldKey]) -> Vec<String> {
    let mut out: Vec<String> = BASE_FIELDS.iter().map(|s| s.to_string()).collect();
    for f in requested {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(f.as_str())) {
            out.push(f.as_str().to_string());
        }
    }
    out
}
