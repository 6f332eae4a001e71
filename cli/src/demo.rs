//! `ferry demo`: both simulators, the shipped example integration, a fresh embedded
//! store, changes made by people on both sides, and a summary of what synced.
//!
//! The demo checks its own outcome: it exits non-zero when something did not sync
//! as expected, so it doubles as a smoke test of a fresh checkout.

use anyhow::{anyhow, Context, Result};
use chrono::Utc;
use ferry_domain::{
    EntityId, FieldKey, FieldValue, Integration, Scope, SecretRef, Side, SystemConfig, SystemKind, UserRef,
};
use ferry_engine::WriteOutcome;
use ferry_runtime::actor::Actor;
use ferry_runtime::{CycleReport, Embedded, EnvSecrets, RunnerSettings, SecretSource, StaticSecrets};
use ferry_sim::{AdoSeed, AdoSim, JiraSeed, JiraSim};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

const EXAMPLE_CONFIG: &str = include_str!("../../examples/ferry.yaml");
const EXAMPLE_FILES: &[(&str, &[u8])] = &[
    ("status.csv", include_bytes!("../../examples/status.csv")),
    ("severity.xlsx", include_bytes!("../../examples/severity.xlsx")),
    ("users.xlsx", include_bytes!("../../examples/users.xlsx")),
];

fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.into())
}

