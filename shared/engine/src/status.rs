//! `ferry status`: per integration and direction, how far sync has got.

use crate::engine::Engine;
use crate::error::EngineError;
use chrono::{DateTime, Utc};
use ferry_domain::failure_counts::open_in;
use ferry_domain::{ErrorCategory, FailureCount, Flow, FlowCounts};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct FlowStatus {
    pub flow: Flow,
    /// Changes strictly before this are never synced.
    pub start: Option<DateTime<Utc>>,
    /// Newest source change read so far.
    pub watermark: Option<DateTime<Utc>>,
    pub last_poll: Option<DateTime<Utc>>,
    /// Seconds since the last successful poll (how stale this direction may be).
    pub lag_secs: Option<i64>,
    pub counts: FlowCounts,
    /// Parked failures of this direction.
    pub open_failures: usize,
    /// Of those, fields changed on both sides that wait for a person (policy flag).
    pub conflicts: usize,
    /// Of those, source entities whose linked twin was deleted (`on_target_deleted:
    /// park`). Pairs dropped for a deleted twin (`unlink`) are `counts.unlinked`.
    pub targets_deleted: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntegrationStatus {
    pub integration: String,
    pub active: bool,
    pub version: u64,
    /// Seconds between polls of each direction.
    pub poll_interval_secs: u64,
    pub left: String,
    pub right: String,
    pub links: u64,
    pub flows: Vec<FlowStatus>,
}

impl Engine {
    pub async fn status(&self, now: DateTime<Utc>) -> Result<Vec<IntegrationStatus>, EngineError> {
        let failures = self.state.failure_counts().await?;
        self.status_with(&failures, now).await
    }

    /// [`Engine::status`] with the parked failures' counts given (every integration's,
    /// [`ferry_domain::ports::StateStore::failure_counts`]), for a caller that needs them
    /// itself too.
    pub async fn status_with(
        &self,
        failures: &[FailureCount],
        now: DateTime<Utc>,
    ) -> Result<Vec<IntegrationStatus>, EngineError> {
        let mut out = Vec::new();
        for record in self.config.list_integrations().await? {
            let i = &record.integration;
            let mut flows = Vec::new();
            for flow in i.flows() {
                let of = |category| {
                    failures
                        .iter()
                        .filter(|f| f.integration == i.id && f.flow == flow && f.category == category)
                        .map(|f| f.count as usize)
                        .sum()
                };
                let mark = self.state.get_watermark(&i.id, flow).await?;
                flows.push(FlowStatus {
                    flow,
                    start: mark.as_ref().map(|m| m.floor),
                    watermark: mark.as_ref().map(|m| m.cursor),
                    last_poll: mark.as_ref().and_then(|m| m.last_poll),
                    lag_secs: mark.as_ref().and_then(|m| m.last_poll).map(|t| (now - t).num_seconds().max(0)),
                    counts: self.state.counts(&i.id, flow).await?,
                    open_failures: open_in(failures, &i.id, flow).0 as usize,
                    conflicts: of(ErrorCategory::FieldConflict),
                    targets_deleted: of(ErrorCategory::TargetDeleted),
                });
            }
            let side = |e: &ferry_domain::Endpoint| format!("{}/{}/{}", e.system, e.project, e.entity_type);
            out.push(IntegrationStatus {
                integration: i.id.to_string(),
                active: record.active,
                version: record.version,
                poll_interval_secs: i.poll_interval_secs,
                left: side(&i.left),
                right: side(&i.right),
                links: self.state.count_links(&i.id).await?,
                flows,
            });
        }
        Ok(out)
    }
}
