//! poll → transform → write, plus failure retry and discard.
//!
//! Every step is safe to repeat: the queue delivers at least once, and each handler
//! is idempotent (dedupe by revision, link table and fingerprints, remote-id search
//! before a create).

use crate::crash::{CrashPoint, Crashed};
use crate::engine::Engine;
use crate::error::{EngineError, HandleError};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ferry_domain::ports::{OutMessage, QueryFilter, QueueName};
use ferry_domain::{
    remote_link_for, ChangeEvent, Counter, EntityRef, EntitySnapshot, ErrorCategory, FailureRecord, FieldChange,
    FieldKey, FieldValue, FilterExit, Fingerprint, Flow, IntegrationId, Link, PortError, SeenRevision, Side,
    WriteCommand, MESSAGE_SCHEMA,
};
use ferry_mapping::{
    map_change, needed_target_emails, source_fields, synced_source_values, Decision, MappingInput, UserDirectory,
};
use serde::Serialize;
use std::collections::BTreeMap;
use tracing::{info, instrument, warn};

#[derive(Debug, Default, Clone, Serialize)]
pub struct PollReport {
    pub fetched: usize,
    pub enqueued: usize,
    /// Re-read through the overlap window, already accepted before.
    pub duplicates: usize,
    /// Updated before the start polling time.
    pub before_start: usize,
    pub skipped_inactive: bool,
    /// Another poll of this integration direction held the lease.
    pub busy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TransformOutcome {
    Enqueued {
        create: bool,
        fields: usize,
    },
    Skipped {
        reason: String,
        detail: String,
    },
    /// Parked as a failure record (or behind an existing one).
    Parked {
        failure_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum WriteOutcome {
    Created {
        source: String,
        target: String,
    },
    Updated {
        source: String,
        target: String,
        fields: usize,
    },
    /// The target already held every value (a redelivery, or a person set them).
    Unchanged {
        source: String,
        target: String,
    },
    Parked {
        failure_id: String,
    },
}

impl Engine {
    /// Reads changes of one direction since its watermark and enqueues one message
    /// per changed entity; the watermark advances only after everything is enqueued.
    #[instrument(skip_all, fields(integration = %id, flow = %flow))]
    pub async fn poll(&self, id: &IntegrationId, flow: Flow, now: DateTime<Utc>) -> Result<PollReport, EngineError> {
        // One poll per integration direction at a time: a second one (an overlapping
        // schedule, a manual run) steps aside instead of racing the first.
        let owner = uuid::Uuid::new_v4().to_string();
        if !self.state.acquire_lease(id, flow, &owner, self.settings.poll_lease).await? {
            return Ok(PollReport { busy: true, ..PollReport::default() });
        }
        let result = self.poll_leased(id, flow, now).await;
        if let Err(EngineError::Crashed(_)) = &result {
            // A dead process releases nothing: the lease expires on its own.
            return result;
        }
        if let Err(e) = self.state.release_lease(id, flow, &owner).await {
            warn!("releasing the poll lease: {e}");
        }
        result
    }

    async fn poll_leased(&self, id: &IntegrationId, flow: Flow, now: DateTime<Utc>) -> Result<PollReport, EngineError> {
        let record = self.record(id).await?;
        let mut report = PollReport::default();
        if !record.active {
            report.skipped_inactive = true;
            return Ok(report);
        }
        let integration = &record.integration;
        let Some(mark) = self.state.get_watermark(id, flow).await? else {
            // Activation writes every flow's watermark; a flow added by a later apply
            // gets one at the next activation.
            report.skipped_inactive = true;
            return Ok(report);
        };
        let source = flow.source();
        let (conn, scope) = self.side_connector(&record, source).await?;
        let mut fields = source_fields(integration, flow);
        if let Some(f) = integration.remote.id_field(source) {
            fields.push(f.clone());
        }
        let since = mark.cursor - ChronoDuration::seconds(integration.overlap_secs as i64);
        let filter = integration.filter(flow).map(|c| QueryFilter { condition: c.to_string(), negate: false });

        let mut batch: Vec<(EntitySnapshot, bool)> =
            conn.changed_since(&scope, since, filter.as_ref(), &fields).await?.into_iter().map(|s| (s, true)).collect();
        if let (Some(f), FilterExit::KeepSyncing) = (&filter, integration.filter_exit) {
            if self.state.count_links(id).await? > 0 {
                let outside = QueryFilter { condition: f.condition.clone(), negate: true };
                for s in conn.changed_since(&scope, since, Some(&outside), &fields).await? {
                    if self.state.get_link(id, source, &s.id).await?.is_some() {
                        batch.push((s, false));
                    }
                }
            }
        }
        report.fetched = batch.len();

        let mut newest = mark.cursor;
        let mut accepted = Vec::new();
        for (snapshot, matches_filter) in batch {
            newest = newest.max(snapshot.updated);
            if snapshot.updated <= mark.floor {
                report.before_start += 1;
                continue;
            }
            if let Some(seen) = self.state.get_seen(id, source, &snapshot.id).await? {
                if seen.revision == snapshot.revision || seen.updated > snapshot.updated {
                    report.duplicates += 1;
                    continue;
                }
            }
            accepted.push(ChangeEvent {
                schema: MESSAGE_SCHEMA,
                integration: id.clone(),
                flow,
                snapshot,
                matches_filter,
                polled_at: now,
                replay: None,
            });
        }

        let messages = accepted
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
            self.queue.send(QueueName::Changes, chunk).await?;
        }
        self.crash_point(CrashPoint::PollAfterEnqueue)?;
        for e in &accepted {
            let seen = SeenRevision { revision: e.snapshot.revision.clone(), updated: e.snapshot.updated };
            self.state.put_seen(id, source, &e.snapshot.id, &seen).await?;
        }
        report.enqueued = accepted.len();

        let mut next = mark.clone();
        next.cursor = newest;
        next.last_poll = Some(now);
        next.version = mark.version + 1;
        // A concurrent poll that advanced first wins; our enqueued messages dedupe.
        self.state.put_watermark(id, flow, &next, Some(mark.version)).await?;
        info!(fetched = report.fetched, enqueued = report.enqueued, duplicates = report.duplicates, "polled");
        Ok(report)
    }

    /// Maps one change event and enqueues the write command (or records why not).
    #[instrument(skip_all)]
    pub async fn transform(&self, body: &str, receive_count: u32) -> Result<TransformOutcome, HandleError> {
        let event: ChangeEvent = serde_json::from_str(body)
            .map_err(|e| HandleError::BadMessage(format!("change event is not valid JSON: {e}")))?;
        if event.schema != MESSAGE_SCHEMA {
            return Err(HandleError::BadMessage(format!("change event schema {} is not supported", event.schema)));
        }
        let result = self.transform_event(&event).await;
        self.settle(&event, None, result, receive_count).await
    }

    async fn transform_event(&self, event: &ChangeEvent) -> Result<TransformOutcome, Parkable> {
        let id = &event.integration;
        let flow = event.flow;
        let record = self.record(id).await.map_err(Parkable::from_engine)?;
        if let Some(parked) = self.park_behind(event, None).await? {
            return Ok(parked);
        }
        let integration = &record.integration;
        let source_side = flow.source();
        let target_side = flow.target();
        let (source_conn, _) = self.side_connector(&record, source_side).await?;
        let (target_conn, _) = self.side_connector(&record, target_side).await?;

        let link = self.state.get_link(id, source_side, &event.snapshot.id).await?;
        let target_fp = match &link {
            Some(l) => self.state.get_fingerprint(id, target_side, &l.side(target_side).id).await?,
            None => None,
        };
        let source_fp = self.state.get_fingerprint(id, source_side, &event.snapshot.id).await?;
        // A snapshot read before Ferry's latest write to this entity is stale: mapping
        // it would write older values back over the newer sync (a revert).
        if let Some(written) = source_fp.as_ref().and_then(|fp| fp.written_updated) {
            if event.snapshot.updated < written {
                self.state.incr_counter(id, flow, Counter::Skipped, 1).await?;
                return Ok(TransformOutcome::Skipped {
                    reason: "stale".into(),
                    detail: format!(
                        "{} was read at {}, before Ferry's write at {}",
                        event.snapshot.key,
                        event.snapshot.updated.to_rfc3339(),
                        written.to_rfc3339()
                    ),
                });
            }
        }
        let source_user =
            self.integration_user(&integration.endpoint(source_side).system, source_conn.as_ref()).await?;

        let mut users = UserDirectory::new();
        let target_system = &integration.endpoint(target_side).system;
        for email in needed_target_emails(integration, flow, &event.snapshot) {
            if let Some(u) = self.user_by_email(target_system, target_conn.as_ref(), &email).await? {
                users.insert(&email, u);
            }
        }

        let output = map_change(&MappingInput {
            integration,
            flow,
            source: &event.snapshot,
            users: &users,
            source_integration_user: Some(&source_user),
            source_fingerprint: source_fp.as_ref(),
            target_fingerprint: target_fp.as_ref(),
            linked: link.is_some(),
            matches_filter: event.matches_filter,
        });
        for note in &output.notes {
            info!(entity = %event.snapshot.key, "{note}");
        }
        match output.decision {
            Decision::Skip { reason, detail } => {
                self.state.incr_counter(id, flow, Counter::Skipped, 1).await?;
                Ok(TransformOutcome::Skipped { reason: reason.as_str().to_string(), detail })
            }
            Decision::Fail { category, message } => Err(Parkable::Permanent(PortError::new(category, message), None)),
            Decision::Write { create, changes, mapped } => {
                let command = WriteCommand {
                    schema: MESSAGE_SCHEMA,
                    integration: id.clone(),
                    flow,
                    source: event.snapshot.clone(),
                    target: link.map(|l| l.side(target_side).id.clone()),
                    changes,
                    mapped,
                    replay: event.replay.clone(),
                };
                let body = serde_json::to_string(&command)
                    .map_err(|e| Parkable::Permanent(PortError::new(ErrorCategory::BadMessage, e.to_string()), None))?;
                let fields = command.changes.len();
                self.queue
                    .send(
                        QueueName::Writes,
                        &[OutMessage { group_id: command.group_id(), dedup_id: command.dedup_id(), body }],
                    )
                    .await?;
                self.crash_point(CrashPoint::TransformAfterEnqueue)?;
                Ok(TransformOutcome::Enqueued { create, fields })
            }
        }
    }

    /// Applies one write command to the target system.
    #[instrument(skip_all)]
    pub async fn write(&self, body: &str, receive_count: u32) -> Result<WriteOutcome, HandleError> {
        let command: WriteCommand = serde_json::from_str(body)
            .map_err(|e| HandleError::BadMessage(format!("write command is not valid JSON: {e}")))?;
        if command.schema != MESSAGE_SCHEMA {
            return Err(HandleError::BadMessage(format!("write command schema {} is not supported", command.schema)));
        }
        let event = command_event(&command);
        let result = self.write_command(&command).await;
        self.settle(&event, Some(&command), result, receive_count).await
    }

    async fn write_command(&self, cmd: &WriteCommand) -> Result<WriteOutcome, Parkable> {
        let id = &cmd.integration;
        let record = self.record(id).await.map_err(Parkable::from_engine)?;
        let event = command_event(cmd);
        if let Some(TransformOutcome::Parked { failure_id }) = self.park_behind(&event, Some(cmd)).await? {
            return Ok(WriteOutcome::Parked { failure_id });
        }
        let integration = &record.integration;
        let source_side = cmd.flow.source();
        let target_side = cmd.flow.target();
        let (target_conn, target_scope) = self.side_connector(&record, target_side).await?;
        let read_fields: Vec<FieldKey> = cmd.mapped.keys().map(|k| FieldKey::new(k.clone())).collect();

        // The link may have appeared since transform (a duplicate event was written
        // first); the target id in the command may be stale in the other direction.
        let link = self.state.get_link(id, source_side, &cmd.source.id).await?;
        let existing = match (&link, &cmd.target) {
            (Some(l), _) => Some(l.side(target_side).id.clone()),
            (None, Some(t)) => Some(t.clone()),
            (None, None) => match integration.remote.id_field(target_side) {
                // A retry after a crash between create and link finds the entity it
                // created instead of creating another.
                Some(field) => target_conn.find_by_field(&target_scope, field, &cmd.source.key).await?.map(|r| r.id),
                None => None,
            },
        };

        let (target_ref, created, written) = match existing {
            Some(target_id) => {
                let current = target_conn.get(&target_scope, &target_id, &read_fields).await?.ok_or_else(|| {
                    Parkable::Permanent(
                        PortError::new(
                            ErrorCategory::NotFound,
                            format!("linked target entity {target_id} no longer exists"),
                        ),
                        None,
                    )
                })?;
                // Send only what the target does not already hold; the rest was
                // already applied (by an earlier delivery or by a person).
                let changes: Vec<FieldChange> = changes_to_send(cmd, link.is_none(), &current);
                let r = if changes.is_empty() {
                    entity_ref(&current)
                } else {
                    target_conn.update(&target_scope, &target_id, &changes, Some(&current.revision)).await?
                };
                (r, false, changes.len())
            }
            None => {
                let r = target_conn.create(&target_scope, &cmd.changes).await?;
                (r, true, cmd.changes.len())
            }
        };

        self.crash_point(CrashPoint::WriteAfterTarget)?;
        let now = Utc::now();
        let mut target_ref = target_ref;
        let mut source_ref = entity_ref(&cmd.source);
        let mut source_written = None;
        let mut source_extra = BTreeMap::new();
        if link.is_none() {
            let (source_conn, source_scope) = self.side_connector(&record, source_side).await?;
            let (left, right) = match source_side {
                Side::Left => (source_ref.clone(), target_ref.clone()),
                Side::Right => (target_ref.clone(), source_ref.clone()),
            };
            self.state.put_link(&Link { integration: id.clone(), left, right, created_at: now }).await?;
            self.crash_point(CrashPoint::WriteAfterLink)?;

            let system_label = |side: Side| integration.endpoint(side).system.to_string();
            if integration.remote.link(target_side) {
                let l = remote_link_for(id, source_side, &source_ref, &system_label(source_side));
                target_conn.upsert_remote_link(&target_scope, &target_ref.id, &l).await?;
            }
            let mut touched_source = false;
            if let Some(field) = integration.remote.id_field(source_side) {
                let value = FieldValue::Text(target_ref.key.clone());
                if cmd.source.field(field) != Some(&value) {
                    let change = FieldChange { field: field.clone(), value: value.clone() };
                    source_ref = source_conn.update(&source_scope, &cmd.source.id, &[change], None).await?;
                    source_extra.insert(field.to_string(), value);
                    touched_source = true;
                }
            }
            if integration.remote.link(source_side) {
                let l = remote_link_for(id, target_side, &target_ref, &system_label(target_side));
                source_conn.upsert_remote_link(&source_scope, &cmd.source.id, &l).await?;
                touched_source = true;
            }
            if touched_source {
                if let Some(s) = source_conn.get(&source_scope, &cmd.source.id, &[]).await? {
                    source_ref = entity_ref(&s);
                }
                source_written = Some(source_ref.clone());
            }
            if integration.remote.link(target_side) {
                if let Some(t) = target_conn.get(&target_scope, &target_ref.id, &[]).await? {
                    target_ref = entity_ref(&t);
                }
            }
            // Store the link again with the refs as they are after the follow-up writes.
            let (left, right) = match source_side {
                Side::Left => (source_ref.clone(), target_ref.clone()),
                Side::Right => (target_ref.clone(), source_ref.clone()),
            };
            self.state.put_link(&Link { integration: id.clone(), left, right, created_at: now }).await?;
        }

        self.remember(id, target_side, &target_ref.id, &cmd.mapped, Some(&target_ref), now).await?;
        // The source's mapped values are now in sync too: record them so the reverse
        // direction sees them as unchanged (no ping-pong).
        let mut source_values = synced_source_values(integration, cmd.flow, &cmd.source);
        source_values.extend(source_extra);
        self.remember(id, source_side, &cmd.source.id, &source_values, source_written.as_ref(), now).await?;
        self.state.incr_counter(id, cmd.flow, Counter::Synced, 1).await?;
        let target = target_ref.key.clone();
        let source = cmd.source.key.clone();
        Ok(if created {
            WriteOutcome::Created { source, target }
        } else if written == 0 {
            WriteOutcome::Unchanged { source, target }
        } else {
            WriteOutcome::Updated { source, target, fields: written }
        })
    }

    /// Merges values into a side's fingerprint; `revision` (when Ferry wrote) marks
    /// the revision a later poll must recognise as Ferry's own echo.
    async fn remember(
        &self,
        id: &IntegrationId,
        side: Side,
        entity: &ferry_domain::EntityId,
        values: &BTreeMap<String, FieldValue>,
        written: Option<&EntityRef>,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let mut fp = self.state.get_fingerprint(id, side, entity).await?.unwrap_or_else(|| Fingerprint {
            integration: id.clone(),
            side,
            entity: entity.clone(),
            values: BTreeMap::new(),
            written_revision: None,
            written_updated: None,
            updated_at: now,
        });
        fp.values.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(w) = written {
            fp.written_revision = Some(w.revision.clone());
            fp.written_updated = Some(w.updated);
        }
        fp.updated_at = now;
        self.state.put_fingerprint(&fp).await
    }

    /// If the entity already has a parked failure, this newer event replaces the
    /// parked input (snapshots are full state) and waits behind it.
    async fn park_behind(
        &self,
        event: &ChangeEvent,
        command: Option<&WriteCommand>,
    ) -> Result<Option<TransformOutcome>, Parkable> {
        let Some(mut failure) =
            self.state.failure_for_entity(&event.integration, event.flow, &event.snapshot.id).await?
        else {
            return Ok(None);
        };
        if event.snapshot.updated >= failure.input.snapshot.updated {
            failure.input = event.clone();
            if let Some(c) = command {
                failure.mapping_output = Some(c.clone());
            }
            failure.last_failed_at = Utc::now();
            self.state.put_failure(&failure).await?;
        }
        Ok(Some(TransformOutcome::Parked { failure_id: failure.id }))
    }

    /// Turns a handler result into the queue's answer: success, retry later, or a
    /// failure record (permanent error, or a transient one after `max_attempts`).
    async fn settle<T>(
        &self,
        event: &ChangeEvent,
        command: Option<&WriteCommand>,
        result: Result<T, Parkable>,
        receive_count: u32,
    ) -> Result<T, HandleError>
    where
        T: From<Parked>,
    {
        let (error, output) = match result {
            Ok(v) => return Ok(v),
            Err(Parkable::Crashed(c)) => return Err(HandleError::Crashed(c)),
            Err(Parkable::Permanent(e, out)) => (e, out),
            Err(Parkable::Transient(e)) => {
                let max = match self.config.get_integration(&event.integration).await {
                    Ok(Some(r)) => r.integration.max_attempts,
                    _ => 5,
                };
                if receive_count < max {
                    warn!(entity = %event.snapshot.key, attempt = receive_count, "transient failure, will retry: {e}");
                    return Err(HandleError::retry(e));
                }
                (e, None)
            }
        };
        let output = output.map(|b| *b).or_else(|| command.cloned());
        let now = Utc::now();
        let existing = self
            .state
            .failure_for_entity(&event.integration, event.flow, &event.snapshot.id)
            .await
            .map_err(HandleError::retry)?;
        let failure = FailureRecord {
            id: existing.as_ref().map_or_else(|| uuid::Uuid::new_v4().to_string(), |f| f.id.clone()),
            integration: event.integration.clone(),
            flow: event.flow,
            entity: event.snapshot.id.clone(),
            entity_key: event.snapshot.key.clone(),
            category: error.category,
            cause: error.message.clone(),
            input: event.clone(),
            mapping_output: output,
            attempts: receive_count.max(1),
            first_failed_at: existing.as_ref().map_or(now, |f| f.first_failed_at),
            last_failed_at: now,
        };
        self.state.put_failure(&failure).await.map_err(HandleError::retry)?;
        self.state
            .incr_counter(&event.integration, event.flow, Counter::Failed, 1)
            .await
            .map_err(HandleError::retry)?;
        warn!(entity = %event.snapshot.key, category = %error.category, failure = %failure.id, "parked: {}", error.message);
        Ok(T::from(Parked(failure.id)))
    }

    /// Replays a parked event through the current configuration.
    pub async fn retry_failure(&self, failure_id: &str) -> Result<FailureRecord, EngineError> {
        let failure = self
            .state
            .get_failure(failure_id)
            .await?
            .ok_or_else(|| EngineError::UnknownFailure(failure_id.to_string()))?;
        // A replay marker makes this event's and its write command's dedup ids new:
        // the originals may still be inside the queue's deduplication window.
        let mut event = failure.input.clone();
        event.replay = Some(uuid::Uuid::new_v4().simple().to_string());
        let message = OutMessage {
            group_id: event.group_id(),
            dedup_id: event.dedup_id(),
            body: serde_json::to_string(&event)
                .map_err(|e| PortError::new(ErrorCategory::BadMessage, e.to_string()))?,
        };
        // Delete first: the replayed event must not park behind its own record. If the
        // send fails the record is restored, so nothing is lost.
        self.state.delete_failure(&failure.id).await?;
        if let Err(e) = self.queue.send(QueueName::Changes, &[message]).await {
            self.state.put_failure(&failure).await?;
            return Err(e.into());
        }
        Ok(failure)
    }

    pub async fn discard_failure(&self, failure_id: &str) -> Result<FailureRecord, EngineError> {
        let failure = self
            .state
            .get_failure(failure_id)
            .await?
            .ok_or_else(|| EngineError::UnknownFailure(failure_id.to_string()))?;
        self.state.delete_failure(&failure.id).await?;
        Ok(failure)
    }
}

/// The change event a write command came from (for failure records).
fn command_event(cmd: &WriteCommand) -> ChangeEvent {
    ChangeEvent {
        schema: MESSAGE_SCHEMA,
        integration: cmd.integration.clone(),
        flow: cmd.flow,
        snapshot: cmd.source.clone(),
        matches_filter: true,
        polled_at: cmd.source.updated,
        replay: cmd.replay.clone(),
    }
}

fn entity_ref(s: &EntitySnapshot) -> EntityRef {
    EntityRef {
        id: s.id.clone(),
        key: s.key.clone(),
        url: s.url.clone(),
        revision: s.revision.clone(),
        updated: s.updated,
    }
}

/// The changes the target still needs. For an entity adopted through the remote-id
/// search (no link yet) every mapped value is considered.
fn changes_to_send(cmd: &WriteCommand, adopting: bool, current: &EntitySnapshot) -> Vec<FieldChange> {
    let wanted: Vec<FieldChange> = if adopting {
        cmd.mapped.iter().map(|(k, v)| FieldChange { field: FieldKey::new(k.clone()), value: v.clone() }).collect()
    } else {
        cmd.changes.clone()
    };
    wanted
        .into_iter()
        .filter(|c| !ferry_mapping::same_value(current.field(&c.field).unwrap_or(&FieldValue::Null), &c.value))
        .collect()
}

/// A handler error before it is settled.
pub(crate) enum Parkable {
    Transient(PortError),
    Permanent(PortError, Option<Box<WriteCommand>>),
    Crashed(Crashed),
}

impl From<Crashed> for Parkable {
    fn from(c: Crashed) -> Self {
        Parkable::Crashed(c)
    }
}

impl Parkable {
    fn from_engine(e: EngineError) -> Self {
        match e {
            EngineError::Port(p) => p.into(),
            EngineError::Crashed(c) => Parkable::Crashed(c),
            other => Parkable::Permanent(PortError::new(ErrorCategory::Config, other.to_string()), None),
        }
    }
}

impl From<PortError> for Parkable {
    fn from(e: PortError) -> Self {
        if e.is_retryable() {
            Parkable::Transient(e)
        } else {
            Parkable::Permanent(e, None)
        }
    }
}

pub(crate) struct Parked(String);

impl From<Parked> for TransformOutcome {
    fn from(p: Parked) -> Self {
        TransformOutcome::Parked { failure_id: p.0 }
    }
}
impl From<Parked> for WriteOutcome {
    fn from(p: Parked) -> Self {
        WriteOutcome::Parked { failure_id: p.0 }
    }
}
