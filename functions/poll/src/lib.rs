//! The poll function: EventBridge Scheduler invokes it per integration direction with
//! the schedule's input `{"integration": "app-bugs", "flow": "left_to_right"}`.

use chrono::{DateTime, Utc};
use ferry_domain::{Flow, IntegrationId};
use ferry_engine::{budget_before_deadline, Engine, EngineError, PollReport};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// The schedule target's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollInput {
    pub integration: IntegrationId,
    pub flow: Flow,
}

/// What one invocation did (the function's response, also logged).
#[derive(Debug, Clone, Serialize)]
pub struct PollSummary {
    pub integration: String,
    pub flow: Flow,
    #[serde(flatten)]
    pub report: PollReport,
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(
        "the poll event must be {{\"integration\": \"<id>\", \"flow\": \"left_to_right\" | \"right_to_left\"}}: {0}"
    )]
    BadInput(String),
    #[error("polling {integration} {flow}: {source}")]
    Engine {
        integration: String,
        flow: Flow,
        #[source]
        source: EngineError,
    },
}

impl PollInput {
    pub fn from_event(event: serde_json::Value) -> Result<Self, PollError> {
        serde_json::from_value(event).map_err(|e| PollError::BadInput(e.to_string()))
    }
}

/// Polls the integration direction named by `event` (the Scheduler input) at `now`,
/// within the engine's default poll budget.
pub async fn handle(engine: &Engine, event: serde_json::Value, now: DateTime<Utc>) -> Result<PollSummary, PollError> {
    handle_until(engine, event, now, None).await
}

/// As [`handle`], for an invocation that must end by `deadline` (the Lambda context's):
/// the poll reads no page that would end too close to it ([`budget_before_deadline`]),
/// and the next scheduled poll continues the read.
pub async fn handle_until(
    engine: &Engine,
    event: serde_json::Value,
    now: DateTime<Utc>,
    deadline: Option<SystemTime>,
) -> Result<PollSummary, PollError> {
    let input = PollInput::from_event(event)?;
    let polled = match deadline {
        Some(d) => {
            let remaining = d.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
            let budget = budget_before_deadline(remaining);
            // A rate-limit wait ends within the budget too; a longer one ends the read
            // (the watermark keeps what was read, the next poll continues).
            let poll = engine.poll_within(&input.integration, input.flow, now, budget);
            ferry_runtime::within_deadline(Some(std::time::Instant::now() + budget), poll).await
        }
        None => engine.poll(&input.integration, input.flow, now).await,
    };
    let report = polled.map_err(|source| PollError::Engine {
        integration: input.integration.to_string(),
        flow: input.flow,
        source,
    })?;
    tracing::info!(
        integration = %input.integration,
        flow = %input.flow,
        fetched = report.fetched,
        enqueued = report.enqueued,
        duplicates = report.duplicates,
        pages = report.pages,
        more = report.more,
        busy = report.busy,
        skipped_inactive = report.skipped_inactive,
        "poll finished"
    );
    Ok(PollSummary { integration: input.integration.to_string(), flow: input.flow, report })
}

#[cfg(test)]
mod tests;
