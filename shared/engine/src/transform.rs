//! The transform use case: one change event → the mapping → one write command (or the
//! reason there is none). The command goes to the handler batch, for
//! [`Engine::flush`](crate::Engine::flush) to send with the rest of the batch.

use crate::batch::Batch;
use crate::decode::decode;
use crate::engine::Engine;
use crate::error::HandleError;
use crate::failures::Parkable;
use crate::outcome::{Skip, TransformOutcome};
use crate::stale::stale_snapshot;
use ferry_domain::ports::{Connector, OutMessage};
use ferry_domain::{
    ChangeEvent, Counter, EntityId, ErrorCategory, Fingerprint, IntegrationRecord, Link, PortError, WriteCommand,
    MESSAGE_SCHEMA,
};
use ferry_mapping::{
    map_change, needed_target_emails, Decision, MappingInput, MappingOutput, SkipReason, UserDirectory,
};
use tracing::{info, instrument, warn};

/// The pair's state a change event is mapped against.
struct PairState {
    link: Option<Link>,
    source_fp: Option<Fingerprint>,
    target_fp: Option<Fingerprint>,
    /// The source's pair was just dropped, its twin deleted: the source is a person's
    /// entity whoever made its latest revision, never the echo of an interrupted create.
    dropped: bool,
}

impl Engine {
    /// Maps one change event (a message body of the changes queue); its write command,
    /// if any, goes to `batch`, for [`Engine::flush`] to send with the rest of the batch.
    #[instrument(skip_all)]
    pub async fn transform_change(
        &self,
        body: &str,
        receive_count: u32,
        batch: &Batch,
    ) -> Result<TransformOutcome, HandleError> {
        let event: ChangeEvent = decode(body)?;
        let result = self.transform_event(&event, batch).await;
        let outcome = self.settle(&event, None, result, receive_count, batch).await?;
        if let Some(step) = crate::activity::transform_step(&event, &outcome) {
            batch.add_step(step);
        }
        Ok(outcome)
    }

    pub(crate) async fn transform_event(
        &self,
        event: &ChangeEvent,
        batch: &Batch,
    ) -> Result<TransformOutcome, Parkable> {
        let (id, flow) = (&event.integration, event.flow);
        let record = self.record(id).await.map_err(Parkable::from_engine)?;
        if let Some(parked) = self.park_behind(event, None, batch).await? {
            return Ok(parked.into());
        }
        let (source_conn, _) = self.side_connector(&record, flow.source()).await?;
        let (target_conn, _) = self.side_connector(&record, flow.target()).await?;
        let pair = self.pair_state(event, batch).await?;
        // A snapshot read before Ferry's latest write to this entity, or older than one
        // its twin already got: mapping it would write older values back (a revert).
        if let Some(detail) = stale_snapshot(&event.snapshot, pair.source_fp.as_ref(), pair.target_fp.as_ref()) {
            batch.count(id, flow, Counter::Skipped);
            // Its fields are stale, not the conversation: comments, files and relations
            // are read as they are now by the write step, and a change among them (an
            // Azure DevOps comment edit writes no revision of its own) would otherwise wait
            // for the entity's next change by a person.
            if let Some(l) = pair.link.as_ref().filter(|_| record.integration.collaboration.any(flow)) {
                enqueue_command(batch, &collab_command(event, Some(l.side(flow.target()).id.clone())))?;
            }
            return Ok(TransformOutcome::Skipped { reason: Skip::Stale, detail });
        }
        let output = self.map_event(&record, event, &pair, source_conn.as_ref(), target_conn.as_ref()).await?;
        self.report_mapping(&record, event, &output);
        match output.decision {
            Decision::Skip { reason: SkipReason::Unchanged, .. }
                if pair.link.is_some() && record.integration.collaboration.any(flow) =>
            {
                // No field changed, but a person did change the entity (not Ferry: that
                // is an echo): a comment, an attachment or a relation, which the write
                // step syncs.
                let command = collab_command(event, pair.link.as_ref().map(|l| l.side(flow.target()).id.clone()));
                enqueue_command(batch, &command)?;
                Ok(TransformOutcome::Enqueued { create: false, fields: 0 })
            }
            Decision::Skip { reason, detail } => {
                batch.count(id, flow, Counter::Skipped);
                Ok(TransformOutcome::Skipped { reason: reason.into(), detail })
            }
            Decision::Fail { category, message } => Err(Parkable::Permanent(PortError::new(category, message), None)),
            Decision::Write { create, changes, mapped } => {
                let command = WriteCommand {
                    schema: MESSAGE_SCHEMA,
                    integration: id.clone(),
                    flow,
                    source: event.snapshot.clone(),
                    target: pair.link.map(|l| l.side(flow.target()).id.clone()),
                    changes,
                    mapped,
                    replay: event.replay.clone(),
                    winner: event.winner,
                    collab_only: false,
                };
                let fields = command.changes.len();
                enqueue_command(batch, &command)?;
                Ok(TransformOutcome::Enqueued { create, fields })
            }
        }
    }

