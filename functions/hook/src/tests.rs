use super::*;
use ferry_domain::webhook::verify::jira_signature;
use ferry_domain::webhook::HookConfig;
use ferry_domain::{Flow, IntegrationId, PortError, SecretRef};
use ferry_runtime::{EnvSecrets, StaticSecrets};
use ferry_testsupport::handlers::World;
use std::sync::Mutex;

const SECRET: &str = "jira-webhook-secret";

/// Records the directions it was asked to have polled; fails when told to.
#[derive(Default)]
struct Recorded {
    asked: Mutex<Vec<(IntegrationId, Flow)>>,
    fail: bool,
}

#[async_trait::async_trait]
impl PollTrigger for Recorded {
    async fn poll_soon(&self, integration: &IntegrationId, flow: Flow) -> ferry_domain::ports::PortResult<()> {
        self.asked.lock().unwrap().push((integration.clone(), flow));
        if self.fail {
            return Err(PortError::new(ferry_domain::ErrorCategory::Network, "the poll function is unreachable"));
        }
        Ok(())
    }
}

/// The world with a `webhook:` on the Jira system, and the secret its reference names.
async fn world() -> (World, StaticSecrets<EnvSecrets>) {
    let w = World::new().await;
    let reference = SecretRef::Env("TEST_HOOK_FN_JIRA_SECRET".into());
    let mut jira = w.systems.iter().find(|s| s.id.as_str() == "jira").expect("jira system").clone();
    jira.webhook = Some(HookConfig { secret: Some(reference.clone()), basic: None, header: None });
    w.engine().config_store().put_system(&jira).await.expect("jira with a webhook");
    (w, StaticSecrets::new(EnvSecrets).with(reference, SECRET))
}

fn jira_body() -> String {
    json!({"webhookEvent": "jira:issue_updated",
        "issue": {"id": "10002", "key": "APP-1", "fields": {"project": {"id": "10000", "key": "APP"}}}})
    .to_string()
}

/// The fixture request (a function URL's event as AWS documents it) with `path`, a body
/// and the Jira delivery headers signed with `secret`.
fn event(path: &str, delivery: &str, secret: &str, body: &str, base64: bool) -> Value {
    let mut e: Value = serde_json::from_str(include_str!("../tests/fixtures/function-url-request.json")).unwrap();
    e["rawPath"] = json!(path);
    e["headers"]["x-atlassian-webhook-identifier"] = json!(delivery);
    e["headers"]["x-hub-signature"] = json!(jira_signature(secret.as_bytes(), body.as_bytes()));
    e["body"] = json!(if base64 { base64::engine::general_purpose::STANDARD.encode(body) } else { body.to_string() });
    e["isBase64Encoded"] = json!(base64);
    e
}

fn status_and_outcome(response: &Value) -> (u64, String) {
    assert_eq!(response["headers"]["content-type"], "application/json");
    let body: Value = serde_json::from_str(response["body"].as_str().expect("a text body")).expect("JSON body");
    (response["statusCode"].as_u64().expect("a status"), body["outcome"].as_str().unwrap_or_default().to_string())
}

#[test]
fn only_a_post_to_a_hook_path_is_a_delivery() {
    let cases = [
        ("POST", "/hooks/jira", Ok("jira")),
        ("post", "/hooks/ado-main", Ok("ado-main")),
        ("GET", "/hooks/jira", Err((405, "method_not_allowed"))),
        ("POST", "/", Err((404, "not_found"))),
        ("POST", "/hooks/", Err((404, "not_found"))),
        ("POST", "/hooks/jira/extra", Err((404, "not_found"))),
        ("POST", "/other/jira", Err((404, "not_found"))),
    ];
    for (method, path, want) in cases {
        assert_eq!(route(method, path), want, "{method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_delivery_is_accepted_and_its_direction_is_polled_without_waiting() {
    let (w, secrets) = world().await;
    let trigger = Recorded::default();
    let hook = Hook { engine: w.engine(), secrets: &secrets, trigger: &trigger };
    let body = jira_body();

    for (delivery, base64) in [("d-1", false), ("d-2", true)] {
        let response = handle(&hook, event("/hooks/jira", delivery, SECRET, &body, base64), Utc::now()).await;
        assert_eq!(status_and_outcome(&response), (200, "accepted".into()), "base64: {base64}");
    }
    assert_eq!(*trigger.asked.lock().unwrap(), vec![(w.id.clone(), Flow::LeftToRight); 2]);
    assert!(w.engine().state().poll_requested(&w.id, Flow::LeftToRight).await.expect("read"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_malformed_requests_are_answered_as_the_listener_does_and_poll_nothing() {
    let (w, secrets) = world().await;
    let trigger = Recorded::default();
    let hook = Hook { engine: w.engine(), secrets: &secrets, trigger: &trigger };
    let body = jira_body();
    let mut get = event("/hooks/jira", "d-4", SECRET, &body, false);
    get["requestContext"]["http"]["method"] = json!("GET");
    let mut garbled = event("/hooks/jira", "d-5", SECRET, &body, true);
    garbled["body"] = json!("not base64!");

    let cases = [
        ("wrong secret", event("/hooks/jira", "d-1", "guessed", &body, false), 401, "bad_signature"),
        ("no such system", event("/hooks/nope", "d-2", SECRET, &body, false), 401, "unknown_hook"),
        ("not a hook path", event("/admin", "d-3", SECRET, &body, false), 404, "not_found"),
        ("not a POST", get, 405, "method_not_allowed"),
        ("body not base64", garbled, 400, "bad_request"),
        ("not a function URL event", json!({"rawPath": 7}), 400, "bad_request"),
    ];
    for (name, e, status, outcome) in cases {
        assert_eq!(status_and_outcome(&handle(&hook, e, Utc::now()).await), (status, outcome.into()), "{name}");
    }
    assert!(trigger.asked.lock().unwrap().is_empty());
    assert!(!w.engine().state().poll_requested(&w.id, Flow::LeftToRight).await.expect("read"));
    let jira = w.engine().hook_status().await.expect("status").into_iter().find(|h| h.system == "jira").unwrap();
    assert_eq!(jira.rejected, vec![("bad_signature".to_string(), 1)], "the refusal is counted");
}

/// The poll request stays recorded when the poll function cannot be reached, so the
/// next scheduled poll takes it; the service is told the delivery arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_that_cannot_be_started_still_accepts_the_delivery_and_keeps_its_request() {
    let (w, secrets) = world().await;
    let trigger = Recorded { fail: true, ..Recorded::default() };
    let hook = Hook { engine: w.engine(), secrets: &secrets, trigger: &trigger };
    let response = handle(&hook, event("/hooks/jira", "d-1", SECRET, &jira_body(), false), Utc::now()).await;
    assert_eq!(status_and_outcome(&response), (200, "accepted".into()));
    assert_eq!(trigger.asked.lock().unwrap().len(), 1);
    assert!(w.engine().state().poll_requested(&w.id, Flow::LeftToRight).await.expect("read"));
}
