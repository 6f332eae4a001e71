//! Behaviour of the Jira simulator over real HTTP, plus JQL table tests.

use super::jql::{compile, SearchCtx};
use super::{JiraSeed, JiraSim};
use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use serde_json::{json, Value};

const BOT: (&str, &str) = ("ferry-bot@acme.test", "jira-bot-token");
const ALICE: (&str, &str) = ("alice@acme.test", "jira-alice-token");
const BOB: (&str, &str) = ("bob@acme.test", "jira-bob-token");

struct Api {
    http: reqwest::Client,
    base: String,
    who: (&'static str, &'static str),
}

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Api {
    fn new(sim: &JiraSim, who: (&'static str, &'static str)) -> Api {
        Api { http: reqwest::Client::new(), base: sim.base_url(), who }
    }
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Resp {
        let mut rb = self
            .http
            .request(method, format!("{}/rest/api/3/{path}", self.base))
            .basic_auth(self.who.0, Some(self.who.1));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("request reaches the simulator");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Resp { status, headers, body }
    }
    async fn get(&self, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
    async fn create(&self, summary: &str) -> String {
        let r = self
            .post(
                "issue",
                json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": summary}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["key"].as_str().expect("key").to_string()
    }
    async fn search(&self, body: Value) -> Resp {
        self.post("search/jql", body).await
    }
}

async fn start() -> JiraSim {
    JiraSim::start(JiraSeed::demo()).await.expect("simulator starts")
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z").expect("Jira timestamp").with_timezone(&Utc)
}

fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

#[tokio::test]
async fn myself_reports_profile_zone_and_unauthenticated_calls_get_401() {
    let sim = start().await;
    let r = Api::new(&sim, BOB).get("myself").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["accountId"], "5b10ac8d82e05b22cc7d0003");
    assert_eq!(r.body["timeZone"], "America/New_York");
    assert_eq!(r.body["accountType"], "atlassian");
    assert_eq!(r.body["emailAddress"], "bob@acme.test");

    let wrong = Api::new(&sim, ("bob@acme.test", "jira-alice-token")).get("myself").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body["errorMessages"][0].as_str().is_some());
    let anon = reqwest::get(format!("{}/rest/api/3/myself", sim.base_url())).await.unwrap();
    assert_eq!(anon.status().as_u16(), 401);

    let log = sim.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].user.as_deref(), Some("bob@acme.test"));
    assert_eq!((log[1].status, log[1].user.clone()), (401, None));
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn created_issue_has_jira_shapes_and_timestamps_in_server_zone() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let r = bot
        .post(
            "issue",
            json!({"fields": {
                "project": {"id": "10000"}, "issuetype": {"id": "10002"}, "summary": "Order flow broken",
                "description": adf("Fails on submit"), "priority": {"name": "High"},
                "assignee": {"accountId": "5b10ac8d82e05b22cc7d0002"}, "labels": ["synced"],
                "customfield_10050": "42", "customfield_10051": {"value": "Major"}, "customfield_10052": 5
            }}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["key"], "APP-1");
    assert_eq!(r.body["id"], "10000");
    assert!(r.body["self"].as_str().unwrap().ends_with("/rest/api/3/issue/10000"));
    assert_eq!(bot.create("second").await, "APP-2");
    assert_eq!(sim.issue_keys("APP"), vec!["APP-1", "APP-2"]);
    assert!(sim.issue_keys("OPS").is_empty());

    let issue = bot.get("issue/APP-1").await.body;
    assert_eq!(Some(issue.clone()), sim.issue_json("APP-1"));
    let f = &issue["fields"];
    assert_eq!(f["status"]["name"], "To Do");
    assert_eq!(f["status"]["statusCategory"]["key"], "new");
    assert_eq!(f["priority"]["id"], "2");
    assert_eq!(f["issuetype"]["name"], "Task");
    assert_eq!(f["project"]["key"], "APP");
    assert_eq!(f["reporter"]["accountId"], "5b10ac8d82e05b22cc7d0001");
    assert_eq!(f["assignee"]["displayName"], "Alice Jones");
    assert_eq!(f["labels"], json!(["synced"]));
    assert_eq!(f["description"], adf("Fails on submit"));
    assert_eq!(f["customfield_10050"], "42");
    assert_eq!(f["customfield_10051"]["value"], "Major");
    assert_eq!(f["customfield_10052"], json!(5.0));
    assert!(f["resolution"].is_null());
    let created = f["created"].as_str().unwrap();
    // Rendered in Europe/Berlin (November: +0100) with milliseconds.
    assert_eq!(created.len(), "2026-11-26T19:24:50.123+0100".len(), "{created}");
    let off = &created[created.len() - 5..];
    assert!(off == "+0100" || off == "+0200", "{created}");

    let second = bot.get("issue/APP-2").await.body;
    assert_eq!(second["fields"]["priority"]["name"], "Medium", "default priority");

    let only = bot.get("issue/10000?fields=summary,status").await.body;
    let keys: Vec<&String> = only["fields"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2);

    let missing = bot.get("issue/APP-99").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body,
        json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}})
    );
}

#[tokio::test]
async fn create_and_edit_validation_errors_use_error_collection() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let cases = [
        (
            json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": "x", "description": "plain"}}),
            "description",
            "Operation value must be an Atlassian Document",
        ),
        (
            json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": "x", "status": {"name": "Done"}}}),
            "status",
            "Field 'status' cannot be set. It is not on the appropriate screen, or unknown.",
        ),
        (
            json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": "x", "customfield_99999": "x"}}),
            "customfield_99999",
            "cannot be set",
        ),
        (
            json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Bug"}}}),
            "summary",
            "You must specify a summary of the issue.",
        ),
        (
            json!({"fields": {"project": {"key": "NOPE"}, "issuetype": {"name": "Bug"}, "summary": "x"}}),
            "project",
            "Specify a valid project ID or key",
        ),
        (
            json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": "x", "priority": {"name": "Urgent"}}}),
            "priority",
            "Priority",
        ),
        (
            json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": "x", "customfield_10051": {"value": "Blocker"}}}),
            "customfield_10051",
            "Option value 'Blocker' is not valid",
        ),
        (
            json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": "x", "labels": ["two words"]}}),
            "labels",
            "contains spaces",
        ),
        (
            json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": "x", "assignee": {"accountId": "nobody"}}}),
            "assignee",
            "cannot be assigned",
        ),
    ];
    for (body, field, msg) in cases {
        let r = bot.post("issue", body).await;
        assert_eq!(r.status, 400, "{field}: {}", r.body);
        assert_eq!(r.body["errorMessages"], json!([]));
        let got = r.body["errors"][field].as_str().unwrap_or_default();
        assert!(got.contains(msg), "{field}: {}", r.body);
    }
    assert!(sim.issue_keys("APP").is_empty(), "nothing was created");

    let key = bot.create("valid").await;
    let both = bot
        .put(&format!("issue/{key}"), json!({"fields": {"labels": ["a"]}, "update": {"labels": [{"add": "b"}]}}))
        .await;
    assert_eq!(both.status, 400);
    assert!(both.body["errors"]["labels"].as_str().is_some());
    let project = bot.put(&format!("issue/{key}"), json!({"fields": {"project": {"key": "OPS"}}})).await;
    assert_eq!(project.status, 400);
    assert!(project.body["errors"]["project"].as_str().is_some());
    let garbage = bot.put(&format!("issue/{key}"), json!(["not", "an", "object"])).await;
    assert_eq!(garbage.status, 400);
}

