//! `ferry activate` / `deactivate` and the systems' webhook subscriptions: for each
//! system of an integration whose config has `webhook:`, register what it needs at
//! `{hooks URL}/hooks/{system}` (keeping what is there already, so a second activate
//! registers nothing twice), record the ids in the state store, and remove them again
//! on deactivate. A system that refuses (Jira without the Administer Jira permission,
//! any other API error) leaves the sync active: the answer then carries the steps a
//! person takes by hand. Secrets are resolved from their references and sent only to
//! the system; they are never printed or stored.

use crate::connectors::{Connectors, HookAdmin};
use ferry_connectors::ado::HookCredentials;
use ferry_domain::ports::PortResult;
use ferry_domain::webhook::subscription::{self as sub, Listed, Plan, Wanted};
use ferry_domain::webhook::{HookConfig, HookSubscription};
use ferry_domain::{ErrorCategory, IntegrationId, PortError, Side, SystemConfig};
use ferry_engine::Engine;
use serde::Serialize;

/// What activation did at one system.
#[derive(Debug, Clone, Serialize)]
pub struct SystemHooks {
    pub system: String,
    /// Where the system delivers: `{hooks URL}/hooks/{system}`.
    pub url: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Subscribed: how many were created, kept as they were, and removed (duplicates,
    /// older registrations); `ids` are the subscriptions now in place.
    Registered { created: usize, kept: usize, removed: usize, ids: Vec<String> },
    /// The system refused (`reason`); a person registers it with `steps`.
    Manual { reason: String, steps: Vec<String> },
}

/// What deactivation did at one system.
#[derive(Debug, Clone, Serialize)]
pub struct Removal {
    pub system: String,
    pub removed: Vec<String>,
    /// Subscriptions that could not be removed (`id: reason`): delete them by hand.
    pub left: Vec<String>,
}

/// The systems of `id` with `webhook:` and the projects Ferry syncs there.
async fn hooked_systems(engine: &Engine, id: &IntegrationId) -> PortResult<Vec<(SystemConfig, Vec<String>)>> {
    let record = engine
        .config_store()
        .get_integration(id)
        .await?
        .ok_or_else(|| PortError::new(ErrorCategory::Config, format!("no integration {id}")))?;
    let mut out: Vec<(SystemConfig, Vec<String>)> = Vec::new();
    for side in [Side::Left, Side::Right] {
        let end = record.integration.endpoint(side);
        let Some(system) = engine.config_store().get_system(&end.system).await? else { continue };
        if system.webhook.is_none() {
            continue;
        }
        match out.iter_mut().find(|(s, _)| s.id == system.id) {
            Some((_, projects)) => projects.push(end.project.clone()),
            None => out.push((system, vec![end.project.clone()])),
        }
    }
    Ok(out)
}

/// Whether an integration has any system with `webhook:` (activate then wants a URL).
pub async fn wants_hooks(engine: &Engine, id: &IntegrationId) -> PortResult<bool> {
    Ok(!hooked_systems(engine, id).await?.is_empty())
}

/// Registers the webhook subscriptions of integration `id` delivering to `hooks_url`.
/// Only a store error fails; a system's refusal is its [`Outcome::Manual`].
pub async fn register(
    engine: &Engine,
    connectors: &Connectors,
    id: &IntegrationId,
    hooks_url: &str,
) -> PortResult<Vec<SystemHooks>> {
    let recorded = engine.state().hook_subscriptions(id).await?;
    let mut records: Vec<HookSubscription> = Vec::new();
    let mut out = Vec::new();
    for (system, projects) in hooked_systems(engine, id).await? {
        let sys = system.id.to_string();
        let url = sub::hook_url(hooks_url, &sys);
        let mine: Vec<String> = recorded.iter().filter(|r| r.system == sys).map(|r| r.id.clone()).collect();
        let mut placed = Vec::new();
        let result = register_at(connectors, &system, id, &projects, &url, &mine, &mut placed).await;
        let outcome = match result {
            Ok((plan, removed)) => Outcome::Registered {
                created: plan.create.len(),
                kept: plan.keep.len(),
                removed,
                ids: placed.iter().map(|p| p.id.clone()).collect(),
            },
            Err(e) => {
                // What was there stays recorded, so a later deactivate still finds it.
                let kept_before: Vec<HookSubscription> = recorded
                    .iter()
                    .filter(|r| r.system == sys && !placed.iter().any(|p| p.id == r.id))
                    .cloned()
                    .collect();
                placed.extend(kept_before);
                Outcome::Manual { reason: e.message, steps: manual_steps(&system, id, &projects, &url) }
            }
        };
        records.extend(placed);
        out.push(SystemHooks { system: sys, url, outcome });
    }
    // Systems no longer hooked keep their records until deactivate removes them.
    records.extend(recorded.into_iter().filter(|r| !out.iter().any(|s| s.system == r.system)));
    engine.state().put_hook_subscriptions(id, &records).await?;
    Ok(out)
}

/// One system: lists, plans, deletes and creates. `placed` gathers the subscriptions
/// in place as they come (so a failure halfway still records what was created).
async fn register_at(
    connectors: &Connectors,
    system: &SystemConfig,
    id: &IntegrationId,
    projects: &[String],
    url: &str,
    recorded: &[String],
    placed: &mut Vec<HookSubscription>,
) -> PortResult<(Plan, usize)> {
    let hook = system.webhook.as_ref().ok_or_else(|| PortError::new(ErrorCategory::Config, "no webhook:"))?;
    let admin = connectors.hook_admin(system).await?.ok_or_else(|| {
        PortError::new(ErrorCategory::Config, format!("{}: this kind of system sends no webhooks", system.id))
    })?;
    let secrets = connectors.secrets();
    let record =
        |id: String, w: &Wanted| HookSubscription { system: system.id.to_string(), id, events: w.events.clone() };
    let (wanted, listed) = wanted_and_listed(&admin, projects, url).await?;
    let plan = sub::plan(&wanted, &listed, recorded);
    for (w, existing) in &plan.keep {
        placed.push(record(existing.clone(), &wanted[*w]));
    }
    let mut removed = 0;
    for gone in &plan.delete {
        removed += usize::from(match &admin {
            HookAdmin::Jira(j) => j.delete_webhook(gone).await?,
            HookAdmin::Ado(a) => a.delete_service_hook(gone).await?,
        });
    }
    for w in &plan.create {
        let want = &wanted[*w];
        let created = match &admin {
            HookAdmin::Jira(j) => {
                let secret_ref = hook.secret.as_ref().ok_or_else(|| {
                    PortError::new(ErrorCategory::Config, format!("{}: webhook: has no secret", system.id))
                })?;
                j.register_webhook(&format!("ferry {id}"), want, &secrets.resolve(secret_ref).await?).await?
            }
            HookAdmin::Ado(a) => a.create_service_hook(want, &credentials(&*secrets, hook).await?).await?,
        };
        placed.push(record(created, want));
    }
    Ok((plan, removed))
}

async fn wanted_and_listed(
    admin: &HookAdmin,
    projects: &[String],
    url: &str,
) -> PortResult<(Vec<Wanted>, Vec<Listed>)> {
    let events = |list: &[&str]| list.iter().map(|e| e.to_string()).collect::<Vec<_>>();
    match admin {
        HookAdmin::Jira(j) => {
            let wanted = projects
                .iter()
                .map(|p| Wanted { url: url.into(), filter: sub::jira_filter(p), events: events(sub::JIRA_EVENTS) })
                .collect();
            Ok((wanted, j.list_webhooks().await?))
        }
        HookAdmin::Ado(a) => {
            let mut wanted = Vec::new();
            for p in projects {
                let project_id = a.project_id(p).await?;
                for e in sub::ADO_EVENTS {
                    wanted.push(Wanted { url: url.into(), filter: project_id.clone(), events: vec![e.to_string()] });
                }
            }
            Ok((wanted, a.list_service_hooks().await?))
        }
    }
}

async fn credentials(secrets: &dyn crate::SecretSource, hook: &HookConfig) -> PortResult<HookCredentials> {
    let basic = match &hook.basic {
        Some(b) => Some((b.username.clone(), secrets.resolve(&b.password).await?)),
        None => None,
    };
    let header = match &hook.header {
        Some(h) => Some((h.name.clone(), secrets.resolve(&h.value).await?)),
        None => None,
    };
    Ok(HookCredentials { basic, header })
}

fn manual_steps(system: &SystemConfig, id: &IntegrationId, projects: &[String], url: &str) -> Vec<String> {
    let Some(hook) = &system.webhook else { return Vec::new() };
    let mut steps = Vec::new();
    for p in projects {
        steps.extend(match system.kind {
            ferry_domain::SystemKind::Jira => {
                sub::jira_manual_steps(&system.base_url, &format!("ferry {id}"), url, &sub::jira_filter(p), hook)
            }
            _ => sub::ado_manual_steps(&system.base_url, p, url, hook),
        });
    }
    steps
}

/// Removes the subscriptions recorded for `id`; those a system would not remove stay
/// recorded (and are reported), so a later deactivate tries again.
pub async fn unregister(engine: &Engine, connectors: &Connectors, id: &IntegrationId) -> PortResult<Vec<Removal>> {
    let recorded = engine.state().hook_subscriptions(id).await?;
    let mut out: Vec<Removal> = Vec::new();
    let mut still = Vec::new();
    for r in recorded {
        let system_id = ferry_domain::SystemId::parse(&r.system).map_err(|e| {
            PortError::new(ErrorCategory::Store, format!("recorded subscription of system {:?}: {e}", r.system))
        })?;
        let result = match engine.config_store().get_system(&system_id).await? {
            Some(system) => remove_one(connectors, &system, &r.id).await,
            None => Err(PortError::new(ErrorCategory::Config, format!("system {} is no longer configured", r.system))),
        };
        let entry = match out.iter_mut().position(|e| e.system == r.system) {
            Some(i) => &mut out[i],
            None => {
                out.push(Removal { system: r.system.clone(), removed: Vec::new(), left: Vec::new() });
                out.last_mut().expect("just pushed")
            }
        };
        match result {
            Ok(()) => entry.removed.push(r.id.clone()),
            Err(e) => {
                entry.left.push(format!("{}: {}", r.id, e.message));
                still.push(r);
            }
        }
    }
    engine.state().put_hook_subscriptions(id, &still).await?;
    Ok(out)
}

async fn remove_one(connectors: &Connectors, system: &SystemConfig, sub_id: &str) -> PortResult<()> {
    // Already gone (deleted by hand) counts as removed.
    match connectors.hook_admin(system).await? {
        Some(HookAdmin::Jira(j)) => j.delete_webhook(sub_id).await.map(drop),
        Some(HookAdmin::Ado(a)) => a.delete_service_hook(sub_id).await.map(drop),
        None => Ok(()),
    }
}
