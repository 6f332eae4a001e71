//! Webhooks trigger the poll: `ferry run --listen` receives the simulators' signed Jira
//! admin webhooks and Azure DevOps service hooks, registered over their APIs as an
//! operator would. With a 10-minute poll interval, a change lands in seconds only
//! because of its webhook; refused deliveries are counted and `ferry status` shows
//! them; with every delivery lost, polling alone still syncs everything.

use crate::harness::*;
use anyhow::{bail, Context, Result};
use base64::Engine as _;
use chrono::Utc;
use ferry_domain::webhook::verify::jira_signature;
use ferry_domain::{EntityId, Flow, Side};
use ferry_sim::DeliveryFault;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const JIRA_SECRET_VAR: &str = "FERRY_E2E_JIRA_HOOK_SECRET";
const ADO_PASSWORD_VAR: &str = "FERRY_E2E_ADO_HOOK_PASSWORD";
const ADO_HEADER_VAR: &str = "FERRY_E2E_ADO_HOOK_HEADER";
const JIRA_SECRET: &str = "jira-hook-secret-e2e";
const ADO_PASSWORD: &str = "ado-hook-password-e2e";
const ADO_HEADER: &str = "ado-hook-header-e2e";

/// The world's config with `webhook:` on both systems and `poll_interval`, applied and
/// activated.
async fn world_with_hooks(poll_interval: &str) -> Result<World> {
    let w = World::new(Variant::default()).await?;
    let text = std::fs::read_to_string(&w.config)?;
    let mut systems = text.splitn(2, "allow_http_loopback: true\n");
    let (jira_part, rest) = (systems.next().context("jira system")?, systems.next().context("ado system")?);
    let text = format!(
        "{jira_part}allow_http_loopback: true\n    webhook: {{ secret: {{ env: {JIRA_SECRET_VAR} }} }}\n{}",
        rest.replacen(
            "allow_http_loopback: true\n",
            &format!(
                "allow_http_loopback: true\n    webhook:\n      basic: {{ username: ferry, password: {{ env: {ADO_PASSWORD_VAR} }} }}\n      header: {{ name: X-Ferry-Hook, value: {{ env: {ADO_HEADER_VAR} }} }}\n"
            ),
            1,
        )
        .replacen("poll_interval: 10s", &format!("poll_interval: {poll_interval}"), 1)
    );
    std::fs::write(&w.config, text)?;
    let set = ferry_testsupport::config::load(&w.config)?;
    assert!(set.systems.iter().all(|s| s.webhook.is_some()), "both systems have webhook:");
    w.engine.apply(&set.systems, &set.integrations, true, Utc::now()).await?;
    w.engine.activate(&w.id, Utc::now()).await?;
    Ok(w)
}

fn system_id(w: &World, side: Side) -> String {
    w.integration.endpoint(side).system.to_string()
}

/// Where the webhooks go: on the embedded backend a running `ferry run --listen
/// 127.0.0.1:0` on the world's store; on the AWS backend the real hook function's
/// handler behind a stand-in for its function URL ([`crate::hook_function`]), beside a
/// `ferry run` that polls on schedule and drains the queues. Stopped when dropped.
struct Listener {
    child: Child,
    base: String,
    function: Option<tokio::task::JoinHandle<()>>,
}

impl Listener {
    async fn start(w: &World, with_secrets: bool) -> Result<Listener> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        // This world's integration only: on the AWS backend the tables also hold the
        // integrations of the worlds before it, whose simulators are gone.
        cmd.args(["run", "--integration", w.id.as_str()]);
        if !aws_backend() {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.envs(w.backend_env())
            .env("FERRY_DB", &w.db)
            .env("FERRY_BACKEND", if aws_backend() { "aws" } else { "embedded" })
            .env(JIRA_TOKEN_VAR, JIRA_BOT_TOKEN)
            .env(ADO_PAT_VAR, ADO_BOT_PAT)
            .env("FERRY_LOG", "warn")
            .env_remove(JIRA_SECRET_VAR)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if with_secrets {
            cmd.env(JIRA_SECRET_VAR, JIRA_SECRET).env(ADO_PASSWORD_VAR, ADO_PASSWORD).env(ADO_HEADER_VAR, ADO_HEADER);
        }
        let mut child = cmd.spawn()?;
        let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
        let mut listener = Listener { child, base: String::new(), function: None };
        let mut running = false;
        for line in lines.by_ref() {
            let line = line?;
            if let Some(rest) = line.split("webhooks on http://").nth(1) {
                listener.base = format!("http://{}", rest.split('/').next().unwrap_or_default());
                break;
            }
            if aws_backend() && line.contains("ferry: running") {
                running = true;
                break;
            }
        }
        if aws_backend() && running {
            let (base, task) = crate::hook_function::serve(w.engine.clone(), hook_secrets(with_secrets)).await?;
            listener.base = base;
            listener.function = Some(task);
        }
        if listener.base.is_empty() {
            bail!("ferry run ended without saying it runs (and, embedded, where it listens)");
        }
        std::thread::spawn(move || lines.for_each(drop));
        Ok(listener)
    }

