//! Linking a new pair (a create, or an adoption of an unlinked twin): the link is stored
//! first (from then on a retry finds the pair), then the pair is finished: each side's
//! back-link to the other, the source's remote-id field, and the values the target filled
//! in on its own (defaults, [`crate::backfill`]) or an adopted original holds
//! ([`Engine::carry_to_twin`]) copied back to the source in one write.

use crate::adopt::Adoption;
use crate::backfill::backfill;
use crate::batch::Batch;
use crate::crash::CrashPoint;
use crate::engine::Engine;
use crate::failures::Parkable;
use crate::history::Written;
use crate::write::{entity_ref, TargetWrite, WriteCtx};
use chrono::{DateTime, Utc};
use ferry_domain::ports::Connector;
use ferry_domain::{
    remote_link_for, EntityRef, EntitySnapshot, FieldChange, FieldKey, FieldValue, Integration, Link, PortError, Scope,
    Side, WriteCommand,
};
use ferry_mapping::source_fields;
use std::collections::BTreeMap;
use tracing::info;

/// What linking the pair did to the source, and what it read of the target.
#[derive(Default)]
pub(crate) struct Linked {
    /// The source's revision after Ferry wrote to it, when it did.
    pub source_written: Option<EntityRef>,
    /// Someone else changed the source around that write.
    pub source_foreign: bool,
    /// The values written to the source (they are in sync now).
    pub source_extra: BTreeMap<FieldKey, FieldValue>,
    /// Target fields an adoption kept whose values it carried to the source.
    pub carried_kept: Vec<FieldKey>,
    /// The target as read after the write (for lossy values and defaults).
    pub target_read: Option<EntitySnapshot>,
}

/// What goes back from the target to the source after the target's write.
#[derive(Default)]
struct ValuesBack {
    changes: Vec<FieldChange>,
    /// Target fields an adoption kept whose values it carried to the source.
    carried_kept: Vec<FieldKey>,
    /// The target as read after the write.
    target_read: Option<EntitySnapshot>,
}

impl Engine {
    /// Step 3 of a write: links the pair (unless `store_link` is false: an earlier
    /// attempt stored the link and stopped) and finishes it. `written.target` ends as the
    /// target's latest revision.
    pub(crate) async fn link_pair(
        &self,
        ctx: &WriteCtx<'_>,
        written: &mut TargetWrite,
        store_link: bool,
        now: DateTime<Utc>,
        batch: &Batch,
    ) -> Result<Linked, Parkable> {
        let (cmd, integration) = (ctx.cmd, &ctx.record.integration);
        let (source_side, target_side) = (cmd.flow.source(), cmd.flow.target());
        let (source_conn, source_scope) = self.side_connector(ctx.record, source_side).await?;
        let source_ref = entity_ref(&cmd.source);
        if store_link {
            self.store_link(ctx, &source_ref, written, now, batch).await?;
        }
        if integration.remote.link(target_side) {
            let l = remote_link_for(&integration.id, source_side, &source_ref, &system_label(integration, source_side));
            ctx.target_conn.upsert_remote_link(&ctx.target_scope, &written.target.id, &l).await?;
        }
        let ValuesBack { changes: mut back, carried_kept, target_read } = self.values_back(ctx, written).await?;
        // One write carries the remote id and the values copied back.
        back.extend(remote_id_back(integration, cmd, &written.target));
        let source = (source_conn.as_ref(), &source_scope);
        let (source_written, source_foreign) = self.write_to_source(ctx, source, &back, written).await?;
        let source_extra = back.into_iter().map(|c| (c.field, c.value)).collect();
        let linked = Linked { source_written, source_foreign, source_extra, carried_kept, target_read };
        if let Some(t) = &linked.target_read {
            // Read after every follow-up write to the target (the remote link).
            written.target = entity_ref(t);
        } else if integration.remote.link(target_side) {
            if let Some(t) = ctx.target_conn.get(&ctx.target_scope, &written.target.id, &[]).await? {
                written.target = entity_ref(&t);
            }
        }
        // The link keeps the refs of the create: nothing reads their revisions (the
        // fingerprints hold the revisions after the follow-up writes), and a second link
        // put would cost two reads and a transaction per create.
        Ok(linked)
    }

