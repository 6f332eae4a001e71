use super::SqliteStore;
use crate::{contract, QueueSettings};
use chrono::{TimeZone, Utc};
use ferry_domain::ports::{ConfigStore, Delivery, OutMessage, Queue, QueueName, StateStore};
use ferry_domain::{
    Counter, EntityId, EntityRef, ErrorCategory, Flow, FlowCounts, IntegrationId, Link, Side, Watermark,
};
use std::path::PathBuf;
use std::time::Duration;

const Q: QueueName = QueueName::Changes;
const LONG: Duration = Duration::from_secs(60);

fn settings(max_receives: u32, dedup_ms: u64) -> QueueSettings {
    QueueSettings { max_receives, dedup_window: Duration::from_millis(dedup_ms) }
}

fn open_in(dir: &tempfile::TempDir, settings: QueueSettings) -> (SqliteStore, PathBuf) {
    let path = dir.path().join("nested").join("ferry.db");
    let store = SqliteStore::open(&path, settings).expect("open store");
    (store, path)
}

fn fresh(settings: QueueSettings) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open_in(&dir, settings);
    (dir, store)
}

fn msg(group: &str, dedup: &str) -> OutMessage {
    OutMessage { group_id: group.into(), dedup_id: dedup.into(), body: format!("body-{dedup}") }
}

fn bodies(d: &[Delivery]) -> Vec<&str> {
    d.iter().map(|d| d.body.as_str()).collect()
}

fn iid(s: &str) -> IntegrationId {
    IntegrationId::parse(s).expect("valid id")
}

fn watermark(cursor_secs: i64) -> Watermark {
    let t = Utc.timestamp_opt(1_700_000_000 + cursor_secs, 0).unwrap();
    Watermark { version: 0, ..Watermark::starting_at(t) }
}

fn entity_ref(id: &str) -> EntityRef {
    EntityRef {
        id: EntityId::new(id),
        key: id.into(),
        url: String::new(),
        revision: "1".into(),
        updated: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
    }
}

#[tokio::test]
async fn config_store_contract_holds() {
    let (_dir, store) = fresh(QueueSettings::default());
    contract::config_store(&store).await;
    // Runs again against a store that already holds data.
    contract::config_store(&store).await;
}

#[tokio::test]
async fn state_store_contract_holds() {
    let (_dir, store) = fresh(QueueSettings::default());
    contract::state_store(&store).await;
    contract::state_store(&store).await;
}

#[tokio::test]
async fn an_unreadable_failure_is_listed_among_the_others_with_its_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, path) = open_in(&dir, QueueSettings::default());
    // Its body is cut off mid-JSON, as a torn or hand-edited row would be.
    let spoil = async |id: &str| {
        let raw = rusqlite::Connection::open(&path).expect("open the file");
        let changed =
            raw.execute("UPDATE failures SET body = substr(body, 1, 100) WHERE id = ?1", [id]).expect("spoil the row");
        assert_eq!(changed, 1);
    };
    contract::unreadable_failures(&store, spoil).await;
}

#[tokio::test]
async fn collaboration_contract_holds() {
    let (_dir, store) = fresh(QueueSettings::default());
    contract::collaboration(&store).await;
    contract::collaboration(&store).await;
}

#[tokio::test]
async fn webhook_contract_holds() {
    let (_dir, store) = fresh(QueueSettings::default());
    contract::webhooks(&store).await;
    contract::webhooks(&store).await;
}

#[tokio::test]
async fn rate_limit_contract_holds() {
    let (_dir, store) = fresh(QueueSettings::default());
    contract::rate_limits(&store).await;
    contract::rate_limits(&store).await;
}