#[tokio::test]
async fn edits_record_changelog_by_caller_and_bump_updated() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let alice = Api::new(&sim, ALICE);
    let key = bot.create("first").await;
    let before = parse_ts(bot.get(&format!("issue/{key}")).await.body["fields"]["updated"].as_str().unwrap());

    let r = alice
        .put(
            &format!("issue/{key}"),
            json!({"fields": {"summary": "renamed", "customfield_10051": {"id": "10100"}},
                   "update": {"labels": [{"add": "x"}, {"add": "y"}, {"remove": "x"}]}}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let issue = bot.get(&format!("issue/{key}?expand=changelog,names")).await.body;
    let after = parse_ts(issue["fields"]["updated"].as_str().unwrap());
    assert!(after > before);
    assert_eq!(issue["fields"]["labels"], json!(["y"]));
    assert_eq!(issue["names"]["customfield_10051"], "Severity");
    let h = &issue["changelog"]["histories"][0];
    assert_eq!(h["author"]["accountId"], "5b10ac8d82e05b22cc7d0002");
    let items = h["items"].as_array().unwrap();
    let summary = items.iter().find(|i| i["field"] == "summary").unwrap();
    assert_eq!((summary["fromString"].as_str(), summary["toString"].as_str()), (Some("first"), Some("renamed")));
    let sev = items.iter().find(|i| i["fieldId"] == "customfield_10051").unwrap();
    assert_eq!(
        (sev["field"].as_str(), sev["fieldtype"].as_str(), sev["to"].as_str()),
        (Some("Severity"), Some("custom"), Some("10100"))
    );

    // A no-op edit changes nothing; a second edit appends, oldest first on /changelog.
    assert_eq!(bot.put(&format!("issue/{key}"), json!({"fields": {"summary": "renamed"}})).await.status, 204);
    assert_eq!(bot.put(&format!("issue/{key}"), json!({"fields": {"customfield_10052": 3}})).await.status, 204);
    let page1 = bot.get(&format!("issue/{key}/changelog?maxResults=1")).await.body;
    assert_eq!(page1["total"], 2);
    assert_eq!(page1["isLast"], false);
    assert!(page1["nextPage"].as_str().is_some());
    assert_eq!(page1["values"][0]["author"]["accountId"], "5b10ac8d82e05b22cc7d0002");
    let page2 = bot.get(&format!("issue/{key}/changelog?startAt=1&maxResults=1")).await.body;
    assert_eq!(page2["isLast"], true);
    assert_eq!(page2["values"][0]["items"][0]["toString"], "3");
    let newest_first = bot.get(&format!("issue/{key}?expand=changelog")).await.body;
    assert_eq!(newest_first["changelog"]["histories"][0]["id"], page2["values"][0]["id"]);
}

#[tokio::test]
async fn search_defaults_to_ids_and_pages_by_token_without_total() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    for n in 0..5 {
        bot.create(&format!("issue {n}")).await;
    }
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"jql": "project = APP ORDER BY key ASC", "maxResults": 2});
        if let Some(t) = &token {
            body["nextPageToken"] = json!(t);
        }
        let r = bot.search(body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.get("total").is_none());
        pages += 1;
        for i in r.body["issues"].as_array().unwrap() {
            assert_eq!(i.as_object().unwrap().len(), 1, "id only: {i}");
            ids.push(i["id"].as_str().unwrap().to_string());
        }
        match r.body.get("nextPageToken").and_then(Value::as_str) {
            Some(t) => {
                assert_eq!(r.body["isLast"], false);
                token = Some(t.to_string());
            }
            None => {
                assert_eq!(r.body["isLast"], true);
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(ids, vec!["10000", "10001", "10002", "10003", "10004"]);

    let bad = bot.search(json!({"jql": "project = APP", "nextPageToken": "bogus"})).await;
    assert_eq!(bad.status, 400);

    let full = bot
        .search(json!({"jql": "project = APP AND key in (APP-1, APP-3) ORDER BY key DESC",
                        "fields": ["summary", "status"], "expand": "names,changelog"}))
        .await
        .body;
    let issues = full["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 2);
    assert_eq!(issues[0]["key"], "APP-3");
    assert_eq!(issues[0]["fields"].as_object().unwrap().len(), 2);
    assert_eq!(full["names"]["summary"], "Summary");
    assert!(issues[0]["changelog"]["histories"].is_array());

    let get = bot.get("search/jql?jql=project%3DAPP&fields=*all&maxResults=1").await.body;
    assert!(get["issues"][0]["fields"]["customfield_10050"].is_null());
    assert!(get["nextPageToken"].as_str().is_some());

    let unknown = bot.search(json!({"jql": "project = APP", "startAt": 0})).await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.body["errorMessages"][0].as_str().unwrap().contains("startAt"));
}

/// The minute (UTC) `t` falls in, rendered as a JQL literal in zone `tz`.
fn jql_minute(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y/%m/%d %H:%M").to_string()
}

#[tokio::test]
async fn jql_dates_are_read_in_the_searchers_zone_with_minute_precision() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let alice = Api::new(&sim, ALICE);
    let key = bot.create("dated").await;
    let updated = parse_ts(sim.issue_json(&key).unwrap()["fields"]["updated"].as_str().unwrap());
    let floor = updated.with_second(0).unwrap().with_nanosecond(0).unwrap();
    let berlin = chrono_tz::Europe::Berlin;
    let count = |r: Resp| r.body["issues"].as_array().map(Vec::len).unwrap_or(usize::MAX);

    let same_minute = jql_minute(floor, berlin);
    let next_minute = jql_minute(floor + Duration::minutes(1), berlin);
    // The bot's profile is Europe/Berlin: its local literal of the update minute matches.
    let q = |lit: &str| json!({"jql": format!("project = APP AND updated >= \"{lit}\"")});
    assert_eq!(count(bot.search(q(&same_minute)).await), 1);
    assert_eq!(count(bot.search(q(&next_minute)).await), 0);
    // Alice's profile is UTC: the same wall-clock text is an hour later for her.
    assert_eq!(count(alice.search(q(&same_minute)).await), 0);
    assert_eq!(count(alice.search(q(&jql_minute(floor, chrono_tz::UTC))).await), 1);
    // Other literal shapes and relative dates.
    let dashed = floor.with_timezone(&berlin).format("%Y-%m-%d %H:%M").to_string();
    assert_eq!(count(bot.search(q(&dashed)).await), 1);
    let day = floor.with_timezone(&berlin).format("%Y/%m/%d").to_string();
    assert_eq!(count(bot.search(json!({"jql": format!("project = APP AND updated = \"{day}\"")})).await), 1);
    assert_eq!(count(bot.search(json!({"jql": "project = APP AND updated >= -5m"})).await), 1);
    assert_eq!(count(bot.search(json!({"jql": "project = APP AND created < \"-1d\""})).await), 0);

    let bad = bot.search(json!({"jql": "project = APP AND updated >= \"26.11.2026\""})).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["errorMessages"][0].as_str().unwrap().contains("yyyy/MM/dd HH:mm"));
}

