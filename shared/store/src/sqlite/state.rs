//! `StateStore`: watermarks, links, fingerprints, failures, counters, leases, and the
//! collaboration records (their SQL in `collab`).

use super::config::version_conflict;
use super::{
    activity, collab, commit, decode, encode, failure_pages, immediate, overview, reads, sortable_time, to_i64, to_u64,
    Ctx, SqliteStore,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_domain::ports::{PortResult, StateKey, StateRecord, StateStore};
use ferry_domain::webhook::HookSubscription;
use ferry_domain::{
    Activity, CollabState, Counter, EntityId, ErrorCategory, FailureRecord, Fingerprint, Flow, FlowCounts,
    IntegrationId, Link, PaceBucket, PortError, Side, Watermark,
};
use ferry_domain::{BackfillRecord, FailureCount, ListedFailure, StateOverview};
use rusqlite::{params, OptionalExtension};
use std::collections::HashMap;

fn awaited_key(integration: &IntegrationId, side: Side, awaited: &EntityId) -> collab::AwaitedKey {
    collab::AwaitedKey { integration: integration.to_string(), side: side.as_str(), awaited: awaited.to_string() }
}

fn counter_name(c: Counter) -> &'static str {
    match c {
        Counter::Synced => "synced",
        Counter::Skipped => "skipped",
        Counter::Failed => "failed",
        Counter::Unlinked => "unlinked",
    }
}

/// Sets the counter named `name` (a row of table `counters`) in `counts`.
pub(super) fn set_counter(counts: &mut FlowCounts, name: &str, value: u64, what: &str) -> PortResult<()> {
    match name {
        "synced" => counts.synced = value,
        "skipped" => counts.skipped = value,
        "failed" => counts.failed = value,
        "unlinked" => counts.unlinked = value,
        other => return Err(PortError::store(format!("{what}: unknown counter `{other}` in table `counters`"))),
    }
    Ok(())
}

