//! `--hooks on`: the simulators deliver their webhooks (Jira admin webhooks, Azure
//! DevOps service hooks, registered by `ferry activate`'s own code) to a listener that
//! judges them as `ferry run --listen` does and polls the directions an accepted one
//! names. Each round draws a delivery fault per simulator (lost, duplicated, delayed,
//! reordered, bad signature), and the suite's own polling is relaxed to every
//! [`POLL_EVERY`]-th round: between those, changes travel only by webhook.
//!
//! While the people of a round edit, the listener's gate is closed: the deliveries are
//! judged and counted at once, and the polls they ask for start when the round's edits
//! are done (as the suite's own polls do). Before the edits, the polls already running
//! (a late delivery's, after the last round's drain) end and the queues they filled are
//! drained. The oracle's echo check reads each of Ferry's writes as made from the twin
//! as of that write, which a read taken before a person's edits and written after them
//! breaks: a write of the older snapshot, then one carrying the edit, both legitimate,
//! the second with no person change of the twin since the first.

use crate::world::{poll_direction, Backend};
use anyhow::Result;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use ferry_domain::webhook::HookRequest;
use ferry_domain::{Flow, IntegrationId, SecretRef};
use ferry_engine::Engine;
use ferry_runtime::{Connectors, SecretSource};
use ferry_sim::DeliveryFault;
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// With hooks on, the suite polls on its own only every this many rounds.
pub const POLL_EVERY: usize = 4;

const JIRA_SECRET_VAR: &str = "FERRY_FAULTS_JIRA_HOOK_SECRET";
const ADO_PASSWORD_VAR: &str = "FERRY_FAULTS_ADO_HOOK_PASSWORD";

