//! The webhook use case: a delivery to a system's hook is verified, checked against
//! replays and mapped to the integration directions it asks to poll; each gets a poll
//! request ([`crate::poll_request`]). The runtime then polls them (or has them polled)
//! and answers the service. The payload's data is never used: the poll reads the truth.

use crate::engine::Engine;
use crate::error::EngineError;
use chrono::{DateTime, Utc};
use ferry_domain::webhook::{
    directions_for, notice, outcome_name, verify, HookRequest, HookSecret, Rejection, REPLAY_WINDOW,
};
use ferry_domain::webhook::{HookTally, ACCEPTED};
use ferry_domain::{Flow, IntegrationId, SystemId};
use serde::Serialize;
use tracing::{info, warn};

/// An accepted delivery: the directions it asked to poll, each with a poll request recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookAccepted {
    pub delivery_id: String,
    pub event: String,
    pub directions: Vec<(IntegrationId, Flow)>,
}

/// A system's hook as `ferry status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookStatus {
    pub system: String,
    /// Whether the system's config has `webhook:` (without it every delivery is refused).
    pub configured: bool,
    /// When the latest accepted delivery came.
    pub last_delivery: Option<DateTime<Utc>>,
    pub accepted: u64,
    /// Refused deliveries per reason code.
    pub rejected: Vec<(String, u64)>,
}

impl HookStatus {
    fn of(system: String, configured: bool, tallies: Vec<HookTally>) -> Self {
        let accepted = tallies.iter().find(|t| t.outcome == ACCEPTED);
        HookStatus {
            system,
            configured,
            last_delivery: accepted.map(|t| t.last_at),
            accepted: accepted.map_or(0, |t| t.count),
            rejected: tallies.iter().filter(|t| t.outcome != ACCEPTED).map(|t| (t.outcome.clone(), t.count)).collect(),
        }
    }
}

impl Engine {
    /// Each system's hook that is configured or has had deliveries, in system order.
    pub async fn hook_status(&self) -> Result<Vec<HookStatus>, EngineError> {
        let mut out = Vec::new();
        for system in self.config.list_systems().await? {
            let tallies = self.state.hook_tallies(system.id.as_str()).await?;
            if system.webhook.is_some() || !tallies.is_empty() {
                out.push(HookStatus::of(system.id.to_string(), system.webhook.is_some(), tallies));
            }
        }
        Ok(out)
    }

    /// Checks a delivery to the hook of `system`, whose secret the runtime resolved
    /// (`None`: none configured or resolvable). `Ok(Err(_))` is a refusal with its
    /// reason code (the runtime answers [`Rejection::status`]); `Err` is a store failure
    /// (answer 5xx: the service retries). Every verdict is logged, and counted in the
    /// store per outcome for a configured system (a name that is none is only logged:
    /// a stranger's guesses write nothing).
    pub async fn accept_hook(
        &self,
        system: &str,
        secret: Option<&HookSecret>,
        request: &HookRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<Result<HookAccepted, Rejection>, EngineError> {
        let verdict = self.judge_hook(system, secret, request, now).await?;
        match &verdict {
            Ok(a) => {
                info!(hook = system, delivery = %a.delivery_id, event = %a.event, directions = a.directions.len(), "webhook accepted")
            }
            Err(r) => warn!(hook = system, rejection = r.as_str(), "webhook rejected"),
        }
        if verdict != Err(Rejection::UnknownHook) {
            // The count is for operators; failing to keep it does not refuse a delivery.
            if let Err(e) = self.state.tally_hook(system, outcome_name(&verdict), now).await {
                warn!(hook = system, "webhook delivery not counted: {e}");
            }
        }
        Ok(verdict)
    }

    async fn judge_hook(
        &self,
        system: &str,
        secret: Option<&HookSecret>,
        request: &HookRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<Result<HookAccepted, Rejection>, EngineError> {
        let Ok(system) = SystemId::parse(system) else {
            return Ok(Err(Rejection::UnknownHook));
        };
        let Some(config) = self.config.get_system(&system).await? else {
            return Ok(Err(Rejection::UnknownHook));
        };
        // Nothing from an unproven sender reaches the store.
        if let Err(r) = verify(config.kind, secret, request) {
            return Ok(Err(r));
        }
        let notice = match notice(config.kind, request) {
            Ok(n) => n,
            Err(r) => return Ok(Err(r)),
        };
        if !self.state.record_delivery(system.as_str(), &notice.delivery_id, now, REPLAY_WINDOW).await? {
            return Ok(Err(Rejection::Replay));
        }
        let directions = directions_for(&self.all_records().await?, &system, &notice.project);
        if directions.is_empty() {
            return Ok(Err(Rejection::UnknownIntegration));
        }
        for (id, flow) in &directions {
            self.state.request_poll(id, *flow).await?;
        }
        Ok(Ok(HookAccepted { delivery_id: notice.delivery_id, event: notice.event, directions }))
    }
}
