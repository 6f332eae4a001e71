//! The simulator driven over real HTTP, as a connector would.

use super::*;
use reqwest::header::{HeaderMap as RHeaders, CONTENT_TYPE};
use serde_json::{json, Value};
use std::time::Duration;

const BOT: &str = "ado-bot-pat";
const ALICE: &str = "ado-alice-pat";
const PATCH: &str = "application/json-patch+json";
const JSON: &str = "application/json";

struct Resp {
    status: u16,
    body: Value,
    headers: RHeaders,
}

async fn sim() -> AdoSim {
    AdoSim::start(AdoSeed::demo()).await.expect("simulator starts")
}

/// `path` is relative to the organization URL, e.g. `/App/_apis/wit/wiql?api-version=7.1`.
async fn send(
    sim: &AdoSim,
    method: &str,
    path: &str,
    pat: Option<&str>,
    content_type: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(method, format!("{}{path}", sim.base_url()));
    if let Some(p) = pat {
        req = req.basic_auth("", Some(p));
    }
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let resp = req.send().await.expect("request is answered");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Resp { status, body, headers }
}

async fn get(sim: &AdoSim, path: &str) -> Resp {
    send(sim, "GET", path, Some(BOT), None, None).await
}

async fn create(sim: &AdoSim, pat: &str, ty: &str, ops: Value) -> Resp {
    send(sim, "POST", &format!("/App/_apis/wit/workitems/${ty}?api-version=7.1"), Some(pat), Some(PATCH), Some(ops))
        .await
}

async fn patch(sim: &AdoSim, pat: &str, id: u64, ops: Value) -> Resp {
    send(sim, "PATCH", &format!("/App/_apis/wit/workitems/{id}?api-version=7.1"), Some(pat), Some(PATCH), Some(ops))
        .await
}

