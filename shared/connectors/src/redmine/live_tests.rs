//! Collaboration against the real Redmine 5 that `infra/redmine.sh start` runs: found
//! through `infra/.redmine.env` (or the same `FERRY_REDMINE_*` variables in the
//! environment). Without it every test here fails saying how to start it. Each test
//! makes its own project, so they are independent of each other and of earlier runs.

use super::*;
use ferry_domain::{SecretRef, SystemId};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const HOW_TO_START: &str = "Redmine is not running: start it with `infra/redmine.sh start` \
     (it writes infra/.redmine.env; or export FERRY_REDMINE_URL and the FERRY_REDMINE_* keys)";

struct Live {
    url: String,
    vars: HashMap<String, String>,
    http: reqwest::Client,
}

impl Live {
    fn load() -> Live {
        let mut vars = HashMap::new();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/.redmine.env");
        if let Ok(text) = std::fs::read_to_string(root) {
            for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
                if let Some((k, v)) = line.split_once('=') {
                    vars.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
        for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("FERRY_REDMINE_")) {
            vars.insert(k, v);
        }
        let url = vars.get("FERRY_REDMINE_URL").cloned().unwrap_or_else(|| panic!("{HOW_TO_START}"));
        Live { url, vars, http: reqwest::Client::new() }
    }

    fn var(&self, name: &str) -> String {
        self.vars.get(name).cloned().unwrap_or_else(|| panic!("{name} missing: re-run `infra/redmine.sh start`"))
    }

    fn key(&self, login: &str) -> String {
        self.var(&format!("FERRY_REDMINE_KEY_{}", login.to_uppercase().replace('-', "_")))
    }

    fn user_id(&self, login: &str) -> String {
        self.var(&format!("FERRY_REDMINE_USER_{}", login.to_uppercase().replace('-', "_")))
    }

    /// The connector as the integration user (ferry-bot, an administrator).
    fn connector(&self) -> RedmineConnector {
        let cfg = SystemConfig {
            id: SystemId::parse("rm").expect("id"),
            kind: SystemKind::Redmine,
            base_url: self.url.clone(),
            identity_url: None,
            auth: AuthConfig::ApiKey { token: SecretRef::Env("K".into()) },
            integration_user: None,
            proxy: None,
            ca_cert: None,
            allow_http_loopback: true,
            webhook: None,
            rate_limit: None,
        };
        RedmineConnector::new(&cfg, SecretString::from(self.key("ferry-bot")), HttpOptions::default())
            .expect("connector")
    }

    /// One REST call as `login` (`admin` for the administrator); a 5xx (SQLite busy
    /// while other suites write) is tried again. Only for calls made once per name.
    async fn call(&self, method: reqwest::Method, path: &str, login: &str, body: Option<Value>) -> Value {
        let key = if login == "admin" { self.var("FERRY_REDMINE_ADMIN_KEY") } else { self.key(login) };
        for attempt in 1..=5u64 {
            let mut req =
                self.http.request(method.clone(), format!("{}/{path}", self.url)).header(API_KEY_HEADER, &key);
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req.send().await.unwrap_or_else(|e| panic!("{HOW_TO_START}\n({method} {path}: {e})"));
            let status = resp.status();
            let text = resp.text().await.expect("body");
            if status.is_server_error() && attempt < 5 {
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                continue;
            }
            // The failed attempt before was applied after all (its names are this test's own).
            if attempt > 1 && status.as_u16() == 422 && text.contains("has already been taken") {
                return Value::Null;
            }
            assert!(status.is_success(), "{method} {path}: HTTP {status}: {text}");
            return if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") };
        }
        unreachable!("the last attempt returns or panics")
    }

    /// A fresh project (trackers Bug and Task) with alice and bob as developers and
    /// ferry-bot as manager.
    async fn project(&self, tag: &str) -> Scope {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() % 1_000_000_000;
        let ident = format!("c-{tag}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let trackers: Vec<u64> = ["FERRY_REDMINE_TRACKER_BUG", "FERRY_REDMINE_TRACKER_TASK"]
            .iter()
            .map(|v| self.var(v).parse().expect("tracker id"))
            .collect();
        let project = json!({ "project": {
            "name": ident, "identifier": ident, "is_public": false,
            "tracker_ids": trackers, "enabled_module_names": ["issue_tracking"],
        }});
        self.call(reqwest::Method::POST, "projects.json", "admin", Some(project)).await;
        let dev: u64 = self.var("FERRY_REDMINE_ROLE_DEVELOPER").parse().expect("role");
        let manager: u64 = self.var("FERRY_REDMINE_ROLE_MANAGER").parse().expect("role");
        for (login, role) in [("alice", dev), ("bob", dev), ("ferry-bot", manager)] {
            let user: u64 = self.user_id(login).parse().expect("user id");
            let body = json!({ "membership": { "user_id": user, "role_ids": [role] } });
            self.call(reqwest::Method::POST, &format!("projects/{ident}/memberships.json"), "admin", Some(body)).await;
        }
        Scope { project: ident, entity_type: "Bug".into() }
    }

    async fn issue(&self, c: &RedmineConnector, scope: &Scope, subject: &str) -> EntityId {
        let change =
            FieldChange { field: FieldKey::new("subject"), value: ferry_domain::FieldValue::Text(subject.into()) };
        c.create(scope, &[change]).await.expect("issue created").id
    }

    /// A note written by `login` straight through the API.
    async fn note(&self, id: &EntityId, login: &str, notes: &str, private: bool) {
        let body = json!({ "issue": { "notes": notes, "private_notes": private } });
        self.call(reqwest::Method::PUT, &format!("issues/{id}.json"), login, Some(body)).await;
    }

    async fn raw_issue(&self, id: &EntityId) -> Value {
        let path = format!("issues/{id}.json?include=journals,attachments,relations");
        self.call(reqwest::Method::GET, &path, "admin", None).await["issue"].clone()
    }
}

/// Bytes given in pieces of `piece` bytes.
struct Pieces {
    data: Vec<u8>,
    at: usize,
    piece: usize,
}

#[async_trait]
impl ByteSource for Pieces {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PortError> {
        if self.at >= self.data.len() {
            return Ok(None);
        }
        let end = (self.at + self.piece).min(self.data.len());
        let chunk = self.data[self.at..end].to_vec();
        self.at = end;
        Ok(Some(chunk))
    }
}

#[derive(Default)]
struct Collect {
    hash: Sha256,
    len: u64,
    writes: usize,
}

#[async_trait]
impl ByteSink for Collect {
    async fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), PortError> {
        self.hash.update(chunk);
        self.len += chunk.len() as u64;
        self.writes += 1;
        Ok(())
    }
}

/// Deterministic, incompressible-looking bytes.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// An upload, tried again after a passing failure (a streamed body is sent once by the
/// connector; the engine starts a failed copy over the same way).
async fn upload(c: &RedmineConnector, scope: &Scope, id: &EntityId, name: &str, data: &[u8]) -> PortResult<Attachment> {
    let mut last = None;
    for _ in 0..3 {
        let mut source = Pieces { data: data.to_vec(), at: 0, piece: 64 << 10 };
        match c.upload(scope, id, name, data.len() as u64, &mut source).await {
            Err(e) if e.is_retryable() => last = Some(e),
            other => return other,
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err(last.expect("an attempt failed"))
}

fn write(body: &str) -> CommentWrite {
    CommentWrite { body: body.into(), origin: String::new() }
}

#[tokio::test]
async fn redmine_reports_every_collaboration_capability_its_api_offers() {
    let caps = Live::load().connector().capabilities();
    assert_eq!(
        caps,
        Capabilities {
            comments: true,
            comment_edits: true,
            attachments: true,
            hierarchy: true,
            links: true,
            deletions: true
        }
    );
}

#[tokio::test]
async fn a_comment_is_posted_as_the_integration_user_edited_and_deleted() {
    let live = Live::load();
    let c = live.connector();
    let scope = live.project("notes").await;
    let id = live.issue(&c, &scope, "comments").await;
    let me = c.integration_user().await.expect("me");
    let link = ferry_domain::RemoteLink {
        global_id: "ferry:app:left:APP-1".into(),
        url: "https://acme.atlassian.net/browse/APP-1".into(),
        title: "APP-1".into(),
    };
    c.upsert_remote_link(&scope, &id, &link).await.expect("link note");

    let made =
        c.add_comment(&scope, &id, &write("<p>first <strong>line</strong></p><p>second</p>")).await.expect("post");
    assert_eq!(made.body, "<p>first line<br>second</p>");
    assert_eq!(made.author.as_ref().map(|a| a.id.as_str()), Some(me.id.as_str()), "written as Ferry's user");
    assert!(made.url.ends_with(&format!("/issues/{id}#change-{}", made.id)), "{}", made.url);
    assert_eq!(
        c.comments(&scope, &id).await.expect("read"),
        std::slice::from_ref(&made),
        "the link note is not a comment"
    );

    let edited = c.edit_comment(&scope, &id, &made.id, &write("<p>changed</p>")).await.expect("edit");
    assert_eq!((edited.id.as_str(), edited.body.as_str()), (made.id.as_str(), "<p>changed</p>"));
    let raw = live.raw_issue(&id).await;
    let journal = raw["journals"]
        .as_array()
        .expect("journals")
        .iter()
        .find(|j| j["id"].as_u64().map(|n| n.to_string()) == Some(made.id.clone()))
        .cloned();
    assert_eq!(journal.expect("the note's journal")["notes"], "changed");

    c.delete_comment(&scope, &id, &made.id).await.expect("delete");
    assert!(c.comments(&scope, &id).await.expect("read").is_empty());
    c.delete_comment(&scope, &id, &made.id).await.expect("a comment already gone is not an error");
    let e = c.edit_comment(&scope, &id, &made.id, &write("<p>x</p>")).await.expect_err("gone");
    assert_eq!(e.category, ErrorCategory::NotFound);
    let e = c.add_comment(&scope, &id, &write("<p> </p>")).await.expect_err("empty");
    assert_eq!(e.category, ErrorCategory::InvalidRequest);
}

#[tokio::test]
async fn a_persons_public_note_is_a_comment_and_field_changes_and_private_notes_are_not() {
    let live = Live::load();
    let c = live.connector();
    let scope = live.project("people").await;
    let id = live.issue(&c, &scope, "people").await;
    live.note(&id, "alice", "Looks *wrong*\r\nto me", false).await;
    live.note(&id, "bob", "only for the team", true).await;
    let subject = json!({ "issue": { "subject": "renamed" } });
    live.call(reqwest::Method::PUT, &format!("issues/{id}.json"), "bob", Some(subject)).await;

    let comments = c.comments(&scope, &id).await.expect("read");
    assert_eq!(comments.len(), 1, "{comments:?}");
    let alice = &comments[0];
    assert_eq!(alice.body, "<p>Looks *wrong*<br>to me</p>");
    let author = alice.author.as_ref().expect("author");
    assert_eq!((author.id.clone(), author.email.as_deref()), (live.user_id("alice"), Some("alice@acme.test")));
    assert_ne!(author.id, c.integration_user().await.expect("me").id, "a person's note is not Ferry's");
    assert_eq!(alice.origin, None);
}

#[tokio::test]
async fn the_origin_mark_survives_in_ferrys_note_and_is_dropped_from_a_persons_quote_of_it() {
    let live = Live::load();
    let c = live.connector();
    let scope = live.project("origin").await;
    let id = live.issue(&c, &scope, "origin").await;
    let link = "https://acme.atlassian.net/browse/APP-1?focusedCommentId=10001#ferry-origin=ferry:app:left:APP-1:10001";
    let body = format!(
        "<p><em>Alice wrote on 2026-11-18 11:06 UTC (<a href=\"{}\">original</a>):</em></p><p>Hi</p>",
        link.replace('&', "&amp;")
    );
    c.add_comment(&scope, &id, &CommentWrite { body, origin: "ferry:app:left:APP-1:10001".into() })
        .await
        .expect("post");
    let read = c.comments(&scope, &id).await.expect("read");
    assert!(read[0].body.contains(&format!("href=\"{link}\"")), "{}", read[0].body);

    // Alice quotes Ferry's copy (Redmine's "Quote" button copies the note's text).
    let ferrys = live.raw_issue(&id).await["journals"][0]["notes"].as_str().expect("notes").to_string();
    let quote = format!("Ferry Bot wrote:\n> {}\n\nI agree", ferrys.replace('\n', "\n> "));
    live.note(&id, "alice", &quote, false).await;
    let read = c.comments(&scope, &id).await.expect("read");
    let base = link.split('#').next().expect("base");
    assert!(!read[1].body.contains("ferry-origin="), "a person's quote carries no origin mark: {}", read[1].body);
    assert!(read[1].body.contains(&format!("href=\"{base}\"")), "the quoted link is kept: {}", read[1].body);
    assert!(read[0].body.contains("ferry-origin="), "Ferry's own note keeps its mark");
}

#[tokio::test]
async fn mentions_and_inline_images_read_as_neutral_markup_and_are_written_back_as_redmine_markup() {
    let live = Live::load();
    let c = live.connector();
    let scope = live.project("markup").await;
    let id = live.issue(&c, &scope, "markup").await;
    let shot = upload(&c, &scope, &id, "shot.png", &bytes(2048, 1)).await.expect("upload");
    live.note(&id, "alice", "@bob see !shot.png! and ask @nobody", false).await;

    let read = c.comments(&scope, &id).await.expect("read");
    let bob = live.user_id("bob");
    assert_eq!(
        read[0].body,
        format!(
            "<p><span data-ferry-mention=\"{bob}\">@Bob Baker</span> see <img src=\"ferry-attachment:{}\" alt=\"shot.png\"> and ask @nobody</p>",
            shot.id
        )
    );

    let body = format!(
        "<p>Thanks <span data-ferry-mention=\"{bob}\">@Bob Baker</span>: <img src=\"ferry-attachment:{}\" alt=\"x\"></p>",
        shot.id
    );
    let made = c.add_comment(&scope, &id, &write(&body)).await.expect("post");
    let raw = live.raw_issue(&id).await;
    let notes: Vec<&str> =
        raw["journals"].as_array().expect("journals").iter().filter_map(|j| j["notes"].as_str()).collect();
    assert!(notes.contains(&"Thanks @bob: !shot.png!"), "{notes:?}");
    assert_eq!(made.body, body.replace("alt=\"x\"", "alt=\"shot.png\""));
}

#[tokio::test]
async fn an_attachment_streams_up_and_down_with_its_size_and_hash_intact() {
    let live = Live::load();
    let c = live.connector();
    let scope = live.project("files").await;
    let id = live.issue(&c, &scope, "files").await;
    let data = bytes(3 << 20, 7);
    let made = upload(&c, &scope, &id, "report 1.pdf", &data).await.expect("upload");
    assert_eq!((made.name.as_str(), made.size), ("report 1.pdf", data.len() as u64));
    assert_eq!(made.mime_type.as_deref(), Some("application/pdf"), "Redmine types the file by its name");
    assert_eq!(c.attachments(&scope, &id).await.expect("list"), std::slice::from_ref(&made));

    let mut sink = Collect::default();
    let n = c.download(&scope, &id, &made, &mut sink).await.expect("download");
    assert_eq!((n, sink.len), (data.len() as u64, data.len() as u64));
    assert_eq!(hex(&sink.hash.finalize()), hex(&Sha256::digest(&data)));
    assert!(sink.writes > 1, "written as it arrived, in {} pieces", sink.writes);

    c.delete_attachment(&scope, &id, &made.id).await.expect("delete");
    assert!(c.attachments(&scope, &id).await.expect("list").is_empty());
    c.delete_attachment(&scope, &id, &made.id).await.expect("an attachment already gone is not an error");
}

#[tokio::test]
async fn a_file_over_redmines_maximum_size_is_refused_naming_the_file_and_the_limit() {
    let live = Live::load();
    let c = live.connector();
    let scope = live.project("big").await;
    let id = live.issue(&c, &scope, "big").await;
    // Redmine's default "Maximum attachment size": 5120 KB.
    let e = upload(&c, &scope, &id, "big.bin", &bytes((5 << 20) + 1, 3)).await.expect_err("too big");
    assert_eq!(e.category, ErrorCategory::InvalidRequest);
    assert!(!e.is_retryable());
    assert!(
        e.message.starts_with("big.bin (5242881 bytes) is over Redmine's maximum attachment size of 5242880 bytes"),
        "{}",
        e.message
    );
    assert!(c.attachments(&scope, &id).await.expect("list").is_empty());
}

#[tokio::test]
async fn a_parent_is_set_moved_and_removed() {
    let live = Live::load();
    let c = live.connector();
    let scope = live.project("tree").await;
    let (epic, other, child) = (
        live.issue(&c, &scope, "epic").await,
        live.issue(&c, &scope, "other").await,
        live.issue(&c, &scope, "child").await,
    );
    let parent = |p: &EntityId| Relation::Parent { parent: p.clone() };
    c.add_relation(&scope, &child, &parent(&epic)).await.expect("set");
    c.add_relation(&scope, &child, &parent(&epic)).await.expect("the same parent again is not an error");
    assert_eq!(c.relations(&scope, &child).await.expect("read"), [parent(&epic)]);
    assert!(c.relations(&scope, &epic).await.expect("read").is_empty(), "a parent does not report its children");

    c.add_relation(&scope, &child, &parent(&other)).await.expect("move");
    assert_eq!(c.relations(&scope, &child).await.expect("read"), [parent(&other)]);
    c.remove_relation(&scope, &child, &parent(&epic)).await.expect("not the parent: nothing to do");
    assert_eq!(c.relations(&scope, &child).await.expect("read"), [parent(&other)]);
    c.remove_relation(&scope, &child, &parent(&other)).await.expect("remove");
    assert!(c.relations(&scope, &child).await.expect("read").is_empty());
}

#[tokio::test]
async fn links_keep_their_direction_from_either_end_and_are_added_and_removed_once() {
    let live = Live::load();
    let c = live.connector();
    let scope = live.project("links").await;
    let (a, b, d) =
        (live.issue(&c, &scope, "a").await, live.issue(&c, &scope, "b").await, live.issue(&c, &scope, "d").await);
    let link = |t: &str, outward: bool, other: &EntityId| Relation::Link {
        link_type: t.into(),
        outward,
        other: other.clone(),
    };
    // a blocks b, written from a; d precedes a, written from a as an inward link.
    c.add_relation(&scope, &a, &link("blocks", true, &b)).await.expect("blocks");
    c.add_relation(&scope, &a, &link("blocks", true, &b)).await.expect("an existing link is not an error");
    c.add_relation(&scope, &a, &link("precedes", false, &d)).await.expect("precedes");
    assert_eq!(c.relations(&scope, &a).await.expect("a"), [link("blocks", true, &b), link("precedes", false, &d)]);
    assert_eq!(c.relations(&scope, &b).await.expect("b"), [link("blocks", false, &a)]);
    assert_eq!(c.relations(&scope, &d).await.expect("d"), [link("precedes", true, &a)]);
    let raw = live.raw_issue(&d).await;
    assert_eq!(raw["relations"][0]["issue_id"].to_string(), d.to_string(), "stored from d: d precedes a");

    c.add_relation(&scope, &b, &link("relates", true, &d)).await.expect("relates");
    assert_eq!(c.relations(&scope, &d).await.expect("d")[1], link("relates", true, &b), "relates has no direction");

    c.remove_relation(&scope, &b, &link("blocks", false, &a)).await.expect("removed from the other end");
    c.remove_relation(&scope, &b, &link("blocks", false, &a)).await.expect("a link already gone is not an error");
    assert_eq!(c.relations(&scope, &a).await.expect("a"), [link("precedes", false, &d)]);
    let e = c.add_relation(&scope, &a, &link("no-such-type", true, &b)).await.expect_err("refused");
    assert_eq!(e.category, ErrorCategory::InvalidRequest);
    assert!(e.message.contains("no-such-type"), "{}", e.message);
}

#[tokio::test]
async fn collaboration_calls_on_a_missing_issue_say_it_is_missing() {
    let live = Live::load();
    let c = live.connector();
    let scope = live.project("missing").await;
    let gone = EntityId::new("99999999");
    assert_eq!(c.comments(&scope, &gone).await.expect_err("missing").category, ErrorCategory::NotFound);
    assert_eq!(c.attachments(&scope, &gone).await.expect_err("missing").category, ErrorCategory::NotFound);
    assert_eq!(c.relations(&scope, &gone).await.expect_err("missing").category, ErrorCategory::NotFound);
    c.delete_comment(&scope, &gone, "1").await.expect("nothing to delete");
    c.delete_attachment(&scope, &gone, "1").await.expect("nothing to delete");
}
