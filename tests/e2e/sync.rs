//! The sync scenarios of docs/design.md §1 over the embedded runtime.

use crate::harness::*;
use anyhow::{Context, Result};
use chrono::{Duration as ChronoDuration, Utc};
use ferry_domain::{ErrorCategory, FieldKey, FieldValue, Flow, Side, UserRef};

const CAROL_JIRA: &str = "5b10ac8d82e05b22cc7d0004";
const ERIN_JIRA: &str = "5b10ac8d82e05b22cc7d0006";

fn jira_user(id: &str) -> FieldValue {
    FieldValue::User(UserRef { id: id.into(), email: None, display_name: None })
}

fn user_email(v: &FieldValue) -> Option<String> {
    match v {
        FieldValue::User(u) => u.email.clone(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jira_bug_appears_in_azure_devops_with_every_mapped_field() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![
            ("summary", text("Checkout fails for guests")),
            (
                "description",
                FieldValue::RichText("<p>Pay as a <strong>guest</strong></p><ul><li>Chrome</li></ul>".into()),
            ),
            ("priority", FieldValue::Option("High".into())),
            ("assignee", jira_user(CAROL_JIRA)),
            ("customfield_10051", FieldValue::Option("Major".into())),
            ("labels", FieldValue::List(vec!["checkout".into(), "web".into()])),
            ("customfield_10052", FieldValue::Number(5.0)),
        ])
        .await?;
    w.sync().await;

    let twin = w.twin(Side::Left, &bug.id).await.context("the Jira bug has no Azure DevOps twin")?;
    let item = w.reader(Side::Right).await.get(&twin).await?.context("twin missing in ADO")?;
    assert_eq!(field_str(&item, "System.Title"), "Checkout fails for guests");
    let html = field_str(&item, "System.Description");
    // ADF list items hold paragraphs, so the HTML reads <li><p>Chrome</p></li>.
    assert!(html.contains("<strong>guest</strong>") && html.contains("<li><p>Chrome</p></li>"), "description: {html}");
    assert_eq!(field(&item, "Microsoft.VSTS.Common.Priority"), FieldValue::Number(2.0), "High -> 2 (inline map)");
    assert_eq!(field_str(&item, "System.State"), "New", "To Do -> New (status.csv)");
    assert_eq!(field_str(&item, "Microsoft.VSTS.Common.Severity"), "2 - High", "Major -> 2 - High (severity.xlsx)");
    assert_eq!(
        user_email(&field(&item, "System.AssignedTo")).as_deref(),
        Some("carol.w@acme.test"),
        "carol@acme.test -> carol.w@acme.test (users.xlsx override)"
    );
    assert_eq!(field(&item, "System.Tags"), FieldValue::List(vec!["checkout".into(), "web".into()]));
    assert_eq!(field(&item, "Microsoft.VSTS.Scheduling.StoryPoints"), FieldValue::Number(5.0));
    assert_eq!(field_str(&item, "Custom.JiraKey"), bug.key, "remote id on the right");

    let jira_now = w.reader(Side::Left).await.get(&bug.id).await?.context("bug missing")?;
    assert_eq!(field_str(&jira_now, "customfield_10050"), twin.to_string(), "remote id written back on the left");
    let relations = w.ado.work_item_json(twin.as_str().parse()?).context("raw work item")?;
    let hyperlink = relations["relations"].as_array().into_iter().flatten().any(|r| {
        r["rel"] == "Hyperlink" && r["url"].as_str().is_some_and(|u| u.ends_with(&format!("/browse/{}", bug.key)))
    });
    assert!(hyperlink, "ADO twin links back to the Jira issue: {}", relations["relations"]);
    Ok(())
}

/// Creates a synced pair from a Jira bug; returns (jira id, ado id).
async fn synced_pair(w: &World) -> Result<(ferry_domain::EntityId, ferry_domain::EntityId)> {
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("Search is slow")), ("priority", FieldValue::Option("Medium".into()))])
        .await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("no twin")?;
    Ok((bug.id, twin))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_azure_devops_update_flows_back_to_jira_with_status_through_transitions() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let (jira_id, ado_id) = synced_pair(&w).await?;

    let ado_alice = w.ado_user("alice").await;
    ado_alice
        .update(
            &ado_id,
            vec![
                ("System.State", text("Resolved")),
                ("System.Title", text("Search is slow on large projects")),
                ("Microsoft.VSTS.Common.Priority", FieldValue::Number(1.0)),
            ],
        )
        .await?;
    w.sync().await;
    let issue = w.reader(Side::Left).await.get(&jira_id).await?.context("issue")?;
    assert_eq!(field_str(&issue, "status"), "In Review", "Resolved -> In Review, two transitions from To Do");
    assert_eq!(field_str(&issue, "summary"), "Search is slow on large projects");
    assert_eq!(field_str(&issue, "priority"), "Highest");

    // Closing needs the Done transition, whose screen requires a resolution.
    ado_alice.update(&ado_id, vec![("System.State", text("Closed"))]).await?;
    w.sync().await;
    let issue = w.reader(Side::Left).await.get(&jira_id).await?.context("issue")?;
    assert_eq!(field_str(&issue, "status"), "Done");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settled_sync_writes_nothing_more_no_echo() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let (jira_id, ado_id) = synced_pair(&w).await?;
    w.ado_user("bob").await.update(&ado_id, vec![("System.Title", text("Edited in ADO"))]).await?;
    w.jira_user("bob").await.update(&jira_id, vec![("priority", FieldValue::Option("High".into()))]).await?;
    w.sync().await;
    w.sync().await;

    w.jira.clear_requests();
    w.ado.clear_requests();
    for _ in 0..3 {
        w.sync().await;
    }
    assert_eq!(writes_in(&w.jira.requests()), Vec::<String>::new(), "Jira saw writes after settling");
    assert_eq!(writes_in(&w.ado.requests()), Vec::<String>::new(), "Azure DevOps saw writes after settling");
    assert_eq!(w.queue_depth().await, 0, "nothing left queued");
    let issue = w.reader(Side::Left).await.get(&jira_id).await?.context("issue")?;
    assert_eq!(field_str(&issue, "summary"), "Edited in ADO");
    let item = w.reader(Side::Right).await.get(&ado_id).await?.context("item")?;
    assert_eq!(field(&item, "Microsoft.VSTS.Common.Priority"), FieldValue::Number(2.0));
    Ok(())
}

