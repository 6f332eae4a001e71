//! The write use case: one write command → the target system. Its steps, in order:
//! 1. resolve the target: the linked entity, the one the command names, or for an
//!    unlinked source the twin an earlier create made or the original that made the
//!    source ([`crate::adopt`]); none means create;
//! 2. create it ([`crate::create`]) or update it with what the three-way comparison
//!    leaves to send ([`crate::update_plan`]);
//! 3. link the new pair: the link, back-links, remote ids, values copied back
//!    ([`crate::link`]);
//! 4. record both sides' fingerprints in the pair's record ([`crate::fingerprints`]);
//! 5. sync the pair's comments, attachments and relations ([`crate::collab`]); a pair
//!    just linked also completes the relations that waited for it.
//!
//! Every step is safe to repeat: the queue delivers at least once, and a redelivery
//! finds the link, the fingerprints or the twin a crashed attempt left.

use crate::adopt::{unfinished_adoption, Adoption};
use crate::batch::Batch;
use crate::collab::sync::PairInFlow;
use crate::crash::CrashPoint;
use crate::decode::decode;
use crate::engine::Engine;
use crate::error::HandleError;
use crate::failures::{command_event, Parkable};
use crate::last_change::FieldTimes;
use crate::outcome::{Skip, WriteOutcome};
use crate::stale::stale_snapshot;
use crate::target_deleted::Next;
use crate::update_plan::{flagged_message, plan_update, UpdatePlan};
use chrono::Utc;
use ferry_domain::ports::Connector;
use ferry_domain::{
    Counter, EntityId, EntityRef, EntitySnapshot, ErrorCategory, FieldChange, FieldKey, IntegrationRecord, Link,
    PortError, Scope, Updated, WriteCommand,
};
use std::sync::Arc;
use tracing::{info, instrument};

/// What the steps of one write command share.
pub(crate) struct WriteCtx<'a> {
    pub record: &'a IntegrationRecord,
    pub cmd: &'a WriteCommand,
    pub target_conn: Arc<dyn Connector>,
    pub target_scope: Scope,
    /// The target fields the command maps: read before an update, and after the write.
    pub read_fields: Vec<FieldKey>,
}

/// What the create or update of the target did.
pub(crate) struct TargetWrite {
    /// The target as written (its revision after the write).
    pub target: EntityRef,
    pub created: bool,
    pub plan: UpdatePlan,
    /// The target's revision before the write (`None`: created).
    pub from: Option<String>,
    /// How an update reached its target (`None`: created).
    pub adoption: Option<Adoption>,
    /// What the update's own answer held of the target as written (`None`: created, or
    /// nothing sent); see [`TargetWrite::answer`].
    pub answer: Option<Updated>,
}

impl TargetWrite {
    /// The update's answer while `target` is still the revision it answered for (a later
    /// write of the same step, e.g. the remote id, makes it out of date): what it holds of
    /// the target as written need not be read again.
    pub(crate) fn answer(&self) -> Option<&Updated> {
        self.answer.as_ref().filter(|a| a.target.revision == self.target.revision)
    }

    /// The changes sent to the target.
    pub(crate) fn sent<'a>(&'a self, cmd: &'a WriteCommand) -> &'a [FieldChange] {
        if self.created {
            &cmd.changes
        } else {
            &self.plan.send
        }
    }
}

/// What an update of an existing target would do ([`Engine::plan_existing`]).
pub(crate) enum Planned {
    /// Nothing: the command's snapshot is stale.
    Stale(String),
    /// Nothing: the target no longer exists ([`crate::target_deleted`]).
    Gone(EntityId),
    Update {
        current: Box<EntitySnapshot>,
        plan: UpdatePlan,
        adoption: Adoption,
        /// `current` was read at the start of the batch ([`crate::batch`]), not right
        /// before this write.
        read_ahead: bool,
    },
}

