//! The behaviour every store and queue backend must show, written against the port
//! traits only: run it against SQLite here and against DynamoDB/SQS on an emulator.
//!
//! The suites panic (assert) on the first deviation. `config_store`, `state_store` and
//! `collaboration` use fresh random ids, so they run against a store that already holds data;
//! `queue` needs both queues empty at the start and leaves them empty. Waits use whole
//! seconds because SQS visibility timeouts have one-second granularity.

use chrono::{DateTime, Duration as TimeDelta, TimeZone, Utc};
use ferry_domain::activity::flow_pace;
use ferry_domain::ports::{ConfigStore, OutMessage, Queue, QueueName, StateKey, StateRecord, StateStore};
use ferry_domain::{
    Activity, ActivityKind, AttachmentPair, AuthConfig, ChangeEvent, CollabState, CommentPair, CopyIntent, Counter,
    Direction, Endpoint, EntityId, EntityRef, EntitySnapshot, ErrorCategory, FailureRecord, FieldKey, FieldMapping,
    FieldValue, FilterExit, Fingerprint, Flow, FlowCounts, Integration, IntegrationId, IntegrationRecord, Link,
    MappingKind, OutsideRead, PaceBucket, PairFingerprints, ReadState, ReadToken, Relation, RelationIntent, RemoteRefs,
    SecretRef, SeenRevision, Side, SystemConfig, SystemId, SystemKind, UnmatchedUser, UserTable, WalkCheckpoint,
    Watermark, MESSAGE_SCHEMA,
};
use ferry_domain::{FailureCount, PaceWindow};
use std::collections::BTreeMap;
use std::time::Duration;

pub use crate::commit_link_contract::commit_links;
pub use crate::rate_limit_contract::rate_limits;
pub use crate::webhook_contract::webhooks;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A fixed instant with sub-microsecond precision, to catch lossy timestamp storage.
fn at(secs_after_base: i64) -> DateTime<Utc> {
    let base = Utc.with_ymd_and_hms(2026, 3, 14, 9, 26, 53).single().expect("valid fixture date");
    base + TimeDelta::seconds(secs_after_base) + TimeDelta::nanoseconds(123_456_789)
}

fn system(id: &str, base_url: &str) -> SystemConfig {
    SystemConfig {
        id: SystemId::parse(id).expect("valid fixture id"),
        kind: SystemKind::Jira,
        base_url: base_url.to_string(),
        identity_url: None,
        auth: AuthConfig::Basic { username: "ferry@example.com".into(), token: SecretRef::Env("JIRA_TOKEN".into()) },
        integration_user: Some("ferry@example.com".into()),
        proxy: None,
        ca_cert: None,
        allow_http_loopback: true,
        webhook: None,
        rate_limit: None,
    }
}

fn integration(id: &IntegrationId, version: u64, active: bool) -> IntegrationRecord {
    IntegrationRecord {
        integration: Integration {
            id: id.clone(),
            left: Endpoint {
                system: SystemId::parse("jira").expect("valid fixture id"),
                project: "APP".into(),
                entity_type: "Bug".into(),
            },
            right: Endpoint {
                system: SystemId::parse("ado").expect("valid fixture id"),
                project: "App".into(),
                entity_type: "Bug".into(),
            },
            poll_interval_secs: 60,
            overlap_secs: 120,
            start_time: Some(at(0)),
            filter_left_to_right: Some("labels = sync".into()),
            filter_right_to_left: None,
            filter_exit: FilterExit::KeepSyncing,
            remote: RemoteRefs::default(),
            fields: vec![FieldMapping {
                left: Some(FieldKey::new("summary")),
                right: Some(FieldKey::new("System.Title")),
                direction: Direction::Both,
                kind: MappingKind::Value,
                values: None,
                default_left: None,
                default_right: None,
                constant: None,
                unmatched: UnmatchedUser::Default,
                conflict: Default::default(),
            }],
            users: UserTable::default(),
            max_attempts: 3 + version as u32,
            collaboration: Default::default(),
        },
        active,
        version,
        updated_at: at(version as i64),
    }
}

fn entity_ref(id: &str, rev: &str) -> EntityRef {
    EntityRef {
        id: EntityId::new(id),
        key: format!("K-{id}"),
        url: format!("https://example.test/{id}"),
        revision: rev.to_string(),
        updated: at(10),
    }
}

fn link(integration: &IntegrationId, left: &str, right: &str) -> Link {
    Link {
        integration: integration.clone(),
        left: entity_ref(left, "1"),
        right: entity_ref(right, "7"),
        created_at: at(20),
    }
}

fn snapshot(id: &str) -> EntitySnapshot {
    let mut fields = BTreeMap::new();
    fields.insert(FieldKey::new("summary"), FieldValue::Text("Crash on save".into()));
    fields.insert(FieldKey::new("priority"), FieldValue::Option("High".into()));
    EntitySnapshot {
        id: EntityId::new(id),
        key: format!("APP-{id}"),
        revision: "1710408413123".into(),
        updated: at(30),
        changed_by: None,
        url: format!("https://example.test/browse/APP-{id}"),
        fields,
    }
}

fn failure(
    integration: &IntegrationId,
    flow: Flow,
    entity: &str,
    first: DateTime<Utc>,
    attempts: u32,
) -> FailureRecord {
    FailureRecord {
        id: unique("failure"),
        integration: integration.clone(),
        flow,
        entity: EntityId::new(entity),
        entity_key: format!("APP-{entity}"),
        category: ErrorCategory::InvalidRequest,
        cause: format!("field Priority rejected (attempt {attempts})"),
        input: ChangeEvent {
            schema: MESSAGE_SCHEMA,
            integration: integration.clone(),
            flow,
            snapshot: snapshot(entity),
            matches_filter: true,
            polled_at: first,
            replay: None,
            winner: None,
        },
        mapping_output: None,
        attempts,
        first_failed_at: first,
        last_failed_at: first + TimeDelta::seconds(i64::from(attempts)),
    }
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, ferry_domain::PortError>) -> bool {
    matches!(r, Err(ref e) if e.category == ErrorCategory::Conflict)
}

/// The record of one key, read through `get_many`.
async fn record(store: &dyn StateStore, key: StateKey) -> Option<StateRecord> {
    store.get_many(std::slice::from_ref(&key)).await.expect("get_many").remove(&key)
}

async fn own_fingerprint(store: &dyn StateStore, iid: &IntegrationId, side: Side, e: &EntityId) -> Option<Fingerprint> {
    match record(store, StateKey::Fingerprint(iid.clone(), side, e.clone())).await {
        Some(StateRecord::Fingerprint(f)) => Some(f),
        None => None,
        other => panic!("a fingerprint key answered {other:?}"),
    }
}

async fn pair_record(store: &dyn StateStore, iid: &IntegrationId, left: &EntityId) -> Option<PairFingerprints> {
    match record(store, StateKey::Pair(iid.clone(), left.clone())).await {
        Some(StateRecord::Pair(p)) => Some(*p),
        None => None,
        other => panic!("a pair key answered {other:?}"),
    }
}

async fn open_failures(store: &dyn StateStore, iid: &IntegrationId, flow: Flow) -> u64 {
    match record(store, StateKey::OpenFailures(iid.clone(), flow)).await {
        Some(StateRecord::OpenFailures(n)) => n,
        other => panic!("an open-failure count is always answered, got {other:?}"),
    }
}