#[tokio::test]
async fn jql_rejects_unbounded_and_invalid_queries_with_error_collection() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let cases = [
        ("ORDER BY key DESC", "Unbounded JQL queries are not allowed"),
        ("", "Unbounded JQL queries are not allowed"),
        ("project = APP AND", "Error in the JQL Query: Expecting a field name before the end of the query."),
        ("project APP", "Error in the JQL Query: Expecting operator but got 'APP'."),
        ("(project = APP", "Error in the JQL Query: Expecting ')' before the end of the query."),
        ("foo = bar", "Field 'foo' does not exist or you do not have permission to view it."),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("status = Closed", "The value 'Closed' does not exist for the field 'status'."),
        ("project = APP AND summary = x", "The operator '=' is not supported by the 'summary' field."),
        ("project = APP AND \"ADO ID\" = 101", "The operator '=' is not supported by the 'ADO ID' field."),
        ("project = APP AND assignee = membersOf(x)", "Unable to find JQL function 'membersOf()'."),
        ("project = APP ORDER BY key, id, updated, created, priority, key, id, updated", "at most 7 fields"),
        ("project = APP ORDER BY summary", "Not able to sort using field 'summary'."),
    ];
    for (jql, msg) in cases {
        let r = bot.search(json!({ "jql": jql })).await;
        assert_eq!(r.status, 400, "{jql}: {}", r.body);
        assert_eq!(r.body["errors"], json!({}), "{jql}");
        let got = r.body["errorMessages"][0].as_str().unwrap_or_default();
        assert!(got.contains(msg), "{jql}: {got}");
    }
}

