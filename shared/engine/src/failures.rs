//! Failures: how a handler's error is settled (retried later, or parked as a failure
//! record), how a newer change of a parked entity waits behind its record, and the
//! operator's way out (`ferry failures retry` / `discard`).
//!
//! A permanent error parks at once; a transient one is retried by the queue until its
//! last attempt ([`crate::attempts`]), which parks it instead of dead-lettering it.

use crate::batch::Batch;
use crate::crash::Crashed;
use crate::engine::Engine;
use crate::error::{EngineError, HandleError};
use chrono::Utc;
use ferry_domain::failure_listing::listed_id;
use ferry_domain::ports::{OutMessage, QueueName};
use ferry_domain::{
    ActivityKind, ChangeEvent, Counter, EntityId, ErrorCategory, FailureRecord, Flow, IntegrationId, PortError, Side,
    UnreadableFailure, WriteCommand, MESSAGE_SCHEMA,
};
use ferry_mapping::source_fields;
use tracing::{info, warn};

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
    /// The category of the error, `None` for a crash.
    pub(crate) fn category(&self) -> Option<ErrorCategory> {
        match self {
            Parkable::Transient(e) | Parkable::Permanent(e, _) => Some(e.category),
            Parkable::Crashed(_) => None,
        }
    }

    pub(crate) fn from_engine(e: EngineError) -> Self {
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

/// A message parked as (or behind) the failure record `id`; `conflict` when this
/// message parked a new `field_conflict` (fields changed on both sides, left to a person).
pub(crate) struct Parked {
    pub(crate) id: String,
    pub(crate) conflict: bool,
}

impl Engine {
    /// If the entity already has a parked failure, this newer event replaces the
    /// parked input (snapshots are full state) and waits behind it.
    pub(crate) async fn park_behind(
        &self,
        event: &ChangeEvent,
        command: Option<&WriteCommand>,
        batch: &Batch,
    ) -> Result<Option<Parked>, Parkable> {
        let Some(mut failure) = self.batch_failure(batch, &event.integration, event.flow, &event.snapshot.id).await?
        else {
            return Ok(None);
        };
        if event.snapshot.updated >= failure.input.snapshot.updated {
            failure.input = event.clone();
            if let Some(c) = command {
                failure.mapping_output = Some(c.clone());
            }
            failure.last_failed_at = Utc::now();
            self.batch_put_failure(batch, &failure).await?;
        }
        let detail = format!("waits behind the parked failure {} ({})", failure.id, failure.category);
        batch.add_step(crate::activity::step(event, ActivityKind::Failed, detail));
        Ok(Some(Parked { id: failure.id, conflict: false }))
    }

    /// Turns a handler result into the queue's answer: success, retry later, or a
    /// failure record (permanent error, or a transient one on its last attempt: see
    /// [`last_attempt`](crate::attempts::last_attempt)).
    pub(crate) async fn settle<T>(
        &self,
        event: &ChangeEvent,
        command: Option<&WriteCommand>,
        result: Result<T, Parkable>,
        receive_count: u32,
        batch: &Batch,
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
                if !crate::attempts::last_attempt(receive_count, max, self.queue.max_receives()) {
                    warn!(entity = %event.snapshot.key, attempt = receive_count, "transient failure, will retry: {e}");
                    return Err(HandleError::retry(e));
                }
                (e, None)
            }
        };
        let output = output.map(|b| *b).or_else(|| command.cloned());
        let now = Utc::now();
        let existing = self
            .batch_failure(batch, &event.integration, event.flow, &event.snapshot.id)
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
        self.batch_put_failure(batch, &failure).await.map_err(HandleError::retry)?;
        batch.count(&event.integration, event.flow, Counter::Failed);
        batch.add_step(crate::activity::parked_step(event, &failure));
        warn!(entity = %event.snapshot.key, category = %error.category, failure = %failure.id, "parked: {}", error.message);
        Ok(T::from(Parked { id: failure.id, conflict: error.category == ErrorCategory::FieldConflict }))
    }

    /// Replays a parked event through the current configuration.
    pub async fn retry_failure(&self, failure_id: &str) -> Result<FailureRecord, EngineError> {
        self.retry_failure_with(failure_id, None).await
    }

    /// Replays a parked event; `winner` decides every field conflict of the replay (the
    /// way out of a flagged `field_conflict`).
    pub async fn retry_failure_with(
        &self,
        failure_id: &str,
        winner: Option<Side>,
    ) -> Result<FailureRecord, EngineError> {
        let failure = self
            .state
            .get_failure(failure_id)
            .await?
            .ok_or_else(|| EngineError::UnknownFailure(failure_id.to_string()))?;
        // A replay marker makes this event's and its write command's dedup ids new:
        // the originals may still be inside the queue's deduplication window.
        let mut event = match winner {
            // The winning values live on the other side: they travel in the reverse
            // direction, from a fresh read of the twin entity.
            Some(w) if w != failure.flow.source() => self.twin_event(&failure).await?,
            _ => failure.input.clone(),
        };
        event.replay = Some(uuid::Uuid::new_v4().simple().to_string());
        event.winner = winner.or(event.winner);
        let message = OutMessage {
            group_id: event.group_id(),
            dedup_id: event.dedup_id(),
            body: serde_json::to_string(&event)
                .map_err(|e| PortError::new(ErrorCategory::BadMessage, e.to_string()))?,
        };
        // Delete first: the replayed event must not park behind its own record. If the
        // send fails the record is restored, so nothing is lost.
        self.state.delete_failure(&failure.id).await?;
        // The twin's own parked conflict would hold the replay behind it.
        let sibling = if event.flow == failure.flow {
            None
        } else {
            self.state
                .failure_for_entity(&event.integration, event.flow, &event.snapshot.id)
                .await?
                .filter(|f| f.category == ErrorCategory::FieldConflict)
        };
        if let Some(f) = &sibling {
            self.state.delete_failure(&f.id).await?;
        }
        if let Err(e) = self.queue.send(QueueName::Changes, &[message]).await {
            self.state.put_failure(&failure).await?;
            if let Some(f) = &sibling {
                self.state.put_failure(f).await?;
            }
            return Err(e.into());
        }
        let detail = match winner {
            Some(w) => format!("queued again by a person: {} wins", w.as_str()),
            None => "queued again by a person".to_string(),
        };
        self.record_steps(&[crate::activity::step(&failure.input, ActivityKind::Retried, detail)]).await;
        Ok(failure)
    }

    /// A change event of the reverse flow for the linked twin of a failure's entity, from
    /// its current state.
    async fn twin_event(&self, failure: &FailureRecord) -> Result<ChangeEvent, EngineError> {
        let id = &failure.integration;
        let flow = failure.flow.reverse();
        let record = self.record(id).await?;
        let missing = |what: &str| {
            EngineError::Port(PortError::new(
                ErrorCategory::NotFound,
                format!("{} has no {what}: the other side cannot win; retry without --winner", failure.entity_key),
            ))
        };
        let link =
            self.state.get_link(id, failure.flow.source(), &failure.entity).await?.ok_or_else(|| missing("link"))?;
        let twin = link.side(flow.source()).id.clone();
        let (conn, scope) = self.side_connector(&record, flow.source()).await?;
        let mut fields = source_fields(&record.integration, flow);
        if let Some(f) = record.integration.remote.id_field(flow.source()) {
            fields.push(f.clone());
        }
        let snapshot = conn.get(&scope, &twin, &fields).await?.ok_or_else(|| missing("twin entity any more"))?;
        Ok(ChangeEvent {
            schema: MESSAGE_SCHEMA,
            integration: id.clone(),
            flow,
            snapshot,
            matches_filter: true,
            polled_at: Utc::now(),
            replay: None,
            winner: None,
        })
    }

    /// After an operator's decision is applied in one direction, the same conflict parked
    /// by the reverse direction (on the twin entity) is settled too.
    pub(crate) async fn clear_sibling_conflict(
        &self,
        id: &IntegrationId,
        flow: Flow,
        twin: &EntityId,
        batch: &Batch,
    ) -> Result<(), PortError> {
        if let Some(f) = self.batch_failure(batch, id, flow.reverse(), twin).await? {
            if f.category == ErrorCategory::FieldConflict {
                info!(failure = %f.id, "the reverse direction's conflict on the same field(s) is settled too");
                self.batch_delete_failure(batch, &f).await?;
            }
        }
        Ok(())
    }

    /// Drops a parked failure for good. A failure whose record cannot be read is dropped
    /// too, once the failure listing confirms it is unreadable (a store that merely did
    /// not answer fails the discard instead): otherwise it would stay parked forever.
    pub async fn discard_failure(&self, failure_id: &str) -> Result<Discarded, EngineError> {
        let failure = match self.state.get_failure(failure_id).await {
            Ok(Some(failure)) => failure,
            Ok(None) => return Err(EngineError::UnknownFailure(failure_id.to_string())),
            Err(read) => {
                let listing = self.state.failure_listing(None).await?;
                let Some(Err(unreadable)) = listing.into_iter().find(|f| listed_id(f) == failure_id) else {
                    return Err(read.into());
                };
                self.state.delete_failure(failure_id).await?;
                return Ok(Discarded::Unreadable(unreadable));
            }
        };
        self.state.delete_failure(&failure.id).await?;
        let step = crate::activity::step(&failure.input, ActivityKind::Discarded, "dropped by a person");
        self.record_steps(&[step]).await;
        Ok(Discarded::Record(Box::new(failure)))
    }
}

/// What [`Engine::discard_failure`] dropped.
#[derive(Debug)]
pub enum Discarded {
    Record(Box<FailureRecord>),
    /// A failure whose record could not be read (as the listing showed it).
    Unreadable(UnreadableFailure),
}

impl Discarded {
    /// The failure as an operator names it: its integration and entity.
    pub fn describe(&self) -> String {
        match self {
            Discarded::Record(f) => format!("{} {}", f.integration, f.entity_key),
            Discarded::Unreadable(u) => format!(
                "{} {} (unreadable)",
                u.integration.as_ref().map_or("?", |i| i.as_str()),
                u.entity.as_ref().map_or("?", |e| e.as_str())
            ),
        }
    }
}

/// The change event a write command came from (for failure records).
pub(crate) fn command_event(cmd: &WriteCommand) -> ChangeEvent {
    ChangeEvent {
        schema: MESSAGE_SCHEMA,
        integration: cmd.integration.clone(),
        flow: cmd.flow,
        snapshot: cmd.source.clone(),
        matches_filter: true,
        polled_at: cmd.source.updated,
        replay: cmd.replay.clone(),
        winner: cmd.winner,
    }
}
