//! The connector against the Jira simulator (`ferry_sim::JiraSim`, demo seed).

use super::search::JiraPosition;
use super::*;
use chrono::Duration as ChronoDuration;
use ferry_domain::ports::QueryFilter;
use ferry_domain::{AuthConfig, FieldType, FieldValue, SystemId};
use ferry_sim::{JiraSeed, JiraSim};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

const ALICE: &str = "5b10ac8d82e05b22cc7d0002";

fn connector_as(sim: &JiraSim, email: &str, token: &str) -> JiraConnector {
    let system = SystemConfig {
        id: SystemId::parse("jira-sim").unwrap(),
        kind: SystemKind::Jira,
        base_url: sim.base_url(),
        identity_url: None,
        auth: AuthConfig::Basic { username: email.into(), token: ferry_domain::SecretRef::Env("JIRA_TOKEN".into()) },
        integration_user: Some(email.into()),
        proxy: None,
        ca_cert: None,
        allow_http_loopback: true,
        webhook: None,
        rate_limit: None,
    };
    let opts = HttpOptions { backoff_base: Duration::from_millis(10), ..HttpOptions::default() };
    JiraConnector::new(&system, SecretString::from(token.to_string()), opts).unwrap()
}

async fn start() -> (JiraSim, JiraConnector) {
    let sim = JiraSim::start(JiraSeed::demo()).await.unwrap();
    let c = connector_as(&sim, "ferry-bot@acme.test", "jira-bot-token");
    (sim, c)
}

fn scope(project: &str, ty: &str) -> Scope {
    Scope { project: project.into(), entity_type: ty.into() }
}

fn fk(s: &str) -> FieldKey {
    FieldKey::new(s)
}

fn change(field: &str, value: FieldValue) -> FieldChange {
    FieldChange { field: fk(field), value }
}

fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.into())
}

async fn create_bug(c: &JiraConnector, summary: &str) -> EntityRef {
    c.create(&scope("APP", "Bug"), &[change("summary", text(summary))]).await.unwrap()
}

#[tokio::test]
async fn changed_since_pages_through_every_issue_once_oldest_first() {
    let (sim, c) = start().await;
    let since = Utc::now() - ChronoDuration::seconds(5);
    let mut created = Vec::new();
    for i in 0..57 {
        created.push(create_bug(&c, &format!("bug {i}")).await.id);
    }
    // A Task must not show up in a Bug scope.
    c.create(&scope("APP", "Task"), &[change("summary", text("a task"))]).await.unwrap();
    sim.clear_requests();
    let got = c.changed_since(&scope("APP", "Bug"), since, None, &[fk("summary"), fk("status")]).await.unwrap();
    assert_eq!(got.len(), 57);
    let ids: HashSet<_> = got.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids, created.iter().cloned().collect::<HashSet<_>>());
    assert!(got.windows(2).all(|w| w[0].updated <= w[1].updated));
    let first = &got[0];
    assert_eq!(first.fields[&fk("status")], FieldValue::Option("To Do".into()));
    assert!(matches!(&first.fields[&fk("summary")], FieldValue::Text(s) if s.starts_with("bug ")));
    assert_eq!(first.revision, first.updated.timestamp_millis().to_string());
    assert_eq!(first.changed_by.as_ref().map(|u| u.id.as_str()), Some("5b10ac8d82e05b22cc7d0001"));
    assert_eq!(first.url, format!("{}/browse/{}", sim.base_url(), first.key));
}

