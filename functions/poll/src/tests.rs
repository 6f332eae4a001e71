use ferry_testsupport::handlers as world;

use super::*;
use ferry_domain::ports::QueueName;
use world::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_input_polls_the_direction_and_enqueues_the_new_bug() {
    let w = World::new().await;
    let bug = w.jira_bug("Checkout fails for guests").await;
    let event: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/scheduler-input.json")).expect("fixture");

    let summary = handle(w.engine(), event, Utc::now()).await.expect("poll");

    assert_eq!(summary.integration, "app-bugs");
    assert_eq!(summary.flow, Flow::LeftToRight);
    assert_eq!(summary.report.enqueued, 1, "{summary:?}");
    assert_eq!(w.depth(QueueName::Changes).await, 1);
    let queued = w.receive_event(QueueName::Changes).await;
    let body = queued.records[0].body.as_deref().unwrap_or_default();
    assert!(body.contains(&format!("\"key\":\"{}\"", bug.key)), "{body}");
    let json = serde_json::to_value(&summary).expect("summary serialises");
    assert_eq!(json["enqueued"], 1, "the report's fields sit at the top level: {json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_poll_enqueues_nothing_new() {
    let w = World::new().await;
    w.jira_bug("Search is slow").await;
    let event = serde_json::json!({"integration": "app-bugs", "flow": "left_to_right"});
    handle(w.engine(), event.clone(), Utc::now()).await.expect("first poll");
    let again = handle(w.engine(), event, Utc::now()).await.expect("second poll");
    assert_eq!(again.report.enqueued, 0, "{again:?}");
    assert_eq!(again.report.duplicates, 1, "re-read through the overlap window: {again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_near_its_deadline_reads_one_page_and_the_next_continues_the_read() {
    let w = World::new().await;
    for i in 0..130 {
        w.jira_bug(&format!("Bulk-edited bug {i}")).await;
    }
    let event = serde_json::json!({"integration": "app-bugs", "flow": "left_to_right"});
    // Two seconds left: all of it is the reserve, so only the first page is read.
    let soon = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    let first = handle_until(w.engine(), event.clone(), Utc::now(), Some(soon)).await.expect("first poll");
    assert_eq!((first.report.pages, first.report.enqueued, first.report.more), (1, 100, true), "{first:?}");
    let json = serde_json::to_value(&first).expect("summary serialises");
    assert_eq!(json["more"], true, "the summary says the read goes on: {json}");
    let ample = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    let next = handle_until(w.engine(), event, Utc::now(), Some(ample)).await.expect("next poll");
    assert_eq!((next.report.enqueued, next.report.more), (30, false), "{next:?}");
    assert_eq!(w.depth(QueueName::Changes).await, 130);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_integration_is_an_error_naming_it() {
    let w = World::new().await;
    let e = handle(w.engine(), serde_json::json!({"integration": "nope", "flow": "right_to_left"}), Utc::now())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"nope\"") && e.contains("right_to_left"), "{e}");
}

#[test]
fn malformed_scheduler_input_is_rejected_with_the_expected_shape() {
    for (event, says) in [
        (serde_json::json!({"integration": "app-bugs"}), "missing field `flow`"),
        (serde_json::json!({"integration": "app-bugs", "flow": "sideways"}), "sideways"),
        (serde_json::json!({"flow": "left_to_right"}), "missing field `integration`"),
        (serde_json::json!({"integration": "app-bugs", "flow": "left_to_right", "flows": 1}), "unknown field `flows`"),
        (serde_json::json!("app-bugs"), "invalid type"),
        (serde_json::json!(null), "invalid type"),
    ] {
        let e = PollInput::from_event(event.clone()).unwrap_err();
        assert!(matches!(e, PollError::BadInput(_)), "{event}");
        let text = e.to_string();
        assert!(text.contains(says), "{event}: {text}");
        assert!(text.contains("\"integration\": \"<id>\""), "names the expected shape: {text}");
    }
}

#[test]
fn the_scheduler_fixture_parses() {
    let event: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/scheduler-input.json")).expect("fixture");
    let input = PollInput::from_event(event).expect("valid input");
    assert_eq!((input.integration.as_str(), input.flow), ("app-bugs", Flow::LeftToRight));
}

// ---- coalesced polls (ferry_engine's poll_request) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_requested_while_another_holds_the_direction_is_left_for_the_holder() {
    let w = World::new().await;
    w.jira_bug("Filed while a poll runs").await;
    let state = w.engine().state().clone();
    let (id, flow) = (w.id.clone(), Flow::LeftToRight);
    assert!(state.acquire_lease(&id, flow, "another-poll", Duration::from_secs(60)).await.expect("lease"));

    let report = w.engine().request_poll(&id, flow, Utc::now()).await.expect("requested poll");
    assert!(report.busy && report.rounds == 0, "{report:?}");
    assert!(state.poll_requested(&id, flow).await.expect("read"), "the request waits for the holder");
    assert_eq!(w.depth(QueueName::Changes).await, 0);

    state.release_lease(&id, flow, "another-poll").await.expect("release");
    let next = w.engine().poll(&id, flow, Utc::now()).await.expect("the next poll");
    assert_eq!((next.rounds, next.enqueued), (1, 1), "{next:?}");
    assert!(!state.poll_requested(&id, flow).await.expect("read"), "the poll that read took the request");
}

