//! One world per backend run: both simulators, the benchmark's bidirectional
//! integration, the engine with the crash injector and the recording queue, and the
//! runtime that drives it (the embedded runner, or the Lambda handlers fed by the local
//! SQS event source on the emulator).

use crate::inject::{RecordingQueue, SeededCrashes};
use anyhow::{anyhow, Context, Result};
use chrono::Utc;
use ferry_connectors::http::HttpOptions;
use ferry_domain::ports::{QueueName, StateStore};
use ferry_domain::SecretRef;
use ferry_domain::{Flow, Integration, IntegrationId, Scope, Side, SystemConfig};
use ferry_engine::{Engine, EngineError, EngineSettings, PollReport};
use ferry_event_runner::{EventRunner, RunnerOptions};
use ferry_runtime::actor::Actor;
use ferry_runtime::{Connectors, HandledEvent, Runner, RunnerSettings, SecretSource};
use ferry_runtime::{EnvSecrets, StaticSecrets};
use ferry_sim::{AdoSeed, AdoSim, JiraSeed, JiraSim};
use ferry_testsupport::backend::Stores;
use ferry_testsupport::config::{dir_with_sheets, with_simulator_urls, write_and_load};
use ferry_testsupport::people::{actor, ADO_BOT_PAT, JIRA_BOT_TOKEN};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    Embedded,
    Aws,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Aws => "aws",
        }
    }
}

/// The connector's per-request timeout in this suite (the hang fault outlasts it).
pub const HTTP_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long a hanging request is held by the simulator.
pub const HANG: Duration = Duration::from_millis(2500);
/// Entities a poll lists per page in this suite.
pub const PAGE_SIZE: usize = 20;
/// The Jira integration user's profile zone: JQL dates are read in it (half-hour offset).
const BOT_TIME_ZONE: &str = "Asia/Kolkata";

// The benchmark's integration names these secret variables.
const JIRA_TOKEN_VAR: &str = "FERRY_BENCH_JIRA_TOKEN";
const ADO_PAT_VAR: &str = "FERRY_BENCH_ADO_PAT";
pub const BOT: &str = "ferry-bot@acme.test";

/// The suite's integration also syncs comments, attachments and Blocks links both ways
/// (the benchmark's integration syncs fields only).
const COLLABORATION: &str = "
    comments: { direction: both }
    attachments: { direction: both, max_size: 1MB }
    links:
      - { left: Blocks, right: System.LinkTypes.Dependency }
    fields:
";

/// People's tokens are resolved under `FERRY_FAULTS_<TOKEN>`.
const PERSON_PREFIX: &str = "FERRY_FAULTS_";

enum Drive {
    Embedded(Runner),
    Aws(Box<tokio::sync::Mutex<EventRunner>>),
}

/// Handler outcomes counted while draining.
#[derive(Debug, Default, Clone)]
pub struct Handled {
    pub retries: u64,
    pub crashed_batches: u64,
    pub records: u64,
}

pub struct World {
    /// The webhook listener with `--hooks on`.
    pub hooks: Option<crate::hooks::Hooks>,
    pub backend: Backend,
    pub jira: JiraSim,
    pub ado: AdoSim,
    pub engine: Arc<Engine>,
    pub state: Arc<dyn StateStore>,
    pub queue: Arc<RecordingQueue>,
    pub crashes: Arc<SeededCrashes>,
    pub integration: Integration,
    pub systems: Vec<SystemConfig>,
    drive: Drive,
    pub handled: Handled,
    _dir: tempfile::TempDir,
}

fn secrets() -> Arc<dyn SecretSource> {
    let mut s = StaticSecrets::new(EnvSecrets)
        .with(SecretRef::Env(JIRA_TOKEN_VAR.into()), JIRA_BOT_TOKEN)
        .with(SecretRef::Env(ADO_PAT_VAR.into()), ADO_BOT_PAT);
    for (reference, value) in crate::hooks::secret_values() {
        s = s.with(reference, value);
    }
    Arc::new(s)
}

