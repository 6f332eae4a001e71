//! A linked target deleted in its system (`on_target_deleted`): what a write of its
//! source entity does instead of failing on every later change.
//!
//! - `unlink` (the default): the pair is dropped, counted (`unlinked` in `ferry status`)
//!   and logged; the source keeps a mark (its fingerprint's `twin_deleted`) so that a
//!   later change of it is skipped, never created again behind anyone's back.
//! - `recreate`: the pair is dropped and the write goes on as a create of an unlinked
//!   source, through the create intent ([`crate::create`]): a crash after the create
//!   finds the new twin by its remote id instead of creating a second one.
//! - `park`: one `target_deleted` failure of the source entity; later changes wait
//!   behind it (a person restores the target, or changes the policy, then retries).
//!
//! A target `get` does not find is taken for deleted only once its connector confirms
//! it ([`ferry_domain::ports::Connector::confirm_deleted`]): a project Ferry can no
//! longer read (a lost permission, a wrong project) is that error, parked as such, and
//! no policy applies. Ferry never deletes anything on the other side.

use crate::batch::Batch;
use crate::engine::Engine;
use crate::failures::Parkable;
use crate::fingerprints::FpUpdate;
use crate::outcome::{Skip, WriteOutcome};
use crate::write::WriteCtx;
use chrono::{DateTime, Utc};
use ferry_domain::{Counter, EntityId, ErrorCategory, Link, OnTargetDeleted, PortError};
use std::collections::BTreeMap;
use tracing::warn;

/// What Ferry knows of the source entity's twin when the write reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Twin {
    /// The twin the write was for is deleted (confirmed by its system).
    Deleted,
    /// The source is unlinked because its twin was found deleted earlier (at that time).
    DroppedBefore,
}

/// What the write does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// One `target_deleted` failure; later changes of the source wait behind it.
    Park,
    /// Drop the pair, mark the source, report it; create nothing.
    Unlink,
    /// Drop the pair (if still linked) and create a new twin.
    Recreate,
    /// The pair was dropped earlier: this change is skipped.
    Skip,
}

/// The rule: the policy decides for a twin just found deleted; a source unlinked
/// earlier stays unlinked unless the policy has become `recreate` since.
pub(crate) fn decide(policy: OnTargetDeleted, twin: Twin) -> Decision {
    match (twin, policy) {
        (Twin::Deleted, OnTargetDeleted::Unlink) => Decision::Unlink,
        (Twin::Deleted, OnTargetDeleted::Recreate) => Decision::Recreate,
        (Twin::Deleted, OnTargetDeleted::Park) => Decision::Park,
        (Twin::DroppedBefore, OnTargetDeleted::Recreate) => Decision::Recreate,
        (Twin::DroppedBefore, OnTargetDeleted::Unlink | OnTargetDeleted::Park) => Decision::Skip,
    }
}

/// What the write path goes on with.
pub(crate) enum Next {
    /// Done: the outcome of the write.
    Done(WriteOutcome),
    /// Create a new twin, as for an unlinked source.
    Create,
}

impl Engine {
    /// Before a create of an unlinked source: whether its pair was dropped because its
    /// twin was deleted, and what the policy makes of that (`None`: create as usual).
    pub(crate) async fn dropped_pair(&self, ctx: &WriteCtx<'_>, batch: &Batch) -> Result<Option<Next>, Parkable> {
        let cmd = ctx.cmd;
        let fp = self.batch_fingerprint(batch, &cmd.integration, cmd.flow.source(), &cmd.source.id).await?;
        let Some(at) = fp.and_then(|f| f.twin_deleted) else {
            return Ok(None);
        };
        self.apply_decision(ctx, None, Twin::DroppedBefore, at, batch).await.map(Some)
    }

    /// The write's target `target` was not found: confirmed deleted, the policy decides;
    /// otherwise the connector's error is parked as it is.
    pub(crate) async fn target_gone(
        &self,
        ctx: &WriteCtx<'_>,
        link: Option<&Link>,
        target: &EntityId,
        batch: &Batch,
    ) -> Result<Next, Parkable> {
        ctx.target_conn.confirm_deleted(&ctx.target_scope, target).await.map_err(|e| {
            let message = format!(
                "{}'s twin {target} cannot be read, and it is not taken for deleted: {}",
                ctx.cmd.source.key, e.message
            );
            Parkable::Permanent(PortError { message, ..e }, None)
        })?;
        self.confirmed_gone(ctx, link, batch).await
    }

