//! Backfill of existing items (`ferry activate ID --since DATE`): entities that already
//! mirror each other (paired by hand or by another tool) are linked instead of being
//! created a second time; the rest are synced by the first polls from `DATE`.
//!
//! Two ways to recognise a pair ([`PairBy`]):
//! - a remote-id field: one side's field holds the other's key or id (the integration's
//!   `remote` fields, or a field named with `--pair-by left:FIELD` / `right:FIELD`);
//! - the title, exactly, within the integration's two entity types, when asked.
//!
//! [`Engine::plan_backfill`] only reads; [`Engine::record_pairs`] stores the links
//! before anything syncs, so a crash after it finds them again (they count as already
//! paired) and nothing is created twice. A pair linked here starts from both sides'
//! values as they are (its baseline): the two already mirror each other, so only what a
//! person changes after the pairing travels, and values they held differently stay until
//! one side is edited. A pair whose baseline was not stored (a crash in between) syncs
//! its first write as an adoption (see `adopt.rs`).

use crate::engine::Engine;
use crate::error::EngineError;
use chrono::{DateTime, Utc};
use ferry_domain::{
    EntityId, EntityRef, EntitySnapshot, ErrorCategory, FieldKey, FieldValue, Fingerprint, Flow, IntegrationId,
    IntegrationRecord, Link, PlannedItem, Side,
};
use ferry_mapping::{paired_fields, paired_values};
use std::collections::BTreeSet;

pub use ferry_domain::{Ambiguous, BackfillPlan, PairBy};

/// One entity as the pairing sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub entity: EntityRef,
    pub title: Option<String>,
    /// The other side's key or id its remote-id field holds.
    pub names: Option<String>,
}

/// The pairing rule over the entities of both sides (see the module docs). Linked
/// entities are left out first. An entity with several candidates, or whose one
/// candidate has several, is ambiguous: neither paired nor created, so a doubtful
/// match never turns into a duplicate.
pub fn pair_items(left: &[Item], right: &[Item], by: &PairBy) -> (Vec<(usize, usize)>, Vec<Ambiguous>) {
    let matches = |l: &Item, r: &Item| match by {
        PairBy::RemoteId | PairBy::Field { .. } => {
            let names =
                |a: &Item, b: &Item| a.names.as_deref().is_some_and(|n| n == b.entity.key || n == b.entity.id.as_str());
            names(l, r) || names(r, l)
        }
        PairBy::Title => match (&l.title, &r.title) {
            (Some(a), Some(b)) => !a.trim().is_empty() && a.trim() == b.trim(),
            _ => false,
        },
    };
    let of_left: Vec<Vec<usize>> =
        left.iter().map(|l| (0..right.len()).filter(|&j| matches(l, &right[j])).collect()).collect();
    let of_right: Vec<Vec<usize>> =
        right.iter().map(|r| (0..left.len()).filter(|&i| matches(&left[i], r)).collect()).collect();
    let (mut pairs, mut ambiguous) = (Vec::new(), Vec::new());
    for (i, js) in of_left.iter().enumerate() {
        match js.as_slice() {
            [j] if of_right[*j].len() == 1 => pairs.push((i, *j)),
            [] => {}
            _ => ambiguous.push(Ambiguous {
                side: Side::Left,
                key: left[i].entity.key.clone(),
                candidates: js.iter().map(|&j| right[j].entity.key.clone()).collect(),
            }),
        }
    }
    for (j, is) in of_right.iter().enumerate() {
        let doubtful = match is.as_slice() {
            [] => false,
            [i] => of_left[*i].len() > 1,
            _ => true,
        };
        if doubtful {
            let candidates = is.iter().map(|&i| left[i].entity.key.clone()).collect();
            ambiguous.push(Ambiguous { side: Side::Right, key: right[j].entity.key.clone(), candidates });
        }
    }
    (pairs, ambiguous)
}

/// Whether an unpaired entity is one the backfill creates: not one a remote id pulled in
/// that has not changed since `since`, nor one of a side the integration syncs nothing
/// from (its polls never read that side's changes).
fn synced_by_backfill(p: &PlannedItem, [left, right]: [&[Item]; 2], since: DateTime<Utc>, flows: &[Flow]) -> bool {
    let items = if p.side == Side::Left { left } else { right };
    items.iter().any(|it| it.entity.id == p.id && it.entity.updated >= since)
        && flows.contains(&Flow::from_source(p.side))
}