    fn hook(&self, system: &str) -> String {
        format!("{}/hooks/{system}", self.base)
    }

    /// Posts a delivery; answers the status and the outcome the listener named.
    async fn post(&self, system: &str, headers: &[(&str, String)], body: &str) -> Result<(u16, String)> {
        let mut req = reqwest::Client::new().post(self.hook(system)).body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await?;
        Ok((status, body["outcome"].as_str().unwrap_or_default().to_string()))
    }
}

/// The hook function's secrets on the AWS backend: the webhook blocks' references, as
/// SSM or Secrets Manager would hold them, or (`false`) none of them resolvable.
fn hook_secrets(with_secrets: bool) -> std::sync::Arc<dyn ferry_runtime::SecretSource> {
    use ferry_domain::SecretRef;
    let mut secrets = ferry_runtime::StaticSecrets::new(ferry_runtime::EnvSecrets);
    if with_secrets {
        for (var, value) in
            [(JIRA_SECRET_VAR, JIRA_SECRET), (ADO_PASSWORD_VAR, ADO_PASSWORD), (ADO_HEADER_VAR, ADO_HEADER)]
        {
            secrets = secrets.with(SecretRef::Env(var.into()), value);
        }
    }
    std::sync::Arc::new(secrets)
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(function) = self.function.take() {
            function.abort();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Registers a Jira admin webhook and Azure DevOps service hooks (created, updated)
/// that deliver to `listener`, as `ferry activate` or an operator does.
async fn subscribe(w: &World, listener: &Listener) -> Result<()> {
    let http = reqwest::Client::new();
    let jira = json!({
        "name": "ferry", "url": listener.hook(&system_id(w, Side::Left)),
        "events": ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted", "comment_created"],
        "filters": {"issue-related-events-section": "project = APP"},
        "secret": JIRA_SECRET,
    });
    let r = http
        .post(format!("{}/rest/webhooks/1.0/webhook", w.jira.base_url()))
        .basic_auth("ferry-bot@acme.test", Some(JIRA_BOT_TOKEN))
        .json(&jira)
        .send()
        .await?;
    anyhow::ensure!(r.status().as_u16() == 201, "jira webhook: {}", r.text().await?);
    for event in ["workitem.created", "workitem.updated"] {
        let ado = json!({
            "publisherId": "tfs", "eventType": event, "resourceVersion": "1.0",
            "consumerId": "webHooks", "consumerActionId": "httpRequest",
            "consumerInputs": {
                "url": listener.hook(&system_id(w, Side::Right)),
                "basicAuthUsername": "ferry", "basicAuthPassword": ADO_PASSWORD,
                "httpHeaders": format!("X-Ferry-Hook:{ADO_HEADER}"),
            },
        });
        let r = http
            .post(format!("{}/_apis/hooks/subscriptions?api-version=7.1", w.ado.base_url()))
            .basic_auth("", Some(ADO_BOT_PAT))
            .json(&ado)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "ado subscription: {}", r.text().await?);
    }
    Ok(())
}

/// Waits until both directions have been polled once (the loop's first tick).
async fn first_polls_done(w: &World) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let mut done = true;
        for flow in [Flow::LeftToRight, Flow::RightToLeft] {
            done &= w.engine.state().get_watermark(&w.id, flow).await?.is_some_and(|m| m.last_poll.is_some());
        }
        if done {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the loop never polled both directions")
}

/// How long until `side`'s entity has a linked twin, waiting at most `limit`.
async fn twin_within(w: &World, side: Side, id: &EntityId, limit: Duration) -> Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if w.twin(side, id).await.is_some() {
            return Ok(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("no twin of {id} after {limit:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_from_each_system_lands_its_change_within_seconds_and_refusals_are_counted() -> Result<()> {
    let w = world_with_hooks("10m").await?;
    let listener = Listener::start(&w, true).await?;
    first_polls_done(&w).await?;
    subscribe(&w, &listener).await?;

    // With a 10-minute interval, only the webhooks can bring these over in seconds.
    let bug = w.jira_user("alice").await.create(vec![("summary", text("Pushed from Jira"))]).await?;
    let took = twin_within(&w, Side::Left, &bug.id, Duration::from_secs(10)).await?;
    eprintln!("jira -> ado through the webhook: {took:?}");
    let item = w.ado_user("bob").await.create(vec![("System.Title", text("Pushed from Azure DevOps"))]).await?;
    let took = twin_within(&w, Side::Right, &item.id, Duration::from_secs(10)).await?;
    eprintln!("ado -> jira through the service hook: {took:?}");
    let delivered = |sent: Vec<ferry_sim::Sent>| sent.iter().filter(|s| s.status == Some(200)).count();
    assert!(delivered(w.jira.webhooks().sent()) >= 1 && delivered(w.ado.service_hooks().sent()) >= 1);

    // Deliveries not proven authentic, or seen before, are refused and counted.
    let jira_sys = system_id(&w, Side::Left);
    let body =
        json!({"webhookEvent": "jira:issue_updated", "issue": {"key": bug.key, "fields": {"project": {"key": "APP"}}}})
            .to_string();
    let signed = |id: &str, secret: &str| {
        vec![
            ("X-Atlassian-Webhook-Identifier", id.to_string()),
            ("X-Hub-Signature", jira_signature(secret.as_bytes(), body.as_bytes())),
        ]
    };
    assert_eq!(listener.post(&jira_sys, &signed("e2e-1", "guessed"), &body).await?, (401, "bad_signature".into()));
    assert_eq!(listener.post(&jira_sys, &signed("e2e-2", JIRA_SECRET), &body).await?, (200, "accepted".into()));
    assert_eq!(listener.post(&jira_sys, &signed("e2e-2", JIRA_SECRET), &body).await?, (200, "replay".into()));
    let ado_sys = system_id(&w, Side::Right);
    let wrong = base64::engine::general_purpose::STANDARD.encode("ferry:guessed");
    let ado_body = json!({"subscriptionId": "s", "notificationId": 1, "eventType": "workitem.updated",
        "resource": {"revision": {"fields": {"System.TeamProject": "App"}}}})
    .to_string();
    let forged = [("Authorization", format!("Basic {wrong}")), ("X-Ferry-Hook", ADO_HEADER.to_string())];
    assert_eq!(listener.post(&ado_sys, &forged, &ado_body).await?, (401, "bad_signature".into()));
    drop(listener);

    // The same deliveries to a listener whose environment lacks the secret.
    let bare = Listener::start(&w, false).await?;
    assert_eq!(bare.post(&jira_sys, &signed("e2e-3", JIRA_SECRET), &body).await?, (401, "missing_secret".into()));
    drop(bare);

    let status = w.ferry(&["status"]).await;
    let line = |sys: &str| status.stdout.lines().find(|l| l.starts_with(&format!("hook {sys}:"))).map(str::to_string);
    let jira_line = line(&jira_sys).with_context(|| format!("no hook line for {jira_sys}:\n{}", status.stdout))?;
    assert!(!jira_line.contains("last delivery -"), "{jira_line}");
    assert!(
        jira_line.contains("rejected bad_signature 1, missing_secret 1, replay 1"),
        "each refusal counted by reason: {jira_line}"
    );
    let ado_line = line(&ado_sys).context("no hook line for the ADO system")?;
    assert!(ado_line.contains("rejected bad_signature 1"), "{ado_line}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_delivery_lost_polling_alone_still_syncs_everything() -> Result<()> {
    let w = world_with_hooks("10s").await?;
    let listener = Listener::start(&w, true).await?;
    first_polls_done(&w).await?;
    subscribe(&w, &listener).await?;
    w.jira.webhooks().set_fault(DeliveryFault::Lost);
    w.ado.service_hooks().set_fault(DeliveryFault::Lost);

    let bug = w.jira_user("alice").await.create(vec![("summary", text("Never pushed, Jira"))]).await?;
    let item = w.ado_user("bob").await.create(vec![("System.Title", text("Never pushed, ADO"))]).await?;
    twin_within(&w, Side::Left, &bug.id, Duration::from_secs(40)).await?;
    twin_within(&w, Side::Right, &item.id, Duration::from_secs(40)).await?;

    let sent: Vec<_> = w.jira.webhooks().sent().into_iter().chain(w.ado.service_hooks().sent()).collect();
    assert!(!sent.is_empty() && sent.iter().all(|s| s.status.is_none()), "every delivery was lost: {sent:?}");
    // This world's hooks (the AWS backend's tables are shared with other worlds).
    let ours = [system_id(&w, Side::Left), system_id(&w, Side::Right)];
    let hooks: Vec<_> = w.engine.hook_status().await?.into_iter().filter(|h| ours.contains(&h.system)).collect();
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    assert!(hooks.iter().all(|h| h.accepted == 0), "nothing reached Ferry: {hooks:?}");
    drop(listener);
    Ok(())
}

/// The hook secrets in the environment of a `ferry` command (activate resolves them
/// from the `webhook:` references to hand them to the systems).
fn hook_env() -> [(&'static str, &'static str); 3] {
    [(JIRA_SECRET_VAR, JIRA_SECRET), (ADO_PASSWORD_VAR, ADO_PASSWORD), (ADO_HEADER_VAR, ADO_HEADER)]
}

/// The subscriptions the simulators hold that deliver to `listener`, as each lists
/// them over its API to an administrator (Alice stays one throughout): (Jira
/// webhooks' event lists, ADO subscriptions' event types).
async fn registered_at(w: &World, listener: &Listener) -> Result<(Vec<Vec<String>>, Vec<String>)> {
    let http = reqwest::Client::new();
    let jira: Vec<Value> = http
        .get(format!("{}/rest/webhooks/1.0/webhook", w.jira.base_url()))
        .basic_auth("alice@acme.test", Some("jira-alice-token"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let ado: Value = http
        .get(format!("{}/_apis/hooks/subscriptions?api-version=7.1", w.ado.base_url()))
        .basic_auth("", Some(ADO_BOT_PAT))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let ours = |url: &Value| url.as_str().is_some_and(|u| u.starts_with(&listener.base));
    let jira = jira
        .iter()
        .filter(|h| ours(&h["url"]))
        .map(|h| h["events"].as_array().into_iter().flatten().filter_map(|e| e.as_str().map(str::to_string)).collect())
        .collect();
    let mut ado: Vec<String> = ado["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| ours(&s["consumerInputs"]["url"]))
        .filter_map(|s| s["eventType"].as_str().map(str::to_string))
        .collect();
    ado.sort();
    Ok((jira, ado))
}

/// `ferry activate --hooks-url … --json`: the document, after checking it ran.
async fn activate_with_hooks(w: &World, listener: &Listener) -> Result<Value> {
    let ran = w.ferry_env(&["activate", w.id.as_str(), "--hooks-url", &listener.base, "--json"], &hook_env()).await;
    anyhow::ensure!(ran.ok, "ferry activate failed:\n{}\n{}", ran.stdout, ran.stderr);
    for secret in [JIRA_SECRET, ADO_PASSWORD, ADO_HEADER] {
        anyhow::ensure!(!ran.stdout.contains(secret) && !ran.stderr.contains(secret), "a secret was printed");
    }
    Ok(serde_json::from_str(&ran.stdout)?)
}

fn hook_entry<'a>(doc: &'a Value, system: &str) -> Result<&'a Value> {
    doc["hooks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| h["system"] == system)
        .with_context(|| format!("no hooks entry for {system}: {doc:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_registers_each_systems_subscriptions_once_they_deliver_a_persons_edit_and_deactivate_removes_them(
) -> Result<()> {
    let w = world_with_hooks("10m").await?;
    let listener = Listener::start(&w, true).await?;
    first_polls_done(&w).await?;
    let (jira_sys, ado_sys) = (system_id(&w, Side::Left), system_id(&w, Side::Right));

    let doc = activate_with_hooks(&w, &listener).await?;
    let jira = hook_entry(&doc, &jira_sys)?;
    assert_eq!((jira["status"].as_str(), jira["created"].as_u64()), (Some("registered"), Some(1)), "{doc:#}");
    assert_eq!(jira["url"], format!("{}/hooks/{jira_sys}", listener.base));
    let ado = hook_entry(&doc, &ado_sys)?;
    assert_eq!((ado["status"].as_str(), ado["created"].as_u64()), (Some("registered"), Some(4)), "{doc:#}");
    let (jira_hooks, ado_hooks) = registered_at(&w, &listener).await?;
    assert_eq!(jira_hooks.len(), 1, "one Jira webhook: {jira_hooks:?}");
    assert!(jira_hooks[0].iter().any(|e| e == "jira:issue_updated") && jira_hooks[0].len() == 6, "{jira_hooks:?}");
    let every_ado_event = ["workitem.commented", "workitem.created", "workitem.deleted", "workitem.updated"];
    assert_eq!(ado_hooks, every_ado_event, "one ADO subscription per event type");

    // A person's edits reach Ferry only through the registered subscriptions (the
    // poll interval is 10 minutes and nothing else subscribed).
    let bug = w.jira_user("alice").await.create(vec![("summary", text("Registered by activate"))]).await?;
    let took = twin_within(&w, Side::Left, &bug.id, Duration::from_secs(10)).await?;
    eprintln!("jira -> ado through the registered webhook: {took:?}");
    let item = w.ado_user("bob").await.create(vec![("System.Title", text("Subscribed by activate"))]).await?;
    twin_within(&w, Side::Right, &item.id, Duration::from_secs(10)).await?;

    // Activating again keeps what is there: still one subscription per event set.
    let again = activate_with_hooks(&w, &listener).await?;
    for (sys, kept) in [(&jira_sys, 1), (&ado_sys, 4)] {
        let e = hook_entry(&again, sys)?;
        assert_eq!((e["created"].as_u64(), e["kept"].as_u64()), (Some(0), Some(kept)), "{again:#}");
    }
    assert_eq!(registered_at(&w, &listener).await?, (jira_hooks, ado_hooks.clone()), "nothing registered twice");
    assert_eq!(w.engine.state().hook_subscriptions(&w.id).await?.len(), 5, "the ids are recorded in the store");

    let ran = w.ferry(&["deactivate", w.id.as_str()]).await;
    assert!(ran.ok, "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains(&format!("hooks {ado_sys}: removed 4 subscription(s)")), "{}", ran.stdout);
    assert_eq!(registered_at(&w, &listener).await?, (vec![], vec![]), "deactivate removed them at both systems");
    assert!(w.engine.state().hook_subscriptions(&w.id).await?.is_empty(), "and forgot them");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jira_user_without_admin_rights_gets_the_manual_steps_and_the_sync_stays_active() -> Result<()> {
    let w = world_with_hooks("10s").await?;
    w.jira.set_administrators(&["alice@acme.test"]);
    let listener = Listener::start(&w, true).await?;
    let (jira_sys, ado_sys) = (system_id(&w, Side::Left), system_id(&w, Side::Right));

    let doc = activate_with_hooks(&w, &listener).await?;
    let jira = hook_entry(&doc, &jira_sys)?;
    assert_eq!(jira["status"], "manual", "{doc:#}");
    let steps =
        jira["steps"].as_array().context("steps")?.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n");
    for want in [
        format!("{}/plugins/servlet/webhooks", w.jira.base_url()),
        format!("URL: {}/hooks/{jira_sys}", listener.base),
        "JQL filter: project = APP".to_string(),
        format!("env:{JIRA_SECRET_VAR}"),
        "jira:issue_updated".to_string(),
    ] {
        assert!(steps.contains(&want), "the steps name {want:?}:\n{steps}");
    }
    assert_eq!(hook_entry(&doc, &ado_sys)?["status"], "registered", "Azure DevOps allowed it: {doc:#}");
    let (jira_hooks, _) = registered_at(&w, &listener).await?;
    assert!(jira_hooks.is_empty(), "nothing registered at Jira: {jira_hooks:?}");

    // The text form prints the same steps; the sync is active and polling brings a change.
    let ran = w.ferry_env(&["activate", w.id.as_str(), "--hooks-url", &listener.base], &hook_env()).await;
    assert!(ran.ok, "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains(&format!("hooks {jira_sys}: not registered")), "{}", ran.stdout);
    assert!(ran.stdout.contains("JQL filter: project = APP") && !ran.stdout.contains(JIRA_SECRET), "{}", ran.stdout);
    let record = w.engine.config_store().get_integration(&w.id).await?.context("integration")?;
    assert!(record.active, "the sync is active");
    let bug = w.jira_user("alice").await.create(vec![("summary", text("Polled, not pushed"))]).await?;
    twin_within(&w, Side::Left, &bug.id, Duration::from_secs(40)).await?;
    drop(listener);
    let ran = w.ferry(&["deactivate", w.id.as_str()]).await;
    assert!(ran.ok && ran.stdout.contains(&format!("hooks {ado_sys}: removed 4")), "{}", ran.stdout);
    Ok(())
}