/// `ferry run` and a `ferry preview` open the same file: they draw from one bucket.
#[tokio::test]
async fn two_processes_on_one_file_share_a_systems_bucket() {
    use chrono::TimeZone;
    use ferry_domain::ports::RateLimitStore;
    use ferry_domain::rate_limit::{Grant, RateLimit};
    let dir = tempfile::tempdir().expect("tempdir");
    let (run, path) = open_in(&dir, QueueSettings::default());
    let preview = SqliteStore::open(&path, QueueSettings::default()).unwrap();
    let system = ferry_domain::SystemId::parse("jira").unwrap();
    let limit = RateLimit { per_second: 1.0, burst: 4 };
    let now = chrono::Utc.with_ymd_and_hms(2026, 3, 14, 9, 0, 0).single().unwrap();
    let (a, b) = tokio::join!(run.take_tokens(&system, &limit, 3, now), preview.take_tokens(&system, &limit, 3, now));
    let mut got = [a.unwrap(), b.unwrap()];
    got.sort_by_key(|g| format!("{g:?}"));
    let two_secs = std::time::Duration::from_secs(2);
    assert_eq!(got, [Grant::Tokens(3), Grant::Wait(two_secs)], "4 tokens: one gets 3, the other waits for 3");
    preview.pause_tokens(&system, now + chrono::Duration::seconds(30)).await.unwrap();
    let after = run.take_tokens(&system, &limit, 1, now + chrono::Duration::seconds(10)).await.unwrap();
    assert_eq!(after, Grant::Wait(std::time::Duration::from_secs(20)), "the other's pause holds this one too");
}

#[tokio::test]
async fn queue_contract_holds() {
    let (_dir, store) = fresh(settings(4, 300_000));
    contract::queue(&store, 4).await;
}

#[tokio::test]
async fn one_receive_delivers_group_heads_in_send_order_one_per_group() {
    let (_dir, store) = fresh(QueueSettings::default());
    store.send(Q, &[msg("a", "a1"), msg("b", "b1"), msg("a", "a2"), msg("c", "c1"), msg("b", "b2")]).await.unwrap();
    let first = store.receive(Q, 10, LONG).await.unwrap();
    assert_eq!(bodies(&first), ["body-a1", "body-b1", "body-c1"]);
    assert!(store.receive(Q, 10, LONG).await.unwrap().is_empty(), "every group is blocked");

    store.ack(Q, &first[1].receipt).await.unwrap();
    let next = store.receive(Q, 10, LONG).await.unwrap();
    assert_eq!(bodies(&next), ["body-b2"], "only group b moved on");

    store.ack(Q, &first[0].receipt).await.unwrap();
    let next = store.receive(Q, 1, LONG).await.unwrap();
    assert_eq!(bodies(&next), ["body-a2"]);
}

#[tokio::test]
async fn released_message_blocks_its_group_until_its_delay_passes() {
    let (_dir, store) = fresh(QueueSettings::default());
    store.send(Q, &[msg("a", "a1"), msg("a", "a2")]).await.unwrap();
    let a1 = store.receive(Q, 10, LONG).await.unwrap().remove(0);
    store.release(Q, &a1.receipt, Duration::from_millis(300)).await.unwrap();
    assert!(store.receive(Q, 10, LONG).await.unwrap().is_empty(), "a2 must not overtake the delayed a1");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let again = store.receive(Q, 10, LONG).await.unwrap();
    assert_eq!(bodies(&again), ["body-a1"]);
    assert_eq!(again[0].receive_count, 2);
}

#[tokio::test]
async fn unacked_message_is_redelivered_after_its_visibility_timeout() {
    let (_dir, store) = fresh(QueueSettings::default());
    store.send(Q, &[msg("a", "a1")]).await.unwrap();
    let first = store.receive(Q, 1, Duration::from_millis(200)).await.unwrap();
    assert_eq!(first[0].receive_count, 1);
    assert!(store.receive(Q, 1, LONG).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(250)).await;
    let second = store.receive(Q, 1, LONG).await.unwrap();
    assert_eq!(second[0].message_id, first[0].message_id);
    assert_eq!(second[0].receive_count, 2);
}

