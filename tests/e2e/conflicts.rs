//! Three-way conflicts: both sides changed since the last sync. Edits to different
//! fields merge; the same field is settled by its policy (last writer by default, left,
//! right, or flagged for a person). Runs on both backends.

use crate::harness::*;
use anyhow::{Context, Result};
use ferry_domain::{EntityId, ErrorCategory, FieldValue, Flow, Side};
use std::time::Duration;

/// A synced pair from a Jira bug, settled (every echo read once); returns (jira, ado).
async fn settled_pair(w: &World) -> Result<(EntityId, EntityId)> {
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("Export is slow")), ("priority", FieldValue::Option("Medium".into()))])
        .await?;
    w.sync().await;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("no twin")?;
    Ok((bug.id, twin))
}

async fn titles(w: &World, jira: &EntityId, ado: &EntityId) -> Result<(String, String)> {
    let issue = w.reader(Side::Left).await.get(jira).await?.context("issue")?;
    let item = w.reader(Side::Right).await.get(ado).await?.context("item")?;
    Ok((field_str(&issue, "summary"), field_str(&item, "System.Title")))
}

/// Both sides edit the title, the right side later (entity `updated` is the clock).
async fn edit_title_on_both_sides(w: &World, jira: &EntityId, ado: &EntityId) -> Result<()> {
    w.jira_user("alice").await.update(jira, vec![("summary", text("Export is slow (Jira)"))]).await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    w.ado_user("bob").await.update(ado, vec![("System.Title", text("Export is slow (ADO)"))]).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_to_different_fields_on_both_sides_merge() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let (jira, ado) = settled_pair(&w).await?;
    w.jira_user("alice").await.update(&jira, vec![("summary", text("Export is slow for admins"))]).await?;
    w.ado_user("bob").await.update(&ado, vec![("Microsoft.VSTS.Common.Priority", FieldValue::Number(1.0))]).await?;
    w.sync().await;
    w.sync().await;

    let issue = w.reader(Side::Left).await.get(&jira).await?.context("issue")?;
    let item = w.reader(Side::Right).await.get(&ado).await?.context("item")?;
    assert_eq!(field_str(&issue, "summary"), "Export is slow for admins");
    assert_eq!(field_str(&item, "System.Title"), "Export is slow for admins");
    assert_eq!(field_str(&issue, "priority"), "Highest", "ADO's priority 1 reached Jira");
    assert_eq!(field(&item, "Microsoft.VSTS.Common.Priority"), FieldValue::Number(1.0));
    Ok(())
}

/// The edit reaches Ferry only inside the revision of Ferry's own write (the target
/// was polled after that write): it must not be taken for an echo and dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_edit_just_before_ferrys_write_still_reaches_the_other_side() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let (jira, ado) = settled_pair(&w).await?;
    w.ado_user("bob").await.update(&ado, vec![("Microsoft.VSTS.Common.Priority", FieldValue::Number(1.0))]).await?;
    w.jira_user("alice").await.update(&jira, vec![("summary", text("Export is slow for admins"))]).await?;
    // Jira → ADO first: Ferry writes the title over bob's newer revision.
    w.sync_flow(Flow::LeftToRight).await;
    w.sync().await;
    w.sync().await;

    let issue = w.reader(Side::Left).await.get(&jira).await?.context("issue")?;
    assert_eq!(field_str(&issue, "priority"), "Highest", "bob's priority reached Jira");
    let item = w.reader(Side::Right).await.get(&ado).await?.context("item")?;
    assert_eq!(field_str(&item, "System.Title"), "Export is slow for admins");

    w.jira.clear_requests();
    w.ado.clear_requests();
    w.sync().await;
    assert_eq!(writes_in(&w.jira.requests()), Vec::<String>::new(), "settled: no more writes to Jira");
    assert_eq!(writes_in(&w.ado.requests()), Vec::<String>::new(), "settled: no more writes to ADO");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_writer_wins_a_field_changed_on_both_sides_by_default() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let (jira, ado) = settled_pair(&w).await?;
    edit_title_on_both_sides(&w, &jira, &ado).await?;
    // The run says which writes settled a conflict (what the Conflicts metric counts).
    let run = w.ferry(&["run", "--once", "--integration", w.id.as_str()]).await;
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("1 conflict(s) settled by policy"), "{}", run.stdout);
    w.sync().await;
    assert_eq!(titles(&w, &jira, &ado).await?, ("Export is slow (ADO)".into(), "Export is slow (ADO)".into()));
    assert!(w.engine.state().list_failures(Some(&w.id)).await?.is_empty(), "nothing parked");
    Ok(())
}