/// An update's result: written, not applied because the command's snapshot is stale, or
/// not applied because the target no longer exists ([`crate::target_deleted`]).
enum Update {
    Written(Box<TargetWrite>),
    Stale(String),
    Gone(EntityId),
}

impl Engine {
    /// Applies one write command (a message body of the writes queue) to the target
    /// system, as part of a handler batch.
    #[instrument(skip_all)]
    pub async fn write_command(
        &self,
        body: &str,
        receive_count: u32,
        batch: &Batch,
    ) -> Result<WriteOutcome, HandleError> {
        let command: WriteCommand = decode(body)?;
        let event = command_event(&command);
        let result = self.apply_command(&command, receive_count > 1, batch).await;
        let outcome = self.settle(&event, Some(&command), result, receive_count, batch).await?;
        if let Some(step) = crate::activity::write_step(&event, &outcome) {
            batch.add_step(step);
        }
        Ok(outcome)
    }

    /// The steps of a write (see the module docs). `redelivered`: an earlier attempt may
    /// have linked the pair and stopped before completing the relations that waited for it.
    async fn apply_command(
        &self,
        cmd: &WriteCommand,
        redelivered: bool,
        batch: &Batch,
    ) -> Result<WriteOutcome, Parkable> {
        let id = &cmd.integration;
        let record = self.record(id).await.map_err(Parkable::from_engine)?;
        if let Some(parked) = self.park_behind(&command_event(cmd), Some(cmd), batch).await? {
            return Ok(parked.into());
        }
        if cmd.collab_only {
            return self.collab_only(&record, cmd, batch).await;
        }
        let (target_conn, target_scope) = self.side_connector(&record, cmd.flow.target()).await?;
        let read_fields: Vec<FieldKey> = cmd.mapped.keys().cloned().collect();
        // The link may have appeared since transform (a duplicate event was written
        // first); the target id in the command may be stale in the other direction.
        let link = self.batch_link(batch, id, cmd.flow.source(), &cmd.source.id).await?;
        // Rich text in the target's terms (its people, the copies of the images), before
        // any comparison with the target's values ([`crate::collab::rich_text`]).
        let markup = self.target_markup(&record, cmd).await?;
        let for_target = match &markup {
            Some(m) => {
                let peer = link.as_ref().map(|l| &l.side(cmd.flow.target()).id);
                Some(m.command(cmd, &self.image_copies_of(&record, cmd, peer).await?))
            }
            None => None,
        };
        let source_cmd = cmd;
        let cmd = for_target.as_ref().unwrap_or(cmd);
        let ctx = WriteCtx { record: &record, cmd, target_conn, target_scope, read_fields };

        let update = match self.resolve_target(&ctx, link.as_ref(), batch).await? {
            Some((target, adoption)) => self.update_target(&ctx, target, adoption, batch).await?,
            None => match self.dropped_pair(&ctx, batch).await? {
                Some(Next::Done(outcome)) => return Ok(outcome),
                Some(Next::Create) | None => Update::Written(Box::new(self.create_in_target(&ctx, batch).await?)),
            },
        };
        let mut written = match update {
            Update::Written(w) => *w,
            Update::Stale(detail) => {
                // The fields are stale; the conversation is read as it is now (see the
                // transform's stale rule).
                if let Some(l) = &link {
                    let target = &l.side(cmd.flow.target()).id;
                    let pair = PairInFlow { record: &record, flow: cmd.flow, source: &cmd.source.id, target };
                    self.sync_collaboration(pair).await?;
                }
                batch.count(id, cmd.flow, Counter::Skipped);
                let source = cmd.source.key.clone();
                return Ok(WriteOutcome::Skipped { source, reason: Skip::Stale, detail });
            }
            Update::Gone(target) => match self.target_gone(&ctx, link.as_ref(), &target, batch).await? {
                Next::Done(outcome) => return Ok(outcome),
                // The pair is dropped: the source is written as an unlinked one, with every
                // mapped value, through the create intent.
                Next::Create => {
                    let fresh = self.create_command(&record, source_cmd, batch).await?;
                    return Box::pin(self.apply_command(&fresh, false, batch)).await;
                }
            },
        };
        for c in &written.plan.resolved {
            info!(entity = %cmd.source.key, field = %c.field, winner = %c.winner, "conflict resolved by policy");
        }
        self.crash_point(CrashPoint::WriteAfterTarget)?;
        let now = Utc::now();
        // A create or adoption links the pair, then finishes it (back-links, remote ids,
        // values copied back); one whose link was stored before it stopped finishes now.
        // A pair dropped because its target was deleted ([`crate::target_deleted`]) is
        // linked again, to the new twin.
        let store_link = self.batch_link(batch, id, cmd.flow.source(), &cmd.source.id).await?.is_none();
        let linking = store_link || matches!(written.adoption, Some(Adoption::Twin | Adoption::Original));
        let linked = if linking {
            self.link_pair(&ctx, &mut written, store_link, now, batch).await?
        } else {
            Default::default()
        };
        self.record_fingerprints(&ctx, &written, &linked, linking, now, batch).await?;
        // Step 5: the conversation and structure around the pair.
        let pair = PairInFlow { record: &record, flow: cmd.flow, source: &cmd.source.id, target: &written.target.id };
        self.sync_collaboration(pair).await?;
        if let Some(m) = &markup {
            self.complete_rich_text(&ctx, source_cmd, m, &written, batch).await?;
        }
        if linking || redelivered {
            self.resolve_pending(&record, cmd.flow.source(), &cmd.source.id).await?;
            self.resolve_pending(&record, cmd.flow.target(), &written.target.id).await?;
        }
        if cmd.winner.is_some() {
            self.clear_sibling_conflict(id, cmd.flow, &written.target.id, batch).await?;
        }
        park_flagged(source_cmd, &written)?;
        batch.count(id, cmd.flow, Counter::Synced);
        Ok(outcome(cmd, &written))
    }