#[tokio::test]
async fn jql_fields_operators_and_ordering_select_the_right_issues() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let mk = |summary: &str, extra: Value| {
        let mut fields = json!({"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": summary});
        if let (Some(f), Some(e)) = (fields.as_object_mut(), extra.as_object()) {
            f.extend(e.clone());
        }
        json!({ "fields": fields })
    };
    let bodies = [
        mk(
            "Login page crashes",
            json!({"labels": ["ui", "synced"], "priority": {"name": "Highest"}, "customfield_10050": "101", "assignee": {"accountId": "5b10ac8d82e05b22cc7d0001"}}),
        ),
        mk(
            "Export is slow",
            json!({"issuetype": {"name": "Task"}, "priority": {"name": "Low"}, "customfield_10051": {"value": "Minor"}, "customfield_10052": 8}),
        ),
        mk("Crash on export", json!({"priority": {"name": "High"}, "description": adf("stack trace attached")})),
    ];
    for b in bodies {
        assert_eq!(bot.post("issue", b).await.status, 201);
    }
    let keys = |jql: &'static str| {
        let bot = &bot;
        async move {
            let r = bot.search(json!({"jql": jql, "fields": ["key"]})).await;
            assert_eq!(r.status, 200, "{jql}: {}", r.body);
            r.body["issues"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["key"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(keys("project = \"APP\" AND issuetype = Bug ORDER BY key ASC").await, ["APP-1", "APP-3"]);
    assert_eq!(keys("project = 10000 AND issuetype = 10002").await, ["APP-2"]);
    assert_eq!(keys("labels = synced").await, ["APP-1"]);
    assert_eq!(keys("project = APP AND labels is EMPTY ORDER BY key").await, ["APP-2", "APP-3"]);
    assert_eq!(keys("summary ~ \"crash\" ORDER BY key").await, ["APP-1", "APP-3"]);
    assert_eq!(keys("text ~ \"stack trace\"").await, ["APP-3"]);
    assert_eq!(keys("\"ADO ID\" ~ 101").await, ["APP-1"]);
    assert_eq!(keys("\"ADO ID\" ~ 10").await, Vec::<String>::new(), "whole tokens, not substrings");
    assert_eq!(keys("\"ADO ID\" ~ \"10*\"").await, ["APP-1"]);
    assert_eq!(keys("project = APP AND cf[10050] is not EMPTY").await, ["APP-1"]);
    assert_eq!(keys("project = APP AND customfield_10050 IS EMPTY ORDER BY key").await, ["APP-2", "APP-3"]);
    assert_eq!(keys("Severity = Minor").await, ["APP-2"]);
    assert_eq!(keys("\"Story Points\" >= 5").await, ["APP-2"]);
    assert_eq!(keys("assignee = currentUser()").await, ["APP-1"]);
    assert_eq!(keys("project = APP AND assignee is EMPTY ORDER BY key").await, ["APP-2", "APP-3"]);
    assert_eq!(keys("project = APP AND NOT (priority = High OR priority = Low)").await, ["APP-1"]);
    assert_eq!(keys("priority in (Highest, Low) ORDER BY key DESC").await, ["APP-2", "APP-1"]);
    assert_eq!(keys("project = APP AND status = \"To Do\" ORDER BY priority DESC").await, ["APP-1", "APP-3", "APP-2"]);
    assert_eq!(keys("project = APP AND key != APP-2 ORDER BY id").await, ["APP-1", "APP-3"]);
    assert_eq!(keys("id in (10000, 10002) ORDER BY created ASC").await, ["APP-1", "APP-3"]);
    assert_eq!(keys("issuekey = app-2").await, ["APP-2"]);
    assert_eq!(keys("project = APP AND resolution = Unresolved ORDER BY key").await.len(), 3);
    assert_eq!(keys("project = OPS").await, Vec::<String>::new());
}

#[tokio::test]
async fn transitions_follow_the_workflow_and_require_resolution_on_done() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let bob = Api::new(&sim, BOB);
    let key = bot.create("workflow").await;
    let path = format!("issue/{key}/transitions");

    let list = bot.get(&path).await.body;
    let ids: Vec<&str> = list["transitions"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["11"]);
    assert_eq!(list["transitions"][0]["to"]["name"], "In Progress");

    // To Do -> Done is two hops: "31" is not available from To Do.
    let direct = bob.post(&path, json!({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Done"}}})).await;
    assert_eq!(direct.status, 400);
    assert_eq!(direct.body["errorMessages"][0], "Transition id '31' is not valid for this issue.");

    assert_eq!(bob.post(&path, json!({"transition": {"id": "11"}})).await.status, 204);
    let screen = bot.get(&format!("{path}?expand=transitions.fields")).await.body;
    let done = screen["transitions"].as_array().unwrap().iter().find(|t| t["id"] == "31").unwrap();
    assert_eq!(done["hasScreen"], true);
    assert_eq!(done["fields"]["resolution"]["required"], true);
    let allowed: Vec<&str> = done["fields"]["resolution"]["allowedValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(allowed, ["Done", "Won't Do"]);

    let no_res = bob.post(&path, json!({"transition": {"id": "31"}})).await;
    assert_eq!(no_res.status, 400);
    assert!(no_res.body["errors"]["resolution"].as_str().is_some(), "{}", no_res.body);
    let off_screen = bob
        .post(&path, json!({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Done"}, "summary": "x"}}))
        .await;
    assert_eq!(off_screen.status, 400);
    assert!(off_screen.body["errors"]["summary"].as_str().unwrap().contains("cannot be set"));

    let ok = bob.post(&path, json!({"transition": {"id": 31}, "fields": {"resolution": {"name": "Won't Do"}}})).await;
    assert_eq!(ok.status, 204, "{}", ok.body);
    let issue = bot.get(&format!("issue/{key}?expand=changelog,transitions")).await.body;
    assert_eq!(issue["fields"]["status"]["name"], "Done");
    assert_eq!(issue["fields"]["status"]["statusCategory"]["key"], "done");
    assert_eq!(issue["fields"]["resolution"]["name"], "Won't Do");
    assert_eq!(issue["transitions"][0]["id"], "61");
    let histories = issue["changelog"]["histories"].as_array().unwrap();
    assert_eq!(histories.len(), 2);
    let last = &histories[0];
    assert_eq!(last["author"]["accountId"], "5b10ac8d82e05b22cc7d0003");
    let status = last["items"].as_array().unwrap().iter().find(|i| i["field"] == "status").unwrap();
    assert_eq!(
        (status["from"].as_str(), status["to"].as_str(), status["toString"].as_str()),
        (Some("3"), Some("10001"), Some("Done"))
    );

    // Reopen clears the resolution.
    assert_eq!(bob.post(&path, json!({"transition": {"id": "61"}})).await.status, 204);
    let reopened = sim.issue_json(&key).unwrap();
    assert_eq!(reopened["fields"]["status"]["name"], "To Do");
    assert!(reopened["fields"]["resolution"].is_null());
    let found = bot.search(json!({"jql": format!("key = {key} AND status = \"To Do\"")})).await.body;
    assert_eq!(found["issues"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn remote_links_upsert_by_global_id() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let key = bot.create("linked").await;
    let path = format!("issue/{key}/remotelink");
    let link = |title: &str| {
        json!({"globalId": "ado:acme/App/workitem/7", "application": {"type": "com.microsoft.azure-devops", "name": "Azure DevOps"},
               "relationship": "synced with", "object": {"url": "http://ado/7", "title": title}})
    };
    let first = bot.post(&path, link("ADO #7")).await;
    assert_eq!(first.status, 201);
    let id = first.body["id"].as_u64().unwrap();
    assert!(first.body["self"].as_str().unwrap().ends_with(&format!("/remotelink/{id}")));
    let again = bot.post(&path, link("ADO #7 renamed")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["id"].as_u64(), Some(id));

    let all = bot.get(&path).await.body;
    assert_eq!(all.as_array().unwrap().len(), 1);
    let one = bot.get(&format!("{path}?globalId=ado%3Aacme%2FApp%2Fworkitem%2F7")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["object"]["title"], "ADO #7 renamed");
    assert_eq!(one.body["relationship"], "synced with");

    let invalid = bot.post(&path, json!({"globalId": "g", "object": {"url": "http://x"}})).await;
    assert_eq!(invalid.status, 400);
    assert!(invalid.body["errors"]["title"].as_str().is_some());
    assert_eq!(bot.post("issue/APP-404/remotelink", link("x")).await.status, 404);
}

#[tokio::test]
async fn user_search_hides_private_email_and_matches_prefixes() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let dave = bot.get("user/search?query=dave%40acme.test").await.body;
    assert_eq!(dave.as_array().unwrap().len(), 1);
    assert_eq!(dave[0]["accountId"], "5b10ac8d82e05b22cc7d0005");
    assert!(dave[0].get("emailAddress").is_none());
    assert!(sim.user("dave@acme.test").unwrap().email_hidden);

    let smith = bot.get("user/search?query=smi").await.body;
    assert_eq!(smith[0]["emailAddress"], "bob@acme.test");
    assert_eq!(bot.get("user/search?query=zzz").await.body, json!([]));
    assert_eq!(bot.get("user/search").await.status, 400);

    let one = bot.get("user?accountId=5b10ac8d82e05b22cc7d0004").await.body;
    assert_eq!(one["displayName"], "Carol White");
    assert_eq!(bot.get("user?accountId=missing").await.status, 404);

    let assignable = bot.get("user/assignable/search?project=APP").await.body;
    assert_eq!(assignable.as_array().unwrap().len(), 6);
    assert_eq!(bot.get("user/assignable/search?project=NOPE").await.status, 404);
}

#[tokio::test]
async fn rate_limit_and_server_error_faults_apply_once_each() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    sim.faults().rate_limit_next(1, 7);
    let limited = bot.get("myself").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers["retry-after"], "7");
    assert_eq!(limited.headers["x-ratelimit-remaining"], "0");
    assert_eq!(limited.headers["ratelimit-reason"], "jira-burst-based");
    assert!(limited.headers.contains_key("x-ratelimit-reset"));
    assert!(limited.body["errorMessages"].is_array());
    sim.faults().fail_next(1, 503);
    assert_eq!(bot.get("myself").await.status, 503);
    assert_eq!(bot.get("myself").await.status, 200);
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 503, 200]);
}

#[tokio::test]
async fn over_the_burst_limit_a_request_is_refused_with_no_effect_and_near_it_answers_say_so() {
    let sim = start().await;
    let (bot, alice) = (Api::new(&sim, BOT), Api::new(&sim, ALICE));
    let limit = crate::JiraRateLimit { per_second: 0.5, burst: 5, users: vec![BOT.0.into()] };
    sim.set_rate_limit(Some(limit));
    let mut near = Vec::new();
    for i in 0..5 {
        let r = bot.post("issue", json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": format!("Bug {i}")}})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        near.push(r.headers.contains_key("x-ratelimit-nearlimit"));
    }
    assert_eq!(near, [false, false, false, false, true], "the last token's answer says the limit is near");
    let refused = bot
        .post("issue", json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": "Over"}}))
        .await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.headers["retry-after"], "2", "a token every 2 s");
    assert_eq!(refused.headers["x-ratelimit-limit"], "5");
    assert_eq!(refused.headers["x-ratelimit-remaining"], "0");
    assert_eq!(refused.headers["ratelimit-reason"], "jira-burst-based");
    assert!(refused.headers["x-ratelimit-reset"].to_str().unwrap().ends_with('Z'));
    let found =
        alice.post("search/jql", json!({"jql": "project = APP", "maxResults": 100, "fields": ["summary"]})).await;
    assert_eq!(found.status, 200, "another user is not limited: {}", found.body);
    let summaries: Vec<&str> =
        found.body["issues"].as_array().unwrap().iter().filter_map(|i| i["fields"]["summary"].as_str()).collect();
    assert!(
        summaries.contains(&"Bug 4") && !summaries.contains(&"Over"),
        "the refused create made nothing: {summaries:?}"
    );
    sim.set_rate_limit(None);
    assert_eq!(bot.get("myself").await.status, 200, "off again");
}

#[tokio::test]
async fn over_the_per_issue_write_limit_a_write_is_refused_with_no_effect_and_other_issues_go_on() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let (hot, cold) = (bot.create("hot").await, bot.create("cold").await);
    let id = bot.get(&format!("issue/{hot}")).await.body["id"].as_str().unwrap().to_string();
    let limit = crate::JiraIssueWriteLimit { writes: 3, window: std::time::Duration::from_secs(30), users: vec![] };
    sim.set_issue_write_limit(Some(limit));
    // An edit, a comment and a transition: three writes of every kind counted.
    assert_eq!(bot.put(&format!("issue/{hot}"), json!({"fields": {"summary": "hot 1"}})).await.status, 204);
    assert_eq!(bot.post(&format!("issue/{hot}/comment"), json!({"body": adf("one")})).await.status, 201);
    assert_eq!(bot.post(&format!("issue/{hot}/transitions"), json!({"transition": {"id": "11"}})).await.status, 204);
    // The fourth, by id rather than key: the same issue.
    let refused = bot.put(&format!("issue/{id}"), json!({"fields": {"summary": "hot 2"}})).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.headers["ratelimit-reason"], "jira-per-issue-on-write");
    let wait: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((29..=30).contains(&wait), "until the first write leaves the window: {wait}");
    assert!(refused.headers["x-ratelimit-reset"].to_str().unwrap().ends_with('Z'));
    let link = json!({"globalId": "x:1", "object": {"url": "https://example.test/1", "title": "x"}});
    assert_eq!(bot.post(&format!("issue/{hot}/remotelink"), link.clone()).await.status, 429, "a remote link too");
    assert_eq!(
        bot.get(&format!("issue/{hot}")).await.body["fields"]["summary"],
        "hot 1",
        "the refused edit did nothing"
    );
    assert_eq!(bot.get(&format!("issue/{hot}/remotelink")).await.body, json!([]), "nor the link");
    assert_eq!(bot.get(&format!("issue/{hot}")).await.status, 200, "reads are not writes");
    for i in 0..4 {
        let r = bot.put(&format!("issue/{cold}"), json!({"fields": {"summary": format!("cold {i}")}})).await;
        assert_eq!(r.status, if i < 3 { 204 } else { 429 }, "another issue has its own count ({i})");
    }
    assert!(!bot.create("a new issue").await.is_empty(), "creating one is not a write to an existing one");
    sim.set_issue_write_limit(None);
    assert_eq!(bot.put(&format!("issue/{hot}"), json!({"fields": {"summary": "hot 3"}})).await.status, 204, "off");
}

#[tokio::test]
async fn over_the_points_quota_every_request_is_refused_until_the_window_ends() {
    let sim = start().await;
    let (bot, alice) = (Api::new(&sim, BOT), Api::new(&sim, ALICE));
    let key = bot.create("quota").await;
    bot.create("another").await;
    // Windows of 3 s aligned to the clock: start at the beginning of one, so that the
    // requests below all fall in it.
    let window = std::time::Duration::from_secs(3);
    let in_window = Utc::now().timestamp_millis() % 3_000;
    tokio::time::sleep(std::time::Duration::from_millis((3_000 - in_window) as u64 + 20)).await;
    sim.set_quota(Some(crate::JiraQuota { points: 30, window, users: vec![BOT.0.into()] }));
    let remaining = |r: &Resp| {
        let v = r.headers["beta-ratelimit"].to_str().unwrap().to_string();
        assert!(v.starts_with("\"tenant-app-quota\";r="), "{v}");
        v.split(';').find_map(|p| p.strip_prefix("r=")).unwrap().parse::<u64>().unwrap()
    };
    // A read costs 1 + 1 for each object it answers, a write 1.
    let read = bot.get(&format!("issue/{key}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.headers["beta-ratelimit-policy"], "\"tenant-app-quota\";q=30;w=3");
    assert_eq!(remaining(&read), 28, "one issue: 2 points");
    let write = bot.put(&format!("issue/{key}"), json!({"fields": {"summary": "q"}})).await;
    assert_eq!((write.status, remaining(&write)), (204, 27), "a write: 1 point");
    let found = bot.post("search/jql", json!({"jql": "project = APP", "fields": ["summary"], "maxResults": 5})).await;
    let hits = found.body["issues"].as_array().unwrap().len() as u64;
    assert!(hits > 1, "{}", found.body);
    assert_eq!(remaining(&found), 27 - (1 + hits), "a search (a POST, but a read): 1 + 1 per issue on the page");
    assert!(!found.headers.contains_key("x-beta-ratelimit-nearlimit"));
    let mut left = 27 - (1 + hits);
    let mut near = false;
    while left > 0 {
        let r = bot.get("myself").await;
        assert_eq!(r.status, 200, "{left} points left");
        left = left.saturating_sub(2);
        assert_eq!(remaining(&r), left, "a user: 2 points");
        near |= r.headers.contains_key("x-beta-ratelimit-nearlimit");
    }
    assert!(near, "answers under 20 % left say so");
    let refused = bot.get("myself").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.headers["ratelimit-reason"], "jira-quota-tenant-based");
    assert_eq!(refused.headers["x-ratelimit-limit"], "30");
    assert!(refused.headers["x-ratelimit-reset"].to_str().unwrap().ends_with('Z'));
    let wait: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3).contains(&wait), "until the window ends: {wait}");
    assert_eq!(remaining(&refused), 0);
    let edit = bot.put(&format!("issue/{key}"), json!({"fields": {"summary": "refused"}})).await;
    assert_eq!(edit.status, 429, "writes too");
    assert_eq!(alice.get("myself").await.status, 200, "only the users counted");
    assert_eq!(bot.get(&format!("issue/{key}")).await.status, 429);
    assert_eq!(alice.get(&format!("issue/{key}")).await.body["fields"]["summary"], "q", "the refused edit did nothing");
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    let next = bot.get("myself").await;
    assert_eq!((next.status, remaining(&next)), (200, 28), "a new window, a full quota");
    sim.set_quota(None);
    assert!(!bot.get("myself").await.headers.contains_key("beta-ratelimit"), "off: no quota headers");
}

#[tokio::test]
async fn search_lag_hides_fresh_updates_unless_reconciled() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let old = bot.create("old").await;
    sim.faults().set_search_lag(std::time::Duration::from_secs(60));
    let fresh = bot.create("fresh").await;
    let fresh_id: u64 = sim.issue_json(&fresh).unwrap()["id"].as_str().unwrap().parse().unwrap();
    let keys = |r: Resp| -> Vec<String> {
        r.body["issues"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap().to_string()).collect()
    };
    // Everything is "fresh" now, the old issue too.
    let lagging = bot.search(json!({"jql": "project = APP ORDER BY key", "fields": ["key"]})).await;
    assert!(keys(lagging).is_empty());
    let reconciled = bot
        .search(json!({"jql": "project = APP ORDER BY key", "fields": ["key"], "reconcileIssues": [fresh_id]}))
        .await;
    assert_eq!(keys(reconciled), std::slice::from_ref(&fresh));
    sim.faults().set_search_lag(std::time::Duration::ZERO);
    let all = bot.search(json!({"jql": "project = APP ORDER BY key", "fields": ["key"]})).await;
    assert_eq!(keys(all), [old, fresh]);
}

#[tokio::test]
async fn metadata_endpoints_describe_fields_projects_and_statuses() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let fields = bot.get("field").await.body;
    let ado = fields.as_array().unwrap().iter().find(|f| f["id"] == "customfield_10050").unwrap();
    assert_eq!(ado["name"], "ADO ID");
    assert_eq!(ado["schema"]["custom"], "com.atlassian.jira.plugin.system.customfieldtypes:textfield");
    assert_eq!(ado["clauseNames"], json!(["cf[10050]", "ADO ID"]));
    let labels = fields.as_array().unwrap().iter().find(|f| f["id"] == "labels").unwrap();
    assert_eq!(labels["schema"], json!({"type": "array", "items": "string", "system": "labels"}));

    let projects = bot.get("project/search").await.body;
    assert_eq!(projects["total"], 2);
    assert_eq!(projects["isLast"], true);
    assert_eq!(projects["values"][1]["key"], "OPS");
    let paged = bot.get("project/search?maxResults=1").await.body;
    assert_eq!(paged["isLast"], false);
    assert!(paged["nextPage"].as_str().is_some());

    let types = bot.get("issue/createmeta/APP/issuetypes").await.body;
    let names: Vec<&str> = types["issueTypes"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["Epic", "Bug", "Task", "Sub-task"]);
    assert_eq!(types["total"], 4);
    let levels: Vec<(bool, i64)> = types["issueTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["subtask"].as_bool().unwrap(), t["hierarchyLevel"].as_i64().unwrap()))
        .collect();
    assert_eq!(levels, [(false, 1), (false, 0), (false, 0), (true, -1)]);
    let meta = bot.get("issue/createmeta/APP/issuetypes/10001").await.body;
    let field = |id: &str| meta["fields"].as_array().unwrap().iter().find(|f| f["fieldId"] == id).cloned().unwrap();
    assert_eq!(field("summary")["required"], true);
    assert_eq!(field("priority")["allowedValues"].as_array().unwrap().len(), 5);
    assert_eq!(field("priority")["defaultValue"]["name"], "Medium");
    assert_eq!(field("resolution")["allowedValues"][1]["name"], "Won't Do");
    assert_eq!(field("customfield_10051")["allowedValues"][0]["value"], "Critical");
    assert_eq!(bot.get("issue/createmeta/NOPE/issuetypes").await.status, 404);

    let statuses = bot.get("project/APP/statuses").await.body;
    assert_eq!(statuses[0]["statuses"].as_array().unwrap().len(), 4);
    let prio = bot.get("priority/3").await.body;
    assert_eq!((prio["name"].as_str(), prio["isDefault"].as_bool()), (Some("Medium"), Some(true)));
    assert_eq!(bot.get("priority/9").await.status, 404);
    let unknown = bot.get("nothing/here").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body["errorMessages"].is_array());
}