/// Systems upsert by id; integrations are written only when the version condition holds.
pub async fn config_store(store: &dyn ConfigStore) {
    let sys_id = unique("sys");
    let sid = SystemId::parse(sys_id.clone()).expect("valid id");
    assert_eq!(store.get_system(&sid).await.expect("get_system"), None);
    let first = system(&sys_id, "https://acme.atlassian.net");
    store.put_system(&first).await.expect("put_system");
    assert_eq!(store.get_system(&sid).await.expect("get_system"), Some(first));
    let replaced = system(&sys_id, "https://other.atlassian.net");
    store.put_system(&replaced).await.expect("put_system again");
    assert_eq!(store.get_system(&sid).await.expect("get_system"), Some(replaced.clone()), "put_system replaces by id");
    let other = system(&unique("sys"), "http://127.0.0.1:9");
    store.put_system(&other).await.expect("put_system other");
    let listed = store.list_systems().await.expect("list_systems");
    assert_eq!(listed.iter().filter(|s| s.id == sid).count(), 1);
    assert!(listed.contains(&replaced) && listed.contains(&other));

    let iid = IntegrationId::parse(unique("int")).expect("valid id");
    assert_eq!(store.get_integration(&iid).await.expect("get"), None);
    assert!(
        is_conflict(store.put_integration(&integration(&iid, 1, false), Some(0)).await),
        "expecting a version of a missing integration conflicts"
    );
    let v1 = integration(&iid, 1, false);
    store.put_integration(&v1, None).await.expect("create");
    assert_eq!(store.get_integration(&iid).await.expect("get"), Some(v1.clone()));
    assert!(
        is_conflict(store.put_integration(&integration(&iid, 1, true), None).await),
        "creating an existing integration conflicts"
    );
    assert!(
        is_conflict(store.put_integration(&integration(&iid, 2, true), Some(7)).await),
        "a wrong expected version conflicts"
    );
    assert_eq!(store.get_integration(&iid).await.expect("get"), Some(v1.clone()), "a conflicting put changes nothing");
    let v2 = integration(&iid, 2, true);
    store.put_integration(&v2, Some(1)).await.expect("update v1 -> v2");
    assert_eq!(store.get_integration(&iid).await.expect("get"), Some(v2.clone()));
    assert!(
        is_conflict(store.put_integration(&integration(&iid, 2, false), Some(1)).await),
        "a stale expected version conflicts"
    );
    let listed = store.list_integrations().await.expect("list_integrations");
    assert_eq!(listed.iter().filter(|r| r.integration.id == iid).collect::<Vec<_>>(), vec![&v2]);
}

/// Watermarks, seen revisions, links, fingerprints, failures and counters.
pub async fn state_store(store: &dyn StateStore) {
    let iid = IntegrationId::parse(unique("int")).expect("valid id");
    let other = IntegrationId::parse(unique("int")).expect("valid id");
    watermarks(store, &iid).await;
    seen(store, &iid).await;
    links(store, &iid, &other).await;
    fingerprints(store, &iid).await;
    failures(store, &iid, &other).await;
    batched(store, &iid).await;
    pairs(store, &iid).await;
    dropped_links(store).await;
    counters(store, &iid, &other).await;
    leases(store, &iid).await;
    activity(store, &iid, &other).await;
    failure_overviews(store).await;
    overview(store, &iid, &other).await;
    backfills(store, &iid, &other).await;
}

/// A backfill record reads back as stored, per integration, and the next one replaces it.
async fn backfills(store: &dyn StateStore, iid: &IntegrationId, other: &IntegrationId) {
    use ferry_domain::{Ambiguous, BackfillPlan, BackfillRecord, PairBy, PlannedItem};
    assert_eq!(store.get_backfill(iid).await.expect("get_backfill"), None, "none before the first");
    let entity = |id: &str, key: &str| EntityRef {
        id: EntityId::new(id),
        key: key.into(),
        url: format!("https://example.test/{key}"),
        revision: "3".into(),
        updated: at(5),
    };
    let first = BackfillRecord {
        integration: iid.clone(),
        pair_by: PairBy::Field { side: Side::Right, field: FieldKey::new("Custom.JiraKey") },
        accepted_at: at(10),
        activated_at: None,
        plan: BackfillPlan {
            since: at(-3600),
            to_create: (0..300)
                .map(|n| PlannedItem {
                    side: Side::Left,
                    id: EntityId::new(format!("{}", 10_000 + n)),
                    key: format!("APP-{n}"),
                })
                .collect(),
            to_pair: vec![(entity("20001", "APP-900"), entity("77", "77"))],
            already_paired: 4,
            ambiguous: vec![Ambiguous {
                side: Side::Right,
                key: "78".into(),
                candidates: vec!["APP-1".into(), "APP-2".into()],
            }],
        },
    };
    store.put_backfill(&first).await.expect("put_backfill");
    assert_eq!(store.get_backfill(iid).await.expect("get_backfill"), Some(first.clone()));
    assert_eq!(store.get_backfill(other).await.expect("get_backfill"), None, "per integration");
    let activated = BackfillRecord { activated_at: Some(at(11)), pair_by: PairBy::Title, ..first };
    store.put_backfill(&activated).await.expect("replace");
    assert_eq!(store.get_backfill(iid).await.expect("get_backfill"), Some(activated));
}

/// The overview of several integrations answers what the single reads answer, after
/// the suites above gave `iid` a watermark, links, counters and minute buckets; its pace
/// is [`flow_pace`] of the buckets `pace_since` reads, for windows that take in all of
/// them, some, or put them outside the last hour.
async fn overview(store: &dyn StateStore, iid: &IntegrationId, other: &IntegrationId) {
    let fresh = IntegrationId::parse(unique("int")).expect("valid id");
    let all = [iid.clone(), other.clone(), fresh.clone()];
    let epoch = Utc.timestamp_opt(0, 0).single().expect("the epoch");
    let now = Utc::now();
    let window = PaceWindow { since: epoch, now };
    let got = store.overview(&all, Some(window)).await.expect("overview");
    for i in &all {
        assert_eq!(got.links(i), store.count_links(i).await.expect("count"), "links of {i}");
        for flow in Flow::BOTH {
            let one = store.get_watermark(i, flow).await.expect("get");
            assert_eq!(got.watermark(i, flow), one.as_ref(), "watermark of {i} {flow}");
            assert_eq!(got.counts(i, flow), store.counts(i, flow).await.expect("counts"), "counts of {i} {flow}");
        }
    }
    // Not vacuous: the suites above wrote each kind of record for `iid`.
    assert!(got.watermark(iid, Flow::LeftToRight).is_some_and(|w| w.version > 0));
    assert!(got.links(iid) > 0);
    assert_eq!(got.counts(iid, Flow::RightToLeft).synced, 3);
    assert_eq!(got.watermark(&fresh, Flow::LeftToRight), None);
    assert_eq!(got.counts(&fresh, Flow::LeftToRight), FlowCounts::default());

    let minute = store.pace_since(iid, Flow::LeftToRight, epoch).await.expect("pace")[0].minute;
    let windows = [
        window,
        PaceWindow { since: minute + TimeDelta::minutes(1), now },
        PaceWindow { since: epoch, now: minute + TimeDelta::minutes(90) },
        PaceWindow { since: epoch, now: minute + TimeDelta::seconds(30) },
    ];
    for w in windows {
        let got = store.overview(&all, Some(w)).await.expect("overview");
        for i in &all {
            for flow in Flow::BOTH {
                let buckets = store.pace_since(i, flow, w.since).await.expect("pace");
                assert_eq!(got.pace(i, flow), flow_pace(&buckets, w.now), "pace of {i} {flow} over {w:?}");
            }
        }
    }
    let pace = got.pace(iid, Flow::LeftToRight);
    assert_eq!((pace.written_last_hour, pace.oldest_in_flight), (3, Some(minute)), "a change still in flight");

    let without = store.overview(&all, None).await.expect("overview without pace");
    assert!(without.pace.is_empty(), "no pace unless asked for");
    assert_eq!((without.watermarks, without.counts, without.links), (got.watermarks, got.counts, got.links));
    assert_eq!(store.overview(&[], Some(window)).await.expect("empty overview"), Default::default());
}

