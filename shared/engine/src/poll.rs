//! The poll use case: reads the changes of one direction since its watermark, a page
//! at a time within a time budget, enqueues one message per changed entity, and saves
//! the watermark after each page, once the page's messages are sent. A read the budget
//! cuts short is continued by the next poll; nothing is read twice but what
//! [`crate::watermark`] says must be.

use crate::activity::step;
use crate::crash::CrashPoint;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::poll_request::{merge, poll_again};
use crate::watermark::{
    after_page, budget_and_lease, classify, new_read, seen_entry, start_outside, stream_state, Budget, PageRead,
    Stream, Verdict,
};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ferry_domain::ports::{ChangeQuery, Connector, OutMessage, QueryFilter, QueueName, StateKey, StateRecord};
use ferry_domain::{
    ActivityKind, ChangeEvent, ChangePage, EntityId, EntitySnapshot, ErrorCategory, FieldKey, FilterExit, Flow,
    IntegrationId, IntegrationRecord, PortError, Scope, Side, Watermark, MESSAGE_SCHEMA,
};
use ferry_mapping::{is_echo, made_by, source_fields};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, instrument, warn};

#[derive(Debug, Default, Clone, Serialize)]
pub struct PollReport {
    pub fetched: usize,
    pub enqueued: usize,
    /// Listed again (a rescan, a tie at a page boundary), already handled before.
    pub duplicates: usize,
    /// Ferry's own writes read back (not enqueued).
    pub echoes: usize,
    /// Updated before the start polling time.
    pub before_start: usize,
    pub skipped_inactive: bool,
    /// Another poll of this integration direction held the lease.
    pub busy: bool,
    /// Pages read (each saved to the watermark before the next).
    pub pages: usize,
    /// The time budget ended before the read did: the next poll continues it.
    pub more: bool,
    /// Reads this poll ran: 1, plus one for each rerun a poll request asked for while
    /// it read ([`crate::poll_request`]); 0 when it did not run (`busy`).
    pub rounds: usize,
}

/// What every page of one poll needs.
struct PollCtx {
    record: IntegrationRecord,
    flow: Flow,
    conn: Arc<dyn Connector>,
    scope: Scope,
    fields: Vec<FieldKey>,
    filter: Option<QueryFilter>,
    overlap: ChronoDuration,
    /// The reads this poll runs: the main one, and the outside one when the filter's
    /// exit policy keeps syncing linked entities.
    streams: Vec<Stream>,
    now: DateTime<Utc>,
    /// The poll answers a webhook's request ([`crate::watermark::new_read`]).
    requested: bool,
    rescan_every: ChronoDuration,
}

impl PollCtx {
    fn filter(&self, stream: Stream) -> Option<QueryFilter> {
        let f = self.filter.as_ref()?;
        Some(QueryFilter { condition: f.condition.clone(), negate: stream == Stream::Outside })
    }
}

impl Engine {
    /// Polls one direction within the engine's default time budget
    /// ([`crate::EngineSettings::poll_budget`]).
    pub async fn poll(&self, id: &IntegrationId, flow: Flow, now: DateTime<Utc>) -> Result<PollReport, EngineError> {
        self.poll_within(id, flow, now, self.settings.poll_budget).await
    }