#[test]
fn jql_dates_in_berlin_are_read_as_local_minutes() {
    let seed = JiraSeed::demo();
    let ctx = SearchCtx {
        seed: &seed,
        user_id: "5b10ac8d82e05b22cc7d0001",
        user_tz: chrono_tz::Europe::Berlin,
        now: Utc::now(),
        keys: &[],
    };
    let q = compile("project = APP AND updated >= \"2026/11/26 20:15\"", &ctx).expect("valid");
    let text = format!("{:?}", q.cond);
    let expected = Utc.with_ymd_and_hms(2026, 11, 26, 19, 15, 0).unwrap();
    assert!(text.contains(&format!("{expected:?}")), "{text}");
}

#[tokio::test]
async fn assignee_endpoint_field_exclusions_and_delay_behave_like_jira() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let key = bot.create("assign me").await;
    let r = bot.put(&format!("issue/{key}/assignee"), json!({"accountId": "5b10ac8d82e05b22cc7d0003"})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(sim.issue_json(&key).unwrap()["fields"]["assignee"]["displayName"], "Bob Smith");
    assert_eq!(bot.put(&format!("issue/{key}/assignee"), json!({"accountId": null})).await.status, 204);
    assert!(sim.issue_json(&key).unwrap()["fields"]["assignee"].is_null());
    let bad = bot.put(&format!("issue/{key}/assignee"), json!({"accountId": "ghost"})).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["errors"]["assignee"].as_str().is_some());
    let history = bot.get(&format!("issue/{key}/changelog")).await.body;
    assert_eq!(history["total"], 2);

    let without = bot.get(&format!("issue/{key}?fields=-description,-labels")).await.body;
    let fields = without["fields"].as_object().unwrap();
    assert!(fields.contains_key("summary") && !fields.contains_key("description") && !fields.contains_key("labels"));

    let zero = bot.search(json!({"jql": "project = APP", "maxResults": 0})).await.body;
    assert_eq!(zero["issues"].as_array().unwrap().len(), 1);

    sim.faults().set_delay(std::time::Duration::from_millis(150));
    let t0 = std::time::Instant::now();
    assert_eq!(bot.get("myself").await.status, 200);
    assert!(t0.elapsed() >= std::time::Duration::from_millis(150));
}

