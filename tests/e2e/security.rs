//! Secrets stay secret: the real `ferry` binary runs a whole sync at trace level (text
//! and JSON logs) through the failure paths that tempt code to echo credentials (wrong
//! token, 403, 429, 500, a config with errors, discovery), and then neither its output,
//! nor the store, nor the failure records hold a token, a PAT, or their wire encodings.
//! With `FERRY_E2E_BACKEND=aws` the store is the emulator's DynamoDB tables, and the
//! scene's `ferry` runs use queues of its own.

use crate::harness::*;
use anyhow::{Context, Result};
use base64::Engine as _;
use ferry_domain::{FieldValue, Scope, SecretRef};
use ferry_runtime::actor::Actor;
use ferry_runtime::{EnvSecrets, SecretSource, StaticSecrets};
use ferry_sim::{AdoSeed, AdoSim, JiraSeed, JiraSim};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

const BOT: &str = "ferry-bot@acme.test";

/// A value no code path could produce by accident: fresh per run.
fn random_secret(kind: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut out = format!("fsec{kind}");
    for salt in 0..2u64 {
        // RandomState is seeded from the OS per instance.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u64(salt);
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// Each secret and the forms it takes on the wire.
fn needles(secrets: &[(&str, &str)]) -> Vec<(String, String)> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut out = Vec::new();
    for (name, s) in secrets {
        out.push((format!("{name} (raw)"), s.to_string()));
        out.push((format!("{name} (base64 of {BOT}:token, Jira basic)"), b64(&format!("{BOT}:{s}"))));
        out.push((format!("{name} (base64 of :pat, ADO basic)"), b64(&format!(":{s}"))));
        out.push((format!("{name} (base64 of the value)"), b64(s)));
        out.push((format!("{name} (Bearer header)"), format!("Bearer {s}")));
    }
    out
}

/// Labels of the needles found in `haystack`.
fn found(haystack: &[u8], needles: &[(String, String)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, n)| haystack.windows(n.len()).any(|w| w == n.as_bytes()))
        .map(|(label, _)| label.clone())
        .collect()
}

struct Run {
    what: String,
    ok: bool,
    out: String,
}

struct Scene {
    jira: JiraSim,
    ado: AdoSim,
    dir: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
    id: String,
    runs: Vec<Run>,
    /// The scene's own queues on the AWS backend.
    queues: Vec<(&'static str, String)>,
}

impl Scene {
    async fn start(jira_token: &str, ado_pat: &str) -> Result<Scene> {
        let mut jseed = JiraSeed::demo();
        jseed.users.iter_mut().filter(|u| u.email == BOT).for_each(|u| u.token = jira_token.into());
        let mut aseed = AdoSeed::demo();
        aseed.users.iter_mut().filter(|u| u.email == BOT).for_each(|u| u.token = ado_pat.into());
        let jira = JiraSim::start(jseed).await?;
        let ado = AdoSim::start(aseed).await?;
        let dir = tempfile::tempdir()?;
        for f in ["status.csv", "severity.xlsx", "users.xlsx"] {
            std::fs::copy(repo_root().join("examples").join(f), dir.path().join(f))
                .with_context(|| format!("copying {f}"))?;
        }
        let id = format!("sec-{}-{}", std::process::id(), &random_secret("")[4..12]);
        let config = dir.path().join("ferry.yaml");
        std::fs::write(&config, render(&jira, &ado, &Variant::default(), &id))?;
        let db = dir.path().join("ferry.sqlite");
        let queues = own_queue_env(&id).await?;
        Ok(Scene { jira, ado, dir, config, db, id, runs: Vec::new(), queues })
    }

    /// Runs `ferry` at trace level with the given credentials and keeps what it printed.
    async fn ferry(&mut self, args: &[&str], jira_token: &str, ado_pat: &str) -> bool {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(args)
            .envs(self.queues.iter().cloned())
            .current_dir(self.dir.path())
            .env("FERRY_DB", &self.db)
            .env("FERRY_BACKEND", if aws_backend() { "aws" } else { "embedded" })
            .env(JIRA_TOKEN_VAR, jira_token)
            .env(ADO_PAT_VAR, ado_pat)
            .env("FERRY_LOG", "trace");
        let r = run(cmd).await;
        let ok = r.ok;
        self.runs.push(Run { what: args.join(" "), ok, out: format!("{}\n{}", r.stdout, r.stderr) });
        ok
    }