/// Ferry's write read back by the target's poll is dropped there (its fingerprint names
/// the revision), not enqueued; a re-read through the overlap window is a duplicate the
/// watermark remembers; a person's next edit of that entity is enqueued again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_targets_poll_drops_ferrys_echo_and_remembers_what_it_read() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let (jira_id, ado_id) = synced_pair(&w).await?;
    // The sync polls both sides before it writes: ADO's poll has not read Ferry's write.
    w.jira_user("bob").await.update(&jira_id, vec![("summary", text("Edited in Jira"))]).await?;
    w.sync().await;

    let first = w.engine.poll(&w.id, Flow::RightToLeft, Utc::now()).await?;
    assert_eq!((first.echoes, first.enqueued), (1, 0), "Ferry's write to ADO is an echo: {first:?}");
    let again = w.engine.poll(&w.id, Flow::RightToLeft, Utc::now()).await?;
    assert_eq!((again.duplicates, again.echoes, again.enqueued), (1, 0, 0), "a re-read is a duplicate: {again:?}");
    assert_eq!(w.queue_depth().await, 0, "nothing was enqueued");

    w.ado_user("bob").await.update(&ado_id, vec![("System.Title", text("Edited in ADO"))]).await?;
    let edited = w.engine.poll(&w.id, Flow::RightToLeft, Utc::now()).await?;
    assert_eq!((edited.echoes, edited.enqueued), (0, 1), "a person's edit is enqueued: {edited:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_outside_the_filter_never_syncs_and_a_synced_one_keeps_syncing() -> Result<()> {
    let w = World::new(Variant { filter_left_to_right: Some("labels = sync"), ..Variant::default() }).await?;
    w.activate().await?;
    let alice = w.jira_user("alice").await;
    let inside =
        alice.create(vec![("summary", text("In scope")), ("labels", FieldValue::List(vec!["sync".into()]))]).await?;
    let outside = alice.create(vec![("summary", text("Out of scope"))]).await?;
    w.sync().await;
    assert!(w.twin(Side::Left, &inside.id).await.is_some(), "matching entity synced");
    assert!(w.twin(Side::Left, &outside.id).await.is_none(), "non-matching entity synced");

    alice.update(&outside.id, vec![("summary", text("Still out of scope"))]).await?;
    w.sync().await;
    assert!(w.twin(Side::Left, &outside.id).await.is_none(), "non-matching entity synced after an update");

    // keep_syncing: a linked entity that stops matching still syncs.
    alice.update(&inside.id, vec![("labels", FieldValue::List(vec![])), ("summary", text("Left the filter"))]).await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &inside.id).await.context("twin")?;
    let item = w.reader(Side::Right).await.get(&twin).await?.context("item")?;
    assert_eq!(field_str(&item, "System.Title"), "Left the filter");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_fill_missing_values_and_unmatched_default_writes_the_default_user() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![
            ("summary", text("Assigned to someone ADO does not know")),
            ("assignee", jira_user(ERIN_JIRA)),
            ("priority", FieldValue::Option("Lowest".into())),
        ])
        .await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("twin")?;
    let item = w.reader(Side::Right).await.get(&twin).await?.context("item")?;
    assert_eq!(user_email(&field(&item, "System.AssignedTo")).as_deref(), Some("ferry-bot@acme.test"));
    assert_eq!(field(&item, "Microsoft.VSTS.Common.Priority"), FieldValue::Number(3.0), "unmapped Lowest -> default 3");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_skip_leaves_the_user_unset_and_syncs_the_rest() -> Result<()> {
    let w = World::new(Variant { unmatched: "skip", ..Variant::default() }).await?;
    w.activate().await?;
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("Erin's bug")), ("assignee", jira_user(ERIN_JIRA))])
        .await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("twin")?;
    let item = w.reader(Side::Right).await.get(&twin).await?.context("item")?;
    assert_eq!(field_str(&item, "System.Title"), "Erin's bug");
    assert!(field(&item, "System.AssignedTo").is_null(), "assignee should stay unset");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_fail_parks_the_event_as_user_not_found() -> Result<()> {
    let w = World::new(Variant { unmatched: "fail", ..Variant::default() }).await?;
    w.activate().await?;
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("Erin's other bug")), ("assignee", jira_user(ERIN_JIRA))])
        .await?;
    w.sync().await;
    assert!(w.twin(Side::Left, &bug.id).await.is_none());
    let failures = w.engine.state().list_failures(Some(&w.id)).await?;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].category, ErrorCategory::UserNotFound);
    assert!(failures[0].cause.contains("erin"), "cause names the user: {}", failures[0].cause);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_polling_time_is_the_last_update_in_a_project_with_data() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    let old = w.jira_user("alice").await.create(vec![("summary", text("Before Ferry"))]).await?;
    let report = w.activate().await?;
    let l2r = report.starts.iter().find(|s| s.flow == Flow::LeftToRight).context("left_to_right start")?;
    assert_eq!(l2r.reason, "last_updated");
    let old_now = w.reader(Side::Left).await.get(&old.id).await?.context("old")?;
    assert_eq!(l2r.at, old_now.updated, "start = last updated time in the project");

    w.sync().await;
    assert!(w.twin(Side::Left, &old.id).await.is_none(), "work from before the start time is not copied");
    w.jira_user("alice").await.update(&old.id, vec![("summary", text("Touched after activation"))]).await?;
    w.sync().await;
    assert!(w.twin(Side::Left, &old.id).await.is_some(), "a change after the start time syncs");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_polling_time_is_now_minus_26_hours_for_an_empty_project() -> Result<()> {
    let w = World::new(Variant { jira_project: "OPS", ado_project: "Ops", ..Variant::default() }).await?;
    let before = Utc::now();
    let report = w.activate().await?;
    assert_eq!(report.starts.len(), 2);
    for s in &report.starts {
        assert_eq!(s.reason, "empty_project", "{s:?}");
        let expected = before - ChronoDuration::hours(26);
        assert!((s.at - expected).num_seconds().abs() < 60, "{} vs {}", s.at, expected);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_integration_refuses_edits_until_deactivated() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    let config = w.config.to_string_lossy().to_string();
    let id = w.id.to_string();
    assert!(w.ferry(&["apply", &config]).await.ok);
    let act = w.ferry(&["activate", &id]).await;
    assert!(act.ok, "{}", act.stderr);

    w.rewrite_config(&Variant { unmatched: "skip", ..Variant::default() })?;
    let refused = w.ferry(&["apply", &config]).await;
    assert!(!refused.ok, "apply of an edit to an active integration must fail");
    assert!(refused.stderr.contains("deactivate"), "says how to proceed: {}", refused.stderr);

    assert!(w.ferry(&["deactivate", &id]).await.ok);
    let applied = w.ferry(&["apply", &config]).await;
    assert!(applied.ok, "{}", applied.stderr);
    let again = w.ferry(&["activate", &id]).await;
    assert!(again.ok && again.stdout.contains("kept"), "watermarks kept: {}", again.stdout);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_recorded_with_cause_and_input_and_syncs_after_the_mapping_is_fixed() -> Result<()> {
    let w = World::new(Variant { priority_default: None, ..Variant::default() }).await?;
    let config = w.config.to_string_lossy().to_string();
    let id = w.id.to_string();
    assert!(w.ferry(&["apply", &config]).await.ok);
    assert!(w.ferry(&["activate", &id]).await.ok);
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("Lowest priority bug")), ("priority", FieldValue::Option("Lowest".into()))])
        .await?;
    let run = w.ferry(&["run", "--once", "--integration", &id]).await;
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(w.twin(Side::Left, &bug.id).await.is_none());

    let listed = w.ferry(&["failures", "list", "--integration", &id, "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&listed.stdout)?;
    let failure = &v["failures"][0];
    assert_eq!(failure["category"], "mapping_value_missing", "{v:#}");
    assert!(failure["cause"].as_str().unwrap_or("").contains("Lowest"), "cause names the value: {failure}");
    assert_eq!(failure["input"]["snapshot"]["key"], bug.key.as_str(), "input is recorded");
    let failure_id = failure["id"].as_str().context("failure id")?.to_string();

    // Fix the mapping: deactivate, apply the new table, activate, retry.
    w.rewrite_config(&Variant { priority_default: None, extra_priority: ", Lowest: 4", ..Variant::default() })?;
    assert!(w.ferry(&["deactivate", &id]).await.ok);
    assert!(w.ferry(&["apply", &config]).await.ok);
    assert!(w.ferry(&["activate", &id]).await.ok);
    let retried = w.ferry(&["failures", "retry", &failure_id, "--run"]).await;
    assert!(retried.ok, "{}{}", retried.stdout, retried.stderr);

    let twin = w.twin(Side::Left, &bug.id).await.context("synced after retry")?;
    let item = w.reader(Side::Right).await.get(&twin).await?.context("item")?;
    assert_eq!(field(&item, "Microsoft.VSTS.Common.Priority"), FieldValue::Number(4.0));
    let after = w.ferry(&["failures", "list", "--integration", &id, "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&after.stdout)?;
    assert_eq!(v["failures"].as_array().map(Vec::len), Some(0), "{v:#}");
    Ok(())
}

/// Makes the stored record of failure `id` unreadable the way each backend can lose
/// one: the embedded store's row cut off mid-JSON; on AWS the item names a payload object
/// that is not in the bucket.
async fn spoil_failure(w: &World, id: &str) -> Result<()> {
    match &w.backend {
        Backend::Embedded { .. } => {
            let raw = rusqlite::Connection::open(&w.db)?;
            let changed = raw.execute("UPDATE failures SET body = substr(body, 1, 80) WHERE id = ?1", [id])?;
            anyhow::ensure!(changed == 1, "no failure row {id}");
        }
        Backend::Aws { rt, .. } => {
            use aws_sdk_dynamodb::types::AttributeValue::S;
            aws_sdk_dynamodb::Client::new(&rt.sdk)
                .update_item()
                .table_name(&rt.names.state_table)
                .key("pk", S(format!("failure#{id}")))
                .key("sk", S("failure".into()))
                .update_expression("SET #s = :s REMOVE #doc")
                .expression_attribute_names("#s", "s")
                .expression_attribute_names("#doc", "doc")
                .expression_attribute_values(":s", S(format!("failures/{id}/gone.json")))
                .send()
                .await?;
        }
    }
    Ok(())
}

/// One failure whose stored record cannot be read does not hide the others: `ferry
/// failures list` (text and JSON) lists them all and the bad one by id with the
/// reason, `ferry status` still reports and counts it, and `retry --all` queues the
/// readable ones and names the one it cannot retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_failure_is_listed_with_its_reason_and_hides_no_other() -> Result<()> {
    let w = World::new(Variant { priority_default: None, ..Variant::default() }).await?;
    let config = w.config.to_string_lossy().to_string();
    let id = w.id.to_string();
    assert!(w.ferry(&["apply", &config]).await.ok);
    assert!(w.ferry(&["activate", &id]).await.ok);
    let jira = w.jira_user("alice").await;
    for n in 1..=3 {
        let summary = format!("Lowest priority bug {n}");
        jira.create(vec![("summary", text(&summary)), ("priority", FieldValue::Option("Lowest".into()))]).await?;
    }
    let run = w.ferry(&["run", "--once", "--integration", &id]).await;
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    let parked = w.engine.state().list_failures(Some(&w.id)).await?;
    assert_eq!(parked.len(), 3, "{parked:?}");
    let bad = &parked[1];
    spoil_failure(&w, &bad.id).await?;

    let listed = w.ferry(&["failures", "list", "--integration", &id, "--json"]).await;
    assert!(listed.ok, "{}{}", listed.stdout, listed.stderr);
    let v: serde_json::Value = serde_json::from_str(&listed.stdout)?;
    let ids: Vec<&str> =
        v["failures"].as_array().context("failures")?.iter().filter_map(|f| f["id"].as_str()).collect();
    assert_eq!(ids, [parked[0].id.as_str(), parked[2].id.as_str()], "{v:#}");
    let unreadable = &v["unreadable"][0];
    assert_eq!(unreadable["id"], bad.id.as_str(), "{v:#}");
    assert_eq!(unreadable["integration"], id.as_str());
    assert_eq!(unreadable["entity"], bad.entity.as_str());
    assert!(!unreadable["reason"].as_str().unwrap_or("").is_empty(), "{unreadable}");

    let text_list = w.ferry(&["failures", "list"]).await;
    assert!(text_list.ok, "{}{}", text_list.stdout, text_list.stderr);
    for f in &parked {
        assert!(text_list.stdout.contains(&f.id), "{} listed: {}", f.id, text_list.stdout);
    }
    let bad_line = text_list.stdout.lines().find(|l| l.contains(&bad.id)).unwrap_or("");
    assert!(bad_line.contains("[unreadable]"), "{}", text_list.stdout);

    let status = w.ferry(&["status", "--json"]).await;
    assert_eq!(status.code, Some(4), "unhealthy, not failed: {}{}", status.stdout, status.stderr);
    let v: serde_json::Value = serde_json::from_str(&status.stdout)?;
    let mine = v.as_array().context("status")?.iter().find(|s| s["integration"] == id.as_str()).context("listed")?;
    let open: u64 = mine["flows"].as_array().context("flows")?.iter().filter_map(|f| f["open_failures"].as_u64()).sum();
    assert_eq!(open, 3, "the unreadable failure is counted: {mine:#}");

    let retried = w.ferry(&["failures", "retry", "--all", "--integration", &id]).await;
    assert_eq!(retried.code, Some(1), "{}{}", retried.stdout, retried.stderr);
    assert!(retried.stderr.contains(&bad.id), "names the one it cannot retry: {}", retried.stderr);
    for f in [&parked[0], &parked[2]] {
        assert!(retried.stdout.contains(&format!("{}: ", f.id)), "{} queued again: {}", f.id, retried.stdout);
    }

    let discarded = w.ferry(&["failures", "discard", &bad.id]).await;
    assert!(discarded.ok, "an unreadable failure can be discarded: {}{}", discarded.stdout, discarded.stderr);
    assert!(discarded.stdout.contains("(unreadable) discarded"), "{}", discarded.stdout);
    let listed = w.ferry(&["failures", "list", "--integration", &id, "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&listed.stdout)?;
    assert_eq!(v["unreadable"].as_array().map(Vec::len), Some(0), "{v:#}");
    Ok(())
}

/// A later change of an entity whose earlier change is parked must wait behind the
/// failure (order per entity), while the flow's other entities keep syncing; the retry
/// then carries the newest state. A batch only reads per-entity failures in a flow whose
/// open-failure count is not 0, so this checks that count on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_change_of_a_parked_entity_waits_behind_its_failure_and_the_retry_carries_it() -> Result<()> {
    let w = World::new(Variant { priority_default: None, ..Variant::default() }).await?;
    w.activate().await?;
    let alice = w.jira_user("alice").await;
    let bug = alice
        .create(vec![("summary", text("Lowest priority bug")), ("priority", FieldValue::Option("Lowest".into()))])
        .await?;
    w.sync().await;
    assert!(w.twin(Side::Left, &bug.id).await.is_none(), "parked: Lowest has no value mapping");
    let failures = w.engine.state().list_failures(Some(&w.id)).await?;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(open_failures(&w, Flow::LeftToRight).await?, 1);

    // Now mappable, but its first change is still parked: it waits behind it.
    alice
        .update(&bug.id, vec![("summary", text("Now mappable")), ("priority", FieldValue::Option("High".into()))])
        .await?;
    let other = alice.create(vec![("summary", text("An unrelated bug"))]).await?;
    w.sync().await;
    assert!(w.twin(Side::Left, &bug.id).await.is_none(), "a later change must not overtake the parked one");
    assert!(w.twin(Side::Left, &other.id).await.is_some(), "other entities of the flow still sync");
    let parked = w.engine.state().list_failures(Some(&w.id)).await?;
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0].id, failures[0].id, "the same failure holds the newer input");
    assert_eq!(parked[0].input.snapshot.field(&FieldKey::new("summary")), Some(&text("Now mappable")));

    w.engine.retry_failure(&parked[0].id).await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("synced after the retry")?;
    let item = w.reader(Side::Right).await.get(&twin).await?.context("item")?;
    assert_eq!(field(&item, "System.Title"), text("Now mappable"));
    assert!(w.engine.state().list_failures(Some(&w.id)).await?.is_empty());
    assert_eq!(open_failures(&w, Flow::LeftToRight).await?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_rejected_by_the_target_is_parked_and_a_replay_after_the_fix_writes_it() -> Result<()> {
    // ADO allows priorities 1-4: mapping Lowest to 5 fails at write time, not in mapping.
    let w = World::new(Variant { priority_default: None, extra_priority: ", Lowest: 5", ..Variant::default() }).await?;
    w.activate().await?;
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("Rejected by ADO")), ("priority", FieldValue::Option("Lowest".into()))])
        .await?;
    w.sync().await;
    assert!(w.twin(Side::Left, &bug.id).await.is_none());
    let failures = w.engine.state().list_failures(Some(&w.id)).await?;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].category, ErrorCategory::InvalidRequest);
    assert!(failures[0].mapping_output.is_some(), "the mapping output is recorded");

    // Fix the table and replay at once, well inside the queues' dedup window.
    w.reconfigure(&Variant { priority_default: None, extra_priority: ", Lowest: 4", ..Variant::default() }).await?;
    w.engine.retry_failure(&failures[0].id).await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("synced after the replay")?;
    let item = w.reader(Side::Right).await.get(&twin).await?.context("item")?;
    assert_eq!(field(&item, "Microsoft.VSTS.Common.Priority"), FieldValue::Number(4.0));
    assert!(w.engine.state().list_failures(Some(&w.id)).await?.is_empty());
    Ok(())
}