#[tokio::test]
async fn a_read_of_changes_pages_by_token_and_an_issue_edited_between_pages_moves_to_the_end() {
    let (sim, c) = start().await;
    let since = Utc::now() - ChronoDuration::seconds(5);
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(create_bug(&c, &format!("bug {i}")).await);
    }
    let seen = BTreeMap::new();
    let fields = [fk("summary")];
    let query = ChangeQuery { since, filter: None, fields: &fields, seen: &seen, page_size: 3 };
    let first = c.changes(&scope("APP", "Bug"), &query, None).await.unwrap();
    let keys = |p: &ChangePage| p.snapshots.iter().map(|s| s.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&first), created[..3].iter().map(|r| r.key.clone()).collect::<Vec<_>>());
    assert_eq!(first.through, Some(created[2].updated));
    let as_of = first.as_of.expect("the server's Date header");
    assert!((Utc::now() - as_of).num_seconds().abs() <= 2, "{as_of}");
    // The first issue is edited between pages: it moves to the end, nothing shifts.
    c.update(&scope("APP", "Bug"), &created[0].id, &[change("summary", text("edited"))], None, &[]).await.unwrap();
    let mut read: Vec<String> = keys(&first);
    let mut from = first.next.clone();
    let mut pages = 1;
    while let Some(token) = from {
        let page = c.changes(&scope("APP", "Bug"), &query, Some(&token)).await.unwrap();
        read.extend(keys(&page));
        from = page.next;
        pages += 1;
    }
    assert_eq!(pages, 3, "7 issues and the edited one again, 3 per page");
    let mut want: Vec<String> = created.iter().map(|r| r.key.clone()).collect();
    want.push(created[0].key.clone());
    assert_eq!(read, want);
    // A token the server does not know is refused as an invalid request.
    let bogus = ReadToken::encode(&JiraPosition { since: "2026/01/01 00:00".into(), token: "bogus".into() });
    let e = c.changes(&scope("APP", "Bug"), &query, Some(&bogus)).await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::InvalidRequest, "{e}");
    let e = c.changes(&scope("APP", "Bug"), &query, Some(&ReadToken("{}".into()))).await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::InvalidRequest, "{e}");
    drop(sim);
}

#[tokio::test]
async fn an_issue_updated_seconds_after_since_is_found_in_every_profile_zone() {
    let (sim, bot) = start().await;
    let created = create_bug(&bot, "minute precision").await;
    // Berlin (bot), New York (bob) and UTC (alice) read the JQL literal differently.
    let readers = [
        bot,
        connector_as(&sim, "bob@acme.test", "jira-bob-token"),
        connector_as(&sim, "alice@acme.test", "jira-alice-token"),
    ];
    for c in &readers {
        let me = c.integration_user().await.unwrap();
        for since in [
            created.updated,
            created.updated - ChronoDuration::seconds(3),
            created.updated - ChronoDuration::milliseconds(1),
        ] {
            let got = c.changed_since(&scope("APP", "Bug"), since, None, &[]).await.unwrap();
            assert!(got.iter().any(|s| s.id == created.id), "{me:?} missed the issue with since {since}");
        }
        let later = c
            .changed_since(&scope("APP", "Bug"), created.updated + ChronoDuration::minutes(2), None, &[])
            .await
            .unwrap();
        assert!(later.is_empty(), "{me:?}: {later:?}");
    }
}

#[tokio::test]
async fn criteria_filter_selects_and_negates() {
    let (_sim, c) = start().await;
    let since = Utc::now() - ChronoDuration::seconds(5);
    let high = c
        .create(
            &scope("APP", "Bug"),
            &[change("summary", text("high one")), change("priority", FieldValue::Option("High".into()))],
        )
        .await
        .unwrap();
    let low = c
        .create(
            &scope("APP", "Bug"),
            &[change("summary", text("low one")), change("priority", FieldValue::Option("Low".into()))],
        )
        .await
        .unwrap();
    let filter = |negate| QueryFilter { condition: "priority = High".into(), negate };
    let only: Vec<_> = c
        .changed_since(&scope("APP", "Bug"), since, Some(&filter(false)), &[])
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(only, vec![high.id.clone()]);
    let rest: Vec<_> = c
        .changed_since(&scope("APP", "Bug"), since, Some(&filter(true)), &[])
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(rest, vec![low.id]);
}

