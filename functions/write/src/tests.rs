use ferry_testsupport::handlers as world;

use super::*;
use ferry_domain::ports::QueueName;
use ferry_domain::{EntityId, FieldKey, FieldValue, Side};
use world::{failed_ids, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_command_creates_the_item_in_azure_devops_and_links_it() {
    let w = World::new().await;
    let event: SqsEvent =
        serde_json::from_str(include_str!("../tests/fixtures/sqs-writes-batch.json")).expect("fixture");

    let response = handle(w.engine(), event).await;

    assert_eq!(
        failed_ids(&response),
        vec!["c0ffee00-1d2e-4f3a-9b8c-7d6e5f4a3b22".to_string()],
        "only the command with an unknown schema fails"
    );
    let link = w
        .engine()
        .state()
        .get_link(&w.id, Side::Left, &EntityId::new("10001"))
        .await
        .expect("store")
        .expect("APP-1 is linked to its new twin");
    let twin = w.reader(Side::Right).await.get(&link.right.id).await.expect("read").expect("twin exists in ADO");
    assert_eq!(twin.field(&FieldKey::new("System.Title")), Some(&FieldValue::Text("Checkout fails for guests".into())));
    assert_eq!(twin.field(&FieldKey::new("Custom.JiraKey")), Some(&FieldValue::Text("APP-1".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_create_does_not_duplicate_the_item() {
    let w = World::new().await;
    let text = include_str!("../tests/fixtures/sqs-writes-batch.json");
    let mut event: SqsEvent = serde_json::from_str(text).expect("fixture");
    event.records.truncate(1);

    assert!(handle(w.engine(), event.clone()).await.batch_item_failures.is_empty());
    event.records[0].attributes.insert("ApproximateReceiveCount".into(), "2".into());
    assert!(handle(w.engine(), event).await.batch_item_failures.is_empty());

    let creates = w
        .ado
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.to_ascii_lowercase().contains("/wit/workitems/"))
        .count();
    assert_eq!(creates, 1, "one work item created across both deliveries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_transform_write_chain_through_the_handlers_syncs_a_new_bug() {
    let w = World::new().await;
    let bug = w.jira_bug("Cart total rounds wrong").await;
    w.engine().poll(&w.id, ferry_domain::Flow::LeftToRight, chrono::Utc::now()).await.expect("poll");
    let changes = w.receive_event(QueueName::Changes).await;
    let r = ferry_runtime::aws::handle_sqs_batch(
        w.engine(),
        ferry_runtime::aws::Step::TRANSFORM,
        changes.clone(),
        Default::default(),
    )
    .await;
    w.settle(QueueName::Changes, &changes, &failed_ids(&r)).await;

    let writes = w.receive_event(QueueName::Writes).await;
    assert_eq!(writes.records.len(), 1);
    let response = handle(w.engine(), writes.clone()).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    w.settle(QueueName::Writes, &writes, &failed_ids(&response)).await;

    assert_eq!(w.depth(QueueName::Writes).await, 0);
    let link = w.engine().state().get_link(&w.id, Side::Left, &bug.id).await.expect("store").expect("linked");
    let twin = w.reader(Side::Right).await.get(&link.right.id).await.expect("read").expect("twin");
    assert_eq!(twin.field(&FieldKey::new("System.Title")), Some(&FieldValue::Text("Cart total rounds wrong".into())));
    assert_eq!(twin.field(&FieldKey::new("Microsoft.VSTS.Common.Priority")), Some(&FieldValue::Number(2.0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_not_started_before_the_deadline_are_handed_back_and_the_last_delivery_is_parked() {
    let w = World::new().await;
    for title in ["Slow one", "Slow two", "Slow three"] {
        w.jira_bug(title).await;
    }
    w.engine().poll(&w.id, ferry_domain::Flow::LeftToRight, chrono::Utc::now()).await.expect("poll");
    let changes = w.receive_event(QueueName::Changes).await;
    let r =
        ferry_runtime::aws::handle_sqs_batch(w.engine(), Step::TRANSFORM, changes.clone(), Default::default()).await;
    w.settle(QueueName::Changes, &changes, &failed_ids(&r)).await;
    let mut event = w.receive_event(QueueName::Writes).await;
    assert_eq!(event.records.len(), 3);
    // The third is on its last delivery before the dead-letter queue (the store's limit is 5).
    event.records[2].attributes.insert("ApproximateReceiveCount".into(), "5".into());
    // Every Azure DevOps request now takes 700 ms: a create takes at least that long.
    w.ado.faults().set_delay(std::time::Duration::from_millis(700));
    let settings = BatchSettings {
        deadline: Some(std::time::Instant::now() + std::time::Duration::from_millis(2500)),
        deadline_margin: std::time::Duration::from_secs(2),
        ..BatchSettings::default()
    };

    let response = handle_sqs_batch(w.engine(), Step::WRITE, event.clone(), settings).await;
    w.ado.faults().set_delay(std::time::Duration::ZERO);

    let id = |i: usize| event.records[i].message_id.clone().unwrap_or_default();
    assert_eq!(failed_ids(&response), vec![id(1)], "the second is handed back; the first succeeded");
    w.settle(QueueName::Writes, &event, &failed_ids(&response)).await;
    let first: ferry_domain::WriteCommand =
        serde_json::from_str(event.records[0].body.as_deref().unwrap_or_default()).expect("write command");
    assert!(w.engine().state().get_link(&w.id, Side::Left, &first.source.id).await.expect("store").is_some());
    let failures = w.engine().state().list_failures(None).await.expect("failures");
    assert_eq!(failures.len(), 1, "{failures:?}");
    let third: ferry_domain::WriteCommand =
        serde_json::from_str(event.records[2].body.as_deref().unwrap_or_default()).expect("write command");
    assert!(failures[0].cause.contains("deadline"), "{:?}", failures[0]);
    assert_eq!((failures[0].entity_key.as_str(), failures[0].attempts), (third.source.key.as_str(), 5));
    // Handed back at once (not after the visibility timeout), as an unhandled record.
    let again = w.receive_event(QueueName::Writes).await;
    assert_eq!(again.records.iter().map(|r| r.message_id.clone().unwrap_or_default()).collect::<Vec<_>>(), vec![id(1)]);
    let response = handle(w.engine(), again.clone()).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_wait_longer_than_the_invocation_has_left_hands_the_write_back_with_that_delay() {
    let w = World::new().await;
    w.jira_bug("Paced write").await;
    w.engine().poll(&w.id, ferry_domain::Flow::LeftToRight, chrono::Utc::now()).await.expect("poll");
    let changes = w.receive_event(QueueName::Changes).await;
    let r = handle_sqs_batch(w.engine(), Step::TRANSFORM, changes.clone(), Default::default()).await;
    w.settle(QueueName::Changes, &changes, &failed_ids(&r)).await;
    // Azure DevOps now allows one request every 20 s.
    let mut ado = w.systems.iter().find(|s| s.id.as_str() == "ado").expect("ado system").clone();
    ado.rate_limit =
        Some(ferry_domain::RateLimitSetting::Limit(ferry_domain::RateLimit { per_second: 0.05, burst: 1 }));
    w.engine().config_store().put_system(&ado).await.expect("put_system");
    let event = w.receive_event(QueueName::Writes).await;
    assert_eq!(event.records.len(), 1);
    w.ado.clear_requests();
    let settings = BatchSettings {
        deadline: Some(std::time::Instant::now() + std::time::Duration::from_secs(6)),
        deadline_margin: std::time::Duration::from_secs(2),
        ..BatchSettings::default()
    };

    let started = std::time::Instant::now();
    let response = handle_sqs_batch(w.engine(), Step::WRITE, event.clone(), settings).await;

    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "no sleep past the deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(failed_ids(&response).len(), 1, "handed back, not lost");
    assert_eq!(w.ado.requests().len(), 1, "the request that found no token was not sent");
    assert!(w.engine().state().list_failures(None).await.expect("failures").is_empty(), "nothing parked");
    assert_eq!(w.depth(QueueName::Writes).await, 1);
    let now =
        w.engine().queue().receive(QueueName::Writes, 10, std::time::Duration::from_secs(30)).await.expect("receive");
    assert!(now.is_empty(), "it comes back after the rate limit's wait, not at once");
}
