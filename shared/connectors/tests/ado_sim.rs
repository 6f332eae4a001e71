//! The Azure DevOps connector against the ADO simulator (demo seed of SEED.md).

use chrono::{Duration as ChronoDuration, Utc};
use ferry_connectors::ado::AdoConnector;
use ferry_connectors::http::HttpOptions;
use ferry_domain::ports::{ChangeQuery, Connector, QueryFilter, ReadToken};
use ferry_domain::{
    AuthConfig, EntityId, ErrorCategory, FieldChange, FieldKey, FieldType, FieldValue, RemoteLink, Scope, SecretRef,
    SystemConfig, SystemId, SystemKind, UserRef,
};
use ferry_sim::ado::AdoSeedWorkItem;
use ferry_sim::{AdoSeed, AdoSim};
use secrecy::SecretString;
use serde_json::{json, Map};
use std::time::{Duration, Instant};

const BOT: &str = "8c2a0000-0000-4000-8000-000000000001";
const ALICE: &str = "8c2a0000-0000-4000-8000-000000000002";
const BOB: &str = "8c2a0000-0000-4000-8000-000000000003";
const PRIORITY: &str = "Microsoft.VSTS.Common.Priority";

fn system(base_url: &str) -> SystemConfig {
    SystemConfig {
        id: SystemId::parse("ado").unwrap(),
        kind: SystemKind::AzureDevops,
        base_url: base_url.into(),
        identity_url: None,
        auth: AuthConfig::Pat { token: SecretRef::Env("ADO_PAT".into()) },
        integration_user: Some("ferry-bot@acme.test".into()),
        proxy: None,
        ca_cert: None,
        allow_http_loopback: true,
        webhook: None,
        rate_limit: None,
    }
}

fn connector(sim: &AdoSim) -> AdoConnector {
    let opts =
        HttpOptions { allow_http_loopback: true, backoff_base: Duration::from_millis(20), ..HttpOptions::default() };
    AdoConnector::new(&system(&sim.base_url()), SecretString::from("ado-bot-pat"), opts).unwrap()
}

async fn demo() -> (AdoSim, AdoConnector) {
    let sim = AdoSim::start(AdoSeed::demo()).await.unwrap();
    let c = connector(&sim);
    (sim, c)
}

fn bugs(project: &str) -> Scope {
    Scope { project: project.into(), entity_type: "Bug".into() }
}

fn keys(names: &[&str]) -> Vec<FieldKey> {
    names.iter().map(|n| FieldKey::new(*n)).collect()
}

fn change(field: &str, value: FieldValue) -> FieldChange {
    FieldChange { field: FieldKey::new(field), value }
}

fn email_user(email: &str) -> FieldValue {
    FieldValue::User(UserRef { id: "jira-account-id".into(), email: Some(email.into()), display_name: None })
}

fn seed_item(ty: &str, title: &str, priority: u8, at: chrono::DateTime<Utc>) -> AdoSeedWorkItem {
    let mut fields = Map::new();
    fields.insert("System.Title".into(), json!(title));
    fields.insert(PRIORITY.into(), json!(priority));
    AdoSeedWorkItem {
        project: "App".into(),
        work_item_type: ty.into(),
        fields,
        created_by: "alice@acme.test".into(),
        created_at: Some(at),
    }
}