impl Engine {
    /// What `activate --since` would do: both sides' entities changed since `since`,
    /// paired by `by` (see the module docs). Reads only.
    pub async fn plan_backfill(
        &self,
        id: &IntegrationId,
        since: DateTime<Utc>,
        by: &PairBy,
    ) -> Result<BackfillPlan, EngineError> {
        let record = self.record(id).await?;
        let mut sides = [Vec::new(), Vec::new()];
        // Linked pairs, by their left entity (either side may have changed since).
        let mut linked = BTreeSet::new();
        for (n, side) in [Side::Left, Side::Right].into_iter().enumerate() {
            for snapshot in self.side_items(&record, side, since, by).await? {
                if let Some(link) = self.state.get_link(id, side, &snapshot.entity.id).await? {
                    linked.insert(link.left.id);
                } else {
                    sides[n].push(snapshot);
                }
            }
        }
        let [mut left, mut right] = sides;
        if *by != PairBy::Title {
            // The twin a remote id names may not have changed since `since`.
            self.add_named(&record, &left, &mut right, Side::Right, by).await?;
            self.add_named(&record, &right, &mut left, Side::Left, by).await?;
        }
        let (pairs, ambiguous) = pair_items(&left, &right, by);
        let paired_l: BTreeSet<usize> = pairs.iter().map(|p| p.0).collect();
        let paired_r: BTreeSet<usize> = pairs.iter().map(|p| p.1).collect();
        let held = |side: Side, key: &str| ambiguous.iter().any(|a| a.side == side && a.key == key);
        let unpaired = |side: Side, items: &[Item], paired: &BTreeSet<usize>| -> Vec<PlannedItem> {
            let entities = items.iter().enumerate().filter(|(i, _)| !paired.contains(i)).map(|(_, it)| &it.entity);
            entities
                .filter(|e| !held(side, &e.key))
                .map(|e| PlannedItem { side, id: e.id.clone(), key: e.key.clone() })
                .collect()
        };
        let mut to_create = unpaired(Side::Left, &left, &paired_l);
        to_create.extend(unpaired(Side::Right, &right, &paired_r));
        let flows = record.integration.flows();
        to_create.retain(|p| synced_by_backfill(p, [&left, &right], since, &flows));
        let to_pair = pairs.iter().map(|&(i, j)| (left[i].entity.clone(), right[j].entity.clone())).collect();
        Ok(BackfillPlan { since, to_create, to_pair, already_paired: linked.len(), ambiguous })
    }

    /// Links the pairs a plan found (before anything syncs), each with its baseline: both
    /// sides' values as they are ([`paired_values`]), so only what changes after the
    /// pairing travels. A pair linked meanwhile is left as it is. Returns how many were
    /// linked.
    pub async fn record_pairs(&self, id: &IntegrationId, plan: &BackfillPlan) -> Result<usize, EngineError> {
        let record = self.record(id).await?;
        let mut linked = 0;
        for (left, right) in &plan.to_pair {
            let taken = self.state.get_link(id, Side::Left, &left.id).await?.is_some()
                || self.state.get_link(id, Side::Right, &right.id).await?.is_some();
            if taken {
                continue;
            }
            let link =
                Link { integration: id.clone(), left: left.clone(), right: right.clone(), created_at: Utc::now() };
            self.state.put_link(&link).await?;
            let (l, r) = (
                self.baseline(&record, &link.left, Side::Left).await?,
                self.baseline(&record, &link.right, Side::Right).await?,
            );
            // No record yet: the link is new. Should this stop short, the pair's first
            // write goes on as an adoption (see `adopt.rs`).
            self.state.put_pair(&l, &r, 0).await?;
            linked += 1;
        }
        Ok(linked)
    }

