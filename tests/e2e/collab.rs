//! Comments, attachments and issue links between Jira and Azure DevOps, over the real
//! engine and connectors against both simulators.

use crate::harness::*;
use anyhow::{Context, Result};
use ferry_domain::{
    Attachment, ByteSink, ByteSource, Comment, CommentWrite, EntityId, FieldValue, PortError, Relation, Side,
};
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

async fn twin(w: &World, jira: &EntityId) -> Result<EntityId> {
    w.twin(Side::Left, jira).await.with_context(|| format!("{jira} has no twin"))
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

/// Bob comments on the work item and edits an earlier comment just before Ferry writes
/// the item for a Jira edit: Ferry's write starts from bob's revision, so the next poll
/// of Azure DevOps reads Ferry's own revision (an echo). The comment and the edit must
/// still reach Jira.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_azure_devops_comment_made_just_before_ferrys_write_of_its_item_still_reaches_jira() -> Result<()> {
    let w = World::new(collab()).await?;
    w.activate().await?;
    let (bug, item) = new_pair(&w, "Comment before a write").await?;
    let (alice, bob) = (w.jira_user("alice").await, w.ado_user("bob").await);
    let first = bob.conn.add_comment(&bob.scope, &item, &said("Crashes on save")).await?;
    w.sync().await;
    w.sync().await;
    bob.conn.edit_comment(&bob.scope, &item, &first.id, &said("Crashes on save and on export")).await?;
    bob.conn.add_comment(&bob.scope, &item, &said("Seen on Safari too")).await?;
    alice.update(&bug, vec![("summary", text("Comment before a write (Jira)"))]).await?;
    w.sync_flow(ferry_domain::Flow::LeftToRight).await;
    w.sync().await;
    w.sync().await;
    let on_jira = comments(&w.reader(Side::Left).await, &bug).await?;
    assert!(on_jira.iter().any(|c| c.body.contains("Seen on Safari too")), "the new comment: {on_jira:#?}");
    assert!(on_jira.iter().any(|c| c.body.contains("Crashes on save and on export")), "the edit: {on_jira:#?}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_screenshot_and_mentions_in_a_comment_arrive_as_an_image_and_people() -> Result<()> {
    let w = World::new(collab()).await?;
    w.activate().await?;
    let (bug, item) = new_pair(&w, "Screenshot").await?;
    let alice = w.jira_user("alice").await;
    let shot = alice.conn.upload(&alice.scope, &bug, "shot.png", 4096, &mut Generated { left: 4096, state: 3 }).await?;
    // Alice Jones is on both sides (same e-mail); Erin Only has no Azure DevOps account.
    let (alice_id, erin_id) = ("5b10ac8d82e05b22cc7d0002", "5b10ac8d82e05b22cc7d0006");
    let body = format!(
        "<p>Hi <span data-ferry-mention=\"{alice_id}\">@Alice Jones</span> and \
         <span data-ferry-mention=\"{erin_id}\">@Erin Only</span>, see \
         <img src=\"ferry-attachment:{}\" alt=\"shot.png\"></p>",
        shot.id
    );
    alice.conn.add_comment(&alice.scope, &bug, &CommentWrite { body, origin: String::new() }).await?;
    w.sync().await;
    w.sync().await;

    let ado = w.reader(Side::Right).await;
    let copies = ado.conn.attachments(&ado.scope, &item).await?;
    let copy = copies.iter().find(|a| a.name == "shot.png").context("the screenshot's copy")?;
    let on_ado = comments(&ado, &item).await?;
    let c = on_ado.iter().find(|c| c.body.contains("see")).context("the comment's copy")?;
    assert!(c.body.contains(&format!("<img src=\"ferry-attachment:{}\"", copy.id)), "an embedded image: {}", c.body);
    let ado_alice = ado.conn.find_user_by_email("alice@acme.test").await?.context("alice on ADO")?;
    assert!(
        c.body.contains(&format!("<span data-ferry-mention=\"{}\">@Alice Jones</span>", ado_alice.id)),
        "the mapped person is mentioned: {}",
        c.body
    );
    assert!(c.body.contains("@Erin Only") && !c.body.contains(erin_id), "the unmapped one is text: {}", c.body);

    // And back: an inline image in an Azure DevOps comment shows on Jira.
    let bob = w.ado_user("bob").await;
    let pic = bob.conn.upload(&bob.scope, &item, "diagram.png", 2048, &mut Generated { left: 2048, state: 5 }).await?;
    let body = format!("<p>diagram: <img src=\"ferry-attachment:{}\" alt=\"diagram.png\"></p>", pic.id);
    bob.conn.add_comment(&bob.scope, &item, &CommentWrite { body, origin: String::new() }).await?;
    w.sync().await;
    w.sync().await;
    let jira = w.reader(Side::Left).await;
    let files = jira.conn.attachments(&jira.scope, &bug).await?;
    let back = files.iter().find(|a| a.name == "diagram.png").context("the diagram's copy")?;
    let on_jira = comments(&jira, &bug).await?;
    let c = on_jira.iter().find(|c| c.body.contains("diagram:")).context("the copy on Jira")?;
    assert!(c.body.contains(&format!("<img src=\"ferry-attachment:{}\"", back.id)), "an embedded image: {}", c.body);
    Ok(())
}

/// The description of a pair's side as the simulator stores it (Jira: its ADF; Azure
/// DevOps: its HTML).
fn raw_description(w: &World, side: Side, key: &str) -> Result<serde_json::Value> {
    Ok(match side {
        Side::Left => w.jira.issue_json(key).context("the issue")?["fields"]["description"].clone(),
        Side::Right => {
            let item = w.ado.work_item_json(key.parse()?).context("the work item")?;
            item["fields"]["System.Description"].clone()
        }
    })
}

/// The nodes of type `ty` in an ADF document, in document order.
fn adf_nodes<'a>(v: &'a serde_json::Value, ty: &str) -> Vec<&'a serde_json::Value> {
    let mut out = Vec::new();
    if v["type"] == ty {
        out.push(v);
    }
    for c in v["content"].as_array().into_iter().flatten() {
        out.extend(adf_nodes(c, ty));
    }
    out
}