#[tokio::test]
async fn changed_since_reads_more_than_200_items_oldest_first_in_batches() {
    let mut seed = AdoSeed::demo();
    let t0 = Utc::now() - ChronoDuration::hours(2);
    // Reverse creation order so the id order differs from the ChangedDate order.
    for i in 0..205u32 {
        let at = t0 + ChronoDuration::seconds(i64::from(205 - i));
        seed.work_items.push(seed_item("Bug", &format!("bug {i}"), (i % 4 + 1) as u8, at));
    }
    seed.work_items.push(seed_item("Task", "not a bug", 1, t0 + ChronoDuration::seconds(10)));
    let sim = AdoSim::start(seed).await.unwrap();
    let c = connector(&sim);
    sim.clear_requests();

    let fields = keys(&["System.Title", PRIORITY, "System.CreatedBy"]);
    let snaps = c.changed_since(&bugs("App"), t0, None, &fields).await.unwrap();
    assert_eq!(snaps.len(), 205);
    assert!(snaps.windows(2).all(|w| (w[0].updated, w[0].id.as_str().parse::<u64>().unwrap())
        < (w[1].updated, w[1].id.as_str().parse::<u64>().unwrap())));
    let first = &snaps[0];
    assert_eq!(first.field(&FieldKey::new("System.Title")), Some(&FieldValue::Text("bug 204".into())));
    assert!(matches!(first.field(&FieldKey::new(PRIORITY)), Some(FieldValue::Number(_))));
    assert!(matches!(first.field(&FieldKey::new("System.CreatedBy")), Some(FieldValue::User(u)) if u.id == ALICE));
    assert_eq!(first.revision, "1");
    assert!(first.url.ends_with(&format!("/acme/App/_workitems/edit/{}", first.id)));

    let batches: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.to_ascii_lowercase().ends_with("/_apis/wit/workitemsbatch"))
        .collect();
    assert_eq!(batches.len(), 3, "205 ids are read a page of 100 at a time");
    assert!(sim.requests().iter().all(|r| r.query.contains("api-version=7.1")));

    // The window starts at `since`, inclusive.
    let later = c.changed_since(&bugs("App"), snaps[200].updated, None, &fields).await.unwrap();
    assert_eq!(later.len(), 5);

    // Filters push into the WIQL, plain and negated.
    let p1 = QueryFilter { condition: format!("[{PRIORITY}] = 1"), negate: false };
    let only = c.changed_since(&bugs("App"), t0, Some(&p1), &fields).await.unwrap();
    assert_eq!(only.len(), 52);
    let not = QueryFilter { negate: true, ..p1 };
    let rest = c.changed_since(&bugs("App"), t0, Some(&not), &fields).await.unwrap();
    assert_eq!(rest.len(), 153);
}

