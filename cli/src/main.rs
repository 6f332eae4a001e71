//! `ferry`: the operator CLI of the Ferry work-item sync engine.

mod backfill;
mod check;
mod commits;
mod console;
mod demo;
mod exit;
mod health;
mod hook_subscriptions;
mod init;
mod output;
mod preview;
mod shell;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::{Parser, Subcommand};
use ferry_domain::failure_listing::listed_id;
use ferry_domain::{IntegrationId, Side, SystemId};
use ferry_engine::Engine;
use ferry_runtime::aws::{aws_engine, AwsRuntime};
use ferry_runtime::backfill::Worker;
use ferry_runtime::commits::{mirrors_beside, CommitCycle, CommitRunner, Retried};
use ferry_runtime::{Embedded, EnvSecrets, Runner, RunnerSettings};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Ferry keeps work items in sync between Jira Cloud, Azure DevOps and Redmine."
)]
struct Cli {
    /// Where configs and state live: `embedded` (one SQLite file, --db) or `aws`
    /// (DynamoDB + SQS named by the FERRY_* variables of the stack's outputs).
    #[arg(long, global = true, env = "FERRY_BACKEND", value_enum, default_value_t = BackendKind::Embedded)]
    backend: BackendKind,
    /// The embedded store (one SQLite file).
    #[arg(long, global = true, env = "FERRY_DB", default_value = "ferry.sqlite")]
    db: PathBuf,
    /// Log as JSON lines (to stderr).
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check config files; every error is printed as FILE:LINE: key.path: message (hint).
    ///
    /// Example: ferry validate ferry.yaml --json
    Validate {
        files: Vec<PathBuf>,
        /// The result as one JSON object: `ok`, and the ids found or every error.
        #[arg(long)]
        json: bool,
    },
    /// Everything `validate` checks, then asks the live systems: the project and type are
    /// visible, mapped fields exist and accept writes, value-table entries and statuses
    /// are allowed values, remote-id fields exist, filters parse.
    ///
    /// Example: ferry check ferry.yaml --json
    Check {
        files: Vec<PathBuf>,
        /// The findings as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// What the next run would write, without writing anything: per entity, the create or
    /// the field-by-field update, the conflicts it would flag and the failures it would park.
    ///
    /// Example: ferry preview app-bugs --key APP-12
    Preview {
        /// An applied integration's id.
        integration: String,
        /// Only this entity (a key or id of either side), read as it is now.
        #[arg(long, conflicts_with = "limit")]
        key: Option<String>,
        /// At most this many changes per direction, as the next poll would read them.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of the config file format (for editors).
    Schema,
    /// Store the systems and integrations of config files, commit links and their
    /// repositories too (active integrations refuse edits).
    Apply {
        files: Vec<PathBuf>,
        /// Skip testing the connection of new or changed systems.
        #[arg(long)]
        no_check: bool,
    },
    /// Activate an integration; sets the start polling time of each direction
    /// (`--since`: a backfill of the items changed since then, existing pairs linked,
    /// followed to its end with a progress bar; see the examples below). A commit link
    /// starts at each selected branch's newest commit; `--since DATE` starts each branch
    /// where it stood at that date, `--from-commit SHA` after that commit (on AWS, its
    /// schedule invokes the commits function).
    Activate {
        integration: String,
        #[command(flatten)]
        backfill: backfill::BackfillArgs,
        /// A commit link only: link the commits after this one (full or abbreviated id),
        /// as `git log SHA..BRANCH` lists them on each selected branch.
        #[arg(long, conflicts_with = "since")]
        from_commit: Option<String>,
        /// Register the webhook subscriptions of the systems with `webhook:` to deliver to
        /// this public URL + `/hooks/{system}`: where `ferry run --listen` is reachable, or
        /// the stack's HooksUrl output. Example: --hooks-url https://hooks.example.com
        #[arg(long, env = "FERRY_HOOKS_URL")]
        hooks_url: Option<String>,
    },
    /// A backfill's progress (`activate --since`), read from the store.
    Backfill {
        #[command(subcommand)]
        action: BackfillAction,
    },
    /// Deactivate an integration (watermarks are kept) and remove the webhook
    /// subscriptions its activation registered.
    Deactivate { integration: String },
    /// Run the sync loop: poll each active integration on its interval, transform, write;
    /// poll each active commit link on its interval (embedded backend; on AWS the
    /// commits function polls them on their schedules).
    Run {
        /// One cycle (poll every direction now, drain the queues), then exit.
        #[arg(long)]
        once: bool,
        /// Poll only these integrations (repeatable; default: every active one).
        #[arg(long = "integration")]
        integrations: Vec<String>,
        /// Also receive webhooks on this address: POST /hooks/{system id} (Jira admin
        /// webhooks, Azure DevOps service hooks); an accepted one polls at once.
        /// Example: --listen 127.0.0.1:8089
        #[arg(long, conflicts_with = "once")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Per integration and direction: watermark, lag, counts synced / skipped / failed.
    ///
    /// Exits 4 when an active direction's last poll is older than its threshold or
    /// failures are parked (for cron and CI). Example: ferry status --max-lag 600
    Status {
        #[arg(long)]
        json: bool,
        /// Seconds an active direction may go without a poll (default: 3 poll intervals).
        #[arg(long)]
        max_lag: Option<u64>,
    },
    /// Parked failures: list, retry, discard.
    Failures {
        #[command(subcommand)]
        action: FailureAction,
    },
    /// Propose an integration from what two systems offer: fields matched by name and
    /// type, value tables where names match, users by e-mail; the gaps are marked `GAP:`.
    Init(init::cmd::InitArgs),
    /// Discover projects, entity types, fields (with allowed values) and users of a system.
    Discover {
        /// A system id from an applied config (or from --config).
        system: String,
        #[command(subcommand)]
        what: DiscoverWhat,
        /// Read the system from these config files instead of the store.
        #[arg(long, global = true)]
        config: Vec<PathBuf>,
        #[arg(long, global = true)]
        json: bool,
    },
    /// Start both simulators, run a bidirectional Jira <-> Azure DevOps integration on a
    /// fresh embedded store, make changes on both sides, and print what synced.
    Demo {
        #[arg(long)]
        json: bool,
    },
    /// Serve the web console: integrations, failures and entity timelines, with the
    /// operator's actions. Example: ferry serve --listen 127.0.0.1:8088
    Serve(console::ServeArgs),
    /// Print the completion script of a shell (bash, zsh, fish, powershell, elvish).
    ///
    /// Example: ferry completions bash > ~/.local/share/bash-completion/completions/ferry
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of ferry, or write one page per command into a directory.
    ///
    /// Example: ferry man > ~/.local/share/man/man1/ferry.1
    Man {
        /// Write ferry.1 and ferry-COMMAND.1 for each command into this directory instead.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum FailureAction {
    /// List parked failures and dead-lettered messages.
    List {
        #[arg(long)]
        integration: Option<String>,
        /// Full records (input snapshot and mapping output) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay failures through the current configuration.
    Retry {
        ids: Vec<String>,
        #[arg(long)]
        all: bool,
        /// With --all: only this integration's failures.
        #[arg(long, requires = "all")]
        integration: Option<String>,
        /// After queueing, run one cycle to process the retried events.
        #[arg(long)]
        run: bool,
        /// For a field_conflict: the side whose values win (left or right).
        #[arg(long, value_parser = parse_side)]
        winner: Option<Side>,
    },
    /// Drop failures for good.
    Discard { ids: Vec<String> },
    /// Move dead-lettered messages back onto their queue, to be handled again.
    Redrive {
        /// Only this queue's dead letters (default: both).
        #[arg(long, value_enum)]
        queue: Option<QueueArg>,
    },
}

#[derive(Subcommand)]
enum BackfillAction {
    /// How far the backfill last accepted for an integration is: created, paired, parked
    /// and still to sync, out of its plan's total. Reads only; to follow it to its end,
    /// run its `ferry activate ID --since DATE` again.
    ///
    /// Example: ferry backfill status app-bugs --json
    Status {
        integration: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum QueueArg {
    Changes,
    Writes,
}

#[derive(Subcommand)]
enum DiscoverWhat {
    Projects,
    Types {
        #[arg(long)]
        project: String,
    },
    Fields {
        #[arg(long)]
        project: String,
        #[arg(long = "type")]
        entity_type: String,
    },
    Users {
        #[arg(long)]
        project: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::code(exit::FAILED)
        }
    }
}

fn init_logging(cli: &Cli) {
    let default = match cli.command {
        Command::Run { .. } | Command::Serve(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for a person at a terminal: CI logs and pipes get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| backfill::LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if cli.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendKind {
    Embedded,
    Aws,
}

/// The store a command works on; the commands are the same on both.
enum Backend {
    Embedded(Embedded),
    Aws(Box<AwsRuntime>),
}

impl Backend {
    fn engine(&self) -> &Arc<Engine> {
        match self {
            Backend::Embedded(e) => &e.engine,
            Backend::Aws(a) => &a.engine,
        }
    }
    fn connectors(&self) -> &Arc<ferry_runtime::Connectors> {
        match self {
            Backend::Embedded(e) => &e.connectors,
            Backend::Aws(a) => &a.connectors,
        }
    }
    fn runner(&self) -> Runner {
        Runner::new(self.engine().clone(), RunnerSettings::default())
    }
    /// The poller of commit links: `ferry run` polls them on the embedded backend (on
    /// AWS the commits function does).
    fn commit_poller(&self, db: &std::path::Path) -> Option<CommitRunner> {
        match self {
            Backend::Embedded(_) => Some(self.commit_runner(db)),
            Backend::Aws(_) => None,
        }
    }

    /// What activates and deactivates commit links. It fetches the repository to record
    /// the tips: into the mirrors beside the store (embedded), or into a mirror of this
    /// machine's temporary directory (AWS; the function keeps its own under its /tmp).
    fn commit_runner(&self, db: &std::path::Path) -> CommitRunner {
        let mirrors = match self {
            Backend::Embedded(_) => mirrors_beside(db),
            Backend::Aws(_) => std::env::temp_dir().join("ferry-mirrors"),
        };
        CommitRunner::new(self.engine().clone(), self.connectors().clone(), mirrors)
    }

    /// On AWS, a commit link is activated only where its schedule can be made: refused
    /// when the poll schedules are configured but the commits function's ARN is not.
    fn check_commit_schedules(&self) -> Result<()> {
        if let Backend::Aws(a) = self {
            if a.schedules.as_ref().is_some_and(|s| s.commits_function_arn.is_none()) {
                bail!(
                    "{} is not set: it names the commits function that a commit link's schedule invokes \
                     (the stack's CommitsFunctionArn output; `infra/moto.sh env` prints it for the emulator)",
                    ferry_runtime::aws::COMMITS_FUNCTION_VAR
                );
            }
        }
        Ok(())
    }
}

struct Target {
    kind: BackendKind,
    db: PathBuf,
}

impl Target {
    /// What config validation checks for: the AWS functions cannot read local files.
    fn config_target(&self) -> ferry_config::Target {
        match self.kind {
            BackendKind::Embedded => ferry_config::Target::Embedded,
            BackendKind::Aws => ferry_config::Target::Aws,
        }
    }
}

async fn open(target: &Target) -> Result<Backend> {
    Ok(match target.kind {
        BackendKind::Embedded => Backend::Embedded(Embedded::open(&target.db, Arc::new(EnvSecrets))?),
        // Secrets come from SSM / Secrets Manager (and env references from this process).
        BackendKind::Aws => Backend::Aws(Box::new(aws_engine().await.context("opening the AWS backend")?)),
    })
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let target = Target { kind: cli.backend, db: cli.db.clone() };
    match cli.command {
        Command::Validate { files, json } => {
            if files.is_empty() {
                bail!("name at least one config file: ferry validate FILE...");
            }
            match ferry_config::load_files_for(&files, target.config_target()) {
                Ok(set) if json => {
                    let v = serde_json::json!({
                        "ok": true,
                        "files": files.len(),
                        "systems": set.systems.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
                        "integrations": set.integrations.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
                        "source_control": set.source_control.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
                        "commit_links": set.commit_links.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
                    });
                    println!("{}", serde_json::to_string_pretty(&v)?);
                    Ok(ExitCode::SUCCESS)
                }
                Ok(set) => {
                    let commits = match set.commit_links.len() + set.source_control.len() {
                        0 => String::new(),
                        _ => format!(
                            ", {} repository(ies), {} commit link(s)",
                            set.source_control.len(),
                            set.commit_links.len()
                        ),
                    };
                    println!(
                        "ok: {} system(s), {} integration(s){commits} in {} file(s)",
                        set.systems.len(),
                        set.integrations.len(),
                        files.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => config_errors(&errors, json),
            }
        }
        Command::Check { files, json } => check(&target, &files, json).await,
        Command::Init(args) => init::cmd::run(&target, args).await,
        Command::Preview { integration, key, limit, json } => {
            let id = parse_integration(&integration)?;
            let select = match key {
                Some(k) => ferry_engine::PreviewSelect::Key(k),
                None => ferry_engine::PreviewSelect::Limit(limit),
            };
            let rt = open(&target).await?;
            let entities = rt.engine().preview(&id, &select, Utc::now()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entities)?);
            } else {
                preview::print(&entities);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            println!("{}", serde_json::to_string_pretty(&ferry_config::json_schema())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply { files, no_check } => {
            let set = match ferry_config::load_files_for(&files, target.config_target()) {
                Ok(set) => set,
                Err(errors) => return config_errors(&errors, false),
            };
            let rt = open(&target).await?;
            // Checked before anything is written, as the work-item integrations are.
            let commits =
                rt.engine().plan_commit_links(&set.source_control, &set.commit_links, &set.integrations).await?;
            if !no_check {
                commits::check_repositories(rt.connectors(), commits.repositories()).await?;
            }
            let mut report = rt.engine().apply(&set.systems, &set.integrations, !no_check, Utc::now()).await?;
            rt.engine().write_commit_links(commits, Utc::now(), &mut report).await?;
            output::apply(&report);
            Ok(ExitCode::SUCCESS)
        }
        Command::Activate { integration, backfill, from_commit, hooks_url } => {
            let rt = open(&target).await?;
            let id = parse_integration(&integration)?;
            let json = backfill.json;
            if rt.engine().commit_link(&id).await?.is_some() {
                let start = commits::start(&id, &backfill, from_commit, hooks_url.is_some())?;
                rt.check_commit_schedules()?;
                commits::activate(&rt.commit_runner(&target.db), &id, &start, json).await?;
                return Ok(ExitCode::SUCCESS);
            }
            if from_commit.is_some() {
                bail!("{id} is a work-item integration: --from-commit starts a commit link");
            }
            let activated = backfill::activate(rt.engine(), &id, &backfill).await?;
            let hooks =
                hook_subscriptions::register(rt.engine(), rt.connectors(), &id, hooks_url.as_deref(), json).await?;
            let mut doc = activated.doc;
            let mut code = exit::OK;
            if let Some(progress) = activated.follow {
                // The embedded store has no one else to sync: this process does.
                let runner = rt.runner();
                let worker = match &rt {
                    Backend::Embedded(_) => Worker::Drive(&runner),
                    Backend::Aws(_) => Worker::Watch,
                };
                let end = backfill::follow(rt.engine(), worker, progress, json).await?;
                code = end.code;
                if let Some(doc) = doc.as_mut().and_then(|d| d.as_object_mut()) {
                    doc.insert("backfill".into(), end.json);
                }
            }
            if let Some(mut doc) = doc {
                if let (Some(doc), Some(hooks)) = (doc.as_object_mut(), hooks.as_object()) {
                    doc.extend(hooks.clone());
                }
                println!("{}", serde_json::to_string_pretty(&doc)?);
            }
            Ok(exit::code(code))
        }
        Command::Backfill { action: BackfillAction::Status { integration, json } } => {
            let rt = open(&target).await?;
            backfill::status(rt.engine(), &parse_integration(&integration)?, json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Deactivate { integration } => {
            let rt = open(&target).await?;
            let id = parse_integration(&integration)?;
            if rt.engine().commit_link(&id).await?.is_some() {
                let changed = rt.commit_runner(&target.db).deactivate(&id, Utc::now()).await?;
                println!("{integration}: {}", if changed { "deactivated" } else { "was not active" });
                return Ok(ExitCode::SUCCESS);
            }
            let changed = rt.engine().deactivate(&id, Utc::now()).await?;
            println!("{integration}: {}", if changed { "deactivated" } else { "was not active" });
            hook_subscriptions::unregister(rt.engine(), rt.connectors(), &id).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { once, integrations, listen } => {
            let only = integrations.iter().map(|i| parse_integration(i)).collect::<Result<Vec<_>>>()?;
            let rt = open(&target).await?;
            let runner = rt.runner();
            let commits = rt.commit_poller(&target.db);
            if once {
                let report = runner.cycle_for(Utc::now(), true, &only).await;
                output::cycle(&report);
                let polled = match &commits {
                    Some(c) => c.cycle(Utc::now(), true, &only).await,
                    None => CommitCycle::default(),
                };
                commits::print_cycle(&polled);
                return Ok(if report.poll_errors.is_empty() && polled.errors.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    exit::code(exit::POLL_FAILED)
                });
            }
            // Ctrl-C stops both loops: the work-item runner and the commit links' poller,
            // which run side by side (a long fetch does not hold up the work items).
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                let _ = stop_tx.send(true);
            });
            let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
                let _ = rx.wait_for(|stop| *stop).await;
            };
            let both = async {
                let commit_loop = async {
                    if let Some(c) = &commits {
                        c.run_until(&only, stopped(stop_rx.clone())).await;
                    }
                };
                tokio::join!(runner.run_until(&only, stopped(stop_rx.clone())), commit_loop);
            };
            let Some(addr) = listen else {
                eprintln!("ferry: running (Ctrl-C to stop)");
                both.await;
                return Ok(ExitCode::SUCCESS);
            };
            let trigger = Arc::new(ferry_runtime::listen::SpawnedPoll { engine: rt.engine().clone() });
            let (local, hooks) =
                ferry_runtime::listen::serve(rt.engine().clone(), rt.connectors().secrets(), trigger, addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?;
            eprintln!("ferry: running, webhooks on http://{local}/hooks/{{system}} (Ctrl-C to stop)");
            tokio::select! {
                _ = both => Ok(ExitCode::SUCCESS),
                served = hooks => served.context("serving the webhooks").map(|()| ExitCode::FAILURE),
            }
        }
        Command::Status { json, max_lag } => {
            let rt = open(&target).await?;
            let status = rt.engine().status(Utc::now()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                output::status(&status);
                output::hooks(&rt.engine().hook_status().await?);
            }
            let problems = health::problems(&status, max_lag);
            for p in &problems {
                eprintln!("{p}");
            }
            Ok(exit::code(if problems.is_empty() { exit::OK } else { exit::UNHEALTHY }))
        }
        Command::Failures { action } => failures(&target, action).await,
        Command::Discover { system, what, config, json } => discover(&target, &system, what, &config, json).await,
        Command::Demo { json } => demo::run(json).await,
        Command::Completions { shell } => {
            shell::completions(shell, <Cli as clap::CommandFactory>::command(), &mut std::io::stdout().lock());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match dir {
                Some(dir) => shell::man_pages_in(cmd, &dir)?,
                None => shell::man_page(cmd, &mut std::io::stdout().lock())?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            let rt = open(&target).await?;
            let (engine, connectors, commits) =
                (rt.engine().clone(), rt.connectors().clone(), rt.commit_runner(&target.db));
            console::serve(engine, connectors, matches!(rt, Backend::Aws(_)), commits, args).await
        }
    }
}

/// Prints config errors (one per line, then the count; or as JSON on stdout:
/// `{"ok": false, "errors": [...]}`) and answers the exit code.
fn config_errors(errors: &ferry_config::ConfigErrors, json: bool) -> Result<ExitCode> {
    if json {
        let v = serde_json::json!({"ok": false, "errors": errors.0});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for e in &errors.0 {
            eprintln!("{e}");
        }
        eprintln!("{} error(s)", errors.0.len());
    }
    Ok(exit::code(exit::INVALID_CONFIG))
}

/// `ferry check`: the config's own errors, else every side of every integration asked
/// of its live system ([`check`]).
async fn check(target: &Target, files: &[PathBuf], json: bool) -> Result<ExitCode> {
    if files.is_empty() {
        bail!("name at least one config file: ferry check FILE...");
    }
    let set = match ferry_config::load_files_for(files, target.config_target()) {
        Ok(set) => set,
        Err(errors) => return config_errors(&errors, json),
    };
    let rt = open(target).await?;
    let findings = check::findings(&set, rt.connectors().as_ref()).await;
    if json {
        let v = serde_json::json!({"ok": findings.is_empty(), "findings": findings});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if findings.is_empty() {
        println!("ok: {} integration(s) match their live systems", set.integrations.len());
    } else {
        for f in &findings {
            eprintln!("{f}");
        }
        eprintln!("{} finding(s)", findings.len());
    }
    Ok(exit::code(if findings.is_empty() { exit::OK } else { exit::INVALID_CONFIG }))
}

fn parse_integration(s: &str) -> Result<IntegrationId> {
    IntegrationId::parse(s).map_err(|e| anyhow::anyhow!("{e}"))
}

async fn failures(target: &Target, action: FailureAction) -> Result<ExitCode> {
    use ferry_domain::ports::QueueName;
    let rt = open(target).await?;
    let state = rt.engine().state().clone();
    match action {
        FailureAction::List { integration, json } => {
            let filter = integration.as_deref().map(parse_integration).transpose()?;
            let listing = state.failure_listing(filter.as_ref()).await?;
            let mut dead = Vec::new();
            let mut retention = Vec::new();
            for q in [QueueName::Changes, QueueName::Writes] {
                let kept = rt.engine().queue().dead_letter_retention(q).await?;
                retention.push((q.as_str(), kept));
                for d in rt.engine().queue().dead_letters(q).await? {
                    dead.push((q.as_str(), d, kept));
                }
            }
            let now = Utc::now();
            if json {
                let dead: Vec<_> = dead
                    .iter()
                    .map(|(q, d, kept)| {
                        serde_json::json!({
                            "queue": q, "message_id": d.message_id, "receive_count": d.receive_count,
                            "since": d.since, "age_secs": d.since.map(|t| (now - t).num_seconds()),
                            "retention_secs": kept.map(|k| k.as_secs()), "body": d.body,
                        })
                    })
                    .collect();
                let (records, unreadable): (Vec<_>, Vec<_>) = listing.into_iter().partition(Result::is_ok);
                let records: Vec<_> = records.into_iter().flatten().collect();
                let unreadable: Vec<_> = unreadable.into_iter().filter_map(Result::err).collect();
                let v = serde_json::json!({"failures": records, "unreadable": unreadable, "dead_letters": dead});
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                output::failures(&listing, &dead, now);
            }
            Ok(ExitCode::SUCCESS)
        }
        FailureAction::Retry { ids, all, integration, run, winner } => {
            let ids = if all {
                let filter = integration.as_deref().map(parse_integration).transpose()?;
                // An unreadable failure is named, not skipped: retrying it fails with its reason.
                state.failure_listing(filter.as_ref()).await?.iter().map(|f| listed_id(f).to_string()).collect()
            } else if ids.is_empty() {
                bail!("name failure ids (see `ferry failures list`) or pass --all");
            } else {
                ids
            };
            // Each failure on its own: one that cannot be retried (an unreadable record)
            // is reported and the others are still queued.
            let mut refused = 0;
            let commits = rt.commit_runner(&target.db);
            for id in &ids {
                // A mention a commit link reported is written again now, not queued.
                let outcome = match commits.retry(id, winner).await {
                    Ok(Some(Retried::Written(f))) => Ok(format!("{} {} written", f.integration, f.entity_key)),
                    Ok(Some(Retried::FailedAgain(f))) => Err(format!("failed again: {}", f.cause)),
                    Err(e) => Err(e.to_string()),
                    Ok(None) => match rt.engine().retry_failure_with(id, winner).await {
                        Ok(f) => Ok(format!("{} {} queued again", f.integration, f.entity_key)),
                        Err(e) => Err(e.to_string()),
                    },
                };
                match outcome {
                    Ok(done) => println!("{id}: {done}"),
                    Err(e) => {
                        eprintln!("error: {id}: {e}");
                        refused += 1;
                    }
                }
            }
            if run {
                let report = rt.runner().cycle(Utc::now(), false).await;
                output::cycle(&report);
            }
            Ok(exit::code(if refused == 0 { exit::OK } else { exit::FAILED }))
        }
        FailureAction::Redrive { queue } => {
            let queues = match queue {
                Some(QueueArg::Changes) => vec![QueueName::Changes],
                Some(QueueArg::Writes) => vec![QueueName::Writes],
                None => vec![QueueName::Changes, QueueName::Writes],
            };
            for q in queues {
                let moved = rt.engine().queue().redrive(q).await?;
                println!("{}: {moved} dead letter(s) moved back to be handled again", q.as_str());
            }
            Ok(ExitCode::SUCCESS)
        }
        FailureAction::Discard { ids } => {
            if ids.is_empty() {
                bail!("name failure ids to discard (see `ferry failures list`)");
            }
            for id in &ids {
                let dropped = rt.engine().discard_failure(id).await?;
                println!("{id}: {} discarded", dropped.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn discover(
    target: &Target,
    system: &str,
    what: DiscoverWhat,
    config: &[PathBuf],
    json: bool,
) -> Result<ExitCode> {
    use ferry_domain::ports::ConnectorFactory;
    use ferry_domain::Scope;
    let id = SystemId::parse(system).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = open(target).await?;
    let cfg = if config.is_empty() {
        rt.engine().config_store().get_system(&id).await?.with_context(|| {
            format!("system {system:?} is not in the store: apply a config first or pass --config FILE")
        })?
    } else {
        let set = ferry_config::load_files_for(config, target.config_target())
            .map_err(|e| anyhow::anyhow!("config is invalid:\n{e}"))?;
        set.systems
            .into_iter()
            .find(|s| s.id == id)
            .with_context(|| format!("system {system:?} is not in the given config"))?
    };
    let conn = rt.connectors().connector(&cfg).await?;
    let value = match what {
        DiscoverWhat::Projects => serde_json::to_value(conn.projects().await?)?,
        DiscoverWhat::Types { project } => serde_json::to_value(conn.entity_types(&project).await?)?,
        DiscoverWhat::Fields { project, entity_type } => {
            serde_json::to_value(conn.fields(&Scope { project, entity_type }).await?)?
        }
        DiscoverWhat::Users { project } => serde_json::to_value(conn.users(&project).await?)?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        output::discovered(&value);
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_side(s: &str) -> Result<Side, String> {
    match s {
        "left" => Ok(Side::Left),
        "right" => Ok(Side::Right),
        other => Err(format!("{other:?} is not a side: use left or right")),
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// The commands whose output a person reads and a script may want: each takes
    /// `--json` and then prints one JSON document (docs/cli.md names its fields).
    const READ_COMMANDS: &[&[&str]] = &[
        &["validate"],
        &["check"],
        &["preview"],
        &["status"],
        &["failures", "list"],
        &["discover", "projects"],
        &["discover", "fields"],
        &["init"],
        &["activate"],
        &["backfill", "status"],
        &["demo"],
    ];

    #[test]
    fn every_read_command_takes_json() {
        let root = Cli::command();
        root.clone().debug_assert();
        for path in READ_COMMANDS {
            let mut cmd = &root;
            for name in *path {
                cmd = cmd.find_subcommand(name).unwrap_or_else(|| panic!("no subcommand {path:?}"));
            }
            // `discover`'s --json is global to its subcommands: clap lists it on the parent.
            let parent_json = path.len() > 1
                && root
                    .find_subcommand(path[0])
                    .is_some_and(|p| p.get_arguments().any(|a| a.get_long() == Some("json")));
            let own_json = cmd.get_arguments().any(|a| a.get_long() == Some("json"));
            assert!(own_json || parent_json, "`ferry {}` takes no --json", path.join(" "));
        }
    }
}
