//! The webhook bookkeeping every state store must keep (part of [`crate::contract`]):
//! delivery ids within the replay window, and poll requests taken once.

use chrono::{Duration as TimeDelta, TimeZone, Utc};
use ferry_domain::ports::StateStore;
use ferry_domain::{Flow, IntegrationId};
use std::time::Duration;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Uses fresh ids, so it runs against a store that already holds data.
pub async fn webhooks(store: &dyn StateStore) {
    a_delivery_id_is_new_once_within_its_window(store).await;
    poll_requests_are_kept_per_direction_and_taken_once(store).await;
    a_poll_request_is_taken_by_one_of_many_concurrent_takers(store).await;
    deliveries_are_counted_per_hook_and_outcome_with_the_latest_time(store).await;
    registered_subscriptions_are_kept_per_integration_and_replaced_whole(store).await;
}

async fn a_delivery_id_is_new_once_within_its_window(store: &dyn StateStore) {
    let hook = unique("hook");
    let other_hook = unique("hook");
    let window = Duration::from_secs(3600);
    let t0 = Utc.with_ymd_and_hms(2026, 3, 14, 9, 26, 53).single().expect("valid fixture date");
    let record = |hook: &str, id: &str, secs: i64| {
        let (hook, id) = (hook.to_string(), id.to_string());
        async move {
            store.record_delivery(&hook, &id, t0 + TimeDelta::seconds(secs), window).await.expect("record_delivery")
        }
    };
    assert!(record(&hook, "d-1", 0).await, "a first delivery is new");
    assert!(!record(&hook, "d-1", 1).await, "the same id a second later is a replay");
    assert!(!record(&hook, "d-1", 3599).await, "and still is just inside the window");
    assert!(record(&hook, "d-2", 1).await, "another id is new");
    assert!(record(&other_hook, "d-1", 1).await, "ids are kept per hook");
    assert!(record(&hook, "d-1", 3601).await, "an id seen longer ago than the window is new again");
    assert!(!record(&hook, "d-1", 3602).await, "and is remembered from then on");
}

async fn poll_requests_are_kept_per_direction_and_taken_once(store: &dyn StateStore) {
    let iid = IntegrationId::parse(unique("int")).expect("valid id");
    let other = IntegrationId::parse(unique("int")).expect("valid id");
    let requested = |i: &IntegrationId, f: Flow| {
        let i = i.clone();
        async move { store.poll_requested(&i, f).await.expect("poll_requested") }
    };
    assert!(!requested(&iid, Flow::LeftToRight).await, "nothing requested yet");
    assert!(!store.take_poll_request(&iid, Flow::LeftToRight).await.expect("take"), "nothing to take");
    store.request_poll(&iid, Flow::LeftToRight).await.expect("request_poll");
    store.request_poll(&iid, Flow::LeftToRight).await.expect("a second request is idempotent");
    assert!(requested(&iid, Flow::LeftToRight).await);
    assert!(!requested(&iid, Flow::RightToLeft).await, "requests are per direction");
    assert!(!requested(&other, Flow::LeftToRight).await, "and per integration");
    assert!(requested(&iid, Flow::LeftToRight).await, "reading a request leaves it");
    assert!(store.take_poll_request(&iid, Flow::LeftToRight).await.expect("take"), "taking answers it was there");
    assert!(!requested(&iid, Flow::LeftToRight).await, "and clears it");
    assert!(!store.take_poll_request(&iid, Flow::LeftToRight).await.expect("take"), "two requests are taken once");
}

async fn a_poll_request_is_taken_by_one_of_many_concurrent_takers(store: &dyn StateStore) {
    let iid = IntegrationId::parse(unique("int")).expect("valid id");
    store.request_poll(&iid, Flow::RightToLeft).await.expect("request_poll");
    let take = || store.take_poll_request(&iid, Flow::RightToLeft);
    let (a, b, c, d) = tokio::join!(take(), take(), take(), take());
    let taken: Vec<bool> = [a, b, c, d].into_iter().map(|r| r.expect("take_poll_request")).collect();
    assert_eq!(taken.iter().filter(|t| **t).count(), 1, "exactly one taker sees the request: {taken:?}");
}

async fn deliveries_are_counted_per_hook_and_outcome_with_the_latest_time(store: &dyn StateStore) {
    let hook = unique("hook");
    let other = unique("hook");
    let t0 = Utc.with_ymd_and_hms(2026, 3, 14, 9, 26, 53).single().expect("valid fixture date");
    assert!(store.hook_tallies(&hook).await.expect("hook_tallies").is_empty(), "nothing counted yet");
    for (outcome, secs) in [("accepted", 0), ("bad_signature", 5), ("accepted", 10), ("accepted", 3), ("replay", 7)] {
        store.tally_hook(&hook, outcome, t0 + TimeDelta::seconds(secs)).await.expect("tally_hook");
    }
    store.tally_hook(&other, "accepted", t0).await.expect("tally_hook");
    let tallies: Vec<(String, u64, i64)> = store
        .hook_tallies(&hook)
        .await
        .expect("hook_tallies")
        .into_iter()
        .map(|t| (t.outcome, t.count, (t.last_at - t0).num_seconds()))
        .collect();
    let expected = [("accepted", 3, 10), ("bad_signature", 1, 5), ("replay", 1, 7)];
    let expected: Vec<(String, u64, i64)> = expected.iter().map(|(o, c, s)| (o.to_string(), *c, *s)).collect();
    assert_eq!(tallies, expected, "per outcome, in name order; a late-recorded earlier delivery keeps the latest time");
    assert_eq!(store.hook_tallies(&other).await.expect("hook_tallies").len(), 1, "tallies are per hook");
}

async fn registered_subscriptions_are_kept_per_integration_and_replaced_whole(store: &dyn StateStore) {
    use ferry_domain::webhook::HookSubscription;
    let iid = IntegrationId::parse(unique("int")).expect("valid id");
    let other = IntegrationId::parse(unique("int")).expect("valid id");
    let sub = |system: &str, id: &str| HookSubscription {
        system: system.into(),
        id: id.into(),
        events: vec!["workitem.created".into()],
    };
    assert!(store.hook_subscriptions(&iid).await.expect("hook_subscriptions").is_empty(), "none recorded yet");
    let first = [sub("jira", "7"), sub("ado", "0f1e")];
    store.put_hook_subscriptions(&iid, &first).await.expect("put_hook_subscriptions");
    store.put_hook_subscriptions(&other, &[sub("jira", "8")]).await.expect("put_hook_subscriptions");
    assert_eq!(store.hook_subscriptions(&iid).await.expect("hook_subscriptions"), first.to_vec());
    store.put_hook_subscriptions(&iid, &[sub("ado", "9a")]).await.expect("a second put replaces the first");
    assert_eq!(store.hook_subscriptions(&iid).await.expect("hook_subscriptions"), vec![sub("ado", "9a")]);
    store.put_hook_subscriptions(&iid, &[]).await.expect("an empty put forgets them");
    assert!(store.hook_subscriptions(&iid).await.expect("hook_subscriptions").is_empty());
    assert_eq!(store.hook_subscriptions(&other).await.expect("hook_subscriptions").len(), 1, "per integration");
}