#[tokio::test]
async fn message_is_dead_lettered_after_max_receives_and_unblocks_its_group() {
    let (_dir, store) = fresh(settings(3, 300_000));
    store.send(Q, &[msg("a", "poison"), msg("a", "ok")]).await.unwrap();
    for n in 1..=3 {
        let d = store.receive(Q, 10, Duration::from_millis(30)).await.unwrap();
        assert_eq!(bodies(&d), ["body-poison"]);
        assert_eq!(d[0].receive_count, n);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = store.receive(Q, 10, LONG).await.unwrap();
    assert_eq!(bodies(&d), ["body-ok"], "the poison head moved to the DLQ in the same receive");
    let dead = store.dead_letters(Q).await.unwrap();
    assert_eq!(bodies(&dead), ["body-poison"]);
    assert_eq!(dead[0].receive_count, 3);
    assert_eq!(dead[0].receipt, "");
    assert!(store.dead_letters(QueueName::Writes).await.unwrap().is_empty());
    assert_eq!(store.depth(Q).await.unwrap(), 1);
    store.delete_dead_letter(Q, &dead[0].message_id).await.unwrap();
    store.delete_dead_letter(Q, &dead[0].message_id).await.unwrap();
    assert!(store.dead_letters(Q).await.unwrap().is_empty());
}

#[tokio::test]
async fn dedup_id_is_dropped_within_the_window_and_accepted_after_it() {
    let (_dir, store) = fresh(settings(5, 300));
    store.send(Q, &[msg("a", "x"), msg("a", "x")]).await.unwrap();
    assert_eq!(store.depth(Q).await.unwrap(), 1, "duplicates in one batch are dropped too");
    store.send(Q, &[msg("a", "x")]).await.unwrap();
    assert_eq!(store.depth(Q).await.unwrap(), 1);
    store.send(QueueName::Writes, &[msg("a", "x")]).await.unwrap();
    assert_eq!(store.depth(QueueName::Writes).await.unwrap(), 1, "dedup is per queue");
    tokio::time::sleep(Duration::from_millis(350)).await;
    store.send(Q, &[msg("a", "x")]).await.unwrap();
    assert_eq!(store.depth(Q).await.unwrap(), 2, "the window has passed");
}

#[tokio::test]
async fn stale_receipt_is_rejected_and_leaves_the_redelivered_message() {
    let (_dir, store) = fresh(QueueSettings::default());
    store.send(Q, &[msg("a", "a1")]).await.unwrap();
    let old = store.receive(Q, 1, Duration::from_millis(50)).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(80)).await;
    let new = store.receive(Q, 1, LONG).await.unwrap().remove(0);
    for result in [
        store.ack(Q, &old.receipt).await,
        store.release(Q, &old.receipt, Duration::ZERO).await,
        store.ack(QueueName::Writes, &new.receipt).await,
        store.ack(Q, "not-a-receipt").await,
    ] {
        let err = result.expect_err("stale receipt");
        assert_eq!(err.category, ErrorCategory::NotFound, "{err}");
    }
    assert_eq!(store.depth(Q).await.unwrap(), 1);
    assert!(store.receive(Q, 1, LONG).await.unwrap().is_empty(), "still in flight");
    store.ack(Q, &new.receipt).await.unwrap();
    assert_eq!(store.depth(Q).await.unwrap(), 0);
    let err = store.ack(Q, &new.receipt).await.expect_err("already deleted");
    assert_eq!(err.category, ErrorCategory::NotFound);
}

#[tokio::test]
async fn receipt_stays_valid_after_expiry_until_the_message_is_received_again() {
    let (_dir, store) = fresh(QueueSettings::default());
    store.send(Q, &[msg("a", "a1")]).await.unwrap();
    let d = store.receive(Q, 1, Duration::from_millis(20)).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(40)).await;
    store.ack(Q, &d.receipt).await.unwrap();
    assert_eq!(store.depth(Q).await.unwrap(), 0);
}

#[tokio::test]
async fn empty_group_or_dedup_id_is_rejected_and_nothing_is_sent() {
    let (_dir, store) = fresh(QueueSettings::default());
    for bad in [msg("", "x"), msg("a", "")] {
        let err = store.send(Q, &[msg("a", "ok"), bad]).await.expect_err("rejected");
        assert_eq!(err.category, ErrorCategory::BadMessage);
    }
    assert_eq!(store.depth(Q).await.unwrap(), 0);
}

#[tokio::test]
async fn zero_max_receives_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(&dir.path().join("f.db"), settings(0, 1)).expect_err("invalid");
    assert_eq!(err.category, ErrorCategory::Config);
}

