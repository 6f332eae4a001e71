//! What a write records of both sides: each side's fingerprint (the values now in sync,
//! the revision Ferry made, the newest snapshot applied), stored together as the pair's
//! record. The next transform compares against them (no ping-pong), the polls drop the
//! revisions they name as Ferry's echoes, and older snapshots are stale
//! ([`crate::stale`]).

use crate::batch::Batch;
use crate::engine::Engine;
use crate::failures::Parkable;
use crate::foreign::Foreign;
use crate::history::Written;
use crate::link::Linked;
use crate::update_plan::UpdatePlan;
use crate::write::{TargetWrite, WriteCtx};
use chrono::{DateTime, Utc};
use ferry_domain::{
    EntityId, EntityRef, EntitySnapshot, FieldChange, FieldKey, FieldValue, Fingerprint, Flow, Integration,
    IntegrationId, MappingKind, PortError, Side,
};
use ferry_mapping::{mapping_kind, synced_source_values};
use std::collections::BTreeMap;

/// Changes to merge into one side's fingerprint (see [`Engine::merged_fingerprint`]).
pub(crate) struct FpUpdate<'a> {
    /// Values now in sync, merged over the fingerprint's.
    pub values: &'a BTreeMap<FieldKey, FieldValue>,
    pub echo: Option<&'a EntityRef>,
    pub written: Option<&'a EntityRef>,
    pub applied: Option<DateTime<Utc>>,
    /// `Some(x)`: set the create intent to `x`.
    pub create_started: Option<Option<DateTime<Utc>>>,
}

impl Engine {
    /// Step 4 of a write: both sides' fingerprints, in one pair record (one store write).
    /// The target's names the revision Ferry just made, so the target's poll drops it as
    /// an echo without enqueueing it; the source's values are in sync too, so the
    /// reverse direction sees them as unchanged.
    pub(crate) async fn record_fingerprints(
        &self,
        ctx: &WriteCtx<'_>,
        written: &TargetWrite,
        linked: &Linked,
        linking: bool,
        now: DateTime<Utc>,
        batch: &Batch,
    ) -> Result<(), Parkable> {
        let (cmd, integration) = (ctx.cmd, &ctx.record.integration);
        let (id, target) = (&cmd.integration, &written.target);
        let (target_read, foreign) = self.target_after_write(ctx, written, linked, linking).await?;
        let target_values = synced_target_values(
            &cmd.mapped,
            target_read.as_ref(),
            target,
            foreign.as_ref(),
            &written.plan,
            &linked.carried_kept,
        );
        // A target a person had changed since Ferry's last write, or changed during this
        // one: the new revision also carries that person's edits, so it must not be
        // taken for a pure echo.
        let echo = (written.plan.target_was_clean && foreign.is_none()).then_some(target);
        let target_update = FpUpdate {
            values: &target_values,
            echo,
            written: Some(target),
            applied: Some(cmd.source.updated),
            create_started: None,
        };
        let target_fp = self.merged_fingerprint(batch, id, cmd.flow.target(), &target.id, target_update, now).await?;
        let synced = synced_source_values(integration, cmd.flow, &cmd.source);
        let mut source_values: BTreeMap<FieldKey, FieldValue> =
            synced.into_iter().map(|(k, v)| (FieldKey::new(k), v)).collect();
        for c in &written.plan.flagged {
            source_values.remove(&c.source_field);
        }
        source_values.extend(linked.source_extra.clone());
        // The link exists now: a create intent of this source entity is fulfilled.
        let source_update = FpUpdate {
            values: &source_values,
            echo: linked.source_written.as_ref().filter(|_| !linked.source_foreign),
            written: linked.source_written.as_ref(),
            applied: None,
            create_started: Some(None),
        };
        let source_fp =
            self.merged_fingerprint(batch, id, cmd.flow.source(), &cmd.source.id, source_update, now).await?;
        self.batch_put_pair(batch, target_fp, source_fp).await?;
        Ok(())
    }

