//! A webhook delivery through a runtime: the system's hook secrets resolved from where
//! its config says they live, the delivery judged by [`Engine::accept_hook`], and the
//! HTTP answer chosen. The embedded listener and the hook function share it; each then
//! polls (or has polled) the directions an accepted delivery names.

use crate::secrets::SecretSource;
use chrono::{DateTime, Utc};
use ferry_domain::ports::PortResult;
use ferry_domain::webhook::{outcome_name, HookConfig, HookRequest, HookSecret};
use ferry_domain::{Flow, IntegrationId, SecretRef, SystemConfig, SystemId};
use ferry_engine::Engine;
use secrecy::ExposeSecret;
use tracing::{error, warn};

/// How a runtime has an accepted delivery's directions polled without the delivery
/// waiting for the poll: the embedded listener spawns the poll, the hook function
/// invokes the poll function. The poll request is already recorded, so a trigger that
/// fails leaves the direction to its next scheduled poll, which takes the request.
#[async_trait::async_trait]
pub trait PollTrigger: Send + Sync {
    async fn poll_soon(&self, integration: &IntegrationId, flow: Flow) -> PortResult<()>;
}

/// What to answer a delivery, and what to poll for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookAnswer {
    /// The HTTP status: 200 accepted or ignored, 401 refused, 500 the store failed
    /// (the service retries).
    pub status: u16,
    /// `accepted`, a [`Rejection`] code, or `store_error`.
    pub outcome: &'static str,
    /// The directions to poll now (empty unless accepted).
    pub directions: Vec<(IntegrationId, Flow)>,
}

/// Judges a delivery to the hook of `system`.
pub async fn receive(
    engine: &Engine,
    secrets: &dyn SecretSource,
    system: &str,
    request: &HookRequest<'_>,
    now: DateTime<Utc>,
) -> HookAnswer {
    let secret = match configured(engine, system).await {
        Ok(Some(cfg)) => hook_secret(secrets, &cfg).await,
        Ok(None) => None,
        Err(e) => {
            error!(hook = system, "webhook: reading the system's config failed: {e}");
            return HookAnswer { status: 500, outcome: "store_error", directions: Vec::new() };
        }
    };
    match engine.accept_hook(system, secret.as_ref(), request, now).await {
        Ok(verdict) => {
            let outcome = outcome_name(&verdict);
            match verdict {
                Ok(accepted) => HookAnswer { status: 200, outcome, directions: accepted.directions },
                Err(r) => HookAnswer { status: r.status(), outcome, directions: Vec::new() },
            }
        }
        Err(e) => {
            error!(hook = system, "webhook: the store failed: {e}");
            HookAnswer { status: 500, outcome: "store_error", directions: Vec::new() }
        }
    }
}

/// The system's config when `system` names one (an unparsable name names none).
async fn configured(engine: &Engine, system: &str) -> Result<Option<SystemConfig>, ferry_domain::PortError> {
    let Ok(id) = SystemId::parse(system) else {
        return Ok(None);
    };
    engine.config_store().get_system(&id).await
}

/// The resolved secrets of a system's hook; `None` when it has none configured or one
/// cannot be resolved (logged by reference, never by value): every delivery is then
/// refused as [`Rejection::MissingSecret`].
pub async fn hook_secret(secrets: &dyn SecretSource, system: &SystemConfig) -> Option<HookSecret> {
    let cfg: &HookConfig = system.webhook.as_ref()?;
    let resolve = |r: &SecretRef| {
        let r = r.clone();
        async move {
            match secrets.resolve(&r).await {
                Ok(v) => Some(v.expose_secret().to_string()),
                Err(e) => {
                    warn!(hook = %system.id, secret = %r, "webhook secret not resolved: {e}");
                    None
                }
            }
        }
    };
    match (&cfg.secret, &cfg.basic, &cfg.header) {
        (Some(secret), _, _) => Some(HookSecret::Jira { secret: resolve(secret).await?.into_bytes() }),
        (None, None, None) => None,
        (None, basic, header) => {
            let basic = match basic {
                Some(b) => Some((b.username.clone(), resolve(&b.password).await?)),
                None => None,
            };
            let header = match header {
                Some(h) => Some((h.name.clone(), resolve(&h.value).await?)),
                None => None,
            };
            Some(HookSecret::Ado { basic, header })
        }
    }
}
