//! A world per test: both simulators on ephemeral loopback ports, a temp dir with
//! the config and sheets, an embedded store, and people acting through REST.

use anyhow::{Context, Result};
use chrono::Utc;
use ferry_domain::ports::QueueName;
use ferry_domain::{EntityId, FieldKey, FieldValue, Integration, IntegrationId, Side, SystemConfig};
use ferry_engine::{Batch, Engine, EngineSettings, HandleError, TransformOutcome, WriteOutcome};
use ferry_event_runner::{EventRunner, RunnerOptions};
use ferry_runtime::actor::Actor;
use ferry_runtime::aws::{aws_runtime, load_sdk_config, AwsRuntime};
use ferry_runtime::{Embedded, Runner, RunnerSettings, SecretSource};
use ferry_sim::{AdoSim, JiraSim};
use ferry_testsupport::backend::EMULATOR_HINT;
pub use ferry_testsupport::config::repo_root;
use ferry_testsupport::config::{dir_with_sheets, scope, system, write_and_load};
use ferry_testsupport::people::{actor, bot_secrets};
pub use ferry_testsupport::people::{ADO_BOT_PAT, JIRA_BOT_TOKEN};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

pub const JIRA_TOKEN_VAR: &str = "FERRY_E2E_JIRA_TOKEN";
pub const ADO_PAT_VAR: &str = "FERRY_E2E_ADO_PAT";

/// Variants of the e2e config template.
#[derive(Clone)]
pub struct Variant {
    pub jira_project: &'static str,
    pub ado_project: &'static str,
    pub unmatched: &'static str,
    pub filter_left_to_right: Option<&'static str>,
    /// Extra inline priority rows, e.g. `", Lowest: 4"`.
    pub extra_priority: &'static str,
    /// The priority mapping's default for the right side (`None`: no default).
    pub priority_default: Option<&'static str>,
    /// The title mapping's conflict policy (`None`: the default, last writer).
    pub title_conflict: Option<&'static str>,
    /// Whether the integration writes remote ids (`left_id_field` / `right_id_field`).
    pub remote_ids: bool,
    /// The sides that get a remote link to their peer (`remote.links`).
    pub links: &'static str,
    /// Comments, attachments (up to 64 MB), parents, Blocks ⇄ Dependency and Relates ⇄
    /// Related links travel both ways.
    pub collaboration: bool,
    /// Both systems' `rate_limit:` as written (`off`, `{ per_second: 5, burst: 4 }`);
    /// `None`: none given.
    pub rate_limit: Option<&'static str>,
}

impl Default for Variant {
    fn default() -> Self {
        Self {
            jira_project: "APP",
            ado_project: "App",
            unmatched: "default",
            filter_left_to_right: None,
            extra_priority: "",
            priority_default: Some("3"),
            title_conflict: None,
            remote_ids: true,
            links: "both",
            collaboration: false,
            rate_limit: None,
        }
    }
}

/// The AWS runtime of one world: the emulator's tables and bucket (shared by every
/// world, each keyed by its own integration) and queues of its own, so worlds can run
/// on several test threads without draining each other's messages.
async fn world_runtime(id: &str, secrets: Arc<dyn SecretSource>) -> Result<AwsRuntime> {
    let (sdk, names) = emulator_with_own_queues(id).await?;
    Ok(aws_runtime(sdk, names, EngineSettings::default(), Some(secrets))?)
}

/// The emulator's SDK configuration, as the functions load it, and the stack's resource
/// names with queues of their own named after `tag`.
async fn emulator_with_own_queues(tag: &str) -> Result<(aws_config::SdkConfig, ferry_store::aws::AwsNames)> {
    let sdk = load_sdk_config().await.context(EMULATOR_HINT)?;
    let names = ferry_store::aws::AwsNames::from_env().map_err(|e| anyhow::anyhow!("{e}")).context(EMULATOR_HINT)?;
    let names = ferry_testsupport::backend::own_queues(&sdk, &names, tag).await.context(EMULATOR_HINT)?;
    Ok((sdk, names))
}