#[tokio::test]
async fn bulk_changelog_count_and_editmeta_serve_sync_helpers() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let a = bot.create("a").await;
    let b = bot.create("b").await;
    for (key, n) in [(&a, 1), (&b, 2), (&a, 3)] {
        let r = bot
            .put(&format!("issue/{key}"), json!({"fields": {"summary": format!("s{n}"), "labels": [format!("l{n}")]}}))
            .await;
        assert_eq!(r.status, 204);
    }
    let all = bot.post("changelog/bulkfetch", json!({"issueIdsOrKeys": [b.clone(), a.clone()]})).await.body;
    let logs = all["issueChangeLogs"].as_array().unwrap();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0]["issueId"], "10000");
    assert_eq!(logs[0]["changeHistories"].as_array().unwrap().len(), 2);
    assert!(all.get("nextPageToken").is_none());

    let labels_only = bot
        .post("changelog/bulkfetch", json!({"issueIdsOrKeys": [a.clone()], "fieldIds": ["labels"], "maxResults": 1}))
        .await
        .body;
    let items = &labels_only["issueChangeLogs"][0]["changeHistories"][0]["items"];
    assert_eq!(items.as_array().unwrap().len(), 1);
    assert_eq!(items[0]["fieldId"], "labels");
    let token = labels_only["nextPageToken"].as_str().unwrap().to_string();
    let next = bot
        .post(
            "changelog/bulkfetch",
            json!({"issueIdsOrKeys": [a.clone()], "fieldIds": ["labels"], "maxResults": 1, "nextPageToken": token}),
        )
        .await
        .body;
    assert_eq!(next["issueChangeLogs"][0]["changeHistories"][0]["items"][0]["toString"], "l3");
    assert_eq!(bot.post("changelog/bulkfetch", json!({"issueIdsOrKeys": []})).await.status, 400);

    let count = bot.post("search/approximate-count", json!({"jql": "project = APP"})).await.body;
    assert_eq!(count, json!({"count": 2}));
    assert_eq!(bot.post("search/approximate-count", json!({"jql": "order by key"})).await.status, 400);

    let meta = bot.get(&format!("issue/{a}/editmeta")).await.body;
    assert!(meta["fields"]["summary"]["required"].as_bool().unwrap());
    assert!(meta["fields"].get("project").is_none());
    assert_eq!(meta["fields"]["labels"]["operations"], json!(["add", "set", "remove"]));
}

