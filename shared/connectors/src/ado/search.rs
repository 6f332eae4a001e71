//! Reads by WIQL: a read of changes (a page of ids from a position in the order
//! changed date, then id, read in one batch), the search for a work item by a field's
//! value, the newest change of a scope, and Azure DevOps' judgement of a filter.

use super::snapshot::{changed_date, read_fields, BASE_FIELDS};
use super::wire::{parse_time, ListOf, WiqlResult, WorkItem};
use super::{wiql, AdoConnector, BATCH};
use chrono::{DateTime, Utc};
use ferry_domain::ports::{ChangePage, ChangeQuery, PortResult, QueryFilter, ReadToken};
use ferry_domain::{EntityRef, EntitySnapshot, ErrorCategory, FieldKey, PortError, Scope};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;

/// Where a read of changes continues: after `(changed, id)` in the order (changed date,
/// then id), or from `changed` on when no item marked a position yet.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct AdoPosition {
    #[serde(with = "chrono::serde::ts_milliseconds")]
    changed: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
}

impl AdoPosition {
    fn start(&self) -> wiql::Start {
        match self.id {
            Some(id) => wiql::Start::After(self.changed, id),
            None => wiql::Start::Since(self.changed),
        }
    }
}

impl AdoConnector {
    pub(super) async fn run_wiql(&self, project: &str, query: String, top: usize) -> PortResult<WiqlResult> {
        let top = top.to_string();
        let url = self.wit(project, &["wiql"], &[("timePrecision", "true"), ("$top", top.as_str())])?;
        self.send_json(Method::POST, url, &json!({ "query": query }), None, "ADO WIQL").await
    }

    pub(super) async fn read_batch(&self, project: &str, ids: &[u64], fields: &[String]) -> PortResult<Vec<WorkItem>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH) {
            let url = self.wit(project, &["workitemsbatch"], &[])?;
            let mut body = json!({ "ids": chunk, "errorPolicy": "omit" });
            // No field list: every field.
            if !fields.is_empty() {
                body["fields"] = json!(fields);
            }
            // With errorPolicy=omit, items deleted meanwhile come back as null.
            let list: ListOf<Option<WorkItem>> =
                self.send_json(Method::POST, url, &body, None, "ADO work items batch").await?;
            out.extend(list.value.into_iter().flatten());
        }
        Ok(out)
    }

    pub(super) async fn read_changes(
        &self,
        scope: &Scope,
        query: &ChangeQuery<'_>,
        from: Option<&ReadToken>,
    ) -> PortResult<ChangePage> {
        for f in query.fields {
            wiql::field_ref(f.as_str())?;
        }
        let project = scope.project.as_str();
        let start = match from {
            // Millisecond literals: truncating `since` can only widen the read.
            None => AdoPosition {
                changed: DateTime::<Utc>::from_timestamp_millis(query.since.timestamp_millis()).unwrap_or(query.since),
                id: None,
            },
            Some(t) => t.decode().ok_or_else(|| {
                PortError::new(ErrorCategory::InvalidRequest, "the read position is not an Azure DevOps position")
            })?,
        };
        let top = query.page_size.clamp(1, BATCH);
        let q = wiql::changed_query(&scope.entity_type, start.start(), query.filter)?;
        let r = self.run_wiql(project, q, top).await?;
        let as_of = r.as_of.as_deref().and_then(parse_time);
        let ids: Vec<u64> = r.work_items.iter().map(|w| w.id).collect();
        let mut snapshots = Vec::with_capacity(ids.len());
        let mut position: Option<AdoPosition> = None;
        if !ids.is_empty() {
            let catalog = self.catalog(project).await?;
            let on_type = self.type_field_names(scope).await?;
            let items = self.read_batch(project, &ids, &read_fields(query.fields)).await?;
            let by_id: HashMap<u64, &WorkItem> = items.iter().map(|i| (i.id, i)).collect();
            // In the query's order; an item deleted meanwhile is gone from the batch.
            for id in &ids {
                let Some(item) = by_id.get(id) else { continue };
                let snap = self.snapshot(project, item, &catalog, &on_type, query.fields)?;
                if as_of.is_none_or(|t| snap.updated <= t) {
                    position = Some(AdoPosition { changed: snap.updated, id: Some(*id) });
                }
                snapshots.push(snap);
            }
        }
        snapshots.sort_by(|a, b| {
            let n = |s: &EntitySnapshot| s.id.as_str().parse::<u64>().unwrap_or(0);
            a.updated.cmp(&b.updated).then_with(|| n(a).cmp(&n(b)))
        });
        let through = position.as_ref().map(|p| p.changed);
        // A short page is the last; a full one continues after its position.
        let next = (ids.len() >= top).then(|| ReadToken::encode(&position.unwrap_or(start)));
        Ok(ChangePage { snapshots, unchanged: 0, through, as_of, next })
    }

    pub(super) async fn search_field(
        &self,
        scope: &Scope,
        field: &FieldKey,
        value: &str,
    ) -> PortResult<Option<EntityRef>> {
        let project = scope.project.as_str();
        let q = wiql::field_equals_query(&scope.entity_type, field.as_str(), value)?;
        let r = self.run_wiql(project, q, 1).await?;
        let Some(first) = r.work_items.first() else {
            return Ok(None);
        };
        let item = self.get_item(project, first.id, &[("fields", &BASE_FIELDS.join(","))]).await?;
        item.map(|i| self.entity_ref(project, &i)).transpose()
    }

    pub(super) async fn newest_update(&self, scope: &Scope) -> PortResult<Option<DateTime<Utc>>> {
        let project = scope.project.as_str();
        let r = self.run_wiql(project, wiql::newest_query(Some(&scope.entity_type)), 1).await?;
        let Some(first) = r.work_items.first() else {
            return Ok(None);
        };
        let item = self.get_item(project, first.id, &[("fields", "System.Id,System.ChangedDate")]).await?;
        item.map(|i| changed_date(&i)).transpose()
    }

    pub(super) async fn check_filter(&self, scope: &Scope, condition: &str) -> PortResult<()> {
        let filter = QueryFilter { condition: condition.to_string(), negate: false };
        let q = wiql::changed_query(&scope.entity_type, wiql::Start::Since(Utc::now()), Some(&filter))?;
        match self.run_wiql(&scope.project, q, 1).await {
            Ok(_) => Ok(()),
            Err(e) if e.category == ErrorCategory::InvalidRequest => Err(PortError::new(
                ErrorCategory::Config,
                format!("Azure DevOps refuses the criteria filter {condition:?}: {}", e.message),
            )),
            Err(e) => Err(e),
        }
    }
}
