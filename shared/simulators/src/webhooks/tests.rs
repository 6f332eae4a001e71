//! Both simulators deliver to a receiver on loopback: subscriptions registered over
//! each service's API, deliveries shaped and signed as the service does, and each
//! delivery fault.

use crate::{AdoSeed, AdoSim, DeliveryFault, JiraSeed, JiraSim};
use axum::extract::State;
use axum::http::HeaderMap;
use base64::Engine as _;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the receiver got: each delivery's headers (lower-case names) and JSON body.
type Got = Arc<Mutex<Vec<(Vec<(String, String)>, Value, Vec<u8>)>>>;

async fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hooks/:system",
            axum::routing::post(|State(got): State<Got>, headers: HeaderMap, body: axum::body::Bytes| async move {
                let h = headers.iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
                got.lock().unwrap().push((h, serde_json::from_slice(&body).unwrap_or(Value::Null), body.to_vec()));
                "ok"
            }),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, got)
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map_or("", |(_, v)| v.as_str())
}

async fn wait_for(got: &Got, n: usize) {
    for _ in 0..100 {
        if got.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn call(method: reqwest::Method, url: String, auth: (&str, &str), body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url).basic_auth(auth.0, Some(auth.1));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

const ALICE: (&str, &str) = ("alice@acme.test", "jira-alice-token");

async fn jira_issue(sim: &JiraSim, summary: &str) -> String {
    let body = json!({"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Bug"}, "summary": summary}});
    let (status, out) =
        call(reqwest::Method::POST, format!("{}/rest/api/3/issue", sim.base_url()), ALICE, Some(body)).await;
    assert_eq!(status, 201, "{out}");
    out["key"].as_str().expect("key").to_string()
}

#[tokio::test]
async fn jira_signs_each_event_of_a_registered_webhook_with_its_secret() {
    let sim = JiraSim::start(JiraSeed::demo()).await.expect("sim");
    let (url, got) = receiver().await;
    let register = json!({
        "name": "ferry", "url": format!("{url}/hooks/jira"),
        "events": ["jira:issue_created", "jira:issue_updated", "comment_created"],
        "filters": {"issue-related-events-section": "project = APP"},
        "secret": "s3cret",
    });
    let webhooks = format!("{}/rest/webhooks/1.0/webhook", sim.base_url());
    let (status, created) = call(reqwest::Method::POST, webhooks.clone(), ALICE, Some(register)).await;
    assert_eq!(status, 201, "{created}");
    assert!(created.get("secret").is_none(), "the secret is never shown again: {created}");

    let key = jira_issue(&sim, "Hooked").await;
    let edit = json!({"fields": {"summary": "Hooked, edited"}});
    let (s, _) =
        call(reqwest::Method::PUT, format!("{}/rest/api/3/issue/{key}", sim.base_url()), ALICE, Some(edit)).await;
    assert_eq!(s, 204);
    wait_for(&got, 2).await;
    let got = got.lock().unwrap().clone();
    let events: Vec<&str> = got.iter().map(|(_, b, _)| b["webhookEvent"].as_str().unwrap_or("")).collect();
    assert_eq!(events, ["jira:issue_created", "jira:issue_updated"]);
    for (h, body, raw) in &got {
        assert_eq!(body["issue"]["key"], key.as_str());
        assert_eq!(body["issue"]["fields"]["project"]["key"], "APP");
        assert_eq!(body["user"]["emailAddress"], "alice@acme.test");
        assert_eq!(header(h, "x-hub-signature"), super::jira::signature(b"s3cret", raw));
        assert!(!header(h, "x-atlassian-webhook-identifier").is_empty());
    }
    assert_eq!(got[1].1["changelog"]["items"][0]["field"], "summary", "{}", got[1].1);

    let (status, list) = call(reqwest::Method::GET, webhooks.clone(), ALICE, None).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)));
    let id = created["self"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let (status, _) = call(reqwest::Method::DELETE, format!("{webhooks}/{id}"), ALICE, None).await;
    assert_eq!(status, 204);
}

/// Admin webhooks need the Administer Jira global permission: anyone else is refused
/// with 403 on every operation, and nothing is registered (`ferry activate` then prints
/// the manual steps).
#[tokio::test]
async fn only_a_jira_administrator_may_manage_admin_webhooks() {
    const BOB: (&str, &str) = ("bob@acme.test", "jira-bob-token");
    let sim = JiraSim::start(JiraSeed::demo()).await.expect("sim");
    let webhooks = format!("{}/rest/webhooks/1.0/webhook", sim.base_url());
    let register = json!({"name": "f", "url": "http://127.0.0.1:9/hooks/jira", "events": ["jira:issue_created"]});

    let (status, refused) = call(reqwest::Method::POST, webhooks.clone(), BOB, Some(register.clone())).await;
    assert_eq!(status, 403, "{refused}");
    assert!(refused["errorMessages"][0].as_str().unwrap_or_default().contains("Administer Jira"), "{refused}");
    assert_eq!(call(reqwest::Method::GET, webhooks.clone(), BOB, None).await.0, 403);
    let (status, created) = call(reqwest::Method::POST, webhooks.clone(), ALICE, Some(register)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["self"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    assert_eq!(call(reqwest::Method::DELETE, format!("{webhooks}/{id}"), BOB, None).await.0, 403);
    assert_eq!(call(reqwest::Method::GET, format!("{webhooks}/{id}"), BOB, None).await.0, 403);
    let (status, list) = call(reqwest::Method::GET, webhooks, ALICE, None).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)), "only the administrator's registration");
}