#[tokio::test]
async fn create_and_update_round_trip_adf_priority_and_custom_fields() {
    let (sim, c) = start().await;
    let s = scope("APP", "Bug");
    let desc = "<p>Order entry <strong>fails</strong> for <a href=\"https://x.test/?a=1&amp;b=2\">big</a> carts</p><ul><li><p>step 1</p></li></ul>";
    let created = c
        .create(
            &s,
            &[
                change("summary", text("Main order flow broken")),
                change("description", FieldValue::RichText(desc.into())),
                change("priority", FieldValue::Option("High".into())),
                change("customfield_10051", FieldValue::Option("Major".into())),
                change("customfield_10052", text("3")),
                change("customfield_10050", FieldValue::Number(42.0)),
                change("labels", FieldValue::List(vec!["synced".into()])),
                change("assignee", FieldValue::User(UserRef { id: ALICE.into(), email: None, display_name: None })),
                change("reporter", FieldValue::Null),
            ],
        )
        .await
        .unwrap();
    assert!(created.key.starts_with("APP-"));
    let raw = sim.issue_json(&created.key).unwrap();
    assert_eq!(raw.pointer("/fields/description/type"), Some(&json!("doc")));
    assert_eq!(raw.pointer("/fields/priority/name"), Some(&json!("High")));

    let fields = [
        fk("summary"),
        fk("description"),
        fk("priority"),
        fk("customfield_10051"),
        fk("customfield_10052"),
        fk("customfield_10050"),
        fk("labels"),
        fk("assignee"),
    ];
    let got = c.get(&s, &created.id, &fields).await.unwrap().unwrap();
    assert_eq!(got.revision, created.revision);
    assert_eq!(got.fields[&fk("description")], FieldValue::RichText(desc.into()));
    assert_eq!(got.fields[&fk("priority")], FieldValue::Option("High".into()));
    assert_eq!(got.fields[&fk("customfield_10051")], FieldValue::Option("Major".into()));
    assert_eq!(got.fields[&fk("customfield_10052")], FieldValue::Number(3.0));
    assert_eq!(got.fields[&fk("customfield_10050")], text("42"));
    assert_eq!(got.fields[&fk("labels")], FieldValue::List(vec!["synced".into()]));
    match &got.fields[&fk("assignee")] {
        FieldValue::User(u) => {
            assert_eq!(u.id, ALICE);
            assert_eq!(u.email.as_deref(), Some("alice@acme.test"));
        }
        other => panic!("assignee: {other:?}"),
    }

    tokio::time::sleep(Duration::from_millis(5)).await;
    let updated = c
        .update(
            &s,
            &created.id,
            &[
                change("description", text("plain\nsecond line")),
                change("priority", FieldValue::Option("Low".into())),
                change("assignee", FieldValue::Null),
                change("customfield_10051", FieldValue::Null),
            ],
            Some(&created.revision),
            &[],
        )
        .await
        .unwrap()
        .target;
    assert_eq!(updated.id, created.id);
    assert!(updated.updated >= created.updated);
    let got = c.get(&s, &created.id, &fields).await.unwrap().unwrap();
    assert_eq!(got.fields[&fk("description")], FieldValue::RichText("<p>plain<br>second line</p>".into()));
    assert_eq!(got.fields[&fk("priority")], FieldValue::Option("Low".into()));
    assert_eq!(got.fields[&fk("assignee")], FieldValue::Null);
    assert_eq!(got.fields[&fk("customfield_10051")], FieldValue::Null);
    assert_eq!(got.fields[&fk("summary")], text("Main order flow broken"));
}

#[tokio::test]
async fn bad_values_fail_with_clear_categories() {
    let (_sim, c) = start().await;
    let s = scope("APP", "Bug");
    let e = c.create(&s, &[change("summary", text("x")), change("customfield_10052", text("many"))]).await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::InvalidRequest);
    let e = c.create(&s, &[change("summary", text("x")), change("nonexistent", text("v"))]).await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::Config);
    let e = c
        .create(&s, &[change("summary", text("x")), change("priority", FieldValue::Option("Urgent!".into()))])
        .await
        .unwrap_err();
    assert_eq!(e.category, ErrorCategory::InvalidRequest, "{e}");
    let e = c.create(&s, &[change("labels", FieldValue::List(vec!["x".into()]))]).await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::RequiredFieldMissing, "{e}");
    assert!(e.message.contains("summary"), "{e}");
    let e = c.create(&scope("APP", "Story"), &[change("summary", text("x"))]).await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::Config);
    assert!(!e.to_string().contains("jira-bot-token"));
    assert!(c.get(&s, &EntityId::new("99999"), &[]).await.unwrap().is_none());
}

