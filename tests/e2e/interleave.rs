//! Work interleaved with Ferry's at an exact point, through the simulators' test hooks: a
//! person's edit in the middle of Ferry's write, the other direction's write of the same
//! pair between two of Ferry's steps, a create the target refuses.

use crate::harness::*;
use anyhow::{Context, Result};
use chrono::Utc;
use ferry_domain::ports::{Delivery, QueueName, StateKey, StateRecord};
use ferry_domain::{EntityId, FieldValue, Flow, Side};
use ferry_engine::HandleError;
use ferry_sim::HookWhen;
use std::time::Duration;

const BOT: &str = "ferry-bot@acme.test";
const PRIORITY: &str = "Microsoft.VSTS.Common.Priority";

/// A Jira bug synced to Azure DevOps; returns (jira id, ado id).
async fn synced_pair(w: &World) -> Result<(EntityId, EntityId)> {
    let bug = w
        .jira_user("alice")
        .await
        .create(vec![("summary", text("Interleaved")), ("priority", FieldValue::Option("Medium".into()))])
        .await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("no twin")?;
    Ok((bug.id, twin))
}

/// Every message waiting in `queue`, received (in flight for a minute).
async fn receive_all(w: &World, queue: QueueName) -> Result<Vec<Delivery>> {
    let mut out = Vec::new();
    for _ in 0..5 {
        let got = w.engine.queue().receive(queue, 10, Duration::from_secs(60)).await?;
        if got.is_empty() && !out.is_empty() {
            break;
        }
        out.extend(got);
    }
    Ok(out)
}

/// Transforms every waiting change event (their write commands stay queued).
async fn transform_all(w: &World) -> Result<()> {
    for d in receive_all(w, QueueName::Changes).await? {
        transform_one(&w.engine, &d.body, d.receive_count).await?;
        w.engine.queue().ack(QueueName::Changes, &d.receipt).await?;
    }
    Ok(())
}

async fn write_and_ack(w: &World, d: &Delivery) -> Result<()> {
    write_one(&w.engine, &d.body, d.receive_count).await?;
    w.engine.queue().ack(QueueName::Writes, &d.receipt).await?;
    Ok(())
}

fn flow_of(d: &Delivery) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&d.body).ok()?;
    v["flow"].as_str().map(str::to_string)
}

/// Jira has no conditional update: Ferry's edit, its workflow transitions and its read
/// back are separate requests, and a person can edit between them. That edit (of
/// another field) must reach the other side, not be recorded as part of Ferry's echo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_edit_during_ferrys_jira_write_reaches_the_other_side() -> Result<()> {
    // Before Ferry's edit is applied, and after it (between the edit and the transitions).
    for moment in [HookWhen::Before, HookWhen::After] {
        let w = World::new(Variant::default()).await?;
        w.activate().await?;
        let (jira_id, ado_id) = synced_pair(&w).await?;
        // In Jira this is an edit of the summary, then two transitions (To Do -> In Review).
        w.ado_user("bob")
            .await
            .update(&ado_id, vec![("System.Title", text("Retitled in ADO")), ("System.State", text("Resolved"))])
            .await?;
        let carol = w.jira_user("carol").await;
        let (id, path) = (jira_id.clone(), format!("/issue/{jira_id}"));
        w.jira.hooks().once(
            moment,
            move |r| r.is("PUT", &path, BOT),
            move |_| async move {
                carol
                    .update(&id, vec![("priority", FieldValue::Option("Highest".into()))])
                    .await
                    .expect("carol's edit");
            },
        );
        w.sync().await;
        assert_eq!(w.jira.hooks().pending(), 0, "{moment:?}: Ferry's edit of the Jira issue happened");
        w.sync().await;

        let issue = w.reader(Side::Left).await.get(&jira_id).await?.context("issue")?;
        assert_eq!(field_str(&issue, "summary"), "Retitled in ADO");
        assert_eq!(field_str(&issue, "status"), "In Review");
        assert_eq!(field_str(&issue, "priority"), "Highest", "{moment:?}: carol's edit stays");
        let item = w.reader(Side::Right).await.get(&ado_id).await?.context("item")?;
        assert_eq!(field(&item, PRIORITY), FieldValue::Number(1.0), "{moment:?}: carol's edit reached ADO");
    }
    Ok(())
}