#[test]
fn jql_garbage_is_rejected_without_panicking() {
    let seed = JiraSeed::demo();
    let keys = [("APP-1".to_string(), 10000u64)];
    let ctx = SearchCtx {
        seed: &seed,
        user_id: "5b10ac8d82e05b22cc7d0001",
        user_tz: chrono_tz::Europe::Berlin,
        now: Utc::now(),
        keys: &keys,
    };
    let garbage = [
        "\"",
        "'abc",
        "cf[",
        "cf[12",
        "(((",
        ")",
        ",",
        "!",
        "project in ()",
        "project in (APP,",
        "project = APP order",
        "project = APP ORDER BY",
        "project = APP ORDER BY key,",
        "updated >= \"\"",
        "updated > \"-\"",
        "updated > \"-99999999999999w\"",
        "updated > \"262143/12/31\"",
        "updated = \"+9999999999d\"",
        "\"ADO ID\" ~ \"\"",
        "\"ADO ID\" ~ \"*\"",
        "é = ü",
        "project = APP AND NOT",
        "key = ",
        "key in (APP-1, ",
        "key = -",
        "Story Points > abc",
        "\"Story Points\" > abc",
        "project is APP",
        "assignee = currentUser(",
        "updated >= now() AND",
        "AND",
        "OR project = APP",
        "project = APP)",
        "project = APP (",
        "status in (\"To Do\" \"Done\")",
        "labels = [x]",
    ];
    for jql in garbage {
        let r = compile(jql, &ctx);
        assert!(r.is_err(), "{jql} should be rejected, got {r:?}");
    }
    for ok in ["updated >= \"-1w 2d\"", "updated = now()", "key in (APP-1, 10000)", "issuetype in (Bug, \"Task\")"] {
        assert!(compile(ok, &ctx).is_ok(), "{ok}");
    }
}

#[tokio::test]
async fn search_pages_continue_after_the_last_issue_when_order_changes_between_pages() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    for n in 1..=4 {
        bot.create(&format!("issue {n}")).await;
    }
    let jql = "project = APP ORDER BY updated ASC, key ASC";
    let keys = |r: &Resp| -> Vec<String> {
        r.body["issues"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap().to_string()).collect()
    };
    let first = bot.search(json!({"jql": jql, "fields": ["key"], "maxResults": 2})).await;
    assert_eq!(keys(&first), ["APP-1", "APP-2"]);
    // APP-1 moves to the end of the order; APP-3 must not be skipped.
    assert_eq!(bot.put("issue/APP-1", json!({"fields": {"summary": "touched"}})).await.status, 204);
    let token = first.body["nextPageToken"].as_str().unwrap();
    let second = bot.search(json!({"jql": jql, "fields": ["key"], "maxResults": 2, "nextPageToken": token})).await;
    assert_eq!(keys(&second), ["APP-3", "APP-4"]);
    let token = second.body["nextPageToken"].as_str().unwrap();
    let third = bot.search(json!({"jql": jql, "fields": ["key"], "maxResults": 2, "nextPageToken": token})).await;
    assert_eq!(keys(&third), ["APP-1"]);
    assert_eq!(third.body["isLast"], true);
    let other_query = bot.search(json!({"jql": "project = APP", "nextPageToken": token})).await;
    assert_eq!(other_query.status, 400, "a token belongs to its query");
}