/// The hook secrets' references with their values, for the world's secret source.
pub fn secret_values() -> [(SecretRef, &'static str); 2] {
    [
        (SecretRef::Env(JIRA_SECRET_VAR.into()), "faults-jira-hook-secret"),
        (SecretRef::Env(ADO_PASSWORD_VAR.into()), "faults-ado-hook-password"),
    ]
}

/// The config template with `webhook:` on both systems.
pub fn with_webhooks(template: &str) -> String {
    let mut parts = template.splitn(2, "allow_http_loopback: true\n");
    let (jira, rest) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    format!(
        "{jira}allow_http_loopback: true\n    webhook: {{ secret: {{ env: {JIRA_SECRET_VAR} }} }}\n{}",
        rest.replacen(
            "allow_http_loopback: true\n",
            &format!(
                "allow_http_loopback: true\n    webhook: {{ basic: {{ username: ferry, password: {{ env: {ADO_PASSWORD_VAR} }} }} }}\n"
            ),
            1
        )
    )
}

/// What the listener saw, for the report.
#[derive(Default)]
pub struct HookFigures {
    pub outcomes: Mutex<BTreeMap<&'static str, u64>>,
    pub polls: AtomicU64,
    /// Webhook-triggered polls that enqueued at least one change: the hooks carried it.
    pub carrying: AtomicU64,
    pub in_flight: AtomicU64,
    pub faults: Mutex<BTreeMap<&'static str, u64>>,
}

/// The directions asked for while the gate is closed.
type Pending = Vec<(IntegrationId, Flow)>;

#[derive(Clone)]
struct Listener {
    engine: Arc<Engine>,
    secrets: Arc<dyn SecretSource>,
    backend: Backend,
    figures: Arc<HookFigures>,
    /// `Some`: closed, with the directions asked for meanwhile.
    gate: Arc<Mutex<Option<Pending>>>,
}

impl Listener {
    fn poll_soon(&self, id: IntegrationId, flow: Flow) {
        if let Some(pending) = self.gate.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            if !pending.contains(&(id.clone(), flow)) {
                pending.push((id, flow));
            }
            return;
        }
        let l = self.clone();
        l.figures.in_flight.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            l.figures.polls.fetch_add(1, Ordering::SeqCst);
            // A crashed or failed poll leaves the change to the next poll (the safety net).
            match poll_direction(&l.engine, l.backend, &id, flow).await {
                Ok(Some(enqueued)) if enqueued > 0 => {
                    l.figures.carrying.fetch_add(1, Ordering::SeqCst);
                }
                Ok(_) => {}
                Err(e) => tracing::info!("webhook-triggered poll {flow}: {e}"),
            }
            l.figures.in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

pub struct Hooks {
    pub figures: Arc<HookFigures>,
    listener: Listener,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Hooks {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Serves the listener and registers the subscriptions that deliver to it.
pub async fn start(
    engine: Arc<Engine>,
    connectors: &Connectors,
    backend: Backend,
    id: &IntegrationId,
) -> Result<Hooks> {
    let figures = Arc::new(HookFigures::default());
    let listener = Listener {
        engine: engine.clone(),
        secrets: connectors.secrets(),
        backend,
        figures: figures.clone(),
        gate: Arc::new(Mutex::new(None)),
    };
    let app = axum::Router::new().route("/hooks/:system", post(delivery)).with_state(listener.clone());
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", socket.local_addr()?);
    let server = tokio::spawn(async move {
        let _ = axum::serve(socket, app).await;
    });
    let registered = ferry_runtime::subscriptions::register(&engine, connectors, id, &base).await?;
    for s in &registered {
        if let ferry_runtime::subscriptions::Outcome::Manual { reason, .. } = &s.outcome {
            anyhow::bail!("registering the webhooks of {} failed: {reason}", s.system);
        }
    }
    Ok(Hooks { figures, listener, server })
}

async fn delivery(
    State(l): State<Listener>,
    Path(system): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let headers: Vec<(String, String)> =
        headers.iter().filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
    let request = HookRequest { headers: &headers, body: &body };
    let answer = ferry_runtime::hooks::receive(&l.engine, &*l.secrets, &system, &request, chrono::Utc::now()).await;
    *l.figures.outcomes.lock().unwrap_or_else(|p| p.into_inner()).entry(answer.outcome).or_default() += 1;
    for (id, flow) in answer.directions {
        l.poll_soon(id, flow);
    }
    StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl Hooks {
    /// Draws this round's delivery fault for each simulator (none half the time).
    pub fn arm(&self, jira: &ferry_sim::JiraSim, ado: &ferry_sim::AdoSim, rng: &mut StdRng) {
        for outbox in [jira.webhooks(), ado.service_hooks()] {
            let (name, fault) = match rng.gen_range(0..10) {
                0 => ("lost", DeliveryFault::Lost),
                1 => ("duplicated", DeliveryFault::Duplicated),
                2 => ("delayed", DeliveryFault::Delayed(Duration::from_millis(rng.gen_range(100..1500)))),
                3 => ("reordered", DeliveryFault::Reordered),
                4 => ("bad signature", DeliveryFault::BadSignature),
                _ => ("none", DeliveryFault::None),
            };
            outbox.set_fault(fault);
            *self.figures.faults.lock().unwrap_or_else(|p| p.into_inner()).entry(name).or_default() += 1;
        }
    }

    /// Lets this round's deliveries arrive and their polls finish: waits until no
    /// webhook-triggered poll has run for `quiet`, at most `limit`.
    pub async fn settle(&self, quiet: Duration, limit: Duration) {
        let start = Instant::now();
        let mut last = (self.figures.polls.load(Ordering::SeqCst), Instant::now());
        while start.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let polls = self.figures.polls.load(Ordering::SeqCst);
            if polls != last.0 || self.figures.in_flight.load(Ordering::SeqCst) > 0 {
                last = (polls, Instant::now());
            } else if last.1.elapsed() >= quiet {
                return;
            }
        }
    }

    /// Holds the polls deliveries ask for until [`Hooks::open`] (people are about to
    /// edit), and waits for those already running (a late delivery's) to end; what
    /// they enqueued is the caller's to drain before the edits.
    pub async fn close(&self) {
        {
            let mut gate = self.listener.gate.lock().unwrap_or_else(|p| p.into_inner());
            if gate.is_none() {
                *gate = Some(Vec::new());
            }
        }
        while self.figures.in_flight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the polls asked for while closed, and each later one at once.
    pub fn open(&self) {
        let pending = self.listener.gate.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_default();
        for (id, flow) in pending {
            self.listener.poll_soon(id, flow);
        }
    }

    /// Drops every delivery (the backlog scenario counts its own polls' reads).
    pub fn mute(&self, jira: &ferry_sim::JiraSim, ado: &ferry_sim::AdoSim) {
        jira.webhooks().set_fault(DeliveryFault::Lost);
        ado.service_hooks().set_fault(DeliveryFault::Lost);
    }

    /// Turns the delivery faults off (the quiet phase).
    pub fn disarm(&self, jira: &ferry_sim::JiraSim, ado: &ferry_sim::AdoSim) {
        jira.webhooks().set_fault(DeliveryFault::None);
        ado.service_hooks().set_fault(DeliveryFault::None);
    }

    /// How many webhook-triggered polls enqueued changes (0: the hooks carried nothing,
    /// and polling alone synced the run).
    pub fn carried(&self) -> u64 {
        self.figures.carrying.load(Ordering::SeqCst)
    }

    pub fn report(&self) -> String {
        let outcomes = self.figures.outcomes.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let faults = self.figures.faults.lock().unwrap_or_else(|p| p.into_inner()).clone();
        format!(
            "webhooks: deliveries {outcomes:?}, {} polls they triggered, round faults {faults:?}",
            self.figures.polls.load(Ordering::SeqCst)
        )
    }
}

/// The suite's own polling this round: always with hooks off, every [`POLL_EVERY`]-th with them on.
pub fn suite_polls(hooks: Option<&Hooks>, round: usize) -> bool {
    hooks.is_none() || round.is_multiple_of(POLL_EVERY)
}