/// An Azure DevOps create is followed by Ferry's own requests (the back-link, the read
/// of what it made): a person's edit right after the create must not be taken for a
/// value Ferry wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_edit_right_after_ferry_creates_a_work_item_reaches_the_other_side() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let (ado, bob) = (w.ado.clone(), w.ado_user("bob").await);
    w.ado.hooks().once(
        HookWhen::After,
        |r| r.is("POST", "/workitems/$Bug", BOT),
        move |_| async move {
            let id = ado.work_item_ids("App").into_iter().max().expect("the new work item");
            bob.update(&EntityId::new(id.to_string()), vec![(PRIORITY, FieldValue::Number(1.0))]).await.expect("edit");
        },
    );
    let (jira_id, ado_id) = synced_pair(&w).await?;
    assert_eq!(w.ado.hooks().pending(), 0, "Ferry created the work item");
    w.sync().await;

    let issue = w.reader(Side::Left).await.get(&jira_id).await?.context("issue")?;
    assert_eq!(field_str(&issue, "priority"), "Highest", "bob's edit reached Jira");
    let item = w.reader(Side::Right).await.get(&ado_id).await?.context("item")?;
    assert_eq!(field(&item, PRIORITY), FieldValue::Number(1.0), "bob's edit stays");
    Ok(())
}

/// A write command built before its pair was linked runs in its source entity's message
/// group, so it can run at the same time as a write of the other direction of the same
/// pair. Both read the pair's record and write it back; neither update may be lost.
/// (With a remote id or link written back to the work item, the create's write-back
/// makes the held command stale; this integration writes neither there.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_of_both_directions_of_one_pair_at_once_lose_neither_fingerprint() -> Result<()> {
    let w = World::new(Variant { remote_ids: false, links: "left", ..Variant::default() }).await?;
    w.activate().await?;
    let bob = w.ado_user("bob").await;
    let r = bob.create(vec![("System.Title", text("Raced")), (PRIORITY, FieldValue::Number(3.0))]).await?;
    // Two changes of the work item are transformed before either is written: both are
    // creates, in the work item's own message group.
    w.engine.poll(&w.id, Flow::RightToLeft, Utc::now()).await?;
    transform_all(&w).await?;
    bob.update(&r.id, vec![(PRIORITY, FieldValue::Number(1.0))]).await?;
    w.engine.poll(&w.id, Flow::RightToLeft, Utc::now()).await?;
    transform_all(&w).await?;
    // One message group delivers in order: the second once the first is done (or with it).
    let mut held = receive_all(&w, QueueName::Writes).await?;
    let first = held.remove(0);
    // The first creates the Jira twin and links the pair.
    write_and_ack(&w, &first).await?;
    let second = match held.pop() {
        Some(d) => d,
        None => receive_all(&w, QueueName::Writes).await?.pop().context("the second right-to-left command")?,
    };
    assert_eq!(flow_of(&second).as_deref(), Some("right_to_left"));
    let jira_id = w.twin(Side::Right, &r.id).await.context("linked")?;
    // A person edits the twin: that change is built for the linked pair.
    w.jira_user("alice").await.update(&jira_id, vec![("summary", text("Raced, retitled in Jira"))]).await?;
    w.engine.poll(&w.id, Flow::LeftToRight, Utc::now()).await?;
    transform_all(&w).await?;
    let l2r = receive_all(&w, QueueName::Writes).await?;
    assert_eq!(l2r.iter().map(flow_of).collect::<Vec<_>>(), [Some("left_to_right".to_string())]);

    // While the left-to-right write patches the work item, the held right-to-left one
    // (the priority) runs from start to end.
    let (engine, body) = (w.engine.clone(), second.body.clone());
    let path = format!("/workitems/{}", r.id);
    w.ado.hooks().once(
        HookWhen::Before,
        move |req| req.is("PATCH", &path, BOT),
        move |_| async move {
            write_one(&engine, &body, 1).await.expect("the right-to-left write");
        },
    );
    let raced = write_one(&w.engine, &l2r[0].body, 1).await;
    assert_eq!(w.ado.hooks().pending(), 0, "the other direction ran in between");
    assert!(
        matches!(raced, Err(HandleError::Retry { .. })),
        "the pair changed since this write read it: it runs again: {raced:?}"
    );
    write_one(&w.engine, &l2r[0].body, 2).await?;
    w.engine.queue().ack(QueueName::Writes, &second.receipt).await?;
    w.engine.queue().ack(QueueName::Writes, &l2r[0].receipt).await?;

    // The right-to-left write's update of the pair's record is kept (the left-to-right
    // write's retry read it, and found its own snapshot older than that write).
    let key = StateKey::Pair(w.id.clone(), jira_id.clone());
    let pair = match w.engine.state().get_many(std::slice::from_ref(&key)).await?.remove(&key) {
        Some(StateRecord::Pair(p)) => p,
        other => anyhow::bail!("the pair has no record: {other:?}"),
    };
    let (left, right) = (pair.left.context("left")?, pair.right.context("right")?);
    assert_eq!(left.values.get("priority"), Some(&FieldValue::Option("Highest".into())), "what it wrote to Jira");
    assert_eq!(right.values.get(PRIORITY), Some(&FieldValue::Number(1.0)), "the work item's synced values");

    // And the pair settles without writing anything more.
    w.sync().await;
    w.jira.clear_requests();
    w.ado.clear_requests();
    w.sync().await;
    assert_eq!(writes_in(&w.jira.requests()), Vec::<String>::new(), "no echo to Jira");
    assert_eq!(writes_in(&w.ado.requests()), Vec::<String>::new(), "no echo to ADO");
    let issue = w.reader(Side::Left).await.get(&jira_id).await?.context("issue")?;
    assert_eq!(
        (field_str(&issue, "summary"), field_str(&issue, "priority")),
        ("Raced, retitled in Jira".into(), "Highest".into())
    );
    let item = w.reader(Side::Right).await.get(&r.id).await?.context("item")?;
    assert_eq!(field_str(&item, "System.Title"), "Raced, retitled in Jira");
    Ok(())
}

