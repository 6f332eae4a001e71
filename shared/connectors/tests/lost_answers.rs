//! A request applied whose answer is lost (the simulators' `lose_answer_next`: applied,
//! then answered 504): a create or a comment is not sent again inside the call, so the
//! user's system holds one, and the error says it may have been applied; a read sent as
//! `POST` and an idempotent edit are still sent again and succeed.

use chrono::{Duration as ChronoDuration, Utc};
use ferry_connectors::ado::AdoConnector;
use ferry_connectors::http::HttpOptions;
use ferry_connectors::jira::JiraConnector;
use ferry_domain::ports::Connector;
use ferry_domain::{
    AuthConfig, CommentWrite, ErrorCategory, FieldChange, FieldKey, FieldValue, PortError, Scope, SecretRef,
    SystemConfig, SystemId, SystemKind,
};
use ferry_sim::{AdoSeed, AdoSim, JiraSeed, JiraSim};
use secrecy::SecretString;
use std::time::Duration;

fn system(kind: SystemKind, base_url: String) -> SystemConfig {
    let auth = match kind {
        SystemKind::Jira => {
            AuthConfig::Basic { username: "ferry-bot@acme.test".into(), token: SecretRef::Env("JIRA_TOKEN".into()) }
        }
        _ => AuthConfig::Pat { token: SecretRef::Env("ADO_PAT".into()) },
    };
    SystemConfig {
        id: SystemId::parse("sim").unwrap(),
        kind,
        base_url,
        identity_url: None,
        auth,
        integration_user: Some("ferry-bot@acme.test".into()),
        proxy: None,
        ca_cert: None,
        allow_http_loopback: true,
        webhook: None,
        rate_limit: None,
    }
}

fn opts() -> HttpOptions {
    HttpOptions { backoff_base: Duration::from_millis(10), ..HttpOptions::default() }
}

async fn jira() -> (JiraSim, JiraConnector) {
    let sim = JiraSim::start(JiraSeed::demo()).await.unwrap();
    let c = JiraConnector::new(&system(SystemKind::Jira, sim.base_url()), SecretString::from("jira-bot-token"), opts())
        .unwrap();
    (sim, c)
}

async fn ado() -> (AdoSim, AdoConnector) {
    let sim = AdoSim::start(AdoSeed::demo()).await.unwrap();
    let sys = system(SystemKind::AzureDevops, sim.base_url());
    let c = AdoConnector::new(&sys, SecretString::from("ado-bot-pat"), opts()).unwrap();
    (sim, c)
}

fn scope(project: &str, ty: &str) -> Scope {
    Scope { project: project.into(), entity_type: ty.into() }
}

fn title(field: &str, text: &str) -> Vec<FieldChange> {
    vec![FieldChange { field: FieldKey::new(field), value: FieldValue::Text(text.into()) }]
}

/// The error of a request that may have been applied: a network error, never marked
/// as certainly not applied (the engine then looks for what it made before retrying).
fn assert_maybe_applied(e: &PortError) {
    assert_eq!(e.category, ErrorCategory::Network, "{e}");
    assert!(!e.nothing_applied, "a lost answer may have been applied: {e}");
    assert!(e.message.contains("504"), "{e}");
}

/// How many requests of `method` to a path ending in `suffix` the simulator saw.
fn sent(requests: &[ferry_sim::RequestRecord], method: &str, suffix: &str) -> usize {
    requests.iter().filter(|r| r.method == method && r.path.ends_with(suffix)).count()
}

#[tokio::test]
async fn a_jira_create_whose_answer_is_lost_is_sent_once_and_leaves_one_issue() {
    let (sim, c) = jira().await;
    let before = sim.issue_keys("APP").len();
    sim.faults().lose_answer_next(1, "POST", "/rest/api/3/issue");
    let e = c.create(&scope("APP", "Bug"), &title("summary", "made once")).await.unwrap_err();
    assert_maybe_applied(&e);
    assert_eq!(sim.issue_keys("APP").len(), before + 1, "the lost create was applied, and only once");
    assert_eq!(sent(&sim.requests(), "POST", "/rest/api/3/issue"), 1);
}

#[tokio::test]
async fn a_jira_create_refused_with_429_is_sent_again_in_the_call() {
    let (sim, c) = jira().await;
    let before = sim.issue_keys("APP").len();
    sim.faults().rate_limit_next(1, 0);
    c.create(&scope("APP", "Bug"), &title("summary", "after a refusal")).await.unwrap();
    assert_eq!(sim.issue_keys("APP").len(), before + 1);
}

#[tokio::test]
async fn a_jira_comment_whose_answer_is_lost_is_sent_once() {
    let (sim, c) = jira().await;
    let s = scope("APP", "Bug");
    let issue = c.create(&s, &title("summary", "commented")).await.unwrap();
    sim.faults().lose_answer_next(1, "POST", "/comment");
    let write = CommentWrite { body: "<p>once</p>".into(), origin: "ferry:i:right:1:1".into() };
    let e = c.add_comment(&s, &issue.id, &write).await.unwrap_err();
    assert_maybe_applied(&e);
    assert_eq!(c.comments(&s, &issue.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_jira_search_and_an_edit_whose_answers_are_lost_are_sent_again_and_succeed() {
    let (sim, c) = jira().await;
    let s = scope("APP", "Bug");
    let issue = c.create(&s, &title("summary", "found")).await.unwrap();
    sim.clear_requests();
    sim.faults().lose_answer_next(1, "POST", "/rest/api/3/search/jql");
    assert!(c.last_updated(&s).await.unwrap().is_some());
    assert_eq!(sent(&sim.requests(), "POST", "/rest/api/3/search/jql"), 2, "the search was sent again");

    sim.faults().lose_answer_next(1, "PUT", &format!("/rest/api/3/issue/{}", issue.id));
    c.update(&s, &issue.id, &title("summary", "edited"), None, &[]).await.unwrap();
    assert_eq!(sim.issue_json(&issue.key).unwrap()["fields"]["summary"], "edited");
}

#[tokio::test]
async fn an_ado_create_whose_answer_is_lost_is_sent_once_and_leaves_one_work_item() {
    let (sim, c) = ado().await;
    let before = sim.work_item_ids("App").len();
    sim.faults().lose_answer_next(1, "POST", "/_apis/wit/workitems/$Bug");
    let e = c.create(&scope("App", "Bug"), &title("System.Title", "made once")).await.unwrap_err();
    assert_maybe_applied(&e);
    assert_eq!(sim.work_item_ids("App").len(), before + 1, "the lost create was applied, and only once");
    assert_eq!(sent(&sim.requests(), "POST", "/_apis/wit/workitems/$Bug"), 1);
}

#[tokio::test]
async fn ado_reads_sent_as_post_whose_answers_are_lost_are_sent_again_and_succeed() {
    let (sim, c) = ado().await;
    let s = scope("App", "Bug");
    let since = Utc::now() - ChronoDuration::minutes(1);
    let made = c.create(&s, &title("System.Title", "read back")).await.unwrap();
    let fields = [FieldKey::new("System.Title")];
    for suffix in ["/_apis/wit/wiql", "/_apis/wit/workitemsbatch"] {
        sim.clear_requests();
        sim.faults().lose_answer_next(1, "POST", suffix);
        let snaps = c.changed_since(&s, since, None, &fields).await.unwrap();
        assert!(snaps.iter().any(|x| x.id == made.id), "{suffix}");
        assert_eq!(sent(&sim.requests(), "POST", suffix), 2, "{suffix} was sent again");
    }
}