/// One poll of one direction the way its runtime runs it (the poll handler on AWS):
/// how many changes it enqueued, or `None` when the poll "crashed" (its lease then
/// expires on its own).
pub async fn poll_direction(
    engine: &Engine,
    backend: Backend,
    id: &IntegrationId,
    flow: Flow,
) -> Result<Option<usize>> {
    let now = Utc::now();
    let result = match backend {
        Backend::Embedded => engine.poll(id, flow, now).await.map(|r| r.enqueued),
        Backend::Aws => {
            let input = serde_json::json!({"integration": id.as_str(), "flow": flow.as_str()});
            match ferry_fn_poll::handle(engine, input, now).await {
                Ok(summary) => Ok(summary.report.enqueued),
                Err(ferry_fn_poll::PollError::Engine { source, .. }) => Err(source),
                Err(e) => return Err(e.into()),
            }
        }
    };
    match result {
        Ok(enqueued) => Ok(Some(enqueued)),
        Err(EngineError::Crashed(_)) => Ok(None),
        // Injected HTTP faults can fail a poll; the next one reads from the same watermark.
        Err(EngineError::Port(e)) if e.is_retryable() => {
            tracing::info!("poll failed (retried at the next poll): {e}");
            Ok(Some(0))
        }
        Err(e) => Err(anyhow!("poll {flow}: {e}")),
    }
}

impl World {
    /// `visibility`: how long a received message stays invisible (a crashed handler's
    /// batch returns after it).
    pub async fn new(backend: Backend, seed: u64, crash_rate: f64, visibility: Duration, hooks: bool) -> Result<World> {
        let mut jira_seed = JiraSeed::demo();
        for u in jira_seed.users.iter_mut().filter(|u| u.email == BOT) {
            u.time_zone = BOT_TIME_ZONE.into();
        }
        let (jira, ado) = ferry_testsupport::simulators(jira_seed, AdoSeed::demo()).await?;
        let dir = dir_with_sheets()?;
        // A fresh id per run: runs may share one store (the emulator's tables).
        let id = format!("faults-{}-{}-{seed}", backend.name(), Utc::now().timestamp_millis());
        let template = include_str!("../../../bench/src/integration.yaml")
            .replace("@ID@", &id)
            .replace("@OVERLAP@", "120s")
            .replace("\n    fields:\n", COLLABORATION);
        let template = if hooks { crate::hooks::with_webhooks(&template) } else { template };
        let set = write_and_load(&dir.path().join("ferry.yaml"), &with_simulator_urls(&template, &jira, &ado))?;
        let integration = set.integrations.first().cloned().context("the config has no integration")?;

        let crashes = Arc::new(SeededCrashes::new(seed, crash_rate));
        let http = HttpOptions { timeout: HTTP_TIMEOUT, ..HttpOptions::default() };
        let connectors = Arc::new(Connectors::new(secrets(), http));
        let hook_connectors = connectors.clone();
        let settings = EngineSettings {
            poll_lease: Duration::from_secs(2),
            // Pages of 20: a round's changes take several pages, each a crash boundary.
            poll_page_size: PAGE_SIZE,
            ..EngineSettings::default()
        };
        let stores = match backend {
            Backend::Embedded => Stores::embedded(&dir.path().join("ferry.sqlite"))?,
            Backend::Aws => Stores::aws().await?,
        };
        let (state, queue) = (stores.state.clone(), Arc::new(RecordingQueue::new(stores.queue)));
        let engine = Arc::new(
            Engine::new(stores.config, state.clone(), queue.clone(), connectors, settings)
                .with_crash_injector(crashes.clone()),
        );
        let drive = match stores.aws {
            None => Drive::Embedded(Runner::new(
                engine.clone(),
                RunnerSettings {
                    batch_size: 10,
                    visibility,
                    retry_base: Duration::from_millis(100),
                    drain_patience: Duration::from_secs(30),
                },
            )),
            Some((sdk, names)) => {
                let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
                let options = RunnerOptions {
                    tick: Duration::from_secs(1),
                    once: true,
                    until_idle: Some(Duration::from_secs(30)),
                    wait: Duration::from_secs(0),
                    // The suite polls through the poll handler itself.
                    schedule_group: None,
                    poll_function_arn: None,
                };
                let events = EventRunner::new(
                    engine.clone(),
                    aws_sdk_sqs::Client::new(&sdk),
                    aws_sdk_scheduler::Client::new(&sdk),
                    region,
                    &names.changes_queue_url,
                    &names.writes_queue_url,
                    options,
                )
                .await?
                .with_visibility(visibility);
                Drive::Aws(Box::new(tokio::sync::Mutex::new(events)))
            }
        };
        let mut world = World {
            hooks: None,
            backend,
            jira,
            ado,
            engine,
            state,
            queue,
            crashes,
            integration,
            systems: set.systems,
            drive,
            handled: Handled::default(),
            _dir: dir,
        };
        // Leftovers of earlier runs on a shared emulator would be handled by this world.
        if backend == Backend::Aws {
            let q = world.engine.queue();
            let left = q.depth(QueueName::Changes).await? + q.depth(QueueName::Writes).await?;
            if left > 0 {
                anyhow::bail!(
                    "the emulator's queues hold {left} messages of another run: reset it (`infra/moto.sh reset`)"
                );
            }
        }
        world.engine.apply(&world.systems, std::slice::from_ref(&world.integration), true, Utc::now()).await?;
        world.engine.activate(&world.integration.id, Utc::now()).await?;
        if hooks {
            world.hooks = Some(crate::hooks::start(world.engine.clone(), &hook_connectors, backend, world.id()).await?);
        }
        Ok(world)
    }