/// Six people file a bug each, a moment apart, and each bug's webhook asks for a poll
/// at once, while the simulator answers slowly: the polls overlap, most requests find
/// the direction busy, and yet, when the last requested poll returns, every bug is
/// enqueued exactly once with no further poll. Without the holder's rerun a bug filed
/// during a read waits for the next scheduled poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_requested_polls_coalesce_and_lose_no_request() {
    let w = std::sync::Arc::new(World::new().await);
    let (id, flow) = (w.id.clone(), Flow::LeftToRight);
    w.jira.faults().set_delay(Duration::from_millis(300));
    let mut people = tokio::task::JoinSet::new();
    for i in 0..6u64 {
        let (w, id) = (w.clone(), id.clone());
        people.spawn(async move {
            tokio::time::sleep(Duration::from_millis(80 * i)).await;
            w.jira_bug(&format!("Bug {i} filed during polls")).await;
            w.rt.engine.request_poll(&id, flow, Utc::now()).await.expect("requested poll")
        });
    }
    let mut reports = Vec::new();
    while let Some(r) = people.join_next().await {
        reports.push(r.expect("person task"));
    }
    w.jira.faults().set_delay(Duration::ZERO);

    let enqueued: usize = reports.iter().map(|r| r.enqueued).sum();
    assert!(reports.iter().any(|r| r.busy), "the polls overlapped: {reports:?}");
    assert_eq!(enqueued, 6, "each bug once: {reports:?}");
    assert_eq!(w.depth(QueueName::Changes).await, 6);
    assert!(!w.engine().state().poll_requested(&id, flow).await.expect("read"), "no request left open");
}

/// The embedded runner polls a direction a webhook asked for at its next tick, long
/// before its interval is up (the listener's own poll may have failed, or a delivery
/// reached a store the listener does not run on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_polls_a_requested_direction_before_its_interval() {
    let w = World::new().await;
    let runner = w.rt.runner(ferry_runtime::RunnerSettings::default());
    let first = runner.cycle(Utc::now(), false).await;
    assert_eq!(first.polls.len(), 2, "a new direction is due at once: {first:?}");
    w.jira_bug("Filed after the first poll").await;

    let quiet = runner.cycle(Utc::now(), false).await;
    assert!(quiet.polls.is_empty(), "within the interval nothing is due: {quiet:?}");
    w.engine().state().request_poll(&w.id, Flow::LeftToRight).await.expect("request");
    let asked = runner.cycle(Utc::now(), false).await;
    let polled: Vec<_> = asked.polls.iter().map(|(i, f, p)| (i.as_str(), *f, p.enqueued)).collect();
    assert_eq!(polled, vec![("app-bugs", Flow::LeftToRight, 1)], "{asked:?}");
    assert_eq!(asked.write_count(), 1, "and the change is written in the same cycle");
    assert!(!w.engine().state().poll_requested(&w.id, Flow::LeftToRight).await.expect("read"));
}

// ---- webhook deliveries (ferry_engine's webhook use case) ----

mod webhooks {
    use super::*;
    use ferry_domain::webhook::verify::jira_signature;
    use ferry_domain::webhook::{HookRequest, HookSecret, Rejection};
    use ferry_engine::HookAccepted;

    const SECRET: &[u8] = b"jira-webhook-secret";

    /// A refused delivery: its name, hook, secret, headers, body and reason.
    type Refusal<'a> = (&'a str, &'a str, Option<&'a HookSecret>, Vec<(String, String)>, &'a str, Rejection);

