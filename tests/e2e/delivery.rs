//! How messages travel, on either backend (`FERRY_E2E_BACKEND=aws` runs these on the
//! emulator through the real Lambda handlers): payloads too large for a queue message or
//! a store item, and the last delivery before the dead-letter queue.

use crate::harness::*;
use anyhow::{Context, Result};
use chrono::Utc;
use ferry_domain::ports::QueueName;
use ferry_domain::{ErrorCategory, FieldValue, Flow, Side};
use ferry_engine::{TransformOutcome, WriteOutcome};

/// A rich-text description of `chars` characters of plain text (after `marker`), in
/// paragraphs of three-byte characters: at Jira's limit of 32,767 characters it is about
/// 96 KB, and a write command carries it three times (source, changes, mapped values).
fn long_description(chars: usize, marker: &str) -> String {
    let alphabet: Vec<char> = "漢字説明文章長試験同期確認".chars().collect();
    let mut out = format!("<p>{marker} ");
    let mut n = marker.chars().count() + 1;
    while n < chars {
        let run = (chars - n).min(999);
        out.extend((0..run).map(|i| alphabet[(n + i) % alphabet.len()]));
        n += run;
        out.push_str("</p><p>");
    }
    out.push_str("</p>");
    out
}

/// The most plain-text characters Jira takes in a description is 32,767.
const NEAR_JIRA_LIMIT: usize = 32_000;

