//! The Jira simulator's collaboration endpoints driven over HTTP as a client would:
//! comments and their properties, attachments, the hierarchy, issue links, issue deletion
//! and the project reads. Only requests the official spec allows (see support/mod.rs).

mod support;

use ferry_sim::{HookWhen, JiraSeed, JiraSim};
use serde_json::{json, Value};
use support::{client, jira_example, missing_keys, multipart, read, Resp};

const BOT: (&str, &str) = ("ferry-bot@acme.test", "jira-bot-token");
const ALICE: (&str, &str) = ("alice@acme.test", "jira-alice-token");

struct Jira {
    sim: JiraSim,
    http: reqwest::Client,
}

impl Jira {
    async fn start() -> Jira {
        Jira::with(JiraSeed::demo()).await
    }
    async fn with(seed: JiraSeed) -> Jira {
        Jira { sim: JiraSim::start(seed).await.expect("simulator starts"), http: client() }
    }
    fn url(&self, path: &str) -> String {
        format!("{}/rest/api/3/{path}", self.sim.base_url())
    }
    async fn send(&self, who: (&str, &str), method: &str, path: &str, body: Option<Value>) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self.http.request(method, self.url(path)).basic_auth(who.0, Some(who.1));
        if let Some(b) = body {
            r = r.json(&b);
        }
        read(r.send().await.expect("answered")).await
    }
    async fn get(&self, path: &str) -> Resp {
        self.send(BOT, "GET", path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(BOT, "POST", path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(BOT, "PUT", path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> Resp {
        self.send(BOT, "DELETE", path, None).await
    }
    async fn create(&self, issuetype: &str, summary: &str, parent: Option<&str>) -> String {
        let mut fields = json!({"project": {"key": "APP"}, "issuetype": {"name": issuetype}, "summary": summary});
        if let Some(p) = parent {
            fields["parent"] = json!({"key": p});
        }
        let r = self.post("issue", json!({ "fields": fields })).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["key"].as_str().expect("key").to_string()
    }
    async fn upload(&self, key: &str, files: &[(&str, &str, &[u8])]) -> Resp {
        let (ct, body) = multipart(files);
        let r = self
            .http
            .post(self.url(&format!("issue/{key}/attachments")))
            .basic_auth(BOT.0, Some(BOT.1))
            .header("X-Atlassian-Token", "no-check")
            .header("Content-Type", ct)
            .body(body);
        read(r.send().await.expect("answered")).await
    }
    async fn issue(&self, key: &str) -> Value {
        let r = self.get(&format!("issue/{key}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }
    async fn changelog(&self, key: &str) -> Vec<Value> {
        self.get(&format!("issue/{key}/changelog")).await.body["values"].as_array().cloned().unwrap_or_default()
    }
}

fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

fn items_of(history: &[Value]) -> Vec<Value> {
    history.iter().flat_map(|h| h["items"].as_array().cloned().unwrap_or_default()).collect()
}

#[tokio::test]
async fn comments_are_added_read_paged_edited_and_deleted_without_changelog_entries() {
    let j = Jira::start().await;
    let key = j.create("Bug", "talk", None).await;
    let before = j.issue(&key).await["fields"]["updated"].clone();

    let r = j.send(ALICE, "POST", &format!("issue/{key}/comment"), Some(json!({"body": adf("first")}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let first = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(r.body["author"]["accountId"], "5b10ac8d82e05b22cc7d0002");
    assert_eq!(r.body["body"], adf("first"));
    assert_eq!(r.body["jsdPublic"], true);
    assert!(r.body["self"].as_str().expect("self").ends_with(&format!("/comment/{first}")));
    let created = r.body["created"].as_str().expect("created");
    assert_eq!(created.len(), "2026-11-26T19:24:50.123+0100".len(), "Jira timestamp: {created}");
    let visibility = json!({"type": "role", "value": "Administrators", "identifier": "Administrators"});
    let r = j.post(&format!("issue/{key}/comment"), json!({"body": adf("second"), "visibility": visibility})).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["visibility"], visibility);

    let issue = j.issue(&key).await;
    assert_ne!(issue["fields"]["updated"], before, "a comment bumps updated");
    assert_eq!(issue["fields"]["comment"]["total"], 2);
    assert!(j.changelog(&key).await.is_empty(), "no changelog entry for comments");

    let page = j.get(&format!("issue/{key}/comment?maxResults=1&orderBy=-created&expand=renderedBody")).await.body;
    assert_eq!(
        (page["total"].clone(), page["maxResults"].clone(), page["startAt"].clone()),
        (json!(2), json!(1), json!(0))
    );
    assert_eq!(page["comments"][0]["body"], adf("second"));
    assert_eq!(page["comments"][0]["renderedBody"], "<p>second</p>");

    let r = j.put(&format!("issue/{key}/comment/{first}"), json!({"body": adf("first, edited")})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["updateAuthor"]["accountId"], "5b10ac8d82e05b22cc7d0001");
    assert_eq!(r.body["author"]["accountId"], "5b10ac8d82e05b22cc7d0002");
    assert_ne!(r.body["updated"], r.body["created"]);
    let updated = j.issue(&key).await["fields"]["updated"].clone();
    assert_eq!(j.delete(&format!("issue/{key}/comment/{first}")).await.status, 204);
    assert_ne!(j.issue(&key).await["fields"]["updated"], updated, "a deletion bumps updated");
    assert_eq!(j.get(&format!("issue/{key}/comment/{first}")).await.status, 404);
    assert_eq!(j.get(&format!("issue/{key}/comment")).await.body["total"], 1);
    assert!(j.changelog(&key).await.is_empty());
}

#[tokio::test]
async fn comment_properties_mark_comments_and_comment_lists_read_them_back() {
    let j = Jira::start().await;
    let key = j.create("Task", "marked", None).await;
    let marker = json!({"key": "ferry", "value": {"origin": "ado", "id": 7}});
    let r = j
        .post(&format!("issue/{key}/comment?expand=properties"), json!({"body": adf("x"), "properties": [marker]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["properties"], json!([marker]));
    let id = r.body["id"].as_str().expect("id").to_string();

    let path = format!("comment/{id}/properties/sync.state");
    assert_eq!(j.get(&path).await.status, 404);
    assert_eq!(j.put(&path, json!({"rev": 1})).await.status, 201);
    assert_eq!(j.put(&path, json!({"rev": 2})).await.status, 200);
    assert_eq!(j.get(&path).await.body, json!({"key": "sync.state", "value": {"rev": 2}}));
    let keys = j.get(&format!("comment/{id}/properties")).await.body;
    let names: Vec<&str> = keys["keys"].as_array().expect("keys").iter().filter_map(|k| k["key"].as_str()).collect();
    assert_eq!(names, ["ferry", "sync.state"]);
    assert_eq!(j.delete(&path).await.status, 204);
    assert_eq!(j.delete(&path).await.status, 404);

    let n: u64 = id.parse().expect("numeric id");
    let list = j.post("comment/list?expand=properties", json!({"ids": [n, 999_999]})).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!((list.body["total"].clone(), list.body["isLast"].clone()), (json!(1), json!(true)));
    assert_eq!(list.body["values"][0]["properties"][0]["key"], "ferry");
    assert_eq!(j.get("comment/999999/properties").await.status, 404);
}

#[tokio::test]
async fn attachments_are_uploaded_listed_downloaded_through_the_media_redirect_and_deleted() {
    let j = Jira::start().await;
    let key = j.create("Bug", "files", None).await;
    let png: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let r =
        j.upload(&key, &[("shot.png", "image/png", &png), ("notes.txt", "application/octet-stream", b"hello")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let made = r.body.as_array().expect("array of Attachment").clone();
    assert_eq!(made.len(), 2);
    assert_eq!(
        (made[0]["filename"].clone(), made[0]["size"].clone(), made[0]["mimeType"].clone()),
        (json!("shot.png"), json!(70_000), json!("image/png"))
    );
    assert_eq!(made[1]["mimeType"], "text/plain", "typed by its extension");
    let id = made[0]["id"].as_str().expect("string id").to_string();

    let fields = j.issue(&key).await["fields"].clone();
    assert_eq!(fields["attachment"].as_array().map(Vec::len), Some(2));
    let items = items_of(&j.changelog(&key).await);
    assert_eq!(items.len(), 2);
    assert_eq!(
        (items[0]["field"].clone(), items[0]["fieldId"].clone(), items[0]["to"].clone(), items[0]["toString"].clone()),
        (json!("Attachment"), json!("attachment"), json!(id), json!("shot.png"))
    );

    let meta = j.get(&format!("attachment/{id}")).await;
    assert_eq!((meta.status, meta.body["id"].clone()), (200, json!(id.parse::<u64>().expect("numeric"))));
    let settings = j.get("attachment/meta").await.body;
    assert_eq!(settings, json!({"enabled": true, "uploadLimit": 1u64 << 30}));

    let redirect = j.get(&format!("attachment/content/{id}")).await;
    assert_eq!(redirect.status, 303);
    let location = redirect.header("location").expect("Location");
    let media_id = j.sim.attachment_media_id(&id).expect("media id");
    assert!(location.contains(&format!("/file/{media_id}/binary?token=")), "{location}");
    let followed = read(reqwest::get(&location).await.expect("media answers")).await;
    assert_eq!((followed.status, followed.bytes == png), (200, true));
    let direct = j.get(&format!("attachment/content/{id}?redirect=false")).await;
    assert_eq!((direct.status, direct.header("content-type").as_deref()), (200, Some("image/png")));
    assert!(direct.bytes == png);
    let part = read(
        j.http
            .get(j.url(&format!("attachment/content/{id}?redirect=false")))
            .basic_auth(BOT.0, Some(BOT.1))
            .header("Range", "bytes=10-19")
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!((part.status, part.header("content-range").as_deref()), (206, Some("bytes 10-19/70000")));
    assert_eq!(part.bytes, png[10..20]);

    assert_eq!(j.delete(&format!("attachment/{id}")).await.status, 204);
    assert_eq!(j.get(&format!("attachment/{id}")).await.status, 404);
    assert_eq!(j.issue(&key).await["fields"]["attachment"].as_array().map(Vec::len), Some(1));
    let last = items_of(&j.changelog(&key).await).pop().expect("removal item");
    assert_eq!(
        (last["from"].clone(), last["fromString"].clone(), last["to"].clone()),
        (json!(id), json!("shot.png"), Value::Null)
    );
    let stale = read(reqwest::get(&location).await.expect("media answers")).await;
    assert_eq!(stale.status, 404, "the media file went with the attachment");
}

#[tokio::test]
async fn files_over_the_upload_limit_are_refused_with_413_and_nothing_is_stored() {
    let j = Jira::with(JiraSeed { attachment_upload_limit: 1024, ..JiraSeed::demo() }).await;
    let key = j.create("Bug", "big", None).await;
    let r =
        j.upload(&key, &[("small.txt", "text/plain", &[1u8; 10]), ("big.bin", "application/zip", &[7u8; 1025])]).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.body["errorMessages"][0], "The field file exceeds its maximum permitted size of 1024 bytes.");
    assert_eq!(j.issue(&key).await["fields"]["attachment"], json!([]));
    assert_eq!(j.get("attachment/meta").await.body["uploadLimit"], 1024);
    assert_eq!(j.upload(&key, &[("exact.bin", "application/zip", &[7u8; 1024])]).await.status, 200);
}

#[tokio::test]
async fn files_larger_than_the_web_frameworks_default_body_limit_are_uploaded_whole() {
    let j = Jira::start().await;
    let key = j.create("Bug", "3 MB", None).await;
    let big: Vec<u8> = (0..3u32 << 20).map(|i| (i % 253) as u8).collect();
    let r = j.upload(&key, &[("big.bin", "application/octet-stream", &big)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body[0]["id"].as_str().expect("id").to_string();
    let got = j.get(&format!("attachment/content/{id}?redirect=false")).await;
    assert!(got.bytes == big, "{} bytes back", got.bytes.len());
}

#[tokio::test]
async fn media_nodes_of_descriptions_and_comments_resolve_to_the_issues_attachments() {
    let j = Jira::start().await;
    let key = j.create("Task", "inline", None).await;
    let made = j.upload(&key, &[("screen.png", "image/png", b"\x89PNG....")]).await.body;
    let id = made[0]["id"].as_str().expect("id").to_string();
    let media_id = j.sim.attachment_media_id(&id).expect("media id");
    let doc = json!({"type": "doc", "version": 1, "content": [
        {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [
            {"type": "media", "attrs": {"type": "file", "id": media_id, "collection": "", "alt": "screen.png"}}
        ]}
    ]});
    assert_eq!(j.put(&format!("issue/{key}"), json!({"fields": {"description": doc}})).await.status, 204);
    assert_eq!(j.issue(&key).await["fields"]["description"], doc);
    let c = j.post(&format!("issue/{key}/comment?expand=renderedBody"), json!({"body": doc})).await.body;
    let html = c["renderedBody"].as_str().expect("renderedBody");
    assert!(html.contains(&format!("/rest/api/3/attachment/content/{id}")), "{html}");
}

#[tokio::test]
async fn epics_standard_issues_and_sub_tasks_form_the_hierarchy() {
    let j = Jira::start().await;
    let epic = j.create("Epic", "epic", None).await;
    let story = j.create("Task", "story", Some(&epic)).await;
    let sub = j.create("Sub-task", "sub", Some(&story)).await;
    let fields = j.issue(&story).await["fields"].clone();
    assert_eq!(fields["parent"]["key"], epic);
    assert_eq!(fields["parent"]["fields"]["issuetype"]["hierarchyLevel"], 1);
    assert_eq!(fields["subtasks"][0]["key"], sub);
    assert_eq!(j.issue(&sub).await["fields"]["issuetype"]["subtask"], true);
    assert!(j.issue(&epic).await["fields"].get("parent").is_none());
    let found = j.post("search/jql", json!({"jql": "project = APP ORDER BY key ASC", "fields": ["parent"]})).await.body;
    assert_eq!(found["issues"][1]["fields"]["parent"]["key"], epic, "search reads the parent too");
    for (jql, want) in [
        (format!("parent = {epic}"), vec![story.clone()]),
        (format!("parent in ({story}, {epic}) ORDER BY key ASC"), vec![story.clone(), sub.clone()]),
        ("project = APP AND parent is EMPTY".to_string(), vec![epic.clone()]),
    ] {
        let r = j.post("search/jql", json!({"jql": jql, "fields": ["key"]})).await.body;
        let keys: Vec<&str> =
            r["issues"].as_array().expect("issues").iter().filter_map(|i| i["key"].as_str()).collect();
        assert_eq!(keys, want, "{jql}");
    }

    let refused = [
        (
            json!({"project": {"key": "APP"}, "issuetype": {"name": "Sub-task"}, "summary": "orphan"}),
            "sub-task but parent",
        ),
        (
            json!({"project": {"key": "APP"}, "issuetype": {"name": "Sub-task"}, "summary": "s", "parent": {"key": epic}}),
            "appropriate hierarchy",
        ),
        (
            json!({"project": {"key": "APP"}, "issuetype": {"name": "Epic"}, "summary": "e", "parent": {"key": epic}}),
            "appropriate hierarchy",
        ),
        (
            json!({"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": "b", "parent": {"key": "APP-99"}}),
            "Could not find issue",
        ),
    ];
    for (fields, needle) in refused {
        let r = j.post("issue", json!({ "fields": fields })).await;
        assert_eq!(r.status, 400, "{needle}: {}", r.body);
        assert!(r.body["errors"]["parent"].as_str().unwrap_or_default().contains(needle), "{}", r.body);
    }
}

#[tokio::test]
async fn moving_a_child_to_another_parent_is_a_change_with_an_issue_parent_association_item() {
    let j = Jira::start().await;
    let (one, two) = (j.create("Epic", "one", None).await, j.create("Epic", "two", None).await);
    let child = j.create("Bug", "child", Some(&one)).await;
    let before = j.issue(&child).await["fields"]["updated"].clone();
    let (one_id, two_id) = (j.issue(&one).await["id"].clone(), j.issue(&two).await["id"].clone());

    assert_eq!(j.put(&format!("issue/{child}"), json!({"fields": {"parent": {"key": two}}})).await.status, 204);
    let fields = j.issue(&child).await["fields"].clone();
    assert_eq!(fields["parent"]["key"], two);
    assert_ne!(fields["updated"], before);
    let item = items_of(&j.changelog(&child).await).pop().expect("an item");
    assert_eq!(item["field"], "IssueParentAssociation");
    assert!(item.get("fieldId").is_none(), "Jira writes no fieldId here: {item}");
    assert_eq!((item["from"].clone(), item["to"].clone()), (one_id, two_id.clone()));

    let r = j.put(&format!("issue/{child}"), json!({"update": {"parent": [{"set": {"none": true}}]}})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(j.issue(&child).await["fields"].get("parent").is_none());
    let item = items_of(&j.changelog(&child).await).pop().expect("an item");
    assert_eq!((item["from"].clone(), item["to"].clone()), (two_id, Value::Null));
    assert_eq!(j.put(&format!("issue/{child}"), json!({"fields": {"parent": null}})).await.status, 204);
    assert_eq!(j.changelog(&child).await.len(), 2, "clearing an empty parent changes nothing");
}

#[tokio::test]
async fn issue_links_show_on_both_issues_in_their_direction_and_in_both_changelogs() {
    let j = Jira::start().await;
    let types = j.get("issueLinkType").await.body;
    let names: Vec<(&str, &str, &str)> = types["issueLinkTypes"]
        .as_array()
        .expect("types")
        .iter()
        .map(|t| {
            (t["name"].as_str().unwrap_or(""), t["inward"].as_str().unwrap_or(""), t["outward"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(names.contains(&("Blocks", "is blocked by", "blocks")));
    assert!(names.contains(&("Duplicate", "is duplicated by", "duplicates")));
    assert!(names.contains(&("Relates", "relates to", "relates to")));
    assert!(names.iter().any(|n| n.0 == "Cloners"));
    assert_eq!(j.get("issueLinkType/10000").await.body["name"], "Blocks");
    assert_eq!(j.get("issueLinkType/99").await.status, 404);

    let (a, b) = (j.create("Bug", "blocker", None).await, j.create("Bug", "blocked", None).await);
    let body = json!({"type": {"name": "Blocks"}, "inwardIssue": {"key": a}, "outwardIssue": {"key": b},
                      "comment": {"body": adf("linking")}});
    let r = j.post("issueLink", body.clone()).await;
    assert_eq!((r.status, r.bytes.len()), (201, 0));
    assert_eq!(j.post("issueLink", body).await.status, 201, "a duplicate is answered as created");
    let on_a = j.issue(&a).await["fields"].clone();
    let links_a = on_a["issuelinks"].as_array().expect("issuelinks").clone();
    assert_eq!(links_a.len(), 1, "not duplicated");
    assert_eq!(links_a[0]["outwardIssue"]["key"], b);
    assert!(links_a[0].get("inwardIssue").is_none());
    assert_eq!(on_a["comment"]["total"], 2, "the comment goes to the source issue, once per request");
    let links_b = j.issue(&b).await["fields"]["issuelinks"].clone();
    assert_eq!(links_b[0]["inwardIssue"]["key"], a);
    let id = links_a[0]["id"].as_str().expect("link id").to_string();

    let link = j.get(&format!("issueLink/{id}")).await.body;
    assert_eq!((link["inwardIssue"]["key"].clone(), link["outwardIssue"]["key"].clone()), (json!(a), json!(b)));
    assert_eq!(link["type"]["name"], "Blocks");
    let item_a = items_of(&j.changelog(&a).await).pop().expect("a item");
    assert_eq!(
        (item_a["field"].clone(), item_a["toString"].clone()),
        (json!("Link"), json!(format!("This issue blocks {b}")))
    );
    let item_b = items_of(&j.changelog(&b).await).pop().expect("b item");
    assert_eq!(item_b["toString"], format!("This issue is blocked by {a}"));

    assert_eq!(j.delete(&format!("issueLink/{id}")).await.status, 204);
    assert_eq!(j.get(&format!("issueLink/{id}")).await.status, 404);
    assert_eq!(j.issue(&b).await["fields"]["issuelinks"], json!([]));
    let removed = items_of(&j.changelog(&b).await).pop().expect("removal");
    assert_eq!((removed["from"].clone(), removed["to"].clone()), (json!(a), Value::Null));
    let r = j
        .post("issueLink", json!({"type": {"name": "Nope"}, "inwardIssue": {"key": a}, "outwardIssue": {"key": b}}))
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn deleted_issues_answer_404_and_take_their_sub_tasks_and_links_with_them() {
    let j = Jira::start().await;
    let story = j.create("Task", "story", None).await;
    let sub = j.create("Sub-task", "sub", Some(&story)).await;
    let other = j.create("Bug", "other", None).await;
    let r = j
        .post(
            "issueLink",
            json!({"type": {"name": "Relates"}, "inwardIssue": {"key": other}, "outwardIssue": {"key": story}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let history = j.changelog(&other).await.len();

    let r = j.delete(&format!("issue/{story}")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["errorMessages"][0].as_str().unwrap_or_default().contains("deleteSubtasks"));
    assert_eq!(j.delete(&format!("issue/{story}?deleteSubtasks=true")).await.status, 204);
    for k in [&story, &sub] {
        let r = j.get(&format!("issue/{k}")).await;
        assert_eq!(r.status, 404);
        assert_eq!(r.body["errorMessages"][0], "Issue does not exist or you do not have permission to see it.");
    }
    assert_eq!(j.delete(&format!("issue/{story}")).await.status, 404);
    assert_eq!(j.issue(&other).await["fields"]["issuelinks"], json!([]));
    assert_eq!(j.changelog(&other).await.len(), history, "the link goes without a changelog entry");
    let found = j.post("search/jql", json!({"jql": "project = APP ORDER BY key ASC"})).await.body;
    assert_eq!(found["issues"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_project_reads_official_clients_make_first_answer() {
    let j = Jira::start().await;
    let p = j.get("project/APP").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!((p.body["key"].clone(), p.body["id"].clone()), (json!("APP"), json!("10000")));
    assert_eq!(p.body["issueTypes"].as_array().map(Vec::len), Some(4));
    assert_eq!(j.get("project/10001").await.body["key"], "OPS");
    assert_eq!(j.get("project/APP/components").await.body, json!([]));
    assert_eq!(j.get("project/APP/versions").await.body, json!([]));
    assert_eq!(j.get("project/APP/statuses").await.body.as_array().map(Vec::len), Some(4));
    let missing = j.get("project/NOPE").await;
    assert_eq!(
        (missing.status, missing.body["errorMessages"][0].clone()),
        (404, json!("No project could be found with key 'NOPE'."))
    );
    let info = j.get("serverInfo").await.body;
    assert_eq!((info["deploymentType"].clone(), info["baseUrl"].clone()), (json!("Cloud"), json!(j.sim.base_url())));
}

#[tokio::test]
async fn faults_on_the_new_endpoints_leave_nothing_half_done() {
    let j = Jira::start().await;
    let key = j.create("Bug", "faulty", None).await;
    j.sim.faults().fail_next(1, 503);
    assert_eq!(j.upload(&key, &[("a.txt", "text/plain", b"a")]).await.status, 503);
    assert_eq!(j.issue(&key).await["fields"]["attachment"], json!([]));
    // A hook arms a rate limit for exactly the comment request, whatever came before it.
    let sim = j.sim.clone();
    j.sim.hooks().once(
        HookWhen::Before,
        |r| r.is("POST", "/comment", "ferry-bot@acme.test"),
        move |_| async move { sim.faults().rate_limit_next(1, 3) },
    );
    let r = j.post(&format!("issue/{key}/comment"), json!({"body": adf("later")})).await;
    assert_eq!((r.status, r.header("retry-after").as_deref()), (429, Some("3")));
    assert_eq!(j.get(&format!("issue/{key}/comment")).await.body["total"], 0);
    j.sim.faults().fail_next(1, 500);
    assert_eq!(
        j.post(
            "issueLink",
            json!({"type": {"name": "Relates"}, "inwardIssue": {"key": key}, "outwardIssue": {"key": key}})
        )
        .await
        .status,
        500
    );
    assert_eq!(j.issue(&key).await["fields"]["issuelinks"], json!([]));
}

#[tokio::test]
async fn responses_have_the_shape_of_the_specs_examples() {
    let j = Jira::start().await;
    let key = j.create("Bug", "shapes", None).await;
    let other = j.create("Task", "other", None).await;
    let visibility = json!({"type": "role", "value": "Administrators", "identifier": "Administrators"});
    let c = j.post(&format!("issue/{key}/comment"), json!({"body": adf("x"), "visibility": visibility})).await.body;
    let id = c["id"].as_str().expect("id").to_string();
    j.put(&format!("comment/{id}/properties/issue.support"), json!({"a": 1})).await;
    let up = j.upload(&key, &[("picture.jpg", "image/jpeg", b"jpeg")]).await.body;
    let att = up[0]["id"].as_str().expect("attachment id").to_string();
    j.post(
        "issueLink",
        json!({"type": {"name": "Duplicate"}, "inwardIssue": {"key": key}, "outwardIssue": {"key": other}}),
    )
    .await;
    let link = j.issue(&key).await["fields"]["issuelinks"][0]["id"].as_str().expect("link").to_string();
    let cid: u64 = id.parse().expect("numeric");

    let cases: Vec<(&str, Value, &[&str])> = vec![
        ("getComments", j.get(&format!("issue/{key}/comment")).await.body, &[]),
        ("addComment", c.clone(), &[]),
        ("getComment", j.get(&format!("issue/{key}/comment/{id}")).await.body, &[]),
        ("getCommentsByIds", j.post("comment/list", json!({"ids": [cid]})).await.body, &[]),
        ("getCommentProperty", j.get(&format!("comment/{id}/properties/issue.support")).await.body, &[]),
        ("getCommentPropertyKeys", j.get(&format!("comment/{id}/properties")).await.body, &[]),
        // Thumbnails are not served.
        ("getAttachment", j.get(&format!("attachment/{att}")).await.body, &["thumbnail"]),
        ("getAttachmentMeta", j.get("attachment/meta").await.body, &[]),
        ("getIssueLink", j.get(&format!("issueLink/{link}")).await.body, &[]),
        ("getIssueLinkTypes", j.get("issueLinkType").await.body, &[]),
        // The demo projects have no category, URL, e-mail or insight to show.
        ("getProject", j.get("project/APP").await.body, &["insight", "projectCategory", "url", "email"]),
        // defaultLocale is not in the ServerInformation schema; the others are other products.
        (
            "getServerInfo",
            j.get("serverInfo").await.body,
            &["defaultLocale", "serverTimeZone", "displayUrlConfluence", "displayUrlServicedeskHelpCenter"],
        ),
    ];
    for (op, ours, except) in cases {
        let theirs = jira_example(op);
        let theirs = if theirs.is_array() { theirs[0].clone() } else { theirs };
        let ours = if ours.is_array() { ours[0].clone() } else { ours };
        assert_eq!(missing_keys(&ours, &theirs, except), Vec::<String>::new(), "{op}: {ours}");
        for nested in ["comments", "values", "keys", "issueLinkTypes"] {
            if let (Some(a), Some(b)) = (ours[nested].get(0), theirs[nested].get(0)) {
                let allowed: &[&str] =
                    if op == "getCommentsByIds" || op == "getComments" { &["renderedBody"] } else { &[] };
                assert_eq!(missing_keys(a, b, allowed), Vec::<String>::new(), "{op}.{nested}[0]");
            }
        }
    }
    let theirs = jira_example("addAttachment")[0].clone();
    assert_eq!(missing_keys(&up[0], &theirs, &["thumbnail"]), Vec::<String>::new(), "addAttachment");
}