#[tokio::test]
async fn status_change_walks_two_hops_and_supplies_the_required_resolution() {
    let (sim, c) = start().await;
    let s = scope("APP", "Bug");
    let bug = create_bug(&c, "to be done").await;
    c.update(&s, &bug.id, &[change("status", FieldValue::Option("Done".into()))], None, &[]).await.unwrap();
    let raw = sim.issue_json(&bug.key).unwrap();
    assert_eq!(raw.pointer("/fields/status/name"), Some(&json!("Done")));
    assert_eq!(raw.pointer("/fields/resolution/name"), Some(&json!("Done")));

    // Done -> To Do -> In Progress -> In Review: three hops, re-reading each time.
    let back =
        c.update(&s, &bug.id, &[change("status", FieldValue::Option("In Review".into()))], None, &[]).await.unwrap();
    let got = c.get(&s, &bug.id, &[fk("status")]).await.unwrap().unwrap();
    assert_eq!(got.fields[&fk("status")], FieldValue::Option("In Review".into()));
    assert_eq!(got.revision, back.target.revision);

    // A mapped resolution wins over the default pick.
    c.update(
        &s,
        &bug.id,
        &[
            change("status", FieldValue::Option("Done".into())),
            change("resolution", FieldValue::Option("Won't Do".into())),
        ],
        None,
        &[],
    )
    .await
    .unwrap();
    let raw = sim.issue_json(&bug.key).unwrap();
    assert_eq!(raw.pointer("/fields/resolution/name"), Some(&json!("Won't Do")));

    // Create straight into a later status.
    let started = c
        .create(
            &s,
            &[change("summary", text("born in progress")), change("status", FieldValue::Option("In Progress".into()))],
        )
        .await
        .unwrap();
    let raw = sim.issue_json(&started.key).unwrap();
    assert_eq!(raw.pointer("/fields/status/name"), Some(&json!("In Progress")));

    let e =
        c.update(&s, &bug.id, &[change("status", FieldValue::Option("Shipped".into()))], None, &[]).await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::TransitionNotReachable);
    assert!(e.message.contains("Shipped") && e.message.contains("Done"), "{e}");
}

#[tokio::test]
async fn user_lookup_by_email_is_exact_and_skips_hidden_emails() {
    let (sim, c) = start().await;
    let alice = c.find_user_by_email("ALICE@acme.test").await.unwrap().unwrap();
    assert_eq!(alice.id, ALICE);
    assert_eq!(alice.display_name.as_deref(), Some("Alice Jones"));
    assert!(c.find_user_by_email("dave@acme.test").await.unwrap().is_none());
    assert!(c.find_user_by_email("nobody@acme.test").await.unwrap().is_none());
    // Prefix matches in Jira's search are not exact matches.
    assert!(c.find_user_by_email("alice@acme").await.unwrap().is_none());
    assert!(c.find_user_by_email("erin@acme.test").await.unwrap().is_some());
    sim.clear_requests();
    assert_eq!(c.find_user_by_email("alice@acme.test").await.unwrap(), Some(alice));
    assert!(sim.requests().is_empty(), "cached lookups must not hit Jira");

    let me = c.integration_user().await.unwrap();
    assert_eq!(me.id, "5b10ac8d82e05b22cc7d0001");
    assert_eq!(me.email.as_deref(), Some("ferry-bot@acme.test"));
    let users = c.users("APP").await.unwrap();
    assert!(users.iter().any(|u| u.id == ALICE));
}