#[async_trait]
impl StateStore for SqliteStore {
    /// The returned `version` is the stored one (see the module docs).
    async fn get_watermark(&self, integration: &IntegrationId, flow: Flow) -> PortResult<Option<Watermark>> {
        let integration = integration.to_string();
        self.run(move |conn, _| {
            let what = || format!("get_watermark {integration} {flow}");
            let row: Option<(i64, String)> = conn
                .query_row(
                    "SELECT version, body FROM watermarks WHERE integration = ?1 AND flow = ?2",
                    params![integration, flow.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .ctx(what)?;
            let Some((version, body)) = row else {
                return Ok(None);
            };
            let mut wm: Watermark = decode(&body, "watermarks", format!("integration {integration} flow {flow}"))?;
            wm.version = to_u64(version, &what())?;
            Ok(Some(wm))
        })
        .await
    }

    /// Ignores `watermark.version`: the stored version becomes `expected + 1` (1 first).
    async fn put_watermark(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        watermark: &Watermark,
        expected_version: Option<u64>,
    ) -> PortResult<()> {
        let integration = integration.to_string();
        let what = format!("put_watermark {integration} {flow}");
        let next = match expected_version {
            None => 1,
            Some(v) => v
                .checked_add(1)
                .ok_or_else(|| PortError::store(format!("{what}: version {v} cannot be incremented")))?,
        };
        let mut stored_wm = watermark.clone();
        stored_wm.version = next;
        let body = encode(&stored_wm, &what)?;
        let next = to_i64(next, &what)?;
        self.run(move |conn, _| {
            let tx = immediate(conn, &what)?;
            let stored: Option<i64> = tx
                .query_row(
                    "SELECT version FROM watermarks WHERE integration = ?1 AND flow = ?2",
                    params![integration, flow.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .ctx(|| what.clone())?;
            let stored = stored.map(|v| to_u64(v, &what)).transpose()?;
            if stored != expected_version {
                return Err(version_conflict(
                    "watermark of",
                    &format!("{integration} {flow}"),
                    expected_version,
                    stored,
                ));
            }
            tx.execute(
                "INSERT INTO watermarks (integration, flow, version, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (integration, flow)
                 DO UPDATE SET version = excluded.version, body = excluded.body",
                params![integration, flow.as_str(), next, body],
            )
            .ctx(|| what.clone())?;
            commit(tx, &what)
        })
        .await
    }

    /// Every key in one read transaction: the records answer as of one moment.
    async fn get_many(&self, keys: &[StateKey]) -> PortResult<HashMap<StateKey, StateRecord>> {
        let keys = keys.to_vec();
        self.run(move |conn, _| {
            let what = format!("get_many ({} records)", keys.len());
            let tx = conn.transaction().ctx(|| what.clone())?;
            let mut out = HashMap::with_capacity(keys.len());
            for key in keys {
                if let Some(record) = reads::read(&tx, &key)? {
                    out.insert(key, record);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Replaces any link of the integration that holds either entity.
    async fn put_link(&self, link: &Link) -> PortResult<()> {
        let integration = link.integration.to_string();
        let (left, right) = (link.left.id.to_string(), link.right.id.to_string());
        let what = format!("put_link {integration} left {left} right {right}");
        let body = encode(link, &what)?;
        self.run(move |conn, _| {
            let tx = immediate(conn, &what)?;
            tx.execute(
                "DELETE FROM links WHERE integration = ?1 AND (left_id = ?2 OR right_id = ?3)",
                params![integration, left, right],
            )
            .ctx(|| what.clone())?;
            tx.execute(
                "INSERT INTO links (integration, left_id, right_id, body) VALUES (?1, ?2, ?3, ?4)",
                params![integration, left, right, body],
            )
            .ctx(|| what.clone())?;
            commit(tx, &what)
        })
        .await
    }

    /// The link's row and its pair's version row in one transaction; the fingerprint rows
    /// are the entities' own and stay.
    async fn delete_link(&self, link: &Link) -> PortResult<()> {
        let integration = link.integration.to_string();
        let (left, right) = (link.left.id.to_string(), link.right.id.to_string());
        let what = format!("delete_link {integration} left {left} right {right}");
        self.run(move |conn, _| {
            let tx = immediate(conn, &what)?;
            let dropped = tx
                .execute(
                    "DELETE FROM links WHERE integration = ?1 AND left_id = ?2 AND right_id = ?3",
                    params![integration, left, right],
                )
                .ctx(|| what.clone())?;
            if dropped > 0 {
                tx.execute(
                    "DELETE FROM pair_versions WHERE integration = ?1 AND left_id = ?2",
                    params![integration, left],
                )
                .ctx(|| what.clone())?;
            }
            commit(tx, &what)
        })
        .await
    }

    async fn count_links(&self, integration: &IntegrationId) -> PortResult<u64> {
        let integration = integration.to_string();
        self.run(move |conn, _| {
            let what = format!("count_links {integration}");
            let n: i64 = conn
                .query_row("SELECT COUNT(*) FROM links WHERE integration = ?1", [&integration], |r| r.get(0))
                .ctx(|| what.clone())?;
            to_u64(n, &what)
        })
        .await
    }

    /// Both fingerprint rows and the version in one transaction, if the version is still
    /// the expected one.
    async fn put_pair(&self, left: &Fingerprint, right: &Fingerprint, expected_version: u64) -> PortResult<()> {
        let integration = left.integration.to_string();
        let what = format!("put_pair {integration} left {} right {}", left.entity, right.entity);
        if left.side != Side::Left || right.side != Side::Right || left.integration != right.integration {
            return Err(PortError::new(
                ErrorCategory::InvalidRequest,
                format!("{what}: needs the left side's fingerprint and the right side's of one integration"),
            ));
        }
        let rows = [
            (left.entity.to_string(), Side::Left, encode(left, &what)?),
            (right.entity.to_string(), Side::Right, encode(right, &what)?),
        ];
        let left_id = left.entity.to_string();
        let expected = to_i64(expected_version, &what)?;
        let next = to_i64(expected_version.saturating_add(1), &what)?;
        self.run(move |conn, _| {
            let tx = immediate(conn, &what)?;
            let stored: Option<i64> = tx
                .query_row(
                    "SELECT version FROM pair_versions WHERE integration = ?1 AND left_id = ?2",
                    params![integration, left_id],
                    |r| r.get(0),
                )
                .optional()
                .ctx(|| what.clone())?;
            if stored.unwrap_or(0) != expected {
                return Err(PortError::new(
                    ErrorCategory::Conflict,
                    format!(
                        "{what}: the pair's record is no longer at version {expected}: a write of the other direction \
                         changed it meanwhile; read it again"
                    ),
                ));
            }
            for (entity, side, body) in &rows {
                tx.execute(
                    "INSERT INTO fingerprints (integration, side, entity, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (integration, side, entity) DO UPDATE SET body = excluded.body",
                    params![integration, side.as_str(), entity, body],
                )
                .ctx(|| what.clone())?;
            }
            tx.execute(
                "INSERT INTO pair_versions (integration, left_id, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT (integration, left_id) DO UPDATE SET version = excluded.version",
                params![integration, left_id, next],
            )
            .ctx(|| what.clone())?;
            commit(tx, &what)
        })
        .await
    }

    async fn put_fingerprint(&self, fingerprint: &Fingerprint) -> PortResult<()> {
        let integration = fingerprint.integration.to_string();
        let side = fingerprint.side;
        let entity = fingerprint.entity.to_string();
        let what = format!("put_fingerprint {integration} {} {entity}", side.as_str());
        let body = encode(fingerprint, &what)?;
        self.run(move |conn, _| {
            conn.execute(
                "INSERT INTO fingerprints (integration, side, entity, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (integration, side, entity) DO UPDATE SET body = excluded.body",
                params![integration, side.as_str(), entity, body],
            )
            .ctx(|| what)?;
            Ok(())
        })
        .await
    }

    async fn put_create_intent(&self, fingerprint: &Fingerprint, expected: Option<DateTime<Utc>>) -> PortResult<()> {
        let integration = fingerprint.integration.to_string();
        let side = fingerprint.side;
        let entity = fingerprint.entity.to_string();
        let what = format!("put_create_intent {integration} {} {entity}", side.as_str());
        let body = encode(fingerprint, &what)?;
        self.run(move |conn, _| {
            let tx = immediate(conn, &what)?;
            let stored: Option<String> = tx
                .query_row(
                    "SELECT body FROM fingerprints WHERE integration = ?1 AND side = ?2 AND entity = ?3",
                    params![integration, side.as_str(), entity],
                    |r| r.get(0),
                )
                .optional()
                .ctx(|| what.clone())?;
            let started = match stored {
                Some(b) => decode::<Fingerprint>(&b, "fingerprints", &entity)?.create_started,
                None => None,
            };
            if started != expected {
                return Err(crate::create_claimed(&what, started));
            }
            let linked_sql = match side {
                Side::Left => "SELECT 1 FROM links WHERE integration = ?1 AND left_id = ?2",
                Side::Right => "SELECT 1 FROM links WHERE integration = ?1 AND right_id = ?2",
            };
            let linked: Option<i64> =
                tx.query_row(linked_sql, params![integration, entity], |r| r.get(0)).optional().ctx(|| what.clone())?;
            if linked.is_some() {
                return Err(crate::create_linked(&what));
            }
            tx.execute(
                "INSERT INTO fingerprints (integration, side, entity, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (integration, side, entity) DO UPDATE SET body = excluded.body",
                params![integration, side.as_str(), entity, body],
            )
            .ctx(|| what.clone())?;
            commit(tx, &what)
        })
        .await
    }

    /// Keeps the existing failure's `id` and earlier `first_failed_at`; replaces the rest.
    async fn put_failure(&self, failure: &FailureRecord) -> PortResult<()> {
        let failure = failure.clone();
        let integration = failure.integration.to_string();
        let flow = failure.flow;
        let entity = failure.entity.to_string();
        let what = format!("put_failure {integration} {flow} entity {entity}");
        self.run(move |conn, _| {
            let tx = immediate(conn, &what)?;
            let existing: Option<(String, String)> = tx
                .query_row(
                    "SELECT id, body FROM failures
                     WHERE integration = ?1 AND flow = ?2 AND entity = ?3",
                    params![integration, flow.as_str(), entity],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .ctx(|| what.clone())?;
            let mut record = failure;
            match existing {
                Some((id, body)) => {
                    // The earlier first_failed_at is read from the JSON (exact to the
                    // nanosecond); a corrupt old row is replaced rather than blocking.
                    #[derive(serde::Deserialize)]
                    struct First {
                        first_failed_at: DateTime<Utc>,
                    }
                    if let Ok(old) = serde_json::from_str::<First>(&body) {
                        record.first_failed_at = record.first_failed_at.min(old.first_failed_at);
                    }
                    record.id = id;
                    let body = encode(&record, &what)?;
                    tx.execute(
                        "UPDATE failures SET first_failed_at = ?2, body = ?3, category = ?4 WHERE id = ?1",
                        params![record.id, sortable_time(&record.first_failed_at), body, record.category.as_str()],
                    )
                    .ctx(|| what.clone())?;
                }
                None => {
                    let taken: Option<(String, String, String)> = tx
                        .query_row("SELECT integration, flow, entity FROM failures WHERE id = ?1", [&record.id], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .optional()
                        .ctx(|| what.clone())?;
                    if let Some((i, f, e)) = taken {
                        return Err(PortError::new(
                            ErrorCategory::Conflict,
                            format!("{what}: failure id {} already belongs to {i} {f} entity {e}", record.id),
                        ));
                    }
                    let body = encode(&record, &what)?;
                    tx.execute(
                        "INSERT INTO failures
                         (id, integration, flow, entity, first_failed_at, body, category)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            record.id,
                            integration,
                            flow.as_str(),
                            entity,
                            sortable_time(&record.first_failed_at),
                            body,
                            record.category.as_str()
                        ],
                    )
                    .ctx(|| what.clone())?;
                }
            }
            commit(tx, &what)
        })
        .await
    }

    async fn get_failure(&self, id: &str) -> PortResult<Option<FailureRecord>> {
        let id = id.to_string();
        self.run(move |conn, _| {
            let body: Option<String> = conn
                .query_row("SELECT body FROM failures WHERE id = ?1", [&id], |r| r.get(0))
                .optional()
                .ctx(|| format!("get_failure {id}"))?;
            body.map(|b| decode(&b, "failures", format!("failure {id}"))).transpose()
        })
        .await
    }

    /// Oldest first (by `first_failed_at`, then id); a row whose body does not decode
    /// is listed from its columns.
    async fn failure_listing(&self, integration: Option<&IntegrationId>) -> PortResult<Vec<ListedFailure>> {
        let integration = integration.map(|i| i.to_string());
        self.run(move |conn, _| failure_pages::listing(conn, integration.as_deref())).await
    }

    /// Counted in SQL over an index (integration, flow, category, first_failed_at): no
    /// record is read.
    async fn failure_counts(&self) -> PortResult<Vec<FailureCount>> {
        self.run(move |conn, _| failure_pages::counts(conn)).await
    }

    /// Paged in SQL: only the page's records are read.
    async fn failure_page(
        &self,
        integration: Option<&IntegrationId>,
        offset: usize,
        limit: usize,
    ) -> PortResult<(Vec<ListedFailure>, u64)> {
        let integration = integration.map(|i| i.to_string());
        self.run(move |conn, _| failure_pages::page(conn, integration.as_deref(), offset, limit)).await
    }

    /// Idempotent: deleting an absent failure succeeds.
    async fn delete_failure(&self, id: &str) -> PortResult<()> {
        let id = id.to_string();
        self.run(move |conn, _| {
            conn.execute("DELETE FROM failures WHERE id = ?1", [&id]).ctx(|| format!("delete_failure {id}"))?;
            Ok(())
        })
        .await
    }

    async fn incr_counter(&self, integration: &IntegrationId, flow: Flow, counter: Counter, by: u64) -> PortResult<()> {
        let integration = integration.to_string();
        let name = counter_name(counter);
        let what = format!("incr_counter {integration} {flow} {name}");
        self.run(move |conn, _| {
            let tx = immediate(conn, &what)?;
            let current: Option<i64> = tx
                .query_row(
                    "SELECT value FROM counters
                     WHERE integration = ?1 AND flow = ?2 AND counter = ?3",
                    params![integration, flow.as_str(), name],
                    |r| r.get(0),
                )
                .optional()
                .ctx(|| what.clone())?;
            let current = to_u64(current.unwrap_or(0), &what)?;
            let next = current
                .checked_add(by)
                .ok_or_else(|| PortError::store(format!("{what}: counter overflows at {current} + {by}")))?;
            tx.execute(
                "INSERT INTO counters (integration, flow, counter, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (integration, flow, counter) DO UPDATE SET value = excluded.value",
                params![integration, flow.as_str(), name, to_i64(next, &what)?],
            )
            .ctx(|| what.clone())?;
            commit(tx, &what)
        })
        .await
    }

    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        owner: &str,
        ttl: std::time::Duration,
    ) -> PortResult<bool> {
        let integration = integration.to_string();
        let owner = owner.to_string();
        self.run(move |conn, _| {
            let what = format!("lease {integration} {flow}");
            let now = chrono::Utc::now().timestamp_millis();
            let expires = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
            let tx = immediate(conn, &what)?;
            // Free, expired, or ours: take it; otherwise leave it to its holder.
            let changed = tx
                .execute(
                    "INSERT INTO leases (integration, flow, owner, expires_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (integration, flow) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                     WHERE leases.expires_at <= ?5 OR leases.owner = excluded.owner",
                    params![integration, flow.as_str(), owner, expires, now],
                )
                .ctx(|| what.clone())?;
            commit(tx, &what)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release_lease(&self, integration: &IntegrationId, flow: Flow, owner: &str) -> PortResult<()> {
        let integration = integration.to_string();
        let owner = owner.to_string();
        self.run(move |conn, _| {
            let what = format!("release lease {integration} {flow}");
            conn.execute(
                "DELETE FROM leases WHERE integration = ?1 AND flow = ?2 AND owner = ?3",
                params![integration, flow.as_str(), owner],
            )
            .ctx(|| what.clone())?;
            Ok(())
        })
        .await
    }

    async fn counts(&self, integration: &IntegrationId, flow: Flow) -> PortResult<FlowCounts> {
        let integration = integration.to_string();
        self.run(move |conn, _| {
            let what = format!("counts {integration} {flow}");
            let mut stmt = conn
                .prepare("SELECT counter, value FROM counters WHERE integration = ?1 AND flow = ?2")
                .ctx(|| what.clone())?;
            let rows = stmt
                .query_map(params![integration, flow.as_str()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .ctx(|| what.clone())?;
            let mut counts = FlowCounts::default();
            for row in rows {
                let (name, value) = row.ctx(|| what.clone())?;
                set_counter(&mut counts, &name, to_u64(value, &what)?, &what)?;
            }
            Ok(counts)
        })
        .await
    }

    async fn record_activity(&self, steps: &[Activity]) -> PortResult<()> {
        if steps.is_empty() {
            return Ok(());
        }
        let steps = steps.to_vec();
        self.run(move |conn, _| activity::record(conn, &steps)).await
    }

    async fn entity_activity(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        entity: &EntityId,
        limit: usize,
    ) -> PortResult<Vec<Activity>> {
        let (integration, entity) = (integration.to_string(), entity.to_string());
        self.run(move |conn, _| activity::of_entity(conn, &integration, flow.as_str(), &entity, limit)).await
    }

    async fn add_pace(&self, integration: &IntegrationId, flow: Flow, bucket: &PaceBucket) -> PortResult<()> {
        let (integration, bucket) = (integration.to_string(), *bucket);
        self.run(move |conn, _| activity::add_pace(conn, &integration, flow.as_str(), &bucket)).await
    }

    async fn pace_since(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        since: DateTime<Utc>,
    ) -> PortResult<Vec<PaceBucket>> {
        let integration = integration.to_string();
        self.run(move |conn, _| activity::pace_since(conn, &integration, flow.as_str(), &since)).await
    }

    /// Four queries (one per table) in one read transaction; the pace added up in SQL.
    async fn overview(
        &self,
        integrations: &[IntegrationId],
        pace: Option<ferry_domain::PaceWindow>,
    ) -> PortResult<StateOverview> {
        let ids: Vec<&str> = integrations.iter().map(IntegrationId::as_str).collect();
        let ids = serde_json::to_string(&ids).map_err(|e| PortError::store(format!("overview: {e}")))?;
        self.run(move |conn, _| overview::read(conn, &ids, pace)).await
    }

    async fn get_collab(&self, integration: &IntegrationId, left: &EntityId) -> PortResult<Option<(CollabState, u64)>> {
        let pair = collab::PairKey { integration: integration.to_string(), left: left.to_string() };
        self.run(move |conn, _| collab::get(conn, &pair)).await
    }

    async fn put_collab(
        &self,
        integration: &IntegrationId,
        left: &EntityId,
        state: &CollabState,
        expected_version: Option<u64>,
    ) -> PortResult<()> {
        let body = encode(state, &format!("put_collab {integration} {left}"))?;
        let pair = collab::PairKey { integration: integration.to_string(), left: left.to_string() };
        self.run(move |conn, _| collab::put(conn, &pair, &body, expected_version)).await
    }

    async fn add_pending(
        &self,
        integration: &IntegrationId,
        side: Side,
        awaited: &EntityId,
        waiting: &EntityId,
    ) -> PortResult<()> {
        let key = awaited_key(integration, side, awaited);
        let waiting = waiting.to_string();
        self.run(move |conn, _| collab::add_pending(conn, &key, &waiting)).await
    }

    async fn pending(&self, integration: &IntegrationId, side: Side, awaited: &EntityId) -> PortResult<Vec<EntityId>> {
        let key = awaited_key(integration, side, awaited);
        self.run(move |conn, _| collab::pending(conn, &key)).await
    }

    async fn remove_pending(
        &self,
        integration: &IntegrationId,
        side: Side,
        awaited: &EntityId,
        waiting: &EntityId,
    ) -> PortResult<()> {
        let key = awaited_key(integration, side, awaited);
        let waiting = waiting.to_string();
        self.run(move |conn, _| collab::remove_pending(conn, &key, &waiting)).await
    }

    async fn record_delivery(
        &self,
        hook: &str,
        id: &str,
        at: DateTime<Utc>,
        window: std::time::Duration,
    ) -> PortResult<bool> {
        self.hook_record_delivery(hook, id, at, window).await
    }

    async fn request_poll(&self, integration: &IntegrationId, flow: Flow) -> PortResult<()> {
        self.hook_request_poll(integration, flow).await
    }

    async fn poll_requested(&self, integration: &IntegrationId, flow: Flow) -> PortResult<bool> {
        self.hook_poll_requested(integration, flow).await
    }

    async fn take_poll_request(&self, integration: &IntegrationId, flow: Flow) -> PortResult<bool> {
        self.hook_take_poll_request(integration, flow).await
    }

    async fn tally_hook(&self, hook: &str, outcome: &str, at: DateTime<Utc>) -> PortResult<()> {
        self.hook_tally(hook, outcome, at).await
    }

    async fn hook_tallies(&self, hook: &str) -> PortResult<Vec<ferry_domain::webhook::HookTally>> {
        self.hook_tally_list(hook).await
    }

    async fn hook_subscriptions(&self, integration: &IntegrationId) -> PortResult<Vec<HookSubscription>> {
        self.hook_subscription_list(integration).await
    }

    async fn put_hook_subscriptions(
        &self,
        integration: &IntegrationId,
        subscriptions: &[HookSubscription],
    ) -> PortResult<()> {
        self.hook_subscriptions_put(integration, subscriptions).await
    }

    async fn get_backfill(&self, integration: &IntegrationId) -> PortResult<Option<BackfillRecord>> {
        self.backfill_get(integration).await
    }

    async fn put_backfill(&self, record: &BackfillRecord) -> PortResult<()> {
        self.backfill_put(record).await
    }
}
