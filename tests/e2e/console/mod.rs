//! The web console (`ferry serve`) in a real browser: headless Chromium over WebDriver
//! clicks through the real `ferry` binary's pages against a world's store, and the
//! store shows that each action really happened. Each page is saved as a PNG under
//! target/test-output/console/.

pub(crate) mod webdriver;

use crate::harness::*;
use anyhow::{bail, Context, Result};
use ferry_domain::{ErrorCategory, FieldValue, Side};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use webdriver::Browser;

/// Where the page screenshots go.
pub(crate) fn shots() -> PathBuf {
    repo_root().join("target/test-output/console")
}

/// A running `ferry serve` on a loopback port the OS picked (stopped when dropped).
pub(crate) struct Console {
    child: Child,
    base: String,
}

impl Console {
    /// `ferry serve --listen 127.0.0.1:0 EXTRA...` on the world's store.
    pub(crate) fn start(w: &World, extra: &[&str], envs: &[(&str, &str)]) -> Result<Console> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("FERRY_DB", &w.db)
            .env("FERRY_BACKEND", if aws_backend() { "aws" } else { "embedded" })
            .env(JIRA_TOKEN_VAR, JIRA_BOT_TOKEN)
            .env(ADO_PAT_VAR, ADO_BOT_PAT)
            .env("FERRY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn()?;
        let stderr = child.stderr.take().context("stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let mut console = Console { child, base: String::new() };
        for line in lines.by_ref() {
            let line = line?;
            if let Some(rest) = line.split("console on http://").nth(1) {
                let addr = rest.split('/').next().unwrap_or_default();
                console.base = format!("http://{addr}");
                break;
            }
        }
        if console.base.is_empty() {
            bail!("ferry serve ended without saying where it listens");
        }
        // Keep reading its log so a full pipe never blocks it.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(console)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A world whose one Jira bug was refused by Azure DevOps (priority 5 is out of range)
/// and parked, with the value table fixed since: a retry will write it.
async fn world_with_a_parked_write() -> Result<(World, ferry_domain::EntityId, String)> {
    let bad = Variant { priority_default: None, extra_priority: ", Lowest: 5", ..Variant::default() };
    let w = World::new(bad).await?;
    w.activate().await?;
    let alice = w.jira_user("alice").await;
    let bug = alice
        .create(vec![("summary", text("Rejected by ADO")), ("priority", FieldValue::Option("Lowest".into()))])
        .await?;
    let synced = alice.create(vec![("summary", text("Synced fine"))]).await?;
    w.sync().await;
    assert!(w.twin(Side::Left, &synced.id).await.is_some());
    let failures = w.engine.state().list_failures(Some(&w.id)).await?;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].category, ErrorCategory::InvalidRequest);
    w.reconfigure(&Variant { priority_default: None, extra_priority: ", Lowest: 4", ..Variant::default() }).await?;
    let id = failures[0].id.clone();
    Ok((w, bug.id, id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_clicked_on_a_parked_failure_removes_it_and_the_replay_writes_the_item() -> Result<()> {
    let (w, bug, failure) = world_with_a_parked_write().await?;
    let console = Console::start(&w, &[], &[])?;
    let browser = Browser::start().await?;

    browser.goto(&console.url("/")).await?;
    let row = browser.text(&format!("#integration-{}", w.id)).await?;
    assert!(row.contains("active"), "{row}");
    browser.screenshot(&shots().join("integrations.png")).await?;

    browser.goto(&console.url(&format!("/failures/{failure}"))).await?;
    let input = browser.text("#input").await?;
    let output = browser.text("#output").await?;
    assert!(input.contains("Lowest"), "the input snapshot shows the source value: {input}");
    assert!(output.contains("Microsoft.VSTS.Common.Priority") && output.contains('5'), "the mapping output: {output}");
    browser.screenshot(&shots().join("failure.png")).await?;

    browser.goto(&console.url("/failures")).await?;
    assert_eq!(browser.all(&format!("#failure-{failure}")).await?.len(), 1, "listed before the retry");
    browser.screenshot(&shots().join("failures.png")).await?;
    browser.click(&format!("#retry-{failure}")).await?;
    browser.wait_text("#note", "queued again").await?;
    assert!(browser.all(&format!("#failure-{failure}")).await?.is_empty(), "gone from the page after Retry");
    assert!(w.engine.state().get_failure(&failure).await?.is_none(), "gone from the store");

    // The replay really went back into the pipeline: the next sync writes it.
    w.sync().await;
    let twin = w.twin(Side::Left, &bug).await.context("written after the retry")?;
    let item = w.reader(Side::Right).await.get(&twin).await?.context("item")?;
    assert_eq!(field(&item, "Microsoft.VSTS.Common.Priority"), FieldValue::Number(4.0));
    assert!(w.engine.state().list_failures(Some(&w.id)).await?.is_empty());
    browser.quit().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discard_clicked_drops_the_failure_for_good() -> Result<()> {
    let (w, bug, failure) = world_with_a_parked_write().await?;
    let console = Console::start(&w, &[], &[])?;
    let browser = Browser::start().await?;
    browser.goto(&console.url(&format!("/failures?integration={}", w.id))).await?;
    browser.click(&format!("#discard-{failure}")).await?;
    browser.wait_text("#note", "discarded").await?;
    assert!(browser.all(&format!("#failure-{failure}")).await?.is_empty());
    assert!(w.engine.state().get_failure(&failure).await?.is_none());
    w.sync().await;
    assert!(w.twin(Side::Left, &bug).await.is_none(), "a discarded change is not written");
    browser.quit().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivate_and_activate_buttons_switch_the_integration() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let console = Console::start(&w, &[], &[])?;
    let browser = Browser::start().await?;
    browser.goto(&console.url("/")).await?;
    browser.click(&format!("#deactivate-{}", w.id)).await?;
    browser.wait_text("#note", "deactivated").await?;
    let record = w.engine.config_store().get_integration(&w.id).await?.context("record")?;
    assert!(!record.active, "inactive in the store");
    assert!(browser.text(&format!("#integration-{}", w.id)).await?.contains("inactive"));

    browser.click(&format!("#activate-{}", w.id)).await?;
    browser.wait_text("#note", &format!("{} activated (", w.id)).await?;
    let record = w.engine.config_store().get_integration(&w.id).await?.context("record")?;
    assert!(record.active, "active again in the store");
    browser.screenshot(&shots().join("integrations-activated.png")).await?;
    browser.quit().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_timeline_shows_its_polls_transforms_writes_and_echoes() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let bug = w.jira_user("alice").await.create(vec![("summary", text("Timeline of a bug"))]).await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("synced")?;
    w.ado_user("bob").await.update(&twin, vec![("System.Title", text("Timeline of a bug (edited in ADO)"))]).await?;
    w.sync().await;
    w.sync().await;

    let console = Console::start(&w, &[], &[])?;
    let browser = Browser::start().await?;
    browser.goto(&console.url("/")).await?;
    browser.type_into("input[name=integration]", w.id.as_str()).await?;
    browser.type_into("input[name=entity]", bug.id.as_str()).await?;
    browser.click("form[action='/timeline'] button").await?;
    let table = browser.text("#timeline").await?;
    for step in ["polled", "transformed", "written"] {
        assert!(!browser.all(&format!("tr.step-{step}")).await?.is_empty(), "no {step} step:\n{table}");
    }
    assert!(table.contains("left → right") && table.contains("right → left"), "both directions:\n{table}");
    assert!(!browser.all("tr.step-echo_dropped").await?.is_empty(), "Ferry's write read back is an echo:\n{table}");
    browser.screenshot(&shots().join("timeline.png")).await?;
    browser.quit().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_needs_a_token_off_loopback_and_then_for_every_request() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    // Any address but a loopback one is refused without a token, before listening.
    let refused = w.ferry(&["serve", "--listen", "0.0.0.0:0"]).await;
    assert!(!refused.ok, "{}", refused.stdout);
    assert!(refused.stderr.contains("--token-from-env"), "{}", refused.stderr);
    let unset = w.ferry(&["serve", "--listen", "0.0.0.0:0", "--token-from-env", "FERRY_NO_SUCH_VAR"]).await;
    assert!(!unset.ok && unset.stderr.contains("FERRY_NO_SUCH_VAR"), "{}", unset.stderr);

    let token = "console-e2e-token";
    let console = Console::start(&w, &["--token-from-env", "FERRY_CONSOLE_TOKEN"], &[("FERRY_CONSOLE_TOKEN", token)])?;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let anonymous = http.get(console.url("/failures")).send().await?;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/login");
    let scripted = http.get(console.url("/failures")).bearer_auth(token).send().await?;
    assert_eq!(scripted.status(), 200);
    let forged =
        http.post(console.url(&format!("/integrations/{}/deactivate", w.id))).form(&[("csrf", "x")]).send().await?;
    assert_eq!(forged.status(), 403, "an action from no page of the console is refused");

    let browser = Browser::start().await?;
    browser.goto(&console.url("/")).await?;
    assert!(browser.url().await?.ends_with("/login"), "{}", browser.url().await?);
    browser.screenshot(&shots().join("login.png")).await?;
    browser.type_into("#token", "wrong").await?;
    browser.click("#login").await?;
    browser.wait_text("#note", "not the console's token").await?;
    browser.type_into("#token", token).await?;
    browser.click("#login").await?;
    browser.wait_text(&format!("#integration-{}", w.id), "active").await?;
    let record = w.engine.config_store().get_integration(&w.id).await?.context("record")?;
    assert!(record.active, "nothing was changed by the refused requests");
    browser.quit().await;
    Ok(())
}

/// Downloads a file the console offers (the link's `href`) into `dir`, checking that it
/// comes as an attachment of that name.
async fn download(browser: &Browser, link: &str, dir: &std::path::Path) -> Result<PathBuf> {
    let href = browser.property(link, "href").await?;
    let reply = reqwest::get(&href).await?;
    anyhow::ensure!(reply.status().is_success(), "{href}: HTTP {}", reply.status());
    let disposition = reply.headers()["content-disposition"].to_str()?.to_string();
    let name = href.rsplit('/').next().context("a file name")?.to_string();
    assert_eq!(disposition, format!("attachment; filename=\"{name}\""), "{href}");
    let path = dir.join(&name);
    std::fs::write(&path, reply.bytes().await?)?;
    Ok(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_integration_flow_walks_from_the_systems_to_a_yaml_that_validate_accepts() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    // The systems are applied to the store (the flow offers those).
    w.engine.apply(&w.systems, &[], true, chrono::Utc::now()).await?;
    // Azure DevOps names its people through work items: Bob has made one.
    w.ado_user("bob").await.create(vec![("System.Title", text("Bob was here"))]).await?;
    let console = Console::start(&w, &[], &[])?;
    let browser = Browser::start().await?;
    let shot = |name: &str| shots().join(format!("new-integration-{name}.png"));

    browser.goto(&console.url("/")).await?;
    browser.click("header a[href='/new']").await?;
    browser.click(&format!("#left option[value='{}']", w.systems[0].id)).await?;
    browser.click(&format!("#right option[value='{}']", w.systems[1].id)).await?;
    browser.type_into("#id", "from-console").await?;
    browser.screenshot(&shot("1-systems")).await?;
    browser.click("#next").await?;
    browser.wait_text("h1", "projects").await?;
    browser.click("#left_project option[value='APP']").await?;
    browser.click("#right_project option[value='App']").await?;
    browser.screenshot(&shot("2-projects")).await?;
    browser.click("#next").await?;
    browser.wait_text("h1", "entity types").await?;
    browser.click("#left_type option[value='Bug']").await?;
    browser.click("#right_type option[value='Bug']").await?;
    browser.screenshot(&shot("3-types")).await?;
    browser.click("#next").await?;

    // init's proposal: the fields and value maps, and the gaps left to a person.
    browser.wait_text("h1", "fields and values").await?;
    let fields = browser.text("#fields").await?;
    assert!(fields.contains("summary") && fields.contains("System.Title"), "{fields}");
    assert!(fields.contains("Critical → 1 - Critical"), "a value map: {fields}");
    let gaps = browser.text("#gaps").await?;
    assert!(gaps.contains("remote_id") && gaps.contains("Alice Jones"), "{gaps}");
    let proposed = browser.property("#yaml", "value").await?;
    assert!(proposed.contains("id: \"from-console\"") && proposed.contains("# GAP:"), "{proposed}");
    browser.screenshot(&shot("4-fields")).await?;

    // An edit the live system refuses: check finds it at its line of the file.
    let broken = proposed.replacen("\"System.Title\"", "\"System.Titel\"", 1);
    let line = broken.lines().position(|l| l.contains("System.Titel")).context("edited line")? + 1;
    browser.clear("#yaml").await?;
    browser.type_into("#yaml", &broken).await?;
    browser.click("#check").await?;
    let findings = browser.wait_text("#findings", "System.Titel").await?;
    assert!(findings.contains(&format!("from-console.yaml:{line}:")), "at FILE:LINE: {findings}");
    browser.screenshot(&shot("5-check-findings")).await?;

    browser.clear("#yaml").await?;
    browser.type_into("#yaml", &proposed).await?;
    browser.click("#check").await?;
    browser.find("#no-findings").await?;
    browser.screenshot(&shot("5-check")).await?;
    browser.click("#activate").await?;
    browser.click("#save").await?;
    browser.wait_text("#outcome", "activated").await?;
    browser.screenshot(&shot("6-save")).await?;
    let id = ferry_domain::IntegrationId::parse("from-console")?;
    let record = w.engine.config_store().get_integration(&id).await?.context("applied to the store")?;
    assert!(record.active, "activated");

    // The files as downloaded: the YAML (with its status table) is what validate accepts.
    let dir = w.config.with_file_name("from-console");
    std::fs::create_dir_all(&dir)?;
    let yaml = download(&browser, "#download-yaml", &dir).await?;
    download(&browser, "#download-status", &dir).await?;
    assert_eq!(std::fs::read_to_string(&yaml)?, proposed, "the YAML as checked, line ends and all");
    let systems = w.config.to_str().context("utf-8 path")?;
    let valid = w.ferry(&["validate", systems, yaml.to_str().context("utf-8 path")?]).await;
    assert!(valid.ok, "validate accepts the downloaded YAML:\n{}\n{}", valid.stdout, valid.stderr);
    browser.quit().await;
    Ok(())
}
