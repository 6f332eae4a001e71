//! transform → write (after the poll, see [`crate::poll`]), plus failure retry and discard.
//!
//! Every step is safe to repeat: the queue delivers at least once, and each handler
//! is idempotent (dedupe by revision, link table and fingerprints, remote-id search
//! before a create).

use crate::adopt::{unfinished_adoption, AdoptScope, Adoption};
use crate::batch::Batch;
use crate::crash::{CrashPoint, Crashed};
use crate::engine::Engine;
use crate::error::{EngineError, HandleError};
use crate::history::Written;
use chrono::{DateTime, Utc};
use ferry_domain::ports::{Connector, OutMessage, QueueName};
use ferry_domain::{
    remote_link_for, ChangeEvent, Counter, EntityId, EntityRef, EntitySnapshot, ErrorCategory, FailureRecord,
    FieldChange, FieldKey, FieldValue, Fingerprint, Flow, IntegrationId, Link, PortError, Side, WriteCommand,
    MESSAGE_SCHEMA,
};
use ferry_mapping::{
    map_change, needed_target_emails, source_fields, synced_source_values, Decision, MappingInput, Resolution,
    UserDirectory,
};
use serde::Serialize;
use std::collections::BTreeMap;
use tracing::{info, instrument, warn};

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
    /// Not applied: the command's snapshot is older than what the target already got,
    /// or than Ferry's own latest write to the source.
    Skipped {
        source: String,
        reason: String,
        detail: String,
    },
    Parked {
        failure_id: String,
    },
}

impl Engine {
    /// Maps one change event and enqueues the write command (or records why not).
    #[instrument(skip_all)]
    pub async fn transform(&self, body: &str, receive_count: u32) -> Result<TransformOutcome, HandleError> {
        let batch = Batch::default();
        let outcome = self.transform_to(body, receive_count, &batch).await?;
        self.flush(&batch).await?;
        Ok(outcome)
    }

    /// Ends a handler batch ([`Engine::flush_each`]); fails when any command must be
    /// sent again. The change events the commands came from may be acknowledged only
    /// after this succeeded.
    pub async fn flush(&self, batch: &Batch) -> Result<usize, HandleError> {
        let flushed = self.flush_each(batch).await?;
        match flushed.unsent.into_iter().next() {
            Some((_, e)) => Err(HandleError::retry(e)),
            None => Ok(flushed.sent),
        }
    }

    /// Maps one change event; its write command (if any) goes to `batch`, for
    /// [`Engine::flush`] to send with the rest of the batch.
    #[instrument(skip_all)]
    pub async fn transform_to(
        &self,
        body: &str,
        receive_count: u32,
        batch: &Batch,
    ) -> Result<TransformOutcome, HandleError> {
        let event: ChangeEvent = serde_json::from_str(body)
            .map_err(|e| HandleError::BadMessage(format!("change event is not valid JSON: {e}")))?;
        if event.schema != MESSAGE_SCHEMA {
            return Err(HandleError::BadMessage(format!("change event schema {} is not supported", event.schema)));
        }
        let result = self.transform_event(&event, batch).await;
        self.settle(&event, None, result, receive_count, batch).await
    }

    async fn transform_event(&self, event: &ChangeEvent, batch: &Batch) -> Result<TransformOutcome, Parkable> {
        let id = &event.integration;
        let flow = event.flow;
        let record = self.record(id).await.map_err(Parkable::from_engine)?;
        if let Some(parked) = self.park_behind(event, None, batch).await? {
            return Ok(parked);
        }
        let integration = &record.integration;
        let source_side = flow.source();
        let target_side = flow.target();
        let (source_conn, _) = self.side_connector(&record, source_side).await?;
        let (target_conn, _) = self.side_connector(&record, target_side).await?;

        let link = self.batch_link(batch, id, source_side, &event.snapshot.id).await?;
        let target_fp = match &link {
            Some(l) => self.batch_fingerprint(batch, id, target_side, &l.side(target_side).id).await?,
            None => None,
        };
        let source_fp = self.batch_fingerprint(batch, id, source_side, &event.snapshot.id).await?;
        // A snapshot read before Ferry's latest write to this entity is stale: mapping
        // it would write older values back over the newer sync (a revert).
        if let Some(written) = source_fp.as_ref().and_then(|fp| fp.written_updated) {
            if event.snapshot.updated < written {
                batch.count(id, flow, Counter::Skipped);
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
        if let Some(detail) = already_applied(&event.snapshot, target_fp.as_ref()) {
            batch.count(id, flow, Counter::Skipped);
            return Ok(TransformOutcome::Skipped { reason: "stale".into(), detail });
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
            // An operator's decision replays the entity's current state: never an echo.
            source_fingerprint: if event.winner.is_some() { None } else { source_fp.as_ref() },
            target_fingerprint: target_fp.as_ref(),
            linked: link.is_some(),
            matches_filter: event.matches_filter,
        });
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
        match output.decision {
            Decision::Skip { reason, detail } => {
                batch.count(id, flow, Counter::Skipped);
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
                    winner: event.winner,
                };
                let body = serde_json::to_string(&command)
                    .map_err(|e| Parkable::Permanent(PortError::new(ErrorCategory::BadMessage, e.to_string()), None))?;
                let fields = command.changes.len();
                batch.push(OutMessage { group_id: command.group_id(), dedup_id: command.dedup_id(), body });
                Ok(TransformOutcome::Enqueued { create, fields })
            }
        }
    }