    async fn store_link(
        &self,
        ctx: &WriteCtx<'_>,
        source_ref: &EntityRef,
        written: &TargetWrite,
        now: DateTime<Utc>,
        batch: &Batch,
    ) -> Result<(), Parkable> {
        let source_side = ctx.cmd.flow.source();
        let (left, right) = match source_side {
            Side::Left => (source_ref.clone(), written.target.clone()),
            Side::Right => (written.target.clone(), source_ref.clone()),
        };
        let new_link = Link { integration: ctx.cmd.integration.clone(), left, right, created_at: now };
        self.batch_put_link(batch, &new_link).await?;
        if written.created {
            // The pair has no record yet, and what it would be read from is known: the
            // source's own fingerprint (its create intent) and none for the new target.
            // Saves reading the pair, the link and both fingerprints.
            self.batch_new_pair(batch, &new_link, source_side);
        }
        self.crash_point(CrashPoint::WriteAfterLink)?;
        Ok(())
    }

    /// The target as it is right after the write, and the values the source gets back
    /// from it: what the target filled in on its own for fields the source left empty,
    /// and what an adopted original holds of the fields it kept.
    async fn values_back(&self, ctx: &WriteCtx<'_>, written: &TargetWrite) -> Result<ValuesBack, PortError> {
        let (cmd, integration) = (ctx.cmd, &ctx.record.integration);
        let mut fields = source_fields(integration, cmd.flow.reverse());
        fields.extend(ctx.read_fields.iter().cloned());
        let Some(now) = ctx.target_conn.get(&ctx.target_scope, &written.target.id, &fields).await? else {
            return Ok(ValuesBack::default());
        };
        let mut changes = backfill(integration, cmd, &now);
        for c in &changes {
            info!(entity = %cmd.source.key, field = %c.field, "the target filled in a value the source left empty: copied back");
        }
        let mut carried_kept = Vec::new();
        if written.adoption == Some(Adoption::Original) {
            let (carried, fields) = self.carry_to_twin(ctx.record, cmd, &now, &written.plan.kept_target).await?;
            changes.extend(carried);
            carried_kept = fields;
        }
        Ok(ValuesBack { changes, carried_kept, target_read: Some(now) })
    }

    /// Writes `back` (one update) and the back-link to the target into the source, and
    /// reads the revision that made. Returns it (`None`: nothing written) and whether
    /// someone else changed the source around the write.
    async fn write_to_source(
        &self,
        ctx: &WriteCtx<'_>,
        (conn, scope): (&dyn Connector, &Scope),
        back: &[FieldChange],
        written: &TargetWrite,
    ) -> Result<(Option<EntityRef>, bool), PortError> {
        let (cmd, integration) = (ctx.cmd, &ctx.record.integration);
        let (source_side, target_side) = (cmd.flow.source(), cmd.flow.target());
        let mut source_ref = entity_ref(&cmd.source);
        let mut touched = false;
        if !back.is_empty() {
            source_ref = conn.update(scope, &cmd.source.id, back, None, &[]).await?.target;
            touched = true;
        }
        if integration.remote.link(source_side) {
            let l =
                remote_link_for(&integration.id, target_side, &written.target, &system_label(integration, target_side));
            conn.upsert_remote_link(scope, &cmd.source.id, &l).await?;
            touched = true;
        }
        if !touched {
            return Ok((None, false));
        }
        if let Some(s) = conn.get(scope, &cmd.source.id, &[]).await? {
            source_ref = entity_ref(&s);
        }
        let w = Written {
            side: source_side,
            conn,
            scope,
            entity: &cmd.source.id,
            from: Some(&cmd.source.revision),
            to: &source_ref.revision,
            told: None,
        };
        let watched = source_fields(integration, cmd.flow.reverse());
        let foreign = self.foreign_in_write(ctx.record, &w, back, &watched).await?.is_some();
        Ok((Some(source_ref), foreign))
    }
}

/// The source's remote-id field set to the target's key, unless it holds it already.
fn remote_id_back(integration: &Integration, cmd: &WriteCommand, target: &EntityRef) -> Option<FieldChange> {
    let field = integration.remote.id_field(cmd.flow.source())?;
    let value = FieldValue::Text(target.key.clone());
    (cmd.source.field(field) != Some(&value)).then(|| FieldChange { field: field.clone(), value })
}

fn system_label(integration: &Integration, side: Side) -> String {
    integration.endpoint(side).system.to_string()
}