/// The last writer of a field is the last person to change that field: a comment made
/// on the other side afterwards moves its issue's `updated`, and must not win the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_writer_is_who_changed_the_field_last_not_the_last_activity_on_the_entity() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let (jira, ado) = settled_pair(&w).await?;
    edit_title_on_both_sides(&w, &jira, &ado).await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let comment = ferry_domain::CommentWrite { body: "<p>Seen on Firefox</p>".into(), origin: String::new() };
    let carol = w.jira_user("carol").await;
    carol.conn.add_comment(&carol.scope, &jira, &comment).await?;
    w.sync().await;
    w.sync().await;
    assert_eq!(titles(&w, &jira, &ado).await?, ("Export is slow (ADO)".into(), "Export is slow (ADO)".into()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_left_wins_policy_keeps_the_left_value_even_when_the_right_changed_later() -> Result<()> {
    let w = World::new(Variant { title_conflict: Some("left"), ..Variant::default() }).await?;
    w.activate().await?;
    let (jira, ado) = settled_pair(&w).await?;
    edit_title_on_both_sides(&w, &jira, &ado).await?;
    // The right side's change is read first this time: it must not win either.
    w.sync_flow(Flow::RightToLeft).await;
    w.sync().await;
    w.sync().await;
    assert_eq!(titles(&w, &jira, &ado).await?, ("Export is slow (Jira)".into(), "Export is slow (Jira)".into()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flagged_conflict_waits_for_a_person_and_their_decision_settles_both_sides() -> Result<()> {
    let w = World::new(Variant { title_conflict: Some("flag"), ..Variant::default() }).await?;
    w.activate().await?;
    let (jira, ado) = settled_pair(&w).await?;
    edit_title_on_both_sides(&w, &jira, &ado).await?;
    w.jira_user("alice").await.update(&jira, vec![("priority", FieldValue::Option("High".into()))]).await?;
    w.sync().await;
    w.sync().await;

    // Neither title moved; the other field merged.
    assert_eq!(titles(&w, &jira, &ado).await?, ("Export is slow (Jira)".into(), "Export is slow (ADO)".into()));
    let item = w.reader(Side::Right).await.get(&ado).await?.context("item")?;
    assert_eq!(field(&item, "Microsoft.VSTS.Common.Priority"), FieldValue::Number(2.0), "priority merged");

    let failures = w.engine.state().list_failures(Some(&w.id)).await?;
    assert!(!failures.is_empty(), "the conflict is parked");
    for f in &failures {
        assert_eq!(f.category, ErrorCategory::FieldConflict, "{f:?}");
        assert!(
            f.cause.contains("Export is slow (Jira)") && f.cause.contains("Export is slow (ADO)"),
            "the cause shows both values: {}",
            f.cause
        );
        assert!(f.cause.contains("System.Title"), "the cause names the field: {}", f.cause);
    }
    let listed = w.ferry(&["failures", "list"]).await;
    assert!(listed.ok && listed.stdout.contains("[field_conflict]"), "{}{}", listed.stdout, listed.stderr);
    let status = w.ferry(&["status", "--json"]).await;
    assert_eq!(status.code, Some(4), "a parked conflict makes status unhealthy: {}", status.stderr);
    let all: serde_json::Value = serde_json::from_str(&status.stdout)?;
    let mine = all
        .as_array()
        .and_then(|a| a.iter().find(|i| i["integration"] == w.id.as_str()))
        .context("ferry status lists the integration")?;
    let conflicts: u64 = mine["flows"].as_array().into_iter().flatten().filter_map(|f| f["conflicts"].as_u64()).sum();
    assert!(conflicts >= 1, "ferry status shows the conflict:\n{}", status.stdout);

    // A person decides: the right side wins, whichever record they pick.
    w.engine.retry_failure_with(&failures[0].id, Some(Side::Right)).await?;
    w.sync().await;
    w.sync().await;
    assert_eq!(titles(&w, &jira, &ado).await?, ("Export is slow (ADO)".into(), "Export is slow (ADO)".into()));
    let left = w.engine.state().list_failures(Some(&w.id)).await?;
    assert!(left.is_empty(), "the decision settles both directions' records: {left:?}");

    // And the pair syncs normally again.
    w.jira_user("alice").await.update(&jira, vec![("summary", text("Export is fast now"))]).await?;
    w.sync().await;
    assert_eq!(titles(&w, &jira, &ado).await?, ("Export is fast now".into(), "Export is fast now".into()));
    Ok(())
}
