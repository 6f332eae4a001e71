//! The webhook use case: a delivery to a system's hook is verified, checked against
//! replays and mapped to the integration directions it asks to poll; each gets a poll
//! request ([`crate::poll_request`]). The runtime then polls them (or has them polled)
//! and answers the service. The payload's data is never used: the poll reads the truth.

use crate::engine::Engine;
use crate::error::EngineError;
use chrono::{DateTime, Utc};
use ferry_domain::webhook::{directions_for, notice, verify, HookRequest, HookSecret, Rejection, REPLAY_WINDOW};
use ferry_domain::{Flow, IntegrationId, SystemId};
use tracing::{info, warn};

/// An accepted delivery: the directions it asked to poll, each with a poll request recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookAccepted {
    pub delivery_id: String,
    pub event: String,
    pub directions: Vec<(IntegrationId, Flow)>,
}

impl Engine {
    /// Checks a delivery to the hook of `system`, whose secret the runtime resolved
    /// (`None`: none configured or resolvable). `Ok(Err(_))` is a refusal with its
    /// reason code (logged here; the runtime counts it and answers
    /// [`Rejection::status`]); `Err` is a store failure (answer 5xx: the service retries).
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
