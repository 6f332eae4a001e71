//! The runtime under test, running in real time until stopped: on the embedded backend
//! the local runner's loop (a cycle a second, polls when due or requested) and, with
//! hooks, its webhook listener; on the AWS backend the real handlers as Lambda runs them
//! against the emulator: the poll function on a rate schedule, the transform and write
//! functions fed by long-polling SQS event sources, and, with hooks, the hook function
//! behind a stand-in for its function URL ([`super::function_url`]) invoking the poll
//! function.

use crate::pipeline::{Invocations, Pipeline};
use anyhow::{Context, Result};
use chrono::Utc;
use ferry_domain::ports::{PortResult, QueueName};
use ferry_domain::{Flow, IntegrationId};
use ferry_engine::Engine;
use ferry_runtime::hooks::PollTrigger;
use ferry_runtime::{Runner, RunnerSettings, SecretSource};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A runtime running; [`Running::stop`] ends it and answers the invocations it made.
pub struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Invocations>>,
    /// Invocations made by webhooks (the hook function and the polls it asked for).
    pushed: Arc<Mutex<Invocations>>,
    servers: Vec<JoinHandle<()>>,
    /// Where webhooks go (`{base}/hooks/{system}`), when hooks are on.
    pub hooks_base: Option<String>,
}

impl Running {
    pub async fn stop(self) -> Invocations {
        let _ = self.stop.send(true);
        let mut inv = Invocations::default();
        for t in self.tasks {
            if let Ok(i) = t.await {
                inv.add_since(&i, &Invocations::default());
            }
        }
        for s in self.servers {
            s.abort();
        }
        let pushed = self.pushed.lock().unwrap_or_else(|p| p.into_inner()).clone();
        inv.add_since(&pushed, &Invocations::default());
        inv
    }
}

/// Has a webhook's direction polled in a task of its own (the listener's spawned poll;
/// on AWS the asynchronously invoked poll function), counting the polls.
pub struct CountedTrigger {
    engine: Arc<Engine>,
    aws: bool,
    pushed: Arc<Mutex<Invocations>>,
}

#[async_trait::async_trait]
impl PollTrigger for CountedTrigger {
    async fn poll_soon(&self, integration: &IntegrationId, flow: Flow) -> PortResult<()> {
        let (engine, id, aws, pushed) = (self.engine.clone(), integration.clone(), self.aws, self.pushed.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let failed = if aws {
                let input = serde_json::json!({"integration": id.as_str(), "flow": flow.as_str()});
                ferry_fn_poll::handle(&engine, input, Utc::now()).await.err().map(|e| e.to_string())
            } else {
                engine.poll(&id, flow, Utc::now()).await.err().map(|e| e.to_string())
            };
            if let Some(e) = failed {
                tracing::warn!(integration = %id, %flow, "requested poll failed: {e}");
            }
            let mut inv = pushed.lock().unwrap_or_else(|p| p.into_inner());
            inv.requested_poll += 1;
            inv.add(started.elapsed());
        });
        Ok(())
    }
}

/// Starts the runtime for integration `id` on `pipe`; `hooks`: the webhook secrets to
/// receive deliveries with, or `None` for polling only.
pub async fn start(
    pipe: Arc<Pipeline>,
    id: &IntegrationId,
    poll_interval: Duration,
    hooks: Option<Arc<dyn SecretSource>>,
) -> Result<Running> {
    let (stop, stopped) = watch::channel(false);
    let engine = pipe.engine().clone();
    let aws = matches!(*pipe, Pipeline::Aws(_));
    let tasks = if aws {
        let mut tasks = vec![tokio::spawn(schedule(engine.clone(), id.clone(), poll_interval, stopped.clone()))];
        for q in [QueueName::Changes, QueueName::Writes] {
            tasks.push(tokio::spawn(event_source(pipe.clone(), q, stopped.clone())));
        }
        tasks
    } else {
        vec![tokio::spawn(runner_loop(engine.clone(), id.clone(), stopped))]
    };
    let pushed = Arc::new(Mutex::new(Invocations::default()));
    let mut running = Running { stop, tasks, pushed: pushed.clone(), servers: Vec::new(), hooks_base: None };
    if let Some(secrets) = hooks {
        let trigger = Arc::new(CountedTrigger { engine: engine.clone(), aws, pushed: pushed.clone() });
        let (base, server) = if aws {
            super::function_url::serve(engine, secrets, trigger, pushed).await?
        } else {
            let addr = "127.0.0.1:0".parse().context("loopback address")?;
            let (local, served) = ferry_runtime::listen::serve(engine, secrets, trigger, addr).await?;
            let server = tokio::spawn(async move {
                if let Err(e) = served.await {
                    tracing::error!("the webhook listener stopped: {e}");
                }
            });
            (format!("http://{local}"), server)
        };
        running.hooks_base = Some(base);
        running.servers.push(server);
    }
    Ok(running)
}

/// The embedded runner as `ferry run` drives it: a cycle (polls due or requested, then
/// the queues drained), a second's sleep, again. A cycle that did something is counted
/// as the handler time Lambda would bill.
async fn runner_loop(engine: Arc<Engine>, id: IntegrationId, mut stopped: watch::Receiver<bool>) -> Invocations {
    let runner = Runner::new(engine, RunnerSettings::default());
    let only = [id];
    let mut inv = Invocations::default();
    while !*stopped.borrow() {
        let started = Instant::now();
        let report = runner.cycle_for(Utc::now(), false, &only).await;
        inv.poll += report.polls.len() as u64;
        if !report.polls.is_empty() || !report.handled.is_empty() {
            inv.add(started.elapsed());
        }
        tokio::select! {
            _ = stopped.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    inv
}

/// EventBridge Scheduler's rate schedule: the poll function for each direction, at
/// once and then every `interval`.
async fn schedule(
    engine: Arc<Engine>,
    id: IntegrationId,
    interval: Duration,
    mut stopped: watch::Receiver<bool>,
) -> Invocations {
    let mut inv = Invocations::default();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.changed() => return inv,
            _ = tick.tick() => {}
        }
        for flow in [Flow::LeftToRight, Flow::RightToLeft] {
            let started = Instant::now();
            let input = serde_json::json!({"integration": id.as_str(), "flow": flow.as_str()});
            if let Err(e) = ferry_fn_poll::handle(&engine, input, Utc::now()).await {
                tracing::warn!(integration = %id, %flow, "scheduled poll failed: {e}");
            }
            inv.poll += 1;
            inv.add(started.elapsed());
        }
    }
}

/// Lambda's SQS event source for one queue: long-polling receives (20 s, as Lambda's
/// pollers wait), each batch one handler invocation.
async fn event_source(pipe: Arc<Pipeline>, q: QueueName, mut stopped: watch::Receiver<bool>) -> Invocations {
    let mut inv = Invocations::default();
    let Pipeline::Aws(aws) = &*pipe else { return inv };
    let mut written = Vec::new();
    loop {
        let handled = tokio::select! {
            _ = stopped.changed() => None,
            r = aws.batch(q, 10, 20, &mut inv, &mut written) => Some(r),
        };
        written.clear();
        let Some(handled) = handled else { return inv };
        if let Err(e) = handled {
            tracing::warn!(queue = q.as_str(), "event source: {e:#}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