    /// Polls one direction: reads and enqueues its changes page by page, saving the
    /// watermark after each, until the read ends or `budget` would be exceeded by
    /// another page (the first page is always read, so every poll makes progress).
    #[instrument(skip_all, fields(integration = %id, flow = %flow))]
    pub async fn poll_within(
        &self,
        id: &IntegrationId,
        flow: Flow,
        now: DateTime<Utc>,
        budget: Duration,
    ) -> Result<PollReport, EngineError> {
        let (budget, lease) = budget_and_lease(budget, self.settings.poll_lease);
        // One poll per integration direction at a time: a second one (an overlapping
        // schedule, a manual run, a webhook) steps aside instead of racing the first,
        // and its request is answered by the holder's rerun (crate::poll_request).
        let owner = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let mut total = PollReport::default();
        loop {
            if !self.state.acquire_lease(id, flow, &owner, lease).await? {
                total.busy = total.rounds == 0;
                return Ok(total);
            }
            let spent = started.elapsed();
            let round_now = now + ChronoDuration::from_std(spent).unwrap_or_default();
            let result =
                self.poll_round(id, flow, round_now, Budget::new(Instant::now(), budget.saturating_sub(spent))).await;
            if let Err(EngineError::Crashed(_)) = &result {
                // A dead process releases nothing: the lease expires on its own.
                return result;
            }
            if let Err(e) = self.state.release_lease(id, flow, &owner).await {
                warn!("releasing the poll lease: {e}");
            }
            merge(&mut total, result?);
            let requested = self.state.poll_requested(id, flow).await?;
            if !poll_again(requested, &total, total.rounds, started.elapsed(), budget) {
                return Ok(total);
            }
        }
    }

    /// One read under the lease. A request made before it is answered by it.
    async fn poll_round(
        &self,
        id: &IntegrationId,
        flow: Flow,
        now: DateTime<Utc>,
        budget: Budget,
    ) -> Result<PollReport, EngineError> {
        let requested = self.state.take_poll_request(id, flow).await?;
        self.poll_leased(id, flow, now, budget, requested).await
    }