#[tokio::test]
async fn remote_link_upsert_twice_leaves_one_link() {
    let (sim, c) = start().await;
    let bug = create_bug(&c, "linked").await;
    let s = scope("APP", "Bug");
    let mut link = RemoteLink {
        global_id: "ferry:app-bugs:right:42".into(),
        url: "http://127.0.0.1/acme/App/_workitems/edit/42".into(),
        title: "ADO #42".into(),
    };
    c.upsert_remote_link(&s, &bug.id, &link).await.unwrap();
    link.title = "ADO #42 (renamed)".into();
    c.upsert_remote_link(&s, &bug.id, &link).await.unwrap();
    let url = format!("{}/rest/api/3/issue/{}/remotelink", sim.base_url(), bug.key);
    let links: Value = reqwest::Client::new()
        .get(url)
        .basic_auth("ferry-bot@acme.test", Some("jira-bot-token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let links = links.as_array().unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].pointer("/object/title"), Some(&json!("ADO #42 (renamed)")));
    assert_eq!(links[0].pointer("/application/type"), Some(&json!("com.ferry.sync")));
    assert_eq!(links[0].get("relationship"), Some(&json!("synced with")));
}

#[tokio::test]
async fn rate_limited_request_is_retried_after_retry_after() {
    let (sim, c) = start().await;
    sim.faults().rate_limit_next(1, 1);
    let t0 = Instant::now();
    let me = c.integration_user().await.unwrap();
    assert_eq!(me.id, "5b10ac8d82e05b22cc7d0001");
    assert!(t0.elapsed() >= Duration::from_millis(950), "{:?}", t0.elapsed());
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 200]);
}

#[tokio::test]
async fn find_by_field_returns_only_the_exact_match() {
    let (_sim, c) = start().await;
    let s = scope("APP", "Bug");
    let mk = |v: &'static str| {
        let c = &c;
        let s = &s;
        async move { c.create(s, &[change("summary", text(v)), change("customfield_10050", text(v))]).await.unwrap() }
    };
    let _near = mk("acme/App/421").await;
    let exact = mk("acme/App/42").await;
    let _superset = mk("acme/App/42/x").await;
    let hit = c.find_by_field(&s, &fk("customfield_10050"), "acme/App/42").await.unwrap().unwrap();
    assert_eq!(hit.id, exact.id);
    assert!(c.find_by_field(&s, &fk("customfield_10050"), "acme/App/7").await.unwrap().is_none());
    let sev = c
        .create(
            &s,
            &[change("summary", text("sev")), change("customfield_10051", FieldValue::Option("Critical".into()))],
        )
        .await
        .unwrap();
    let hit = c.find_by_field(&s, &fk("customfield_10051"), "Critical").await.unwrap().unwrap();
    assert_eq!(hit.id, sev.id);
}

#[tokio::test]
async fn last_updated_and_discovery_describe_the_demo_seed() {
    let (_sim, c) = start().await;
    assert_eq!(c.last_updated(&scope("OPS", "Bug")).await.unwrap(), None);
    create_bug(&c, "first").await;
    let second = create_bug(&c, "second").await;
    assert_eq!(c.last_updated(&scope("APP", "Bug")).await.unwrap(), Some(second.updated));

    let projects = c.projects().await.unwrap();
    let keys: Vec<_> = projects.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, vec!["APP", "OPS"]);

    let types = c.entity_types("APP").await.unwrap();
    let bug = types.iter().find(|t| t.name == "Bug").unwrap();
    assert_eq!(bug.id, "10001");
    for st in ["To Do", "In Progress", "In Review", "Done"] {
        assert!(bug.states.iter().any(|s| s == st), "{st} in {:?}", bug.states);
    }

    let fields = c.fields(&scope("APP", "Bug")).await.unwrap();
    let get = |k: &str| fields.iter().find(|f| f.key.as_str() == k).unwrap_or_else(|| panic!("{k}"));
    assert!(get("summary").required);
    assert_eq!(get("summary").field_type, FieldType::Text);
    assert_eq!(get("description").field_type, FieldType::RichText);
    assert_eq!(get("customfield_10051").allowed_values, vec!["Critical", "Major", "Minor"]);
    assert_eq!(get("customfield_10052").field_type, FieldType::Number);
    assert_eq!(get("assignee").field_type, FieldType::User);
    assert_eq!(get("labels").field_type, FieldType::List);
    assert!(get("priority").allowed_values.iter().any(|p| p == "Highest"));
    assert_eq!(get("status").field_type, FieldType::Option);
    assert!(get("status").allowed_values.iter().any(|s| s == "In Review"));
    assert_eq!(get("updated").field_type, FieldType::DateTime);
}

