//! The Jira connector's collaboration methods (comments, attachments, inline images,
//! mentions, parent and issue links) against the Jira simulator over HTTP (demo seed).

use async_trait::async_trait;
use ferry_connectors::http::HttpOptions;
use ferry_connectors::jira::JiraConnector;
use ferry_domain::ports::Connector;
use ferry_domain::{
    Attachment, AuthConfig, ByteSink, ByteSource, CommentWrite, EntityRef, ErrorCategory, FieldChange, FieldKey,
    FieldValue, PortError, Relation, Scope, SecretRef, SystemConfig, SystemId, SystemKind,
};
use ferry_sim::{JiraSeed, JiraSim};
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

const BOT: (&str, &str) = ("ferry-bot@acme.test", "jira-bot-token");
const ALICE: (&str, &str) = ("alice@acme.test", "jira-alice-token");
const BOT_ID: &str = "5b10ac8d82e05b22cc7d0001";
const ALICE_ID: &str = "5b10ac8d82e05b22cc7d0002";

fn connector(sim: &JiraSim) -> JiraConnector {
    let system = SystemConfig {
        id: SystemId::parse("jira-sim").unwrap(),
        kind: SystemKind::Jira,
        base_url: sim.base_url(),
        identity_url: None,
        auth: AuthConfig::Basic { username: BOT.0.into(), token: SecretRef::Env("JIRA_TOKEN".into()) },
        integration_user: Some(BOT.0.into()),
        proxy: None,
        ca_cert: None,
        allow_http_loopback: true,
        webhook: None,
        rate_limit: None,
    };
    let opts = HttpOptions { backoff_base: Duration::from_millis(10), ..HttpOptions::default() };
    JiraConnector::new(&system, SecretString::from(BOT.1.to_string()), opts).unwrap()
}

async fn start(seed: JiraSeed) -> (JiraSim, JiraConnector) {
    let sim = JiraSim::start(seed).await.unwrap();
    let c = connector(&sim);
    (sim, c)
}

fn scope(ty: &str) -> Scope {
    Scope { project: "APP".into(), entity_type: ty.into() }
}

async fn create(c: &JiraConnector, ty: &str, summary: &str) -> EntityRef {
    let summary = FieldChange { field: FieldKey::new("summary"), value: FieldValue::Text(summary.into()) };
    c.create(&scope(ty), &[summary]).await.unwrap()
}

/// `count` bytes of a fixed pseudo-random sequence, handed out `chunk` bytes at a time.
struct Generated {
    left: u64,
    chunk: usize,
    state: u64,
    hash: Sha256,
}

impl Generated {
    fn new(count: u64, chunk: usize) -> Self {
        Self { left: count, chunk, state: 0x9e37_79b9_7f4a_7c15, hash: Sha256::new() }
    }
}

#[async_trait]
impl ByteSource for Generated {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PortError> {
        if self.left == 0 {
            return Ok(None);
        }
        let n = self.left.min(self.chunk as u64) as usize;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            // xorshift64
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            out.push(self.state as u8);
        }
        self.left -= n as u64;
        self.hash.update(&out);
        Ok(Some(out))
    }
}

/// Hashes what it is given, keeping only the count of chunks.
#[derive(Default)]
struct Hashing {
    hash: Sha256,
    bytes: u64,
    chunks: usize,
}

#[async_trait]
impl ByteSink for Hashing {
    async fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), PortError> {
        self.hash.update(chunk);
        self.bytes += chunk.len() as u64;
        self.chunks += 1;
        Ok(())
    }
}

/// Uploads `bytes` of generated content as `name`; returns the attachment and the sha256.
async fn upload(c: &JiraConnector, issue: &EntityRef, name: &str, bytes: u64) -> (Attachment, Vec<u8>) {
    let mut src = Generated::new(bytes, 64 * 1024);
    let a = c.upload(&scope("Bug"), &issue.id, name, bytes, &mut src).await.unwrap();
    (a, src.hash.finalize().to_vec())
}

