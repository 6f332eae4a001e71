//! Creating a target: the intent is recorded on the source's fingerprint before the
//! create, so a retry after a crash between the create and the link looks for the twin
//! the first attempt made (by the remote-id search) instead of creating a second one.

use crate::batch::Batch;
use crate::engine::Engine;
use crate::failures::Parkable;
use crate::fingerprints::FpUpdate;
use chrono::Utc;
use ferry_domain::ports::Connector;
use ferry_domain::{EntityId, EntityRef, ErrorCategory, IntegrationRecord, PortError, Scope, WriteCommand};
use std::collections::BTreeMap;
use tracing::{info, warn};

/// How long an attempt whose create another one claimed waits before it looks for that
/// one's twin: about as long as a create and its link take.
const CLAIMED_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a create that may have been applied (its answer lost) waits before its retry
/// looks for the twin: about as long as a system's search takes to show a new entity. A
/// retry at once would mostly find nothing yet and spend a delivery on the search settle.
const UNCERTAIN_CREATE_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

impl Engine {
    /// Before a create: the entity an earlier, interrupted attempt created, if any. Only a
    /// recorded create intent triggers the search (the common first create costs none).
    /// A search that finds nothing while the intent is younger than the target's search
    /// lag allowance is retried later: the entity may exist but not be searchable yet.
    pub(crate) async fn find_earlier_create(
        &self,
        record: &IntegrationRecord,
        cmd: &WriteCommand,
        target_conn: &dyn Connector,
        target_scope: &Scope,
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
    pub(crate) async fn create_target(
        &self,
        batch: &Batch,
        cmd: &WriteCommand,
        conn: &dyn Connector,
        scope: &Scope,
    ) -> Result<EntityRef, Parkable> {
        let (id, side) = (&cmd.integration, cmd.flow.source());
        let none = BTreeMap::new();
        let intent =
            |at| FpUpdate { values: &none, echo: None, written: None, applied: None, create_started: Some(at) };
        let before = self.batch_fingerprint(batch, id, side, &cmd.source.id).await?.and_then(|f| f.create_started);
        let fp = self.merged_fingerprint(batch, id, side, &cmd.source.id, intent(Some(Utc::now())), Utc::now()).await?;
        // The intent is a claim: of two attempts at this create running at once (a
        // redelivery while the first still runs), one creates; the other comes back
        // later and finds the first one's twin ([`Engine::find_earlier_create`]).
        if let Err(e) = self.batch_put_create_intent(batch, &fp, before).await {
            if e.category != ErrorCategory::Conflict {
                return Err(e.into());
            }
            return Err(Parkable::Transient(
                PortError::new(
                    ErrorCategory::Conflict,
                    format!("another attempt is creating {}'s twin; looking for it again later ({e})", cmd.source.key),
                )
                .with_retry_after(Some(CLAIMED_RETRY)),
            ));
        }
        let err = match conn.create(scope, &cmd.changes).await {
            Ok(r) => return Ok(r),
            Err(e) => e,
        };
        if !err.nothing_applied {
            let wait = err.retry_after.unwrap_or_default().max(UNCERTAIN_CREATE_RETRY);
            return Err(err.with_retry_after(Some(wait)).into());
        }
        let restored = async {
            let fp = self.merged_fingerprint(batch, id, side, &cmd.source.id, intent(before), Utc::now()).await?;
            self.batch_put_fingerprint(batch, &fp).await
        };
        if let Err(e) = restored.await {
            // The intent stays: the retry looks for a twin first, as after a crash.
            warn!(entity = %cmd.source.key, "the create was refused, but its intent could not be cleared: {e}");
        }
        Err(err.into())
    }
}
