//! `ferry status`: per integration and direction, how far sync has got.

use crate::activity::{pace_and_lag, PACE_WINDOW_HOURS};
use crate::engine::Engine;
use crate::error::EngineError;
use chrono::Duration;
use chrono::{DateTime, Utc};
use ferry_domain::failure_counts::open_in;
use ferry_domain::{
    ErrorCategory, FailureCount, Flow, FlowCounts, FlowPace, IntegrationId, IntegrationRecord, PaceWindow,
    StateOverview,
};
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
    /// A commit link's own status (`left`: its repository, `right`: its targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commits: Option<CommitLinkStatus>,
}

/// What a commit link's status adds to a work-item integration's.
#[derive(Debug, Clone, Serialize)]
pub struct CommitLinkStatus {
    pub branches: Vec<String>,
    /// The position: each selected branch's newest handled commit (empty: an empty
    /// repository); `None` before activation.
    pub tips: Option<std::collections::BTreeMap<String, String>>,
    /// A walk the polls are part-way through: the tips it goes to and the commits of it
    /// handled so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub walk: Option<ferry_domain::WalkCheckpoint>,
    /// Mentions of work items that could not be written (missing, outside the project,
    /// a transition with no way to its status): recorded once, never retried by polls.
    pub reported: Vec<ReportedMention>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportedMention {
    /// The failure's id (`ferry failures discard ID` drops it).
    pub failure: String,
    pub category: ErrorCategory,
    pub cause: String,
}

/// An integration's status with each direction's pace and lag in seconds (in the order
/// of its `flows`), as the console's integrations page shows them.
pub type StatusWithPace = (IntegrationStatus, Vec<(FlowPace, i64)>);

impl Engine {
    /// Every integration's status, the commit links' after the work-item integrations'.
    pub async fn status(&self, now: DateTime<Utc>) -> Result<Vec<IntegrationStatus>, EngineError> {
        let failures = self.state.failure_counts().await?;
        let mut all = self.status_with(&failures, now).await?;
        all.extend(self.commit_link_status(&failures, now).await?);
        Ok(all)
    }

    /// [`Engine::status`] with the parked failures' counts given (every integration's,
    /// [`ferry_domain::ports::StateStore::failure_counts`]), for a caller that needs them
    /// itself too.
    pub async fn status_with(
        &self,
        failures: &[FailureCount],
        now: DateTime<Utc>,
    ) -> Result<Vec<IntegrationStatus>, EngineError> {
        Ok(self.read_status(failures, false, now).await?.into_iter().map(|(s, _)| s).collect())
    }

    /// [`Engine::status_with`] and each direction's pace and lag
    /// ([`Engine::flow_pace`]), from the same two store reads whatever the number of
    /// integrations: their list, and [`ferry_domain::ports::StateStore::overview`].
    pub async fn status_with_pace(
        &self,
        failures: &[FailureCount],
        now: DateTime<Utc>,
    ) -> Result<Vec<StatusWithPace>, EngineError> {
        self.read_status(failures, true, now).await
    }

    async fn read_status(
        &self,
        failures: &[FailureCount],
        with_pace: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<StatusWithPace>, EngineError> {
        let records = self.config.list_integrations().await?;
        let ids: Vec<IntegrationId> = records.iter().map(|r| r.integration.id.clone()).collect();
        let window = with_pace.then(|| PaceWindow { since: now - Duration::hours(PACE_WINDOW_HOURS), now });
        let overview = self.state.overview(&ids, window).await?;
        Ok(records
            .iter()
            .map(|record| {
                let status = integration_status(record, &overview, failures, now);
                let pace = match with_pace {
                    true => status
                        .flows
                        .iter()
                        .map(|f| {
                            pace_and_lag(
                                overview.pace(&record.integration.id, f.flow),
                                failures,
                                &record.integration.id,
                                f.flow,
                                now,
                            )
                        })
                        .collect(),
                    false => Vec::new(),
                };
                (status, pace)
            })
            .collect())
    }
}

/// One integration's status from the overview's records and the failure counts.
fn integration_status(
    record: &IntegrationRecord,
    overview: &StateOverview,
    failures: &[FailureCount],
    now: DateTime<Utc>,
) -> IntegrationStatus {
    let i = &record.integration;
    let flows = i
        .flows()
        .into_iter()
        .map(|flow| {
            let of = |category| {
                failures
                    .iter()
                    .filter(|f| f.integration == i.id && f.flow == flow && f.category == category)
                    .map(|f| f.count as usize)
                    .sum()
            };
            let mark = overview.watermark(&i.id, flow);
            FlowStatus {
                flow,
                start: mark.map(|m| m.floor),
                watermark: mark.map(|m| m.cursor),
                last_poll: mark.and_then(|m| m.last_poll),
                lag_secs: mark.and_then(|m| m.last_poll).map(|t| (now - t).num_seconds().max(0)),
                counts: overview.counts(&i.id, flow),
                open_failures: open_in(failures, &i.id, flow).0 as usize,
                conflicts: of(ErrorCategory::FieldConflict),
                targets_deleted: of(ErrorCategory::TargetDeleted),
            }
        })
        .collect();
    let side = |e: &ferry_domain::Endpoint| format!("{}/{}/{}", e.system, e.project, e.entity_type);
    IntegrationStatus {
        integration: i.id.to_string(),
        active: record.active,
        version: record.version,
        poll_interval_secs: i.poll_interval_secs,
        left: side(&i.left),
        right: side(&i.right),
        links: overview.links(&i.id),
        flows,
        commits: None,
    }
}
