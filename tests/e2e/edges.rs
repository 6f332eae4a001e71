//! Edges of what a sync may take for granted: a field a system stops returning, a
//! rotated token, a criteria filter that tries to leave its project.

use crate::harness::*;
use anyhow::{Context, Result};
use ferry_domain::{FieldValue, Side};

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
