//! The rate-limit governor's buckets every store must keep (part of [`crate::contract`]):
//! tokens taken at the pace and never twice, pauses that only ever lengthen, one bucket
//! per system.

use chrono::{DateTime, Duration as TimeDelta, TimeZone, Utc};
use ferry_domain::ports::RateLimitStore;
use ferry_domain::rate_limit::{Grant, RateLimit};
use ferry_domain::SystemId;
use std::time::Duration;

fn unique_system() -> SystemId {
    SystemId::parse(format!("sys-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])).expect("valid id")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 26, 53).single().expect("valid fixture date")
}

fn at(ms: i64) -> DateTime<Utc> {
    t0() + TimeDelta::milliseconds(ms)
}

const LIMIT: RateLimit = RateLimit { per_second: 10.0, burst: 20 };

/// Uses fresh system ids, so it runs against a store that already holds data.
pub async fn rate_limits(store: &dyn RateLimitStore) {
    a_first_take_finds_a_full_bucket_and_a_take_waits_until_its_lease_is_there_whole(store).await;
    the_bucket_refills_at_the_pace_up_to_the_burst(store).await;
    buckets_are_kept_per_system(store).await;
    a_pause_empties_the_bucket_until_its_end_and_is_never_shortened(store).await;
    concurrent_takers_together_take_exactly_what_the_bucket_holds(store).await;
}

async fn take(store: &dyn RateLimitStore, system: &SystemId, want: u32, ms: i64) -> Grant {
    store.take_tokens(system, &LIMIT, want, at(ms)).await.expect("take_tokens")
}

async fn a_first_take_finds_a_full_bucket_and_a_take_waits_until_its_lease_is_there_whole(store: &dyn RateLimitStore) {
    let s = unique_system();
    assert_eq!(take(store, &s, 5, 0).await, Grant::Tokens(5), "a new bucket is full");
    assert_eq!(take(store, &s, 30, 0).await, Grant::Wait(Duration::from_millis(500)), "the burst, once 5 are back");
    assert_eq!(take(store, &s, 15, 0).await, Grant::Tokens(15), "the wait took nothing");
    assert_eq!(take(store, &s, 1, 0).await, Grant::Wait(Duration::from_millis(100)), "empty: one token's time");
    assert_eq!(take(store, &s, 1, 40).await, Grant::Wait(Duration::from_millis(60)), "refilling meanwhile");
}

async fn the_bucket_refills_at_the_pace_up_to_the_burst(store: &dyn RateLimitStore) {
    let s = unique_system();
    assert_eq!(take(store, &s, 20, 0).await, Grant::Tokens(20));
    assert_eq!(take(store, &s, 10, 350).await, Grant::Wait(Duration::from_millis(650)), "3.5 of 10 after 0.35 s");
    assert_eq!(take(store, &s, 3, 350).await, Grant::Tokens(3), "0.35 s at 10/s");
    assert_eq!(take(store, &s, 1, 380).await, Grant::Wait(Duration::from_millis(20)), "the half token left counts");
    assert_eq!(take(store, &s, 50, 60_000).await, Grant::Tokens(20), "a minute later: the burst, no more");
}

async fn buckets_are_kept_per_system(store: &dyn RateLimitStore) {
    let (a, b) = (unique_system(), unique_system());
    assert_eq!(take(store, &a, 20, 0).await, Grant::Tokens(20));
    assert_eq!(take(store, &b, 20, 0).await, Grant::Tokens(20), "another system's bucket is full");
    store.pause_tokens(&a, at(5_000)).await.expect("pause_tokens");
    assert_eq!(take(store, &b, 1, 1_000).await, Grant::Tokens(1), "a pause is one system's");
}

async fn a_pause_empties_the_bucket_until_its_end_and_is_never_shortened(store: &dyn RateLimitStore) {
    let s = unique_system();
    store.pause_tokens(&s, at(10_000)).await.expect("a pause of a bucket not stored yet");
    assert_eq!(take(store, &s, 5, 1_000).await, Grant::Wait(Duration::from_secs(9)), "paused");
    store.pause_tokens(&s, at(4_000)).await.expect("pause_tokens");
    assert_eq!(take(store, &s, 5, 1_000).await, Grant::Wait(Duration::from_secs(9)), "a shorter pause changes nothing");
    store.pause_tokens(&s, at(12_000)).await.expect("pause_tokens");
    assert_eq!(take(store, &s, 5, 1_000).await, Grant::Wait(Duration::from_secs(11)), "a longer one lengthens it");
    assert_eq!(take(store, &s, 5, 12_300).await, Grant::Wait(Duration::from_millis(200)), "empty at its end");
    assert_eq!(take(store, &s, 3, 12_300).await, Grant::Tokens(3), "and refilling from it");

    let full = unique_system();
    assert_eq!(take(store, &full, 2, 0).await, Grant::Tokens(2));
    store.pause_tokens(&full, at(500)).await.expect("pause_tokens");
    assert_eq!(take(store, &full, 5, 499).await, Grant::Wait(Duration::from_millis(1)), "the tokens left are gone");
}

async fn concurrent_takers_together_take_exactly_what_the_bucket_holds(store: &dyn RateLimitStore) {
    let s = unique_system();
    let one = || take(store, &s, 5, 0);
    let (a, b, c, d, e, f) = tokio::join!(one(), one(), one(), one(), one(), one());
    let mut taken = 0;
    for g in [a, b, c, d, e, f] {
        match g {
            Grant::Tokens(n) => taken += n,
            Grant::Wait(w) => assert_eq!(w, Duration::from_millis(500), "a taker that found none waits for its 5"),
        }
    }
    assert_eq!(taken, 20, "six takers of 5 share a burst of 20: none twice, none lost");
}