/// Without remote-id fields Ferry cannot search for a twin, so a create whose outcome is
/// unknown parks for a person. A create the target refused (429 on every attempt)
/// created nothing: its retry creates, and nothing is parked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_refused_with_429_is_retried_not_parked_without_remote_ids() -> Result<()> {
    let w = World::new(Variant { remote_ids: false, ..Variant::default() }).await?;
    w.activate().await?;
    let ado = w.ado.clone();
    // The connector tries 4 times: every attempt of this create is refused.
    w.ado.hooks().once(
        HookWhen::Before,
        |r| r.is("POST", "/workitems/$Bug", BOT),
        move |_| async move { ado.faults().rate_limit_next(4, 0) },
    );
    let bug = w.jira_user("alice").await.create(vec![("summary", text("Refused once"))]).await?;
    w.sync().await;
    assert_eq!(w.ado.hooks().pending(), 0, "the create was refused");
    w.sync().await;

    let refused = w.ado.requests().iter().filter(|r| r.method == "POST" && r.status == 429).count();
    assert_eq!(refused, 4, "every attempt of the first try was refused");
    let failures = w.engine.state().list_failures(Some(&w.id)).await?;
    assert!(failures.is_empty(), "nothing parked: {:?}", failures.iter().map(|f| &f.cause).collect::<Vec<_>>());
    let twin = w.twin(Side::Left, &bug.id).await.context("created on the retry")?;
    let item = w.reader(Side::Right).await.get(&twin).await?.context("item")?;
    assert_eq!(field_str(&item, "System.Title"), "Refused once");
    assert_eq!(w.ado.work_item_ids("App").len(), 1, "one work item");
    Ok(())
}