pub async fn run(json_out: bool) -> Result<ExitCode> {
    let started = Instant::now();
    let jira = JiraSim::start(JiraSeed::demo()).await.context("starting the Jira simulator")?;
    let ado = AdoSim::start(AdoSeed::demo()).await.context("starting the Azure DevOps simulator")?;
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    std::fs::write(dir.path().join("ferry.yaml"), EXAMPLE_CONFIG)?;
    for (name, bytes) in EXAMPLE_FILES {
        std::fs::write(dir.path().join(name), bytes)?;
    }
    let set = ferry_config::load_files(&[dir.path().join("ferry.yaml")])
        .map_err(|e| anyhow!("the shipped example config is invalid:\n{e}"))?;
    let integration: Integration = set.integrations.first().cloned().context("the example defines no integration")?;

    // Point the example's systems at the simulators and give them the bots' tokens.
    let mut secrets = StaticSecrets::new(EnvSecrets);
    let mut systems = Vec::new();
    for mut s in set.systems.clone() {
        let (url, token) = match s.kind {
            SystemKind::Jira => (jira.base_url(), "jira-bot-token"),
            SystemKind::AzureDevops => (ado.base_url(), "ado-bot-pat"),
            SystemKind::Redmine => anyhow::bail!("the demo pairs Jira with Azure DevOps"),
        };
        s.base_url = url;
        s.identity_url = None;
        s.allow_http_loopback = true;
        secrets = secrets.with(s.auth.token().clone(), token);
        systems.push(s);
    }
    let people = [
        ("DEMO_JIRA_ALICE", "jira-alice-token"),
        ("DEMO_JIRA_BOB", "jira-bob-token"),
        ("DEMO_ADO_ALICE", "ado-alice-pat"),
        ("DEMO_ADO_BOB", "ado-bob-pat"),
    ];
    for (name, token) in people {
        secrets = secrets.with(SecretRef::Env(name.into()), token);
    }
    let secrets: Arc<dyn SecretSource> = Arc::new(secrets);
    let rt = Embedded::open(&dir.path().join("ferry.sqlite"), secrets)?;

    let system = |side: Side| -> Result<SystemConfig> {
        let id = &integration.endpoint(side).system;
        systems.iter().find(|s| &s.id == id).cloned().with_context(|| format!("system {id} missing"))
    };
    let (left_sys, right_sys) = (system(Side::Left)?, system(Side::Right)?);
    let (jira_side, jira_sys, ado_sys) = match left_sys.kind {
        SystemKind::Jira => (Side::Left, left_sys.clone(), right_sys.clone()),
        _ => (Side::Right, right_sys.clone(), left_sys.clone()),
    };
    let ado_side = jira_side.other();
    let person = |sys: SystemConfig, side: Side, email: &'static str, secret: &'static str| {
        let ep = integration.endpoint(side);
        let scope = Scope { project: ep.project.clone(), entity_type: ep.entity_type.clone() };
        let connectors = rt.connectors.clone();
        async move { Actor::new(&connectors, &sys, email, SecretRef::Env(secret.into()), scope).await }
    };
    let jira_alice = person(jira_sys.clone(), jira_side, "alice@acme.test", "DEMO_JIRA_ALICE").await?;
    let jira_bob = person(jira_sys.clone(), jira_side, "bob@acme.test", "DEMO_JIRA_BOB").await?;
    let ado_alice = person(ado_sys.clone(), ado_side, "alice@acme.test", "DEMO_ADO_ALICE").await?;
    let ado_bob = person(ado_sys.clone(), ado_side, "bob@acme.test", "DEMO_ADO_BOB").await?;
    let carol_jira = jira_alice.conn.find_user_by_email("carol@acme.test").await?.context("carol in Jira")?;

    let mut steps = Vec::new();
    let mut checks: Vec<(String, bool)> = Vec::new();

    // Before activation: existing work must not be copied (start polling time).
    let legacy = jira_alice.create(vec![("summary", text("Legacy issue from before Ferry"))]).await?;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    let now = Utc::now();
    rt.engine.apply(&systems, std::slice::from_ref(&integration), true, now).await?;
    let activation = rt.engine.activate(&integration.id, Utc::now()).await?;
    let runner = rt.runner(RunnerSettings::default());

    // Step 1: a Jira bug and an Azure DevOps bug, created by people.
    let jira_bug = jira_alice
        .create(vec![
            ("summary", text("Checkout fails with a 500 for guest users")),
            (
                "description",
                FieldValue::RichText(
                    "<p>Steps: <strong>add to cart</strong>, then pay as a guest.</p><ul><li>Chrome</li><li>Firefox</li></ul>".into(),
                ),
            ),
            ("priority", FieldValue::Option("High".into())),
            ("assignee", FieldValue::User(UserRef { id: carol_jira.id.clone(), email: None, display_name: None })),
            ("labels", FieldValue::List(vec!["checkout".into(), "sync".into()])),
        ])
        .await?;
    let ado_bug = ado_bob
        .create(vec![
            ("System.Title", text("Search results page is slow")),
            (
                "System.Description",
                FieldValue::RichText("<p>Takes <em>8 seconds</em> to render 50 results.</p>".into()),
            ),
            ("Microsoft.VSTS.Common.Priority", FieldValue::Number(1.0)),
            (
                "System.AssignedTo",
                FieldValue::User(UserRef {
                    id: String::new(),
                    email: Some("alice@acme.test".into()),
                    display_name: None,
                }),
            ),
        ])
        .await?;
    let r1 = runner.cycle(Utc::now(), true).await;
    steps.push(step("created a Jira bug and an Azure DevOps bug", &r1));
    let ado_twin = linked(&rt, &integration, jira_side, &jira_bug.id).await?;
    let jira_twin = linked(&rt, &integration, ado_side, &ado_bug.id).await?;
    checks.push((format!("{} created in Azure DevOps", jira_bug.key), ado_twin.is_some()));
    checks.push((format!("Azure DevOps #{} created in Jira", ado_bug.key), jira_twin.is_some()));
    let legacy_synced = linked(&rt, &integration, jira_side, &legacy.id).await?.is_some();
    checks.push(("issue from before activation not copied".into(), !legacy_synced));
    let (Some(ado_twin), Some(jira_twin)) = (ado_twin, jira_twin) else {
        return finish(json_out, started, &jira, &ado, activation, steps, checks, json!({}));
    };

    // Step 2: updates travel back: state through Jira workflow transitions, a title edit.
    ado_alice.update(&ado_twin, vec![("System.State", text("Resolved"))]).await?;
    jira_bob.update(&jira_twin, vec![("summary", text("Search results page is slow (50+ results)"))]).await?;
    let r2 = runner.cycle(Utc::now(), true).await;
    steps.push(step("resolved the Azure DevOps twin, retitled the Jira twin", &r2));

    // Step 3: settle: nothing left to write, no echo.
    let r3 = runner.cycle(Utc::now(), true).await;
    steps.push(step("polled again after the sync settled", &r3));
    checks.push(("no echo: a settled sync writes nothing".into(), r3.write_count() == 0));

    let jira_now = jira_bob.get(&jira_bug.id).await?.context("Jira bug vanished")?;
    let ado_now = ado_bob.get(&ado_twin).await?.context("ADO twin vanished")?;
    let ado_title_now = ado_bob.get(&ado_bug.id).await?.context("ADO bug vanished")?;
    let status = jira_now.field(&FieldKey::new("status")).and_then(FieldValue::key_string).unwrap_or_default();
    checks.push((format!("{} moved to In Review through transitions", jira_bug.key), status == "In Review"));
    let title =
        ado_title_now.field(&FieldKey::new("System.Title")).and_then(FieldValue::key_string).unwrap_or_default();
    checks.push((format!("Azure DevOps #{} retitled from Jira", ado_bug.key), title.ends_with("(50+ results)")));
    let final_state = json!({
        "jira": {"key": jira_now.key, "url": jira_now.url, "fields": fields_json(&jira_now)},
        "azure_devops": {"id": ado_now.key, "url": ado_now.url, "fields": fields_json(&ado_now)},
    });
    finish(json_out, started, &jira, &ado, activation, steps, checks, final_state)
}