    /// A command of a linked pair whose fields did not change: step 5 alone.
    async fn collab_only(
        &self,
        record: &IntegrationRecord,
        cmd: &WriteCommand,
        batch: &Batch,
    ) -> Result<WriteOutcome, Parkable> {
        let (id, source) = (&cmd.integration, cmd.source.key.clone());
        let Some(link) = self.batch_link(batch, id, cmd.flow.source(), &cmd.source.id).await? else {
            // A retry after a crash between the drop of a deleted twin's pair and the
            // new twin's create (`recreate`) finds the twin the command named deleted.
            if let Some(named) = &cmd.target {
                if let Some(outcome) = self.twin_deleted(record, cmd, None, named, batch).await? {
                    return Ok(outcome);
                }
            }
            let detail = "the pair is no longer linked".to_string();
            return Ok(WriteOutcome::Skipped {
                source,
                reason: Skip::Mapping(ferry_mapping::SkipReason::Unchanged),
                detail,
            });
        };
        let target = link.side(cmd.flow.target());
        let pair = PairInFlow { record, flow: cmd.flow, source: &cmd.source.id, target: &target.id };
        match self.sync_collaboration(pair).await {
            Ok(_) => {}
            // Something the sync reached for was not found: when it is the twin itself,
            // deleted, `on_target_deleted` decides as for a field edit; anything else
            // (a far end, the source) is the error it is.
            Err(e) if e.category() == Some(ErrorCategory::NotFound) => {
                return match self.twin_deleted(record, cmd, Some(&link), &target.id, batch).await? {
                    Some(outcome) => Ok(outcome),
                    None => Err(e),
                };
            }
            Err(e) => return Err(e),
        }
        batch.count(id, cmd.flow, Counter::Synced);
        Ok(WriteOutcome::Unchanged { source, target: target.key.clone(), conflicts: 0 })
    }