/// The variables that point a `ferry` process at the queues `names` gives.
fn queue_env(names: &ferry_store::aws::AwsNames) -> Vec<(&'static str, String)> {
    vec![
        ("FERRY_CHANGES_QUEUE_URL", names.changes_queue_url.clone()),
        ("FERRY_WRITES_QUEUE_URL", names.writes_queue_url.clone()),
        ("FERRY_CHANGES_DLQ_URL", names.changes_dlq_url.clone()),
        ("FERRY_WRITES_DLQ_URL", names.writes_dlq_url.clone()),
    ]
}

/// For a scene that runs only the `ferry` binary: on the AWS backend, the variables
/// of queues of its own named after `tag` (see [`world_runtime`]); none embedded.
pub async fn own_queue_env(tag: &str) -> Result<Vec<(&'static str, String)>> {
    if !aws_backend() {
        return Ok(Vec::new());
    }
    Ok(queue_env(&emulator_with_own_queues(tag).await?.1))
}

/// Which runtime a world syncs on: `FERRY_E2E_BACKEND=aws` runs the suite on DynamoDB
/// and SQS at `AWS_ENDPOINT_URL` (an emulator started outside the tests, by
/// `infra/test.sh`), through the real Lambda handlers; anything else runs it on the
/// embedded store.
pub enum Backend {
    Embedded { rt: Embedded, runner: Runner },
    Aws { rt: Box<AwsRuntime>, events: Box<tokio::sync::Mutex<EventRunner>> },
}

pub fn aws_backend() -> bool {
    std::env::var("FERRY_E2E_BACKEND").is_ok_and(|b| b == "aws")
}

pub struct World {
    pub jira: JiraSim,
    pub ado: AdoSim,
    pub engine: Arc<Engine>,
    /// Holds the config, sheets and store; removed when the world is dropped.
    pub _dir: tempfile::TempDir,
    pub db: PathBuf,
    pub config: PathBuf,
    pub backend: Backend,
    pub id: IntegrationId,
    pub integration: Integration,
    pub systems: Vec<SystemConfig>,
}

impl World {
    pub async fn new(variant: Variant) -> Result<World> {
        World::with_secrets(variant, secrets()).await
    }

    /// A world whose engine resolves the systems' secrets through `secrets`.
    pub async fn with_secrets(variant: Variant, secrets: Arc<dyn SecretSource>) -> Result<World> {
        let (jira, ado) = ferry_testsupport::demo_simulators().await?;
        let dir = dir_with_sheets()?;
        let config = dir.path().join("ferry.yaml");
        let id = integration_id();
        let set = write_and_load(&config, &render(&jira, &ado, &variant, &id))?;
        let db = dir.path().join("ferry.sqlite");
        let backend = if aws_backend() {
            let rt = world_runtime(&id, secrets).await?;
            let options = RunnerOptions {
                tick: Duration::from_secs(1),
                once: true,
                until_idle: Some(Duration::from_secs(20)),
                wait: Duration::from_secs(0),
                // The worlds poll through the real poll handler themselves (below), so
                // other worlds' schedules on the shared emulator are not fired.
                schedule_group: None,
                poll_function_arn: None,
            };
            let region = rt.sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
            let events = EventRunner::new(
                rt.engine.clone(),
                aws_sdk_sqs::Client::new(&rt.sdk),
                aws_sdk_scheduler::Client::new(&rt.sdk),
                region,
                &rt.names.changes_queue_url,
                &rt.names.writes_queue_url,
                options,
            )
            .await?;
            Backend::Aws { rt: Box::new(rt), events: Box::new(tokio::sync::Mutex::new(events)) }
        } else {
            let rt = Embedded::open(&db, secrets)?;
            let runner =
                rt.runner(RunnerSettings { drain_patience: Duration::from_secs(15), ..RunnerSettings::default() });
            Backend::Embedded { rt, runner }
        };
        let engine = match &backend {
            Backend::Embedded { rt, .. } => rt.engine.clone(),
            Backend::Aws { rt, .. } => rt.engine.clone(),
        };
        let integration = set.integrations[0].clone();
        Ok(World {
            id: integration.id.clone(),
            integration,
            systems: set.systems,
            jira,
            ado,
            db,
            config,
            _dir: dir,
            engine,
            backend,
        })
    }