    async fn poll_leased(
        &self,
        id: &IntegrationId,
        flow: Flow,
        now: DateTime<Utc>,
        mut budget: Budget,
        requested: bool,
    ) -> Result<PollReport, EngineError> {
        let record = self.record(id).await?;
        let mut report = PollReport::default();
        if !record.active {
            report.skipped_inactive = true;
            return Ok(report);
        }
        let Some(mut mark) = self.state.get_watermark(id, flow).await? else {
            // Activation writes every flow's watermark; a flow added by a later apply
            // gets one at the next activation.
            report.skipped_inactive = true;
            return Ok(report);
        };
        let ctx = self.poll_ctx(record, flow, now, requested).await?;
        if ctx.streams.contains(&Stream::Outside) {
            start_outside(&mut mark, ctx.overlap);
        }
        let mut pages = vec![0usize; ctx.streams.len()];
        let mut done = vec![false; ctx.streams.len()];
        'poll: while done.iter().any(|d| !d) {
            for (i, stream) in ctx.streams.iter().enumerate() {
                if done[i] {
                    continue;
                }
                if pages[i] > 0 && !budget.allows_page(Instant::now()) {
                    report.more = true;
                    break 'poll;
                }
                let started = Instant::now();
                done[i] = self.poll_page(&ctx, *stream, &mut mark, &mut report).await?;
                budget.page_took(started.elapsed());
                pages[i] += 1;
            }
        }
        info!(
            pages = report.pages,
            fetched = report.fetched,
            enqueued = report.enqueued,
            duplicates = report.duplicates,
            echoes = report.echoes,
            more = report.more,
            "polled"
        );
        Ok(report)
    }

    async fn poll_ctx(
        &self,
        record: IntegrationRecord,
        flow: Flow,
        now: DateTime<Utc>,
        requested: bool,
    ) -> Result<PollCtx, EngineError> {
        let integration = &record.integration;
        let source = flow.source();
        let (conn, scope) = self.side_connector(&record, source).await?;
        let fields = Engine::polled_fields(integration, flow);
        let filter = integration.filter(flow).map(|c| QueryFilter { condition: c.to_string(), negate: false });
        let mut streams = vec![Stream::Main];
        if filter.is_some()
            && integration.filter_exit == FilterExit::KeepSyncing
            && self.state.count_links(&integration.id).await? > 0
        {
            streams.push(Stream::Outside);
        }
        let overlap = ChronoDuration::seconds(integration.overlap_secs as i64);
        let rescan_every = ChronoDuration::from_std(self.settings.rescan_every).unwrap_or(ChronoDuration::MAX);
        Ok(PollCtx { record, flow, conn, scope, fields, filter, overlap, streams, now, requested, rescan_every })
    }

    /// Reads one page of a stream, enqueues its changes and saves the watermark;
    /// `Ok(true)` when the page ended the stream's read.
    async fn poll_page(
        &self,
        ctx: &PollCtx,
        stream: Stream,
        mark: &mut Watermark,
        report: &mut PollReport,
    ) -> Result<bool, EngineError> {
        let (cursor, mut read) = stream_state(mark, stream);
        let resume = read.resume.take();
        let fresh = resume.is_none();
        let (since, rescan) =
            if fresh { new_read(cursor, &read, ctx.requested, ctx.now, ctx.rescan_every) } else { (cursor, false) };
        if rescan {
            // A rescan lists everything from `since` on: its own pages set the next bound.
            read.rescan_from = None;
            read.rescanned_at = Some(ctx.now);
        }
        let filter = ctx.filter(stream);
        let page_size = self.settings.poll_page_size.max(1);
        let mut query =
            ChangeQuery { since, filter: filter.as_ref(), fields: &ctx.fields, seen: &mark.seen, page_size };
        let page = match ctx.conn.changes(&ctx.scope, &query, resume.as_ref()).await {
            Err(e) if !fresh && e.category == ErrorCategory::InvalidRequest => {
                warn!("the source refused to continue the read ({e}); a new read starts at the cursor");
                query.since = cursor;
                ctx.conn.changes(&ctx.scope, &query, None).await?
            }
            other => other?,
        };
        if page.next.is_some() && page.next == resume && page.snapshots.is_empty() && page.unchanged == 0 {
            return Err(
                PortError::new(ErrorCategory::BadResponse, "the source's read of changes did not advance").into()
            );
        }
        let since = query.since;
        let (events, handled) = self.page_events(ctx, stream, mark, since, &page, report).await?;
        // Stamped before the send: a transform of the event may run before they are stored.
        let polled: Vec<_> = events
            .iter()
            .map(|e| step(e, ActivityKind::Polled, format!("revision {} queued", e.snapshot.revision)))
            .collect();
        self.enqueue_changes(&events).await?;
        report.enqueued += events.len();
        self.record_steps(&polled).await;

        let ended = page.next.is_none();
        let next = after_page(
            mark,
            PageRead {
                stream,
                cursor,
                read,
                page: &page,
                handled,
                overlap: ctx.overlap,
                now: ctx.now,
                streams: &ctx.streams,
            },
        );
        // A concurrent poll that advanced first wins; our enqueued messages dedupe.
        self.state.put_watermark(&ctx.record.integration.id, ctx.flow, &next, Some(mark.version)).await?;
        *mark = next;
        Ok(ended)
    }

    /// The change events of a page (new revisions, not Ferry's echoes, and outside the
    /// filter only linked entities) and the seen revisions it handled.
    async fn page_events(
        &self,
        ctx: &PollCtx,
        stream: Stream,
        mark: &Watermark,
        since: DateTime<Utc>,
        page: &ChangePage,
        report: &mut PollReport,
    ) -> Result<(Vec<ChangeEvent>, Vec<(EntityId, ferry_domain::SeenRevision)>), EngineError> {
        report.pages += 1;
        report.fetched += page.snapshots.len();
        report.duplicates += page.unchanged;
        let mut handled = Vec::new();
        let mut candidates = Vec::new();
        for snapshot in &page.snapshots {
            match classify(snapshot, mark.floor, since, mark.seen.get(&snapshot.id)) {
                Verdict::BeforeStart => report.before_start += 1,
                Verdict::Duplicate => {
                    report.duplicates += 1;
                    // A later read of a revision read soon after its change may settle it.
                    if snapshot.updated >= since {
                        handled.push((snapshot.id.clone(), seen_entry(snapshot, page.as_of)));
                    }
                }
                Verdict::New => candidates.push(snapshot.clone()),
            }
        }
        if stream == Stream::Outside {
            candidates = self.linked_only(ctx, candidates).await?;
        }
        let source = ctx.flow.source();
        let echoes = self.poll_echoes(&ctx.record, source, ctx.conn.as_ref(), &candidates).await?;
        let mut events = Vec::with_capacity(candidates.len());
        let mut dropped = Vec::new();
        for snapshot in candidates {
            handled.push((snapshot.id.clone(), seen_entry(&snapshot, page.as_of)));
            let echo = echoes.contains(&snapshot.id);
            let event = ChangeEvent {
                schema: MESSAGE_SCHEMA,
                integration: ctx.record.integration.id.clone(),
                flow: ctx.flow,
                snapshot,
                matches_filter: stream == Stream::Main,
                polled_at: ctx.now,
                replay: None,
                winner: None,
            };
            if echo {
                report.echoes += 1;
                dropped.push(step(&event, ActivityKind::EchoDropped, "Ferry's own write read back"));
                continue;
            }
            events.push(event);
        }
        self.record_steps(&dropped).await;
        Ok((events, handled))
    }

    /// The snapshots of linked entities (changes outside the filter sync only for those).
    async fn linked_only(
        &self,
        ctx: &PollCtx,
        snapshots: Vec<EntitySnapshot>,
    ) -> Result<Vec<EntitySnapshot>, EngineError> {
        let id = &ctx.record.integration.id;
        let key = |s: &EntitySnapshot| StateKey::Link(id.clone(), ctx.flow.source(), s.id.clone());
        let keys: Vec<StateKey> = snapshots.iter().map(key).collect();
        let links = if keys.is_empty() { HashMap::new() } else { self.state.get_many(&keys).await? };
        Ok(snapshots.into_iter().filter(|s| links.contains_key(&key(s))).collect())
    }

    /// Sends change events in batches of `send_batch`, in order.
    async fn enqueue_changes(&self, events: &[ChangeEvent]) -> Result<(), EngineError> {
        let messages = events
            .iter()
            .map(|e| {
                Ok(OutMessage {
                    group_id: e.group_id(),
                    dedup_id: e.dedup_id(),
                    body: serde_json::to_string(e).map_err(|err| {
                        PortError::new(ErrorCategory::BadMessage, format!("encoding change event: {err}"))
                    })?,
                })
            })
            .collect::<Result<Vec<_>, PortError>>()?;
        for (i, chunk) in messages.chunks(self.settings.send_batch.max(1)).enumerate() {
            if i > 0 {
                self.crash_point(CrashPoint::PollBetweenSends)?;
            }
            self.send_or_park(QueueName::Changes, chunk).await?;
        }
        self.crash_point(CrashPoint::PollAfterEnqueue)?;
        Ok(())
    }

    /// The candidates that are Ferry's own writes read back ([`is_echo`]). Only the
    /// integration user's revisions need their fingerprint read, in one batched read.
    async fn poll_echoes(
        &self,
        record: &ferry_domain::IntegrationRecord,
        source: Side,
        conn: &dyn Connector,
        candidates: &[EntitySnapshot],
    ) -> Result<HashSet<EntityId>, EngineError> {
        let mut echoes = HashSet::new();
        if candidates.iter().all(|s| s.changed_by.is_none()) {
            return Ok(echoes);
        }
        let me = self.integration_user(&record.integration.endpoint(source).system, conn).await?;
        let mine: Vec<&EntitySnapshot> = candidates.iter().filter(|s| made_by(s, &me)).collect();
        if mine.is_empty() {
            return Ok(echoes);
        }
        let id = &record.integration.id;
        // A linked pair's fingerprints are in its pair record, keyed by its left entity:
        // a right entity's is found through its link. All reads here may be a moment
        // stale: that only lets an echo through to the transform, which reads strongly
        // and skips it.
        let mut left_of: HashMap<&EntityId, EntityId> = HashMap::new();
        match source {
            Side::Left => left_of.extend(mine.iter().map(|s| (&s.id, s.id.clone()))),
            Side::Right => {
                let key = |s: &EntitySnapshot| StateKey::Link(id.clone(), Side::Right, s.id.clone());
                let links = self.state.get_many_relaxed(&mine.iter().map(|s| key(s)).collect::<Vec<_>>()).await?;
                for s in &mine {
                    if let Some(StateRecord::Link(l)) = links.get(&key(s)) {
                        left_of.insert(&s.id, l.left.id.clone());
                    }
                }
            }
        }
        let keys: HashSet<StateKey> = left_of.values().map(|l| StateKey::Pair(id.clone(), l.clone())).collect();
        if keys.is_empty() {
            return Ok(echoes);
        }
        let pairs = self.state.get_many_relaxed(&keys.into_iter().collect::<Vec<_>>()).await?;
        for s in mine {
            let Some(left) = left_of.get(&s.id) else { continue };
            if let Some(StateRecord::Pair(p)) = pairs.get(&StateKey::Pair(id.clone(), left.clone())) {
                if p.of(source, &s.id).is_some_and(|fp| is_echo(s, &me, fp)) {
                    echoes.insert(s.id.clone());
                }
            }
        }
        Ok(echoes)
    }
}