    /// The target as read after the write, if it was (a lossy value, rich text through
    /// Jira's ADF, reads back in another form than sent: the form the target holds is
    /// recorded, so a later read of it is no change), and what the revision now recorded
    /// holds of anyone else's changes (a person's edit between the requests of a
    /// non-atomic write).
    async fn target_after_write(
        &self,
        ctx: &WriteCtx<'_>,
        written: &TargetWrite,
        linked: &Linked,
        linking: bool,
    ) -> Result<(Option<EntitySnapshot>, Option<Foreign>), PortError> {
        let (cmd, integration) = (ctx.cmd, &ctx.record.integration);
        let (conn, target) = (ctx.target_conn.as_ref(), &written.target);
        let sent = written.sent(cmd);
        let answer = written.answer();
        let mut target_read = linked.target_read.clone();
        if target_read.is_none() && !sent.is_empty() && sends_lossy(integration, cmd.flow, sent) {
            target_read = match answer.and_then(|a| a.read.clone()) {
                Some(read) => Some(read),
                None => conn.get(&ctx.target_scope, &target.id, &ctx.read_fields).await?,
            };
        }
        // An atomic update of a linked target returned its own revision, with no
        // follow-up write: nothing to read.
        let wrote = !sent.is_empty() || (linking && integration.remote.link(cmd.flow.target()));
        if !wrote || (!linking && conn.atomic_updates()) {
            return Ok((target_read, None));
        }
        let w = Written {
            side: cmd.flow.target(),
            conn,
            scope: &ctx.target_scope,
            entity: &target.id,
            from: written.from.as_deref(),
            to: &target.revision,
            told: answer.and_then(|a| a.history.as_deref()),
        };
        let foreign = self.foreign_in_write(ctx.record, &w, sent, &ctx.read_fields).await?;
        Ok((target_read, foreign))
    }

    /// A side's fingerprint with `update` merged in (the caller stores it). `echo` (when
    /// Ferry wrote a clean target) marks the revision a later poll must recognise as
    /// Ferry's own echo; `written` is Ferry's latest write (older snapshots are stale);
    /// `applied` is the `updated` of the peer snapshot just applied (older deliveries
    /// are stale).
    pub(crate) async fn merged_fingerprint(
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
            twin_deleted: None,
        });
        // The stored record keys its values by field name.
        fp.values.extend(values.iter().map(|(k, v)| (k.to_string(), v.fingerprint_form())));
        if let Some(w) = written {
            fp.written_revision = echo.map(|e| e.revision.clone());
            fp.written_updated = Some(w.updated);
        }
        if let Some(a) = applied {
            fp.applied_source_updated = Some(fp.applied_source_updated.map_or(a, |old| old.max(a)));
        }
        if let Some(c) = create_started {
            fp.create_started = c;
            if c.is_none() {
                // Linked: a twin deleted earlier has been replaced.
                fp.twin_deleted = None;
            }
        }
        fp.updated_at = now;
        Ok(fp)
    }
}

/// The target's values now in sync, for its fingerprint: every mapped value, as the
/// target holds it when it was read at the recorded revision (a value sent is among the
/// mapped ones; a read from a later revision, a person's edit in between, is not
/// Ferry's and is not taken, nor is a value someone else changed in the recorded one).
/// Fields the target kept (it won a conflict, or a person must decide) are left out, so
/// they keep their last-synced value as the base of the next three-way comparison; the
/// fields an adoption kept and carried to the source are in sync at the target's value.
fn synced_target_values(
    mapped: &BTreeMap<FieldKey, FieldValue>,
    target_read: Option<&EntitySnapshot>,
    target: &EntityRef,
    foreign: Option<&Foreign>,
    plan: &UpdatePlan,
    carried_kept: &[FieldKey],
) -> BTreeMap<FieldKey, FieldValue> {
    let mut values = mapped.clone();
    if let Some(t) = target_read.filter(|t| t.revision == target.revision) {
        for (key, v) in values.iter_mut() {
            if foreign.is_some_and(|f| f.touches(key)) {
                continue;
            }
            if let Some(now) = t.field(key) {
                *v = now.clone();
            }
        }
    }
    for f in plan.kept_target.iter().chain(plan.flagged.iter().map(|c| &c.field)) {
        values.remove(f);
    }
    if let Some(t) = target_read {
        for f in carried_kept {
            values.insert(f.clone(), t.field(f).cloned().unwrap_or(FieldValue::Null));
        }
    }
    values
}