/// How many entities of a flow have a parked failure, as a batch reads it.
async fn open_failures(w: &World, flow: Flow) -> Result<u64> {
    use ferry_domain::ports::{StateKey, StateRecord};
    let key = StateKey::OpenFailures(w.id.clone(), flow);
    match w.engine.state().get_many(std::slice::from_ref(&key)).await?.remove(&key) {
        Some(StateRecord::OpenFailures(n)) => Ok(n),
        other => anyhow::bail!("the open-failure count answered {other:?}"),
    }
}

/// Ferry's requests to a simulator since `from`, but the polls' reads and the look-ups
/// of people (cached across writes), as `METHOD resource` (the path after the API's root).
fn writer_requests(requests: &[ferry_sim::RequestRecord], from: usize) -> Vec<String> {
    requests[from..]
        .iter()
        .filter(|r| r.user.as_deref() == Some("ferry-bot@acme.test"))
        .filter(|r| {
            let p = r.path.to_ascii_lowercase();
            let poll = p.ends_with("/search/jql") || p.ends_with("/wiql") || p.ends_with("/workitemsbatch");
            !(poll || p.contains("/user") || p.contains("identit"))
        })
        .map(|r| {
            let resource = ["/_apis/wit/", "/rest/api/3/"].iter().find_map(|root| r.path.split_once(root));
            format!("{} {}", r.method, resource.map_or(r.path.as_str(), |(_, tail)| tail))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_of_a_linked_pair_costs_its_target_one_read_and_one_write_and_echoes_nothing() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let (jira_id, ado_id) = synced_pair(&w).await?;

    // A rich text reads back in the target's own form: what the write answered is
    // recorded, without reading the target again.
    let edit = vec![("summary", text("Search is slow on large projects")), ("description", rich_p("Big"))];
    let (jira_from, ado_from) = (w.jira.requests().len(), w.ado.requests().len());
    w.jira_user("alice").await.update(&jira_id, edit).await?;
    w.sync().await;
    let wid = ado_id.as_str();
    assert_eq!(
        writer_requests(&w.ado.requests(), ado_from),
        [format!("GET workitems/{wid}"), format!("PATCH workitems/{wid}")],
        "Azure DevOps: the target read to compare, and the update"
    );
    assert_eq!(writer_requests(&w.jira.requests(), jira_from), Vec::<String>::new(), "nothing but the poll on Jira");

    let (jira_from, ado_from) = (w.jira.requests().len(), w.ado.requests().len());
    let ado_edit = vec![("System.Title", text("Search is slow everywhere")), ("System.Description", rich_p("All"))];
    w.ado_user("bob").await.update(&ado_id, ado_edit).await?;
    w.sync().await;
    let jid = jira_id.as_str();
    assert_eq!(
        writer_requests(&w.jira.requests(), jira_from),
        [format!("GET issue/{jid}"), format!("PUT issue/{jid}")],
        "Jira: the target read to compare, and the edit that answers with the issue"
    );
    assert_eq!(writer_requests(&w.ado.requests(), ado_from), Vec::<String>::new(), "nothing but the poll on ADO");

    // The revisions recorded from the writes' answers are Ferry's echoes: nothing moves.
    let (jira_from, ado_from) = (w.jira.requests().len(), w.ado.requests().len());
    w.sync().await;
    assert_eq!(writes_in(&w.jira.requests()[jira_from..]), Vec::<String>::new(), "settled: no writes to Jira");
    assert_eq!(writes_in(&w.ado.requests()[ado_from..]), Vec::<String>::new(), "settled: no writes to ADO");
    let issue = w.reader(Side::Left).await.get(&jira_id).await?.context("issue")?;
    let item = w.reader(Side::Right).await.get(&ado_id).await?.context("work item")?;
    assert_eq!(field_str(&issue, "summary"), "Search is slow everywhere");
    assert_eq!(field_str(&item, "System.Title"), "Search is slow everywhere");
    Ok(())
}

/// A batch of edits of linked pairs reads its Azure DevOps targets ahead, in one request,
/// instead of one read per edit (a lone edit keeps its own read, above); Jira, whose edit
/// has no precondition, reads each right before its edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_of_several_linked_pairs_in_one_batch_cost_azure_devops_one_read_between_them() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let alice = w.jira_user("alice").await;
    let mut bugs = Vec::new();
    for n in 1..=3 {
        bugs.push(alice.create(vec![("summary", text(&format!("Slow page {n}")))]).await?.id);
    }
    w.sync().await;
    let mut items = Vec::new();
    for bug in &bugs {
        items.push(w.twin(Side::Left, bug).await.context("no twin")?);
    }
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };

    let (jira_from, ado_from) = (w.jira.requests().len(), w.ado.requests().len());
    for (n, bug) in bugs.iter().enumerate() {
        alice.update(bug, vec![("summary", text(&format!("Slow page {n}, again")))]).await?;
    }
    w.sync().await;
    let patches: Vec<String> = items.iter().map(|i| format!("PATCH workitems/{i}")).collect();
    assert_eq!(
        sorted(writer_requests(&w.ado.requests(), ado_from)),
        sorted(patches),
        "Azure DevOps: the three updates, their targets read in one workitemsbatch (not one GET each)"
    );
    assert_eq!(writer_requests(&w.jira.requests(), jira_from), Vec::<String>::new(), "nothing but the poll on Jira");

    let (jira_from, ado_from) = (w.jira.requests().len(), w.ado.requests().len());
    let bob = w.ado_user("bob").await;
    for (n, item) in items.iter().enumerate() {
        bob.update(item, vec![("System.Title", text(&format!("Slow everywhere {n}")))]).await?;
    }
    w.sync().await;
    let want: Vec<String> = bugs.iter().flat_map(|b| [format!("GET issue/{b}"), format!("PUT issue/{b}")]).collect();
    assert_eq!(
        sorted(writer_requests(&w.jira.requests(), jira_from)),
        sorted(want),
        "Jira: each target read right before its edit (an edit has no precondition there)"
    );
    assert_eq!(writer_requests(&w.ado.requests(), ado_from), Vec::<String>::new(), "nothing but the poll on ADO");

    // Every value arrived, and the revisions recorded are Ferry's echoes: nothing moves.
    let (jira_from, ado_from) = (w.jira.requests().len(), w.ado.requests().len());
    w.sync().await;
    assert_eq!(writes_in(&w.jira.requests()[jira_from..]), Vec::<String>::new(), "settled: no writes to Jira");
    assert_eq!(writes_in(&w.ado.requests()[ado_from..]), Vec::<String>::new(), "settled: no writes to ADO");
    for (n, bug) in bugs.iter().enumerate() {
        let issue = w.reader(Side::Left).await.get(bug).await?.context("issue")?;
        assert_eq!(field_str(&issue, "summary"), format!("Slow everywhere {n}"));
    }
    Ok(())
}

fn rich_p(s: &str) -> FieldValue {
    FieldValue::RichText(format!("<p>{s} <strong>projects</strong></p>"))
}