    fn last(&self) -> &Run {
        self.runs.last().expect("a run")
    }

    /// A person creating and editing bugs in Jira with their own token.
    async fn alice(&self) -> Result<Actor> {
        let set = ferry_config::load_files(std::slice::from_ref(&self.config))
            .map_err(|e| anyhow::anyhow!("config invalid:\n{e}"))?;
        let system = set.systems.iter().find(|s| s.id.as_str().ends_with("-jira")).context("jira system")?;
        let var = "FERRY_E2E_SECURITY_ALICE";
        let secrets: Arc<dyn SecretSource> =
            Arc::new(StaticSecrets::new(EnvSecrets).with(SecretRef::Env(var.into()), "jira-alice-token"));
        let connectors = ferry_runtime::Connectors::new(secrets, Default::default());
        let scope = Scope { project: "APP".into(), entity_type: "Bug".into() };
        Ok(Actor::new(&connectors, system, "alice@acme.test", SecretRef::Env(var.into()), scope).await?)
    }

    /// Every byte the store holds (the SQLite file with its journal / WAL).
    fn store_bytes(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.path())? {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with("ferry.sqlite") {
                out.push((name, std::fs::read(&path)?));
            }
        }
        Ok(out)
    }
}

/// Every item of the config and state tables, flattened to text (AWS backend only).
async fn dynamo_text() -> Result<Vec<(String, Vec<u8>)>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    fn flat(v: &AttributeValue, out: &mut Vec<u8>) {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => out.extend_from_slice(s.as_bytes()),
            AttributeValue::B(b) => out.extend_from_slice(b.as_ref()),
            AttributeValue::Ss(v) | AttributeValue::Ns(v) => v.iter().for_each(|s| out.extend_from_slice(s.as_bytes())),
            AttributeValue::Bs(v) => v.iter().for_each(|b| out.extend_from_slice(b.as_ref())),
            AttributeValue::L(l) => l.iter().for_each(|x| flat(x, out)),
            AttributeValue::M(m) => m.iter().for_each(|(k, x)| {
                out.extend_from_slice(k.as_bytes());
                flat(x, out)
            }),
            _ => {}
        }
        out.push(b'\n');
    }
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let mut out = Vec::new();
    for var in ["FERRY_CONFIG_TABLE", "FERRY_STATE_TABLE"] {
        let table = std::env::var(var).with_context(|| format!("{var} is not set (source infra/.emulator.env)"))?;
        let mut bytes = Vec::new();
        let mut start = None;
        loop {
            let page = client.scan().table_name(&table).set_exclusive_start_key(start).send().await?;
            for item in page.items() {
                for (k, v) in item {
                    bytes.extend_from_slice(k.as_bytes());
                    flat(v, &mut bytes);
                }
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        out.push((format!("DynamoDB table {table}"), bytes));
    }
    Ok(out)
}

#[test]
fn the_leak_scan_finds_secrets_in_every_form_it_looks_for() {
    let secret = random_secret("ctl");
    let list = needles(&[("control", &secret)]);
    let dir = tempfile::tempdir().expect("tempdir");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for (form, planted) in [
        ("raw", format!("token={secret};")),
        ("Jira basic", format!("Authorization: Basic {}\r\n", b64(&format!("{BOT}:{secret}")))),
        ("ADO basic", format!("authorization: Basic {}", b64(&format!(":{secret}")))),
        ("Bearer", format!("Authorization: Bearer {secret}")),
    ] {
        let file = dir.path().join("planted.log");
        std::fs::write(&file, format!("noise before\n{planted}\nnoise after")).expect("write");
        let hits = found(&std::fs::read(&file).expect("read"), &list);
        assert!(!hits.is_empty(), "{form}: the scan missed a planted secret");
    }
    assert!(found(b"nothing secret here: ferry-bot@acme.test", &list).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_output_logs_store_or_failure_records() -> Result<()> {
    let jira_token = random_secret("jira");
    let ado_pat = random_secret("ado");
    let wrong = random_secret("wrong");
    let (jt, ap, wr) = (jira_token.as_str(), ado_pat.as_str(), wrong.as_str());
    let mut s = Scene::start(jt, ap).await?;
    let config = s.config.to_string_lossy().into_owned();
    let id = s.id.clone();
    let jira_sys = format!("{id}-jira");
    let ado_sys = format!("{id}-ado");

    // A config with errors, one of them a token written inline instead of a reference.
    let broken = s.dir.path().join("broken.yaml");
    let yaml = std::fs::read_to_string(&s.config)?
        .replace("token: { env: FERRY_E2E_JIRA_TOKEN }", &format!("token: {jt}"))
        .replace("token: { env: FERRY_E2E_ADO_PAT }", &format!("token: {{ env: FERRY_E2E_ADO_PAT }}, password: {ap}"));
    std::fs::write(&broken, yaml)?;
    assert!(!s.ferry(&["validate", &broken.to_string_lossy()], jt, ap).await, "the broken config must be refused");
    assert!(s.ferry(&["validate", &config], jt, ap).await, "{}", s.last().out);

    // Wrong credentials first: the connection test, discovery and a poll answer 401.
    assert!(!s.ferry(&["apply", &config], wr, wr).await, "apply with a wrong token must fail its connection test");
    assert!(s.last().out.contains("401") || s.last().out.to_lowercase().contains("auth"), "{}", s.last().out);
    s.ferry(&["discover", &jira_sys, "projects", "--config", &config], wr, wr).await;
    s.ferry(&["discover", &ado_sys, "projects", "--config", &config, "--log-json"], wr, wr).await;

    // The real setup and a clean sync.
    assert!(s.ferry(&["apply", &config], jt, ap).await, "{}", s.last().out);
    assert!(s.ferry(&["activate", &id], jt, ap).await, "{}", s.last().out);
    let alice = s.alice().await?;
    let bug = alice
        .create(vec![("summary", text("Login page leaks nothing")), ("priority", FieldValue::Option("High".into()))])
        .await?;
    assert!(s.ferry(&["run", "--once", "--integration", &id], jt, ap).await, "{}", s.last().out);
    assert!(!s.ado.work_item_ids("App").is_empty(), "the sync must have written to Azure DevOps");
    s.ferry(&["discover", &jira_sys, "users", "--project", "APP", "--json"], jt, ap).await;
    s.ferry(&["discover", &ado_sys, "projects"], jt, ap).await;

    // Throttling and server errors that the client retries (debug logs name each retry).
    // Set after the person's own edit, so the faults meet Ferry's requests, not hers.
    alice.update(&bug.id, vec![("summary", text("Login page leaks nothing, still"))]).await?;
    s.jira.faults().rate_limit_next(2, 0);
    s.ado.faults().fail_next(2, 500);
    s.ferry(&["run", "--once", "--log-json", "--integration", &id], jt, ap).await;

    // Forbidden: nothing retries a 403, so the write is parked as a failure.
    alice.create(vec![("summary", text("Forbidden bug")), ("priority", FieldValue::Option("Low".into()))]).await?;
    s.ado.faults().fail_next(1000, 403);
    s.ferry(&["run", "--once", "--integration", &id], jt, ap).await;
    s.ferry(&["run", "--once", "--log-json", "--integration", &id], jt, ap).await;
    s.ado.faults().fail_next(0, 403);

    // The wrong token during a sync cycle.
    alice.update(&bug.id, vec![("summary", text("Polled with a wrong token"))]).await?;
    s.ferry(&["run", "--once", "--integration", &id], wr, wr).await;
    s.ferry(&["run", "--once", "--log-json", "--integration", &id], jt, wr).await;

    // What an operator looks at afterwards.
    // The 403 left a parked failure: status prints everything and exits 4 (unhealthy).
    s.ferry(&["status"], jt, ap).await;
    assert!(s.last().out.contains("failure(s) parked"), "{}", s.last().out);
    s.ferry(&["status", "--json"], jt, ap).await;
    assert!(s.last().out.contains("\"open_failures\""), "{}", s.last().out);
    assert!(s.ferry(&["failures", "list"], jt, ap).await, "{}", s.last().out);
    assert!(s.ferry(&["failures", "list", "--json"], jt, ap).await, "{}", s.last().out);
    let listed = s.last().out.clone();
    s.ferry(&["failures", "retry", "--all", "--integration", &id, "--run"], jt, wr).await;

    // The failure paths really ran (or the scan below would prove nothing).
    let all: String = s.runs.iter().map(|r| format!("=== ferry {} (ok: {})\n{}\n", r.what, r.ok, r.out)).collect();
    for status in ["401", "403", "429", "500"] {
        // "HTTP 429", not a bare "429" that a port number or an id may contain.
        assert!(
            all.contains(&format!("HTTP {status}")),
            "no run shows an HTTP {status}: the fault did not happen\n{all}"
        );
    }
    assert!(listed.contains("\"failures\""), "{listed}");
    assert!(
        listed.contains("permission") || listed.contains("403"),
        "the 403 must have parked a failure record:\n{listed}"
    );
    // Trace logs see the traffic, so a secret in it would be in reach of the scan.
    let jira_port = s.jira.base_url().rsplit(':').next().unwrap_or_default().trim_end_matches('/').to_string();
    assert!(all.contains(&jira_port), "the logs do not show the Jira traffic at all");
    assert!(all.contains(BOT), "the logs and output must name the (non-secret) integration user");

    if let Some(path) = std::env::var_os("FERRY_E2E_SECURITY_TRANSCRIPT") {
        // For a person checking what the scan covered.
        std::fs::write(path, &all)?;
    }
    let list = needles(&[("jira token", jt), ("ado pat", ap), ("wrong token", wr)]);
    let mut places: Vec<(String, Vec<u8>)> =
        s.runs.iter().map(|r| (format!("output of `ferry {}`", r.what), r.out.clone().into_bytes())).collect();
    if aws_backend() {
        places.extend(dynamo_text().await?);
    } else {
        let store = s.store_bytes()?;
        assert!(
            store.iter().any(|(_, b)| found(b, &[(String::new(), id.clone())]).len() == 1),
            "the store files do not hold the integration"
        );
        places.extend(store);
    }
    let leaks: Vec<String> = places
        .iter()
        .flat_map(|(place, bytes)| found(bytes, &list).into_iter().map(move |l| format!("{l} in {place}")))
        .collect();
    assert!(leaks.is_empty(), "secrets leaked:\n{}\n\nfull output:\n{all}", leaks.join("\n"));
    Ok(())
}

#[tokio::test]
async fn a_host_outside_the_allow_list_is_refused_with_a_clear_error() -> Result<()> {
    let token = random_secret("jira");
    let s = Scene::start(&token, &random_secret("ado")).await?;
    let config = s.config.to_string_lossy().into_owned();
    let jira_sys = format!("{}-jira", s.id);
    let discover = |allowed: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(["discover", &jira_sys, "projects", "--config", &config])
            .env("FERRY_DB", &s.db)
            .env("FERRY_BACKEND", "embedded")
            .env(JIRA_TOKEN_VAR, &token)
            .env("FERRY_LOG", "warn")
            .env("FERRY_ALLOWED_HOSTS", allowed);
        cmd
    };

    let r = run(discover("*.atlassian.net, dev.azure.com")).await;
    assert!(!r.ok, "discovery must be refused");
    assert!(
        r.stderr.contains("host 127.0.0.1 is not in FERRY_ALLOWED_HOSTS (*.atlassian.net, dev.azure.com)"),
        "{}",
        r.stderr
    );
    assert!(s.jira.requests().is_empty(), "a refused host must not be called: {:?}", s.jira.requests());

    let r = run(discover("https://x")).await;
    assert!(!r.ok);
    assert!(r.stderr.contains("FERRY_ALLOWED_HOSTS: entry \"https://x\" is a URL"), "{}", r.stderr);

    // With the simulator's host on the list, discovery goes through.
    let r = run(discover("*.atlassian.net, 127.0.0.1")).await;
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("APP"), "{}", r.stdout);
    assert!(!s.jira.requests().is_empty());
    Ok(())
}