/// Two more syncs change nothing on either side: no echo, no endless rewrite.
async fn assert_settled(w: &World) {
    w.jira.clear_requests();
    w.ado.clear_requests();
    w.sync().await;
    w.sync().await;
    assert_eq!(writes_in(&w.jira.requests()), Vec::<String>::new(), "settled: no more writes to Jira");
    assert_eq!(writes_in(&w.ado.requests()), Vec::<String>::new(), "settled: no more writes to Azure DevOps");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screenshot_and_mentions_in_a_jira_description_arrive_on_azure_devops_embedded_and_settle() -> Result<()> {
    let w = World::new(collab()).await?;
    w.activate().await?;
    // A new bug whose first sync carries the screenshot: the twin is created before the
    // file is copied, so the description is completed after the copy.
    let alice = w.jira_user("alice").await;
    let bug = alice.create(vec![("summary", text("Screenshot in the description"))]).await?;
    let shot =
        alice.conn.upload(&alice.scope, &bug.id, "shot.png", 4096, &mut Generated { left: 4096, state: 7 }).await?;
    // Alice Jones is on both sides (same e-mail); Erin Only has no Azure DevOps account.
    let (alice_id, erin_id) = ("5b10ac8d82e05b22cc7d0002", "5b10ac8d82e05b22cc7d0006");
    let description = format!(
        "<p>Ask <span data-ferry-mention=\"{alice_id}\">@Alice Jones</span> and \
         <span data-ferry-mention=\"{erin_id}\">@Erin Only</span>:</p>\
         <p><img src=\"ferry-attachment:{}\" alt=\"shot.png\"></p>",
        shot.id
    );
    alice.update(&bug.id, vec![("description", FieldValue::RichText(description))]).await?;
    let adf = raw_description(&w, Side::Left, &bug.key)?.to_string();
    assert!(adf.contains("\"mediaSingle\""), "Jira holds the screenshot as an embedded image: {adf}");
    w.sync().await;
    w.sync().await;

    let item = twin(&w, &bug.id).await?;
    let ado = w.reader(Side::Right).await;
    let copies = ado.conn.attachments(&ado.scope, &item).await?;
    let copy = copies.iter().find(|a| a.name == "shot.png").context("the screenshot's copy")?;
    let ado_alice = ado.conn.find_user_by_email("alice@acme.test").await?.context("alice on ADO")?;
    let html = raw_description(&w, Side::Right, item.as_str())?.as_str().unwrap_or_default().to_string();
    assert!(
        html.contains(&format!("/_apis/wit/attachments/{}?fileName=shot.png", copy.id)),
        "the copy is embedded by its attachment URL: {html}"
    );
    assert!(html.contains("<img "), "an image, not a link or a label: {html}");
    assert!(
        html.contains(&format!("data-vss-mention=\"version:2.0,{}\">@Alice Jones</a>", ado_alice.id)),
        "the mapped person is an Azure DevOps mention: {html}"
    );
    assert!(html.contains("@Erin Only") && !html.contains(erin_id), "the unmapped person is text: {html}");
    assert_settled(&w).await;
    let html_after = raw_description(&w, Side::Right, item.as_str())?;
    assert_eq!(html_after.as_str(), Some(html.as_str()), "the description stays as written");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screenshot_and_mentions_in_an_azure_devops_description_arrive_on_jira_embedded_and_settle() -> Result<()> {
    let w = World::new(collab()).await?;
    w.activate().await?;
    let (bug, item) = new_pair(&w, "Diagram in the description").await?;
    let bob = w.ado_user("bob").await;
    // The image arrives in the same change as the description that shows it.
    let pic = bob.conn.upload(&bob.scope, &item, "diagram.png", 2048, &mut Generated { left: 2048, state: 9 }).await?;
    // Bob Smith is on both sides; nobody on Jira is this identity.
    let (bob_ado, stranger) = ("8c2a0000-0000-4000-8000-000000000003", "8c2a0000-0000-4000-8000-0000000000ff");
    let description = format!(
        "<p>For <span data-ferry-mention=\"{bob_ado}\">@Bob Smith</span> and \
         <span data-ferry-mention=\"{stranger}\">@Zed Outsider</span>, the diagram:</p>\
         <p><img src=\"ferry-attachment:{}\" alt=\"diagram.png\"></p>",
        pic.id
    );
    bob.update(&item, vec![("System.Description", FieldValue::RichText(description))]).await?;
    let html = raw_description(&w, Side::Right, item.as_str())?.to_string();
    assert!(html.contains("data-vss-mention"), "Azure DevOps holds its own mention markup: {html}");
    w.sync().await;
    w.sync().await;

    let jira = w.reader(Side::Left).await;
    let files = jira.conn.attachments(&jira.scope, &bug).await?;
    let back = files.iter().find(|a| a.name == "diagram.png").context("the diagram's copy")?;
    let key = jira.conn.get(&jira.scope, &bug, &[]).await?.context("the bug")?.key;
    let adf = raw_description(&w, Side::Left, &key)?;
    let media = w.jira.attachment_media_id(&back.id).context("the copy's media id")?;
    let nodes = adf.to_string();
    assert!(nodes.contains("\"mediaSingle\""), "an embedded image: {nodes}");
    assert!(nodes.contains(&format!("\"id\":\"{media}\"")), "showing the copy: {nodes}");
    let mentions: Vec<&str> = adf_nodes(&adf, "mention").iter().filter_map(|m| m["attrs"]["id"].as_str()).collect();
    assert_eq!(mentions, ["5b10ac8d82e05b22cc7d0003"], "the mapped person is a Jira mention: {nodes}");
    assert!(nodes.contains("@Zed Outsider") && !nodes.contains(stranger), "the unmapped person is text: {nodes}");
    assert_settled(&w).await;
    assert_eq!(raw_description(&w, Side::Left, &key)?, adf, "the description stays as written");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_of_a_file_over_max_size_in_a_description_arrives_as_a_link_to_the_file_not_a_broken_image(
) -> Result<()> {
    let w = World::new(collab()).await?;
    w.activate().await?;
    let (bug, item) = new_pair(&w, "Huge screenshot").await?;
    let alice = w.jira_user("alice").await;
    // Over the integration's 64 MB: linked, not copied.
    let size = 64 * 1024 * 1024 + 1;
    let huge =
        alice.conn.upload(&alice.scope, &bug, "huge.png", size, &mut Generated { left: size, state: 13 }).await?;
    let description = format!("<p>Look:</p><p><img src=\"ferry-attachment:{}\" alt=\"huge.png\"></p>", huge.id);
    alice.update(&bug, vec![("description", FieldValue::RichText(description))]).await?;
    w.sync().await;
    w.sync().await;

    let ado = w.reader(Side::Right).await;
    assert!(ado.conn.attachments(&ado.scope, &item).await?.is_empty(), "not copied");
    let html = raw_description(&w, Side::Right, item.as_str())?.as_str().unwrap_or_default().to_string();
    assert!(!html.contains("<img"), "no image without a copy: {html}");
    assert!(html.contains(&format!("<a href=\"{}\">huge.png</a>", huge.url)), "a link to the file: {html}");
    assert_settled(&w).await;
    Ok(())
}

/// A parent cannot be shown with this integration's one type (Jira keeps a parent a
/// level above its children: an epic above bugs), so the relation that waits for its
/// other end is a Blocks link: the same pending rule holds both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_an_entity_synced_later_waits_and_is_made_when_it_arrives() -> Result<()> {
    let w = World::new(Variant { filter_left_to_right: Some("labels = sync"), ..collab() }).await?;
    w.activate().await?;
    let alice = w.jira_user("alice").await;
    let sync_label = || ("labels", FieldValue::List(vec!["sync".into()]));
    // The other end exists first: the link is made as the blocker arrives.
    let early = alice.create(vec![("summary", text("Early")), sync_label()]).await?;
    w.sync().await;
    let first = alice.create(vec![("summary", text("First blocker")), sync_label()]).await?;
    let blocks = |other: &EntityId| Relation::Link { link_type: "Blocks".into(), outward: true, other: other.clone() };
    alice.conn.add_relation(&alice.scope, &first.id, &blocks(&early.id)).await?;
    // This one blocks an issue not synced yet (no label): the link waits.
    let late = alice.create(vec![("summary", text("Late"))]).await?;
    let second = alice.create(vec![("summary", text("Second blocker")), sync_label()]).await?;
    alice.conn.add_relation(&alice.scope, &second.id, &blocks(&late.id)).await?;
    w.sync().await;
    w.sync().await;

    let ado = w.reader(Side::Right).await;
    let dependency =
        |other: EntityId| Relation::Link { link_type: "System.LinkTypes.Dependency".into(), outward: true, other };
    let (early_twin, first_twin, second_twin) =
        (twin(&w, &early.id).await?, twin(&w, &first.id).await?, twin(&w, &second.id).await?);
    let rel = ado.conn.relations(&ado.scope, &first_twin).await?;
    assert!(rel.contains(&dependency(early_twin)), "{rel:#?}");
    assert!(w.twin(Side::Left, &late.id).await.is_none(), "the late issue is outside the filter yet");
    let rel = ado.conn.relations(&ado.scope, &second_twin).await?;
    assert!(!rel.iter().any(|r| matches!(r, Relation::Link { .. })), "pending, not made: {rel:#?}");

    alice.update(&late.id, vec![sync_label()]).await?;
    w.sync().await;
    w.sync().await;
    let late_twin = twin(&w, &late.id).await?;
    let rel = ado.conn.relations(&ado.scope, &second_twin).await?;
    assert!(rel.contains(&dependency(late_twin)), "made when the late issue arrived: {rel:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_60_mb_file_is_streamed_across_whole() -> Result<()> {
    let w = World::new(collab()).await?;
    w.activate().await?;
    let (bug, item) = new_pair(&w, "Big file").await?;
    let bob = w.ado_user("bob").await;
    let size = 60 * 1024 * 1024 + 5;
    let original =
        bob.conn.upload(&bob.scope, &item, "dump.bin", size, &mut Generated { left: size, state: 11 }).await?;
    w.sync().await;

    let jira = w.reader(Side::Left).await;
    let copies = jira.conn.attachments(&jira.scope, &bug).await?;
    let copy = copies.iter().find(|a| a.name == "dump.bin").context("the copy on Jira")?;
    assert_eq!(copy.size, size);
    let ado = w.reader(Side::Right).await;
    assert_eq!(digest(&jira, &bug, copy).await?, digest(&ado, &item, &original).await?, "same bytes");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_related_link_is_one_relates_link_seen_from_both_ends() -> Result<()> {
    let w = World::new(collab()).await?;
    w.activate().await?;
    let (one, one_twin) = new_pair(&w, "One").await?;
    let (two, two_twin) = new_pair(&w, "Two").await?;
    let bob = w.ado_user("bob").await;
    let link = Relation::Link { link_type: "System.LinkTypes.Related".into(), outward: true, other: two_twin.clone() };
    bob.conn.add_relation(&bob.scope, &one_twin, &link).await?;
    // Both work items changed (each holds the link): both are synced, each seeing it
    // from its own end.
    w.sync().await;
    w.sync().await;
    w.sync().await;

    let jira = w.reader(Side::Left).await;
    for (id, other) in [(&one, &two), (&two, &one)] {
        let links = jira.conn.relations(&jira.scope, id).await?;
        let relates: Vec<&Relation> = links
            .iter()
            .filter(|r| matches!(r, Relation::Link { link_type, other: o, .. } if link_type == "Relates" && o == other))
            .collect();
        assert_eq!(relates.len(), 1, "{id}: one Relates link to {other}: {links:#?}");
    }
    let ado = w.reader(Side::Right).await;
    let rel = ado.conn.relations(&ado.scope, &one_twin).await?;
    assert_eq!(rel.iter().filter(|r| matches!(r, Relation::Link { .. })).count(), 1, "no echo link: {rel:#?}");
    let parked = w.engine.state().list_failures(Some(&w.id)).await?;
    assert!(parked.is_empty(), "nothing parked: {parked:#?}");
    Ok(())
}

/// Ferry's copy of a link on Azure DevOps is not a person's link there: when a person
/// removes the link on Jira and the Azure DevOps direction runs first (a person touched
/// the twin), the removal is not undone by writing Ferry's copy back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_removed_while_its_copy_awaits_the_other_direction_stays_removed() -> Result<()> {
    let w = World::new(collab()).await?;
    w.activate().await?;
    let (blocker, blocker_twin) = new_pair(&w, "Blocker").await?;
    let (blocked, _) = new_pair(&w, "Blocked").await?;
    let alice = w.jira_user("alice").await;
    let link = Relation::Link { link_type: "Blocks".into(), outward: true, other: blocked.clone() };
    alice.conn.add_relation(&alice.scope, &blocker, &link).await?;
    w.sync_flow(ferry_domain::Flow::LeftToRight).await;
    let ado = w.reader(Side::Right).await;
    let deps = |rel: &[Relation]| rel.iter().filter(|r| matches!(r, Relation::Link { .. })).count();
    assert_eq!(deps(&ado.conn.relations(&ado.scope, &blocker_twin).await?), 1, "the copy was made");

    alice.conn.remove_relation(&alice.scope, &blocker, &link).await?;
    let bob = w.ado_user("bob").await;
    bob.conn.add_comment(&bob.scope, &blocker_twin, &said("Is this still blocked?")).await?;
    w.sync_flow(ferry_domain::Flow::RightToLeft).await;
    w.sync().await;
    w.sync().await;

    let jira = w.reader(Side::Left).await;
    let links = jira.conn.relations(&jira.scope, &blocker).await?;
    assert_eq!(deps(&links), 0, "alice's removal stands on Jira: {links:#?}");
    let rel = ado.conn.relations(&ado.scope, &blocker_twin).await?;
    assert_eq!(deps(&rel), 0, "and reached Azure DevOps: {rel:#?}");
    Ok(())
}

/// A link is held by both of its ends, so the sync that writes it makes it part of two
/// pairs: when Ferry copies a link a person made on Azure DevOps (only that work item
/// changes there), the pair at its other end records it too. A Jira edit of that other
/// end, synced before the person's removal of the link on Azure DevOps, then does not
/// take Ferry's copy on Jira for a person's new link and write it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_copied_by_one_end_is_not_new_to_the_pair_at_its_other_end() -> Result<()> {
    let w = World::new(collab()).await?;
    w.activate().await?;
    let (blocker, blocker_twin) = new_pair(&w, "Blocker").await?;
    let (blocked, blocked_twin) = new_pair(&w, "Blocked").await?;
    let bob = w.ado_user("bob").await;
    let dependency =
        Relation::Link { link_type: "System.LinkTypes.Dependency".into(), outward: true, other: blocked_twin.clone() };
    bob.conn.add_relation(&bob.scope, &blocker_twin, &dependency).await?;
    w.sync_flow(ferry_domain::Flow::RightToLeft).await;
    let jira = w.reader(Side::Left).await;
    let links = |rel: &[Relation]| rel.iter().filter(|r| matches!(r, Relation::Link { .. })).count();
    assert_eq!(links(&jira.conn.relations(&jira.scope, &blocked).await?), 1, "the copy was made");

    bob.conn.remove_relation(&bob.scope, &blocker_twin, &dependency).await?;
    let alice = w.jira_user("alice").await;
    alice.update(&blocked, vec![("summary", text("Blocked (edited)"))]).await?;
    w.sync_flow(ferry_domain::Flow::LeftToRight).await;
    w.sync().await;
    w.sync().await;

    let ado = w.reader(Side::Right).await;
    for (reader, ids) in [(&ado, [&blocker_twin, &blocked_twin]), (&jira, [&blocker, &blocked])] {
        for id in ids {
            let rel = reader.conn.relations(&reader.scope, id).await?;
            assert_eq!(links(&rel), 0, "bob's removal stands and reached {id}: {rel:#?}");
        }
    }
    assert!(w.engine.state().list_failures(Some(&w.id)).await?.is_empty(), "nothing parked");
    Ok(())
}