    /// Applies the config (testing connections) and activates the integration.
    pub async fn activate(&self) -> Result<ferry_engine::ActivationReport> {
        self.engine.apply(&self.systems, std::slice::from_ref(&self.integration), true, Utc::now()).await?;
        Ok(self.engine.activate(&self.id, Utc::now()).await?)
    }

    /// Polls every direction of this world's integration now and drains the queues.
    pub async fn sync(&self) {
        match &self.backend {
            Backend::Embedded { runner, .. } => {
                let r = runner.cycle(Utc::now(), true).await;
                assert!(r.poll_errors.is_empty(), "poll errors: {:?}", r.poll_errors);
            }
            Backend::Aws { events, .. } => {
                for flow in self.integration.flows() {
                    self.poll_handler(flow).await;
                }
                events.lock().await.drain().await.expect("draining the emulator's queues");
            }
        }
    }

    /// One direction polled through the real poll Lambda handler (AWS backend).
    async fn poll_handler(&self, flow: ferry_domain::Flow) {
        let input = serde_json::json!({"integration": self.id.as_str(), "flow": flow.as_str()});
        if let Err(e) = ferry_fn_poll::handle(&self.engine, input, Utc::now()).await {
            panic!("poll handler failed: {e}");
        }
    }

    /// Polls one direction only and drains the queues (the other direction's changes
    /// stay unread until a later sync).
    pub async fn sync_flow(&self, flow: ferry_domain::Flow) {
        match &self.backend {
            Backend::Embedded { runner, .. } => {
                self.engine.poll(&self.id, flow, Utc::now()).await.expect("poll");
                let mut report = ferry_runtime::CycleReport::default();
                runner.drain(&mut report).await;
            }
            Backend::Aws { events, .. } => {
                self.poll_handler(flow).await;
                events.lock().await.drain().await.expect("draining the emulator's queues");
            }
        }
    }

    /// A person in Jira (left side), e.g. `jira_user("alice")`.
    pub async fn jira_user(&self, name: &str) -> Actor {
        self.actor(Side::Left, name, &format!("jira-{name}-token")).await
    }
    /// A person in Azure DevOps (right side).
    pub async fn ado_user(&self, name: &str) -> Actor {
        self.actor(Side::Right, name, &format!("ado-{name}-pat")).await
    }
    /// Ferry's own view (the integration user) of a side, for reading results.
    pub async fn reader(&self, side: Side) -> Actor {
        let token = if side == Side::Left { JIRA_BOT_TOKEN } else { ADO_BOT_PAT };
        self.actor(side, "ferry-bot", token).await
    }

    async fn actor(&self, side: Side, name: &str, token: &str) -> Actor {
        let system = system(&self.systems, &self.integration, side).expect("system of the integration");
        actor(system, scope(&self.integration, side), &format!("{name}@acme.test"), token, "FERRY_E2E_TOKEN_")
            .await
            .expect("actor connector")
    }

    /// The entity linked to `id` on `side`, if any.
    pub async fn twin(&self, side: Side, id: &EntityId) -> Option<EntityId> {
        let link = self.engine.state().get_link(&self.id, side, id).await.expect("store");
        link.map(|l| l.side(side.other()).id.clone())
    }

    /// The next message of this world's integration on `queue`, opened as a handler sees
    /// it, with its receipt (a message of another integration, should a queue be shared,
    /// is made visible again).
    pub async fn next_message(&self, queue: QueueName) -> Result<(String, String)> {
        let q = self.engine.queue();
        let mine = format!("\"integration\":\"{}\"", self.id);
        for _ in 0..20 {
            let mut found = None;
            for d in q.receive(queue, 10, Duration::from_secs(60)).await? {
                let body = q.open_body(queue, &d.body).await?;
                if found.is_none() && body.contains(&mine) {
                    found = Some((body, d.receipt));
                } else {
                    q.release(queue, &d.receipt, Duration::ZERO).await?;
                }
            }
            if let Some(f) = found {
                return Ok(f);
            }
        }
        anyhow::bail!("no message of {} on the {} queue", self.id, queue.as_str())
    }