/// A raw request to the simulator as `who`.
async fn raw(sim: &JiraSim, who: (&str, &str), method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut r = reqwest::Client::new()
        .request(method, format!("{}/rest/api/3/{path}", sim.base_url()))
        .basic_auth(who.0, Some(who.1));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

fn write(body: &str, origin: &str) -> CommentWrite {
    CommentWrite { body: body.into(), origin: origin.into() }
}

// ---------------------------------------------------------------- comments

#[tokio::test]
async fn a_comment_with_formatting_a_mention_and_an_inline_image_reads_back_as_written_with_its_origin() {
    let (sim, c) = start(JiraSeed::demo()).await;
    let issue = create(&c, "Bug", "commented").await;
    let (shot, _) = upload(&c, &issue, "shot.png", 2048).await;
    let body = format!(
        concat!(
            "<p><em>Alice Jones wrote:</em></p>",
            "<p><strong>Bold</strong>, <code>code</code> and <a href=\"https://x.test/?a=1&amp;b=2\">a link</a> for ",
            "<span data-ferry-mention=\"{alice}\">@Alice Jones</span>:</p>",
            "<p><img src=\"ferry-attachment:{shot}\" alt=\"shot.png\"></p>",
            "<ul><li><p>one</p></li></ul>"
        ),
        alice = ALICE_ID,
        shot = shot.id
    );
    let made = c.add_comment(&scope("Bug"), &issue.id, &write(&body, "ferry:i:right:42:7")).await.unwrap();
    assert_eq!(made.body, body, "the answer reads back as written");
    assert_eq!(made.origin.as_deref(), Some("ferry:i:right:42:7"));
    assert_eq!(made.url, format!("{}/browse/{}?focusedCommentId={}", sim.base_url(), issue.key, made.id));
    assert_eq!(made.author.as_ref().map(|a| a.id.as_str()), Some(BOT_ID));

    // Stored the way Jira's editor embeds an image and a mention.
    let stored = sim.issue_json(&issue.key).unwrap()["fields"]["comment"]["comments"][0]["body"].clone();
    let media_id = sim.attachment_media_id(&shot.id).unwrap();
    let blocks = stored["content"].as_array().unwrap();
    let single = blocks.iter().find(|b| b["type"] == "mediaSingle").expect("a mediaSingle block");
    assert_eq!(
        single["content"][0]["attrs"],
        json!({"type": "file", "id": media_id, "collection": "", "alt": "shot.png"})
    );
    let mention = &blocks[1]["content"].as_array().unwrap().iter().find(|n| n["type"] == "mention").unwrap()["attrs"];
    assert_eq!(mention, &json!({"id": ALICE_ID, "text": "@Alice Jones"}));

    let read = c.comments(&scope("Bug"), &issue.id).await.unwrap();
    assert_eq!(read, [made]);
}

#[tokio::test]
async fn a_persons_comment_with_a_pasted_image_and_a_mention_reads_as_neutral_html_without_origin() {
    let (sim, c) = start(JiraSeed::demo()).await;
    let issue = create(&c, "Bug", "pasted").await;
    upload(&c, &issue, "other.png", 10).await;
    let (shot, _) = upload(&c, &issue, "screen shot.png", 300).await;
    let media_id = sim.attachment_media_id(&shot.id).unwrap();
    // What Jira's editor stores for a pasted image: the file by its media id, no alt.
    let adf = json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [
            {"type": "text", "text": "See "},
            {"type": "mention", "attrs": {"id": BOT_ID, "text": "@Ferry Bot", "accessLevel": ""}},
            {"type": "text", "text": " <here>", "marks": [{"type": "em"}]}]},
        {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [
            {"type": "media", "attrs": {"type": "file", "id": media_id, "collection": "jira-10000", "width": 300}}]},
        {"type": "mediaSingle", "content": [
            {"type": "media", "attrs": {"type": "file", "id": "not-an-attachment", "collection": "", "alt": "gone.png"}}]}]});
    raw(&sim, ALICE, reqwest::Method::POST, &format!("issue/{}/comment", issue.key), Some(json!({"body": adf}))).await;

    let read = c.comments(&scope("Bug"), &issue.id).await.unwrap();
    assert_eq!(read.len(), 1);
    let got = &read[0];
    assert_eq!(
        got.body,
        format!(
            concat!(
                "<p>See <span data-ferry-mention=\"{bot}\">@Ferry Bot</span><em> &lt;here&gt;</em></p>",
                "<p><img src=\"ferry-attachment:{shot}\" alt=\"screen shot.png\"></p>",
                "<p>[attachment: gone.png]</p>"
            ),
            bot = BOT_ID,
            shot = shot.id
        )
    );
    assert_eq!(got.origin, None, "a person's comment carries no mark");
    assert_eq!(got.author.as_ref().map(|a| a.id.as_str()), Some(ALICE_ID));
    assert!(got.created <= got.updated);
}

// ---------------------------------------------------------------- descriptions

