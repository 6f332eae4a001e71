//! Comments, attachments and issue links between Jira and Azure DevOps, over the real
//! engine and connectors against both simulators.

use crate::harness::*;
use anyhow::{Context, Result};
use ferry_domain::{Attachment, ByteSink, ByteSource, Comment, CommentWrite, EntityId, PortError, Relation, Side};
use ferry_runtime::actor::Actor;
use sha2::{Digest, Sha256};

fn collab() -> Variant {
    Variant { collaboration: true, ..Variant::default() }
}

/// A person's comment: no origin mark.
fn said(text: &str) -> CommentWrite {
    CommentWrite { body: format!("<p>{text}</p>"), origin: String::new() }
}

async fn comments(a: &Actor, id: &EntityId) -> Result<Vec<Comment>> {
    Ok(a.conn.comments(&a.scope, id).await?)
}

async fn new_pair(w: &World, title: &str) -> Result<(EntityId, EntityId)> {
    let bug = w.jira_user("alice").await.create(vec![("summary", text(title))]).await?;
    w.sync().await;
    let twin = w.twin(Side::Left, &bug.id).await.context("no twin")?;
    Ok((bug.id, twin))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_travel_both_ways_with_their_author_and_never_echo() -> Result<()> {
    let w = World::new(collab()).await?;
    w.activate().await?;
    let (bug, item) = new_pair(&w, "Comments").await?;
    let (alice, bob) = (w.jira_user("alice").await, w.ado_user("bob").await);
    let asked = alice.conn.add_comment(&alice.scope, &bug, &said("Which browser?")).await?;
    bob.conn.add_comment(&bob.scope, &item, &said("Firefox 130")).await?;
    w.sync().await;
    w.sync().await;

    let on_ado = comments(&w.reader(Side::Right).await, &item).await?;
    let on_jira = comments(&w.reader(Side::Left).await, &bug).await?;
    assert_eq!(on_ado.len(), 2, "bob's and the copy of alice's: {on_ado:#?}");
    assert_eq!(on_jira.len(), 2, "alice's and the copy of bob's: {on_jira:#?}");
    let copy = on_ado.iter().find(|c| c.body.contains("Which browser?")).context("alice's copy")?;
    assert!(copy.body.contains("Alice Jones wrote on"), "attributed: {}", copy.body);
    assert!(on_jira.iter().any(|c| c.body.contains("Bob Smith wrote on") && c.body.contains("Firefox 130")));

    // Settled: more syncs copy nothing back.
    w.sync().await;
    w.sync().await;
    assert_eq!(comments(&w.reader(Side::Right).await, &item).await?.len(), 2, "no echo on Azure DevOps");
    assert_eq!(comments(&w.reader(Side::Left).await, &bug).await?.len(), 2, "no echo on Jira");

    // An edit reaches the copy; a deletion deletes it.
    alice.conn.edit_comment(&alice.scope, &bug, &asked.id, &said("Which browser and version?")).await?;
    let bobs = comments(&bob, &item)
        .await?
        .into_iter()
        .find(|c| c.body.contains("Firefox 130") && !c.body.contains("wrote on"));
    bob.conn.delete_comment(&bob.scope, &item, &bobs.context("bob's comment")?.id).await?;
    w.sync().await;
    w.sync().await;
    let on_ado = comments(&w.reader(Side::Right).await, &item).await?;
    assert!(on_ado.iter().any(|c| c.body.contains("Which browser and version?")), "edited: {on_ado:#?}");
    let on_jira = comments(&w.reader(Side::Left).await, &bug).await?;
    assert_eq!(on_jira.len(), 1, "the copy of bob's deleted comment is gone: {on_jira:#?}");
    Ok(())
}

/// Bytes from a seeded generator, hashed as they are handed out.
struct Generated {
    left: u64,
    state: u64,
}

#[async_trait::async_trait]
impl ByteSource for Generated {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PortError> {
        if self.left == 0 {
            return Ok(None);
        }
        let n = self.left.min(64 * 1024) as usize;
        let mut chunk = Vec::with_capacity(n);
        for _ in 0..n {
            self.state = self.state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            chunk.push((self.state >> 56) as u8);
        }
        self.left -= n as u64;
        Ok(Some(chunk))
    }
}

struct Hashing(Sha256, u64);

#[async_trait::async_trait]
impl ByteSink for Hashing {
    async fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), PortError> {
        self.0.update(chunk);
        self.1 += chunk.len() as u64;
        Ok(())
    }
}

async fn digest(a: &Actor, id: &EntityId, att: &Attachment) -> Result<(String, u64)> {
    let mut sink = Hashing(Sha256::new(), 0);
    a.conn.download(&a.scope, id, att, &mut sink).await?;
    let hex: String = sink.0.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((hex, sink.1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_is_copied_whole_and_its_deletion_follows() -> Result<()> {
    let w = World::new(collab()).await?;
    w.activate().await?;
    let (bug, item) = new_pair(&w, "Attachments").await?;
    let alice = w.jira_user("alice").await;
    let size = 5 * 1024 * 1024 + 17;
    let mut bytes = Generated { left: size, state: 7 };
    let original = alice.conn.upload(&alice.scope, &bug, "trace.pdf", size, &mut bytes).await?;
    w.sync().await;

    let ado = w.reader(Side::Right).await;
    let copies = ado.conn.attachments(&ado.scope, &item).await?;
    assert_eq!(copies.len(), 1, "{copies:#?}");
    assert_eq!((copies[0].name.as_str(), copies[0].size), ("trace.pdf", size));
    let jira = w.reader(Side::Left).await;
    assert_eq!(digest(&ado, &item, &copies[0]).await?, digest(&jira, &bug, &original).await?, "same bytes");

    w.sync().await;
    assert_eq!(jira.conn.attachments(&jira.scope, &bug).await?.len(), 1, "the copy is not copied back");

    alice.conn.delete_attachment(&alice.scope, &bug, &original.id).await?;
    w.sync().await;
    assert!(ado.conn.attachments(&ado.scope, &item).await?.is_empty(), "the deletion followed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocks_link_becomes_a_dependency_in_its_direction() -> Result<()> {
    let w = World::new(collab()).await?;
    w.activate().await?;
    let (blocker, blocker_twin) = new_pair(&w, "Blocker").await?;
    let (blocked, blocked_twin) = new_pair(&w, "Blocked").await?;
    let alice = w.jira_user("alice").await;
    let link = Relation::Link { link_type: "Blocks".into(), outward: true, other: blocked.clone() };
    alice.conn.add_relation(&alice.scope, &blocker, &link).await?;
    w.sync().await;
    w.sync().await;

    let ado = w.reader(Side::Right).await;
    let rel = ado.conn.relations(&ado.scope, &blocker_twin).await?;
    let want =
        Relation::Link { link_type: "System.LinkTypes.Dependency".into(), outward: true, other: blocked_twin.clone() };
    assert!(rel.contains(&want), "{rel:#?}");
    let jira = w.reader(Side::Left).await;
    let links = jira.conn.relations(&jira.scope, &blocker).await?;
    assert_eq!(links.iter().filter(|r| matches!(r, Relation::Link { .. })).count(), 1, "no echo link: {links:#?}");

    alice.conn.remove_relation(&alice.scope, &blocker, &link).await?;
    w.sync().await;
    w.sync().await;
    let rel = ado.conn.relations(&ado.scope, &blocker_twin).await?;
    assert!(!rel.contains(&want), "the removal followed: {rel:#?}");
    Ok(())
}
