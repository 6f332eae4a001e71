//! A work item's history in a revision window, from `workItems/{id}/updates` (one
//! entry per revision, oldest first), paged by 200.

use super::snapshot::work_item_id;
use super::wire::{identity_ref, parse_time, read_value, ListOf, WorkItemUpdate};
use super::{AdoConnector, BATCH};
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityId, ErrorCategory, FieldKey, FieldValue, HistoryEntry, PortError, Scope};
use serde_json::Value;

impl AdoConnector {
    pub(super) async fn read_history(
        &self,
        scope: &Scope,
        id: &EntityId,
        after: Option<&str>,
        through: &str,
        fields: &[FieldKey],
    ) -> PortResult<Vec<HistoryEntry>> {
        let rev = |r: &str| {
            r.trim()
                .parse::<u64>()
                .map_err(|_| PortError::new(ErrorCategory::InvalidRequest, format!("{r:?} is not an Azure DevOps rev")))
        };
        let after = after.map(rev).transpose()?.unwrap_or(0);
        let through = rev(through)?;
        let project = scope.project.as_str();
        let wid = work_item_id(id)?.to_string();
        let catalog = self.catalog(project).await?;
        let mut out = Vec::new();
        let mut skip = 0usize;
        loop {
            let (top, from) = (BATCH.to_string(), skip.to_string());
            let url = self.wit(project, &["workItems", &wid, "updates"], &[("$top", &top), ("$skip", &from)])?;
            let page: ListOf<WorkItemUpdate> = self.get_json(url, "ADO work item updates").await?;
            let n = page.value.len();
            let mut past = false;
            for u in page.value {
                // An update without a rev changed no revision (nothing to attribute).
                let Some(r) = u.rev else { continue };
                past |= r >= through;
                if r <= after || r > through {
                    continue;
                }
                // The time of the change is the revision's System.ChangedDate (an update's
                // `revisedDate` is when the revision was superseded).
                let at = u
                    .fields
                    .as_ref()
                    .and_then(|f| f.get("System.ChangedDate"))
                    .and_then(|f| f.new_value.as_ref())
                    .and_then(Value::as_str)
                    .and_then(parse_time);
                let changed = u.fields.into_iter().flatten().map(|(name, f)| {
                    let value = match f.new_value {
                        None | Some(Value::Null) => Some(FieldValue::Null),
                        Some(v) => read_value(&name, catalog.kind(&name), &v).map(|v| self.neutral(v)),
                    };
                    let key = fields.iter().find(|k| k.as_str().eq_ignore_ascii_case(&name)).cloned();
                    (key.unwrap_or_else(|| FieldKey::new(name)), value)
                });
                out.push(HistoryEntry {
                    author: u.revised_by.as_ref().and_then(identity_ref),
                    created: r == 1,
                    at,
                    fields: changed.collect(),
                });
            }
            if n < BATCH || past {
                return Ok(out);
            }
            skip += n;
        }
    }
}