    /// Applies one write command to the target system (a batch of one).
    pub async fn write(&self, body: &str, receive_count: u32) -> Result<WriteOutcome, HandleError> {
        let batch = Batch::default();
        let outcome = self.write_in(body, receive_count, &batch).await?;
        self.flush(&batch).await?;
        Ok(outcome)
    }

    /// Applies one write command of a handler batch to the target system.
    #[instrument(skip_all)]
    pub async fn write_in(&self, body: &str, receive_count: u32, batch: &Batch) -> Result<WriteOutcome, HandleError> {
        let command: WriteCommand = serde_json::from_str(body)
            .map_err(|e| HandleError::BadMessage(format!("write command is not valid JSON: {e}")))?;
        if command.schema != MESSAGE_SCHEMA {
            return Err(HandleError::BadMessage(format!("write command schema {} is not supported", command.schema)));
        }
        let event = command_event(&command);
        let result = self.write_command(&command, batch).await;
        self.settle(&event, Some(&command), result, receive_count, batch).await
    }

    async fn write_command(&self, cmd: &WriteCommand, batch: &Batch) -> Result<WriteOutcome, Parkable> {
        let id = &cmd.integration;
        let record = self.record(id).await.map_err(Parkable::from_engine)?;
        let event = command_event(cmd);
        if let Some(TransformOutcome::Parked { failure_id }) = self.park_behind(&event, Some(cmd), batch).await? {
            return Ok(WriteOutcome::Parked { failure_id });
        }
        let integration = &record.integration;
        let source_side = cmd.flow.source();
        let target_side = cmd.flow.target();
        let (target_conn, target_scope) = self.side_connector(&record, target_side).await?;
        let read_fields: Vec<FieldKey> = cmd.mapped.keys().map(|k| FieldKey::new(k.clone())).collect();

        // The link may have appeared since transform (a duplicate event was written
        // first); the target id in the command may be stale in the other direction.
        let link = self.batch_link(batch, id, source_side, &cmd.source.id).await?;
        let existing = match (&link, &cmd.target) {
            (Some(l), _) => Some((l.side(target_side).id.clone(), Adoption::Linked)),
            (None, Some(t)) => Some((t.clone(), Adoption::Named)),
            (None, None) => self.unlinked_target(&record, cmd, target_conn.as_ref(), &target_scope, batch).await?,
        };

        // `from`: the target's revision before the write (`None`: created).
        let (target_ref, created, written, plan, from, adoption) = match existing {
            Some((target_id, adoption)) => {
                let current = target_conn.get(&target_scope, &target_id, &read_fields).await?.ok_or_else(|| {
                    Parkable::Permanent(
                        PortError::new(
                            ErrorCategory::NotFound,
                            format!("linked target entity {target_id} no longer exists"),
                        ),
                        None,
                    )
                })?;
                // Read for this batch, not at transform: a write of the reverse flow may
                // have happened in between (the pair's record is written on the
                // condition that none happens before this step stores it).
                let base = self.batch_fingerprint(batch, id, target_side, &target_id).await?;
                // Linked, but with no fingerprint of the target: the step that linked the
                // pair did not finish. Ferry does not know what the target holds of its
                // own, so the write goes on as the adoption that step was.
                let adoption = match (adoption, &base) {
                    (Adoption::Linked, None) => unfinished_adoption(integration, cmd, &current),
                    (a, _) => a,
                };
                let source_fp = self.batch_fingerprint(batch, id, source_side, &cmd.source.id).await?;
                if let Some(detail) = stale_at_write(&cmd.source, base.as_ref(), source_fp.as_ref()) {
                    batch.count(id, cmd.flow, Counter::Skipped);
                    return Ok(WriteOutcome::Skipped {
                        source: cmd.source.key.clone(),
                        reason: "stale".into(),
                        detail,
                    });
                }
                let target = (target_conn.as_ref(), &target_scope, &current);
                let scope = self.adoption_scope(&record, cmd, adoption, target, &read_fields).await?;
                let plan = plan_update(integration, cmd, scope.as_ref(), &current, base.as_ref());
                let r = if plan.send.is_empty() {
                    entity_ref(&current)
                } else {
                    target_conn.update(&target_scope, &target_id, &plan.send, Some(&current.revision)).await?
                };
                (r, false, plan.send.len(), plan, Some(current.revision), Some(adoption))
            }
            None => {
                let r = self.create_target(batch, cmd, target_conn.as_ref(), &target_scope).await?;
                (r, true, cmd.changes.len(), UpdatePlan::create(), None, None)
            }
        };
        for c in &plan.resolved {
            info!(entity = %cmd.source.key, field = %c.field, winner = %c.winner, "conflict resolved by policy");
        }

        self.crash_point(CrashPoint::WriteAfterTarget)?;
        let now = Utc::now();
        let mut target_ref = target_ref;
        let mut source_ref = entity_ref(&cmd.source);
        let mut source_written = None;
        // Someone else changed the source around Ferry's write-back to it.
        let mut source_foreign = false;
        // Target fields an adoption kept whose values it carried to the source.
        let mut carried_kept: Vec<FieldKey> = Vec::new();
        let mut source_extra = BTreeMap::new();
        // The target as read after the write, when it was (for lossy values and defaults).
        let mut target_read: Option<EntitySnapshot> = None;
        // A create or adoption links the pair, then finishes it (back-links, remote ids,
        // values copied back); one whose link was stored before it stopped finishes now.
        let linking = link.is_none() || matches!(adoption, Some(Adoption::Twin | Adoption::Original));
        if linking {
            let (source_conn, source_scope) = self.side_connector(&record, source_side).await?;
            if link.is_none() {
                let (left, right) = match source_side {
                    Side::Left => (source_ref.clone(), target_ref.clone()),
                    Side::Right => (target_ref.clone(), source_ref.clone()),
                };
                let new_link = Link { integration: id.clone(), left, right, created_at: now };
                self.batch_put_link(batch, &new_link).await?;
                if created {
                    // The pair has no record yet, and what it would be read from is known:
                    // the source's own fingerprint (its create intent) and none for the
                    // new target. Saves reading the pair, the link and both fingerprints.
                    self.batch_new_pair(batch, &new_link, source_side);
                }
                self.crash_point(CrashPoint::WriteAfterLink)?;
            }

            let system_label = |side: Side| integration.endpoint(side).system.to_string();
            if integration.remote.link(target_side) {
                let l = remote_link_for(id, source_side, &source_ref, &system_label(source_side));
                target_conn.upsert_remote_link(&target_scope, &target_ref.id, &l).await?;
            }
            // What the target holds right after the create: it may have filled in its
            // own defaults for fields the source left empty.
            let mut back: Vec<FieldChange> = Vec::new();
            {
                let mut fields = source_fields(integration, cmd.flow.reverse());
                fields.extend(read_fields.iter().cloned());
                if let Some(now_t) = target_conn.get(&target_scope, &target_ref.id, &fields).await? {
                    back = backfill(integration, cmd, &now_t);
                    for c in &back {
                        info!(entity = %cmd.source.key, field = %c.field, "the target filled in a value the source left empty: copied back");
                    }
                    if adoption == Some(Adoption::Original) {
                        let (carried, fields) = self.carry_to_twin(&record, cmd, &now_t, &plan.kept_target).await?;
                        back.extend(carried);
                        carried_kept = fields;
                    }
                    target_read = Some(now_t);
                }
            }
            let mut touched_source = false;
            if let Some(field) = integration.remote.id_field(source_side) {
                let value = FieldValue::Text(target_ref.key.clone());
                if cmd.source.field(field) != Some(&value) {
                    back.push(FieldChange { field: field.clone(), value });
                }
            }
            if !back.is_empty() {
                // One write carries the remote id and the back-filled values.
                source_ref = source_conn.update(&source_scope, &cmd.source.id, &back, None).await?;
                source_extra.extend(back.iter().map(|c| (c.field.to_string(), c.value.clone())));
                touched_source = true;
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
                let w = Written {
                    side: source_side,
                    conn: source_conn.as_ref(),
                    scope: &source_scope,
                    entity: &cmd.source.id,
                    from: Some(&cmd.source.revision),
                    to: &source_ref.revision,
                };
                let watched = source_fields(integration, cmd.flow.reverse());
                source_foreign = self.foreign_in_write(&record, &w, &back, &watched).await?.is_some();
            }
            if let Some(t) = &target_read {
                // Read after every follow-up write to the target (the remote link).
                target_ref = entity_ref(t);
            } else if integration.remote.link(target_side) {
                if let Some(t) = target_conn.get(&target_scope, &target_ref.id, &[]).await? {
                    target_ref = entity_ref(&t);
                }
            }
            // The link keeps the refs of the create: nothing reads their revisions (the
            // fingerprints below hold the revisions after the follow-up writes), and a
            // second link put would cost two reads and a transaction per create.
        }

        let mut target_values = cmd.mapped.clone();
        // A lossy value (rich text through Jira's ADF) reads back in another form than
        // sent: remember the form the target holds, so a later read of it is no change.
        let sent = if created { &cmd.changes } else { &plan.send };
        if target_read.is_none() && !sent.is_empty() && sends_lossy(integration, cmd.flow, sent) {
            target_read = target_conn.get(&target_scope, &target_ref.id, &read_fields).await?;
        }
        // Whether the revision now recorded holds anyone else's change (a person's edit
        // between the requests of a non-atomic write). An atomic update of a linked
        // target returned its own revision, with no follow-up write: nothing to read.
        let wrote = !sent.is_empty() || (linking && integration.remote.link(target_side));
        let foreign = if wrote && !(!linking && target_conn.atomic_updates()) {
            let w = Written {
                side: target_side,
                conn: target_conn.as_ref(),
                scope: &target_scope,
                entity: &target_ref.id,
                from: from.as_deref(),
                to: &target_ref.revision,
            };
            self.foreign_in_write(&record, &w, sent, &read_fields).await?
        } else {
            None
        };
        // Every value sent is among the mapped ones; a read from a later revision (a
        // person's edit in between) is not Ferry's and is not taken, nor is a value
        // someone else changed in the recorded one.
        if let Some(t) = target_read.as_ref().filter(|t| t.revision == target_ref.revision) {
            for (k, v) in target_values.iter_mut() {
                let key = FieldKey::new(k.clone());
                if foreign.as_ref().is_some_and(|f| f.touches(&key)) {
                    continue;
                }
                if let Some(now_v) = t.field(&key) {
                    *v = now_v.clone();
                }
            }
        }
        // Fields the target kept (it won a conflict, or a person must decide) keep their
        // last-synced value as the base of the next three-way comparison.
        for f in plan.kept_target.iter().chain(plan.flagged.iter().map(|c| &c.field)) {
            target_values.remove(f.as_str());
        }
        // An adoption carried the fields it kept to the source: the target's own value is
        // what is in sync.
        if let Some(t) = &target_read {
            for f in &carried_kept {
                target_values.insert(f.to_string(), t.field(f).cloned().unwrap_or(FieldValue::Null));
            }
        }
        // A target a person had changed since Ferry's last write, or changed during this
        // one: the new revision also carries that person's edits, so it must not be
        // taken for a pure echo.
        let echo = if plan.target_was_clean && foreign.is_none() { Some(&target_ref) } else { None };
        let target_update = FpUpdate {
            values: &target_values,
            echo,
            written: Some(&target_ref),
            applied: Some(cmd.source.updated),
            create_started: None,
        };
        let target_fp = self.merged_fingerprint(batch, id, target_side, &target_ref.id, target_update, now).await?;
        // The source's mapped values are now in sync too: record them so the reverse
        // direction sees them as unchanged (no ping-pong).
        let mut source_values = synced_source_values(integration, cmd.flow, &cmd.source);
        for c in &plan.flagged {
            source_values.remove(c.source_field.as_str());
        }
        source_values.extend(source_extra);
        // The link exists now: a create intent of this source entity is fulfilled.
        let source_update = FpUpdate {
            values: &source_values,
            echo: source_written.as_ref().filter(|_| !source_foreign),
            written: source_written.as_ref(),
            applied: None,
            create_started: Some(None),
        };
        let source_fp = self.merged_fingerprint(batch, id, source_side, &cmd.source.id, source_update, now).await?;
        // Both fingerprints in one pair record (one store write). The target's names the
        // revision Ferry just made, so the target's poll drops it as an echo without
        // enqueueing it.
        self.batch_put_pair(batch, target_fp, source_fp).await?;
        if cmd.winner.is_some() {
            self.clear_sibling_conflict(id, cmd.flow, &target_ref.id, batch).await?;
        }
        if !plan.flagged.is_empty() {
            let message = flagged_message(cmd, &target_ref, &plan.flagged);
            let mut parked = cmd.clone();
            parked.changes.retain(|c| plan.flagged.iter().any(|f| f.field == c.field));
            return Err(Parkable::Permanent(
                PortError::new(ErrorCategory::FieldConflict, message),
                Some(Box::new(parked)),
            ));
        }
        batch.count(id, cmd.flow, Counter::Synced);
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

    /// A side's fingerprint with `update` merged in (the caller stores it). `echo` (when
    /// Ferry wrote a clean target) marks the revision a later poll must recognise as
    /// Ferry's own echo; `written` is Ferry's latest write (older snapshots are stale);
    /// `applied` is the `updated` of the peer snapshot just applied (older deliveries
    /// are stale).
    async fn merged_fingerprint(
        &self,
        batch: &Batch,
        id: &IntegrationId,
        side: Side,
        entity: &EntityId,
        update: FpUpdate<'_>,
        now: DateTime<Utc>,
    ) -> Result<Fingerprint, PortError> {
        let FpUpdate { values, echo, written, applied, create_started } = update;
        let mut fp = self.batch_fingerprint(batch, id, side, entity).await?.unwrap_or_else(|| Fingerprint {
            integration: id.clone(),
            side,
            entity: entity.clone(),
            values: BTreeMap::new(),
            written_revision: None,
            written_updated: None,
            updated_at: now,
            applied_source_updated: None,
            create_started: None,
        });
        fp.values.extend(values.iter().map(|(k, v)| (k.clone(), v.fingerprint_form())));
        if let Some(w) = written {
            fp.written_revision = echo.map(|e| e.revision.clone());
            fp.written_updated = Some(w.updated);
        }
        if let Some(a) = applied {
            fp.applied_source_updated = Some(fp.applied_source_updated.map_or(a, |old| old.max(a)));
        }
        if let Some(c) = create_started {
            fp.create_started = c;
        }
        fp.updated_at = now;
        Ok(fp)
    }

    /// Before a create: the entity an earlier, interrupted attempt created, if any. Only a
    /// recorded create intent triggers the search (the common first create costs none).
    /// A search that finds nothing while the intent is younger than the target's search
    /// lag allowance is retried later: the entity may exist but not be searchable yet.
    pub(crate) async fn find_earlier_create(
        &self,
        record: &ferry_domain::IntegrationRecord,
        cmd: &WriteCommand,
        target_conn: &dyn ferry_domain::ports::Connector,
        target_scope: &ferry_domain::Scope,
        batch: &Batch,
    ) -> Result<Option<EntityId>, Parkable> {
        let integration = &record.integration;
        let (source_side, target_side) = (cmd.flow.source(), cmd.flow.target());
        let fp = self.batch_fingerprint(batch, &integration.id, source_side, &cmd.source.id).await?;
        let Some(started) = fp.and_then(|f| f.create_started) else {
            return Ok(None);
        };
        let Some(field) = integration.remote.id_field(target_side) else {
            if cmd.replay.is_some() {
                // An operator looked and replayed: create.
                return Ok(None);
            }
            return Err(Parkable::Permanent(
                PortError::new(
                    ErrorCategory::Conflict,
                    format!(
                        "a create of {}'s twin started at {} and its result was not recorded; without a remote id \
                         field ({}_id_field) Ferry cannot check whether the {} system holds it. Look for it, delete a \
                         duplicate if any, then `ferry failures retry` (creates) or `discard`",
                        cmd.source.key,
                        started.to_rfc3339(),
                        target_side.as_str(),
                        target_side.as_str()
                    ),
                ),
                None,
            ));
        };
        if let Some(found) = target_conn.find_by_field(target_scope, field, &cmd.source.key).await? {
            info!(entity = %cmd.source.key, target = %found.key, "adopting the twin an interrupted create made");
            return Ok(Some(found.id));
        }
        let waited = (Utc::now() - started).to_std().unwrap_or_default();
        if cmd.replay.is_none() && waited < self.settings.search_settle {
            let remaining = self.settings.search_settle - waited;
            return Err(Parkable::Transient(
                PortError::new(
                    ErrorCategory::Conflict,
                    format!(
                        "a create of {}'s twin started at {} is not found by search yet; looking again in {} s",
                        cmd.source.key,
                        started.to_rfc3339(),
                        remaining.as_secs()
                    ),
                )
                .with_retry_after(Some(remaining)),
            ));
        }
        Ok(None)
    }

    /// Creates the target entity, after recording the intent: a crash after the create
    /// leaves a trace that makes the retry look for the entity instead of creating a
    /// second one. A create the target refused created nothing: the intent an earlier
    /// attempt left (if any) is put back, so a retry creates instead of looking for a
    /// twin that cannot exist (without a remote-id field it would park).
    async fn create_target(
        &self,
        batch: &Batch,
        cmd: &WriteCommand,
        conn: &dyn Connector,
        scope: &ferry_domain::Scope,
    ) -> Result<EntityRef, Parkable> {
        let (id, side) = (&cmd.integration, cmd.flow.source());
        let none = BTreeMap::new();
        let intent =
            |at| FpUpdate { values: &none, echo: None, written: None, applied: None, create_started: Some(at) };
        let before = self.batch_fingerprint(batch, id, side, &cmd.source.id).await?.and_then(|f| f.create_started);
        let fp = self.merged_fingerprint(batch, id, side, &cmd.source.id, intent(Some(Utc::now())), Utc::now()).await?;
        self.batch_put_fingerprint(batch, &fp).await?;
        let err = match conn.create(scope, &cmd.changes).await {
            Ok(r) => return Ok(r),
            Err(e) => e,
        };
        if err.nothing_applied {
            let restored = async {
                let fp = self.merged_fingerprint(batch, id, side, &cmd.source.id, intent(before), Utc::now()).await?;
                self.batch_put_fingerprint(batch, &fp).await
            };
            if let Err(e) = restored.await {
                // The intent stays: the retry looks for a twin first, as after a crash.
                warn!(entity = %cmd.source.key, "the create was refused, but its intent could not be cleared: {e}");
            }
        }
        Err(err.into())
    }

    /// If the entity already has a parked failure, this newer event replaces the
    /// parked input (snapshots are full state) and waits behind it.
    async fn park_behind(
        &self,
        event: &ChangeEvent,
        command: Option<&WriteCommand>,
        batch: &Batch,
    ) -> Result<Option<TransformOutcome>, Parkable> {
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
        Ok(Some(TransformOutcome::Parked { failure_id: failure.id }))
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
        warn!(entity = %event.snapshot.key, category = %error.category, failure = %failure.id, "parked: {}", error.message);
        Ok(T::from(Parked(failure.id)))
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
    async fn clear_sibling_conflict(
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

fn entity_ref(s: &EntitySnapshot) -> EntityRef {
    EntityRef {
        id: s.id.clone(),
        key: s.key.clone(),
        url: s.url.clone(),
        revision: s.revision.clone(),
        updated: s.updated,
    }
}

/// Changes to merge into one side's fingerprint (see [`Engine::merged_fingerprint`]).
struct FpUpdate<'a> {
    values: &'a BTreeMap<String, FieldValue>,
    echo: Option<&'a EntityRef>,
    written: Option<&'a EntityRef>,
    applied: Option<DateTime<Utc>>,
    /// `Some(x)`: set the create intent to `x`.
    create_started: Option<Option<DateTime<Utc>>>,
}

/// What an update sends, and what the three-way comparison decided.
struct UpdatePlan {
    send: Vec<FieldChange>,
    /// Target fields whose (changed) target value won over the source's.
    kept_target: Vec<FieldKey>,
    flagged: Vec<FlaggedField>,
    resolved: Vec<ResolvedField>,
    /// The target was at Ferry's own last-written revision (or is new): nobody else
    /// changed it since.
    target_was_clean: bool,
}

impl UpdatePlan {
    fn create() -> Self {
        UpdatePlan {
            send: Vec::new(),
            kept_target: Vec::new(),
            flagged: Vec::new(),
            resolved: Vec::new(),
            target_was_clean: true,
        }
    }
}

struct FlaggedField {
    field: FieldKey,
    source_field: FieldKey,
    source_value: FieldValue,
    target_value: FieldValue,
    base: FieldValue,
}

struct ResolvedField {
    field: FieldKey,
    winner: &'static str,
}

/// The changes the target still needs, field by field against its current values and
/// the last-synced base: a field the target holds already is skipped; one the target
/// changed since the last sync (current differs from the base) while the source changed
/// it too is a conflict, settled by the field's policy. An adoption (no link yet)
/// considers the mapped values its scope allows, without a base; the others the target
/// keeps.
fn plan_update(
    integration: &ferry_domain::Integration,
    cmd: &WriteCommand,
    adopting: Option<&AdoptScope>,
    current: &EntitySnapshot,
    base: Option<&Fingerprint>,
) -> UpdatePlan {
    let wanted: Vec<FieldChange> = if adopting.is_some() {
        cmd.mapped.iter().map(|(k, v)| FieldChange { field: FieldKey::new(k.clone()), value: v.clone() }).collect()
    } else {
        cmd.changes.clone()
    };
    let mut plan = UpdatePlan {
        send: Vec::new(),
        kept_target: Vec::new(),
        flagged: Vec::new(),
        resolved: Vec::new(),
        target_was_clean: base.and_then(|b| b.written_revision.as_deref()) == Some(current.revision.as_str()),
    };
    for c in wanted {
        // A field the target did not return (mapping rule 12) has no known value to
        // compare or conflict with: it is written.
        let Some(now) = current.field(&c.field) else {
            plan.send.push(c);
            continue;
        };
        if ferry_mapping::same_value(now, &c.value) {
            continue;
        }
        // A field outside the adoption's scope that says the same on both sides (rich
        // text in the other system's rendering) is written all the same: then the target
        // holds exactly the command's value, and a redelivery of the command finds
        // nothing to write.
        if adopting.is_some_and(|scope| !scope.may_write(&c.field, now)) && !ferry_mapping::same_content(now, &c.value)
        {
            plan.kept_target.push(c.field);
            continue;
        }
        let last_synced = if adopting.is_some() { None } else { base.and_then(|b| b.values.get(c.field.as_str())) };
        let target_changed = last_synced.is_some_and(|b| !ferry_mapping::same_value(now, b));
        let policy = target_changed.then(|| ferry_mapping::conflict_policy(integration, cmd.flow, &c.field)).flatten();
        let Some((policy, source_field)) = policy else {
            plan.send.push(c);
            continue;
        };
        match ferry_mapping::resolve(policy, cmd.winner, cmd.flow, cmd.source.updated, current.updated) {
            Resolution::SourceWins => {
                plan.resolved.push(ResolvedField { field: c.field.clone(), winner: cmd.flow.source().as_str() });
                plan.send.push(c);
            }
            Resolution::TargetWins => {
                plan.resolved.push(ResolvedField { field: c.field.clone(), winner: cmd.flow.target().as_str() });
                plan.kept_target.push(c.field);
            }
            Resolution::Flag => plan.flagged.push(FlaggedField {
                source_field: source_field.clone(),
                source_value: cmd.source.field(source_field).cloned().unwrap_or(FieldValue::Null),
                target_value: now.clone(),
                base: last_synced.cloned().unwrap_or(FieldValue::Null),
                field: c.field,
            }),
        }
    }
    plan
}

/// Whether the write sent a value whose target form may differ from the sent one.
fn sends_lossy(integration: &ferry_domain::Integration, flow: Flow, sent: &[FieldChange]) -> bool {
    sent.iter()
        .any(|c| ferry_mapping::mapping_kind(integration, flow, &c.field) == Some(ferry_domain::MappingKind::RichText))
}

/// Source fields the source left empty and the just-created target filled in (its own
/// defaults), mapped back to the source's terms. Only both-way mappings apply; a value
/// the reverse mapping cannot map is left alone.
fn backfill(integration: &ferry_domain::Integration, cmd: &WriteCommand, created: &EntitySnapshot) -> Vec<FieldChange> {
    let source_side = cmd.flow.source();
    let base = Fingerprint {
        integration: integration.id.clone(),
        side: source_side,
        entity: cmd.source.id.clone(),
        values: synced_source_values(integration, cmd.flow, &cmd.source),
        written_revision: None,
        written_updated: None,
        applied_source_updated: None,
        create_started: None,
        updated_at: cmd.source.updated,
    };
    let users = UserDirectory::new();
    let out = map_change(&MappingInput {
        integration,
        flow: cmd.flow.reverse(),
        source: created,
        users: &users,
        source_integration_user: None,
        source_fingerprint: None,
        target_fingerprint: Some(&base),
        linked: true,
        matches_filter: true,
    });
    let Decision::Write { changes, .. } = out.decision else {
        return Vec::new();
    };
    let id_field = integration.remote.id_field(source_side);
    let read = source_fields(integration, cmd.flow);
    changes
        .into_iter()
        .filter(|c| Some(&c.field) != id_field && !c.value.is_null())
        // Empty in the source, or never read by this flow; a field that was read and
        // not returned (mapping rule 12) is not known to be empty.
        .filter(|c| match cmd.source.field(&c.field) {
            Some(v) => v.is_null(),
            None => !read.contains(&c.field),
        })
        .collect()
}

/// Why a write command's snapshot must not be applied, if it must not.
fn stale_at_write(
    source: &EntitySnapshot,
    target_fp: Option<&Fingerprint>,
    source_fp: Option<&Fingerprint>,
) -> Option<String> {
    if let Some(detail) = already_applied(source, target_fp) {
        return Some(detail);
    }
    let written = source_fp.and_then(|f| f.written_updated)?;
    (source.updated < written).then(|| {
        format!(
            "{} was read at {}, before Ferry's write to it at {}",
            source.key,
            source.updated.to_rfc3339(),
            written.to_rfc3339()
        )
    })
}

/// A snapshot older than the newest one already applied to the target (a reordered or
/// duplicated delivery) must not write its older values back.
fn already_applied(source: &EntitySnapshot, target_fp: Option<&Fingerprint>) -> Option<String> {
    let applied = target_fp.and_then(|f| f.applied_source_updated)?;
    (source.updated < applied).then(|| {
        format!(
            "{} revision {} ({}) is older than the change already applied ({})",
            source.key,
            source.revision,
            source.updated.to_rfc3339(),
            applied.to_rfc3339()
        )
    })
}

/// The cause of a flagged-conflict failure record: each field with both values and the base.
fn flagged_message(cmd: &WriteCommand, target: &EntityRef, flagged: &[FlaggedField]) -> String {
    let (src, tgt) = (cmd.flow.source().as_str(), cmd.flow.target().as_str());
    let fields: Vec<String> = flagged
        .iter()
        .map(|f| {
            format!(
                "{} / {}: {src} {} has {}, {tgt} {} has {}, last synced {}",
                f.source_field,
                f.field,
                cmd.source.key,
                shown(&f.source_value),
                target.key,
                shown(&f.target_value),
                shown(&f.base)
            )
        })
        .collect();
    format!(
        "changed on both sides since the last sync (conflict policy flag): {}; the other fields were synced. \
         Decide with `ferry failures retry <id> --winner left|right`",
        fields.join("; ")
    )
}

/// A value for a message, cut to a readable length.
fn shown(v: &FieldValue) -> String {
    if v.fingerprint_digest().is_some() {
        return "(a long text: Ferry keeps only its digest)".to_string();
    }
    let s = serde_json::to_string(v).unwrap_or_default();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_domain::EntityId;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + secs, 0).expect("in range")
    }

    /// Summary, priority and a rich-text description, both ways; remote ids.
    fn integration() -> ferry_domain::Integration {
        use ferry_domain::{Direction, Endpoint, FieldMapping, MappingKind, RemoteRefs, SystemId};
        let m = |l: &str, r: &str, kind| FieldMapping {
            left: Some(FieldKey::new(l)),
            right: Some(FieldKey::new(r)),
            direction: Direction::Both,
            kind,
            values: None,
            default_left: None,
            default_right: None,
            constant: None,
            unmatched: Default::default(),
            conflict: Default::default(),
        };
        let ep = |s: &str| Endpoint {
            system: SystemId::parse(s).expect("id"),
            project: "P".into(),
            entity_type: "Bug".into(),
        };
        ferry_domain::Integration {
            id: IntegrationId::parse("i").expect("id"),
            left: ep("jira"),
            right: ep("ado"),
            poll_interval_secs: 60,
            overlap_secs: 120,
            start_time: None,
            filter_left_to_right: None,
            filter_right_to_left: None,
            filter_exit: Default::default(),
            remote: RemoteRefs {
                left_id_field: Some(FieldKey::new("customfield_10050")),
                right_id_field: Some(FieldKey::new("Custom.JiraKey")),
                ..Default::default()
            },
            fields: vec![
                m("summary", "System.Title", MappingKind::Value),
                m("priority", "Priority", MappingKind::Value),
                m("description", "System.Description", MappingKind::RichText),
            ],
            users: Default::default(),
            max_attempts: 5,
            collaboration: Default::default(),
        }
    }

    fn snapshot(id: &str, fields: &[(&str, FieldValue)]) -> EntitySnapshot {
        EntitySnapshot {
            id: EntityId::new(id),
            key: id.into(),
            revision: "1".into(),
            updated: at(0),
            changed_by: None,
            url: String::new(),
            fields: fields.iter().map(|(k, v)| (FieldKey::new(*k), v.clone())).collect(),
        }
    }

    #[test]
    fn an_adoption_writes_what_its_scope_allows_and_the_target_keeps_the_rest() {
        let text = |s: &str| FieldValue::Text(s.into());
        let rich = |s: &str| FieldValue::RichText(s.into());
        // Right to left: the twin (right) as mapped onto the original (left).
        let mapped: BTreeMap<String, FieldValue> = [
            ("summary", text("Title at the create")),
            ("priority", text("High")),
            ("description", rich("<p>Steps</p><ul><li>Chrome</li></ul>")),
            ("customfield_10050", text("7")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let cmd = WriteCommand {
            schema: MESSAGE_SCHEMA,
            integration: IntegrationId::parse("i").expect("id"),
            flow: Flow::RightToLeft,
            source: snapshot("7", &[]),
            target: None,
            changes: Vec::new(),
            mapped,
            replay: None,
            winner: None,
        };
        // The original: retitled since, another priority, the description as Jira renders it.
        let current = snapshot(
            "APP-1",
            &[
                ("summary", text("Retitled since")),
                ("priority", text("Low")),
                ("description", rich("<p>Steps</p><ul><li><p>Chrome</p></li></ul>")),
            ],
        );
        let i = integration();
        let fields = |v: &[FieldChange]| v.iter().map(|c| c.field.to_string()).collect::<Vec<_>>();
        let keys = |v: &[FieldKey]| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();

        // People changed the twin's priority: it goes, the empty remote id is filled,
        // the rest stays as the original holds it.
        let only = AdoptScope::Only([FieldKey::new("priority")].into_iter().collect());
        let plan = plan_update(&i, &cmd, Some(&only), &current, None);
        assert_eq!(
            fields(&plan.send),
            ["customfield_10050", "description", "priority"],
            "the description says the same (in the other system's rendering): written, so the target holds the command's value"
        );
        assert_eq!(keys(&plan.kept_target), ["summary"], "a real difference: carried the other way");
        assert!(!plan.target_was_clean);

        // People changed the target's summary (a twin Ferry made): kept; the rest goes.
        let theirs = crate::foreign::Foreign {
            reason: String::new(),
            fields: [FieldKey::new("summary")].into_iter().collect(),
            all: false,
        };
        let plan = plan_update(&i, &cmd, Some(&AdoptScope::Except(theirs)), &current, None);
        assert_eq!(fields(&plan.send), ["customfield_10050", "description", "priority"]);
        assert_eq!(keys(&plan.kept_target), ["summary"]);

        let plan = plan_update(&i, &cmd, Some(&AdoptScope::All), &current, None);
        assert_eq!(fields(&plan.send), ["customfield_10050", "description", "priority", "summary"]);
    }
}