#[tokio::test]
async fn a_description_with_an_inline_image_and_a_mention_is_written_embedded_and_reads_back_as_written() {
    let (sim, c) = start(JiraSeed::demo()).await;
    let issue = create(&c, "Bug", "described").await;
    let (shot, _) = upload(&c, &issue, "shot.png", 2048).await;
    let html = format!(
        "<p>For <span data-ferry-mention=\"{ALICE_ID}\">@Alice Jones</span>:</p>\
         <p><img src=\"ferry-attachment:{}\" alt=\"shot.png\"></p>",
        shot.id
    );
    let description = FieldChange { field: FieldKey::new("description"), value: FieldValue::RichText(html.clone()) };
    c.update(&scope("Bug"), &issue.id, &[description], None, &[]).await.unwrap();
    let stored = sim.issue_json(&issue.key).unwrap()["fields"]["description"].clone();
    let single = stored["content"].as_array().unwrap().iter().find(|b| b["type"] == "mediaSingle").cloned();
    let media_id = sim.attachment_media_id(&shot.id).unwrap();
    assert_eq!(
        single.expect("a mediaSingle block")["content"][0]["attrs"],
        json!({"type": "file", "id": media_id, "collection": "", "alt": "shot.png"})
    );

    let fields = [FieldKey::new("description")];
    let read = c.get(&scope("Bug"), &issue.id, &fields).await.unwrap().unwrap();
    assert_eq!(read.field(&fields[0]), Some(&FieldValue::RichText(html.clone())), "a read resolves the media");
    // A read of changes sees the same value, with the media id it learned kept.
    sim.clear_requests();
    let again = c.get(&scope("Bug"), &issue.id, &fields).await.unwrap().unwrap();
    assert_eq!(again.field(&fields[0]), Some(&FieldValue::RichText(html)));
    let paths: Vec<String> = sim.requests().iter().map(|r| r.path.clone()).collect();
    assert!(!paths.iter().any(|p| p.contains("/attachment/content/")), "media ids are asked once: {paths:?}");

    // A description without media costs no request beyond the issue's.
    let plain = create(&c, "Bug", "plain").await;
    let text = FieldChange { field: FieldKey::new("description"), value: FieldValue::RichText("<p>x</p>".into()) };
    c.update(&scope("Bug"), &plain.id, &[text], None, &[]).await.unwrap();
    sim.clear_requests();
    c.get(&scope("Bug"), &plain.id, &fields).await.unwrap().unwrap();
    let paths: Vec<String> = sim.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths.len(), 1, "one read: {paths:?}");
}

#[tokio::test]
async fn comments_are_read_over_several_pages_oldest_first() {
    let (sim, c) = start(JiraSeed::demo()).await;
    let issue = create(&c, "Bug", "chatty").await;
    for i in 0..230 {
        let adf = json!({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": format!("comment {i}")}]}]});
        raw(&sim, ALICE, reqwest::Method::POST, &format!("issue/{}/comment", issue.key), Some(json!({"body": adf})))
            .await;
    }
    sim.clear_requests();
    let read = c.comments(&scope("Bug"), &issue.id).await.unwrap();
    let bodies: Vec<String> = read.iter().map(|c| c.body.clone()).collect();
    let want: Vec<String> = (0..230).map(|i| format!("<p>comment {i}</p>")).collect();
    assert_eq!(bodies, want);
    let pages = sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/issue/{}/comment", issue.id)))
        .count();
    assert_eq!(pages, 3, "100 a page, overlapping by one");
}

#[tokio::test]
async fn an_edit_replaces_the_body_and_keeps_the_origin_and_a_delete_twice_is_fine() {
    let (_sim, c) = start(JiraSeed::demo()).await;
    let issue = create(&c, "Bug", "edited").await;
    let made = c.add_comment(&scope("Bug"), &issue.id, &write("<p>first</p>", "ferry:o:1")).await.unwrap();
    let edited = c
        .edit_comment(&scope("Bug"), &issue.id, &made.id, &write("<p>second <b>try</b></p>", "ferry:o:1"))
        .await
        .unwrap();
    assert_eq!(edited.body, "<p>second <strong>try</strong></p>");
    assert_eq!(edited.id, made.id);
    let read = c.comments(&scope("Bug"), &issue.id).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].body, edited.body);
    assert_eq!(read[0].origin.as_deref(), Some("ferry:o:1"));
    assert!(read[0].updated >= made.updated);

    c.delete_comment(&scope("Bug"), &issue.id, &made.id).await.unwrap();
    c.delete_comment(&scope("Bug"), &issue.id, &made.id).await.expect("already gone is not an error");
    assert!(c.comments(&scope("Bug"), &issue.id).await.unwrap().is_empty());
    let e = c.edit_comment(&scope("Bug"), &issue.id, &made.id, &write("<p>x</p>", "o")).await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::NotFound, "{e}");
}