    /// What the write does when `target`, the source's twin, is confirmed deleted by its
    /// system ([`crate::target_deleted`]); `None`: it is not.
    async fn twin_deleted(
        &self,
        record: &IntegrationRecord,
        cmd: &WriteCommand,
        link: Option<&Link>,
        target: &EntityId,
        batch: &Batch,
    ) -> Result<Option<WriteOutcome>, Parkable> {
        let (target_conn, target_scope) = self.side_connector(record, cmd.flow.target()).await?;
        if target_conn.confirm_deleted(&target_scope, target).await.is_err() {
            return Ok(None);
        }
        let ctx = WriteCtx { record, cmd, target_conn, target_scope, read_fields: Vec::new() };
        match self.confirmed_gone(&ctx, link, batch).await? {
            Next::Done(outcome) => Ok(Some(outcome)),
            Next::Create => {
                let fresh = self.create_command(record, cmd, batch).await?;
                Box::pin(self.apply_command(&fresh, false, batch)).await.map(Some)
            }
        }
    }

    /// Step 1: the target entity and how the write reached it, or `None` to create one.
    pub(crate) async fn resolve_target(
        &self,
        ctx: &WriteCtx<'_>,
        link: Option<&Link>,
        batch: &Batch,
    ) -> Result<Option<(EntityId, Adoption)>, Parkable> {
        let cmd = ctx.cmd;
        Ok(match (link, &cmd.target) {
            (Some(l), _) => Some((l.side(cmd.flow.target()).id.clone(), Adoption::Linked)),
            (None, Some(t)) => Some((t.clone(), Adoption::Named)),
            (None, None) => {
                self.unlinked_target(ctx.record, cmd, ctx.target_conn.as_ref(), &ctx.target_scope, batch).await?
            }
        })
    }