#[tokio::test]
async fn changed_by_names_the_user_who_made_the_latest_change() {
    let (sim, bot) = start().await;
    let s = scope("APP", "Bug");
    let since = Utc::now() - ChronoDuration::seconds(5);
    let mine = create_bug(&bot, "bot made me").await;
    let theirs = create_bug(&bot, "alice edits me").await;
    let alice = connector_as(&sim, "alice@acme.test", "jira-alice-token");
    tokio::time::sleep(Duration::from_millis(20)).await;
    alice.update(&s, &theirs.id, &[change("summary", text("edited by alice"))], None, &[]).await.unwrap();
    let got = bot.changed_since(&s, since, None, &[fk("summary")]).await.unwrap();
    let by = |id: &EntityId| got.iter().find(|x| &x.id == id).and_then(|x| x.changed_by.clone()).map(|u| u.id);
    assert_eq!(by(&mine.id).as_deref(), Some("5b10ac8d82e05b22cc7d0001"));
    assert_eq!(by(&theirs.id).as_deref(), Some(ALICE));
    assert_eq!(got.last().map(|x| &x.id), Some(&theirs.id), "oldest first");
}

#[tokio::test]
async fn a_field_jira_leaves_out_is_missing_and_an_empty_one_is_null() {
    let (sim, c) = start().await;
    let since = Utc::now() - ChronoDuration::seconds(5);
    let bug = c
        .create(&scope("APP", "Bug"), &[change("summary", text("s")), change("customfield_10050", text("42"))])
        .await
        .unwrap();
    let wanted = [fk("summary"), fk("customfield_10050"), fk("assignee")];
    let read = c.get(&scope("APP", "Bug"), &bug.id, &wanted).await.unwrap().unwrap();
    assert_eq!(read.fields.get(&fk("customfield_10050")), Some(&text("42")));
    assert_eq!(read.fields.get(&fk("assignee")), Some(&FieldValue::Null), "unassigned is an explicit null");

    // An administrator takes the field out of the project's field context.
    sim.hide_field("customfield_10050");
    let read = c.get(&scope("APP", "Bug"), &bug.id, &wanted).await.unwrap().unwrap();
    assert_eq!(read.fields.get(&fk("customfield_10050")), None, "{:?}", read.fields);
    assert_eq!(read.fields.get(&fk("summary")), Some(&text("s")));
    let polled = c.changed_since(&scope("APP", "Bug"), since, None, &wanted).await.unwrap();
    assert_eq!(polled.len(), 1);
    assert!(!polled[0].fields.contains_key(&fk("customfield_10050")), "{:?}", polled[0].fields);
    assert_eq!(polled[0].fields.get(&fk("assignee")), Some(&FieldValue::Null));
}

#[tokio::test]
async fn jira_judges_a_filter_and_a_breakout_never_reaches_it() {
    let (sim, c) = start().await;
    let bugs = scope("APP", "Bug");
    c.validate_filter(&bugs, "labels = sync OR (priority in (High, Low))").await.unwrap();
    let e = c.validate_filter(&bugs, "labelz = sync").await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::Config);
    assert!(e.message.contains("Jira refuses the criteria filter") && e.message.contains("labelz"), "{e}");
    sim.clear_requests();
    for breakout in ["labels = sync) OR (project = OPS", "labels = sync ORDER BY created"] {
        let e = c.validate_filter(&bugs, breakout).await.unwrap_err();
        assert_eq!(e.category, ErrorCategory::Config, "{breakout}: {e}");
        let filter = QueryFilter { condition: breakout.into(), negate: false };
        let e = c.changed_since(&bugs, Utc::now(), Some(&filter), &[fk("summary")]).await.unwrap_err();
        assert_eq!(e.category, ErrorCategory::Config, "{breakout}: {e}");
    }
    let sent: Vec<String> = sim.requests().iter().map(|r| r.path.clone()).collect();
    assert!(!sent.iter().any(|p| p.ends_with("/jql/parse") || p.ends_with("/search/jql")), "{sent:?}");
}