// ---------------------------------------------------------------- attachments

#[tokio::test]
async fn a_5_mb_file_streams_up_and_back_down_unchanged() {
    let (_sim, c) = start(JiraSeed::demo()).await;
    let issue = create(&c, "Bug", "with a file").await;
    let size = 5 * 1024 * 1024 + 17;
    let (a, sent) = upload(&c, &issue, "report.pdf", size).await;
    assert_eq!((a.name.as_str(), a.size, a.mime_type.as_deref()), ("report.pdf", size, Some("application/pdf")));
    assert_eq!(a.author.as_ref().map(|u| u.id.as_str()), Some(BOT_ID));
    assert!(a.url.ends_with(&format!("/rest/api/3/attachment/content/{}", a.id)), "{}", a.url);
    assert_eq!(c.attachments(&scope("Bug"), &issue.id).await.unwrap(), std::slice::from_ref(&a));

    let mut sink = Hashing::default();
    let n = c.download(&scope("Bug"), &issue.id, &a, &mut sink).await.unwrap();
    assert_eq!((n, sink.bytes), (size, size));
    assert_eq!(sink.hash.finalize().to_vec(), sent, "sha256 of what came back");
    assert!(sink.chunks > 1, "handed over a piece at a time, not as one buffer");
}

#[tokio::test]
async fn a_file_over_the_sites_limit_is_refused_naming_it_and_the_limit() {
    let seed = JiraSeed { attachment_upload_limit: 1024 * 1024, ..JiraSeed::demo() };
    let (sim, c) = start(seed).await;
    let issue = create(&c, "Bug", "too big").await;
    let mut src = Generated::new(1024 * 1024 + 1, 64 * 1024);
    let e = c.upload(&scope("Bug"), &issue.id, "huge.bin", 1024 * 1024 + 1, &mut src).await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::InvalidRequest, "{e}");
    assert!(!e.is_retryable());
    assert!(e.message.contains("huge.bin") && e.message.contains("1048577 bytes"), "{}", e.message);
    assert!(e.message.contains("at most 1048576 bytes"), "{}", e.message);
    assert!(e.message.contains("HTTP 413"), "{}", e.message);
    assert_eq!(sim.issue_json(&issue.key).unwrap()["fields"]["attachment"], json!([]));
}

#[tokio::test]
async fn a_source_shorter_than_announced_fails_the_upload_and_stores_nothing() {
    let (sim, c) = start(JiraSeed::demo()).await;
    let issue = create(&c, "Bug", "short").await;
    let mut src = Generated::new(1000, 300);
    let e = c.upload(&scope("Bug"), &issue.id, "short.txt", 5000, &mut src).await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::BadMessage, "{e}");
    assert!(e.message.contains("short.txt") && e.message.contains("5000"), "{}", e.message);
    assert_eq!(sim.issue_json(&issue.key).unwrap()["fields"]["attachment"], json!([]));
}

#[tokio::test]
async fn a_deleted_attachment_is_gone_and_deleting_it_again_is_fine() {
    let (_sim, c) = start(JiraSeed::demo()).await;
    let issue = create(&c, "Bug", "cleanup").await;
    let (a, _) = upload(&c, &issue, "notes.txt", 100).await;
    let (b, _) = upload(&c, &issue, "keep.txt", 100).await;
    c.delete_attachment(&scope("Bug"), &issue.id, &a.id).await.unwrap();
    c.delete_attachment(&scope("Bug"), &issue.id, &a.id).await.expect("already gone is not an error");
    assert_eq!(c.attachments(&scope("Bug"), &issue.id).await.unwrap(), [b]);
}

// ---------------------------------------------------------------- parent and links