#[tokio::test]
async fn version_conditions_report_conflicts() {
    let (_dir, store) = fresh(QueueSettings::default());
    let i = iid("app-bugs");
    let flow = Flow::LeftToRight;
    let cases: [(Option<u64>, bool); 5] = [
        (Some(0), false), // nothing stored yet
        (None, true),     // create: version 1
        (None, false),    // exists already
        (Some(2), false), // wrong version
        (Some(1), true),  // version 2
    ];
    for (n, (expected, ok)) in cases.into_iter().enumerate() {
        let r = store.put_watermark(&i, flow, &watermark(n as i64), expected).await;
        match r {
            Ok(()) => assert!(ok, "case {n} should conflict"),
            Err(e) => {
                assert!(!ok, "case {n} failed: {e}");
                assert_eq!(e.category, ErrorCategory::Conflict, "case {n}: {e}");
                assert!(e.message.contains("app-bugs"), "{e}");
            }
        }
    }
    let wm = store.get_watermark(&i, flow).await.unwrap().unwrap();
    assert_eq!(wm.version, 2);
    assert_eq!(wm.cursor, watermark(4).cursor);
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let i = iid("app-bugs");
    let link = Link {
        integration: i.clone(),
        left: entity_ref("10001"),
        right: entity_ref("42"),
        created_at: Utc.timestamp_opt(1_700_000_000, 5).unwrap(),
    };
    let receipt = {
        let (store, _) = open_in(&dir, QueueSettings::default());
        store.put_watermark(&i, Flow::LeftToRight, &watermark(1), None).await.unwrap();
        store.put_link(&link).await.unwrap();
        store.incr_counter(&i, Flow::LeftToRight, Counter::Synced, 7).await.unwrap();
        store.send(Q, &[msg("a", "a1"), msg("a", "a2")]).await.unwrap();
        let d = store.receive(Q, 1, LONG).await.unwrap().remove(0);
        d.receipt
    };
    let (store, _) = open_in(&dir, QueueSettings::default());
    let wm = store.get_watermark(&i, Flow::LeftToRight).await.unwrap().unwrap();
    assert_eq!((wm.version, wm.cursor), (1, watermark(1).cursor));
    assert_eq!(store.get_link(&i, Side::Right, &EntityId::new("42")).await.unwrap(), Some(link));
    assert_eq!(store.counts(&i, Flow::LeftToRight).await.unwrap(), FlowCounts { synced: 7, ..FlowCounts::default() });
    assert_eq!(store.depth(Q).await.unwrap(), 2);
    assert!(store.receive(Q, 1, LONG).await.unwrap().is_empty(), "a1 is still in flight");
    store.ack(Q, &receipt).await.unwrap();
    let d = store.receive(Q, 1, LONG).await.unwrap();
    assert_eq!(bodies(&d), ["body-a2"]);
}

#[tokio::test]
async fn two_handles_on_one_file_see_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, path) = open_in(&dir, QueueSettings::default());
    let b = SqliteStore::open(&path, QueueSettings::default()).unwrap();
    let i = iid("app-bugs");

    a.put_watermark(&i, Flow::RightToLeft, &watermark(1), None).await.unwrap();
    let wm = b.get_watermark(&i, Flow::RightToLeft).await.unwrap().unwrap();
    b.put_watermark(&i, Flow::RightToLeft, &watermark(2), Some(wm.version)).await.unwrap();
    let err = a
        .put_watermark(&i, Flow::RightToLeft, &watermark(3), Some(wm.version))
        .await
        .expect_err("a's version is stale");
    assert_eq!(err.category, ErrorCategory::Conflict);

    a.send(Q, &[msg("g", "1")]).await.unwrap();
    b.send(Q, &[msg("g", "1"), msg("g", "2")]).await.unwrap();
    assert_eq!(a.depth(Q).await.unwrap(), 2, "dedup spans handles");
    let d = b.receive(Q, 10, LONG).await.unwrap();
    assert_eq!(bodies(&d), ["body-1"]);
    assert!(a.receive(Q, 10, LONG).await.unwrap().is_empty(), "the group is in flight");
    a.ack(Q, &d[0].receipt).await.unwrap();
    assert_eq!(bodies(&b.receive(Q, 10, LONG).await.unwrap()), ["body-2"]);
}

