//! Edges of what a sync may take for granted: a field a system stops returning, a
//! rotated token, a criteria filter that tries to leave its project.

use crate::harness::*;
use anyhow::{Context, Result};
use chrono::Utc;
use ferry_domain::{FieldChange, FieldValue, Flow, Scope, Side};
use ferry_engine::EngineError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_jira_stops_returning_keeps_its_azure_devops_value_and_the_rest_syncs() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let alice = w.jira_user("alice").await;
    let bug = alice
        .create(vec![
            ("summary", text("Export times out")),
            ("customfield_10052", FieldValue::Number(5.0)),
            ("labels", FieldValue::List(vec!["export".into()])),
        ])
        .await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("the bug has no twin")?;

    // A Jira administrator takes Story Points out of the project's field context; a
    // person then edits the summary and clears the labels.
    w.jira.hide_field("customfield_10052");
    alice
        .update(&bug.id, vec![("summary", text("Export times out on big files")), ("labels", FieldValue::Null)])
        .await?;
    w.sync().await;

    let item = w.reader(Side::Right).await.get(&twin).await?.context("twin missing")?;
    assert_eq!(field_str(&item, "System.Title"), "Export times out on big files", "the rest syncs");
    assert_eq!(field(&item, "System.Tags"), FieldValue::Null, "an explicit clear still clears");
    assert_eq!(
        field(&item, "Microsoft.VSTS.Scheduling.StoryPoints"),
        FieldValue::Number(5.0),
        "a field Jira no longer returns is not a cleared field"
    );
    let failures = w.engine.state().list_failures(Some(&w.id)).await?;
    assert!(failures.is_empty(), "nothing parks: {failures:?}");
    Ok(())
}

fn labels(l: &[&str]) -> FieldValue {
    FieldValue::List(l.iter().map(|s| s.to_string()).collect())
}

/// A labelled bug in Jira project `project` (APP is the integration's, OPS is not).
async fn labelled_bug(w: &World, project: &str, summary: &str) -> Result<ferry_domain::EntityRef> {
    let alice = w.jira_user("alice").await;
    let scope = Scope { project: project.into(), entity_type: "Bug".into() };
    let fields = [("summary", text(summary)), ("labels", labels(&["sync"]))];
    let changes: Vec<FieldChange> =
        fields.into_iter().map(|(k, v)| FieldChange { field: ferry_domain::FieldKey::new(k), value: v }).collect();
    Ok(alice.conn.create(&scope, &changes).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_naming_another_project_never_copies_its_items() -> Result<()> {
    // Balanced and valid JQL: it is wrapped in parentheses after the project scope.
    let variant = Variant { filter_left_to_right: Some("labels = sync OR project = OPS"), ..Variant::default() };
    let w = World::new(variant).await?;
    w.activate().await?;
    let app = labelled_bug(&w, "APP", "In scope").await?;
    let ops = labelled_bug(&w, "OPS", "Another project's bug").await?;
    w.sync().await;
    assert!(w.twin(Side::Left, &app.id).await.is_some(), "the filtered APP bug syncs");
    assert!(w.twin(Side::Left, &ops.id).await.is_none(), "the OPS bug is outside the integration");
    let titles: Vec<String> = w
        .ado
        .work_item_ids("App")
        .into_iter()
        .filter_map(|id| w.ado.work_item_json(id))
        .map(|v| v["fields"]["System.Title"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(titles, vec!["In scope".to_string()]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_that_breaks_out_of_its_group_is_refused_at_apply_and_never_polled() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    let mut breakout = w.integration.clone();
    breakout.filter_left_to_right = Some("labels = sync) OR (project = OPS".into());
    // `apply` asks the live system and refuses it.
    let e = w.engine.apply(&w.systems, std::slice::from_ref(&breakout), true, Utc::now()).await.unwrap_err();
    assert!(matches!(e, EngineError::InvalidFilter { .. }), "{e}");
    assert!(e.to_string().contains("closes a parenthesis"), "{e}");
    assert!(w.engine.config_store().get_integration(&w.id).await?.is_none(), "nothing was stored");

    // Stored without the check, the poll still refuses to send it.
    w.engine.apply(&w.systems, std::slice::from_ref(&breakout), false, Utc::now()).await?;
    w.engine.activate(&w.id, Utc::now()).await?;
    let ops = labelled_bug(&w, "OPS", "Another project's bug").await?;
    w.jira.clear_requests();
    let e = w.engine.poll(&w.id, Flow::LeftToRight, Utc::now()).await.unwrap_err();
    assert!(e.to_string().contains("closes a parenthesis"), "{e}");
    assert!(!w.jira.requests().iter().any(|r| r.path.ends_with("/search/jql")), "no search was sent");
    assert!(w.twin(Side::Left, &ops.id).await.is_none());
    assert!(w.ado.work_item_ids("App").is_empty(), "nothing was copied");
    Ok(())
}