    pub fn id(&self) -> &IntegrationId {
        &self.integration.id
    }

    pub fn system(&self, side: Side) -> Result<&SystemConfig> {
        ferry_testsupport::config::system(&self.systems, &self.integration, side)
    }

    pub fn scope(&self, side: Side) -> Scope {
        ferry_testsupport::config::scope(&self.integration, side)
    }

    /// A person on one side, e.g. `person(Side::Left, "alice@acme.test", "jira-alice-token")`.
    pub async fn person(&self, side: Side, email: &str, token: &str) -> Result<Actor> {
        actor(self.system(side)?, self.scope(side), email, token, PERSON_PREFIX).await
    }

    /// Ferry's own view of a side (its integration user), for reading the results.
    pub async fn reader(&self, side: Side) -> Result<Arc<dyn ferry_domain::ports::Connector>> {
        let connectors = Connectors::new(secrets(), HttpOptions::default());
        Ok(connectors.build(self.system(side)?).await?)
    }

    /// One poll of one direction the way its runtime runs it; `Ok(false)` when the poll
    /// "crashed" (its lease then expires on its own).
    pub async fn poll(&self, flow: Flow) -> Result<bool> {
        Ok(poll_direction(&self.engine, self.backend, self.id(), flow).await?.is_some())
    }

    /// One poll of one direction within `budget`, the way its runtime runs it (on AWS
    /// through the poll handler, with an invocation deadline that leaves `budget`).
    pub async fn poll_within(&self, flow: Flow, budget: Duration) -> Result<PollReport> {
        match self.backend {
            Backend::Embedded => Ok(self.engine.poll_within(self.id(), flow, Utc::now(), budget).await?),
            Backend::Aws => {
                let input = serde_json::json!({"integration": self.id().as_str(), "flow": flow.as_str()});
                let deadline = std::time::SystemTime::now() + budget + Duration::from_secs(2);
                Ok(ferry_fn_poll::handle_until(&self.engine, input, Utc::now(), Some(deadline)).await?.report)
            }
        }
    }

    /// Handles both queues until they are empty (or the runtime's patience runs out).
    pub async fn drain(&mut self) -> Result<()> {
        match &self.drive {
            Drive::Embedded(runner) => {
                let mut report = ferry_runtime::CycleReport::default();
                runner.drain(&mut report).await;
                for h in &report.handled {
                    self.handled.records += 1;
                    match h {
                        HandledEvent::Retry { .. } => self.handled.retries += 1,
                        HandledEvent::Crashed { .. } => self.handled.crashed_batches += 1,
                        HandledEvent::BadMessage { queue, error } => {
                            return Err(anyhow!("the pipeline produced a bad {queue} message: {error}"))
                        }
                        _ => {}
                    }
                }
            }
            Drive::Aws(events) => {
                let mut events = events.lock().await;
                let before = events.stats();
                events.drain().await?;
                let after = events.stats();
                self.handled.records += after.records - before.records;
                // Failed records are retries (released with a delay) and crashed batches.
                self.handled.retries += after.failed - before.failed;
            }
        }
        Ok(())
    }

    /// Messages still queued (visible, in flight or delayed).
    pub async fn depth(&self) -> Result<u64> {
        let q = self.engine.queue();
        Ok(q.depth(QueueName::Changes).await? + q.depth(QueueName::Writes).await?)
    }

    /// Messages moved to the dead-letter queues.
    pub async fn dead_letters(&self) -> Result<Vec<(QueueName, String)>> {
        let q = self.engine.queue();
        let mut out = Vec::new();
        for name in [QueueName::Changes, QueueName::Writes] {
            out.extend(q.dead_letters(name).await?.into_iter().map(|d| (name, d.body)));
        }
        Ok(out)
    }
}