async fn linked(rt: &Embedded, i: &Integration, side: Side, id: &EntityId) -> Result<Option<EntityId>> {
    Ok(rt.engine.state().get_link(&i.id, side, id).await?.map(|l| l.side(side.other()).id.clone()))
}

fn step(what: &str, r: &CycleReport) -> Value {
    let writes: Vec<String> = r
        .writes()
        .map(|w| match w {
            WriteOutcome::Created { source, target } => format!("{source} -> created {target}"),
            WriteOutcome::Updated { source, target, fields, .. } => {
                format!("{source} -> updated {target} ({fields} field(s))")
            }
            WriteOutcome::Unchanged { source, target, .. } => {
                format!("{source} -> {target} already up to date")
            }
            WriteOutcome::Parked { failure_id, .. } => format!("failed, parked as {failure_id}"),
            WriteOutcome::Skipped { source, reason, .. } => format!("{source} skipped ({reason})"),
        })
        .collect();
    let skipped = r
        .handled
        .iter()
        .filter_map(|h| match h {
            ferry_runtime::HandledEvent::Transform {
                outcome: ferry_engine::TransformOutcome::Skipped { reason, .. },
            } => Some(*reason),
            _ => None,
        })
        .collect::<Vec<_>>();
    json!({"step": what, "writes": writes, "skipped": skipped, "poll_errors": r.poll_errors})
}

fn fields_json(s: &ferry_domain::EntitySnapshot) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in &s.fields {
        let shown = match v {
            FieldValue::User(u) => json!(u.email.clone().or(u.display_name.clone()).unwrap_or(u.id.clone())),
            other => other.key_string().map(Value::String).unwrap_or(Value::Null),
        };
        m.insert(k.to_string(), shown);
    }
    Value::Object(m)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    json_out: bool,
    started: Instant,
    jira: &JiraSim,
    ado: &AdoSim,
    activation: ferry_engine::ActivationReport,
    steps: Vec<Value>,
    checks: Vec<(String, bool)>,
    final_state: Value,
) -> Result<ExitCode> {
    let ok = checks.iter().all(|(_, ok)| *ok);
    let summary = json!({
        "ok": ok,
        "elapsed_ms": started.elapsed().as_millis() as u64,
        "simulators": {"jira": jira.base_url(), "azure_devops": ado.base_url()},
        "activation": activation,
        "steps": steps,
        "checks": checks.iter().map(|(what, ok)| json!({"check": what, "ok": ok})).collect::<Vec<_>>(),
        "final": final_state,
        "requests": {"jira": jira.requests().len(), "azure_devops": ado.requests().len()},
    });
    if json_out {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("Ferry demo: Jira simulator {} <-> Azure DevOps simulator {}", jira.base_url(), ado.base_url());
        for s in &activation.starts {
            println!(
                "activated {} {}: polls changes after {} ({})",
                activation.integration,
                s.flow,
                s.at.to_rfc3339(),
                s.reason
            );
        }
        for s in &steps {
            println!("\n* {}", s["step"].as_str().unwrap_or(""));
            for w in s["writes"].as_array().into_iter().flatten() {
                println!("    {}", w.as_str().unwrap_or(""));
            }
            if s["writes"].as_array().is_none_or(|a| a.is_empty()) {
                println!("    (nothing written)");
            }
        }
        println!();
        for (what, ok) in &checks {
            println!("[{}] {what}", if *ok { "ok" } else { "FAILED" });
        }
        println!("\n{} in {} ms", if ok { "demo passed" } else { "demo FAILED" }, started.elapsed().as_millis());
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