    /// How many Azure DevOps items of App have `key` in their remote-id field (its twins).
    pub fn ado_items_naming(&self, key: &str) -> usize {
        self.ado
            .work_item_ids("App")
            .into_iter()
            .filter(|id| {
                self.ado.work_item_json(*id).is_some_and(|j| j["fields"]["Custom.JiraKey"].as_str() == Some(key))
            })
            .count()
    }

    /// The poller of commit links over this world's engine and connectors, with its
    /// mirrors in `mirrors` (what the commits function builds over its /tmp).
    pub fn commit_runner(&self, mirrors: PathBuf) -> ferry_runtime::commits::CommitRunner {
        let connectors = match &self.backend {
            Backend::Embedded { rt, .. } => rt.connectors.clone(),
            Backend::Aws { rt, .. } => rt.connectors.clone(),
        };
        ferry_runtime::commits::CommitRunner::new(self.engine.clone(), connectors, mirrors)
    }

    /// The AWS runtime's SDK configuration (`None` on the embedded backend).
    pub fn sdk(&self) -> Option<&aws_config::SdkConfig> {
        match &self.backend {
            Backend::Embedded { .. } => None,
            Backend::Aws { rt, .. } => Some(&rt.sdk),
        }
    }

    /// Runs the real `ferry` binary against this world's store (off the async
    /// workers, so the in-process simulators keep answering it).
    pub async fn ferry(&self, args: &[&str]) -> Ran {
        self.ferry_env(args, &[]).await
    }

    /// [`World::ferry`] with extra environment variables.
    pub async fn ferry_env(&self, args: &[&str], env: &[(&str, &str)]) -> Ran {
        let mut cmd = self.ferry_command(args);
        cmd.envs(env.iter().copied());
        run(cmd).await
    }

    /// The `ferry` command [`World::ferry`] runs, for a test that starts it itself (to
    /// read its output as it comes, or to signal it).
    pub fn ferry_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(args)
            .envs(self.backend_env())
            .env("FERRY_DB", &self.db)
            .env("FERRY_BACKEND", if aws_backend() { "aws" } else { "embedded" })
            .env(JIRA_TOKEN_VAR, JIRA_BOT_TOKEN)
            .env(ADO_PAT_VAR, ADO_BOT_PAT)
            .env("FERRY_LOG", "warn");
        cmd
    }

    /// What a `ferry` process needs to use this world's store and queues: on the AWS
    /// backend, the world's own queues in place of the stack's.
    pub fn backend_env(&self) -> Vec<(&'static str, String)> {
        match &self.backend {
            Backend::Embedded { .. } => Vec::new(),
            Backend::Aws { rt, .. } => queue_env(&rt.names),
        }
    }

    /// Deactivates, applies another variant of the config and activates again (what
    /// an operator does to change an integration).
    pub async fn reconfigure(&self, variant: &Variant) -> Result<()> {
        self.rewrite_config(variant)?;
        let set = ferry_testsupport::config::load(&self.config)?;
        self.engine.deactivate(&self.id, Utc::now()).await?;
        self.engine.apply(&set.systems, &set.integrations, false, Utc::now()).await?;
        self.engine.activate(&self.id, Utc::now()).await?;
        Ok(())
    }

    /// Rewrites the config file with another variant (same simulators).
    pub fn rewrite_config(&self, variant: &Variant) -> Result<Vec<SystemConfig>> {
        std::fs::write(&self.config, render(&self.jira, &self.ado, variant, self.id.as_str()))?;
        Ok(self.systems.clone())
    }

    pub async fn queue_depth(&self) -> u64 {
        let q = self.engine.queue();
        q.depth(QueueName::Changes).await.unwrap() + q.depth(QueueName::Writes).await.unwrap()
    }
}

