//! The first steps with a real config: `ferry check` against the live simulators, and
//! `ferry preview` before a run.

use crate::harness::*;
use anyhow::{Context, Result};
use ferry_domain::{FieldValue, Side};

/// A config with one mistake of each kind `ferry check` finds, each on a line whose
/// text holds the marker after it.
fn broken_config(w: &World) -> (String, Vec<(&'static str, &'static str)>) {
    let sys = w.id.as_str();
    let (jira, ado) = (w.jira.base_url(), w.ado.base_url());
    let text = format!(
        "systems:
  - id: {sys}-jira
    kind: jira
    base_url: {jira}
    auth: {{ kind: basic, username: ferry-bot@acme.test, token: {{ env: FERRY_E2E_JIRA_TOKEN }} }}
    integration_user: ferry-bot@acme.test
    allow_http_loopback: true
  - id: {sys}-ado
    kind: azure_devops
    base_url: {ado}
    auth: {{ kind: pat, token: {{ env: FERRY_E2E_ADO_PAT }} }}
    integration_user: ferry-bot@acme.test
    allow_http_loopback: true
  - id: {sys}-locked
    kind: azure_devops
    base_url: {ado}
    auth: {{ kind: pat, token: {{ env: FERRY_E2E_WRONG_PAT }} }}
    integration_user: ferry-bot@acme.test
    allow_http_loopback: true
integrations:
  - id: {sys}-fields
    left: {{ system: {sys}-jira, project: APP, type: Bug }}
    right: {{ system: {sys}-ado, project: App, type: Bug }}
    filters:
      left_to_right: 'nosuchfield = 1'
    remote:
      right_id_field: Custom.NoSuchKey
    fields:
      - {{ left: summary, right: System.Title }}
      - {{ left: customfield_99999, right: System.Description }}
      - {{ left: labels, right: System.CreatedDate }}
      - left: priority
        right: Microsoft.VSTS.Common.Priority
        values: {{ inline: {{ High: 2, Hihg: 1 }} }}
      - left: status
        right: System.State
        type: status
        values: {{ inline: {{ To Do: New, Doing: Active }} }}
  - id: {sys}-project
    left: {{ system: {sys}-jira, project: NOPE, type: Bug }}
    right: {{ system: {sys}-ado, project: App, type: Bug }}
    fields:
      - {{ left: summary, right: System.Title }}
  - id: {sys}-type
    left: {{ system: {sys}-jira, project: APP, type: Bug }}
    right: {{ system: {sys}-ado, project: App, type: Saga }}
    fields:
      - {{ left: summary, right: System.Title }}
  - id: {sys}-locked
    left: {{ system: {sys}-jira, project: APP, type: Bug }}
    right: {{ system: {sys}-locked, project: App, type: Bug }}
    fields:
      - {{ left: summary, right: System.Title }}
"
    );
    let expected = vec![
        ("filter", "left_to_right: 'nosuchfield"),
        ("remote_id_field", "right_id_field: Custom.NoSuchKey"),
        ("unknown_field", "customfield_99999"),
        ("read_only_field", "System.CreatedDate"),
        ("value_not_allowed", "Hihg: 1"),
        ("unknown_status", "Doing: Active"),
        ("project", "project: NOPE"),
        ("entity_type", "type: Saga"),
        ("connection", "right: { system:"),
    ];
    (text, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_finds_each_kind_of_mistake_at_its_file_and_line() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    let (text, expected) = broken_config(&w);
    let file = w.config.with_file_name("broken.yaml");
    std::fs::write(&file, &text)?;
    let path = file.to_str().context("utf-8 path")?;
    let r = w.ferry_env(&["check", path, "--json"], &[("FERRY_E2E_WRONG_PAT", "not-a-pat")]).await;
    assert_eq!(r.code, Some(3), "check exits 3 on findings:\n{}\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).context("check --json prints one object")?;
    let findings = v["findings"].as_array().context("findings")?;
    let lines: Vec<&str> = text.lines().collect();
    for (kind, marker) in expected {
        let found = findings.iter().find(|f| f["kind"] == kind).with_context(|| format!("no {kind} in {v:#}"))?;
        let line = found["line"].as_u64().with_context(|| format!("{kind} has no line: {found}"))? as usize;
        assert_eq!(found["file"].as_str(), Some(path), "{kind}: {found}");
        let at = lines[line - 1];
        // A connection problem is placed at the endpoint that names the system.
        assert!(at.contains(marker), "{kind} placed at line {line} `{at}`, expected the line with `{marker}`");
    }
    let text_run = w.ferry_env(&["check", path], &[("FERRY_E2E_WRONG_PAT", "not-a-pat")]).await;
    let first = text_run.stderr.lines().next().unwrap_or("");
    assert!(first.starts_with(&format!("{path}:")), "FILE:LINE form: {first}");

    let good = w.ferry(&["check", w.config.to_str().context("utf-8")?]).await;
    assert!(good.ok, "the e2e config passes check:\n{}\n{}", good.stdout, good.stderr);
    Ok(())
}

/// `key_string` of a value, for comparing what a preview says with what a system holds.
fn shown(v: &serde_json::Value) -> Option<String> {
    serde_json::from_value::<FieldValue>(v.clone()).ok().and_then(|f| f.key_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_what_the_next_run_writes_and_writes_nothing() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let alice = w.jira_user("alice").await;
    let synced = alice
        .create(vec![("summary", text("Search is slow")), ("priority", FieldValue::Option("Medium".into()))])
        .await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &synced.id).await.context("no twin")?;
    alice
        .update(
            &synced.id,
            vec![("summary", text("Search is very slow")), ("priority", FieldValue::Option("High".into()))],
        )
        .await?;
    let fresh = alice
        .create(vec![("summary", text("Export loses rows")), ("labels", FieldValue::List(vec!["csv".into()]))])
        .await?;

    let (jira_before, ado_before) = (w.jira.requests().len(), w.ado.requests().len());
    let r = w.ferry(&["preview", w.id.as_str(), "--json"]).await;
    assert!(r.ok, "preview failed:\n{}\n{}", r.stdout, r.stderr);
    let writes: Vec<String> = writes_in(&w.jira.requests()[jira_before..])
        .into_iter()
        .chain(writes_in(&w.ado.requests()[ado_before..]))
        .collect();
    assert!(writes.is_empty(), "preview wrote to a system: {writes:?}");
    assert_eq!(w.queue_depth().await, 0, "preview enqueued nothing");
    let v: serde_json::Value = serde_json::from_str(&r.stdout)?;
    let entities = v.as_array().context("a list")?;
    let of = |key: &str| entities.iter().find(|e| e["source"] == key).cloned();
    let update = of(&synced.key).with_context(|| format!("no preview of {}: {v:#}", synced.key))?;
    let create = of(&fresh.key).with_context(|| format!("no preview of {}: {v:#}", fresh.key))?;
    assert_eq!((update["action"].as_str(), create["action"].as_str()), (Some("update"), Some("create")), "{v:#}");
    let updated: Vec<&str> =
        update["fields"].as_array().into_iter().flatten().filter_map(|f| f["field"].as_str()).collect();
    assert_eq!(updated, vec!["System.Title", "Microsoft.VSTS.Common.Priority"], "{update:#}");

    w.sync().await;
    let reader = w.reader(Side::Right).await;
    let item = reader.get(&twin).await?.context("twin")?;
    for f in update["fields"].as_array().into_iter().flatten() {
        let key = f["field"].as_str().context("field")?;
        assert_eq!(field(&item, key).key_string(), shown(&f["to"]), "{key}: the run wrote what the preview showed");
    }
    let created = w.twin(Side::Left, &fresh.id).await.context("the fresh bug was created")?;
    let item = reader.get(&created).await?.context("created twin")?;
    for f in create["fields"].as_array().into_iter().flatten() {
        let key = f["field"].as_str().context("field")?;
        assert_eq!(field(&item, key).key_string(), shown(&f["to"]), "{key}: the create holds what the preview showed");
    }
    let after = w.ferry(&["preview", w.id.as_str(), "--key", &synced.key, "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&after.stdout)?;
    assert!(
        v.as_array().into_iter().flatten().all(|e| e["action"] != "update" && e["action"] != "create"),
        "after the run nothing is left to write for {}: {v:#}",
        synced.key
    );
    Ok(())
}