    /// A create command for the source of `cmd`, mapped as an unlinked entity (every
    /// mapped value, the remote id): what a write sends when it creates a new twin for
    /// one found deleted ([`crate::target_deleted`]); `cmd` itself may carry only the
    /// fields that changed.
    pub(crate) async fn create_command(
        &self,
        record: &IntegrationRecord,
        cmd: &WriteCommand,
        batch: &Batch,
    ) -> Result<WriteCommand, Parkable> {
        let (id, flow) = (&cmd.integration, cmd.flow);
        let event = crate::failures::command_event(cmd);
        let (source_conn, _) = self.side_connector(record, flow.source()).await?;
        let (target_conn, _) = self.side_connector(record, flow.target()).await?;
        let source_fp = self.batch_fingerprint(batch, id, flow.source(), &cmd.source.id).await?;
        let pair = PairState { link: None, source_fp, target_fp: None, dropped: true };
        let output = self.map_event(record, &event, &pair, source_conn.as_ref(), target_conn.as_ref()).await?;
        match output.decision {
            Decision::Write { changes, mapped, .. } => {
                Ok(WriteCommand { target: None, changes, mapped, collab_only: false, ..cmd.clone() })
            }
            Decision::Fail { category, message } => Err(Parkable::Permanent(PortError::new(category, message), None)),
            Decision::Skip { detail, .. } => Err(Parkable::Permanent(
                PortError::new(ErrorCategory::InvalidRequest, format!("nothing to create a new twin from: {detail}")),
                None,
            )),
        }
    }

    /// The event's link and both fingerprints, as this batch reads them.
    async fn pair_state(&self, event: &ChangeEvent, batch: &Batch) -> Result<PairState, PortError> {
        let (id, source_side, target_side) = (&event.integration, event.flow.source(), event.flow.target());
        let link = self.batch_link(batch, id, source_side, &event.snapshot.id).await?;
        let target_fp = match &link {
            Some(l) => self.batch_fingerprint(batch, id, target_side, &l.side(target_side).id).await?,
            None => None,
        };
        let source_fp = self.batch_fingerprint(batch, id, source_side, &event.snapshot.id).await?;
        Ok(PairState { link, source_fp, target_fp, dropped: false })
    }

    /// The mapping of the event's snapshot, with the target users it names looked up.
    async fn map_event(
        &self,
        record: &IntegrationRecord,
        event: &ChangeEvent,
        pair: &PairState,
        source_conn: &dyn Connector,
        target_conn: &dyn Connector,
    ) -> Result<MappingOutput, PortError> {
        let (integration, flow) = (&record.integration, event.flow);
        let source_user = self.integration_user(&integration.endpoint(flow.source()).system, source_conn).await?;
        let mut users = UserDirectory::new();
        let target_system = &integration.endpoint(flow.target()).system;
        for email in needed_target_emails(integration, flow, &event.snapshot) {
            if let Some(u) = self.user_by_email(target_system, target_conn, &email).await? {
                users.insert(&email, u);
            }
        }
        Ok(map_change(&MappingInput {
            integration,
            flow,
            source: &event.snapshot,
            users: &users,
            source_integration_user: (!pair.dropped).then_some(&source_user),
            // An operator's decision replays the entity's current state: never an echo.
            source_fingerprint: if event.winner.is_some() { None } else { pair.source_fp.as_ref() },
            target_fingerprint: pair.target_fp.as_ref(),
            linked: pair.link.is_some(),
            matches_filter: event.matches_filter,
        }))
    }

    /// Logs the mapping's notes, and each mapped field the source did not return, once
    /// per integration.
    fn report_mapping(&self, record: &IntegrationRecord, event: &ChangeEvent, output: &MappingOutput) {
        let (id, source_side) = (&record.integration.id, event.flow.source());
        for note in &output.notes {
            info!(entity = %event.snapshot.key, "{note}");
        }
        for field in &output.missing {
            if self.missing_fields.first_report(id, source_side, field) {
                warn!(
                    integration = %id, side = source_side.as_str(), %field, entity = %event.snapshot.key,
                    "the {} system did not return the mapped field {field} (permissions, the field's context or \
                     the entity type changed?): the field is left as it is on the other side and the rest syncs; \
                     reported once per integration",
                    source_side.as_str()
                );
            }
        }
    }
}

/// Puts a write command in the batch's outbox.
/// A write command that syncs only the pair's comments, attachments and relations.
fn collab_command(event: &ChangeEvent, target: Option<EntityId>) -> WriteCommand {
    WriteCommand {
        schema: MESSAGE_SCHEMA,
        integration: event.integration.clone(),
        flow: event.flow,
        source: event.snapshot.clone(),
        target,
        changes: Vec::new(),
        mapped: Default::default(),
        replay: None,
        winner: None,
        collab_only: true,
    }
}

fn enqueue_command(batch: &Batch, command: &WriteCommand) -> Result<(), Parkable> {
    let body = serde_json::to_string(command)
        .map_err(|e| Parkable::Permanent(PortError::new(ErrorCategory::BadMessage, e.to_string()), None))?;
    batch.push(OutMessage { group_id: command.group_id(), dedup_id: command.dedup_id(), body });
    Ok(())
}
