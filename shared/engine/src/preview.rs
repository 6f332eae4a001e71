//! `ferry preview`: what the next run would do, without doing it. The changes a poll
//! would read ([`Engine::pending_changes`]) go through the transform's own mapping
//! ([`Engine::transform_event`]) and the write's own target resolution and three-way
//! comparison ([`Engine::plan_existing`]); the command and the plan are reported
//! instead of sent. Nothing is written to the systems, the store or the queues: the
//! handler batch these steps write through is never flushed, and an entity parked
//! behind a failure is reported before the step that would update its failure runs.

use crate::batch::Batch;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::failures::Parkable;
use crate::outcome::{TransformOutcome, WriteOutcome};
use crate::target_deleted::Next;
use crate::write::{Planned, WriteCtx};
use chrono::{DateTime, Utc};
use ferry_domain::{
    ChangeEvent, EntityId, ErrorCategory, FieldKey, FieldValue, Flow, IntegrationId, IntegrationRecord, WriteCommand,
    MESSAGE_SCHEMA,
};
use serde::Serialize;

/// Which source entities a preview reads.
#[derive(Debug, Clone)]
pub enum PreviewSelect {
    /// One entity by its key (or id), on whichever side has it.
    Key(String),
    /// The changes the next poll would read, at most this many per direction.
    Limit(usize),
}

/// What the next run would do with one source entity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewEntity {
    pub flow: Flow,
    /// The source entity's key.
    pub source: String,
    #[serde(flatten)]
    pub action: PreviewAction,
}

/// One target field: its value now (`None`: a create) and the value the write sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDiff {
    pub field: FieldKey,
    pub from: Option<FieldValue>,
    pub to: FieldValue,
}

/// A field changed on both sides that the conflict policy would leave to a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewConflict {
    pub field: FieldKey,
    pub source_value: FieldValue,
    pub target_value: FieldValue,
    /// The last-synced value.
    pub base: FieldValue,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PreviewAction {
    /// A new target entity with these fields.
    Create { fields: Vec<FieldDiff> },
    /// An update of the target: the fields that change, the conflicts it would flag
    /// (parked as a `field_conflict`), and those the policy settles (field, winner).
    Update {
        target: String,
        fields: Vec<FieldDiff>,
        conflicts: Vec<PreviewConflict>,
        resolved: Vec<(FieldKey, String)>,
    },
    /// Nothing to write: the target holds every mapped value already.
    Unchanged { target: Option<String> },
    /// The mapping writes nothing (echo, outside the filter, stale ...).
    Skip { reason: String, detail: String },
    /// A failure the run would park.
    Park { category: ErrorCategory, message: String },
    /// The entity waits behind a failure parked earlier.
    Blocked { failure: String },
}

impl Engine {
    /// What the next run of integration `id` would do (see the module docs).
    pub async fn preview(
        &self,
        id: &IntegrationId,
        select: &PreviewSelect,
        now: DateTime<Utc>,
    ) -> Result<Vec<PreviewEntity>, EngineError> {
        let record = self.record(id).await?;
        let mut out = Vec::new();
        for flow in record.integration.flows() {
            let events = match select {
                PreviewSelect::Limit(n) => self.pending_changes(record.clone(), flow, now, *n).await?,
                PreviewSelect::Key(key) => self.keyed_change(&record, flow, key, now).await?.into_iter().collect(),
            };
            for event in events {
                let source = event.snapshot.key.clone();
                let action = self.preview_event(&record, &event).await?;
                out.push(PreviewEntity { flow, source, action });
            }
        }
        Ok(out)
    }