#[tokio::test]
async fn delivery_faults_lose_repeat_reorder_delay_and_missign() {
    let sim = JiraSim::start(JiraSeed::demo()).await.expect("sim");
    let (url, got) = receiver().await;
    let register =
        json!({"name": "f", "url": format!("{url}/hooks/jira"), "events": ["jira:issue_created"], "secret": "k"});
    call(reqwest::Method::POST, format!("{}/rest/webhooks/1.0/webhook", sim.base_url()), ALICE, Some(register)).await;
    let out = sim.webhooks();

    out.set_fault(DeliveryFault::Lost);
    jira_issue(&sim, "lost").await;
    out.set_fault(DeliveryFault::Duplicated);
    jira_issue(&sim, "twice").await;
    wait_for(&got, 2).await;
    out.set_fault(DeliveryFault::Reordered);
    jira_issue(&sim, "held back").await;
    out.set_fault(DeliveryFault::BadSignature);
    jira_issue(&sim, "forged").await;
    wait_for(&got, 4).await;
    out.set_fault(DeliveryFault::Delayed(Duration::from_millis(300)));
    jira_issue(&sim, "late").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(got.lock().unwrap().len(), 4, "the delayed one has not arrived yet");
    wait_for(&got, 5).await;

    let got = got.lock().unwrap().clone();
    let summaries: Vec<&str> =
        got.iter().map(|(_, b, _)| b["issue"]["fields"]["summary"].as_str().unwrap_or("")).collect();
    assert_eq!(
        summaries,
        ["twice", "twice", "forged", "held back", "late"],
        "lost never arrives; held back after the next"
    );
    let id = |i: usize| header(&got[i].0, "x-atlassian-webhook-identifier").to_string();
    assert_eq!(id(0), id(1), "a duplicate repeats its delivery id");
    let signed_right = |i: usize| header(&got[i].0, "x-hub-signature") == super::jira::signature(b"k", &got[i].2);
    assert_eq!((0..5).map(signed_right).collect::<Vec<_>>(), [true, true, false, true, true]);
    assert_eq!(out.sent().iter().filter(|s| s.status.is_none()).count(), 1, "the lost one is recorded as not sent");
}

#[tokio::test]
async fn ado_sends_work_item_events_with_the_subscriptions_credentials() {
    let sim = AdoSim::start(AdoSeed::demo()).await.expect("sim");
    let (url, got) = receiver().await;
    let pat = ("", "ado-alice-pat");
    let (_, projects) =
        call(reqwest::Method::GET, format!("{}/_apis/projects?api-version=7.1", sim.base_url()), pat, None).await;
    let project_id = projects["value"].as_array().unwrap().iter().find(|p| p["name"] == "App").unwrap()["id"].clone();
    let subscriptions = format!("{}/_apis/hooks/subscriptions?api-version=7.1", sim.base_url());
    for event in ["workitem.created", "workitem.updated"] {
        let body = json!({
            "publisherId": "tfs", "eventType": event, "resourceVersion": "1.0",
            "consumerId": "webHooks", "consumerActionId": "httpRequest",
            "publisherInputs": {"projectId": project_id},
            "consumerInputs": {"url": format!("{url}/hooks/ado"), "basicAuthUsername": "ferry",
                "basicAuthPassword": "pw", "httpHeaders": "X-Ferry-Hook: hv"},
        });
        let (status, s) = call(reqwest::Method::POST, subscriptions.clone(), pat, Some(body)).await;
        assert_eq!(status, 200, "{s}");
        assert_eq!(s["consumerInputs"]["basicAuthPassword"], "********");
    }
    let create = json!([{"op": "add", "path": "/fields/System.Title", "value": "Hooked"}]);
    let resp = reqwest::Client::new()
        .post(format!("{}/App/_apis/wit/workitems/$Task?api-version=7.1", sim.base_url()))
        .basic_auth("", Some("ado-alice-pat"))
        .header("content-type", "application/json-patch+json")
        .json(&create)
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status().as_u16(), 200);
    let id = resp.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let update = json!([{"op": "add", "path": "/fields/System.Title", "value": "Hooked, edited"}]);
    let resp = reqwest::Client::new()
        .patch(format!("{}/_apis/wit/workitems/{id}?api-version=7.1", sim.base_url()))
        .basic_auth("", Some("ado-alice-pat"))
        .header("content-type", "application/json-patch+json")
        .json(&update)
        .send()
        .await
        .expect("update");
    assert_eq!(resp.status().as_u16(), 200);
    wait_for(&got, 2).await;

    let got = got.lock().unwrap().clone();
    let events: Vec<&str> = got.iter().map(|(_, b, _)| b["eventType"].as_str().unwrap_or("")).collect();
    assert_eq!(events, ["workitem.created", "workitem.updated"]);
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ferry:pw"));
    for (h, body, _) in &got {
        assert_eq!(header(h, "authorization"), basic);
        assert_eq!(header(h, "x-ferry-hook"), "hv");
        assert_eq!(body["notificationId"], 1, "each subscription counts its own notifications");
        assert_eq!(body["resourceContainers"]["project"]["id"], project_id);
    }
    assert_eq!(got[0].1["resource"]["fields"]["System.TeamProject"], "App");
    assert_eq!(got[1].1["resource"]["workItemId"], id);
    assert_eq!(got[1].1["resource"]["revision"]["fields"]["System.TeamProject"], "App");
}