/// Whether the write sent a value whose target form may differ from the sent one.
fn sends_lossy(integration: &Integration, flow: Flow, sent: &[FieldChange]) -> bool {
    sent.iter().any(|c| mapping_kind(integration, flow, &c.field) == Some(MappingKind::RichText))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{at, rich, snapshot, text};
    use std::collections::BTreeSet;

    fn target(revision: &str) -> EntityRef {
        EntityRef {
            id: EntityId::new("7"),
            key: "7".into(),
            url: String::new(),
            revision: revision.into(),
            updated: at(0),
        }
    }

    fn keys(ks: &[&str]) -> Vec<FieldKey> {
        ks.iter().map(|k| FieldKey::new(*k)).collect()
    }

    #[test]
    fn the_target_is_recorded_as_it_holds_ferrys_values_and_without_the_fields_it_kept() {
        let sent = rich("<p>Steps</p>");
        let held = rich("<p>Steps</p>\n");
        let mapped: BTreeMap<FieldKey, FieldValue> = [
            (FieldKey::new("System.Title"), text("Crash")),
            (FieldKey::new("System.Description"), sent.clone()),
            (FieldKey::new("Priority"), text("High")),
        ]
        .into();
        // The target read back: the description in its own form, and an Area Ferry does not map.
        let read = snapshot(
            "7",
            &[("System.Title", text("Crash")), ("System.Description", held.clone()), ("Area", text("Web"))],
        );
        // (read at the recorded revision, fields someone else changed in it, kept by the
        // target, flagged, carried to the source, the description and priority recorded)
        type Row<'a> = (bool, &'a [&'a str], &'a [&'a str], &'a [&'a str], &'a [&'a str]);
        let table: [(Row, Option<&FieldValue>, Option<FieldValue>); 7] = [
            ((true, &[], &[], &[], &[]), Some(&held), Some(text("High"))),
            // A read of a later revision (a person's edit in between) is not Ferry's.
            ((false, &[], &[], &[], &[]), Some(&sent), Some(text("High"))),
            // Someone else changed the description in the recorded revision.
            ((true, &["System.Description"], &[], &[], &[]), Some(&sent), Some(text("High"))),
            // The target won the priority, or a person must decide it: its base stays.
            ((true, &[], &["Priority"], &[], &[]), Some(&held), None),
            ((true, &[], &[], &["Priority"], &[]), Some(&held), None),
            // An adoption kept the target's priority and carried it to the source: the
            // target's value (none returned: empty) is in sync.
            ((true, &[], &["Priority"], &[], &["Priority"]), Some(&held), Some(FieldValue::Null)),
            ((true, &[], &["System.Description"], &[], &["System.Description"]), Some(&held), Some(text("High"))),
        ];
        for ((same_revision, theirs, kept, flagged, carried), description, priority) in table {
            let foreign = Foreign {
                reason: String::new(),
                fields: keys(theirs).into_iter().collect::<BTreeSet<_>>(),
                all: false,
            };
            let foreign = (!theirs.is_empty()).then_some(&foreign);
            let plan = UpdatePlan {
                kept_target: keys(kept),
                flagged: keys(flagged)
                    .into_iter()
                    .map(|field| crate::update_plan::FlaggedField {
                        source_field: FieldKey::new("priority"),
                        source_value: FieldValue::Null,
                        target_value: FieldValue::Null,
                        base: FieldValue::Null,
                        field,
                    })
                    .collect(),
                ..UpdatePlan::create()
            };
            let at = target(if same_revision { "1" } else { "2" });
            let values = synced_target_values(&mapped, Some(&read), &at, foreign, &plan, &keys(carried));
            let row = format!("{same_revision} {theirs:?} {kept:?} {flagged:?} {carried:?}");
            assert_eq!(values.get("System.Description"), description, "{row}");
            assert_eq!(values.get("Priority"), priority.as_ref(), "{row}");
            assert_eq!(values.get("System.Title"), Some(&text("Crash")), "{row}");
            assert!(!values.contains_key("Area"), "only mapped fields: {row}");
        }
    }

    #[test]
    fn without_a_read_the_mapped_values_are_recorded_as_sent() {
        let mapped: BTreeMap<FieldKey, FieldValue> = [(FieldKey::new("Priority"), text("High"))].into();
        let values =
            synced_target_values(&mapped, None, &target("1"), None, &UpdatePlan::create(), &keys(&["Priority"]));
        assert_eq!(values, mapped, "a carried field needs the target's read value");
    }
}
