//! Canned-JSON tests: pure conversions, and the connector against a tiny loopback
//! server that answers recorded Redmine 5 payloads.

use super::wire::*;
use super::*;
use chrono::Duration as ChronoDuration;
use ferry_domain::ports::QueryFilter;
use ferry_domain::FieldValue;
use ferry_domain::SeenRevision;
use ferry_domain::{SecretRef, SystemId};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn issue(json: Value) -> Issue {
    serde_json::from_value(json).expect("canned issue")
}

fn canned_issue(id: u64, updated: &str, journals: Value) -> Value {
    json!({
        "id": id, "project": {"id": 1, "name": "App"}, "tracker": {"id": 1, "name": "Bug"},
        "status": {"id": 2, "name": "In Progress", "is_closed": false}, "priority": {"id": 3, "name": "High"},
        "author": {"id": 5, "name": "Alice Archer"}, "assigned_to": {"id": 7, "name": "Carol Carter"},
        "subject": format!("Issue {id}"), "description": "line one\r\nline two", "start_date": "2026-11-26",
        "due_date": null, "done_ratio": 30, "estimated_hours": 2.5,
        "custom_fields": [{"id": 1, "name": "External ID", "value": "APP-7"},
                          {"id": 2, "name": "Tags", "multiple": true, "value": ["a", "b"]}],
        "created_on": "2026-11-26T10:00:00Z", "updated_on": updated, "journals": journals
    })
}

#[test]
fn revision_and_changed_by_come_from_the_newest_journal_else_the_author() {
    let cases = [
        (json!([]), "2026-11-26T10:00:00Z", "5"),
        (
            json!([{"id": 3, "user": {"id": 8, "name": "Ferry Bot"}, "notes": ""},
                   {"id": 9, "user": {"id": 6, "name": "Bob Baker"}, "notes": "hi"}]),
            "2026-11-26T10:00:00Z#9",
            "6",
        ),
    ];
    for (journals, rev, by) in cases {
        let i = issue(canned_issue(4, "2026-11-26T10:00:00Z", journals));
        assert_eq!(revision(&i), rev);
        assert_eq!(changed_by(&i).map(|u| u.id.to_string()).as_deref(), Some(by));
    }
}

#[test]
fn core_and_custom_values_read_as_ferry_values() {
    let i = issue(canned_issue(4, "2026-11-26T10:00:00Z", json!([])));
    let table = [
        ("subject", FieldValue::Text("Issue 4".into())),
        ("description", FieldValue::Text("line one\nline two".into())),
        ("status", FieldValue::Option("In Progress".into())),
        ("priority", FieldValue::Option("High".into())),
        ("tracker", FieldValue::Option("Bug".into())),
        ("start_date", FieldValue::DateTime(parse_date("2026-11-26").expect("date"))),
        ("due_date", FieldValue::Null),
        ("done_ratio", FieldValue::Number(30.0)),
        ("estimated_hours", FieldValue::Number(2.5)),
    ];
    for (key, want) in table {
        assert_eq!(core_value(&i, key), Some(want), "{key}");
    }
    assert!(matches!(core_value(&i, "assigned_to"), Some(FieldValue::User(u)) if u.id == "7"));
    assert_eq!(core_value(&i, "cf_1"), None, "custom fields are not core");
    assert_eq!(custom_value(&i.custom_fields[0]), FieldValue::Text("APP-7".into()));
    assert_eq!(custom_value(&i.custom_fields[1]), FieldValue::List(vec!["a".into(), "b".into()]));
}

#[test]
fn rich_text_becomes_plain_text_with_line_breaks() {
    let table = [
        ("<p>Pay as a <strong>guest</strong></p>", "Pay as a guest"),
        ("<p>one</p><p>two</p>", "one\ntwo"),
        ("<ul><li>Chrome</li><li>Firefox</li></ul>", "Chrome\nFirefox"),
        ("<p>a<br>b</p>", "a\nb"),
        ("<p>1 &lt; 2 &amp; 3</p>", "1 < 2 & 3"),
        ("<p>caf&eacute;\n  au&nbsp;lait</p>", "café au\u{a0}lait"),
        ("<table><tr><td>Chrome</td><td>500</td></tr></table>", "Chrome\t500"),
    ];
    for (html, want) in table {
        assert_eq!(html_to_text(html), want, "{html}");
    }
}