/// A create is several requests: once the twin exists and the pair is linked, Ferry
/// adds the back-link to the twin. A person's edit of the twin just before that request
/// makes it fail (Azure DevOps' `test /rev`), and the step runs again with the pair
/// linked but its fingerprints not stored yet. The retry must keep the person's edit,
/// not take the twin for Ferry's copy and write over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_edit_that_fails_a_creates_last_step_is_kept() -> Result<()> {
    let w = World::new(Variant::default()).await?;
    w.activate().await?;
    let (ado, bob) = (w.ado.clone(), w.ado_user("bob").await);
    // The first PATCH of a work item by Ferry: the back-link of a new twin.
    w.ado.hooks().once(
        HookWhen::Before,
        |r| r.method == "PATCH" && r.path.contains("/workitems/") && r.user.as_deref() == Some(BOT),
        move |_| async move {
            let id = ado.work_item_ids("App").into_iter().max().expect("the new work item");
            bob.update(&EntityId::new(id.to_string()), vec![("System.Title", text("Retitled by bob"))])
                .await
                .expect("bob's edit");
        },
    );
    let (jira_id, ado_id) = synced_pair(&w).await?;
    assert_eq!(w.ado.hooks().pending(), 0, "bob edited the twin during the create");
    w.sync().await;

    let item = w.reader(Side::Right).await.get(&ado_id).await?.context("item")?;
    assert_eq!(field_str(&item, "System.Title"), "Retitled by bob", "bob's edit stays");
    let issue = w.reader(Side::Left).await.get(&jira_id).await?.context("issue")?;
    assert_eq!(field_str(&issue, "summary"), "Retitled by bob", "bob's edit reached Jira");
    Ok(())
}

/// A person's revision read before Ferry wrote the same work item is stale for its
/// fields, not for its conversation: an Azure DevOps comment edit (which writes no
/// revision of its own) that the revision revealed still reaches its copy in Jira.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_edit_behind_a_stale_revision_still_reaches_its_copy() -> Result<()> {
    let w = World::new(Variant { collaboration: true, ..Variant::default() }).await?;
    w.activate().await?;
    let (jira_id, ado_id) = synced_pair(&w).await?;
    let bob = w.ado_user("bob").await;
    let said = |body: &str| ferry_domain::CommentWrite { body: format!("<p>{body}</p>"), origin: String::new() };
    let comment = bob.conn.add_comment(&bob.scope, &ado_id, &said("Seen on build 41")).await?;
    w.sync().await;
    bob.conn.edit_comment(&bob.scope, &ado_id, &comment.id, &said("Seen on build 42")).await?;
    bob.update(&ado_id, vec![("System.Title", text("Retitled by bob"))]).await?;
    // Bob's revision is read, and held back while the other direction writes the work item.
    w.engine.poll(&w.id, Flow::RightToLeft, Utc::now()).await?;
    let held = receive_all(&w, QueueName::Changes).await?;
    assert_eq!(held.len(), 1, "bob's revision");
    w.jira_user("alice").await.update(&jira_id, vec![("priority", FieldValue::Option("High".into()))]).await?;
    w.engine.poll(&w.id, Flow::LeftToRight, Utc::now()).await?;
    transform_all(&w).await?;
    for d in receive_all(&w, QueueName::Writes).await? {
        write_and_ack(&w, &d).await?;
    }
    // Now bob's revision is older than Ferry's write to the work item.
    for d in &held {
        transform_one(&w.engine, &d.body, d.receive_count).await?;
        w.engine.queue().ack(QueueName::Changes, &d.receipt).await?;
    }
    for d in receive_all(&w, QueueName::Writes).await? {
        write_and_ack(&w, &d).await?;
    }
    let jira = w.reader(Side::Left).await;
    let copies = jira.conn.comments(&jira.scope, &jira_id).await?;
    assert_eq!(copies.len(), 1, "{copies:#?}");
    assert!(copies[0].body.contains("Seen on build 42"), "the edit reached the copy: {}", copies[0].body);
    Ok(())
}