    /// The change event of one source entity named by key, if the source side has it.
    async fn keyed_change(
        &self,
        record: &IntegrationRecord,
        flow: Flow,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ChangeEvent>, EngineError> {
        let (conn, scope) = self.side_connector(record, flow.source()).await?;
        let fields = Engine::polled_fields(&record.integration, flow);
        let snapshot = match conn.get(&scope, &EntityId::new(key), &fields).await {
            Ok(s) => s,
            // A key of the other side's form (`APP-12` asked of Azure DevOps): not here.
            Err(e) if matches!(e.category, ErrorCategory::InvalidRequest | ErrorCategory::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(snapshot.map(|snapshot| ChangeEvent {
            schema: MESSAGE_SCHEMA,
            integration: record.integration.id.clone(),
            flow,
            snapshot,
            matches_filter: true,
            polled_at: now,
            replay: None,
            winner: None,
        }))
    }

    /// One event through the transform and the write's planning, nothing sent.
    async fn preview_event(
        &self,
        record: &IntegrationRecord,
        event: &ChangeEvent,
    ) -> Result<PreviewAction, EngineError> {
        let batch = Batch::default();
        let (id, flow) = (&event.integration, event.flow);
        if let Some(f) = self.batch_failure(&batch, id, flow, &event.snapshot.id).await? {
            return Ok(PreviewAction::Blocked { failure: f.id });
        }
        let outcome = match self.transform_event(event, &batch).await {
            Ok(o) => o,
            Err(p) => return settled(p),
        };
        let command = batch.take().into_iter().next().map(|(_, m)| m.body);
        match (outcome, command) {
            (TransformOutcome::Skipped { reason, detail }, _) => {
                Ok(PreviewAction::Skip { reason: reason.as_str().to_string(), detail })
            }
            (TransformOutcome::Parked { failure_id }, _) => Ok(PreviewAction::Blocked { failure: failure_id }),
            (TransformOutcome::Enqueued { .. }, Some(body)) => {
                let cmd: WriteCommand = serde_json::from_str(&body).map_err(|e| {
                    ferry_domain::PortError::new(ErrorCategory::BadMessage, format!("write command: {e}"))
                })?;
                match self.preview_write(record, &cmd, &batch).await {
                    Ok(a) => Ok(a),
                    Err(p) => settled(p),
                }
            }
            (TransformOutcome::Enqueued { .. }, None) => Ok(PreviewAction::Unchanged { target: None }),
        }
    }

    /// The write's steps 1 and 2 without the write: the target it resolves to, and the
    /// create or the update it would send.
    async fn preview_write(
        &self,
        record: &IntegrationRecord,
        cmd: &WriteCommand,
        batch: &Batch,
    ) -> Result<PreviewAction, Parkable> {
        if cmd.collab_only {
            let target = cmd.target.as_ref().map(|t| t.to_string());
            return Ok(PreviewAction::Unchanged { target });
        }
        let (target_conn, target_scope) = self.side_connector(record, cmd.flow.target()).await?;
        let read_fields: Vec<FieldKey> = cmd.mapped.keys().cloned().collect();
        let ctx = WriteCtx { record, cmd, target_conn, target_scope, read_fields };
        let link = self.batch_link(batch, &cmd.integration, cmd.flow.source(), &cmd.source.id).await?;
        let Some((target, adoption)) = self.resolve_target(&ctx, link.as_ref(), batch).await? else {
            // An unlinked source whose pair was dropped earlier is created again only
            // under `on_target_deleted: recreate`.
            return Ok(match self.dropped_pair(&ctx, batch).await? {
                Some(Next::Done(outcome)) => skipped(outcome),
                Some(Next::Create) | None => create(cmd),
            });
        };
        let (current, plan) = match self.plan_existing(&ctx, &target, adoption, batch).await? {
            Planned::Stale(detail) => return Ok(PreviewAction::Skip { reason: "stale".into(), detail }),
            Planned::Gone(target) => {
                return Ok(match self.target_gone(&ctx, link.as_ref(), &target, batch).await? {
                    Next::Done(outcome) => skipped(outcome),
                    Next::Create => create(&self.create_command(record, cmd, batch).await?),
                })
            }
            Planned::Update { current, plan, .. } => (current, plan),
        };
        if plan.send.is_empty() && plan.flagged.is_empty() {
            return Ok(PreviewAction::Unchanged { target: Some(current.key) });
        }
        let fields = plan
            .send
            .iter()
            .map(|c| FieldDiff { field: c.field.clone(), from: current.field(&c.field).cloned(), to: c.value.clone() })
            .collect();
        let conflicts = plan
            .flagged
            .iter()
            .map(|f| PreviewConflict {
                field: f.field.clone(),
                source_value: f.source_value.clone(),
                target_value: f.target_value.clone(),
                base: f.base.clone(),
            })
            .collect();
        let resolved = plan.resolved.iter().map(|r| (r.field.clone(), r.winner.to_string())).collect();
        Ok(PreviewAction::Update { target: current.key, fields, conflicts, resolved })
    }
}

/// A create of a new target with every value of the command.
fn create(cmd: &WriteCommand) -> PreviewAction {
    let fields = cmd.changes.iter().map(|c| FieldDiff { field: c.field.clone(), from: None, to: c.value.clone() });
    PreviewAction::Create { fields: fields.collect() }
}

/// A write the run would skip (a deleted twin under `on_target_deleted: unlink`).
fn skipped(outcome: WriteOutcome) -> PreviewAction {
    match outcome {
        WriteOutcome::Skipped { reason, detail, .. } => PreviewAction::Skip { reason: reason.as_str().into(), detail },
        other => PreviewAction::Skip { reason: "not_written".into(), detail: format!("{other:?}") },
    }
}

/// A step's error as the preview reports it: a permanent one is the failure the run
/// would park; a transient one (the system did not answer) fails the preview.
fn settled(p: Parkable) -> Result<PreviewAction, EngineError> {
    match p {
        Parkable::Permanent(e, _) => Ok(PreviewAction::Park { category: e.category, message: e.message }),
        Parkable::Transient(e) => Err(e.into()),
        Parkable::Crashed(c) => Err(c.into()),
    }
}