#[test]
fn redmine_error_lists_become_one_message() {
    let table: [(&[u8], Option<&str>); 4] = [
        (
            br#"{"errors":["Subject cannot be blank","Priority cannot be blank"]}"#,
            Some("Subject cannot be blank; Priority cannot be blank"),
        ),
        (br#"{"errors":[["status_id","is invalid"]]}"#, Some("status_id is invalid")),
        (b"<html>oops</html>", None),
        (br#"{"errors":[]}"#, None),
    ];
    for (body, want) in table {
        assert_eq!(error_text(body).as_deref(), want);
    }
}

#[test]
fn filters_are_query_pairs_and_reserved_keys_are_refused() {
    assert_eq!(
        filter_pairs("priority_id=4&cf_5=x%20y").expect("valid"),
        vec![("priority_id".into(), "4".into()), ("cf_5".into(), "x y".into())]
    );
    for bad in ["project_id=2", "priority_id=4&sort=id", "", "  ", "bad key=1", "subproject_id=*"] {
        let e = filter_pairs(bad).expect_err(bad);
        assert_eq!(e.category, ErrorCategory::Config, "{bad}");
    }
}

#[test]
fn look_ups_match_names_case_insensitively_or_ids_and_name_the_known_values() {
    let list = vec![IdName { id: 1, name: "Low".into() }, IdName { id: 3, name: "High".into() }];
    assert_eq!(lookup_id(&list, "priority", &FieldValue::Option("high".into())).expect("by name"), 3);
    assert_eq!(lookup_id(&list, "priority", &FieldValue::Number(1.0)).expect("by id"), 1);
    let e = lookup_id(&list, "priority", &FieldValue::Option("Urgent".into())).expect_err("unknown");
    assert_eq!(e.category, ErrorCategory::InvalidRequest);
    assert!(e.message.contains("Urgent") && e.message.contains("Low, High"), "{}", e.message);
}

#[test]
fn writes_coerce_dates_numbers_and_lists() {
    let d = parse_time("2026-01-02T15:00:00Z").expect("time");
    assert_eq!(date_of("due_date", &FieldValue::DateTime(d)).expect("date"), json!("2026-01-02"));
    assert_eq!(date_of("due_date", &FieldValue::Text("2026-03-04".into())).expect("text"), json!("2026-03-04"));
    assert!(date_of("due_date", &FieldValue::Text("soon".into())).is_err());
    assert_eq!(number_of("done_ratio", &FieldValue::Number(49.6)).expect("ratio"), json!(50));
    assert!(number_of("done_ratio", &FieldValue::Number(120.0)).is_err());
    assert_eq!(number_of("estimated_hours", &FieldValue::Text("1.5".into())).expect("hours"), json!(1.5));
    assert_eq!(custom_write_value(&FieldValue::List(vec!["a".into()])), json!(["a"]));
    assert_eq!(custom_write_value(&FieldValue::RichText("<p>x</p>".into())), json!("x"));
    assert_eq!(custom_write_value(&FieldValue::Null), json!(""));
}

// ---- the connector against canned HTTP answers ----

/// A request the fake server saw: method, path with query, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;
type Route = Box<dyn Fn(&str, &str) -> Option<(u16, String)> + Send + Sync>;

async fn serve(route: Route) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let route = Arc::new(route);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let log = log.clone();
            let route = route.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then the body by Content-Length.
                let (head, body) = loop {
                    let Ok(n) = sock.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..p]).to_string();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        while buf.len() < p + 4 + len {
                            let Ok(n) = sock.read(&mut chunk).await else { return };
                            if n == 0 {
                                break;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        break (head, String::from_utf8_lossy(&buf[p + 4..]).to_string());
                    }
                };
                let mut parts = head.lines().next().unwrap_or("").split(' ');
                let method = parts.next().unwrap_or("").to_string();
                let target = parts.next().unwrap_or("").to_string();
                let authed = head.to_ascii_lowercase().contains("x-redmine-api-key: test-key");
                if let Ok(mut l) = log.lock() {
                    l.push((method.clone(), target.clone(), body));
                }
                let (status, text) = if authed {
                    route(&method, &target).unwrap_or((404, r#"{"errors":["not found"]}"#.into()))
                } else {
                    (401, String::new())
                };
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

fn connector(url: &str) -> RedmineConnector {
    let cfg = SystemConfig {
        id: SystemId::parse("rm").expect("id"),
        kind: SystemKind::Redmine,
        base_url: url.into(),
        identity_url: None,
        auth: AuthConfig::ApiKey { token: SecretRef::Env("K".into()) },
        integration_user: None,
        proxy: None,
        ca_cert: None,
        allow_http_loopback: true,
        webhook: None,
        rate_limit: None,
    };
    let opts = HttpOptions { max_attempts: 1, ..HttpOptions::default() };
    RedmineConnector::new(&cfg, SecretString::from("test-key"), opts).expect("connector")
}

fn scope() -> Scope {
    Scope { project: "app".into(), entity_type: "Bug".into() }
}

fn common(method: &str, target: &str) -> Option<(u16, String)> {
    let path = target.split('?').next().unwrap_or("");
    let body = match (method, path) {
        ("GET", "/projects/app.json") => json!({"project": {"id": 1, "identifier": "app", "name": "App",
            "trackers": [{"id": 1, "name": "Bug"}, {"id": 4, "name": "Task"}]}}),
        ("GET", "/issue_statuses.json") => {
            json!({"issue_statuses": [{"id": 1, "name": "New"}, {"id": 2, "name": "In Progress"}]})
        }
        ("GET", "/enumerations/issue_priorities.json") => {
            json!({"issue_priorities": [{"id": 2, "name": "Normal"}, {"id": 3, "name": "High"}]})
        }
        ("GET", "/users/7.json") => json!({"user": {"id": 7, "login": "carol", "mail": "carol@acme.test"}}),
        ("GET", "/users/5.json") => json!({"user": {"id": 5, "login": "alice", "mail": "alice@acme.test"}}),
        ("GET", "/users/6.json") => json!({"user": {"id": 6, "login": "bob", "mail": "bob@acme.test"}}),
        ("GET", "/custom_fields.json") => json!({"custom_fields": [{"id": 1, "name": "External ID",
            "customized_type": "issue", "field_format": "string", "trackers": [{"id": 1, "name": "Bug"}]}]}),
        _ => return None,
    };
    Some((200, body.to_string()))
}

/// The listing of a server whose issues 1..=`n` were all updated at `at`: it honours
/// `updated_on` (`>=S`, `><A|B` as `[A, B)`), `issue_id=>=N` and `limit`.
fn one_second_listing(target: &str, n: u64, at: &str) -> Option<(u16, String)> {
    let q: HashMap<String, String> =
        url::form_urlencoded::parse(target.split_once('?')?.1.as_bytes()).into_owned().collect();
    let limit: usize = q.get("limit")?.parse().ok()?;
    let t = parse_time(at)?;
    let updated = q.get("updated_on")?;
    let in_range = match updated.strip_prefix("><") {
        Some(range) => {
            let (a, b) = range.split_once('|')?;
            parse_time(a)? <= t && t < parse_time(b)?
        }
        None => parse_time(updated.strip_prefix(">=")?)? <= t,
    };
    let first: u64 = q.get("issue_id").and_then(|v| v.strip_prefix(">=")).and_then(|v| v.parse().ok()).unwrap_or(1);
    let ids: Vec<u64> = if in_range { (first..=n).take(limit).collect() } else { vec![] };
    let issues: Vec<Value> = ids.iter().map(|i| json!({"id": i, "subject": "s", "updated_on": at})).collect();
    Some((200, json!({"issues": issues, "total_count": ids.len()}).to_string()))
}

#[tokio::test]
async fn a_read_of_changes_lists_a_second_fuller_than_a_page_by_id_and_widens_the_bound() {
    let (url, seen) = serve(Box::new(|m, t| {
        if let Some(r) = common(m, t) {
            return Some(r);
        }
        let path = t.split('?').next().unwrap_or("");
        if path == "/issues.json" {
            return one_second_listing(t, 101, "2026-11-26T10:00:00Z");
        }
        let id: u64 = path.strip_prefix("/issues/")?.strip_suffix(".json")?.parse().ok()?;
        Some((200, json!({"issue": canned_issue(id, "2026-11-26T10:00:00Z", json!([]))}).to_string()))
    }))
    .await;
    let c = connector(&url);
    let since = parse_time("2026-11-26T10:00:05.750Z").expect("since");
    // With the bound at 10:00:04 nothing is listed; from 09:59:59 all 101 are.
    assert!(c.changed_since(&scope(), since, None, &[]).await.expect("pull").is_empty());
    let lists = |seen: &Seen| -> Vec<String> {
        seen.lock().expect("log").iter().filter(|r| r.1.starts_with("/issues.json")).map(|r| r.1.clone()).collect()
    };
    assert!(lists(&seen)[0].contains("updated_on=%3E%3D2026-11-26T10%3A00%3A04Z"), "bound widened to 10:00:04");
    seen.lock().expect("log").clear();
    let since = parse_time("2026-11-26T10:00:00.250Z").expect("since");
    let snaps = c
        .changed_since(&scope(), since, None, &[FieldKey::new("subject"), FieldKey::new("External ID")])
        .await
        .expect("pull");
    assert_eq!(snaps.len(), 101);
    assert_eq!(snaps[0].key, "1");
    assert_eq!(snaps[0].fields.get(&FieldKey::new("External ID")), Some(&FieldValue::Text("APP-7".into())));
    assert_eq!(snaps[0].changed_by.as_ref().and_then(|u| u.email.as_deref()), Some("alice@acme.test"));
    let lists = lists(&seen);
    // The first page is all one second: that second is listed by id, 100 and then 1,
    // then the read goes on after it and finds nothing more.
    assert_eq!(lists.len(), 4, "{lists:?}");
    assert!(lists[0].contains("updated_on=%3E%3D2026-11-26T09%3A59%3A59Z"), "{}", lists[0]);
    assert!(lists[0].contains("sort=updated_on%3Aasc%2Cid%3Aasc"), "{}", lists[0]);
    assert!(lists[1].contains("updated_on=%3E%3C2026-11-26T10%3A00%3A00Z%7C2026-11-26T10%3A00%3A01Z"), "{}", lists[1]);
    assert!(lists[1].contains("sort=id%3Aasc") && !lists[1].contains("issue_id"), "{}", lists[1]);
    assert!(lists[2].contains("issue_id=%3E%3D101"), "{}", lists[2]);
    assert!(lists[3].contains("updated_on=%3E%3D2026-11-26T10%3A00%3A01Z"), "{}", lists[3]);
    for l in &lists {
        assert!(l.contains("tracker_id=1") && l.contains("status_id=*") && l.contains("project_id=app"), "{l}");
        assert!(!l.contains("offset"), "no offset paging: {l}");
    }
}

#[tokio::test]
async fn issues_the_seen_revisions_show_unchanged_are_not_read_again() {
    let (url, seen) = serve(Box::new(|m, t| {
        if let Some(r) = common(m, t) {
            return Some(r);
        }
        let path = t.split('?').next().unwrap_or("");
        if path == "/issues.json" {
            return one_second_listing(t, 3, "2026-11-26T10:00:00Z");
        }
        let id: u64 = path.strip_prefix("/issues/")?.strip_suffix(".json")?.parse().ok()?;
        Some((200, json!({"issue": canned_issue(id, "2026-11-26T10:00:00Z", json!([]))}).to_string()))
    }))
    .await;
    let c = connector(&url);
    let at = parse_time("2026-11-26T10:00:00Z").expect("time");
    let earlier = at - ChronoDuration::seconds(1);
    // 1 was read well after its change; 2 within its second (a later edit in that
    // second would look the same); 3 at an older revision.
    let seen_set = BTreeMap::from([
        (EntityId::new("1"), SeenRevision { revision: None, updated: at }),
        (EntityId::new("2"), SeenRevision { revision: Some("2026-11-26T10:00:00Z#0".into()), updated: at }),
        (EntityId::new("3"), SeenRevision { revision: None, updated: earlier }),
    ]);
    let query = ChangeQuery { since: at, filter: None, fields: &[], seen: &seen_set, page_size: 100 };
    let page = c.changes(&scope(), &query, None).await.expect("page");
    let keys: Vec<&str> = page.snapshots.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, vec!["2", "3"]);
    assert_eq!(page.unchanged, 1);
    let reads: Vec<String> =
        seen.lock().expect("log").iter().filter(|r| r.1.starts_with("/issues/")).map(|r| r.1.clone()).collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(!reads.iter().any(|r| r.starts_with("/issues/1.json")), "{reads:?}");
}

#[tokio::test]
async fn a_negated_filter_subtracts_the_filtered_ids() {
    let (url, _) = serve(Box::new(|m, t| {
        if let Some(r) = common(m, t) {
            return Some(r);
        }
        let path = t.split('?').next().unwrap_or("");
        if path == "/issues.json" {
            let ids: Vec<u64> = if t.contains("priority_id=3") { vec![2] } else { vec![1, 2, 3] };
            let issues: Vec<Value> =
                ids.iter().map(|i| json!({"id": i, "updated_on": "2026-11-26T10:00:00Z"})).collect();
            return Some((200, json!({"issues": issues, "total_count": ids.len()}).to_string()));
        }
        let id: u64 = path.strip_prefix("/issues/")?.strip_suffix(".json")?.parse().ok()?;
        Some((200, json!({"issue": canned_issue(id, "2026-11-26T10:00:00Z", json!([]))}).to_string()))
    }))
    .await;
    let c = connector(&url);
    let since = parse_time("2026-11-26T09:00:00Z").expect("since");
    let keys = |s: Vec<EntitySnapshot>| s.into_iter().map(|s| s.key).collect::<Vec<_>>();
    let filter = QueryFilter { condition: "priority_id=3".into(), negate: false };
    assert_eq!(keys(c.changed_since(&scope(), since, Some(&filter), &[]).await.expect("filtered")), vec!["2"]);
    let negated = QueryFilter { negate: true, ..filter };
    assert_eq!(keys(c.changed_since(&scope(), since, Some(&negated), &[]).await.expect("negated")), vec!["1", "3"]);
}

#[tokio::test]
async fn update_maps_names_to_ids_and_a_422_is_an_invalid_request() {
    let (url, seen) = serve(Box::new(|m, t| {
        if let Some(r) = common(m, t) {
            return Some(r);
        }
        match (m, t.split('?').next().unwrap_or("")) {
            ("GET", "/issues/4.json") => {
                Some((200, json!({"issue": canned_issue(4, "2026-11-26T10:00:00Z", json!([{"id": 2, "user": {"id": 6, "name": "Bob"}}]))}).to_string()))
            }
            ("PUT", "/issues/4.json") => Some((204, String::new())),
            ("PUT", "/issues/5.json") => Some((422, r#"{"errors":["Assignee is invalid"]}"#.into())),
            ("GET", "/issues/5.json") => Some((200, json!({"issue": canned_issue(5, "2026-11-26T10:00:00Z", json!([]))}).to_string())),
            _ => None,
        }
    }))
    .await;
    let c = connector(&url);
    let ch = |k: &str, v: FieldValue| FieldChange { field: FieldKey::new(k), value: v };
    let r = c
        .update(
            &scope(),
            &EntityId::new("4"),
            &[
                ch("status", FieldValue::Option("In Progress".into())),
                ch("priority", FieldValue::Option("high".into())),
                ch("description", FieldValue::RichText("<p>a</p><p>b</p>".into())),
                ch("cf_1", FieldValue::Text("APP-9".into())),
                ch("assigned_to", FieldValue::User(UserRef { id: "7".into(), email: None, display_name: None })),
            ],
            Some("2026-11-26T10:00:00Z#2"),
            &[],
        )
        .await
        .expect("update")
        .target;
    assert_eq!(r.revision, "2026-11-26T10:00:00Z#2");
    let puts: Vec<Value> = seen
        .lock()
        .expect("log")
        .iter()
        .filter(|r| r.0 == "PUT")
        .filter_map(|r| serde_json::from_str(&r.2).ok())
        .collect();
    assert_eq!(
        puts[0],
        json!({"issue": {"status_id": 2, "priority_id": 3, "description": "a\nb", "assigned_to_id": 7,
            "custom_fields": [{"id": 1, "value": "APP-9"}]}})
    );

    let stale =
        c.update(&scope(), &EntityId::new("4"), &[ch("subject", FieldValue::Text("x".into()))], Some("old"), &[]).await;
    assert_eq!(stale.expect_err("stale").category, ErrorCategory::Conflict);
    let rejected =
        c.update(&scope(), &EntityId::new("5"), &[ch("subject", FieldValue::Text("x".into()))], None, &[]).await;
    let e = rejected.expect_err("422");
    assert_eq!(e.category, ErrorCategory::UserNotFound, "{e}");
    assert!(e.message.contains("Assignee is invalid"), "{e}");
    let unknown = c
        .update(&scope(), &EntityId::new("4"), &[ch("priority", FieldValue::Option("Urgent".into()))], None, &[])
        .await;
    assert_eq!(unknown.expect_err("unknown priority").category, ErrorCategory::InvalidRequest);
}

#[tokio::test]
async fn a_status_the_workflow_ignored_is_a_transition_error() {
    let (url, _) = serve(Box::new(|m, t| {
        if let Some(r) = common(m, t) {
            return Some(r);
        }
        match (m, t.split('?').next().unwrap_or("")) {
            // Status stays "In Progress" (id 2) whatever is sent.
            ("GET", "/issues/4.json") => {
                Some((200, json!({"issue": canned_issue(4, "2026-11-26T10:00:00Z", json!([]))}).to_string()))
            }
            ("PUT", "/issues/4.json") => Some((204, String::new())),
            _ => None,
        }
    }))
    .await;
    let c = connector(&url);
    let change = FieldChange { field: FieldKey::new("status"), value: FieldValue::Option("New".into()) };
    let e = c.update(&scope(), &EntityId::new("4"), &[change], None, &[]).await.expect_err("ignored status");
    assert_eq!(e.category, ErrorCategory::TransitionNotReachable, "{e}");
}

#[tokio::test]
async fn missing_issue_is_none_and_a_bad_key_is_an_auth_error() {
    let (url, _) = serve(Box::new(common)).await;
    let c = connector(&url);
    assert!(c.get(&scope(), &EntityId::new("999"), &[]).await.expect("404 is none").is_none());
    assert!(c.get(&scope(), &EntityId::new("abc"), &[]).await.is_err());
    let cfg = SystemConfig { auth: AuthConfig::ApiKey { token: SecretRef::Env("K".into()) }, ..connector_cfg(&url) };
    let wrong = RedmineConnector::new(
        &cfg,
        SecretString::from("wrong"),
        HttpOptions { max_attempts: 1, ..HttpOptions::default() },
    )
    .expect("connector");
    let e = wrong.integration_user().await.expect_err("401");
    assert_eq!(e.category, ErrorCategory::Auth);
    assert!(!e.message.contains("wrong"), "the key never appears in messages: {e}");
}

fn connector_cfg(url: &str) -> SystemConfig {
    SystemConfig {
        id: SystemId::parse("rm").expect("id"),
        kind: SystemKind::Redmine,
        base_url: url.into(),
        identity_url: None,
        auth: AuthConfig::Pat { token: SecretRef::Env("K".into()) },
        integration_user: None,
        proxy: None,
        ca_cert: None,
        allow_http_loopback: true,
        webhook: None,
        rate_limit: None,
    }
}

#[test]
fn only_api_key_auth_and_allowed_base_urls_build_a_connector() {
    let opts = HttpOptions::default;
    let pat = connector_cfg("https://redmine.example.com");
    assert_eq!(
        RedmineConnector::new(&pat, SecretString::from("k"), opts()).expect_err("pat").category,
        ErrorCategory::Config
    );
    let key = SystemConfig { auth: AuthConfig::ApiKey { token: SecretRef::Env("K".into()) }, ..pat };
    assert!(RedmineConnector::new(&key, SecretString::from("k"), opts()).is_ok());
    let http = SystemConfig { base_url: "http://redmine.example.com".into(), allow_http_loopback: true, ..key };
    assert_eq!(
        RedmineConnector::new(&http, SecretString::from("k"), opts()).expect_err("http").category,
        ErrorCategory::Config
    );
}

#[tokio::test]
async fn users_are_found_by_exact_e_mail_and_links_are_added_once() {
    let (url, seen) = serve(Box::new(|m, t| {
        if let Some(r) = common(m, t) {
            return Some(r);
        }
        match (m, t.split('?').next().unwrap_or("")) {
            ("GET", "/users.json") => Some((200, json!({"users": [
                {"id": 5, "login": "alice", "firstname": "Alice", "lastname": "Archer", "mail": "alice@acme.test"},
                {"id": 9, "login": "malice", "firstname": "M", "lastname": "Alice", "mail": "malice@acme.test"}]}).to_string())),
            ("GET", "/issues/4.json") => Some((200, json!({"issue": canned_issue(4, "2026-11-26T10:00:00Z",
                json!([{"id": 2, "user": {"id": 8, "name": "Ferry Bot"}, "notes": "Linked: APP-1 https://jira.test/browse/APP-1"}]))}).to_string())),
            ("PUT", "/issues/4.json") => Some((204, String::new())),
            _ => None,
        }
    }))
    .await;
    let c = connector(&url);
    let alice = c.find_user_by_email("ALICE@acme.test").await.expect("lookup").expect("alice");
    assert_eq!((alice.id.as_str(), alice.display_name.as_deref()), ("5", Some("Alice Archer")));
    assert!(c.find_user_by_email("nobody@acme.test").await.expect("lookup").is_none());
    let link = |u: &str| RemoteLink { global_id: "g".into(), url: u.into(), title: "APP-1".into() };
    c.upsert_remote_link(&scope(), &EntityId::new("4"), &link("https://jira.test/browse/APP-1")).await.expect("kept");
    c.upsert_remote_link(&scope(), &EntityId::new("4"), &link("https://jira.test/browse/APP-2")).await.expect("added");
    let puts: Vec<String> = seen.lock().expect("log").iter().filter(|r| r.0 == "PUT").map(|r| r.2.clone()).collect();
    assert_eq!(puts.len(), 1, "only the new link is written: {puts:?}");
    assert!(puts[0].contains("Linked: APP-1 https://jira.test/browse/APP-2"), "{}", puts[0]);
}

#[tokio::test]
async fn a_custom_field_redmine_leaves_out_is_missing_and_an_empty_one_is_null() {
    let (url, _) = serve(Box::new(common)).await;
    let c = connector(&url);
    let mut json = canned_issue(4, "2026-11-26T10:00:00Z", json!([]));
    // Redmine leaves out an empty assignee, and a custom field the project, the tracker
    // or the reader's role does not show; an empty custom value is an empty string.
    json.as_object_mut().expect("object").remove("assigned_to");
    json["custom_fields"] = json!([{"id": 2, "name": "Tags", "multiple": true, "value": []},
                                   {"id": 3, "name": "Note", "value": ""}]);
    let wanted: Vec<FieldKey> = ["assigned_to", "cf_1", "cf_2", "cf_3"].into_iter().map(FieldKey::new).collect();
    let s = c.snapshot(&issue(json), &wanted).await.expect("snapshot");
    let f = |k: &str| s.fields.get(&FieldKey::new(k)).cloned();
    assert_eq!(f("assigned_to"), Some(FieldValue::Null), "an unassigned issue is empty");
    assert_eq!(f("cf_1"), None, "a custom field the issue does not carry is missing");
    assert_eq!(f("cf_2"), Some(FieldValue::Null));
    assert_eq!(f("cf_3"), Some(FieldValue::Null));
}

#[tokio::test]
async fn history_reads_the_journals_between_two_revisions_under_the_callers_keys() {
    let journals = json!([
        {"id": 11, "user": {"id": 8, "name": "Ferry Bot"}, "notes": "",
         "details": [{"property": "attr", "name": "subject", "old_value": "a", "new_value": "b"}]},
        {"id": 12, "user": {"id": 6, "name": "Bob Baker"}, "notes": "",
         "details": [{"property": "attr", "name": "priority_id", "old_value": "2", "new_value": "3"},
                     {"property": "cf", "name": "1", "old_value": null, "new_value": "APP-9"},
                     {"property": "attr", "name": "assigned_to_id", "old_value": "7", "new_value": null}]},
        {"id": 13, "user": {"id": 8, "name": "Ferry Bot"}, "notes": "",
         "details": [{"property": "attr", "name": "status_id", "old_value": "1", "new_value": "2"},
                     {"property": "attr", "name": "description", "old_value": "x", "new_value": "y"}]}
    ]);
    let (url, _) = serve(Box::new(move |m, t| {
        if m == "GET" && t.starts_with("/issues/4.json") {
            let body = json!({"issue": canned_issue(4, "2026-11-26T10:00:00Z", journals.clone())});
            return Some((200, body.to_string()));
        }
        common(m, t)
    }))
    .await;
    let c = connector(&url);
    let id = EntityId::new("4");
    let requested = [FieldKey::new("External ID"), FieldKey::new("priority")];
    let s = scope();
    let window = c.history(&s, &id, Some("2026-11-26T10:00:00Z#11"), "2026-11-26T10:00:00Z#13", &requested);
    let window = window.await.expect("history");
    let by: Vec<Option<String>> = window.iter().map(|e| e.author.as_ref().map(|a| a.id.clone())).collect();
    assert_eq!(by, [Some("6".to_string()), Some("8".to_string())], "journals 12 and 13: {window:?}");
    assert_eq!(
        window[0].fields,
        vec![
            (FieldKey::new("priority"), Some(FieldValue::Option("High".into()))),
            (FieldKey::new("External ID"), Some(FieldValue::Text("APP-9".into()))),
            (FieldKey::new("assigned_to"), Some(FieldValue::Null)),
        ]
    );
    assert_eq!(
        window[1].fields,
        vec![
            (FieldKey::new("status"), Some(FieldValue::Option("In Progress".into()))),
            (FieldKey::new("description"), None),
        ]
    );
    let all = c.history(&scope(), &id, None, "2026-11-26T10:00:00Z#12", &[]).await.expect("history");
    assert!(all[0].created && all[0].author.as_ref().is_some_and(|a| a.id == "5"), "the author's creation");
    assert_eq!(all.len(), 3, "creation, journals 11 and 12");
    assert!(c.history(&scope(), &id, Some("bad#x"), "2026-11-26T10:00:00Z#12", &[]).await.is_err());
}
