//! The steps of an entity's way through Ferry ([`ferry_domain::Activity`]): what each
//! step records, the minute buckets they add up to, and a direction's pace read back for
//! the console. Both are statistics like the counters: what cannot be recorded is
//! logged, and the sync goes on.

use crate::batch::Batch;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::outcome::{TransformOutcome, WriteOutcome};
use chrono::{DateTime, Duration, Utc};
use ferry_domain::activity::{flow_pace, lag_secs};
use ferry_domain::{
    Activity, ActivityKind, ChangeEvent, ErrorCategory, FailureCount, FailureRecord, Flow, FlowPace, IntegrationId,
    PaceBucket,
};
use std::collections::HashMap;
use tracing::warn;

/// A step's detail is a summary: longer text (a failure's cause) is cut here.
const DETAIL_MAX: usize = 300;

/// How far back a direction's buckets are read for its pace: a change in flight for
/// longer is still behind, but only its failure record (if parked) shows it.
pub const PACE_WINDOW_HOURS: i64 = 24;

pub(crate) fn step(event: &ChangeEvent, kind: ActivityKind, detail: impl Into<String>) -> Activity {
    let mut detail = detail.into();
    if detail.len() > DETAIL_MAX {
        let mut cut = DETAIL_MAX;
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        detail.truncate(cut);
        detail.push('…');
    }
    Activity {
        integration: event.integration.clone(),
        flow: event.flow,
        entity: event.snapshot.id.clone(),
        entity_key: event.snapshot.key.clone(),
        at: Utc::now(),
        changed: event.snapshot.updated,
        kind,
        detail,
    }
}

/// The step a failure record stands for.
pub(crate) fn parked_step(event: &ChangeEvent, failure: &FailureRecord) -> Activity {
    let kind = match failure.category {
        ErrorCategory::FieldConflict => ActivityKind::Conflict,
        _ => ActivityKind::Failed,
    };
    step(event, kind, format!("{}: {}", failure.category, failure.cause))
}

/// The step of a transform's outcome; `None` for a parked one (recorded where it parks).
pub(crate) fn transform_step(event: &ChangeEvent, outcome: &TransformOutcome) -> Option<Activity> {
    Some(match outcome {
        TransformOutcome::Enqueued { create: true, fields } => {
            step(event, ActivityKind::Transformed, format!("mapped: create with {fields} field(s)"))
        }
        TransformOutcome::Enqueued { create: false, fields } => {
            step(event, ActivityKind::Transformed, format!("mapped: update of {fields} field(s)"))
        }
        TransformOutcome::Skipped { reason, detail } => {
            step(event, ActivityKind::Skipped, format!("{reason}: {detail}"))
        }
        TransformOutcome::Parked { .. } => return None,
    })
}

/// The step of a write's outcome; `None` for a parked one (recorded where it parks).
pub(crate) fn write_step(event: &ChangeEvent, outcome: &WriteOutcome) -> Option<Activity> {
    Some(match outcome {
        WriteOutcome::Created { target, .. } => step(event, ActivityKind::Written, format!("created {target}")),
        WriteOutcome::Updated { target, fields, .. } => {
            step(event, ActivityKind::Written, format!("updated {fields} field(s) of {target}"))
        }
        WriteOutcome::Unchanged { target, .. } => {
            step(event, ActivityKind::Written, format!("{target} already held every value"))
        }
        WriteOutcome::Skipped { reason, detail, .. } => {
            step(event, ActivityKind::Skipped, format!("{reason}: {detail}"))
        }
        WriteOutcome::Parked { .. } => return None,
    })
}

impl Engine {
    /// Records steps: their directions' minute buckets (one store write per direction),
    /// and the steps themselves as timelines when [`crate::EngineSettings::record_timeline`].
    pub(crate) async fn record_steps(&self, steps: &[Activity]) {
        if steps.is_empty() {
            return;
        }
        let mut buckets: HashMap<(&IntegrationId, Flow), PaceBucket> = HashMap::new();
        let now = Utc::now();
        for step in steps {
            buckets.entry((&step.integration, step.flow)).or_insert_with(|| PaceBucket::at(now)).count(step.kind);
        }
        for ((integration, flow), bucket) in buckets.iter().filter(|(_, b)| !b.is_empty()) {
            if let Err(e) = self.state.add_pace(integration, *flow, bucket).await {
                warn!(%integration, %flow, "counting the direction's pace failed: {e}");
            }
        }
        if self.settings.record_timeline {
            if let Err(e) = self.state.record_activity(steps).await {
                warn!(steps = steps.len(), "recording the entities' steps failed: {e}");
            }
        }
    }

    /// Records a batch's steps (with its counters, at the end of the batch).
    pub(crate) async fn flush_steps(&self, batch: &Batch) {
        let steps = batch.take_steps();
        self.record_steps(&steps).await;
    }

    /// A direction's pace and lag (the age of the oldest change not yet written: in
    /// flight, or parked among `failures`, the counts of
    /// [`ferry_domain::ports::StateStore::failure_counts`]).
    pub async fn flow_pace(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        failures: &[FailureCount],
        now: DateTime<Utc>,
    ) -> Result<(FlowPace, i64), EngineError> {
        let buckets = self.state.pace_since(integration, flow, now - Duration::hours(PACE_WINDOW_HOURS)).await?;
        Ok(pace_and_lag(flow_pace(&buckets, now), failures, integration, flow, now))
    }
}

/// A direction's pace, and its lag counting its parked failures among `failures`.
pub(crate) fn pace_and_lag(
    pace: FlowPace,
    failures: &[FailureCount],
    integration: &IntegrationId,
    flow: Flow,
    now: DateTime<Utc>,
) -> (FlowPace, i64) {
    let (_, oldest_parked) = ferry_domain::failure_counts::open_in(failures, integration, flow);
    (pace, lag_secs(&pace, oldest_parked, now))
}