    /// A Jira `jira:issue_updated` delivery as Jira's admin webhooks send it (trimmed).
    fn jira_body(project: &str) -> String {
        serde_json::json!({
            "timestamp": 1_765_000_000_000_i64,
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Alice"},
            "issue": {"id": "10002", "key": format!("{project}-1"), "fields": {"project": {"id": "10000", "key": project}}},
            "changelog": {"id": "10100", "items": [{"field": "summary", "fromString": "a", "toString": "b"}]},
        })
        .to_string()
    }

    fn jira_headers(body: &str, delivery: &str, secret: &[u8]) -> Vec<(String, String)> {
        vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Atlassian-Webhook-Identifier".into(), delivery.into()),
            ("X-Hub-Signature".into(), jira_signature(secret, body.as_bytes())),
        ]
    }

    async fn deliver(
        w: &World,
        hook: &str,
        secret: Option<&HookSecret>,
        headers: &[(String, String)],
        body: &str,
    ) -> Result<HookAccepted, Rejection> {
        let request = HookRequest { headers, body: body.as_bytes() };
        w.engine().accept_hook(hook, secret, &request, Utc::now()).await.expect("store")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_signed_jira_delivery_requests_a_poll_of_the_direction_its_project_feeds() {
        let w = World::new().await;
        w.jira_bug("Edited in Jira").await;
        let secret = HookSecret::Jira { secret: SECRET.to_vec() };
        let body = jira_body("APP");

        let accepted =
            deliver(&w, "jira", Some(&secret), &jira_headers(&body, "d-1", SECRET), &body).await.expect("accepted");

        assert_eq!(accepted.directions, vec![(w.id.clone(), Flow::LeftToRight)]);
        let state = w.engine().state();
        assert!(state.poll_requested(&w.id, Flow::LeftToRight).await.expect("read"));
        assert!(!state.poll_requested(&w.id, Flow::RightToLeft).await.expect("read"));
        let polled = w.engine().poll(&w.id, Flow::LeftToRight, Utc::now()).await.expect("poll");
        assert_eq!(polled.enqueued, 1, "{polled:?}");
        assert!(!state.poll_requested(&w.id, Flow::LeftToRight).await.expect("read"), "the poll took it");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deliveries_not_proven_new_and_authentic_are_refused_and_request_nothing() {
        let w = World::new().await;
        let secret = HookSecret::Jira { secret: SECRET.to_vec() };
        let body = jira_body("APP");
        let other_project = jira_body("OPS");
        let good = jira_headers(&body, "d-1", SECRET);
        deliver(&w, "jira", Some(&secret), &good, &body).await.expect("the first delivery");
        w.engine().state().take_poll_request(&w.id, Flow::LeftToRight).await.expect("clear the request");

        let cases: Vec<Refusal> = vec![
            (
                "wrong secret",
                "jira",
                Some(&secret),
                jira_headers(&body, "d-2", b"guess"),
                &body,
                Rejection::BadSignature,
            ),
            ("no signature", "jira", Some(&secret), good[..2].to_vec(), &body, Rejection::BadSignature),
            (
                "body changed after signing",
                "jira",
                Some(&secret),
                jira_headers(&body, "d-3", SECRET),
                &other_project,
                Rejection::BadSignature,
            ),
            ("no secret configured", "jira", None, jira_headers(&body, "d-4", SECRET), &body, Rejection::MissingSecret),
            ("unknown hook", "nope", Some(&secret), jira_headers(&body, "d-5", SECRET), &body, Rejection::UnknownHook),
            ("replayed delivery", "jira", Some(&secret), good.clone(), &body, Rejection::Replay),
            (
                "project of no integration",
                "jira",
                Some(&secret),
                jira_headers(&other_project, "d-6", SECRET),
                &other_project,
                Rejection::UnknownIntegration,
            ),
        ];
        for (name, hook, secret, headers, body, expected) in cases {
            assert_eq!(deliver(&w, hook, secret, &headers, body).await, Err(expected), "{name}");
            assert!(!w.engine().state().poll_requested(&w.id, Flow::LeftToRight).await.expect("read"), "{name}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_ado_service_hook_with_its_credentials_requests_a_poll_of_the_other_direction() {
        use base64::Engine as _;
        let w = World::new().await;
        let secret = HookSecret::Ado {
            basic: Some(("ferry".into(), "basic-secret".into())),
            header: Some(("X-Ferry-Hook".into(), "header-secret".into())),
        };
        // A `workitem.updated` event as Azure DevOps service hooks send it (trimmed).
        let body = serde_json::json!({
            "subscriptionId": "00ca946b-2fe9-4f2a-ae2f-40d5c48001bc",
            "notificationId": 3,
            "id": "1ca023d6-0d99-4ec8-9a1a-a1c6d2d1b9ea",
            "eventType": "workitem.updated",
            "publisherId": "tfs",
            "resource": {"id": 2, "workItemId": 5, "rev": 2,
                "revision": {"id": 5, "rev": 2, "fields": {"System.TeamProject": "App", "System.Title": "x"}}},
            "resourceVersion": "1.0",
            "createdDate": "2026-12-07T01:00:00Z",
        })
        .to_string();
        let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ferry:basic-secret"));
        let headers: Vec<(String, String)> =
            vec![("Authorization".into(), auth.clone()), ("X-Ferry-Hook".into(), "header-secret".into())];

        let accepted = deliver(&w, "ado", Some(&secret), &headers, &body).await.expect("accepted");
        assert_eq!(accepted.directions, vec![(w.id.clone(), Flow::RightToLeft)]);
        assert_eq!(accepted.delivery_id, "00ca946b-2fe9-4f2a-ae2f-40d5c48001bc:3");

        let no_header: Vec<(String, String)> = vec![("Authorization".into(), auth)];
        let refused = deliver(&w, "ado", Some(&secret), &no_header, &body).await;
        assert_eq!(refused, Err(Rejection::BadSignature));
    }

    /// Through the runtime, as the listener and the hook function receive a delivery:
    /// the hook's secret resolved from its reference, the answer's status, and every
    /// outcome counted per configured hook for `ferry status`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_delivery_is_answered_and_counted_per_outcome_for_status() {
        use ferry_domain::webhook::{HookBasic, HookConfig};
        use ferry_domain::SecretRef;
        use ferry_runtime::hooks::receive;
        use ferry_runtime::{EnvSecrets, StaticSecrets};
        let w = World::new().await;
        let jira_ref = SecretRef::Env("TEST_JIRA_HOOK_SECRET".into());
        let mut jira = w.systems.iter().find(|s| s.id.as_str() == "jira").expect("jira system").clone();
        jira.webhook = Some(HookConfig { secret: Some(jira_ref.clone()), basic: None, header: None });
        let mut ado = w.systems.iter().find(|s| s.id.as_str() == "ado").expect("ado system").clone();
        // A reference that resolves to nothing: every delivery is refused as missing_secret.
        let unset = SecretRef::Env("TEST_ADO_HOOK_PASSWORD_NEVER_SET".into());
        ado.webhook = Some(HookConfig {
            secret: None,
            basic: Some(HookBasic { username: "ferry".into(), password: unset }),
            header: None,
        });
        let config = w.engine().config_store();
        config.put_system(&jira).await.expect("jira with a webhook");
        config.put_system(&ado).await.expect("ado with a webhook");
        let secrets = StaticSecrets::new(EnvSecrets).with(jira_ref, std::str::from_utf8(SECRET).expect("text"));

        let body = jira_body("APP");
        let good = jira_headers(&body, "d-1", SECRET);
        let cases = [
            ("signed", "jira", good.clone(), 200, "accepted", 1),
            ("wrong secret", "jira", jira_headers(&body, "d-2", b"guess"), 401, "bad_signature", 0),
            ("replayed", "jira", good.clone(), 200, "replay", 0),
            ("secret not resolvable", "ado", good.clone(), 401, "missing_secret", 0),
            ("no such hook", "nope", good.clone(), 401, "unknown_hook", 0),
        ];
        for (name, hook, headers, status, outcome, directions) in cases {
            let request = HookRequest { headers: &headers, body: body.as_bytes() };
            let answer = receive(w.engine(), &secrets, hook, &request, Utc::now()).await;
            assert_eq!(
                (answer.status, answer.outcome, answer.directions.len()),
                (status, outcome, directions),
                "{name}"
            );
        }

        let hooks = w.engine().hook_status().await.expect("hook status");
        let shown: Vec<_> = hooks
            .iter()
            .map(|h| (h.system.as_str(), h.configured, h.accepted, h.last_delivery.is_some(), h.rejected.clone()))
            .collect();
        let refused = |pairs: &[(&str, u64)]| pairs.iter().map(|(r, n)| (r.to_string(), *n)).collect::<Vec<_>>();
        assert_eq!(
            shown,
            vec![
                ("ado", true, 0, false, refused(&[("missing_secret", 1)])),
                ("jira", true, 1, true, refused(&[("bad_signature", 1), ("replay", 1)])),
            ],
            "a name that is no system is not counted"
        );
    }
}