    /// [`Engine::target_gone`] once the target's system has confirmed it deleted.
    pub(crate) async fn confirmed_gone(
        &self,
        ctx: &WriteCtx<'_>,
        link: Option<&Link>,
        batch: &Batch,
    ) -> Result<Next, Parkable> {
        if link.is_none() {
            // A command named a target the pair no longer holds: dropped earlier?
            if let Some(next) = self.dropped_pair(ctx, batch).await? {
                return Ok(next);
            }
        }
        self.apply_decision(ctx, link, Twin::Deleted, Utc::now(), batch).await
    }

    async fn apply_decision(
        &self,
        ctx: &WriteCtx<'_>,
        link: Option<&Link>,
        twin: Twin,
        at: DateTime<Utc>,
        batch: &Batch,
    ) -> Result<Next, Parkable> {
        let (cmd, policy) = (ctx.cmd, ctx.record.integration.collaboration.on_target_deleted);
        let source = cmd.source.key.clone();
        match decide(policy, twin) {
            Decision::Park => Err(Parkable::Permanent(
                PortError::new(
                    ErrorCategory::TargetDeleted,
                    format!(
                        "{source}'s linked twin in the {} system was deleted (on_target_deleted: park); restore it, \
                         or set on_target_deleted to unlink or recreate, then `ferry failures retry`",
                        cmd.flow.target().as_str()
                    ),
                ),
                None,
            )),
            Decision::Skip => {
                batch.count(&cmd.integration, cmd.flow, Counter::Skipped);
                let detail = format!(
                    "{source}'s twin was found deleted at {} and the pair dropped (on_target_deleted: {policy})",
                    at.to_rfc3339()
                );
                Ok(Next::Done(WriteOutcome::Skipped { source, reason: Skip::TargetDeleted, detail }))
            }
            Decision::Unlink => {
                self.keep_source_fingerprint(ctx, Some(at), batch).await?;
                if let Some(l) = link {
                    self.batch_delete_link(batch, l).await?;
                }
                batch.count(&cmd.integration, cmd.flow, Counter::Unlinked);
                warn!(entity = %source, "its linked twin was deleted: the pair is dropped (on_target_deleted: unlink)");
                let detail = format!("{source}'s twin was deleted: the pair is dropped (on_target_deleted: unlink)");
                Ok(Next::Done(WriteOutcome::Skipped { source, reason: Skip::TargetDeleted, detail }))
            }
            Decision::Recreate => {
                if let Some(l) = link {
                    self.keep_source_fingerprint(ctx, None, batch).await?;
                    self.batch_delete_link(batch, l).await?;
                }
                warn!(entity = %source, "its linked twin was deleted: creating a new one (on_target_deleted: recreate)");
                Ok(Next::Create)
            }
        }
    }

    /// Before the pair is dropped: the source's fingerprint as its pair holds it becomes
    /// its own record (a store may keep the two apart, and the own one may still hold
    /// the intent of the create that made the pair), with `twin_deleted` when the pair is
    /// over for good. A crash before the drop finds the pair and the deleted target
    /// again, and drops it then.
    async fn keep_source_fingerprint(
        &self,
        ctx: &WriteCtx<'_>,
        twin_deleted: Option<DateTime<Utc>>,
        batch: &Batch,
    ) -> Result<(), PortError> {
        let at = Utc::now();
        let cmd = ctx.cmd;
        let none = BTreeMap::new();
        let keep = FpUpdate { values: &none, echo: None, written: None, applied: None, create_started: None };
        let mut fp =
            self.merged_fingerprint(batch, &cmd.integration, cmd.flow.source(), &cmd.source.id, keep, at).await?;
        fp.twin_deleted = twin_deleted;
        self.batch_put_fingerprint(batch, &fp).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_policy_decides_for_a_twin_found_deleted_and_for_a_pair_dropped_earlier() {
        use Decision as D;
        use OnTargetDeleted as P;
        let table = [
            // A twin just found deleted: the policy, as configured.
            (P::Unlink, Twin::Deleted, D::Unlink),
            (P::Recreate, Twin::Deleted, D::Recreate),
            (P::Park, Twin::Deleted, D::Park),
            // A later change of a source whose pair was dropped: never created again,
            // unless the policy is recreate now.
            (P::Unlink, Twin::DroppedBefore, D::Skip),
            (P::Park, Twin::DroppedBefore, D::Skip),
            (P::Recreate, Twin::DroppedBefore, D::Recreate),
        ];
        for (policy, twin, want) in table {
            assert_eq!(decide(policy, twin), want, "{policy} {twin:?}");
        }
    }

    #[test]
    fn unlink_is_the_default_policy() {
        assert_eq!(OnTargetDeleted::default(), OnTargetDeleted::Unlink);
    }
}