impl Engine {
    /// The change events a poll of `flow` would enqueue now, up to `limit`, read through
    /// the poll's own steps (the same query, dedupe against the watermark, echo and
    /// linked-only filtering) without enqueueing them or saving the watermark. A
    /// direction not activated yet reads from the integration's `start_time`, or from
    /// the beginning. For `ferry preview`.
    pub(crate) async fn pending_changes(
        &self,
        record: IntegrationRecord,
        flow: Flow,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ChangeEvent>, EngineError> {
        let id = record.integration.id.clone();
        let start = record.integration.start_time.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        let mut mark = self.state.get_watermark(&id, flow).await?.unwrap_or_else(|| Watermark::starting_at(start));
        // The preview lists what a scheduled poll would: from the rescan bound.
        let ctx = self.poll_ctx(record, flow, now, false).await?;
        if ctx.streams.contains(&Stream::Outside) {
            start_outside(&mut mark, ctx.overlap);
        }
        let mut events = Vec::new();
        let mut report = PollReport::default();
        for stream in &ctx.streams {
            let (cursor, read) = stream_state(&mark, *stream);
            let (since, _) = new_read(cursor, &read, false, now, ctx.rescan_every);
            let filter = ctx.filter(*stream);
            let page_size = self.settings.poll_page_size.max(1);
            let query =
                ChangeQuery { since, filter: filter.as_ref(), fields: &ctx.fields, seen: &mark.seen, page_size };
            let mut from: Option<ferry_domain::ReadToken> = None;
            while events.len() < limit {
                let page = ctx.conn.changes(&ctx.scope, &query, from.as_ref()).await?;
                let (page_events, _) = self.page_events(&ctx, *stream, &mark, since, &page, &mut report).await?;
                events.extend(page_events);
                match page.next {
                    Some(next) if Some(&next) != from.as_ref() => from = Some(next),
                    _ => break,
                }
            }
        }
        events.truncate(limit);
        Ok(events)
    }

    /// The source fields a poll of `flow` reads (the mapped ones and the remote id).
    pub(crate) fn polled_fields(integration: &ferry_domain::Integration, flow: Flow) -> Vec<FieldKey> {
        let mut fields = source_fields(integration, flow);
        if let Some(f) = integration.remote.id_field(flow.source()) {
            fields.push(f.clone());
        }
        fields
    }
}