#[tokio::test]
async fn concurrent_receivers_on_two_handles_never_share_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let (a, path) = open_in(&dir, QueueSettings::default());
    let b = SqliteStore::open(&path, QueueSettings::default()).unwrap();
    let messages: Vec<_> = (0..40).map(|n| msg(&format!("g{n}"), &format!("m{n}"))).collect();
    a.send(Q, &messages).await.unwrap();
    let mut tasks = Vec::new();
    for store in [a.clone(), b.clone(), a.clone(), b.clone()] {
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = store.receive(Q, 3, LONG).await.expect("receive");
                if batch.is_empty() {
                    return got;
                }
                for d in batch {
                    store.ack(Q, &d.receipt).await.expect("ack");
                    got.push(d.body);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let mut expected: Vec<_> = messages.iter().map(|m| m.body.clone()).collect();
    expected.sort();
    assert_eq!(all, expected);
}

#[tokio::test]
async fn concurrent_counter_increments_are_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (a, path) = open_in(&dir, QueueSettings::default());
    let b = SqliteStore::open(&path, QueueSettings::default()).unwrap();
    let i = iid("app-bugs");
    let mut tasks = Vec::new();
    for n in 0..20 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        let i = i.clone();
        tasks.push(tokio::spawn(async move { store.incr_counter(&i, Flow::LeftToRight, Counter::Skipped, 2).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(a.counts(&i, Flow::LeftToRight).await.unwrap().skipped, 40);
}

#[tokio::test]
async fn corrupt_json_is_reported_with_table_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = open_in(&dir, QueueSettings::default());
    let i = iid("app-bugs");
    store
        .put_link(&Link {
            integration: i.clone(),
            left: entity_ref("10001"),
            right: entity_ref("42"),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    store.put_watermark(&i, Flow::LeftToRight, &watermark(1), None).await.unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "UPDATE links SET body = '{\"integration\": '; UPDATE watermarks SET body = '[1,2]';
         INSERT INTO integrations (id, version, body) VALUES ('broken', 1, 'not json');",
    )
    .unwrap();

    let err = store.get_link(&i, Side::Left, &EntityId::new("10001")).await.expect_err("corrupt link");
    assert_eq!(err.category, ErrorCategory::Store);
    assert!(err.message.contains("table `links`"), "{err}");
    assert!(err.message.contains("10001"), "{err}");
    assert!(err.message.contains("ferry.db"), "names the file: {err}");
    let err = store.get_watermark(&i, Flow::LeftToRight).await.expect_err("corrupt");
    assert!(err.message.contains("table `watermarks`"), "{err}");
    let err = store.list_integrations().await.expect_err("corrupt");
    assert!(err.message.contains("integration broken"), "{err}");
}

#[tokio::test]
async fn a_newer_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, path) = open_in(&dir, QueueSettings::default());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE schema_version SET version = 99", []).unwrap();
    let err = SqliteStore::open(&path, QueueSettings::default()).expect_err("newer schema");
    assert_eq!(err.category, ErrorCategory::Store);
    assert!(err.message.contains("99"), "{err}");
}

#[tokio::test]
async fn reopening_keeps_one_schema_version_row_and_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (_a, path) = open_in(&dir, QueueSettings::default());
    let _b = SqliteStore::open(&path, QueueSettings::default()).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    let rows: Vec<i64> = raw
        .prepare("SELECT version FROM schema_version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, vec![super::schema::CURRENT]);
    let mode: String = raw.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn failure_id_owned_by_another_entity_conflicts() {
    let (_dir, store) = fresh(QueueSettings::default());
    let i = iid("app-bugs");
    contract::state_store(&store).await;
    let mut failures = store.list_failures(None).await.unwrap();
    let mut f = failures.remove(0);
    f.integration = i;
    f.entity = EntityId::new("other-entity");
    let err = store.put_failure(&f).await.expect_err("id taken");
    assert_eq!(err.category, ErrorCategory::Conflict, "{err}");
}

#[test]
fn concurrent_opens_of_a_fresh_file_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SqliteStore::open(&path, QueueSettings::default()).map(drop))
        })
        .collect();
    for h in handles {
        h.join().unwrap().expect("open");
    }
}