#[tokio::test]
async fn create_and_update_coerce_identities_priorities_and_html() {
    let (_sim, c) = demo().await;
    let scope = bugs("App");
    let created = c
        .create(
            &scope,
            &[
                change("System.Title", FieldValue::Text("Checkout <fails>".into())),
                change("System.Description", FieldValue::Text("a < b".into())),
                change("System.AssignedTo", email_user("ALICE@acme.test")),
                change(PRIORITY, FieldValue::Option("1".into())),
                change("System.Tags", FieldValue::List(vec!["jira".into(), "sync".into()])),
                change("Custom.JiraKey", FieldValue::Text("APP-1".into())),
                change("Microsoft.VSTS.Scheduling.StoryPoints", FieldValue::Null),
            ],
        )
        .await
        .unwrap();
    assert_eq!(created.revision, "1");
    assert_eq!(created.key, created.id.as_str());
    assert!(created.url.ends_with(&format!("/App/_workitems/edit/{}", created.id)));

    let fields =
        keys(&["System.Title", "System.Description", "System.AssignedTo", PRIORITY, "System.Tags", "System.State"]);
    let s = c.get(&scope, &created.id, &fields).await.unwrap().unwrap();
    assert_eq!(s.revision, "1");
    assert_eq!(s.updated, created.updated);
    assert_eq!(s.changed_by.as_ref().map(|u| u.id.as_str()), Some(BOT));
    let f = |k: &str| s.field(&FieldKey::new(k)).cloned();
    assert_eq!(f("System.Title"), Some(FieldValue::Text("Checkout <fails>".into())));
    assert_eq!(f("System.Description"), Some(FieldValue::RichText("a &lt; b".into())));
    assert!(matches!(f("System.AssignedTo"), Some(FieldValue::User(u)) if u.id == ALICE));
    assert_eq!(f(PRIORITY), Some(FieldValue::Number(1.0)));
    assert_eq!(f("System.Tags"), Some(FieldValue::List(vec!["jira".into(), "sync".into()])));
    assert_eq!(f("System.State"), Some(FieldValue::Text("New".into())));

    let updated = c
        .update(
            &scope,
            &created.id,
            &[
                change(PRIORITY, FieldValue::Text("3".into())),
                change("System.AssignedTo", email_user("bob@acme.test")),
                change("System.State", FieldValue::Option("Active".into())),
                change("System.Tags", FieldValue::Null),
            ],
            Some("1"),
            &[],
        )
        .await
        .unwrap()
        .target;
    assert_eq!(updated.revision, "2");
    assert!(updated.updated >= created.updated);
    let s = c.get(&scope, &created.id, &fields).await.unwrap().unwrap();
    let f = |k: &str| s.field(&FieldKey::new(k)).cloned();
    assert_eq!(f(PRIORITY), Some(FieldValue::Number(3.0)));
    assert!(matches!(f("System.AssignedTo"), Some(FieldValue::User(u)) if u.id == BOB));
    assert_eq!(f("System.State"), Some(FieldValue::Text("Active".into())));
    assert_eq!(f("System.Tags"), Some(FieldValue::Null), "removed tags read as empty");

    // Idempotent-create search by the remote id field.
    let found = c.find_by_field(&scope, &FieldKey::new("Custom.JiraKey"), "APP-1").await.unwrap().unwrap();
    assert_eq!(found.id, created.id);
    assert_eq!(found.revision, "2");
    assert!(c.find_by_field(&scope, &FieldKey::new("Custom.JiraKey"), "APP-1' OR 'x'='x").await.unwrap().is_none());
}

#[tokio::test]
async fn an_update_answers_with_the_work_item_as_written() {
    let (sim, c) = demo().await;
    let scope = bugs("App");
    let r = c.create(&scope, &[change("System.Title", FieldValue::Text("t".into()))]).await.unwrap();
    // The tags read back without the empty one, the description as the item holds it.
    let fields = keys(&["System.Title", "System.Description", "System.Tags", PRIORITY]);
    let _ = c.get(&scope, &r.id, &fields).await.unwrap();
    sim.clear_requests();
    let edit = [
        change("System.Title", FieldValue::Text("t2".into())),
        change("System.Description", FieldValue::RichText("<p>a &lt; b</p>".into())),
    ];
    let u = c.update(&scope, &r.id, &edit, Some(&r.revision), &fields).await.unwrap();
    let sent: Vec<String> = sim.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(sent.len(), 1, "the PATCH alone: {sent:?}");
    let read = u.read.expect("the work item as the PATCH answered it");
    assert_eq!(read, c.get(&scope, &r.id, &fields).await.unwrap().unwrap(), "the same snapshot as a read");
    assert_eq!(read.revision, u.target.revision);
    assert_eq!(u.history, None, "an atomic update holds nothing else");
    // No fields asked for: no snapshot.
    let bare = c.update(&scope, &r.id, &[edit[0].clone()], None, &[]).await.unwrap();
    assert_eq!(bare.read, None);
}