#[tokio::test]
async fn a_parent_is_set_moved_and_removed_by_id() {
    let (sim, c) = start(JiraSeed::demo()).await;
    let (e1, e2) = (create(&c, "Epic", "epic 1").await, create(&c, "Epic", "epic 2").await);
    let task = create(&c, "Task", "child").await;
    let parent = |e: &EntityRef| Relation::Parent { parent: e.id.clone() };
    assert!(c.relations(&scope("Task"), &task.id).await.unwrap().is_empty());

    c.add_relation(&scope("Task"), &task.id, &parent(&e1)).await.unwrap();
    assert_eq!(c.relations(&scope("Task"), &task.id).await.unwrap(), [parent(&e1)]);
    assert_eq!(sim.issue_json(&task.key).unwrap()["fields"]["parent"]["key"], json!(e1.key));

    sim.clear_requests();
    c.add_relation(&scope("Task"), &task.id, &parent(&e1)).await.unwrap();
    assert!(sim.requests().iter().all(|r| r.method == "GET"), "the same parent again writes nothing");

    c.add_relation(&scope("Task"), &task.id, &parent(&e2)).await.unwrap();
    assert_eq!(c.relations(&scope("Task"), &task.id).await.unwrap(), [parent(&e2)], "moved");

    c.remove_relation(&scope("Task"), &task.id, &parent(&e1)).await.unwrap();
    assert_eq!(c.relations(&scope("Task"), &task.id).await.unwrap(), [parent(&e2)], "not the parent: left alone");
    c.remove_relation(&scope("Task"), &task.id, &parent(&e2)).await.unwrap();
    assert!(c.relations(&scope("Task"), &task.id).await.unwrap().is_empty());
    assert!(sim.issue_json(&task.key).unwrap()["fields"].get("parent").is_none());
}

#[tokio::test]
async fn a_blocks_link_reads_from_both_ends_and_is_added_once_and_removed_from_either() {
    let (sim, c) = start(JiraSeed::demo()).await;
    let (a, b) = (create(&c, "Bug", "blocker").await, create(&c, "Bug", "blocked").await);
    let blocks = |outward: bool, other: &EntityRef| Relation::Link {
        link_type: "Blocks".into(),
        outward,
        other: other.id.clone(),
    };
    c.add_relation(&scope("Bug"), &a.id, &blocks(true, &b)).await.unwrap();
    assert_eq!(c.relations(&scope("Bug"), &a.id).await.unwrap(), [blocks(true, &b)]);
    assert_eq!(c.relations(&scope("Bug"), &b.id).await.unwrap(), [blocks(false, &a)]);
    // Jira's own reading: A blocks B.
    let on_a = &sim.issue_json(&a.key).unwrap()["fields"]["issuelinks"];
    assert_eq!(on_a.as_array().unwrap().len(), 1);
    assert_eq!(on_a[0]["outwardIssue"]["key"], json!(b.key), "{on_a}");

    sim.clear_requests();
    c.add_relation(&scope("Bug"), &a.id, &blocks(true, &b)).await.unwrap();
    c.add_relation(&scope("Bug"), &b.id, &blocks(false, &a)).await.unwrap();
    assert!(sim.requests().iter().all(|r| r.method == "GET"), "an existing link is not posted again");
    assert_eq!(sim.issue_json(&a.key).unwrap()["fields"]["issuelinks"].as_array().unwrap().len(), 1);

    c.remove_relation(&scope("Bug"), &b.id, &blocks(true, &a)).await.unwrap();
    assert_eq!(
        c.relations(&scope("Bug"), &a.id).await.unwrap(),
        [blocks(true, &b)],
        "the other direction: no such link"
    );
    c.remove_relation(&scope("Bug"), &b.id, &blocks(false, &a)).await.unwrap();
    assert!(c.relations(&scope("Bug"), &a.id).await.unwrap().is_empty());
    assert!(c.relations(&scope("Bug"), &b.id).await.unwrap().is_empty());
    c.remove_relation(&scope("Bug"), &a.id, &blocks(true, &b)).await.expect("already gone is not an error");

    // The inward end added first reads the same from the outward one.
    c.add_relation(&scope("Bug"), &b.id, &blocks(false, &a)).await.unwrap();
    assert_eq!(c.relations(&scope("Bug"), &a.id).await.unwrap(), [blocks(true, &b)]);
}

#[test]
fn every_capability_is_on() {
    let sim_less = SystemConfig {
        id: SystemId::parse("jira").unwrap(),
        kind: SystemKind::Jira,
        base_url: "https://acme.atlassian.net".into(),
        identity_url: None,
        auth: AuthConfig::Basic { username: BOT.0.into(), token: SecretRef::Env("T".into()) },
        integration_user: None,
        proxy: None,
        ca_cert: None,
        allow_http_loopback: false,
        webhook: None,
        rate_limit: None,
    };
    let c = JiraConnector::new(&sim_less, SecretString::from("t"), HttpOptions::default()).unwrap();
    let caps = c.capabilities();
    assert!(caps.comments && caps.comment_edits && caps.attachments && caps.hierarchy && caps.links && caps.deletions);
}
