//! The first steps with a real config: `ferry check` against the live simulators, and
//! `ferry preview` before a run.

use crate::harness::*;
use anyhow::{Context, Result};
use ferry_domain::{EntityId, FieldValue, IntegrationId, Side};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_proposes_an_integration_that_validate_and_check_accept() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    // Azure DevOps names its people through work items: Bob has made one.
    w.ado_user("bob").await.create(vec![("System.Title", text("Bob was here"))]).await?;
    let systems = w.config.to_str().context("utf-8 path")?;
    let out = w.config.with_file_name("proposed");
    let out_dir = out.to_str().context("utf-8 path")?;
    let (jira, ado) = (format!("{}:APP:Bug", w.systems[0].id), format!("{}:App:Bug", w.systems[1].id));
    let args = ["init", "--config", systems, "--left", &jira, "--right", &ado, "--id", "proposed", "--out", out_dir];
    let r = w.ferry(&[&args[..], &["--json"]].concat()).await;
    assert!(r.ok, "init failed:\n{}\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).context("init --json prints one object")?;
    let yaml = std::fs::read_to_string(out.join("proposed.yaml"))?;
    for mapped in [
        r#"{ left: "summary", right: "System.Title" }"#,
        r#"{ left: "description", right: "System.Description", type: rich_text }"#,
    ] {
        assert!(yaml.contains(mapped), "{mapped} is proposed:\n{yaml}");
    }
    assert!(yaml.contains("# GAP: left user without a match: Alice Jones <alice@acme.test>"), "{yaml}");
    assert!(!yaml.contains("Bob Smith"), "Bob has the same e-mail on both sides:\n{yaml}");
    // Severity `Critical` is Azure DevOps' `1 - Critical`; the others are gaps.
    assert!(yaml.contains(r#"inline: { "Critical": "1 - Critical" }"#), "{yaml}");
    let status = std::fs::read_to_string(out.join("proposed-status.csv"))?;
    assert!(status.starts_with("left,right,left_gap,right_gap\n"), "{status}");
    let gaps: Vec<&str> =
        v["proposal"]["gaps"].as_array().into_iter().flatten().filter_map(|g| g["kind"].as_str()).collect();
    assert!(gaps.contains(&"remote_id"), "{v:#}");
    let gap_lines = yaml.lines().filter(|l| l.contains("GAP:")).count();
    assert!(gap_lines >= gaps.len(), "each gap is marked in the file:\n{yaml}");

    let proposed = out.join("proposed.yaml");
    let proposed = proposed.to_str().context("utf-8 path")?;
    let valid = w.ferry(&["validate", systems, proposed]).await;
    assert!(valid.ok, "validate accepts the proposal:\n{}\n{}\n{yaml}", valid.stdout, valid.stderr);
    let checked = w.ferry(&["check", systems, proposed]).await;
    assert!(checked.ok, "check accepts the proposal:\n{}\n{}\n{yaml}", checked.stdout, checked.stderr);

    let again = w.ferry(&args).await;
    assert_eq!(again.code, Some(1), "an existing file is not replaced without --force: {}", again.stderr);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    let wrong = ["init", "--config", systems, "--left", &format!("{}:NOPE:Bug", w.systems[0].id), "--right", &ado];
    let wrong = w.ferry(&wrong).await;
    assert!(!wrong.ok && wrong.stderr.contains("no project \"NOPE\""), "{}", wrong.stderr);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_since_pairs_the_items_mirrored_by_hand_and_creates_only_the_rest() -> Result<()> {
    const ITEMS: usize = 200;
    const BY_HAND: usize = 30;
    let w = World::new(Variant::default()).await?;
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (alice, bob) = (w.jira_user("alice").await, w.ado_user("bob").await);
    let mut keys = Vec::new();
    for n in 0..ITEMS {
        let title = format!("Existing bug {n}");
        let issue = alice.create(vec![("summary", text(&title))]).await?;
        if n < BY_HAND {
            // Mirrored by hand before Ferry: the twin names the Jira key in the remote-id field.
            bob.create(vec![("System.Title", text(&title)), ("Custom.JiraKey", text(&issue.key))]).await?;
        }
        keys.push(issue.key);
    }
    let config = w.config.to_str().context("utf-8 path")?;
    let applied = w.ferry(&["apply", config]).await;
    assert!(applied.ok, "apply: {}", applied.stderr);
    let id = w.id.as_str();

    let asked = w.ferry(&["activate", id, "--since", &since]).await;
    assert!(
        !asked.ok && asked.stderr.contains("--yes"),
        "without a terminal nothing is done unless --yes: {}",
        asked.stderr
    );
    assert!(
        asked
            .stdout
            .contains(&format!("{} to create, 0 already paired, {BY_HAND} to pair, 0 ambiguous", ITEMS - BY_HAND)),
        "{}",
        asked.stdout
    );
    assert_eq!(w.engine.state().count_links(&w.id).await?, 0, "the refused run linked nothing");

    let r = w.ferry(&["activate", id, "--since", &since, "--yes", "--no-wait", "--json"]).await;
    assert!(r.ok, "activate --since: {}\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout)?;
    assert_eq!(v["linked"], BY_HAND, "{v:#}");
    assert_eq!(v["plan"]["to_create"].as_array().map(Vec::len), Some(ITEMS - BY_HAND), "{v:#}");
    assert_eq!(v["backfill"], serde_json::Value::Null, "--no-wait follows nothing: {v:#}");
    // Run again (as after a crash before the sync): the stored backfill is resumed, its
    // pairs found linked, none linked twice.
    let again = w.ferry(&["activate", id, "--since", &since, "--yes", "--no-wait", "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&again.stdout)?;
    assert_eq!((v["linked"].as_u64(), v["resumed"].as_bool()), (Some(0), Some(true)), "{v:#}");
    assert_eq!(v["plan"]["to_pair"].as_array().map(Vec::len), Some(BY_HAND), "the plan accepted first: {v:#}");
    assert_eq!(w.engine.state().count_links(&w.id).await?, BY_HAND as u64);

    // The preview creates exactly the unpaired ones.
    let p = w.ferry(&["preview", id, "--limit", "1000", "--json"]).await;
    assert!(p.ok, "preview: {}", p.stderr);
    let p: serde_json::Value = serde_json::from_str(&p.stdout)?;
    let creates: Vec<&str> = p
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "create")
        .filter_map(|e| e["source"].as_str())
        .collect();
    assert_eq!(creates.len(), ITEMS - BY_HAND, "{p:#}");
    assert!(
        creates.iter().all(|k| !keys[..BY_HAND].iter().any(|h| h == k)),
        "a paired item is not created: {creates:?}"
    );

    w.sync().await;
    w.sync().await;
    assert_eq!(w.ado.work_item_ids("App").len(), ITEMS, "one Azure DevOps item per Jira issue");
    for key in &keys {
        assert_eq!(w.ado_items_naming(key), 1, "{key} has exactly one twin");
    }
    let failures = w.engine.state().list_failures(Some(&w.id)).await?;
    assert!(failures.is_empty(), "nothing parked: {failures:?}");
    Ok(())
}

/// What one preview entry promises to write: the target entity (`None`: a create, found
/// through the link the run makes) and the fields with the values the write sends.
struct Promise {
    flow: String,
    source: String,
    target: Option<String>,
    fields: Vec<(String, Option<String>)>,
}

/// The creates and updates of a `preview --json` list.
fn promises(preview: &serde_json::Value) -> Result<Vec<Promise>> {
    let mut out = Vec::new();
    for e in preview.as_array().context("preview --json prints a list")? {
        let action = e["action"].as_str().context("action")?;
        if action != "create" && action != "update" {
            continue;
        }
        let fields = e["fields"].as_array().context("fields")?;
        out.push(Promise {
            flow: e["flow"].as_str().context("flow")?.to_string(),
            source: e["source"].as_str().context("source")?.to_string(),
            target: e["target"].as_str().map(str::to_string),
            fields: fields.iter().map(|f| (f["field"].as_str().unwrap_or("").to_string(), shown(&f["to"]))).collect(),
        });
    }
    Ok(out)
}

/// The failures a `preview --json` list says the run would park, as (flow, source, category).
fn parks(preview: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = preview
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "park")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("flow"), s("source"), s("category"))
        })
        .collect();
    out.sort();
    out
}

/// The fields Ferry's integration user set on an entity after its creation.
fn fields_ferry_changed(history: Option<Vec<ferry_sim::Revision>>) -> Vec<String> {
    let mut fields: Vec<String> = history
        .into_iter()
        .flatten()
        .filter(|r| !r.created && r.author == "ferry-bot@acme.test")
        .flat_map(|r| r.fields)
        .collect();
    fields.sort();
    fields.dedup();
    fields
}

/// The whole first walk of a new user, each step through the real `ferry` binary on the
/// files the step before wrote: `init` proposes an integration from what the simulators
/// offer, `check` accepts it against the live systems, `apply` stores it, `activate
/// --since` pairs the 30 items of 200 mirrored by hand, `preview` says what the run will
/// write, and `run --once` writes exactly that: every create with the fields the preview
/// listed, every field of every update, no field the preview did not list, the failures
/// it foresaw at most, and nothing duplicated on either side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_walk_from_init_to_run_writes_what_preview_promised_and_duplicates_nothing() -> Result<()> {
    const ITEMS: usize = 200;
    const BY_HAND: usize = 30;
    let w = World::new(Variant::default()).await?;
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (alice, bob) = (w.jira_user("alice").await, w.ado_user("bob").await);
    let jira_before = w.jira.issue_keys("APP").len();
    let ado_before = w.ado.work_item_ids("App").len();
    let (mut issues, mut hand_twins) = (Vec::new(), Vec::new());
    for n in 0..ITEMS {
        let title = format!("Existing bug {n}");
        let mut fields = vec![("summary", text(&title))];
        if n % 4 == 0 {
            fields.push(("description", text(&format!("Seen on build {n}."))));
            fields.push(("labels", FieldValue::List(vec!["backfill".into()])));
        }
        let issue = alice.create(fields).await?;
        if n < BY_HAND {
            // Mirrored by hand before Ferry: the twin names the Jira key in a field of its own.
            let twin = bob.create(vec![("System.Title", text(&title)), ("Custom.JiraKey", text(&issue.key))]).await?;
            hand_twins.push(twin.id);
        }
        issues.push(issue);
    }

    // init: a proposal from what both systems offer, written next to the systems' config.
    let systems = w.config.to_str().context("utf-8 path")?;
    let out = w.config.with_file_name("walk");
    let id = format!("{}-walk", w.id);
    let (left, right) = (format!("{}:APP:Bug", w.systems[0].id), format!("{}:App:Bug", w.systems[1].id));
    let init = ["init", "--config", systems, "--left", &left, "--right", &right, "--id", &id, "--json"];
    let r = w.ferry(&[&init[..], &["--out", out.to_str().context("utf-8 path")?]].concat()).await;
    assert!(r.ok, "init failed:\n{}\n{}", r.stdout, r.stderr);
    let proposed = out.join(format!("{id}.yaml"));
    let proposed = proposed.to_str().context("utf-8 path")?;
    let yaml = std::fs::read_to_string(proposed)?;

    // check: the live systems accept the written config as it is.
    let checked = w.ferry(&["check", systems, proposed, "--json"]).await;
    assert!(checked.ok, "check accepts the proposal:\n{}\n{}\n{yaml}", checked.stdout, checked.stderr);
    let v: serde_json::Value = serde_json::from_str(&checked.stdout).context("check --json prints one object")?;
    assert_eq!(v["findings"].as_array().map(Vec::len), Some(0), "{v:#}");
    let applied = w.ferry(&["apply", systems, proposed]).await;
    assert!(applied.ok, "apply: {}\n{yaml}", applied.stderr);

    // activate --since: the hand-made pairs are linked, the rest is left to create.
    let pair_by = "right:Custom.JiraKey";
    let r = w.ferry(&["activate", &id, "--since", &since, "--pair-by", pair_by, "--yes", "--no-wait", "--json"]).await;
    assert!(r.ok, "activate --since: {}\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout)?;
    assert_eq!(v["linked"], BY_HAND, "{v:#}");
    assert_eq!(v["plan"]["to_create"].as_array().map(Vec::len), Some(ITEMS - BY_HAND), "{v:#}");
    assert_eq!(v["plan"]["ambiguous"].as_array().map(Vec::len), Some(0), "{v:#}");

    // preview: what the run will write, with nothing written yet.
    let p = w.ferry(&["preview", &id, "--limit", "1000", "--json"]).await;
    assert!(p.ok, "preview: {}", p.stderr);
    let preview: serde_json::Value = serde_json::from_str(&p.stdout)?;
    let promised = promises(&preview)?;
    let mut created: Vec<&str> = promised.iter().filter(|p| p.target.is_none()).map(|p| p.source.as_str()).collect();
    created.sort_unstable();
    let mut unpaired: Vec<&str> = issues[BY_HAND..].iter().map(|i| i.key.as_str()).collect();
    unpaired.sort_unstable();
    assert_eq!(created, unpaired, "the preview creates exactly the unpaired issues: {preview:#}");
    assert!(
        promised.iter().filter(|p| p.target.is_none()).all(|p| p.flow == "left_to_right"),
        "nothing is created in Jira: {preview:#}"
    );
    assert_eq!(w.ado.work_item_ids("App").len(), ado_before + BY_HAND, "preview created nothing");

    // run: a cycle polls both directions and drains the queues. A cycle waits at most
    // its patience (30 s) for messages backing off after a transient error, which on the
    // shared emulator's queues a loaded machine can outlast (one create was still backing
    // off after three cycles at a load average of 8): the next cycle (an operator's next
    // cron tick) finishes them, and is held to the same promises.
    let iid = IntegrationId::parse(&id)?;
    let state = w.engine.state();
    let mut last_run = String::new();
    for _ in 0..6 {
        let run = w.ferry(&["run", "--once", "--integration", &id]).await;
        assert!(run.ok, "run --once: {}\n{}", run.stdout, run.stderr);
        last_run = format!("{}{}", run.stdout, run.stderr);
        if state.count_links(&iid).await? == ITEMS as u64 {
            break;
        }
    }
    // What the last cycle said and what is parked, for a create that did not link.
    let parked: Vec<String> =
        state.list_failures(Some(&iid)).await?.iter().map(|f| format!("{}: {}", f.entity_key, f.cause)).collect();
    let unlinked =
        |key: &str| format!("{key} was created and linked; parked: {parked:?}; the last run --once said:\n{last_run}");
    let (jira_reader, ado_reader) = (w.reader(Side::Left).await, w.reader(Side::Right).await);
    // Each promise kept: the target holds every value the preview showed...
    let mut promised_fields: std::collections::BTreeMap<(Side, String), Vec<String>> = Default::default();
    for p in &promised {
        let target_side = if p.flow == "left_to_right" { Side::Right } else { Side::Left };
        let target = match &p.target {
            Some(t) => EntityId::new(t.clone()),
            None => {
                let issue = issues.iter().find(|i| i.key == p.source).context("a promised create of our issues")?;
                let link = state.get_link(&iid, Side::Left, &issue.id).await?;
                link.with_context(|| unlinked(&p.source))?.right.id
            }
        };
        let reader = if target_side == Side::Right { &ado_reader } else { &jira_reader };
        let item = reader.get(&target).await?.with_context(|| format!("{target} exists"))?;
        for (key, to) in &p.fields {
            assert_eq!(&field(&item, key).key_string(), to, "{} {key}: written as the preview said", p.source);
        }
        if p.target.is_some() {
            let fields = p.fields.iter().map(|(f, _)| f.clone()).collect();
            promised_fields.insert((target_side, item.key.clone()), fields);
        }
    }
    // ... and no field the preview did not show was changed after a creation.
    for key in w.jira.issue_keys("APP") {
        let changed = fields_ferry_changed(w.jira.history(&key));
        let allowed = promised_fields.get(&(Side::Left, key.clone())).cloned().unwrap_or_default();
        assert!(changed.iter().all(|f| allowed.contains(f)), "{key}: Ferry changed {changed:?}, previewed {allowed:?}");
    }
    for item in w.ado.work_item_ids("App") {
        let changed = fields_ferry_changed(w.ado.history(item));
        let allowed = promised_fields.get(&(Side::Right, item.to_string())).cloned().unwrap_or_default();
        assert!(
            changed.iter().all(|f| allowed.contains(f)),
            "{item}: Ferry changed {changed:?}, previewed {allowed:?}"
        );
    }
    // The hand-made pairs are linked to their twins, not copied again.
    for (issue, twin) in issues.iter().zip(&hand_twins) {
        let link = state.get_link(&iid, Side::Left, &issue.id).await?.context("hand pair linked")?;
        assert_eq!(&link.right.id, twin, "{} stays paired with the twin made by hand", issue.key);
    }
    assert_eq!(state.count_links(&iid).await?, ITEMS as u64, "one link per issue");
    assert_eq!(w.ado.work_item_ids("App").len(), ado_before + ITEMS, "one Azure DevOps item per Jira issue");
    assert_eq!(w.jira.issue_keys("APP").len(), jira_before + ITEMS, "nothing was created back in Jira");
    let parked: Vec<(String, String, String)> = state
        .list_failures(Some(&iid))
        .await?
        .into_iter()
        .map(|f| (f.flow.as_str().to_string(), f.entity_key, f.category.as_str().to_string()))
        .collect();
    // The preview weighs each direction against the systems as they are before the run;
    // the run writes left to right first, after which the hand-made twins' reverse
    // changes are settled without a park. So the run parks at most what was foreseen.
    let foreseen = parks(&preview);
    assert!(parked.iter().all(|p| foreseen.contains(p)), "parked {parked:?}, foreseen {foreseen:?}");

    let again = w.ferry(&["preview", &id, "--limit", "1000", "--json"]).await;
    let left = promises(&serde_json::from_str(&again.stdout)?)?;
    assert!(left.is_empty(), "after the run nothing is left to write: {}", again.stdout);
    Ok(())
}

/// A pair made by hand where the Jira issue has a description and labels its twin lacks:
/// the backfill links them, later runs leave both sides as they are, and a person's edit
/// of one side then carries that field alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_made_pair_keeps_the_originals_values_through_later_runs() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (alice, bob) = (w.jira_user("alice").await, w.ado_user("bob").await);
    let issue = alice
        .create(vec![
            ("summary", text("Mirrored by hand")),
            ("description", text("Seen on build 7.")),
            ("labels", FieldValue::List(vec!["backfill".into()])),
        ])
        .await?;
    let twin =
        bob.create(vec![("System.Title", text("Mirrored by hand")), ("Custom.JiraKey", text(&issue.key))]).await?;
    let config = w.config.to_str().context("utf-8 path")?;
    assert!(w.ferry(&["apply", config]).await.ok);
    let id = w.id.as_str();
    let r = w.ferry(&["activate", id, "--since", &since, "--yes", "--no-wait", "--json"]).await;
    assert!(r.ok, "activate --since: {}\n{}", r.stdout, r.stderr);
    for run in 1..=2 {
        let r = w.ferry(&["run", "--once", "--integration", id]).await;
        assert!(r.ok, "run {run}: {}\n{}", r.stdout, r.stderr);
        let now = w.jira.issue_json(&issue.key).context("the issue")?;
        assert_eq!(now["fields"]["labels"], serde_json::json!(["backfill"]), "after run {run}: {now:#}");
        assert!(now["fields"]["description"].is_object(), "after run {run} the description is kept: {now:#}");
    }
    // A person tags the twin: that edit travels, and only it.
    bob.update(&twin.id, vec![("System.Tags", FieldValue::List(vec!["ui".into()]))]).await?;
    let r = w.ferry(&["run", "--once", "--integration", id]).await;
    assert!(r.ok, "run after the edit: {}\n{}", r.stdout, r.stderr);
    let now = w.jira.issue_json(&issue.key).context("the issue")?;
    assert_eq!(now["fields"]["labels"], serde_json::json!(["ui"]), "the edit travels: {now:#}");
    assert!(now["fields"]["description"].is_object(), "the description nobody edited is kept: {now:#}");
    Ok(())
}