#[tokio::test]
async fn a_stale_revision_is_a_conflict_and_writes_nothing() {
    let (_sim, c) = demo().await;
    let scope = bugs("App");
    let r = c.create(&scope, &[change("System.Title", FieldValue::Text("t".into()))]).await.unwrap();
    c.update(&scope, &r.id, &[change("System.Title", FieldValue::Text("t2".into()))], Some("1"), &[]).await.unwrap();
    let err = c
        .update(&scope, &r.id, &[change("System.Title", FieldValue::Text("t3".into()))], Some("1"), &[])
        .await
        .unwrap_err();
    assert_eq!(err.category, ErrorCategory::Conflict, "{err}");
    // With nothing to write the guard still applies, and no revision is added.
    let same = c.update(&scope, &r.id, &[], Some("2"), &[]).await.unwrap().target;
    assert_eq!(same.revision, "2");
    let err = c.update(&scope, &r.id, &[], Some("1"), &[]).await.unwrap_err();
    assert_eq!(err.category, ErrorCategory::Conflict, "{err}");
    let s = c.get(&scope, &r.id, &keys(&["System.Title"])).await.unwrap().unwrap();
    assert_eq!(s.revision, "2");
    assert_eq!(s.field(&FieldKey::new("System.Title")), Some(&FieldValue::Text("t2".into())));
}