#[tokio::test]
async fn captured_traffic_holds_both_bodies_and_marks_injected_faults() {
    let sim = start().await;
    let dir = std::env::temp_dir().join(format!("ferry-jira-capture-{}", sim.base_url().rsplit(':').next().unwrap()));
    let file = sim.capture_traffic(&dir).expect("capture file");
    let key = Api::new(&sim, BOT).create("Captured").await;
    sim.faults().rate_limit_next(1, 1);
    assert_eq!(Api::new(&sim, BOT).get(&format!("issue/{key}")).await.status, 429);
    let lines: Vec<crate::Exchange> = std::fs::read_to_string(&file)
        .expect("written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("exchange"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!((lines[0].method.as_str(), lines[0].path.as_str(), lines[0].status), ("POST", "/rest/api/3/issue", 201));
    assert_eq!(lines[0].request_content_type.as_deref(), Some("application/json"));
    let sent: Value = serde_json::from_str(lines[0].request_body.as_deref().expect("request body")).expect("json");
    assert_eq!(sent["fields"]["summary"], "Captured");
    let answer: Value = serde_json::from_str(lines[0].response_body.as_deref().expect("response body")).expect("json");
    assert_eq!(answer["key"], key.as_str());
    assert_eq!(lines[0].injected, None);
    assert_eq!(lines[0].auth_scheme.as_deref(), Some("Basic"), "the scheme only, not the token");
    let raw = std::fs::read_to_string(&file).expect("written");
    assert!(!raw.contains("ZmVycnktYm90QGFjbWUudGVzdDpqaXJhLWJvdC10b2tlbg") && !raw.contains("jira-bot-token"));
    assert_eq!((lines[1].status, lines[1].injected.as_deref()), (429, Some("rate_limited")));
    assert_eq!(sim.requests().len(), 2, "the in-memory request log still holds both requests");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn history_lists_the_creation_and_each_edit_with_its_author() {
    let sim = start().await;
    let alice = Api::new(&sim, ALICE);
    let key = alice.create("history").await;
    let r = Api::new(&sim, BOT).put(&format!("issue/{key}"), json!({"fields": {"summary": "edited"}})).await;
    assert_eq!(r.status, 204);
    let h = sim.history(&key).expect("issue exists");
    assert_eq!(h.len(), 2);
    assert!(h[0].created);
    assert_eq!(h[0].author, "alice@acme.test");
    assert_eq!(h[1].author, "ferry-bot@acme.test");
    assert_eq!(h[1].fields, vec!["summary".to_string()]);
    assert!(h[1].at >= h[0].at);
    assert!(sim.history("APP-999").is_none());
}

#[tokio::test]
async fn a_hanging_request_times_the_client_out_and_changes_nothing() {
    let sim = start().await;
    let key = Api::new(&sim, ALICE).create("before").await;
    sim.faults().hang_next(1, std::time::Duration::from_millis(300));
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_millis(100)).build().expect("client");
    let r = client
        .put(format!("{}/rest/api/3/issue/{key}", sim.base_url()))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .json(&json!({"fields": {"summary": "after"}}))
        .send()
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let issue = sim.issue_json(&key).expect("exists");
    assert_eq!(issue["fields"]["summary"], "before");
}

#[tokio::test]
async fn jql_parse_answers_each_query_with_its_errors() {
    let sim = JiraSim::start(JiraSeed::demo()).await.unwrap();
    let bot = Api::new(&sim, BOT);
    let queries = json!({"queries": [
        "project = APP AND (labels = sync)",
        "project = APP AND (labels = sync) OR (project = OPS",
        "project = NOPE",
        "order by key",
    ]});
    let r = bot.post("jql/parse?validation=strict", queries.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let parsed = r.body["queries"].as_array().expect("queries").clone();
    assert_eq!(parsed.len(), 4);
    assert_eq!(parsed[0]["query"], "project = APP AND (labels = sync)");
    assert!(parsed[0].get("errors").is_none(), "{}", parsed[0]);
    let unbalanced = parsed[1]["errors"][0].as_str().expect("a syntax error");
    assert!(unbalanced.starts_with("Error in the JQL Query"), "{unbalanced}");
    assert!(parsed[2]["errors"][0].as_str().is_some_and(|e| e.contains("NOPE")), "{}", parsed[2]);
    assert!(parsed[3].get("errors").is_none(), "an order-only query is valid JQL: {}", parsed[3]);
    // `none` keeps only syntax errors.
    let r = bot.post("jql/parse?validation=none", queries).await;
    let parsed = r.body["queries"].as_array().expect("queries").clone();
    assert!(parsed[1]["errors"].is_array() && parsed[2].get("errors").is_none(), "{}", r.body);
    assert_eq!(bot.post("jql/parse?validation=loose", json!({"queries": ["x = 1"]})).await.status, 400);
    assert_eq!(bot.post("jql/parse", json!({"queries": []})).await.status, 400);
    assert_eq!(bot.post("jql/parse", json!({"queries": ["a = b"], "extra": 1})).await.status, 400);
}

#[tokio::test]
async fn bulk_fetch_answers_each_issue_as_get_issue_does_in_id_order_leaving_out_unknown_ones() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let alice = Api::new(&sim, ALICE);
    let (a, b) = (bot.create("first").await, bot.create("second").await);
    assert_eq!(alice.put(&format!("issue/{a}"), json!({"fields": {"summary": "renamed"}})).await.status, 204);
    let b_id = bot.get(&format!("issue/{b}")).await.body["id"].as_str().unwrap().to_string();

    // Keys and ids mixed, newest first, an unknown key and id, and a repeat.
    let r = bot
        .post(
            "issue/bulkfetch",
            json!({"issueIdsOrKeys": [b_id, "APP-999", a.to_lowercase(), "99999", b],
                   "fields": ["summary", "updated"], "expand": ["changelog"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["issueErrors"], json!([]));
    let issues = r.body["issues"].as_array().unwrap();
    let keys: Vec<&str> = issues.iter().map(|i| i["key"].as_str().unwrap()).collect();
    assert_eq!(keys, [a.as_str(), b.as_str()], "ascending id order, each once, unknown ones left out");
    for (issue, key) in issues.iter().zip([&a, &b]) {
        let single = bot.get(&format!("issue/{key}?fields=summary,updated&expand=changelog")).await.body;
        assert_eq!(issue, &single, "{key} as GET issue answers it");
    }
    assert_eq!(issues[0]["changelog"]["histories"][0]["items"][0]["toString"], "renamed");

    // Without `fields`: the navigable fields; without `expand`: no changelog.
    let r = bot.post("issue/bulkfetch", json!({"issueIdsOrKeys": [a]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["issues"][0]["fields"]["summary"], "renamed");
    assert!(r.body["issues"][0].get("changelog").is_none());

    // Nothing found is an empty answer, not an error.
    let r = bot.post("issue/bulkfetch", json!({"issueIdsOrKeys": ["APP-999"]})).await;
    assert_eq!((r.status, r.body["issues"].clone()), (200, json!([])));
}

#[tokio::test]
async fn bulk_fetch_refuses_an_empty_or_oversized_list_and_a_malformed_body() {
    let sim = start().await;
    let bot = Api::new(&sim, BOT);
    let ids: Vec<String> = (1..=101).map(|n| format!("APP-{n}")).collect();
    let cases = [
        (json!({"issueIdsOrKeys": []}), "Between 1 and 100"),
        (json!({}), "Between 1 and 100"),
        (json!({"issueIdsOrKeys": ids}), "Between 1 and 100"),
        (json!({"issueIdsOrKeys": ["APP-1"], "expand": "changelog"}), "'expand'"),
        (json!({"issueIdsOrKeys": [1]}), "'issueIdsOrKeys'"),
        (json!({"issueIdsOrKeys": ["APP-1"], "jql": "x"}), "Unrecognized field \"jql\""),
    ];
    for (body, says) in cases {
        let r = bot.post("issue/bulkfetch", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let said = r.body["errorMessages"][0].as_str().unwrap_or_default();
        assert!(said.contains(says), "{body}: {}", r.body);
    }
}