#[tokio::test]
async fn history_names_who_changed_what_between_two_revisions() {
    let (sim, bot) = start().await;
    let alice = connector_as(&sim, "alice@acme.test", "jira-alice-token");
    let s = scope("APP", "Bug");
    let made = create_bug(&bot, "history").await;
    let before = bot.update(&s, &made.id, &[change("summary", text("by ferry"))], None, &[]).await.unwrap();
    alice.update(&s, &made.id, &[change("priority", FieldValue::Option("High".into()))], None, &[]).await.unwrap();
    let after =
        bot.update(&s, &made.id, &[change("status", FieldValue::Option("In Review".into()))], None, &[]).await.unwrap();

    let (before, after) = (before.target, after.target);
    let window = bot.history(&s, &made.id, Some(&before.revision), &after.revision, &[]).await.unwrap();
    let who: Vec<&str> = window.iter().map(|e| e.author.as_ref().map_or("?", |a| a.id.as_str())).collect();
    // Alice's edit, then Ferry's two transition hops (To Do -> In Progress -> In Review).
    assert_eq!(who, [ALICE, "5b10ac8d82e05b22cc7d0001", "5b10ac8d82e05b22cc7d0001"], "{window:?}");
    assert_eq!(window[0].fields, vec![(fk("priority"), Some(FieldValue::Option("High".into())))]);
    assert_eq!(window[2].fields, vec![(fk("status"), Some(FieldValue::Option("In Review".into())))]);
    assert!(window.iter().all(|e| !e.created));

    let all = bot.history(&s, &made.id, None, &after.revision, &[]).await.unwrap();
    assert!(all[0].created && all[0].author.as_ref().is_some_and(|a| a.id == "5b10ac8d82e05b22cc7d0001"));
    assert_eq!(all.len(), 5, "creation, Ferry's edit, Alice's, two hops: {all:?}");
    let none = bot.history(&s, &made.id, Some(&after.revision), &after.revision, &[]).await.unwrap();
    assert!(none.is_empty(), "an empty window");
}

#[tokio::test]
async fn an_edit_answers_with_the_issue_as_written_and_its_history_since_the_expected_revision() {
    let (sim, bot) = start().await;
    let alice = connector_as(&sim, "alice@acme.test", "jira-alice-token");
    let s = scope("APP", "Bug");
    let made = create_bug(&bot, "answered").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    alice.update(&s, &made.id, &[change("priority", FieldValue::Option("High".into()))], None, &[]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let fields = [fk("summary"), fk("priority"), fk("description")];
    let from = sim.requests().len();
    let edit = [change("summary", text("by ferry")), change("description", text("a < b"))];
    let u = bot.update(&s, &made.id, &edit, Some(&made.revision), &fields).await.unwrap();

    let sent: Vec<String> =
        sim.requests()[from..].iter().map(|r| format!("{} {}?{}", r.method, r.path, r.query)).collect();
    assert_eq!(sent.len(), 1, "the edit alone, no read: {sent:?}");
    assert!(sent[0].starts_with("PUT ") && sent[0].contains("returnIssue=true"), "{sent:?}");
    let read = u.read.as_ref().expect("the issue as the edit answered it");
    assert_eq!(read.revision, u.target.revision);
    assert_eq!(read.fields[&fk("summary")], text("by ferry"));
    assert_eq!(read.fields[&fk("priority")], FieldValue::Option("High".into()), "Alice's edit is in the issue too");
    // The description reads back in the form Jira holds (ADF rendered), not as sent.
    assert_eq!(read.fields[&fk("description")], FieldValue::RichText("<p>a &lt; b</p>".into()));
    let history = u.history.as_ref().expect("the history since the expected revision");
    let who: Vec<&str> = history.iter().map(|e| e.author.as_ref().map_or("?", |a| a.id.as_str())).collect();
    assert_eq!(who, [ALICE, "5b10ac8d82e05b22cc7d0001"], "{history:?}");
    let read_again = bot.history(&s, &made.id, Some(&made.revision), &u.target.revision, &[]).await.unwrap();
    assert_eq!(history, &read_again, "the same window as a read of the history");
    let now = bot.get(&s, &made.id, &fields).await.unwrap().unwrap();
    assert_eq!(&now, read, "the same snapshot as a read");

    // A revision that is not one fails before anything is written.
    let from = sim.requests().len();
    let e = bot.update(&s, &made.id, &edit, Some("yesterday"), &fields).await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::InvalidRequest, "{e}");
    assert!(sim.requests()[from..].iter().all(|r| r.method != "PUT"), "nothing sent");
}