#[tokio::test]
async fn invalid_writes_are_classified_without_leaking_the_pat() {
    let (_sim, c) = demo().await;
    let scope = bugs("App");
    let err = c
        .create(
            &scope,
            &[
                change("System.Title", FieldValue::Text("t".into())),
                change("Custom.Nope", FieldValue::Text("x".into())),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err.category, ErrorCategory::InvalidRequest, "{err}");
    assert!(!err.message.contains("ado-bot-pat"));

    let err = c
        .create(
            &scope,
            &[
                change("System.Title", FieldValue::Text("t".into())),
                change("System.AssignedTo", email_user("erin@acme.test")),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err.category, ErrorCategory::UserNotFound, "{err}");

    let err = c.create(&scope, &[change(PRIORITY, FieldValue::Option("High".into()))]).await.unwrap_err();
    assert_eq!(err.category, ErrorCategory::InvalidRequest, "{err}");

    assert!(c.get(&scope, &EntityId::new("999999"), &[]).await.unwrap().is_none());
}

/// A remote link to Jira issue APP-1.
fn jira_app_1() -> RemoteLink {
    RemoteLink {
        global_id: "ferry:app-bugs:left:10001".into(),
        url: "https://acme.atlassian.net/browse/APP-1".into(),
        title: "Jira APP-1".into(),
    }
}

#[tokio::test]
async fn remote_link_upserted_twice_is_one_hyperlink() {
    let (sim, c) = demo().await;
    let scope = bugs("App");
    let r = c.create(&scope, &[change("System.Title", FieldValue::Text("linked".into()))]).await.unwrap();
    let link = jira_app_1();
    c.upsert_remote_link(&scope, &r.id, &link).await.unwrap();
    c.upsert_remote_link(&scope, &r.id, &link).await.unwrap();
    let item = sim.work_item_json(r.id.as_str().parse().unwrap()).unwrap();
    let rels = item["relations"].as_array().cloned().unwrap_or_default();
    assert_eq!(rels.len(), 1, "{item}");
    assert_eq!(rels[0]["rel"], "Hyperlink");
    assert_eq!(rels[0]["url"], link.url.as_str());
    assert_eq!(rels[0]["attributes"]["comment"], "Jira APP-1");
    assert_eq!(item["rev"], 2);
}

/// A person saves the work item between the upsert's read and its write (the rev guard
/// fails): the upsert reads again and adds the link once, instead of failing the write.
#[tokio::test]
async fn remote_link_upserted_while_someone_saves_the_item_is_added_once() {
    let (sim, c) = demo().await;
    let scope = bugs("App");
    let r = c.create(&scope, &[change("System.Title", FieldValue::Text("linked".into()))]).await.unwrap();
    let link = jira_app_1();
    sim.faults().stale_revision_next(2);
    c.upsert_remote_link(&scope, &r.id, &link).await.unwrap();
    let item = sim.work_item_json(r.id.as_str().parse().unwrap()).unwrap();
    let rels = item["relations"].as_array().cloned().unwrap_or_default();
    assert_eq!(rels.len(), 1, "{item}");
    assert_eq!(item["rev"], 4, "two saves by someone else, then the link");
    assert!(!sim.faults().take_stale_revision(), "both moves were met");
}

#[tokio::test]
async fn users_are_found_by_exact_email_only() {
    let (_sim, c) = demo().await;
    let me = c.integration_user().await.unwrap();
    assert_eq!(me.id, BOT);
    assert_eq!(me.email.as_deref(), Some("ferry-bot@acme.test"));
    let alice = c.find_user_by_email("ALICE@acme.test").await.unwrap().unwrap();
    assert_eq!(alice.id, ALICE);
    assert_eq!(alice.display_name.as_deref(), Some("Alice Jones"));
    // Carol is carol.w@ in ADO; Erin has no account; prefixes do not match.
    assert!(c.find_user_by_email("carol@acme.test").await.unwrap().is_none());
    assert!(c.find_user_by_email("erin@acme.test").await.unwrap().is_none());
    assert!(c.find_user_by_email("ali").await.unwrap().is_none());
    assert_eq!(
        c.find_user_by_email("carol.w@acme.test").await.unwrap().map(|u| u.id),
        Some("8c2a0000-0000-4000-8000-000000000004".into())
    );
}

#[tokio::test]
async fn an_unknown_integration_user_is_a_config_error() {
    let sim = AdoSim::start(AdoSeed::demo()).await.unwrap();
    let mut sys = system(&sim.base_url());
    sys.integration_user = Some("nobody@acme.test".into());
    let c = AdoConnector::new(
        &sys,
        SecretString::from("ado-bot-pat"),
        HttpOptions { allow_http_loopback: true, ..HttpOptions::default() },
    )
    .unwrap();
    let err = c.integration_user().await.unwrap_err();
    assert_eq!(err.category, ErrorCategory::Config, "{err}");
}

#[tokio::test]
async fn last_updated_is_none_for_an_empty_project_and_the_newest_change_otherwise() {
    let (_sim, c) = demo().await;
    assert_eq!(c.last_updated(&bugs("Ops")).await.unwrap(), None);
    let scope = bugs("App");
    let a = c.create(&scope, &[change("System.Title", FieldValue::Text("a".into()))]).await.unwrap();
    let b = c.create(&scope, &[change("System.Title", FieldValue::Text("b".into()))]).await.unwrap();
    assert!(b.updated >= a.updated);
    assert_eq!(c.last_updated(&scope).await.unwrap(), Some(b.updated));
    let users = c.users("App").await.unwrap();
    assert!(users.iter().any(|u| u.id == BOT), "{users:?}");
    assert!(c.users("Ops").await.unwrap().is_empty());
}

#[tokio::test]
async fn discovery_lists_projects_types_states_and_typed_fields() {
    let (_sim, c) = demo().await;
    let projects = c.projects().await.unwrap();
    let names: Vec<_> = projects.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"App") && names.contains(&"Ops"), "{names:?}");
    let app = projects.iter().find(|p| p.name == "App").unwrap();
    assert_eq!(app.id, "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c");

    let types = c.entity_types("App").await.unwrap();
    let bug = types.iter().find(|t| t.name == "Bug").unwrap();
    assert_eq!(bug.states, vec!["New", "Active", "Resolved", "Closed"]);

    let fields = c.fields(&bugs("App")).await.unwrap();
    let get = |k: &str| fields.iter().find(|f| f.key.as_str() == k).unwrap();
    assert_eq!(get(PRIORITY).field_type, FieldType::Number);
    assert_eq!(get(PRIORITY).allowed_values, vec!["1", "2", "3", "4"]);
    assert_eq!(get("Microsoft.VSTS.Common.Severity").field_type, FieldType::Option);
    assert_eq!(get("System.AssignedTo").field_type, FieldType::User);
    assert_eq!(get("System.Description").field_type, FieldType::RichText);
    assert_eq!(get("System.Tags").field_type, FieldType::List);
    assert_eq!(get("Custom.JiraKey").field_type, FieldType::Text);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_retried() {
    let (sim, c) = demo().await;
    sim.faults().rate_limit_next(1, 1);
    let started = Instant::now();
    let projects = c.projects().await.unwrap();
    assert!(!projects.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
}

#[tokio::test]
async fn changed_since_narrows_past_the_20000_item_wiql_cap_without_losing_items() {
    let mut seed = AdoSeed::demo();
    let t0 = Utc::now() - ChronoDuration::days(2);
    let n = 20_010u32;
    for i in 0..n {
        let at = t0 + ChronoDuration::seconds(i64::from(i));
        seed.work_items.push(seed_item("Bug", "bulk", 2, at));
    }
    let sim = AdoSim::start(seed).await.unwrap();
    let c = connector(&sim);
    sim.clear_requests();
    let snaps = c.changed_since(&bugs("App"), t0, None, &[]).await.unwrap();
    assert_eq!(snaps.len(), n as usize);
    let wiql_calls = sim.requests().iter().filter(|r| r.path.ends_with("/_apis/wit/wiql")).count();
    assert!(wiql_calls >= 3, "the capped window is split, got {wiql_calls} queries");
}

#[tokio::test]
async fn a_field_left_out_is_empty_when_the_type_has_it_and_missing_when_it_does_not() {
    let (sim, c) = demo().await;
    let since = Utc::now() - ChronoDuration::seconds(5);
    let created = c
        .create(
            &bugs("App"),
            &[change("System.Title", FieldValue::Text("t".into())), change(PRIORITY, FieldValue::Number(2.0))],
        )
        .await
        .unwrap();
    let wanted = keys(&["System.Title", "System.Description", "Custom.JiraKey", PRIORITY]);
    // Azure DevOps leaves empty fields out of a work item: read as empty.
    let read = c.get(&bugs("App"), &created.id, &wanted).await.unwrap().unwrap();
    assert_eq!(read.fields.get(&FieldKey::new("System.Description")), Some(&FieldValue::Null));
    assert_eq!(read.fields.get(&FieldKey::new("Custom.JiraKey")), Some(&FieldValue::Null));

    // A process change takes Custom.JiraKey off the Bug type: the field is missing now.
    sim.remove_type_field("Bug", "Custom.JiraKey");
    let fresh = connector(&sim);
    let read = fresh.get(&bugs("App"), &created.id, &wanted).await.unwrap().unwrap();
    assert_eq!(read.fields.get(&FieldKey::new("Custom.JiraKey")), None, "{:?}", read.fields);
    assert_eq!(read.fields.get(&FieldKey::new("System.Description")), Some(&FieldValue::Null));
    assert_eq!(read.fields.get(&FieldKey::new(PRIORITY)), Some(&FieldValue::Number(2.0)));
    let polled = fresh.changed_since(&bugs("App"), since, None, &wanted).await.unwrap();
    assert_eq!(polled.len(), 1);
    assert!(!polled[0].fields.contains_key(&FieldKey::new("Custom.JiraKey")), "{:?}", polled[0].fields);
    assert_eq!(polled[0].fields.get(&FieldKey::new("System.Description")), Some(&FieldValue::Null));
}

#[tokio::test]
async fn azure_devops_judges_a_filter_and_a_breakout_never_reaches_it() {
    let (sim, c) = demo().await;
    c.validate_filter(&bugs("App"), "[System.Tags] CONTAINS 'sync' OR ([System.State] = 'New')").await.unwrap();
    let e = c.validate_filter(&bugs("App"), "[System.Tags] CONTAINZ 'sync'").await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::Config);
    assert!(e.message.contains("Azure DevOps refuses the criteria filter"), "{e}");
    sim.clear_requests();
    for breakout in
        ["[System.Tags] CONTAINS 'sync') OR ([System.TeamProject] <> ''", "[System.Id] > 0 ASOF '2020-01-01T00:00:00Z'"]
    {
        let e = c.validate_filter(&bugs("App"), breakout).await.unwrap_err();
        assert_eq!(e.category, ErrorCategory::Config, "{breakout}: {e}");
        let filter = QueryFilter { condition: breakout.into(), negate: false };
        let e = c.changed_since(&bugs("App"), Utc::now(), Some(&filter), &keys(&["System.Title"])).await.unwrap_err();
        assert_eq!(e.category, ErrorCategory::Config, "{breakout}: {e}");
    }
    let sent: Vec<String> = sim.requests().iter().map(|r| r.path.to_ascii_lowercase()).collect();
    assert!(!sent.iter().any(|p| p.ends_with("/wiql")), "{sent:?}");
}

#[tokio::test]
async fn a_read_of_changes_pages_by_position_through_tied_instants_and_edits_between_pages() {
    let mut seed = AdoSeed::demo();
    let t0 = Utc::now() - ChronoDuration::hours(1);
    let t0 = chrono::DateTime::from_timestamp_millis(t0.timestamp_millis()).unwrap();
    // 25 bugs changed in one millisecond, and 5 a second later.
    for i in 0..30u32 {
        let at = if i < 25 { t0 } else { t0 + ChronoDuration::seconds(1) };
        seed.work_items.push(seed_item("Bug", &format!("bug {i}"), 2, at));
    }
    let sim = AdoSim::start(seed).await.unwrap();
    let c = connector(&sim);
    let seen = std::collections::BTreeMap::new();
    let fields = keys(&["System.Title"]);
    let query = ChangeQuery { since: t0, filter: None, fields: &fields, seen: &seen, page_size: 10 };
    let first = c.changes(&bugs("App"), &query, None).await.unwrap();
    assert_eq!(first.snapshots.len(), 10);
    assert_eq!(first.through, Some(t0), "the page ended inside the tied millisecond");
    assert!(first.next.is_some());
    // An item of the first page is edited between pages: it comes again, at the end.
    let edited = first.snapshots[0].id.clone();
    c.update(&bugs("App"), &edited, &[change("System.Title", FieldValue::Text("edited".into()))], None, &[])
        .await
        .unwrap();
    let mut read: Vec<EntityId> = first.snapshots.iter().map(|s| s.id.clone()).collect();
    let mut from = first.next.clone();
    let mut pages = 1;
    while let Some(token) = from {
        let page = c.changes(&bugs("App"), &query, Some(&token)).await.unwrap();
        read.extend(page.snapshots.iter().map(|s| s.id.clone()));
        from = page.next;
        pages += 1;
        assert!(pages < 10, "the read must end");
    }
    assert_eq!(read.len(), 31, "30 items and the edited one again: {read:?}");
    let distinct: std::collections::BTreeSet<_> = read.iter().collect();
    assert_eq!(distinct.len(), 30, "none skipped");
    assert_eq!(read.last(), Some(&edited));
    let wiql: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.to_ascii_lowercase().ends_with("/_apis/wit/wiql"))
        .map(|r| r.query)
        .collect();
    assert!(wiql.iter().all(|q| q.contains("%24top=10") || q.contains("$top=10")), "{wiql:?}");
    let e = c.changes(&bugs("App"), &query, Some(&ReadToken("not json".into()))).await.unwrap_err();
    assert_eq!(e.category, ErrorCategory::InvalidRequest);
}

