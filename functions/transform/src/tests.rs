use ferry_testsupport::handlers as world;

use super::*;
use ferry_domain::ports::QueueName;
use world::{failed_ids, World};

fn fixture(text: &str) -> SqsEvent {
    serde_json::from_str(text).expect("fixture is a Lambda SQS event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_corrupt_record_of_a_batch_is_reported_failed() {
    let w = World::new().await;
    let event = fixture(include_str!("../tests/fixtures/sqs-changes-batch.json"));
    assert_eq!(event.records.len(), 3);

    let response = handle(w.engine(), event).await;

    assert_eq!(failed_ids(&response), vec!["2e1424d4-f796-459a-8184-9c92662be6da".to_string()]);
    assert_eq!(w.depth(QueueName::Writes).await, 2, "both good change events became write commands");
    let writes = w.receive_event(QueueName::Writes).await;
    let keys: Vec<bool> = ["APP-1", "APP-2"]
        .iter()
        .map(|k| writes.records.iter().any(|r| r.body.as_deref().unwrap_or("").contains(&format!("\"key\":\"{k}\""))))
        .collect();
    assert_eq!(keys, vec![true, true]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_behind_a_failed_one_of_its_group_waits_for_it() {
    let w = World::new().await;
    let event = fixture(include_str!("../tests/fixtures/sqs-changes-same-group.json"));

    let response = handle(w.engine(), event).await;

    assert_eq!(
        failed_ids(&response),
        vec!["6a1b2c3d-0000-4000-8000-00000000000a".to_string(), "6a1b2c3d-0000-4000-8000-00000000000b".to_string()],
        "the follower is not handled ahead of the failed head of its FIFO group"
    );
    assert_eq!(w.depth(QueueName::Writes).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polled_change_goes_through_the_handler_and_is_settled_like_lambda() {
    let w = World::new().await;
    w.jira_bug("Login button misaligned").await;
    w.engine().poll(&w.id, ferry_domain::Flow::LeftToRight, chrono::Utc::now()).await.expect("poll");
    let event = w.receive_event(QueueName::Changes).await;
    assert_eq!(event.records.len(), 1);

    let response = handle(w.engine(), event.clone()).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    w.settle(QueueName::Changes, &event, &failed_ids(&response)).await;

    assert_eq!(w.depth(QueueName::Changes).await, 0);
    assert_eq!(w.depth(QueueName::Writes).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_record_is_made_visible_again_through_its_receipt() {
    let w = World::new().await;
    let send = w
        .engine()
        .queue()
        .send(
            QueueName::Changes,
            &[ferry_domain::ports::OutMessage {
                group_id: "app-bugs:left:10077".into(),
                dedup_id: "corrupt-1".into(),
                body: "{not json".into(),
            }],
        )
        .await;
    send.expect("send");
    let event = w.receive_event(QueueName::Changes).await;
    let response = handle(w.engine(), event.clone()).await;
    assert_eq!(failed_ids(&response), vec![event.records[0].message_id.clone().unwrap_or_default()]);

    // Released at once (bad message), so it is received again without waiting out
    // the 180 s visibility timeout, now as the second attempt.
    let again = w.receive_event(QueueName::Changes).await;
    assert_eq!(again.records.len(), 1);
    assert_eq!(again.records[0].attributes.get("ApproximateReceiveCount").map(String::as_str), Some("2"));
}