#[tokio::test]
async fn history_reaches_back_past_the_hundred_entries_an_issue_read_holds() {
    let (sim, bot) = start().await;
    let s = scope("APP", "Bug");
    let made = create_bug(&bot, "busy").await;
    let first = bot.update(&s, &made.id, &[change("summary", text("edit 0"))], None, &[]).await.unwrap();
    let mut last = first.clone();
    for i in 1..=130 {
        last = bot.update(&s, &made.id, &[change("summary", text(&format!("edit {i}")))], None, &[]).await.unwrap();
    }
    let (first, last) = (first.target, last.target);
    sim.clear_requests();
    let window = bot.history(&s, &made.id, Some(&first.revision), &last.revision, &[]).await.unwrap();
    assert_eq!(window.len(), 130, "every entry after the first edit");
    assert_eq!(window[0].fields, vec![(fk("summary"), Some(text("edit 1")))]);
    assert_eq!(window[129].fields, vec![(fk("summary"), Some(text("edit 130")))]);
    let pages = sim.requests().iter().filter(|r| r.path.ends_with("/changelog")).count();
    assert!(pages >= 1, "older entries were paged from /changelog");
}

#[tokio::test]
async fn the_last_changes_of_fields_are_read_back_only_as_far_as_each_fields_last_entry() {
    let (sim, bot) = start().await;
    let s = scope("APP", "Bug");
    let made = create_bug(&bot, "busy").await;
    // An early priority change, then more summary edits than an issue read holds.
    bot.update(&s, &made.id, &[change("priority", FieldValue::Option("High".into()))], None, &[]).await.unwrap();
    let mut through = String::new();
    for i in 0..130 {
        let edit = [change("summary", text(&format!("edit {i}")))];
        through = bot.update(&s, &made.id, &edit, None, &[]).await.unwrap().target.revision;
    }
    let whole = bot.history(&s, &made.id, None, &through, &[]).await.unwrap();
    let last_of = |h: &[HistoryEntry], f: &str| {
        h.iter().rev().find(|e| e.fields.iter().any(|(k, _)| k == &fk(f))).map(|e| (e.at, e.fields.clone()))
    };
    let pages = |sim: &JiraSim| sim.requests().iter().filter(|r| r.path.ends_with("/changelog")).count();

    sim.clear_requests();
    let summary = bot.last_changes(&s, &made.id, &through, &[fk("summary")]).await.unwrap();
    assert_eq!(pages(&sim), 0, "the issue read holds the summary's last change");
    assert_eq!(last_of(&summary, "summary"), last_of(&whole, "summary"));
    assert_eq!(last_of(&summary, "summary").map(|(_, f)| f), Some(vec![(fk("summary"), Some(text("edit 129")))]));

    sim.clear_requests();
    let both = bot.last_changes(&s, &made.id, &through, &[fk("summary"), fk("priority")]).await.unwrap();
    assert!(pages(&sim) >= 1, "the priority's last change is older than the issue read holds");
    assert_eq!(last_of(&both, "priority"), last_of(&whole, "priority"));
    assert!(last_of(&both, "priority").is_some());
    assert!(both.len() < whole.len(), "not the whole history: {} of {}", both.len(), whole.len());

    // A field no entry sets: the whole history is read, and it says nothing of it.
    let never = bot.last_changes(&s, &made.id, &through, &[fk("labels")]).await.unwrap();
    assert_eq!(last_of(&never, "labels"), None);
}
