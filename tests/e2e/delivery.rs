//! How messages travel, on either backend (`FERRY_E2E_BACKEND=aws` runs these on the
//! emulator through the real Lambda handlers): payloads too large for a queue message or
//! a store item, and the last delivery before the dead-letter queue.

use crate::harness::*;
use anyhow::{Context, Result};
use chrono::Utc;
use ferry_domain::ports::QueueName;
use ferry_domain::{ErrorCategory, FieldValue, Flow, Side};
use ferry_engine::{TransformOutcome, WriteOutcome};
use std::time::Duration;

/// A rich-text description of about `bytes` bytes, in paragraphs.
fn long_description(bytes: usize, word: &str) -> String {
    let sentence = format!("{word} fails when the session cookie expires during checkout on mobile. ");
    let paragraph = format!("<p>{}</p>", sentence.repeat(40));
    paragraph.repeat(bytes / paragraph.len() + 1)
}

fn text_len(v: &FieldValue) -> usize {
    match v {
        FieldValue::RichText(s) | FieldValue::Text(s) => s.len(),
        _ => 0,
    }
}

/// The next message of `queue`, opened as a handler sees it, with its receipt.
async fn next_message(w: &World, queue: QueueName) -> Result<(String, String)> {
    let q = w.engine.queue();
    let got = q.receive(queue, 1, Duration::from_secs(60)).await?;
    let d = got.into_iter().next().context("a message on the queue")?;
    Ok((q.open_body(queue, &d.body).await?, d.receipt))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_megabyte_description_syncs_both_ways() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let long = long_description(1 << 20, "Login");
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("A very long report")), ("description", FieldValue::RichText(long.clone()))])
        .await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("the 1 MB bug has no Azure DevOps twin")?;
    let item = w.reader(Side::Right).await.get(&twin).await?.context("twin missing")?;
    let synced = text_len(&field(&item, "System.Description"));
    assert!(synced >= 1 << 20, "the whole description reached Azure DevOps: {synced} bytes");

    let reply = long_description(1 << 20, "Logout");
    w.ado_user("bob").await.update(&twin, vec![("System.Description", FieldValue::RichText(reply))]).await?;
    w.sync().await;
    let back = w.reader(Side::Left).await.get(&bug.id).await?.context("bug missing")?;
    let description = field(&back, "description");
    let FieldValue::RichText(html) = &description else { panic!("description is rich text: {description:?}") };
    assert!(html.len() >= 1 << 20 && html.contains("Logout") && !html.contains("Login fails"), "{} bytes", html.len());
    assert_eq!(w.queue_depth().await, 0);
    assert!(w.engine.state().list_failures(Some(&w.id)).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_with_a_300_kb_snapshot_is_parked_and_retried() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let long = long_description(300 * 1024, "Search");
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("Long and refused")), ("description", FieldValue::RichText(long))])
        .await?;
    w.engine.poll(&w.id, Flow::LeftToRight, Utc::now()).await?;
    let (change, receipt) = next_message(&w, QueueName::Changes).await?;
    let outcome = w.engine.transform(&change, 1).await?;
    assert!(matches!(outcome, TransformOutcome::Enqueued { create: true, .. }), "{outcome:?}");
    w.engine.queue().ack(QueueName::Changes, &receipt).await?;
    let (command, receipt) = next_message(&w, QueueName::Writes).await?;
    // Azure DevOps refuses the create: parked at once, with the input snapshot and the
    // mapping output (the description three more times) in the failure record.
    w.ado.faults().fail_next(1, 400);
    let outcome = w.engine.write(&command, 1).await?;
    let WriteOutcome::Parked { failure_id } = outcome else { panic!("parked: {outcome:?}") };
    w.engine.queue().ack(QueueName::Writes, &receipt).await?;

    let failure = w.engine.state().get_failure(&failure_id).await?.context("the failure is stored")?;
    assert_eq!(failure.category, ErrorCategory::InvalidRequest, "{}", failure.cause);
    let snapshot = serde_json::to_string(&failure)?.len();
    assert!(snapshot > 1_000_000, "the whole record is kept: {snapshot} bytes");
    let listed = w.ferry(&["failures", "list"]).await;
    assert!(listed.ok && listed.stdout.contains(&failure_id), "{}{}", listed.stdout, listed.stderr);

    w.engine.retry_failure(&failure_id).await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("the retried create made a twin")?;
    let item = w.reader(Side::Right).await.get(&twin).await?.context("twin missing")?;
    assert!(text_len(&field(&item, "System.Description")) >= 300 * 1024);
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
    let (change, receipt) = next_message(&w, QueueName::Changes).await?;
    w.engine.transform(&change, 1).await?;
    w.engine.queue().ack(QueueName::Changes, &receipt).await?;
    let (command, receipt) = next_message(&w, QueueName::Writes).await?;

    // Azure DevOps answers 503 to everything (each attempt retries inside the connector too).
    w.ado.faults().fail_next(1000, 503);
    let before_last = w.engine.write(&command, max - 1).await;
    assert!(before_last.is_err(), "retried while deliveries remain: {before_last:?}");
    let last = w.engine.write(&command, max).await?;
    w.ado.faults().fail_next(0, 503);
    let WriteOutcome::Parked { failure_id } = last else { panic!("parked on the last delivery: {last:?}") };
    w.engine.queue().ack(QueueName::Writes, &receipt).await?;
    let failure = w.engine.state().get_failure(&failure_id).await?.context("failure record")?;
    assert_eq!((failure.category, failure.attempts), (ErrorCategory::Server, max));
    Ok(())
}