#[tokio::test]
async fn history_reads_the_work_item_updates_between_two_revs() {
    let (sim, bot) = demo().await;
    let alice = AdoConnector::new(
        &system(&sim.base_url()),
        SecretString::from("ado-alice-pat"),
        HttpOptions { allow_http_loopback: true, ..HttpOptions::default() },
    )
    .unwrap();
    let app = bugs("App");
    let made = bot.create(&app, &[change("System.Title", FieldValue::Text("history".into()))]).await.unwrap();
    alice.update(&app, &made.id, &[change(PRIORITY, FieldValue::Number(1.0))], None, &[]).await.unwrap();
    let last = bot
        .update(&app, &made.id, &[change("System.State", FieldValue::Text("Active".into()))], None, &[])
        .await
        .unwrap()
        .target;

    let all = bot.history(&app, &made.id, None, &last.revision, &keys(&["system.title", PRIORITY])).await.unwrap();
    let who: Vec<(&str, bool)> =
        all.iter().map(|e| (e.author.as_ref().map_or("?", |a| a.id.as_str()), e.created)).collect();
    assert_eq!(who, [(BOT, true), (ALICE, false), (BOT, false)], "{all:?}");
    // Fields come back under the caller's keys, values in Ferry's form.
    assert!(all[0].fields.contains(&(FieldKey::new("system.title"), Some(FieldValue::Text("history".into())))));
    assert!(all[1].fields.contains(&(FieldKey::new(PRIORITY), Some(FieldValue::Number(1.0)))));
    assert!(all[2].fields.iter().any(|(k, _)| k.as_str() == "System.State"));

    let window = bot.history(&app, &made.id, Some(&made.revision), &last.revision, &[]).await.unwrap();
    assert_eq!(window.len(), 2, "alice's update and Ferry's: {window:?}");
    assert!(bot.history(&app, &made.id, Some(&last.revision), &last.revision, &[]).await.unwrap().is_empty());
    assert!(bot.atomic_updates(), "updates carry test /rev");
}

