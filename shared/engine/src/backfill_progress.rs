//! How far a backfill is, as the store holds it, so it is right whoever does the work
//! (this process, the functions on AWS, a `ferry run` beside it). An item the backfill
//! follows ([`BackfillRecord::followed`]) is done once a link holds it; one not linked
//! whose flow parked a failure for it is parked; the rest are still to sync.

use crate::engine::Engine;
use crate::error::EngineError;
use ferry_domain::ports::{StateKey, StateRecord};
use ferry_domain::BackfillRecord;
use serde::Serialize;

/// How many keys of items still to sync [`BackfillCounts::waiting`] names.
pub const WAITING_SHOWN: usize = 10;

/// A backfill's counts at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackfillCounts {
    /// The items followed: entities to create and pairs to link.
    pub total: usize,
    /// Entities to create that are linked to a twin now.
    pub created: usize,
    /// Pairs of the plan that are linked now.
    pub paired: usize,
    /// Items not linked with a failure parked in their flow (`ferry failures list`).
    pub parked: usize,
    /// Items neither linked nor parked.
    pub waiting: usize,
    /// The keys of the first [`WAITING_SHOWN`] waiting items.
    pub waiting_keys: Vec<String>,
    /// The plan's ambiguous entities: neither paired nor created, never followed.
    pub ambiguous: usize,
    /// Pairs linked before the backfill (not followed).
    pub already_paired: usize,
}

impl BackfillCounts {
    /// Items done: created or paired.
    pub fn done(&self) -> usize {
        self.created + self.paired
    }
}

/// Reads a backfill's counts from the store, again and again while it runs. An item
/// seen linked is not read again: the links a backfill makes are not undone while it
/// runs, and the store is then asked only about the items still open.
pub struct BackfillProgress {
    record: BackfillRecord,
    linked: Vec<bool>,
}

impl BackfillProgress {
    pub fn new(record: BackfillRecord) -> Self {
        let linked = vec![false; record.total()];
        Self { record, linked }
    }

    pub fn record(&self) -> &BackfillRecord {
        &self.record
    }

    /// The counts now. Reads may be a moment old ([`StateStore::get_many_relaxed`]):
    /// progress shown a moment late, never wrong for long.
    ///
    /// [`StateStore::get_many_relaxed`]: ferry_domain::ports::StateStore::get_many_relaxed
    pub async fn read(&mut self, engine: &Engine) -> Result<BackfillCounts, EngineError> {
        let id = &self.record.integration;
        let followed = self.record.followed();
        let open: Vec<usize> = (0..followed.len()).filter(|&i| !self.linked[i]).collect();
        let links: Vec<StateKey> =
            open.iter().map(|&i| StateKey::Link(id.clone(), followed[i].side, followed[i].entity.clone())).collect();
        let found = engine.state.get_many_relaxed(&links).await?;
        for (&i, key) in open.iter().zip(&links) {
            if matches!(found.get(key), Some(StateRecord::Link(_))) {
                self.linked[i] = true;
            }
        }
        let still: Vec<usize> = open.into_iter().filter(|&i| !self.linked[i]).collect();
        let failures: Vec<StateKey> = still
            .iter()
            .map(|&i| StateKey::Failure(id.clone(), followed[i].flow(), followed[i].entity.clone()))
            .collect();
        let parked = engine.state.get_many_relaxed(&failures).await?;
        let mut counts = BackfillCounts {
            total: followed.len(),
            ambiguous: self.record.plan.ambiguous.len(),
            already_paired: self.record.plan.already_paired,
            ..BackfillCounts::default()
        };
        for (i, f) in followed.iter().enumerate() {
            match (self.linked[i], f.create) {
                (true, true) => counts.created += 1,
                (true, false) => counts.paired += 1,
                (false, _) => {}
            }
        }
        for (&i, key) in still.iter().zip(&failures) {
            if matches!(parked.get(key), Some(StateRecord::Failure(_))) {
                counts.parked += 1;
            } else {
                counts.waiting += 1;
                if counts.waiting_keys.len() < WAITING_SHOWN {
                    counts.waiting_keys.push(followed[i].key.to_string());
                }
            }
        }
        Ok(counts)
    }
}