/// What a `ferry` run printed.
#[derive(Debug)]
pub struct Ran {
    pub ok: bool,
    /// The exit code (`None`: ended by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Handles one change event as a handler batch of one: the engine's transform, then the
/// flush that sends its write command.
pub async fn transform_one(engine: &Engine, body: &str, receive_count: u32) -> Result<TransformOutcome, HandleError> {
    let batch = Batch::default();
    let outcome = engine.transform_change(body, receive_count, &batch).await?;
    engine.flush(&batch).await?;
    Ok(outcome)
}

/// Applies one write command as a handler batch of one.
pub async fn write_one(engine: &Engine, body: &str, receive_count: u32) -> Result<WriteOutcome, HandleError> {
    let batch = Batch::default();
    let outcome = engine.write_command(body, receive_count, &batch).await?;
    engine.flush(&batch).await?;
    Ok(outcome)
}

pub async fn run(mut cmd: Command) -> Ran {
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("running ferry");
    Ran {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn secrets() -> Arc<dyn SecretSource> {
    bot_secrets(JIRA_TOKEN_VAR, ADO_PAT_VAR)
}

/// A fresh integration id per world (also prefixing its system ids): worlds may share
/// one store (the AWS backend's tables on the emulator), and their ids must not collide.
fn integration_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("app-bugs-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

pub fn render(jira: &JiraSim, ado: &AdoSim, v: &Variant, id: &str) -> String {
    let filters = match v.filter_left_to_right {
        Some(f) => format!("    filters:\n      left_to_right: '{f}'\n      on_exit: keep_syncing"),
        None => String::new(),
    };
    include_str!("fixtures/integration.yaml")
        .replace("@ID@", id)
        .replace("@SYS@", id)
        .replace("@JIRA_URL@", &jira.base_url())
        .replace("@ADO_URL@", &ado.base_url())
        .replace("@JIRA_PROJECT@", v.jira_project)
        .replace("@ADO_PROJECT@", v.ado_project)
        .replace("@UNMATCHED@", v.unmatched)
        .replace("@FILTERS@", &filters)
        .replace("@EXTRA_PRIORITY@", v.extra_priority)
        .replace(
            "{ left: summary, right: System.Title }",
            &match v.title_conflict {
                Some(c) => format!("{{ left: summary, right: System.Title, conflict: {c} }}"),
                None => "{ left: summary, right: System.Title }".to_string(),
            },
        )
        .replace(
            "      left_id_field: customfield_10050\n      right_id_field: Custom.JiraKey\n",
            if v.remote_ids {
                "      left_id_field: customfield_10050\n      right_id_field: Custom.JiraKey\n"
            } else {
                ""
            },
        )
        .replace("      links: both\n", &format!("      links: {}\n", v.links))
        .replace("\n    fields:\n", if v.collaboration { COLLABORATION } else { "\n    fields:\n" })
        .replace(
            "    allow_http_loopback: true\n",
            &match v.rate_limit {
                Some(r) => format!("    allow_http_loopback: true\n    rate_limit: {r}\n"),
                None => "    allow_http_loopback: true\n".to_string(),
            },
        )
        .replace(
            "@PRIORITY_DEFAULT@",
            &v.priority_default.map(|d| format!("        default: {{ right: {d} }}\n")).unwrap_or_default(),
        )
}

/// The collaboration keys of a [`Variant`] with `collaboration`, before `fields:`.
const COLLABORATION: &str = "
    comments: { direction: both }
    attachments: { direction: both, max_size: 64MB }
    hierarchy: { direction: both }
    links:
      - { left: Blocks, right: System.LinkTypes.Dependency }
      - { left: Relates, right: System.LinkTypes.Related }
    fields:
";

pub fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.into())
}

pub fn field(snapshot: &ferry_domain::EntitySnapshot, key: &str) -> FieldValue {
    snapshot.field(&FieldKey::new(key)).cloned().unwrap_or(FieldValue::Null)
}

pub fn field_str(snapshot: &ferry_domain::EntitySnapshot, key: &str) -> String {
    field(snapshot, key).key_string().unwrap_or_default()
}

/// Requests that changed something (not reads), as the simulators logged them.
pub fn writes_in(requests: &[ferry_sim::RequestRecord]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| {
            let read_only_post = r.path.ends_with("/search/jql")
                || r.path.to_ascii_lowercase().ends_with("/wiql")
                || r.path.to_ascii_lowercase().ends_with("/workitemsbatch");
            matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") && !read_only_post
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}