async fn leases(store: &dyn StateStore, iid: &IntegrationId) {
    let flow = Flow::LeftToRight;
    let long = Duration::from_secs(60);
    assert!(store.acquire_lease(iid, flow, "a", long).await.expect("acquire"), "a free lease is granted");
    assert!(
        !store.acquire_lease(iid, flow, "b", long).await.expect("acquire"),
        "a held lease is refused to another owner"
    );
    assert!(store.acquire_lease(iid, flow, "a", long).await.expect("acquire"), "the holder may renew");
    assert!(store.acquire_lease(iid, Flow::RightToLeft, "b", long).await.expect("acquire"), "leases are per direction");
    store.release_lease(iid, flow, "b").await.expect("release by a non-holder is a no-op");
    assert!(!store.acquire_lease(iid, flow, "b", long).await.expect("acquire"));
    store.release_lease(iid, flow, "a").await.expect("release");
    assert!(
        store.acquire_lease(iid, flow, "b", Duration::from_secs(1)).await.expect("acquire"),
        "a released lease is free"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(store.acquire_lease(iid, flow, "c", long).await.expect("acquire"), "an expired lease is free");
    store.release_lease(iid, flow, "c").await.expect("release");
    store.release_lease(iid, Flow::RightToLeft, "b").await.expect("release");
}

async fn watermarks(store: &dyn StateStore, iid: &IntegrationId) {
    let flow = Flow::LeftToRight;
    assert_eq!(store.get_watermark(iid, flow).await.expect("get"), None);
    let wm = |cursor: i64, version: u64| Watermark {
        floor: at(0),
        cursor: at(cursor),
        version,
        last_poll: Some(at(cursor + 1)),
        seen: BTreeMap::new(),
        read: ReadState {
            resume: Some(ReadToken(format!("{{\"after\":{cursor}}}"))),
            rescan_from: Some(at(cursor - 3)),
            rescanned_at: Some(at(cursor - 1)),
        },
        outside: Some(OutsideRead { cursor: at(cursor - 1), read: ReadState::default() }),
        branch_tips: Some(BTreeMap::from([("main".to_string(), format!("{cursor:040x}"))])),
        walk: Some(WalkCheckpoint {
            to: BTreeMap::from([("main".to_string(), format!("{:040x}", cursor + 9))]),
            after: format!("{:040x}", cursor + 4),
            handled: 3,
        }),
    };
    assert!(
        is_conflict(store.put_watermark(iid, flow, &wm(5, 0), Some(0)).await),
        "expecting a version of a missing watermark conflicts"
    );
    store.put_watermark(iid, flow, &wm(5, 0), None).await.expect("first put");
    let got = store.get_watermark(iid, flow).await.expect("get").expect("stored");
    assert_eq!(got, wm(5, 1), "first put stores version 1");
    assert!(is_conflict(store.put_watermark(iid, flow, &wm(6, 0), None).await));
    assert!(is_conflict(store.put_watermark(iid, flow, &wm(6, 0), Some(9)).await));
    // The version inside the given watermark is ignored: the store owns it.
    store.put_watermark(iid, flow, &wm(6, 99), Some(got.version)).await.expect("conditional put");
    let got = store.get_watermark(iid, flow).await.expect("get").expect("stored");
    assert_eq!(got, wm(6, 2), "stored version becomes expected + 1");
    assert!(is_conflict(store.put_watermark(iid, flow, &wm(7, 0), Some(1)).await), "a stale version conflicts");
    assert_eq!(store.get_watermark(iid, flow).await.expect("get"), Some(wm(6, 2)));
    assert_eq!(store.get_watermark(iid, Flow::RightToLeft).await.expect("get"), None, "flows have separate watermarks");
}

/// A watermark carries its polls' seen revisions: a burst's twenty thousand (the
/// engine's cap) round-trip whole, at millisecond precision, with the revisions kept for
/// some, and a later put replaces the set.
async fn seen(store: &dyn StateStore, iid: &IntegrationId) {
    let flow = Flow::RightToLeft;
    let base = DateTime::from_timestamp_millis(at(100).timestamp_millis()).expect("in range");
    let ms = |i: i64| base + chrono::Duration::milliseconds(i);
    let seen: BTreeMap<EntityId, SeenRevision> = (0..20_000)
        .map(|i| {
            let revision = (i % 50 == 0).then(|| format!("2026-11-26T10:00:00Z#{}", i * 7));
            (EntityId::new(format!("{}", 20000 + i)), SeenRevision { revision, updated: ms(i / 3) })
        })
        .collect();
    let wm = Watermark { cursor: ms(6666), seen: seen.clone(), ..Watermark::starting_at(at(0)) };
    store.put_watermark(iid, flow, &wm, None).await.expect("put with a seen set");
    let got = store.get_watermark(iid, flow).await.expect("get").expect("stored");
    assert_eq!(got.seen, seen, "every seen revision round-trips");
    let mut fewer = got.clone();
    fewer.seen = seen.into_iter().take(2).collect();
    store.put_watermark(iid, flow, &fewer, Some(got.version)).await.expect("put a smaller set");
    let got = store.get_watermark(iid, flow).await.expect("get").expect("stored");
    assert_eq!(got.seen.len(), 2, "a put replaces the set");
    assert_eq!(store.get_watermark(iid, Flow::LeftToRight).await.expect("get").map(|w| w.seen.len()), Some(0));
}

async fn links(store: &dyn StateStore, iid: &IntegrationId, other: &IntegrationId) {
    let l1 = link(iid, "10001", "42");
    store.put_link(&l1).await.expect("put_link");
    let get = |side: Side, id: &str| {
        let id = EntityId::new(id);
        async move { store.get_link(iid, side, &id).await }
    };
    assert_eq!(get(Side::Left, "10001").await.expect("get"), Some(l1.clone()));
    assert_eq!(get(Side::Right, "42").await.expect("get"), Some(l1.clone()));
    assert_eq!(get(Side::Right, "10001").await.expect("get"), None, "ids are per side");
    assert_eq!(get(Side::Left, "42").await.expect("get"), None, "ids are per side");
    assert_eq!(
        store.get_link(other, Side::Left, &EntityId::new("10001")).await.expect("get"),
        None,
        "links are per integration"
    );
    store.put_link(&link(iid, "10002", "43")).await.expect("second link");
    assert_eq!(store.count_links(iid).await.expect("count"), 2);
    assert_eq!(store.count_links(other).await.expect("count"), 0);

    // Re-linking one entity replaces its old link: links stay one-to-one.
    let relinked = link(iid, "10001", "44");
    store.put_link(&relinked).await.expect("relink");
    assert_eq!(get(Side::Left, "10001").await.expect("get"), Some(relinked.clone()));
    assert_eq!(get(Side::Right, "44").await.expect("get"), Some(relinked));
    assert_eq!(get(Side::Right, "42").await.expect("get"), None);
    assert_eq!(store.count_links(iid).await.expect("count"), 2);
}

async fn fingerprints(store: &dyn StateStore, iid: &IntegrationId) {
    let e = EntityId::new("42");
    assert_eq!(own_fingerprint(store, iid, Side::Right, &e).await, None);
    let mut fp = Fingerprint {
        integration: iid.clone(),
        side: Side::Right,
        entity: e.clone(),
        values: BTreeMap::from([
            ("System.Title".to_string(), FieldValue::Text("Crash".into())),
            ("Microsoft.VSTS.Common.Priority".to_string(), FieldValue::Number(2.0)),
        ]),
        written_revision: Some("7".into()),
        written_updated: None,
        updated_at: at(50),
        applied_source_updated: None,
        create_started: None,
        twin_deleted: None,
    };
    store.put_fingerprint(&fp).await.expect("put");
    assert_eq!(own_fingerprint(store, iid, Side::Right, &e).await, Some(fp.clone()));
    fp.written_revision = Some("8".into());
    fp.values.insert("System.State".into(), FieldValue::Option("Active".into()));
    store.put_fingerprint(&fp).await.expect("upsert");
    assert_eq!(own_fingerprint(store, iid, Side::Right, &e).await, Some(fp.clone()));
    assert_eq!(own_fingerprint(store, iid, Side::Left, &e).await, None, "fingerprints are per side");
    assert_eq!(store.get_fingerprint(iid, Side::Right, &e).await.expect("get"), Some(fp), "unlinked: its own");
    create_intents(store).await;
}

/// A create intent is claimed once: of two attempts that read the same intent, the
/// second's claim conflicts and writes nothing; an entity already linked is never
/// claimed.
async fn create_intents(store: &dyn StateStore) {
    // An integration of its own: the test links an entity.
    let iid = &IntegrationId::parse(unique("int")).expect("valid id");
    let e = EntityId::new("43");
    let intent = |started: Option<i64>| Fingerprint {
        integration: iid.clone(),
        side: Side::Left,
        entity: e.clone(),
        values: BTreeMap::new(),
        written_revision: None,
        written_updated: None,
        updated_at: at(60),
        applied_source_updated: None,
        create_started: started.map(at),
        twin_deleted: None,
    };
    store.put_create_intent(&intent(Some(61)), None).await.expect("the first claim of an entity without a fingerprint");
    let second = store.put_create_intent(&intent(Some(62)), None).await;
    assert!(is_conflict(second), "a second claim from no intent conflicts");
    assert_eq!(own_fingerprint(store, iid, Side::Left, &e).await, Some(intent(Some(61))), "and wrote nothing");
    store.put_create_intent(&intent(Some(63)), Some(at(61))).await.expect("a retry that read the intent claims anew");
    assert!(is_conflict(store.put_create_intent(&intent(Some(64)), Some(at(61))).await), "a stale retry conflicts");
    store.put_create_intent(&intent(None), Some(at(63))).await.expect("a refused create puts the intent back");
    store.put_create_intent(&intent(Some(65)), None).await.expect("then the entity can be claimed again");
    // A fingerprint put without the condition keeps the intent the claim reads.
    store.put_fingerprint(&intent(Some(66))).await.expect("put");
    assert!(is_conflict(store.put_create_intent(&intent(Some(67)), None).await), "put_fingerprint's intent counts");
    store.put_create_intent(&intent(Some(67)), Some(at(66))).await.expect("claimed from the put intent");
    // Linked, by this create or any other attempt: no claim, whatever intent it read
    // (the pair's record may have cleared the intent the claim compares with).
    store.put_link(&link(iid, "43", "9043")).await.expect("link");
    store.put_create_intent(&intent(None), Some(at(67))).await.expect_err("a linked entity's intent is not put back");
    for expected in [Some(at(67)), None] {
        let claim = store.put_create_intent(&intent(Some(68)), expected).await;
        assert!(is_conflict(claim), "a claim of a linked entity conflicts (read {expected:?})");
    }
    assert_eq!(own_fingerprint(store, iid, Side::Left, &e).await, Some(intent(Some(67))), "and wrote nothing");
}

async fn failures(store: &dyn StateStore, iid: &IntegrationId, other: &IntegrationId) {
    let flow = Flow::LeftToRight;
    let late = failure(iid, flow, "10001", at(100), 1);
    let early = failure(iid, flow, "10002", at(50), 1);
    let elsewhere = failure(other, flow, "10001", at(75), 1);
    for f in [&late, &early, &elsewhere] {
        store.put_failure(f).await.expect("put_failure");
    }
    assert_eq!(store.get_failure(&late.id).await.expect("get"), Some(late.clone()));
    assert_eq!(store.get_failure("no-such-failure").await.expect("get"), None);
    assert_eq!(
        store.failure_for_entity(iid, flow, &EntityId::new("10001")).await.expect("for entity"),
        Some(late.clone())
    );
    assert_eq!(
        store.failure_for_entity(iid, flow.reverse(), &EntityId::new("10001")).await.expect("for entity"),
        None,
        "failures are per flow"
    );
    assert_eq!(
        store.list_failures(Some(iid)).await.expect("list"),
        vec![early.clone(), late.clone()],
        "oldest first_failed_at first"
    );
    let all = store.list_failures(None).await.expect("list all");
    let ours: Vec<_> = all.iter().filter(|f| &f.integration == iid || &f.integration == other).cloned().collect();
    assert_eq!(ours, vec![early.clone(), elsewhere.clone(), late.clone()]);

    // A second failure of the same entity replaces the first but keeps its id and
    // the earlier first_failed_at.
    let mut again = failure(iid, flow, "10001", at(200), 2);
    again.cause = "still rejected".into();
    store.put_failure(&again).await.expect("replace");
    let mut expected = again.clone();
    expected.id = late.id.clone();
    expected.first_failed_at = late.first_failed_at;
    assert_eq!(store.get_failure(&late.id).await.expect("get"), Some(expected.clone()));
    assert_eq!(store.get_failure(&again.id).await.expect("get"), None);
    assert_eq!(store.list_failures(Some(iid)).await.expect("list"), vec![early.clone(), expected.clone()]);

    let open = |i: &IntegrationId, flow: Flow| {
        let i = i.clone();
        async move { open_failures(store, &i, flow).await }
    };
    assert_eq!(open(iid, flow).await, 2, "a replaced failure is still one entity's");
    assert_eq!(open(iid, flow.reverse()).await, 0, "counts are per flow, and 0 is an answer");
    assert_eq!(open(other, flow).await, 1, "counts are per integration");

    store.delete_failure(&early.id).await.expect("delete");
    store.delete_failure(&early.id).await.expect("delete is idempotent");
    assert_eq!(open(iid, flow).await, 1, "a second delete does not count again");
    assert_eq!(store.get_failure(&early.id).await.expect("get"), None);
    assert_eq!(store.list_failures(Some(iid)).await.expect("list"), vec![expected]);
    assert_eq!(store.list_failures(Some(other)).await.expect("list"), vec![elsewhere]);
}

/// `get_many` answers many keys at once what each answers alone, of every kind; keys
/// without a record are absent. Runs after `links`, `fingerprints` and `failures`.
async fn batched(store: &dyn StateStore, iid: &IntegrationId) {
    let l = link(iid, "B-1", "901");
    store.put_link(&l).await.expect("put_link");
    let fp = |side: Side, id: &str, title: &str| Fingerprint {
        integration: iid.clone(),
        side,
        entity: EntityId::new(id),
        values: BTreeMap::from([("title".to_string(), FieldValue::Text(title.into()))]),
        written_revision: Some("3".into()),
        written_updated: Some(at(60)),
        updated_at: at(61),
        applied_source_updated: Some(at(59)),
        create_started: None,
        twin_deleted: None,
    };
    let (left_fp, right_fp) = (fp(Side::Left, "B-1", "Crash"), fp(Side::Right, "901", "Crash!"));
    for f in [&left_fp, &right_fp] {
        store.put_fingerprint(f).await.expect("put_fingerprint");
    }
    let newer = fp(Side::Left, "B-1", "Crash on start");
    store.put_fingerprint(&newer).await.expect("put_fingerprint again");
    assert_eq!(own_fingerprint(store, iid, Side::Left, &EntityId::new("B-1")).await, Some(newer.clone()), "replaced");

    let parked = failure(iid, Flow::RightToLeft, "901", at(70), 1);
    store.put_failure(&parked).await.expect("put_failure");
    let keys = vec![
        StateKey::Link(iid.clone(), Side::Left, EntityId::new("B-1")),
        StateKey::Link(iid.clone(), Side::Right, EntityId::new("901")),
        StateKey::Link(iid.clone(), Side::Right, EntityId::new("no-such")),
        StateKey::Fingerprint(iid.clone(), Side::Left, EntityId::new("B-1")),
        StateKey::Fingerprint(iid.clone(), Side::Right, EntityId::new("901")),
        StateKey::Fingerprint(iid.clone(), Side::Right, EntityId::new("no-such")),
        StateKey::Failure(iid.clone(), Flow::RightToLeft, EntityId::new("901")),
        StateKey::Failure(iid.clone(), Flow::LeftToRight, EntityId::new("901")),
        StateKey::OpenFailures(iid.clone(), Flow::RightToLeft),
        StateKey::Pair(iid.clone(), EntityId::new("B-1")),
        StateKey::Pair(iid.clone(), EntityId::new("no-such")),
    ];
    let got = store.get_many(&keys).await.expect("get_many");
    assert_eq!(got.len(), 7, "absent keys are absent: {got:?}");
    let own = PairFingerprints { left: Some(newer.clone()), right: Some(right_fp.clone()), version: 0 };
    assert_eq!(got.get(&keys[9]), Some(&StateRecord::Pair(Box::new(own))), "linked without a record: own fingerprints");
    assert_eq!(got.get(&keys[8]), Some(&StateRecord::OpenFailures(1)));
    let relaxed = store.get_many_relaxed(&keys[..6]).await.expect("get_many_relaxed");
    assert_eq!(relaxed, store.get_many(&keys[..6]).await.expect("get_many"), "relaxed reads answer the same at rest");
    assert_eq!(got.get(&keys[0]), Some(&StateRecord::Link(l.clone())));
    assert_eq!(got.get(&keys[1]), Some(&StateRecord::Link(l)));
    assert_eq!(got.get(&keys[3]), Some(&StateRecord::Fingerprint(newer)));
    assert_eq!(got.get(&keys[4]), Some(&StateRecord::Fingerprint(right_fp)));
    assert_eq!(got.get(&keys[6]), Some(&StateRecord::Failure(Box::new(parked.clone()))));
    store.delete_failure(&parked.id).await.expect("delete");
    let got = store.get_many(&keys[6..9]).await.expect("get_many");
    assert_eq!(
        got,
        std::collections::HashMap::from([(keys[8].clone(), StateRecord::OpenFailures(0))]),
        "a deleted failure is gone, and no longer counted"
    );
    // More keys than one DynamoDB batch takes (100).
    let many: Vec<_> =
        (0..130).map(|n| StateKey::Fingerprint(iid.clone(), Side::Left, EntityId::new(format!("none-{n}")))).collect();
    assert!(store.get_many(&many).await.expect("get_many of 130").is_empty());
}

/// A linked pair's fingerprints are one record, written by `put_pair`; until then (a
/// pair linked a moment ago) they are the two entities' own, at version 0.
async fn pairs(store: &dyn StateStore, iid: &IntegrationId) {
    let (left_id, right_id) = (EntityId::new("P-1"), EntityId::new("701"));
    let fp = |side: Side, id: &EntityId, title: &str| Fingerprint {
        integration: iid.clone(),
        side,
        entity: id.clone(),
        values: BTreeMap::from([
            ("title".to_string(), FieldValue::Text(title.into())),
            ("description".to_string(), FieldValue::RichText("<p>long</p>".repeat(20)).fingerprint_form()),
            (
                "assignee".to_string(),
                FieldValue::User(ferry_domain::UserRef {
                    id: "u-1".into(),
                    email: Some("alice@example.com".into()),
                    display_name: Some("Alice Ünal".into()),
                }),
            ),
        ]),
        written_revision: Some("7".into()),
        written_updated: Some(at(80)),
        updated_at: at(81),
        applied_source_updated: Some(at(79)),
        create_started: None,
        twin_deleted: None,
    };
    assert_eq!(pair_record(store, iid, &left_id).await, None, "not linked: no record");
    // A create's intent, then the link: the pair has no record yet.
    let intent = Fingerprint { create_started: Some(at(78)), ..fp(Side::Left, &left_id, "Intent") };
    store.put_fingerprint(&intent).await.expect("put_fingerprint");
    assert_eq!(pair_record(store, iid, &left_id).await, None, "not linked yet: no pair");
    store.put_link(&link(iid, "P-1", "701")).await.expect("put_link");
    assert_eq!(
        pair_record(store, iid, &left_id).await,
        Some(PairFingerprints { left: Some(intent.clone()), right: None, version: 0 }),
        "linked a moment ago: the entities' own fingerprints, at version 0"
    );

    let current = |side: Side, id: &EntityId| {
        let id = id.clone();
        async move { store.get_fingerprint(iid, side, &id).await.expect("get_fingerprint") }
    };
    assert_eq!(current(Side::Left, &left_id).await, Some(intent.clone()), "no record yet: its own");
    assert_eq!(current(Side::Right, &right_id).await, None);

    let (new_left, new_right) = (fp(Side::Left, &left_id, "New"), fp(Side::Right, &right_id, "New!"));
    store.put_pair(&new_left, &new_right, 0).await.expect("put_pair");
    let want = PairFingerprints { left: Some(new_left.clone()), right: Some(new_right.clone()), version: 1 };
    assert_eq!(pair_record(store, iid, &left_id).await, Some(want.clone()), "the record as written, at version 1");
    assert_eq!(current(Side::Left, &left_id).await, Some(new_left), "a linked entity's is its pair's");
    assert_eq!(current(Side::Right, &right_id).await, Some(new_right));
    let key = StateKey::Pair(iid.clone(), left_id.clone());
    let got = store.get_many(std::slice::from_ref(&key)).await.expect("get_many");
    assert_eq!(got, std::collections::HashMap::from([(key, StateRecord::Pair(Box::new(want)))]));
    pair_writes_are_conditional(store, iid, &fp).await;
}

/// Writes of both directions of one pair may run at once (one built before the pair was
/// linked runs in its source entity's message group): each reads the pair and writes
/// it back merged. The second to write must fail, not overwrite the first's update
/// unseen; read again, its write goes through.
async fn pair_writes_are_conditional(
    store: &dyn StateStore,
    iid: &IntegrationId,
    fp: &dyn Fn(Side, &EntityId, &str) -> Fingerprint,
) {
    let (left_id, right_id) = (EntityId::new("P-2"), EntityId::new("702"));
    store.put_link(&link(iid, "P-2", "702")).await.expect("put_link");
    let read = || async move { pair_record(store, iid, &EntityId::new("P-2")).await.expect("linked").version };
    let (a, b) = (read().await, read().await);
    assert_eq!((a, b), (0, 0), "no record yet");

    let (a_left, a_right) = (fp(Side::Left, &left_id, "A"), fp(Side::Right, &right_id, "A!"));
    store.put_pair(&a_left, &a_right, a).await.expect("the first write goes through");
    let (b_left, b_right) = (fp(Side::Left, &left_id, "B"), fp(Side::Right, &right_id, "B!"));
    let lost = store.put_pair(&b_left, &b_right, b).await.expect_err("the second read a pair since changed");
    assert_eq!(lost.category, ErrorCategory::Conflict, "{lost}");
    let now = pair_record(store, iid, &left_id).await.expect("written");
    assert_eq!((now.left.as_ref(), now.right.as_ref(), now.version), (Some(&a_left), Some(&a_right), 1), "A's kept");

    store.put_pair(&b_left, &b_right, now.version).await.expect("read again, the write goes through");
    let last = pair_record(store, iid, &left_id).await.expect("written");
    assert_eq!((last.left, last.right, last.version), (Some(b_left), Some(b_right), 2));
    let stale = store.put_pair(&a_left, &a_right, 1).await.expect_err("version 1 is gone");
    assert_eq!(stale.category, ErrorCategory::Conflict);
}

/// A pair whose target was deleted is dropped: its link and its pair record go, the
/// entities' own fingerprints stay, and the source can be linked to a new twin whose
/// pair starts at version 0. Dropping a link no longer stored changes nothing.
async fn dropped_links(store: &dyn StateStore) {
    let iid = &IntegrationId::parse(unique("int")).expect("valid id");
    let (left_id, right_id) = (EntityId::new("D-1"), EntityId::new("801"));
    let fp = |side: Side, id: &EntityId| Fingerprint {
        integration: iid.clone(),
        side,
        entity: id.clone(),
        values: BTreeMap::from([("title".to_string(), FieldValue::Text("t".into()))]),
        written_revision: None,
        written_updated: None,
        updated_at: at(90),
        applied_source_updated: None,
        create_started: None,
        twin_deleted: None,
    };
    let old = link(iid, "D-1", "801");
    store.put_link(&old).await.expect("put_link");
    store.put_link(&link(iid, "D-2", "802")).await.expect("another pair");
    store.put_pair(&fp(Side::Left, &left_id), &fp(Side::Right, &right_id), 0).await.expect("put_pair");

    store.delete_link(&old).await.expect("delete_link");
    assert_eq!(store.get_link(iid, Side::Left, &left_id).await.expect("get"), None);
    assert_eq!(store.get_link(iid, Side::Right, &right_id).await.expect("get"), None);
    assert_eq!(store.count_links(iid).await.expect("count"), 1, "the other pair stays");
    assert_eq!(pair_record(store, iid, &left_id).await, None, "not linked: no pair record");
    let gone = Fingerprint { twin_deleted: Some(at(91)), ..fp(Side::Left, &left_id) };
    store.put_fingerprint(&gone).await.expect("put_fingerprint");
    assert_eq!(
        own_fingerprint(store, iid, Side::Left, &left_id).await,
        Some(gone.clone()),
        "the tombstone round-trips"
    );
    store.delete_link(&old).await.expect("dropping it again is a no-op");
    assert_eq!(store.count_links(iid).await.expect("count"), 1, "not counted down twice");

    // Linked again, to a new twin: the pair starts over at version 0.
    let (new_right, relinked) = (EntityId::new("803"), link(iid, "D-1", "803"));
    store.put_link(&relinked).await.expect("relink");
    store.put_pair(&fp(Side::Left, &left_id), &fp(Side::Right, &new_right), 0).await.expect("a fresh pair record");
    // A stale drop of the old pair leaves the new one alone.
    store.delete_link(&old).await.expect("stale drop");
    assert_eq!(store.get_link(iid, Side::Left, &left_id).await.expect("get"), Some(relinked));
    assert_eq!(store.count_links(iid).await.expect("count"), 2);
}

async fn counters(store: &dyn StateStore, iid: &IntegrationId, other: &IntegrationId) {
    let flow = Flow::RightToLeft;
    assert_eq!(store.counts(iid, flow).await.expect("counts"), FlowCounts::default());
    store.incr_counter(iid, flow, Counter::Synced, 1).await.expect("incr");
    store.incr_counter(iid, flow, Counter::Synced, 2).await.expect("incr");
    store.incr_counter(iid, flow, Counter::Failed, 1).await.expect("incr");
    store.incr_counter(iid, flow, Counter::Skipped, 0).await.expect("incr by 0");
    store.incr_counter(iid, flow, Counter::Unlinked, 2).await.expect("incr");
    assert_eq!(
        store.counts(iid, flow).await.expect("counts"),
        FlowCounts { synced: 3, skipped: 0, failed: 1, unlinked: 2 }
    );
    assert_eq!(store.counts(iid, flow.reverse()).await.expect("counts"), FlowCounts::default());
    assert_eq!(store.counts(other, flow).await.expect("counts"), FlowCounts::default());
}

/// Failures counted per integration, direction and category, and listed a page at a
/// time, as `list_failures` has them. Fresh integrations, so other failures in the store
/// only add rows of their own.
async fn failure_overviews(store: &dyn StateStore) {
    let a = IntegrationId::parse(unique("int")).expect("valid id");
    let b = IntegrationId::parse(unique("int")).expect("valid id");
    let mut conflict = failure(&a, Flow::RightToLeft, "3", at(30), 1);
    conflict.category = ErrorCategory::FieldConflict;
    let records = [
        failure(&a, Flow::LeftToRight, "1", at(20), 1),
        failure(&a, Flow::LeftToRight, "2", at(10), 1),
        conflict,
        failure(&b, Flow::LeftToRight, "1", at(5), 1),
    ];
    for f in &records {
        store.put_failure(f).await.expect("put_failure");
    }
    let counts: Vec<_> = store
        .failure_counts()
        .await
        .expect("counts")
        .into_iter()
        .filter(|c| c.integration == a || c.integration == b)
        .collect();
    let mut expected = vec![
        FailureCount {
            integration: a.clone(),
            flow: Flow::LeftToRight,
            category: ErrorCategory::InvalidRequest,
            count: 2,
            oldest: at(10),
        },
        FailureCount {
            integration: a.clone(),
            flow: Flow::RightToLeft,
            category: ErrorCategory::FieldConflict,
            count: 1,
            oldest: at(30),
        },
        FailureCount {
            integration: b.clone(),
            flow: Flow::LeftToRight,
            category: ErrorCategory::InvalidRequest,
            count: 1,
            oldest: at(5),
        },
    ];
    let key = |c: &FailureCount| (c.integration.to_string(), c.flow.as_str(), c.category.as_str());
    expected.sort_by_key(key);
    let mut counts = counts;
    counts.sort_by_key(key);
    assert_eq!(counts, expected);

    let listed = store.failure_listing(Some(&a)).await.expect("list");
    for (offset, limit) in [(0, 2), (1, 2), (2, 5), (3, 1), (0, 0)] {
        let (page, total) = store.failure_page(Some(&a), offset, limit).await.expect("page");
        assert_eq!(total, 3, "all of the integration's");
        let want: Vec<_> = listed.iter().skip(offset).take(limit).cloned().collect();
        assert_eq!(page, want, "page at {offset}, {limit} in list order");
    }
    let (all, total) = store.failure_page(None, 0, usize::MAX >> 8).await.expect("page of all");
    assert_eq!(total as usize, all.len());
    assert!(records.iter().all(|r| all
        .iter()
        .flatten()
        .any(|f| f.integration == r.integration && f.entity == r.entity && f.flow == r.flow)));
    for f in store
        .list_failures(Some(&a))
        .await
        .expect("list")
        .into_iter()
        .chain(store.list_failures(Some(&b)).await.expect("list"))
    {
        store.delete_failure(&f.id).await.expect("delete");
    }
}

/// A failure whose record the store cannot read sinks no listing: `failure_listing`,
/// `failure_page` and `failure_counts` show every other failure and this one by its id,
/// integration, direction and entity with the store's reason; `list_failures` and
/// `get_failure` fail naming it; `delete_failure` removes it. `spoil` makes the stored
/// record of the failure with the given id unreadable the way its store can lose it
/// (a deleted payload object, corrupt JSON). The spoiled record is over the item limit
/// of a DynamoDB store, so such a store keeps it as a payload object.
pub async fn unreadable_failures<F: AsyncFn(&str)>(store: &dyn StateStore, spoil: F) {
    let a = IntegrationId::parse(unique("int")).expect("valid id");
    let mut bad = failure(&a, Flow::RightToLeft, "bad#1", at(20), 2);
    let description = "A long description. ".repeat(20_000);
    bad.input.snapshot.fields.insert(FieldKey::new("description"), FieldValue::Text(description));
    let (early, late) =
        (failure(&a, Flow::LeftToRight, "1", at(10), 1), failure(&a, Flow::LeftToRight, "3", at(30), 1));
    for f in [&early, &bad, &late] {
        store.put_failure(f).await.expect("put_failure");
    }
    assert_eq!(store.get_failure(&bad.id).await.expect("readable before it is spoiled"), Some(bad.clone()));
    spoil(&bad.id).await;

    let listing = store.failure_listing(Some(&a)).await.expect("a listing despite the unreadable record");
    assert_eq!(listing.len(), 3, "nothing dropped: {listing:?}");
    assert_eq!(listing[0], Ok(early.clone()));
    assert_eq!(listing[2], Ok(late.clone()));
    let Err(unreadable) = &listing[1] else { panic!("the spoiled record is listed as unreadable: {:?}", listing[1]) };
    assert_eq!(unreadable.id, bad.id);
    assert_eq!(unreadable.integration.as_ref(), Some(&a));
    assert_eq!(unreadable.flow, Some(Flow::RightToLeft));
    assert_eq!(unreadable.entity, Some(EntityId::new("bad#1")));
    assert!(!unreadable.reason.is_empty());
    let all = store.failure_listing(None).await.expect("a listing of all");
    assert!(all.iter().any(|f| f.as_ref().is_err_and(|u| u.id == bad.id)), "in the listing of all integrations");
    let (page, total) = store.failure_page(Some(&a), 1, 1).await.expect("a page despite the unreadable record");
    assert_eq!((page, total), (vec![listing[1].clone()], 3));
    let counted: u64 = store
        .failure_counts()
        .await
        .expect("counts despite the unreadable record")
        .iter()
        .filter(|c| c.integration == a)
        .map(|c| c.count)
        .sum();
    assert_eq!(counted, 3, "the unreadable failure is counted too");

    for err in [
        store.list_failures(Some(&a)).await.map(|_| ()).expect_err("a whole list cannot be had"),
        store.get_failure(&bad.id).await.map(|_| ()).expect_err("the record cannot be had"),
    ] {
        assert!(err.message.contains(&bad.id), "names the failure: {err}");
    }
    store.delete_failure(&bad.id).await.expect("an unreadable failure can be discarded");
    assert_eq!(store.list_failures(Some(&a)).await.expect("whole again"), vec![early.clone(), late.clone()]);
    for f in [&early, &late] {
        store.delete_failure(&f.id).await.expect("delete");
    }
}

/// Entities' steps per entity (newest `limit`, oldest first; each step whole, two steps
/// of one instant both kept), and directions' minute buckets added up; integrations,
/// directions and entities apart.
async fn activity(store: &dyn StateStore, iid: &IntegrationId, other: &IntegrationId) {
    let flow = Flow::LeftToRight;
    // Recent instants: a store may drop steps older than the retention.
    let base = Utc::now() - TimeDelta::minutes(10) + TimeDelta::nanoseconds(123_456_789);
    let step = |i: &IntegrationId, flow: Flow, entity: &str, kind: ActivityKind, secs: i64| Activity {
        integration: i.clone(),
        flow,
        entity: EntityId::new(entity),
        entity_key: format!("APP-{entity}"),
        at: base + TimeDelta::seconds(secs),
        changed: base - TimeDelta::seconds(30),
        kind,
        detail: format!("{} at {secs}", kind.as_str()),
    };
    assert!(store.entity_activity(iid, flow, &EntityId::new("1"), 10).await.expect("read").is_empty());
    store.record_activity(&[]).await.expect("nothing to record");
    let steps = vec![
        step(iid, flow, "1", ActivityKind::Polled, 0),
        step(iid, flow, "1", ActivityKind::Transformed, 1),
        step(iid, flow, "2", ActivityKind::Polled, 1),
        step(iid, flow, "1", ActivityKind::Written, 2),
        // Same instant as the write: both are kept.
        step(iid, flow, "1", ActivityKind::EchoDropped, 2),
        step(iid, flow.reverse(), "1", ActivityKind::Failed, 3),
        step(other, flow, "1", ActivityKind::Conflict, 3),
    ];
    // More steps than one batch request takes.
    let many: Vec<Activity> = (0..30).map(|n| step(iid, flow, "3", ActivityKind::Skipped, 10 + n)).collect();
    store.record_activity(&steps).await.expect("record");
    store.record_activity(&many).await.expect("record many");

    let one = store.entity_activity(iid, flow, &EntityId::new("1"), 10).await.expect("read");
    let kinds: Vec<ActivityKind> = one.iter().map(|a| a.kind).collect();
    assert_eq!(kinds.len(), 4, "entity 1 of this integration and direction only: {kinds:?}");
    assert_eq!(&kinds[..2], &[ActivityKind::Polled, ActivityKind::Transformed], "oldest first");
    assert!(kinds[2..].contains(&ActivityKind::Written) && kinds[2..].contains(&ActivityKind::EchoDropped));
    assert_eq!(one[0], steps[0], "a step comes back whole");
    let newest = store.entity_activity(iid, flow, &EntityId::new("3"), 5).await.expect("read");
    assert_eq!(newest, many[25..].to_vec(), "the newest `limit`, oldest first");

    let back = store.entity_activity(iid, flow.reverse(), &EntityId::new("1"), 10).await.expect("read");
    assert_eq!(back.iter().map(|a| a.kind).collect::<Vec<_>>(), vec![ActivityKind::Failed]);
    let theirs = store.entity_activity(other, flow, &EntityId::new("1"), 10).await.expect("read");
    assert_eq!(theirs.iter().map(|a| a.kind).collect::<Vec<_>>(), vec![ActivityKind::Conflict]);

    let minute = PaceBucket::at(base).minute;
    let next = minute + TimeDelta::minutes(1);
    assert!(store.pace_since(iid, flow, minute).await.expect("read").is_empty());
    let add = |at, read, written, settled| PaceBucket { minute: at, read, written, settled };
    store.add_pace(iid, flow, &add(minute, 3, 0, 0)).await.expect("add");
    store.add_pace(iid, flow, &add(minute, 1, 2, 2)).await.expect("add to the same minute");
    store.add_pace(iid, flow, &add(next, 0, 1, 1)).await.expect("add");
    store.add_pace(iid, flow.reverse(), &add(minute, 7, 7, 7)).await.expect("add");
    store.add_pace(other, flow, &add(minute, 9, 9, 9)).await.expect("add");
    assert_eq!(
        store.pace_since(iid, flow, minute).await.expect("read"),
        vec![add(minute, 4, 2, 2), add(next, 0, 1, 1)],
        "added up per minute, oldest first"
    );
    assert_eq!(store.pace_since(iid, flow, next).await.expect("read"), vec![add(next, 0, 1, 1)], "from a minute on");
    assert_eq!(store.pace_since(iid, flow.reverse(), minute).await.expect("read"), vec![add(minute, 7, 7, 7)]);
    assert_eq!(store.pace_since(other, flow, minute).await.expect("read"), vec![add(minute, 9, 9, 9)]);
}

/// Each linked pair's collaboration record and the pending relations (issue 15's
/// comments, attachments and hierarchy). Uses fresh integrations, so it runs against a
/// store that already holds data.
pub async fn collaboration(store: &dyn StateStore) {
    let iid = IntegrationId::parse(unique("int")).expect("valid id");
    let other = IntegrationId::parse(unique("int")).expect("valid id");
    a_pair_without_a_collaboration_record_reads_none(store, &iid).await;
    collaboration_records_round_trip_with_versions_counting_from_one(store, &iid).await;
    collaboration_puts_conflict_unless_the_version_read_is_still_stored(store, &iid).await;
    pending_relations_are_added_listed_and_removed_idempotently(store, &iid).await;
    collaboration_state_is_kept_per_integration_and_per_side(store, &iid, &other).await;
}

fn collab_state(comments: usize) -> CollabState {
    CollabState {
        comments: (0..comments)
            .map(|n| CommentPair {
                left: format!("100{n}"),
                right: format!("c-{n}"),
                original: if n % 2 == 0 { Side::Left } else { Side::Right },
                digest: format!("sha256:{n:064}"),
            })
            .collect(),
        attachments: vec![
            AttachmentPair { original: Side::Left, id: "att-1".into(), copy: Some("9f0c".into()) },
            AttachmentPair { original: Side::Right, id: "att-2".into(), copy: None },
        ],
        copying: vec![CopyIntent { original: Side::Right, id: "att-3".into(), name: "trace.log".into(), size: 2048 }],
        relations_left: vec![Relation::Parent { parent: EntityId::new("51") }],
        relations_right: vec![Relation::Link {
            link_type: "Blocks".into(),
            outward: true,
            other: EntityId::new("APP-9"),
        }],
        relating: vec![RelationIntent {
            source_side: Side::Left,
            in_source_terms: Relation::Link {
                link_type: "Blocks".into(),
                outward: true,
                other: EntityId::new("APP-7"),
            },
            in_target_terms: Relation::Link {
                link_type: "System.LinkTypes.Dependency".into(),
                outward: true,
                other: EntityId::new("57"),
            },
        }],
    }
}

async fn a_pair_without_a_collaboration_record_reads_none(store: &dyn StateStore, iid: &IntegrationId) {
    assert_eq!(store.get_collab(iid, &EntityId::new("C-0")).await.expect("get_collab"), None);
}

async fn collaboration_records_round_trip_with_versions_counting_from_one(store: &dyn StateStore, iid: &IntegrationId) {
    let left = EntityId::new("C-1");
    let first = collab_state(2);
    store.put_collab(iid, &left, &first, None).await.expect("first put");
    assert_eq!(store.get_collab(iid, &left).await.expect("get"), Some((first, 1)), "the first version is 1");
    let second = collab_state(5);
    store.put_collab(iid, &left, &second, Some(1)).await.expect("conditional put");
    assert_eq!(
        store.get_collab(iid, &left).await.expect("get"),
        Some((second, 2)),
        "a put replaces it at expected + 1"
    );
    store.put_collab(iid, &left, &CollabState::default(), Some(2)).await.expect("an empty record");
    assert_eq!(store.get_collab(iid, &left).await.expect("get"), Some((CollabState::default(), 3)));
}

async fn collaboration_puts_conflict_unless_the_version_read_is_still_stored(
    store: &dyn StateStore,
    iid: &IntegrationId,
) {
    let left = EntityId::new("C-2");
    assert!(
        is_conflict(store.put_collab(iid, &left, &collab_state(1), Some(0)).await),
        "expecting a version of a missing record conflicts"
    );
    assert!(
        is_conflict(store.put_collab(iid, &left, &collab_state(1), Some(1)).await),
        "expecting version 1 of a missing record conflicts"
    );
    assert_eq!(store.get_collab(iid, &left).await.expect("get"), None, "a conflicting put writes nothing");
    store.put_collab(iid, &left, &collab_state(1), None).await.expect("create");
    // Two writers read version 1; the first to write wins.
    store.put_collab(iid, &left, &collab_state(2), Some(1)).await.expect("the first writer");
    let lost = store.put_collab(iid, &left, &collab_state(3), Some(1)).await.expect_err("the second writer");
    assert_eq!(lost.category, ErrorCategory::Conflict, "{lost}");
    assert!(is_conflict(store.put_collab(iid, &left, &collab_state(3), None).await), "creating an existing record");
    assert!(is_conflict(store.put_collab(iid, &left, &collab_state(3), Some(7)).await), "a version never stored");
    assert_eq!(store.get_collab(iid, &left).await.expect("get"), Some((collab_state(2), 2)), "the winner's is kept");
}

async fn pending_relations_are_added_listed_and_removed_idempotently(store: &dyn StateStore, iid: &IntegrationId) {
    let (epic, side) = (EntityId::new("EPIC-1"), Side::Left);
    let ids = |v: &[&str]| v.iter().map(|s| EntityId::new(*s)).collect::<Vec<_>>();
    assert!(store.pending(iid, side, &epic).await.expect("pending").is_empty(), "nothing waits at first");
    for waiting in ["APP-3", "APP-10", "APP-2", "APP-3"] {
        store.add_pending(iid, side, &epic, &EntityId::new(waiting)).await.expect("add_pending");
    }
    assert_eq!(
        store.pending(iid, side, &epic).await.expect("pending"),
        ids(&["APP-10", "APP-2", "APP-3"]),
        "each waiting entity once, in id order (bytewise)"
    );
    store.remove_pending(iid, side, &epic, &EntityId::new("APP-2")).await.expect("remove");
    store.remove_pending(iid, side, &epic, &EntityId::new("APP-2")).await.expect("a second remove is a no-op");
    store.remove_pending(iid, side, &epic, &EntityId::new("never-added")).await.expect("removing the absent");
    assert_eq!(store.pending(iid, side, &epic).await.expect("pending"), ids(&["APP-10", "APP-3"]));
    // Entity ids are free-form: a `#` in them separates nothing.
    let odd = EntityId::new("EPIC#1");
    store.add_pending(iid, side, &odd, &EntityId::new("A#B")).await.expect("add_pending");
    assert_eq!(store.pending(iid, side, &odd).await.expect("pending"), ids(&["A#B"]));
    assert_eq!(store.pending(iid, side, &epic).await.expect("pending"), ids(&["APP-10", "APP-3"]));
    for waiting in ["APP-10", "APP-3"] {
        store.remove_pending(iid, side, &epic, &EntityId::new(waiting)).await.expect("remove");
    }
    store.remove_pending(iid, side, &odd, &EntityId::new("A#B")).await.expect("remove");
    assert!(store.pending(iid, side, &epic).await.expect("pending").is_empty(), "all resolved");
}

async fn collaboration_state_is_kept_per_integration_and_per_side(
    store: &dyn StateStore,
    iid: &IntegrationId,
    other: &IntegrationId,
) {
    let left = EntityId::new("C-3");
    store.put_collab(iid, &left, &collab_state(4), None).await.expect("put");
    assert_eq!(store.get_collab(other, &left).await.expect("get"), None, "records are per integration");
    store.put_collab(other, &left, &collab_state(1), None).await.expect("the other integration creates its own");
    assert_eq!(store.get_collab(iid, &left).await.expect("get"), Some((collab_state(4), 1)));
    assert_eq!(store.get_collab(other, &left).await.expect("get"), Some((collab_state(1), 1)));

    let parent = EntityId::new("900");
    store.add_pending(iid, Side::Right, &parent, &EntityId::new("901")).await.expect("add_pending");
    assert!(store.pending(other, Side::Right, &parent).await.expect("pending").is_empty(), "per integration");
    assert!(store.pending(iid, Side::Left, &parent).await.expect("pending").is_empty(), "per side");
    assert_eq!(store.pending(iid, Side::Right, &parent).await.expect("pending"), vec![EntityId::new("901")]);
    store.remove_pending(other, Side::Right, &parent, &EntityId::new("901")).await.expect("remove elsewhere");
    assert_eq!(
        store.pending(iid, Side::Right, &parent).await.expect("pending"),
        vec![EntityId::new("901")],
        "a remove in another integration leaves this one's"
    );
    store.remove_pending(iid, Side::Right, &parent, &EntityId::new("901")).await.expect("remove");
}

fn msg(group: &str, dedup: &str, body: &str) -> OutMessage {
    OutMessage { group_id: group.to_string(), dedup_id: dedup.to_string(), body: body.to_string() }
}

const LONG: Duration = Duration::from_secs(30);

/// FIFO order per group, group blocking, dedup, visibility expiry, stale receipts,
/// release, dead-lettering after `max_receives` receives, depth. Needs empty queues.
pub async fn queue(queue: &dyn Queue, max_receives: u32) {
    let q = QueueName::Changes;
    for name in [QueueName::Changes, QueueName::Writes] {
        assert_eq!(
            queue.depth(name).await.expect("depth"),
            0,
            "contract::queue needs an empty {} queue",
            name.as_str()
        );
    }
    let run = unique("run");
    let (ga, gb) = (format!("{run}-a"), format!("{run}-b"));

    // Dedup: a second send of the same dedup id is accepted and dropped.
    queue
        .send(
            q,
            &[
                msg(&ga, &format!("{run}-a1"), "a1"),
                msg(&ga, &format!("{run}-a2"), "a2"),
                msg(&gb, &format!("{run}-b1"), "b1"),
            ],
        )
        .await
        .expect("send");
    queue.send(q, &[msg(&ga, &format!("{run}-a1"), "a1 again")]).await.expect("a duplicate send is accepted");
    assert_eq!(queue.depth(q).await.expect("depth"), 3, "the duplicate was dropped");
    assert_eq!(queue.depth(QueueName::Writes).await.expect("depth"), 0, "queues are separate");

    // Group order: A1 first; while A1 is in flight group A is blocked, B is not.
    let a1 = one(queue, q, LONG).await.expect("a1 delivered");
    assert_eq!((a1.body.as_str(), a1.receive_count), ("a1", 1));
    let b1 = one(queue, q, LONG).await.expect("b1 delivered");
    assert_eq!(b1.body, "b1", "group A is blocked while a1 is in flight");
    assert_eq!(one(queue, q, LONG).await, None, "both groups are in flight");
    assert_eq!(queue.depth(q).await.expect("depth"), 3, "depth counts in-flight messages");

    // Release makes a1 visible again with a fresh receipt; the old one goes stale.
    queue.release(q, &a1.receipt, Duration::ZERO).await.expect("release");
    let a1_again = one(queue, q, LONG).await.expect("a1 redelivered");
    assert_eq!(a1_again.message_id, a1.message_id);
    assert_eq!((a1_again.body.as_str(), a1_again.receive_count), ("a1", 2));
    assert_ne!(a1_again.receipt, a1.receipt, "each receive issues a fresh receipt");
    let _ = queue.ack(q, &a1.receipt).await;
    assert_eq!(queue.depth(q).await.expect("depth"), 3, "a stale receipt must not delete the redelivered message");
    queue.ack(q, &a1_again.receipt).await.expect("ack a1");
    queue.ack(q, &b1.receipt).await.expect("ack b1");
    assert_eq!(queue.depth(q).await.expect("depth"), 1);

    // A deleted message's dedup id still drops resends within the window.
    queue.send(q, &[msg(&ga, &format!("{run}-a1"), "a1 resent")]).await.expect("send");
    assert_eq!(queue.depth(q).await.expect("depth"), 1);

    // Visibility timeout: an unacked message comes back after it expires.
    let a2 = one(queue, q, Duration::from_secs(1)).await.expect("a2 delivered");
    assert_eq!((a2.body.as_str(), a2.receive_count), ("a2", 1));
    assert_eq!(one(queue, q, LONG).await, None, "a2 is in flight");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let a2_again = one(queue, q, LONG).await.expect("a2 visible after its timeout");
    assert_eq!((a2_again.body.as_str(), a2_again.receive_count), ("a2", 2));
    queue.ack(q, &a2_again.receipt).await.expect("ack a2");
    assert_eq!(queue.depth(q).await.expect("depth"), 0);

    // Dead-lettering: after max_receives receives the next receive moves it to the DLQ.
    let w = QueueName::Writes;
    queue
        .send(w, &[msg(&ga, &format!("{run}-poison"), "poison"), msg(&ga, &format!("{run}-next"), "next")])
        .await
        .expect("send");
    for n in 1..=max_receives {
        let d = one(queue, w, LONG).await.expect("poison delivered");
        assert_eq!((d.body.as_str(), d.receive_count), ("poison", n));
        queue.release(w, &d.receipt, Duration::ZERO).await.expect("release");
    }
    let next = one(queue, w, LONG).await.expect("the group moves on");
    assert_eq!(next.body, "next", "the dead-lettered head no longer blocks its group");
    queue.ack(w, &next.receipt).await.expect("ack next");
    let dead = queue.dead_letters(w).await.expect("dead_letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
    assert!(dead[0].receive_count >= max_receives);
    assert!(queue.dead_letters(q).await.expect("dead_letters").is_empty());
    assert_eq!(queue.depth(w).await.expect("depth"), 0, "dead letters are not in depth");
    queue.delete_dead_letter(w, &dead[0].message_id).await.expect("delete_dead_letter");
    assert!(queue.dead_letters(w).await.expect("dead_letters").is_empty());

    // Redrive: a dead letter goes back onto its queue, to a first delivery.
    queue.send(w, &[msg(&gb, &format!("{run}-poison-2"), "poison 2")]).await.expect("send");
    for _ in 1..=max_receives {
        let d = one(queue, w, LONG).await.expect("poison 2 delivered");
        queue.release(w, &d.receipt, Duration::ZERO).await.expect("release");
    }
    assert_eq!(one(queue, w, LONG).await, None, "dead-lettered");
    assert_eq!(queue.dead_letters(w).await.expect("dead_letters").len(), 1);
    assert_eq!(queue.redrive(w).await.expect("redrive"), 1);
    assert!(queue.dead_letters(w).await.expect("dead_letters").is_empty(), "moved, not copied");
    let back = one(queue, w, LONG).await.expect("redriven");
    assert_eq!((back.body.as_str(), back.receive_count), ("poison 2", 1));
    queue.ack(w, &back.receipt).await.expect("ack");
    assert_eq!(queue.redrive(w).await.expect("redrive of none"), 0);
    assert_eq!(queue.max_receives(), Some(max_receives));
}

async fn one(queue: &dyn Queue, name: QueueName, visibility: Duration) -> Option<ferry_domain::ports::Delivery> {
    let mut got = queue.receive(name, 1, visibility).await.expect("receive");
    assert!(got.len() <= 1, "receive returned more than max");
    got.pop()
}
