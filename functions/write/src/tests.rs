#[path = "../../testsupport/world.rs"]
mod world;

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
        ferry_runtime::aws::Step::Transform,
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
