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