#[tokio::test]
async fn get_many_reads_work_items_in_one_batch_each_exactly_as_get_does() {
    let (sim, c) = demo().await;
    let scope = bugs("App");
    let a = c.create(&scope, &[change("System.Title", FieldValue::Text("plain".into()))]).await.unwrap();
    let b = c
        .create(
            &scope,
            &[
                change("System.Title", FieldValue::Text("rich".into())),
                change("System.Description", FieldValue::Text("a < b".into())),
                change("System.AssignedTo", email_user("alice@acme.test")),
                change(PRIORITY, FieldValue::Option("1".into())),
                change("System.Tags", FieldValue::List(vec!["jira".into(), "sync".into()])),
            ],
        )
        .await
        .unwrap();
    c.update(&scope, &a.id, &[change("System.State", FieldValue::Option("Active".into()))], Some("1"), &[])
        .await
        .unwrap();
    let fields =
        keys(&["System.Title", "System.Description", "System.AssignedTo", PRIORITY, "System.Tags", "System.State"]);
    let missing = EntityId::new("999999");
    let ids = [b.id.clone(), missing.clone(), a.id.clone()];

    let mut one_by_one = Vec::new();
    for id in &ids {
        one_by_one.extend(c.get(&scope, id, &fields).await.unwrap());
    }
    one_by_one.sort_by(|x, y| x.id.cmp(&y.id));

    // The type's fields are known now (both reads share that cache): one request.
    sim.clear_requests();
    let mut many = c.get_many(&scope, &ids, &fields).await.unwrap();
    let sent: Vec<(String, String)> = sim.requests().iter().map(|r| (r.method.clone(), r.path.clone())).collect();
    assert_eq!(sent, [("POST".to_string(), "/acme/App/_apis/wit/workitemsbatch".to_string())]);
    many.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(one_by_one.len(), 2, "the missing work item reads as none");
    assert_eq!(many, one_by_one);
    // No field list: every field, as `get` reads it.
    let all = c.get_many(&scope, std::slice::from_ref(&a.id), &[]).await.unwrap();
    assert_eq!(all, [c.get(&scope, &a.id, &[]).await.unwrap().unwrap()]);
    assert!(c.get_many(&scope, &[], &fields).await.unwrap().is_empty());
}