    /// Step 2, an existing target: what it still needs, against its current values and
    /// the last-synced base, sent in one conditional update.
    async fn update_target(
        &self,
        ctx: &WriteCtx<'_>,
        target_id: EntityId,
        adoption: Adoption,
        batch: &Batch,
    ) -> Result<Update, Parkable> {
        let resolved = adoption;
        let (current, plan, adoption, read_ahead) = match self.plan_existing(ctx, &target_id, adoption, batch).await? {
            Planned::Stale(detail) => return Ok(Update::Stale(detail)),
            Planned::Gone(target) => return Ok(Update::Gone(target)),
            Planned::Update { current, plan, adoption, read_ahead } => (*current, plan, adoption, read_ahead),
        };
        let (conn, scope) = (ctx.target_conn.as_ref(), &ctx.target_scope);
        let (target, answer) = if plan.send.is_empty() {
            (entity_ref(&current), None)
        } else {
            match conn.update(scope, &target_id, &plan.send, Some(&current.revision), &ctx.read_fields).await {
                Ok(u) => (u.target.clone(), Some(u)),
                // Read ahead, the target changed before this write (an atomic update
                // refused the revision): read and compare again, as a read right before
                // the write would have. The batch's snapshot is taken: this one goes to
                // the system.
                Err(e) if read_ahead && e.category == ErrorCategory::Conflict => {
                    return Box::pin(self.update_target(ctx, target_id, resolved, batch)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let from = Some(current.revision);
        let adoption = Some(adoption);
        Ok(Update::Written(Box::new(TargetWrite { target, created: false, plan, from, adoption, answer })))
    }

    /// What an update of an existing target would send (step 2 without the write): the
    /// target's current state read, and the three-way comparison against the base.
    pub(crate) async fn plan_existing(
        &self,
        ctx: &WriteCtx<'_>,
        target_id: &EntityId,
        adoption: Adoption,
        batch: &Batch,
    ) -> Result<Planned, Parkable> {
        let (cmd, integration) = (ctx.cmd, &ctx.record.integration);
        let (conn, scope) = (ctx.target_conn.as_ref(), &ctx.target_scope);
        // Read ahead with the batch's other targets, else now. One the read ahead did
        // not return is read here: only `get` tells a deleted target.
        let ahead = batch.take_target(&integration.id, cmd.flow.target(), target_id, &ctx.read_fields);
        let read_ahead = ahead.is_some();
        let current = match ahead {
            Some(current) => current,
            None => match conn.get(scope, target_id, &ctx.read_fields).await? {
                Some(current) => current,
                None => return Ok(Planned::Gone(target_id.clone())),
            },
        };
        // Read for this batch, not at transform: a write of the reverse flow may have
        // happened in between (the pair's record is written on the condition that none
        // happens before this step stores it).
        let base = self.batch_fingerprint(batch, &integration.id, cmd.flow.target(), target_id).await?;
        // Linked, but with no fingerprint of the target: the step that linked the pair
        // did not finish. Ferry does not know what the target holds of its own, so the
        // write goes on as the adoption that step was.
        let adoption = match (adoption, &base) {
            (Adoption::Linked, None) => unfinished_adoption(integration, cmd, &current),
            (a, _) => a,
        };
        let source_fp = self.batch_fingerprint(batch, &integration.id, cmd.flow.source(), &cmd.source.id).await?;
        if let Some(detail) = stale_snapshot(&cmd.source, source_fp.as_ref(), base.as_ref()) {
            return Ok(Planned::Stale(detail));
        }
        let target = (conn, scope, &current);
        let adopting = self.adoption_scope(ctx.record, cmd, adoption, target, &ctx.read_fields).await?;
        let mut plan =
            plan_update(integration, cmd, adopting.as_ref(), &current, base.as_ref(), &FieldTimes::default());
        if !plan.contested.is_empty() {
            let times = self.field_times(ctx, &current, &plan.contested).await?;
            plan = plan_update(integration, cmd, adopting.as_ref(), &current, base.as_ref(), &times);
        }
        Ok(Planned::Update { current: Box::new(current), plan, adoption, read_ahead })
    }

    /// Step 2, no target yet: a new one with every mapped value.
    async fn create_in_target(&self, ctx: &WriteCtx<'_>, batch: &Batch) -> Result<TargetWrite, Parkable> {
        let target = self.create_target(batch, ctx.cmd, ctx.target_conn.as_ref(), &ctx.target_scope).await?;
        Ok(TargetWrite { target, created: true, plan: UpdatePlan::create(), from: None, adoption: None, answer: None })
    }
}

/// Fields changed on both sides that the conflict policy leaves to a person: the rest
/// is synced, and these park as a `field_conflict` failure with a command of their own.
fn park_flagged(cmd: &WriteCommand, written: &TargetWrite) -> Result<(), Parkable> {
    let flagged = &written.plan.flagged;
    if flagged.is_empty() {
        return Ok(());
    }
    let message = flagged_message(cmd, &written.target, flagged);
    let mut parked = cmd.clone();
    parked.changes.retain(|c| flagged.iter().any(|f| f.field == c.field));
    Err(Parkable::Permanent(PortError::new(ErrorCategory::FieldConflict, message), Some(Box::new(parked))))
}

fn outcome(cmd: &WriteCommand, written: &TargetWrite) -> WriteOutcome {
    let (source, target) = (cmd.source.key.clone(), written.target.key.clone());
    let fields = written.sent(cmd).len();
    let conflicts = written.plan.resolved.len();
    if written.created {
        WriteOutcome::Created { source, target }
    } else if fields == 0 {
        WriteOutcome::Unchanged { source, target, conflicts }
    } else {
        WriteOutcome::Updated { source, target, fields, conflicts }
    }
}

pub(crate) fn entity_ref(s: &EntitySnapshot) -> EntityRef {
    EntityRef {
        id: s.id.clone(),
        key: s.key.clone(),
        url: s.url.clone(),
        revision: s.revision.clone(),
        updated: s.updated,
    }
}
