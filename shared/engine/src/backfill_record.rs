//! An accepted backfill (`ferry activate ID --since DATE`) and its resumption. The plan
//! is stored before anything is done ([`BackfillRecord`]), so that whoever follows the
//! backfill (the command that started it, its rerun after a crash, `ferry backfill
//! status`) measures it against the total it was accepted with, not a plan counted again
//! halfway (by then the entities created count as paired).
//!
//! Order, each step safe to repeat: the record (not activated), the pairs' links
//! ([`Engine::record_pairs`] leaves linked ones alone), the activation from `since`, the
//! record marked activated. A rerun of the same backfill resumes it: it links what is
//! left unlinked and activates again, but keeps the watermarks once the first activation
//! is recorded, so nothing its polls read already is read again and nothing is skipped
//! (what they read is on the queues or synced).

use crate::engine::Engine;
use crate::error::EngineError;
use crate::lifecycle::ActivationReport;
use chrono::{DateTime, Utc};
use ferry_domain::{BackfillPlan, BackfillRecord, IntegrationId, PairBy};

/// What starting or resuming a backfill did.
#[derive(Debug)]
pub struct BackfillStarted {
    /// The backfill as stored (activated).
    pub record: BackfillRecord,
    /// The pairs linked now (on a resume: those a crash left unlinked).
    pub linked: usize,
    pub activation: ActivationReport,
}

impl Engine {
    /// The backfill last accepted for `id`, if any.
    pub async fn stored_backfill(&self, id: &IntegrationId) -> Result<Option<BackfillRecord>, EngineError> {
        Ok(self.state.get_backfill(id).await?)
    }

    /// Accepts `plan`: stores it, links its pairs, and activates `id` with each direction
    /// polling from the plan's `since` (a kept watermark is replaced).
    pub async fn accept_backfill(
        &self,
        id: &IntegrationId,
        plan: BackfillPlan,
        pair_by: PairBy,
        now: DateTime<Utc>,
    ) -> Result<BackfillStarted, EngineError> {
        let record = BackfillRecord { integration: id.clone(), pair_by, accepted_at: now, activated_at: None, plan };
        self.state.put_backfill(&record).await?;
        self.carry_on(record, now, true).await
    }

    /// Resumes a stored backfill (the same `since` and pairing asked again): links the
    /// pairs still unlinked and activates, from `since` if its activation was never
    /// recorded, else keeping the watermarks.
    pub async fn resume_backfill(
        &self,
        record: BackfillRecord,
        now: DateTime<Utc>,
    ) -> Result<BackfillStarted, EngineError> {
        let first = record.activated_at.is_none();
        self.carry_on(record, now, first).await
    }

    async fn carry_on(
        &self,
        mut record: BackfillRecord,
        now: DateTime<Utc>,
        replace_kept: bool,
    ) -> Result<BackfillStarted, EngineError> {
        let id = record.integration.clone();
        let linked = self.record_pairs(&id, &record.plan).await?;
        let activation = self.activate_at(&id, now, Some(record.plan.since), replace_kept).await?;
        if record.activated_at.is_none() {
            record.activated_at = Some(now);
            self.state.put_backfill(&record).await?;
        }
        Ok(BackfillStarted { record, linked, activation })
    }
}