/// A file of schema version 2 (seen revisions in their own table) opens: the table is
/// dropped, and its watermark, written without a seen set, reads with an empty one.
#[tokio::test]
async fn a_version_2_file_drops_its_seen_table_and_keeps_its_watermarks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        for sql in &super::schema::MIGRATIONS[..2] {
            raw.execute_batch(sql).unwrap();
        }
        raw.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (2);",
        )
        .unwrap();
        let body = r#"{"floor":"2026-11-01T00:00:00Z","cursor":"2026-11-02T00:00:00Z","version":3,"last_poll":null}"#;
        raw.execute(
            "INSERT INTO watermarks (integration, flow, version, body) VALUES ('app-bugs', 'left_to_right', 3, ?1)",
            [body],
        )
        .unwrap();
        raw.execute("INSERT INTO seen (integration, side, entity, body) VALUES ('app-bugs', 'left', '1', '{}')", [])
            .unwrap();
    }
    let store = SqliteStore::open(&path, QueueSettings::default()).expect("migrates");
    let wm = store.get_watermark(&iid("app-bugs"), Flow::LeftToRight).await.expect("get").expect("kept");
    assert_eq!((wm.version, wm.seen.len()), (3, 0));
    assert_eq!(wm.cursor, Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    let tables: i64 = raw
        .query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'seen'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 0, "the seen table is gone");
}

/// The overview's pace, added up in SQL, is `flow_pace` of the buckets for every window:
/// a day of buckets with changes in flight at different minutes in each direction.
#[tokio::test]
async fn the_overviews_pace_added_up_in_sql_is_flow_pace_of_the_buckets() {
    use ferry_domain::activity::flow_pace;
    use ferry_domain::{Flow, IntegrationId, PaceBucket, PaceWindow};
    let (_dir, store) = fresh(QueueSettings::default());
    let ids: Vec<IntegrationId> = (0..3).map(|n| IntegrationId::parse(format!("pace-{n}")).unwrap()).collect();
    let now = Utc::now();
    let start = PaceBucket::at(now - chrono::Duration::hours(25)).minute;
    for (n, id) in ids.iter().enumerate() {
        for (f, flow) in Flow::BOTH.into_iter().enumerate() {
            for m in (0..25 * 60).step_by(7 + n + f) {
                // Reads settle a while later, and some never do (parked or in flight).
                let k = (m as u64 + n as u64 * 13 + f as u64 * 5) % 11;
                let b = PaceBucket {
                    minute: start + chrono::Duration::minutes(m as i64),
                    read: k,
                    written: k / 2,
                    settled: k.saturating_sub(u64::from(m % 97 == 0)),
                };
                store.add_pace(id, flow, &b).await.unwrap();
            }
        }
    }
    let hours = |h: i64| now - chrono::Duration::hours(h);
    let windows = [
        PaceWindow { since: hours(24), now },
        PaceWindow { since: hours(3), now },
        PaceWindow { since: hours(24), now: hours(5) },
        PaceWindow { since: now, now },
    ];
    for w in windows {
        let got = store.overview(&ids, Some(w)).await.unwrap();
        for id in &ids {
            for flow in Flow::BOTH {
                let buckets = store.pace_since(id, flow, w.since).await.unwrap();
                assert_eq!(got.pace(id, flow), flow_pace(&buckets, w.now), "{id} {flow} over {w:?}");
            }
        }
    }
    let whole = store.overview(&ids, Some(windows[0])).await.unwrap();
    assert!(ids.iter().any(|id| whole.pace(id, Flow::LeftToRight).oldest_in_flight.is_some()), "not vacuous");
    assert!(ids.iter().all(|id| whole.pace(id, Flow::RightToLeft).written_last_hour > 0), "not vacuous");
}

#[tokio::test]
async fn commit_link_contract_holds_on_sqlite_twice_and_survives_a_reopen() {
    use ferry_domain::ports::CommitLinkStore;
    let (dir, store) = fresh(QueueSettings::default());
    contract::commit_links(&store).await;
    contract::commit_links(&store).await;
    let stored = store.list_commit_links().await.unwrap();
    assert_eq!(stored.len(), 4, "two links per run");
    // The records survive the process: a second open of the file reads them.
    drop(store);
    let (again, _) = open_in(&dir, QueueSettings::default());
    assert_eq!(again.list_commit_links().await.unwrap(), stored);
}