    /// One side's fingerprint of a pair linked by a backfill: its values as it holds them.
    async fn baseline(
        &self,
        record: &IntegrationRecord,
        entity: &EntityRef,
        side: Side,
    ) -> Result<Fingerprint, EngineError> {
        let integration = &record.integration;
        let (conn, scope) = self.side_connector(record, side).await?;
        let read = conn.get(&scope, &entity.id, &paired_fields(integration, side)).await?;
        let values = read.as_ref().map(|s| paired_values(integration, side, s)).unwrap_or_default();
        Ok(Fingerprint {
            integration: integration.id.clone(),
            side,
            entity: entity.id.clone(),
            values,
            written_revision: None,
            written_updated: None,
            applied_source_updated: None,
            create_started: None,
            twin_deleted: None,
            updated_at: Utc::now(),
        })
    }

    /// The entities of one side changed since `since`, with their title and remote id.
    async fn side_items(
        &self,
        record: &IntegrationRecord,
        side: Side,
        since: DateTime<Utc>,
        by: &PairBy,
    ) -> Result<Vec<Item>, EngineError> {
        let (conn, scope) = self.side_connector(record, side).await?;
        let (title, remote) = pair_fields(record, side, by);
        let fields: Vec<FieldKey> = title.iter().chain(remote.iter()).cloned().collect();
        let snapshots = conn.changed_since(&scope, since, None, &fields).await?;
        Ok(snapshots.iter().map(|s| item(s, title.as_ref(), remote.as_ref())).collect())
    }

    /// Adds to `into` (side `side`) the entities the remote ids of `from` name that
    /// are not in it yet.
    async fn add_named(
        &self,
        record: &IntegrationRecord,
        from: &[Item],
        into: &mut Vec<Item>,
        side: Side,
        by: &PairBy,
    ) -> Result<(), EngineError> {
        let (conn, scope) = self.side_connector(record, side).await?;
        let (title, remote) = pair_fields(record, side, by);
        let fields: Vec<FieldKey> = title.iter().chain(remote.iter()).cloned().collect();
        for name in from.iter().filter_map(|it| it.names.clone()) {
            if into.iter().any(|it| it.entity.key == name || it.entity.id.as_str() == name) {
                continue;
            }
            let found = match conn.get(&scope, &EntityId::new(name.as_str()), &fields).await {
                Ok(s) => s,
                // A key of the other side's form, or one that does not exist: no twin.
                Err(e) if matches!(e.category, ErrorCategory::InvalidRequest | ErrorCategory::NotFound) => None,
                Err(e) => return Err(e.into()),
            };
            if let Some(s) = found {
                if self.state.get_link(&record.integration.id, side, &s.id).await?.is_none() {
                    into.push(item(&s, title.as_ref(), remote.as_ref()));
                }
            }
        }
        Ok(())
    }
}

/// The fields one side's items are read with: its title field (for `PairBy::Title`,
/// the first both-way mapped text field of the title concept) and its remote-id field.
fn pair_fields(record: &IntegrationRecord, side: Side, by: &PairBy) -> (Option<FieldKey>, Option<FieldKey>) {
    match by {
        PairBy::Title => {
            const TITLES: [&str; 3] = ["summary", "System.Title", "subject"];
            let field = record.integration.fields.iter().find_map(|m| {
                let (l, r) = (m.left.as_ref()?, m.right.as_ref()?);
                let key = if side == Side::Left { l } else { r };
                (TITLES.contains(&l.as_str()) || TITLES.contains(&r.as_str())).then(|| key.clone())
            });
            (field, None)
        }
        PairBy::RemoteId => (None, record.integration.remote.id_field(side).cloned()),
        PairBy::Field { side: s, field } => (None, (*s == side).then(|| field.clone())),
    }
}

fn item(s: &EntitySnapshot, title: Option<&FieldKey>, remote: Option<&FieldKey>) -> Item {
    let text = |k: Option<&FieldKey>| {
        k.and_then(|k| s.field(k))
            .and_then(FieldValue::key_string)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let entity = EntityRef {
        id: s.id.clone(),
        key: s.key.clone(),
        url: s.url.clone(),
        revision: s.revision.clone(),
        updated: s.updated,
    };
    Item { entity, title: text(title), names: text(remote) }
}

#[cfg(test)]
mod tests;