fn text_len(v: &FieldValue) -> usize {
    match v {
        FieldValue::RichText(s) | FieldValue::Text(s) => s.len(),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptions_whose_write_commands_outgrow_a_queue_message_sync_both_ways() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let long = long_description(NEAR_JIRA_LIMIT, "Login");
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("A very long report")), ("description", FieldValue::RichText(long))])
        .await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("the long bug has no Azure DevOps twin")?;
    let item = w.reader(Side::Right).await.get(&twin).await?.context("twin missing")?;
    let synced = field_str(&item, "System.Description");
    assert!(
        synced.len() > 90_000 && synced.contains("Login"),
        "the whole description reached Azure DevOps: {} bytes",
        synced.len()
    );

    let reply = long_description(NEAR_JIRA_LIMIT, "Logout");
    w.ado_user("bob").await.update(&twin, vec![("System.Description", FieldValue::RichText(reply))]).await?;
    w.sync().await;
    let back = w.reader(Side::Left).await.get(&bug.id).await?.context("bug missing")?;
    let html = field_str(&back, "description");
    assert!(html.len() > 90_000 && html.contains("Logout") && !html.contains("Login"), "{} bytes back", html.len());
    assert_eq!(w.queue_depth().await, 0);
    assert!(w.engine.state().list_failures(Some(&w.id)).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_megabyte_description_neither_stalls_its_direction_nor_is_lost() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let bob = w.ado_user("bob").await;
    // Azure DevOps takes a 1 MB description; Jira takes at most 32,767 characters.
    let huge = bob
        .create(vec![
            ("System.Title", text("Pasted a whole log")),
            ("System.Description", FieldValue::RichText(long_description(350_000, "Huge"))),
        ])
        .await?;
    let small = bob.create(vec![("System.Title", text("An ordinary bug"))]).await?;
    w.sync().await;
    assert!(w.twin(Side::Right, &small.id).await.is_some(), "the direction kept syncing");
    assert_eq!(w.twin(Side::Right, &huge.id).await, None, "Jira cannot hold it");
    let failure = w
        .engine
        .state()
        .failure_for_entity(&w.id, Flow::RightToLeft, &huge.id)
        .await?
        .context("parked, not dropped")?;
    assert_eq!(failure.category, ErrorCategory::InvalidRequest, "{}", failure.cause);
    assert!(failure.cause.contains("32767"), "{}", failure.cause);
    let kept = serde_json::to_string(&failure)?.len();
    assert!(kept > 3_000_000, "the whole snapshot is kept with the failure: {kept} bytes");

    // Shortened in Azure DevOps: the newer event waits behind the failure; a retry syncs it.
    bob.update(&huge.id, vec![("System.Description", FieldValue::RichText("<p>See the attached log</p>".into()))])
        .await?;
    w.sync().await;
    let waiting = w.engine.state().get_failure(&failure.id).await?.context("still parked")?;
    w.engine.retry_failure(&waiting.id).await?;
    w.sync().await;
    let twin = w.twin(Side::Right, &huge.id).await.context("the retry created the Jira issue")?;
    let issue = w.reader(Side::Left).await.get(&twin).await?.context("issue missing")?;
    assert!(field_str(&issue, "description").contains("See the attached log"));
    assert!(w.engine.state().list_failures(Some(&w.id)).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_whose_snapshot_is_over_300_kb_is_parked_and_retried() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let long = long_description(NEAR_JIRA_LIMIT, "Search");
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("Long and refused")), ("description", FieldValue::RichText(long))])
        .await?;
    w.engine.poll(&w.id, Flow::LeftToRight, Utc::now()).await?;
    let (change, receipt) = w.next_message(QueueName::Changes).await?;
    let outcome = transform_one(&w.engine, &change, 1).await?;
    assert!(matches!(outcome, TransformOutcome::Enqueued { create: true, .. }), "{outcome:?}");
    w.engine.queue().ack(QueueName::Changes, &receipt).await?;
    let (command, receipt) = w.next_message(QueueName::Writes).await?;
    // Azure DevOps refuses the create: parked at once, with the input snapshot and the
    // mapping output (the description three more times) in the failure record.
    w.ado.faults().fail_next(1, 400);
    let outcome = write_one(&w.engine, &command, 1).await?;
    let WriteOutcome::Parked { failure_id, .. } = outcome else { panic!("parked: {outcome:?}") };
    w.engine.queue().ack(QueueName::Writes, &receipt).await?;

    let failure = w.engine.state().get_failure(&failure_id).await?.context("the failure is stored")?;
    assert_eq!(failure.category, ErrorCategory::InvalidRequest, "{}", failure.cause);
    let snapshot = serde_json::to_string(&failure)?.len();
    assert!(snapshot > 300 * 1024, "the whole record is kept: {snapshot} bytes");
    let listed = w.ferry(&["failures", "list"]).await;
    assert!(listed.ok && listed.stdout.contains(&failure_id), "{}{}", listed.stdout, listed.stderr);

    w.engine.retry_failure(&failure_id).await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("the retried create made a twin")?;
    let item = w.reader(Side::Right).await.get(&twin).await?.context("twin missing")?;
    assert!(text_len(&field(&item, "System.Description")) > 90_000);
    assert_eq!(w.engine.state().get_failure(&failure_id).await?, None, "the retry succeeded");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_on_the_last_delivery_before_the_dead_letter_queue_is_parked() -> Result<()> {
    let mut w = World::new(Variant::default()).await?;
    // More attempts than the queues allow deliveries (5, on both backends here).
    w.integration.max_attempts = 10;
    let report = w.engine.apply(&w.systems, std::slice::from_ref(&w.integration), true, Utc::now()).await?;
    let note = report.notes.join("\n");
    assert!(note.contains("max_attempts is 10") && note.contains("delivery 5"), "apply says what it will do: {note}");
    w.engine.activate(&w.id, Utc::now()).await?;
    let max = w.engine.queue().max_receives().context("both queues dead-letter")?;
    assert_eq!(max, 5);
    w.jira_user("alice").await.create(vec![("summary", text("Flaky target"))]).await?;
    w.engine.poll(&w.id, Flow::LeftToRight, Utc::now()).await?;
    let (change, receipt) = w.next_message(QueueName::Changes).await?;
    transform_one(&w.engine, &change, 1).await?;
    w.engine.queue().ack(QueueName::Changes, &receipt).await?;
    let (command, receipt) = w.next_message(QueueName::Writes).await?;

    // Azure DevOps answers 503 to everything (each attempt retries inside the connector too).
    w.ado.faults().fail_next(1000, 503);
    let before_last = write_one(&w.engine, &command, max - 1).await;
    assert!(before_last.is_err(), "retried while deliveries remain: {before_last:?}");
    let last = write_one(&w.engine, &command, max).await?;
    w.ado.faults().fail_next(0, 503);
    let WriteOutcome::Parked { failure_id, .. } = last else { panic!("parked on the last delivery: {last:?}") };
    w.engine.queue().ack(QueueName::Writes, &receipt).await?;
    let failure = w.engine.state().get_failure(&failure_id).await?.context("failure record")?;
    assert!(failure.category.is_retryable(), "a transient failure: {}", failure.cause);
    assert_eq!(failure.attempts, max);
    Ok(())
}
