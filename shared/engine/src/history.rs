//! Reading an entity's history after Ferry wrote it (see [`crate::foreign`]): the
//! revision Ferry records as its own must hold nothing but its own write.

use crate::engine::Engine;
use crate::foreign::{changed_by_others, foreign_changes, Foreign};
use ferry_domain::ports::Connector;
use ferry_domain::{EntityId, FieldChange, FieldKey, HistoryEntry, IntegrationRecord, PortError, Scope, Side};
use tracing::info;

/// One entity Ferry wrote, and the revisions around the write.
pub(crate) struct Written<'a> {
    pub side: Side,
    pub conn: &'a dyn Connector,
    pub scope: &'a Scope,
    pub entity: &'a EntityId,
    /// The revision the write started from; `None`: the write created the entity.
    pub from: Option<&'a str>,
    /// The revision Ferry records after the write (and its follow-ups).
    pub to: &'a str,
    /// The history of `(from, to]` as the write's own answer held it (`None`: read it).
    pub told: Option<&'a [HistoryEntry]>,
}

impl Engine {
    /// The changes between the two revisions of `w` that are not Ferry's write of `sent`
    /// (`watched`: the fields of the entity the integration maps); `None`: the revision
    /// after the write is Ferry's alone.
    pub(crate) async fn foreign_in_write(
        &self,
        record: &IntegrationRecord,
        w: &Written<'_>,
        sent: &[FieldChange],
        watched: &[FieldKey],
    ) -> Result<Option<Foreign>, PortError> {
        if w.from == Some(w.to) {
            return Ok(None);
        }
        let me = self.integration_user(&record.integration.endpoint(w.side).system, w.conn).await?;
        let read;
        let history = match w.told {
            Some(told) => told,
            None => {
                read = w.conn.history(w.scope, w.entity, w.from, w.to, watched).await?;
                &read
            }
        };
        let found = foreign_changes(history, &me, sent, watched);
        if let Some(f) = &found {
            info!(
                entity = %w.entity,
                revision = w.to,
                "the revision after Ferry's write also holds other changes ({}): it is not taken for Ferry's echo",
                f.reason
            );
        }
        Ok(found)
    }

    /// The fields someone other than Ferry changed on `entity` (a twin Ferry created)
    /// from its creation up to revision `through`.
    pub(crate) async fn changed_since_creation(
        &self,
        record: &IntegrationRecord,
        w: &Written<'_>,
        watched: &[FieldKey],
    ) -> Result<Foreign, PortError> {
        let me = self.integration_user(&record.integration.endpoint(w.side).system, w.conn).await?;
        let history = w.conn.history(w.scope, w.entity, None, w.to, watched).await?;
        Ok(changed_by_others(&history, &me))
    }
}