async fn new_bug(sim: &AdoSim, title: &str) -> u64 {
    let r = create(sim, BOT, "Bug", json!([{"op": "add", "path": "/fields/System.Title", "value": title}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["id"].as_u64().expect("id")
}

async fn wiql(sim: &AdoSim, query_string: &str, wiql: &str) -> Resp {
    send(
        sim,
        "POST",
        &format!("/App/_apis/wit/wiql?api-version=7.1{query_string}"),
        Some(BOT),
        Some(JSON),
        Some(json!({ "query": wiql })),
    )
    .await
}

fn ids_of(wiql_result: &Value) -> Vec<u64> {
    wiql_result["workItems"].as_array().expect("workItems").iter().filter_map(|w| w["id"].as_u64()).collect()
}

fn assert_error_shape(r: &Resp, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    for key in ["$id", "innerException", "message", "typeName", "typeKey", "errorCode", "eventId"] {
        assert!(r.body.get(key).is_some(), "error lacks {key}: {}", r.body);
    }
    let msg = r.body["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
}

/// Body of a response in Microsoft's httpExamples (the shape oracle).
fn example(rel: &str) -> Value {
    // Copies of the examples used live in tests/specs; FERRY_SPECS_DIR points at
    // another copy of the official specs (e.g. the full shared/specs).
    let specs = std::env::var("FERRY_SPECS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs"));
    let path = specs.join("azure-devops").join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("example {} is readable: {e}", path.display()));
    let v: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).expect("example is JSON");
    v["responses"]["200"]["body"].clone()
}

fn assert_same_keys(ours: &Value, theirs: &Value, what: &str) {
    let theirs = theirs.as_object().expect("example object");
    for key in theirs.keys() {
        assert!(ours.get(key).is_some(), "{what}: our response lacks {key:?}: {ours}");
    }
}

#[tokio::test]
async fn lists_are_wrapped_in_count_and_value() {
    let sim = sim().await;
    let cases = [
        ("/_apis/projects?api-version=7.1", 2),
        ("/App/_apis/wit/workitemtypes?api-version=7.1", 5),
        ("/App/_apis/wit/workitemtypes/Bug/states?api-version=7.1", 4),
        ("/App/_apis/wit/workitemtypes/Task/states?api-version=7.1", 3),
        ("/App/_apis/wit/fields?api-version=7.1", 23),
        ("/_apis/identities?searchFilter=General&filterValue=bob@acme.test&api-version=7.1", 1),
    ];
    for (path, n) in cases {
        let r = get(&sim, path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.body["count"], json!(n), "{path}");
        assert_eq!(r.body["value"].as_array().map(Vec::len), Some(n), "{path}");
    }
}

#[tokio::test]
async fn every_operation_needs_api_version_7_1() {
    let sim = sim().await;
    let r = get(&sim, "/_apis/projects").await;
    assert_error_shape(&r, 400, "No api-version was supplied");
    assert_eq!(r.body["typeKey"], "VssVersionNotSpecifiedException");
    for bad in ["7.2", "abc", "6.0", "7.1-beta"] {
        let r = get(&sim, &format!("/_apis/projects?api-version={bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    let r = get(&sim, "/_apis/projects?api-version=7.1-preview.1").await;
    assert_eq!(r.status, 200);
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/_apis/projects", sim.base_url()))
        .basic_auth("x", Some(BOT))
        .header("accept", "application/json; api-version=7.1")
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn requests_without_a_known_pat_are_unauthorized() {
    let sim = sim().await;
    let path = "/_apis/projects?api-version=7.1";
    assert_eq!(send(&sim, "GET", path, None, None, None).await.status, 401);
    assert_eq!(send(&sim, "GET", path, Some("nope"), None, None).await.status, 401);
    assert_eq!(send(&sim, "GET", path, Some(ALICE), None, None).await.status, 200);
    let log = sim.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[2].user.as_deref(), Some("alice@acme.test"));
    assert_eq!(log[0].status, 401);
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn json_patch_create_returns_revision_one_authored_by_the_caller() {
    let sim = sim().await;
    let r = create(
        &sim,
        ALICE,
        "Bug",
        json!([
            {"op": "add", "path": "/fields/System.Title", "value": "Main order flow broken"},
            {"op": "add", "path": "/fields/System.Description", "value": "<p>HTML here</p>"},
            {"op": "add", "path": "/fields/Microsoft.VSTS.Common.Priority", "value": "1"},
            {"op": "add", "path": "/fields/System.AssignedTo", "value": "Bob Smith <bob@acme.test>"},
            {"op": "add", "path": "/fields/System.Tags", "value": "synced; jira; Synced"},
            {"op": "add", "path": "/relations/-", "value": {"rel": "Hyperlink", "url": "https://site.atlassian.net/browse/APP-1", "attributes": {"comment": "Jira APP-1"}}}
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let f = &r.body["fields"];
    assert_eq!(r.body["rev"], 1);
    assert_eq!(f["System.State"], "New");
    assert_eq!(f["System.Reason"], "New");
    assert_eq!(f["System.WorkItemType"], "Bug");
    assert_eq!(f["System.TeamProject"], "App");
    assert_eq!(f["System.AreaPath"], "App");
    assert_eq!(f["Microsoft.VSTS.Common.Priority"], 1);
    assert_eq!(f["Microsoft.VSTS.Common.Severity"], "3 - Medium");
    assert_eq!(f["System.Tags"], "jira; synced");
    assert_eq!(f["System.AssignedTo"]["uniqueName"], "bob@acme.test");
    assert_eq!(f["System.CreatedBy"]["uniqueName"], "alice@acme.test");
    assert_eq!(f["System.ChangedBy"]["id"], "8c2a0000-0000-4000-8000-000000000002");
    assert_eq!(f["System.CreatedDate"], f["System.ChangedDate"]);
    assert!(f["System.ChangedDate"].as_str().unwrap_or_default().ends_with('Z'));
    assert_eq!(r.body["relations"][0]["rel"], "Hyperlink");
    assert_eq!(r.body["relations"][0]["attributes"]["comment"], "Jira APP-1");
    let id = r.body["id"].as_u64().expect("id");
    assert!(r.body["_links"]["self"]["href"].as_str().unwrap_or_default().ends_with(&format!("/workItems/{id}")));
    assert_eq!(sim.work_item_json(id).expect("stored")["relations"], r.body["relations"]);
    assert_eq!(sim.work_item_ids("App"), vec![id]);
    assert!(sim.work_item_ids("Ops").is_empty());

    // Clients that escape the dollar sign reach the same operation.
    let r = send(
        &sim,
        "POST",
        "/App/_apis/wit/workitems/%24Task?api-version=7.1",
        Some(BOT),
        Some(PATCH),
        Some(json!([{"op": "add", "path": "/fields/System.Title", "value": "t"}])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["fields"]["System.WorkItemType"], "Task");
}

#[tokio::test]
async fn invalid_patches_are_rejected_with_the_services_messages() {
    let sim = sim().await;
    let title = json!({"op": "add", "path": "/fields/System.Title", "value": "x"});
    let cases = [
        (
            json!([title, {"op": "add", "path": "/fields/Custom.Nope", "value": "x"}]),
            400,
            "TF51535: Cannot find field Custom.Nope.",
        ),
        (json!([title, {"op": "add", "path": "/fields/System.State", "value": "Bogus"}]), 400, "TF401320"),
        (json!([title, {"op": "add", "path": "/fields/System.State", "value": "Active"}]), 400, "TF401320"),
        (json!([title, {"op": "add", "path": "/fields/Microsoft.VSTS.Common.Priority", "value": 7}]), 400, "TF401320"),
        (
            json!([title, {"op": "add", "path": "/fields/Microsoft.VSTS.Common.Priority", "value": "high"}]),
            400,
            "TF401326",
        ),
        (
            json!([title, {"op": "add", "path": "/fields/Microsoft.VSTS.Common.Severity", "value": "9 - Meh"}]),
            400,
            "TF401320",
        ),
        (
            json!([title, {"op": "add", "path": "/fields/System.AssignedTo", "value": "erin@acme.test"}]),
            400,
            "unknown identity",
        ),
        (json!([title, {"op": "add", "path": "/fields/System.AreaPath", "value": "Elsewhere"}]), 400, "TF401347"),
        (
            json!([title, {"op": "add", "path": "/fields/System.CreatedDate", "value": "2020-01-01T00:00:00Z"}]),
            400,
            "ReadOnly",
        ),
        (
            json!([{"op": "add", "path": "/fields/System.Description", "value": "no title"}]),
            400,
            "Rule Error for field Title",
        ),
        (
            json!([title, {"op": "add", "path": "/relations/-", "value": {"rel": "System.LinkTypes.Related", "url": "x"}}]),
            400,
            "not a work item URL",
        ),
        (
            json!([title, {"op": "add", "path": "/relations/-", "value": {"rel": "System.LinkTypes.Nope", "url": "x"}}]),
            400,
            "TF201037",
        ),
        (json!([]), 400, "valid patch document"),
        (json!({"op": "add"}), 400, "valid patch document"),
    ];
    for (ops, status, needle) in cases {
        let r = create(&sim, BOT, "Bug", ops.clone()).await;
        assert_error_shape(&r, status, needle);
    }
    assert!(sim.work_item_ids("App").is_empty(), "nothing was stored");
    let r = create(&sim, BOT, "Product Backlog Item", json!([title])).await;
    assert_error_shape(&r, 404, "Product Backlog Item");
}

#[tokio::test]
async fn identity_fields_accept_every_documented_form() {
    let sim = sim().await;
    let id = new_bug(&sim, "who").await;
    let cases = [
        (json!("alice@acme.test"), Some("alice@acme.test")),
        (json!("Bob Smith"), Some("bob@acme.test")),
        (json!("Carol White<carol.w@acme.test>"), Some("carol.w@acme.test")),
        (json!({"id": "8c2a0000-0000-4000-8000-000000000005"}), Some("dave@acme.test")),
        (json!({"displayName": "Alice Jones", "uniqueName": "ALICE@acme.test"}), Some("alice@acme.test")),
        (json!(""), None),
    ];
    for (value, want) in cases {
        let r = patch(&sim, BOT, id, json!([{"op": "add", "path": "/fields/System.AssignedTo", "value": value}])).await;
        assert_eq!(r.status, 200, "{value}: {}", r.body);
        let got = r.body["fields"].get("System.AssignedTo").map(|a| a["uniqueName"].clone());
        assert_eq!(got, want.map(|w| json!(w)), "{value}");
    }
}

#[tokio::test]
async fn patch_requires_the_json_patch_content_type() {
    let sim = sim().await;
    let ops = json!([{"op": "add", "path": "/fields/System.Title", "value": "x"}]);
    for ct in [Some(JSON), None] {
        let r =
            send(&sim, "POST", "/App/_apis/wit/workitems/$Bug?api-version=7.1", Some(BOT), ct, Some(ops.clone())).await;
        assert_error_shape(&r, 415, "application/json-patch+json");
    }
    let id = new_bug(&sim, "x").await;
    let r = send(
        &sim,
        "PATCH",
        &format!("/App/_apis/wit/workitems/{id}?api-version=7.1"),
        Some(BOT),
        Some(JSON),
        Some(ops),
    )
    .await;
    assert_eq!(r.status, 415);
}

#[tokio::test]
async fn updates_bump_rev_and_changed_date_and_record_the_author() {
    let sim = sim().await;
    let id = new_bug(&sim, "first").await;
    let before = sim.work_item_json(id).expect("exists");
    let r = patch(
        &sim,
        ALICE,
        id,
        json!([
            {"op": "test", "path": "/rev", "value": 1},
            {"op": "add", "path": "/fields/System.State", "value": "Resolved"},
            {"op": "replace", "path": "/fields/System.Title", "value": "second"},
            {"op": "add", "path": "/fields/System.History", "value": "Synced from Jira APP-1"}
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let f = &r.body["fields"];
    assert_eq!(r.body["rev"], 2);
    assert_eq!(f["System.State"], "Resolved");
    assert_eq!(f["System.Reason"], "Moved to state Resolved");
    assert_eq!(f["System.ChangedBy"]["uniqueName"], "alice@acme.test");
    assert_eq!(f["System.CreatedBy"]["uniqueName"], "ferry-bot@acme.test");
    assert_eq!(f["System.History"], "Synced from Jira APP-1");
    assert!(r.body.get("commentVersionRef").is_some());
    let t0 = wiql::parse_time(before["fields"]["System.ChangedDate"].as_str().unwrap_or_default());
    let t1 = wiql::parse_time(f["System.ChangedDate"].as_str().unwrap_or_default());
    assert!(t0.is_some() && t1 > t0, "{t0:?} < {t1:?}");

    // Task has no Resolved state; setting a state of another type is a rule error.
    let task = create(&sim, BOT, "Task", json!([{"op": "add", "path": "/fields/System.Title", "value": "t"}])).await;
    let tid = task.body["id"].as_u64().expect("id");
    let r = patch(&sim, BOT, tid, json!([{"op": "add", "path": "/fields/System.State", "value": "Resolved"}])).await;
    assert_error_shape(&r, 400, "TF401320");

    // The next revision drops the history text; the update keeps it.
    let r = patch(
        &sim,
        BOT,
        id,
        json!([{"op": "add", "path": "/fields/Microsoft.VSTS.Scheduling.StoryPoints", "value": "3.5"}]),
    )
    .await;
    assert_eq!(r.body["rev"], 3);
    assert!(r.body["fields"].get("System.History").is_none());
    assert_eq!(r.body["fields"]["Microsoft.VSTS.Scheduling.StoryPoints"], 3.5);

    let u = get(&sim, &format!("/App/_apis/wit/workItems/{id}/updates?api-version=7.1")).await;
    assert_eq!(u.body["count"], 3);
    let second = &u.body["value"][1];
    assert_eq!(second["rev"], 2);
    assert_eq!(second["revisedBy"]["uniqueName"], "alice@acme.test");
    assert_eq!(second["revisedBy"]["name"], "Alice Jones <alice@acme.test>");
    assert_eq!(second["fields"]["System.State"], json!({"oldValue": "New", "newValue": "Resolved"}));
    assert_eq!(second["fields"]["System.History"], json!({"newValue": "Synced from Jira APP-1"}));
    assert_eq!(second["revisedDate"], u.body["value"][2]["fields"]["System.ChangedDate"]["newValue"]);
    assert_eq!(u.body["value"][2]["revisedDate"], "9999-01-01T00:00:00Z");
    assert!(u.body["value"][2]["fields"].get("System.History").is_none());

    let revs = get(&sim, &format!("/App/_apis/wit/workItems/{id}/revisions?api-version=7.1")).await;
    assert_eq!(revs.body["count"], 3);
    assert_eq!(revs.body["value"][0]["fields"]["System.Title"], "first");
    assert_eq!(revs.body["value"][1]["fields"]["System.Title"], "second");
    let one = get(&sim, &format!("/App/_apis/wit/workItems/{id}/revisions/1?api-version=7.1")).await;
    assert_eq!(one.body["rev"], 1);
}

#[tokio::test]
async fn a_stale_rev_test_rejects_the_whole_patch_with_412() {
    let sim = sim().await;
    let id = new_bug(&sim, "original").await;
    let ok = patch(&sim, BOT, id, json!([{"op": "add", "path": "/fields/System.Title", "value": "v2"}])).await;
    assert_eq!(ok.body["rev"], 2);
    let r = patch(
        &sim,
        ALICE,
        id,
        json!([
            {"op": "add", "path": "/fields/System.Title", "value": "lost"},
            {"op": "test", "path": "/rev", "value": 1}
        ]),
    )
    .await;
    assert_error_shape(&r, 412, "/rev");
    let now = sim.work_item_json(id).expect("exists");
    assert_eq!(now["rev"], 2);
    assert_eq!(now["fields"]["System.Title"], "v2");
    let r = patch(&sim, ALICE, id, json!([{"op": "test", "path": "/rev", "value": "2"}, {"op": "add", "path": "/fields/System.Title", "value": "v3"}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn the_stale_revision_fault_makes_a_person_save_before_a_guarded_update() {
    let sim = sim().await;
    let id = new_bug(&sim, "original").await;
    sim.faults().stale_revision_next(1);
    let unguarded = patch(&sim, BOT, id, json!([{"op": "add", "path": "/fields/System.Title", "value": "v2"}])).await;
    assert_eq!(unguarded.body["rev"], 2, "updates without a rev test are not affected");
    let guarded = json!([
        {"op": "test", "path": "/rev", "value": 2},
        {"op": "add", "path": "/fields/System.Title", "value": "v3"}
    ]);
    let r = patch(&sim, BOT, id, guarded.clone()).await;
    assert_error_shape(&r, 412, "/rev");
    let now = sim.work_item_json(id).expect("exists");
    assert_eq!(now["rev"], 3, "someone else saved in between");
    assert_eq!(now["fields"]["System.Title"], "v2");
    assert_ne!(now["fields"]["System.ChangedBy"]["uniqueName"], "ferry-bot@acme.test");
    let history = sim.history(id).expect("history");
    assert_eq!(history.len(), 3);
    assert!(history[0].created && history[0].fields.contains(&"System.Title".to_string()));
    assert_eq!(history[1].author, "ferry-bot@acme.test");
    assert_eq!(history[1].fields, vec!["System.Title".to_string()]);
    assert_ne!(history[2].author, "ferry-bot@acme.test");
    let r = patch(&sim, BOT, id, json!([{"op": "test", "path": "/rev", "value": 3}, {"op": "add", "path": "/fields/System.Title", "value": "v3"}])).await;
    assert_eq!(r.status, 200, "the fault is used up: {}", r.body);
}

#[tokio::test]
async fn a_hanging_request_is_dropped_unapplied() {
    let sim = sim().await;
    let id = new_bug(&sim, "original").await;
    sim.faults().hang_next(1, Duration::from_millis(300));
    let client = reqwest::Client::builder().timeout(Duration::from_millis(100)).build().expect("client");
    let r = client
        .patch(format!("{}/App/_apis/wit/workitems/{id}?api-version=7.1", sim.base_url()))
        .basic_auth("", Some(BOT))
        .header(CONTENT_TYPE, PATCH)
        .body(json!([{"op": "add", "path": "/fields/System.Title", "value": "late"}]).to_string())
        .send()
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let now = sim.work_item_json(id).expect("exists");
    assert_eq!(now["fields"]["System.Title"], "original");
    assert_eq!(now["rev"], 1);
}

#[tokio::test]
async fn wiql_compares_dates_by_day_unless_time_precision_is_requested() {
    let sim = sim().await;
    let a = new_bug(&sim, "a").await;
    let b = new_bug(&sim, "b").await;
    let b_changed =
        sim.work_item_json(b).expect("b")["fields"]["System.ChangedDate"].as_str().unwrap_or_default().to_string();
    let a_changed =
        sim.work_item_json(a).expect("a")["fields"]["System.ChangedDate"].as_str().unwrap_or_default().to_string();

    let timed = format!(
        "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project AND [System.ChangedDate] > '{a_changed}' ORDER BY [System.ChangedDate] ASC"
    );
    let r = wiql(&sim, "", &timed).await;
    assert_error_shape(&r, 400, "You cannot supply a time with the date when running a query using date precision. The error is caused by «[System.ChangedDate] > '");

    let r = wiql(&sim, "&timePrecision=true", &timed).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids_of(&r.body), vec![b]);
    assert_eq!(r.body["queryType"], "flat");
    assert_eq!(r.body["queryResultType"], "workItem");
    assert_eq!(r.body["sortColumns"][0]["field"]["referenceName"], "System.ChangedDate");
    assert_eq!(r.body["sortColumns"][0]["descending"], false);

    let at_b = format!("SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] >= '{b_changed}'");
    assert_eq!(ids_of(&wiql(&sim, "&timePrecision=true", &at_b).await.body), vec![b]);

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let by_day = format!("SELECT [System.Id], [System.Title] FROM WorkItems WHERE [System.ChangedDate] >= '{today}' ORDER BY [System.Id] DESC");
    let r = wiql(&sim, "", &by_day).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids_of(&r.body), vec![b, a]);
    assert_eq!(r.body["columns"][1]["referenceName"], "System.Title");
    let r = wiql(&sim, "&$top=1", &by_day).await;
    assert_eq!(ids_of(&r.body), vec![b]);

    let r = wiql(&sim, "", "SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] >= @today - 1 AND ([System.Title] = 'a' OR [System.Title] IN ('zzz'))").await;
    assert_eq!(ids_of(&r.body), vec![a]);

    let r = wiql(&sim, "", "SELECT [System.Id] FROM WorkItems WHERE [System.Title] EVER 'a'").await;
    assert_error_shape(&r, 400, "EVER");

    // The team-scoped route answers the same query.
    let r = send(
        &sim,
        "POST",
        "/App/App%20Team/_apis/wit/wiql?api-version=7.1",
        Some(BOT),
        Some(JSON),
        Some(json!({"query": "SELECT [System.Id] FROM WorkItems"})),
    )
    .await;
    assert_eq!(ids_of(&r.body), vec![a, b]);
}

#[tokio::test]
async fn search_lag_hides_recently_changed_items_from_wiql() {
    let sim = sim().await;
    let a = new_bug(&sim, "a").await;
    let q = "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project";
    assert_eq!(ids_of(&wiql(&sim, "", q).await.body), vec![a]);
    sim.faults().set_search_lag(Duration::from_secs(60));
    assert!(ids_of(&wiql(&sim, "", q).await.body).is_empty());
    // Direct reads are not affected by the index lag.
    assert_eq!(get(&sim, &format!("/App/_apis/wit/workitems/{a}?api-version=7.1")).await.status, 200);
    sim.faults().set_search_lag(Duration::ZERO);
    assert_eq!(ids_of(&wiql(&sim, "", q).await.body), vec![a]);
}

#[tokio::test]
async fn wiql_refuses_results_beyond_20000_items_unless_top_narrows_them() {
    let mut seed = AdoSeed::demo();
    let mut fields = serde_json::Map::new();
    fields.insert("System.Title".into(), json!("bulk"));
    let one = AdoSeedWorkItem {
        project: "App".into(),
        work_item_type: "Task".into(),
        fields,
        created_by: "bob@acme.test".into(),
        created_at: None,
    };
    seed.work_items = vec![one; 20_001];
    let sim = AdoSim::start(seed).await.expect("starts");
    let q = "SELECT [System.Id] FROM WorkItems";
    let r = wiql(&sim, "", q).await;
    assert_error_shape(&r, 400, "VS402337: The number of work items returned exceeds the size limits of 20000");
    let r = wiql(&sim, "&$top=20000", q).await;
    assert_eq!(r.status, 200);
    assert_eq!(ids_of(&r.body).len(), 20_000);
}

#[tokio::test]
async fn batch_reads_are_capped_at_200_ids() {
    let sim = sim().await;
    let a = new_bug(&sim, "a").await;
    let b = new_bug(&sim, "b").await;
    let batch = |body: Value| {
        send(&sim, "POST", "/App/_apis/wit/workitemsbatch?api-version=7.1", Some(BOT), Some(JSON), Some(body))
    };

    let r = batch(json!({"ids": [a, b], "fields": ["System.Id", "System.Title", "System.ChangedDate"]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["count"], 2);
    assert_eq!(r.body["value"][1]["fields"]["System.Title"], "b");
    assert_eq!(r.body["value"][1]["fields"]["System.Id"], b);
    assert!(r.body["value"][1]["fields"].get("System.State").is_none());

    let ids: Vec<u64> = (1..=201).collect();
    assert_error_shape(&batch(json!({"ids": ids})).await, 400, "200");
    assert_error_shape(
        &batch(json!({"ids": [a], "fields": ["System.Title"], "$expand": "relations"})).await,
        400,
        "The expand parameter can not be used with the fields parameter.",
    );
    assert_error_shape(&batch(json!({"ids": [a, 999]})).await, 404, "TF401232");
    let r = batch(json!({"ids": [a, 999], "errorPolicy": "omit", "$expand": "all"})).await;
    assert_eq!(r.body["value"][1], Value::Null);
    assert!(r.body["value"][0].get("_links").is_some());
    assert_error_shape(&batch(json!({"ids": [a], "fields": ["Nope.Field"]})).await, 400, "TF51535");

    let r = get(&sim, &format!("/App/_apis/wit/workitems?ids={a},{b}&fields=System.Title&api-version=7.1")).await;
    assert_eq!(r.body["count"], 2);
    let many: Vec<String> = (1..=201).map(|i| i.to_string()).collect();
    let r = get(&sim, &format!("/App/_apis/wit/workitems?ids={}&api-version=7.1", many.join(","))).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn missing_work_items_and_unknown_projects_are_404() {
    let sim = sim().await;
    let r = get(&sim, "/App/_apis/wit/workitems/42?api-version=7.1").await;
    assert_error_shape(&r, 404, "TF401232: Work item 42 does not exist");
    let r = get(&sim, "/Nope/_apis/wit/workitems/42?api-version=7.1").await;
    assert_error_shape(&r, 404, "TF200016");
    let r = get(&sim, "/_apis/projects/Nope?api-version=7.1").await;
    assert_eq!(r.status, 404);
    let r = get(&sim, "/_apis/projects/app?api-version=7.1").await;
    assert_eq!(r.body["id"], "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c");
}

#[tokio::test]
async fn paths_are_case_insensitive() {
    let sim = sim().await;
    let id = new_bug(&sim, "case").await;
    for path in [
        format!("/app/_APIS/wit/WorkItems/{id}?api-version=7.1"),
        format!("/App/_apis/wit/workItems/{id}/Updates?api-version=7.1"),
        format!("/_apis/wit/workitems/{id}?API-VERSION=7.1"),
        "/App/_apis/wit/workItemTypes/bug/fields?$expand=allowedValues&api-version=7.1".to_string(),
    ] {
        assert_eq!(get(&sim, &path).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn type_fields_list_allowed_values_for_priority_severity_and_state() {
    let sim = sim().await;
    let r = get(&sim, "/App/_apis/wit/workitemtypes/Bug/fields?$expand=allowedValues&api-version=7.1").await;
    let find = |name: &str| {
        r.body["value"]
            .as_array()
            .and_then(|a| a.iter().find(|f| f["referenceName"] == name).cloned())
            .unwrap_or(Value::Null)
    };
    assert_eq!(find("Microsoft.VSTS.Common.Priority")["allowedValues"], json!(["1", "2", "3", "4"]));
    assert_eq!(find("Microsoft.VSTS.Common.Priority")["defaultValue"], "2");
    assert_eq!(
        find("Microsoft.VSTS.Common.Severity")["allowedValues"],
        json!(["1 - Critical", "2 - High", "3 - Medium", "4 - Low"])
    );
    assert_eq!(find("System.State")["allowedValues"], json!(["Active", "Closed", "New", "Resolved"]));
    let plain = get(&sim, "/App/_apis/wit/workitemtypes/Bug/fields?api-version=7.1").await;
    assert!(plain.body["value"][0].get("allowedValues").is_none());
    let f = get(&sim, "/App/_apis/wit/fields/System.AssignedTo?api-version=7.1").await;
    assert_eq!(f.body["isIdentity"], true);
}

#[tokio::test]
async fn identities_are_found_by_exact_email_or_name() {
    let sim = sim().await;
    let cases = [
        ("General", "carol.w@acme.test", Some("Carol White")),
        ("MailAddress", "ALICE@acme.test", Some("Alice Jones")),
        ("AccountName", "bob@acme.test", Some("Bob Smith")),
        ("DisplayName", "Dave Hidden", Some("Dave Hidden")),
        ("General", "carol@acme.test", None),
        ("General", "erin@acme.test", None),
        ("MailAddress", "alice@acme", None),
    ];
    for (filter, value, want) in cases {
        let r = get(
            &sim,
            &format!(
                "/_apis/identities?searchFilter={filter}&filterValue={value}&queryMembership=None&api-version=7.1"
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let found = r.body["value"].as_array().cloned().unwrap_or_default();
        assert_eq!(found.first().map(|i| i["providerDisplayName"].clone()), want.map(|w| json!(w)), "{filter} {value}");
        if let Some(i) = found.first() {
            assert_eq!(i["properties"]["Mail"]["$value"], i["properties"]["Account"]["$value"]);
        }
    }
    assert_eq!(sim.user("carol.w@acme.test").map(|u| u.id), Some("8c2a0000-0000-4000-8000-000000000004".to_string()));
    assert!(sim.user("erin@acme.test").is_none());
}

#[tokio::test]
async fn over_the_consumption_limit_a_request_is_blocked_with_no_effect_and_near_it_the_headers_come() {
    let sim = sim().await;
    sim.set_rate_limit(Some(crate::AdoRateLimit { limit: 5, window: Duration::from_secs(60), users: vec![] }));
    let title = |t: &str| json!([{"op": "add", "path": "/fields/System.Title", "value": t}]);
    let mut remaining = Vec::new();
    for i in 0..5 {
        let r = create(&sim, BOT, "Bug", title(&format!("Bug {i}"))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        remaining.push(r.headers.get("x-ratelimit-remaining").map(|v| v.to_str().unwrap().to_string()));
    }
    let some = |n: &str| Some(n.to_string());
    assert_eq!(remaining, [None, None, None, some("1"), some("0")], "announced from 80 % of the limit");
    let before = sim.work_item_ids("App").len();
    let blocked = create(&sim, BOT, "Bug", title("Over")).await;
    assert_error_shape(&blocked, 429, "TF400733: The request has been canceled");
    let retry: u64 = blocked.headers["retry-after"].to_str().unwrap().parse().expect("seconds");
    assert!((59..=60).contains(&retry), "until the oldest request leaves the window: {retry}");
    assert_eq!(blocked.headers["x-ratelimit-remaining"], "0");
    assert_eq!(blocked.headers["x-ratelimit-limit"], "5");
    let reset: i64 = blocked.headers["x-ratelimit-reset"].to_str().unwrap().parse().expect("epoch");
    assert!(reset > chrono::Utc::now().timestamp() + 50, "the usage is back to 0 a window after the last use");
    assert_eq!(sim.work_item_ids("App").len(), before, "the blocked create made nothing");
    assert_eq!(
        send(&sim, "GET", "/_apis/projects?api-version=7.1", Some(ALICE), None, None).await.status,
        200,
        "per user"
    );
}

#[tokio::test]
async fn injected_faults_answer_429_with_rate_limit_headers_then_5xx() {
    let sim = sim().await;
    sim.faults().rate_limit_next(1, 7);
    sim.faults().fail_next(1, 503);
    let path = "/_apis/projects?api-version=7.1";
    let r = get(&sim, path).await;
    assert_error_shape(
        &r,
        429,
        "TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource",
    );
    assert_eq!(r.headers["retry-after"], "7");
    for h in ["x-ratelimit-resource", "x-ratelimit-delay", "x-ratelimit-limit", "x-ratelimit-remaining"] {
        assert!(r.headers.contains_key(h), "{h}");
    }
    let reset: i64 = r.headers["x-ratelimit-reset"].to_str().unwrap_or_default().parse().expect("epoch");
    assert!(reset >= chrono::Utc::now().timestamp());
    assert_eq!(get(&sim, path).await.status, 503);
    assert_eq!(get(&sim, path).await.status, 200);
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 503, 200]);
}

#[tokio::test]
async fn delay_fault_slows_every_answer() {
    let sim = sim().await;
    sim.faults().set_delay(Duration::from_millis(300));
    let started = std::time::Instant::now();
    assert_eq!(get(&sim, "/_apis/projects?api-version=7.1").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn responses_have_the_shape_of_microsofts_examples() {
    let sim = sim().await;
    let id = new_bug(&sim, "shape").await;
    patch(&sim, BOT, id, json!([{"op": "add", "path": "/fields/System.History", "value": "hi"}])).await;

    let ours = get(&sim, &format!("/App/_apis/wit/workitems/{id}?api-version=7.1")).await.body;
    let theirs = example("wit/7.1/httpExamples/workItems/GET__wit_WorkItems_id.json");
    assert_same_keys(&ours, &theirs, "work item");
    assert_same_keys(
        &ours["_links"],
        &theirs["_links"]
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.remove("workItemHistory"); // the legacy history resource is not served
                Value::Object(o)
            })
            .unwrap_or_default(),
        "work item _links",
    );
    assert_same_keys(&ours["fields"]["System.CreatedBy"], &theirs["fields"]["System.CreatedBy"], "IdentityRef");

    let created =
        create(&sim, BOT, "Task", json!([{"op": "add", "path": "/fields/System.Title", "value": "Sample task"}]))
            .await
            .body;
    let theirs = example("wit/7.1/httpExamples/workItems/POST__wit_workitems_create.json");
    assert_same_keys(&created, &theirs, "created work item");
    for key in theirs["fields"].as_object().expect("fields").keys() {
        if !key.starts_with("Microsoft.VSTS.Common.StateChangeDate") {
            assert!(created["fields"].get(key).is_some(), "created work item lacks field {key}");
        }
    }

    let ours = wiql(&sim, "", "Select [System.Id], [System.Title], [System.State] From WorkItems Where [System.WorkItemType] = 'Task' AND [State] <> 'Closed' order by [Microsoft.VSTS.Common.Priority] asc, [System.CreatedDate] desc").await.body;
    let theirs = example("wit/7.1/httpExamples/wiql/GET__wit_get_id_workitems.json");
    assert_same_keys(&ours, &theirs, "wiql");
    assert_same_keys(&ours["columns"][0], &theirs["columns"][0], "wiql column");
    assert_same_keys(&ours["sortColumns"][0], &theirs["sortColumns"][0], "wiql sort column");
    assert_same_keys(&ours["workItems"][0], &theirs["workItems"][0], "wiql work item");

    let ours = send(
        &sim,
        "POST",
        "/App/_apis/wit/workitemsbatch?api-version=7.1",
        Some(BOT),
        Some(JSON),
        Some(json!({"ids": [id], "fields": ["System.Id", "System.Title"]})),
    )
    .await
    .body;
    let theirs =
        example("wit/7.1/httpExamples/workItemsBatch/POST__wit_WorkItemsBatch_ids-_ids__fields-_columns_.json");
    assert_same_keys(&ours, &theirs, "batch");
    assert_same_keys(&ours["value"][0], &theirs["value"][0], "batch item");

    let link = json!({"rel": "Hyperlink", "url": "https://site.atlassian.net/browse/APP-1"});
    patch(&sim, BOT, id, json!([{"op": "add", "path": "/relations/-", "value": link}])).await;
    let ours = get(&sim, &format!("/_apis/wit/workitems?ids={id}&$expand=all&api-version=7.1")).await.body;
    let theirs = example("wit/7.1/httpExamples/workItems/GET__wit_WorkItems_ids-_ids___expand-all.json");
    assert_same_keys(&ours, &theirs, "list expand=all");
    assert_same_keys(&ours["value"][0], &theirs["value"][0], "listed work item");
    assert_same_keys(&ours["value"][0]["relations"][0], &theirs["value"][0]["relations"][0], "relation");
    let ours = get(&sim, &format!("/_apis/wit/workitems?ids={id}&api-version=7.1")).await.body;
    let theirs = example("wit/7.1/httpExamples/workItems/GET__wit_WorkItems_ids-_ids_.json");
    // commentVersionRef (7.x, the item has a discussion entry) postdates the 1.0 example.
    let keys =
        |v: &Value| v.as_object().map(|o| o.keys().filter(|k| *k != "commentVersionRef").cloned().collect::<Vec<_>>());
    assert_eq!(keys(&ours["value"][0]), keys(&theirs["value"][0]), "plain list item keys");

    let ours = get(&sim, &format!("/App/_apis/wit/workItems/{id}/updates?api-version=7.1")).await.body;
    let theirs = example("wit/7.1/httpExamples/updates/GET__list_of_workitem_updates.json");
    assert_same_keys(&ours, &theirs, "updates");
    assert_same_keys(&ours["value"][0], &theirs["value"][0], "update");

    let pairs = [
        (
            "/App/_apis/wit/workitemtypes/Bug?api-version=7.1",
            "wit/7.1/httpExamples/workItemTypes/GET__wit_workItemTypes_Bug.json",
            &["xmlForm"][..],
        ),
        (
            "/App/_apis/wit/workitemtypes/Bug/states?api-version=7.1",
            "wit/7.1/httpExamples/workItemTypeStates/GET__workitem_type_states.json",
            &[][..],
        ),
        ("/_apis/projects?api-version=7.1", "core/7.1/httpExamples/projects/GET__projects.json", &[][..]),
        (
            "/_apis/identities?searchFilter=MailAddress&filterValue=alice@acme.test&api-version=7.1",
            "ims/7.1/httpExamples/Identities/SearchIdentityByEmail.json",
            &[][..],
        ),
    ];
    for (path, file, skip) in pairs {
        let ours = get(&sim, path).await.body;
        let mut theirs = example(file);
        if let Some(o) = theirs.as_object_mut() {
            for k in skip {
                o.remove(*k);
            }
        }
        assert_same_keys(&ours, &theirs, file);
        if let (Some(a), Some(b)) = (ours.get("value"), theirs.get("value")) {
            assert_same_keys(&a[0], &b[0], file);
        }
    }
}

#[tokio::test]
async fn seeded_items_keep_their_timestamps_and_wiql_sees_them_by_day() {
    let mut seed = AdoSeed::demo();
    let old = chrono::Utc::now() - chrono::Duration::days(3);
    let mut fields = serde_json::Map::new();
    fields.insert("System.Title".into(), json!("old one"));
    fields.insert("System.AssignedTo".into(), json!("alice@acme.test"));
    seed.work_items = vec![AdoSeedWorkItem {
        project: "App".into(),
        work_item_type: "Bug".into(),
        fields,
        created_by: "bob@acme.test".into(),
        created_at: Some(old),
    }];
    let sim = AdoSim::start(seed).await.expect("starts");
    let fresh = new_bug(&sim, "fresh").await;
    let stored = sim.work_item_json(1).expect("seeded item");
    assert_eq!(stored["fields"]["System.CreatedBy"]["uniqueName"], "bob@acme.test");
    assert_eq!(stored["fields"]["System.AssignedTo"]["uniqueName"], "alice@acme.test");
    let r = wiql(&sim, "", "SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] >= @today - 1").await;
    assert_eq!(ids_of(&r.body), vec![fresh]);
    let r = wiql(&sim, "", "SELECT [System.Id] FROM WorkItems WHERE [System.AssignedTo] = 'alice@acme.test'").await;
    assert_eq!(ids_of(&r.body), vec![1]);

    let bad = AdoSeed {
        work_items: vec![AdoSeedWorkItem {
            project: "Nowhere".into(),
            work_item_type: "Bug".into(),
            fields: serde_json::Map::new(),
            created_by: "bob@acme.test".into(),
            created_at: None,
        }],
        ..AdoSeed::demo()
    };
    assert!(AdoSim::start(bad).await.is_err());
}

#[tokio::test]
async fn relations_are_added_once_edited_and_removed() {
    let sim = sim().await;
    let id = new_bug(&sim, "links").await;
    let link = json!({"rel": "Hyperlink", "url": "https://site.atlassian.net/browse/APP-7"});
    let r = patch(&sim, BOT, id, json!([{"op": "add", "path": "/relations/-", "value": link}])).await;
    assert_eq!(r.body["relations"].as_array().map(Vec::len), Some(1));
    let r = patch(&sim, BOT, id, json!([{"op": "add", "path": "/relations/-", "value": link}])).await;
    assert_error_shape(&r, 400, "already exists");
    let r = patch(
        &sim,
        BOT,
        id,
        json!([{"op": "replace", "path": "/relations/0/attributes/comment", "value": "Jira APP-7"}]),
    )
    .await;
    assert_eq!(r.body["relations"][0]["attributes"]["comment"], "Jira APP-7");
    let r = patch(&sim, BOT, id, json!([{"op": "remove", "path": "/relations/5"}])).await;
    assert_eq!(r.status, 400);
    let r = patch(&sim, BOT, id, json!([{"op": "remove", "path": "/relations/0"}])).await;
    assert!(r.body.get("relations").is_none());
    let u = get(&sim, &format!("/App/_apis/wit/workItems/{id}/updates?api-version=7.1")).await;
    assert_eq!(u.body["value"][1]["relations"]["added"][0]["url"], "https://site.atlassian.net/browse/APP-7");
    assert_eq!(u.body["value"][3]["relations"]["removed"][0]["rel"], "Hyperlink");
}

#[tokio::test]
async fn validate_only_checks_without_saving() {
    let sim = sim().await;
    let id = new_bug(&sim, "keep").await;
    let r = send(
        &sim,
        "PATCH",
        &format!("/App/_apis/wit/workitems/{id}?validateOnly=true&api-version=7.1"),
        Some(BOT),
        Some(PATCH),
        Some(json!([{"op": "add", "path": "/fields/System.Title", "value": "changed"}])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["fields"]["System.Title"], "changed");
    let now = sim.work_item_json(id).expect("exists");
    assert_eq!(now["fields"]["System.Title"], "keep");
    assert_eq!(now["rev"], 1);
    let r = send(
        &sim,
        "PATCH",
        &format!("/App/_apis/wit/workitems/{id}?api-version=7.1"),
        Some(BOT),
        Some(PATCH),
        Some(json!("not a patch")),
    )
    .await;
    assert_error_shape(&r, 400, "valid patch document");
}

#[tokio::test]
async fn comments_are_discussion_entries_and_need_the_preview_flag() {
    let sim = sim().await;
    let id = new_bug(&sim, "talk").await;
    let path = format!("/App/_apis/wit/workItems/{id}/comments");
    let r = send(&sim, "POST", &format!("{path}?api-version=7.1"), Some(ALICE), Some(JSON), Some(json!({"text": "x"})))
        .await;
    assert_error_shape(&r, 400, "-preview");
    let r = send(
        &sim,
        "POST",
        &format!("{path}?api-version=7.1-preview.4"),
        Some(ALICE),
        Some(JSON),
        Some(json!({"text": "<p>first</p>"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["text"], "<p>first</p>");
    assert_eq!(r.body["createdBy"]["uniqueName"], "alice@acme.test");
    let cid = r.body["id"].as_u64().expect("comment id");
    patch(&sim, BOT, id, json!([{"op": "add", "path": "/fields/System.History", "value": "second"}])).await;
    let item = sim.work_item_json(id).expect("exists");
    assert_eq!(item["rev"], 3);
    assert_eq!(item["fields"]["System.ChangedBy"]["uniqueName"], "ferry-bot@acme.test");

    let r = get(&sim, &format!("{path}?api-version=7.1-preview.4&$top=1")).await;
    assert_eq!(r.body["totalCount"], 2);
    assert_eq!(r.body["count"], 1);
    assert_eq!(r.body["comments"][0]["text"], "second");
    let token = r.body["continuationToken"].as_str().expect("more pages").to_string();
    let r = get(&sim, &format!("{path}?api-version=7.1-preview.4&$top=1&continuationToken={token}")).await;
    assert_eq!(r.body["comments"][0]["id"], cid);
    assert!(r.body.get("continuationToken").is_none());
    let r = get(&sim, &format!("{path}/{cid}?api-version=7.1-preview.4")).await;
    assert_eq!(r.body["text"], "<p>first</p>");
    let r = get(&sim, &format!("{path}/999?api-version=7.1-preview.4")).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn captured_traffic_holds_both_bodies_and_marks_injected_faults() {
    let sim = sim().await;
    let port = sim.base_url().rsplit(':').next().unwrap_or_default().replace('/', "_");
    let dir = std::env::temp_dir().join(format!("ferry-ado-capture-{port}"));
    let file = sim.capture_traffic(&dir).expect("capture file");
    let id = new_bug(&sim, "Captured").await;
    sim.faults().fail_next(1, 503);
    assert_eq!(get(&sim, &format!("/App/_apis/wit/workitems/{id}?api-version=7.1")).await.status, 503);
    let lines: Vec<crate::Exchange> = std::fs::read_to_string(&file)
        .expect("written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("exchange"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!((lines[0].method.as_str(), lines[0].status), ("POST", 200));
    assert_eq!(lines[0].query, "api-version=7.1");
    assert_eq!(lines[0].request_content_type.as_deref(), Some(PATCH));
    let sent: Value = serde_json::from_str(lines[0].request_body.as_deref().expect("request body")).expect("json");
    assert_eq!(sent[0]["value"], "Captured");
    let answer: Value = serde_json::from_str(lines[0].response_body.as_deref().expect("response body")).expect("json");
    assert_eq!(answer["id"], id);
    assert_eq!((lines[1].status, lines[1].injected.as_deref()), (503, Some("failure")));
    let _ = std::fs::remove_dir_all(&dir);
}
