//! Adoption: a write whose source entity has no link yet, but whose twin exists, links
//! the two instead of creating a second twin. Two ways to find it:
//! - the source has a create intent (an interrupted create of its twin): the remote-id
//!   search finds the twin Ferry made ([`Adoption::Twin`]);
//! - the source's own remote-id field names an entity of the other side: the source is
//!   the twin an interrupted create made there, and the named entity its original
//!   ([`Adoption::Original`]). Creating it back would make a duplicate of the original.
//!
//! Ferry made the twin as a copy of the original; what people changed on the twin since
//! is theirs, read from its history. An adoption writes the original's values over the
//! twin except those fields (they travel back in the reverse flow), and writes from the
//! twin to the original only those fields, the ones the original leaves empty (the
//! twin's system filled them in when it was created, as a create copies back) and the
//! ones both say alike (rich text in the other system's rendering); the original's other
//! values go back to the twin.

use crate::batch::Batch;
use crate::engine::Engine;
use crate::failures::Parkable;
use crate::foreign::Foreign;
use crate::history::Written;
use ferry_domain::ports::Connector;
use ferry_domain::{
    EntityId, EntitySnapshot, ErrorCategory, FieldChange, FieldKey, FieldValue, Fingerprint, Integration,
    IntegrationRecord, PortError, Scope, WriteCommand,
};
use ferry_mapping::{
    map_change, needed_target_emails, source_field, source_fields, synced_source_values, Decision, MappingInput,
    UserDirectory,
};
use std::collections::{BTreeMap, BTreeSet};
use tracing::info;

/// How a write reached its target entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Adoption {
    /// Through the pair's link: a plain update.
    Linked,
    /// No link, but the command names the target: every mapped value is considered.
    Named,
    /// The twin an interrupted create of the source made (found by the remote-id search).
    Twin,
    /// The original whose interrupted create made the source (named by its remote id).
    Original,
}

/// Which mapped values an adoption writes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AdoptScope {
    /// Every mapped value.
    All,
    /// Every mapped value except these target fields: people changed them on the target
    /// since Ferry created it, and the target keeps them.
    Except(Foreign),
    /// Only these target fields (people changed their source fields on the source since
    /// Ferry created it), and the ones the target leaves empty.
    Only(BTreeSet<FieldKey>),
}

impl AdoptScope {
    /// Whether the adoption writes `target`, whose value is `current` now.
    pub(crate) fn may_write(&self, target: &FieldKey, current: &FieldValue) -> bool {
        match self {
            AdoptScope::All => true,
            AdoptScope::Except(theirs) => !theirs.touches(target),
            AdoptScope::Only(fields) => fields.contains(target) || current.is_null(),
        }
    }
}

/// The adoption a step was that linked the pair but stopped before storing its
/// fingerprints: of the original when the source's remote id names the target, else of
/// the twin a create made.
pub(crate) fn unfinished_adoption(integration: &Integration, cmd: &WriteCommand, target: &EntitySnapshot) -> Adoption {
    let named = integration.remote.id_field(cmd.flow.source()).and_then(|f| cmd.source.field(f));
    let named = named.and_then(FieldValue::key_string).map(|k| k.trim().to_string());
    if named.is_some_and(|k| k == target.key || k == target.id.as_str()) {
        Adoption::Original
    } else {
        Adoption::Twin
    }
}

impl Engine {
    /// The target of a write whose source is not linked and whose command names none:
    /// the original the source's remote id names, else the twin an interrupted create
    /// made, else none (create).
    pub(crate) async fn unlinked_target(
        &self,
        record: &IntegrationRecord,
        cmd: &WriteCommand,
        target_conn: &dyn Connector,
        target_scope: &Scope,
        batch: &Batch,
    ) -> Result<Option<(EntityId, Adoption)>, Parkable> {
        if let Some(original) = self.named_original(record, cmd, target_conn, target_scope, batch).await? {
            return Ok(Some((original, Adoption::Original)));
        }
        let twin = self.find_earlier_create(record, cmd, target_conn, target_scope, batch).await?;
        Ok(twin.map(|t| (t, Adoption::Twin)))
    }

    /// The entity of the target side the source's remote-id field names, if it exists.
    /// One already linked to another entity is never taken over: the source is then a
    /// duplicate, which a person must resolve.
    async fn named_original(
        &self,
        record: &IntegrationRecord,
        cmd: &WriteCommand,
        target_conn: &dyn Connector,
        target_scope: &Scope,
        batch: &Batch,
    ) -> Result<Option<EntityId>, Parkable> {
        let integration = &record.integration;
        let (source_side, target_side) = (cmd.flow.source(), cmd.flow.target());
        let Some(field) = integration.remote.id_field(source_side) else { return Ok(None) };
        let named = cmd.source.field(field).and_then(FieldValue::key_string).map(|k| k.trim().to_string());
        let Some(named) = named.filter(|k| !k.is_empty()) else { return Ok(None) };
        // Read for its existence and id only: the target's own remote-id field, if any.
        let fields: Vec<FieldKey> = integration.remote.id_field(target_side).cloned().into_iter().collect();
        let found = match target_conn.get(target_scope, &EntityId::new(named.clone()), &fields).await {
            Ok(found) => found,
            // Not an id or key the other side knows (text a person typed): it names nothing.
            Err(e) if e.category == ErrorCategory::InvalidRequest => None,
            Err(e) => return Err(e.into()),
        };
        let Some(found) = found else {
            info!(entity = %cmd.source.key, named = %named, "the remote id names no entity of the other side: created");
            return Ok(None);
        };
        if let Some(l) = self.batch_link(batch, &integration.id, target_side, &found.id).await? {
            if l.side(source_side).id != cmd.source.id {
                return Err(Parkable::Permanent(
                    PortError::new(
                        ErrorCategory::Conflict,
                        format!(
                            "{} names {} in {field}, but {} is synced with {} already: {} is a duplicate twin. \
                             Delete it (or clear its {field}), then `ferry failures discard` (or retry)",
                            cmd.source.key,
                            found.key,
                            found.key,
                            l.side(source_side).key,
                            cmd.source.key
                        ),
                    ),
                    None,
                ));
            }
        }
        info!(entity = %cmd.source.key, original = %found.key, "adopting the original whose interrupted create made this twin");
        Ok(Some(found.id))
    }

    /// The rest of an adoption of the original: the original's values of the fields it
    /// kept (people did not change them on the twin, and the original holds other
    /// values: changed there since the twin was made, or a state the interrupted create
    /// never reached) go back to the twin, as the create's retry would have written them.
    /// Returns the changes for the twin (the source) and the target fields they cover.
    pub(crate) async fn carry_to_twin(
        &self,
        record: &IntegrationRecord,
        cmd: &WriteCommand,
        original: &EntitySnapshot,
        kept: &[FieldKey],
    ) -> Result<(Vec<FieldChange>, Vec<FieldKey>), PortError> {
        let integration = &record.integration;
        let wanted: BTreeMap<&FieldKey, &FieldKey> =
            kept.iter().filter_map(|k| Some((source_field(integration, cmd.flow, k)?, k))).collect();
        if wanted.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let back = cmd.flow.reverse();
        let (twin_conn, _) = self.side_connector(record, cmd.flow.source()).await?;
        let twin_system = &integration.endpoint(cmd.flow.source()).system;
        let mut users = UserDirectory::new();
        for email in needed_target_emails(integration, back, original) {
            if let Some(u) = self.user_by_email(twin_system, twin_conn.as_ref(), &email).await? {
                users.insert(&email, u);
            }
        }
        // The twin as Ferry knows it: the values of the snapshot being synced.
        let twin_now = Fingerprint {
            integration: integration.id.clone(),
            side: cmd.flow.source(),
            entity: cmd.source.id.clone(),
            values: synced_source_values(integration, cmd.flow, &cmd.source),
            written_revision: None,
            written_updated: None,
            applied_source_updated: None,
            create_started: None,
            twin_deleted: None,
            updated_at: cmd.source.updated,
        };
        let out = map_change(&MappingInput {
            integration,
            flow: back,
            source: original,
            users: &users,
            source_integration_user: None,
            source_fingerprint: None,
            target_fingerprint: Some(&twin_now),
            linked: true,
            matches_filter: true,
        });
        let Decision::Write { changes, .. } = out.decision else {
            info!(entity = %original.key, "the original's kept values could not be mapped to the twin: they follow with its next change");
            return Ok((Vec::new(), Vec::new()));
        };
        let carried: Vec<FieldChange> = changes.into_iter().filter(|c| wanted.contains_key(&c.field)).collect();
        let covered = carried.iter().filter_map(|c| wanted.get(&c.field).map(|k| (*k).clone())).collect();
        for c in &carried {
            info!(entity = %cmd.source.key, field = %c.field, "the original holds another value: carried to the adopted twin");
        }
        Ok((carried, covered))
    }

    /// What an adoption may write (`None` for a linked write).
    pub(crate) async fn adoption_scope(
        &self,
        record: &IntegrationRecord,
        cmd: &WriteCommand,
        adoption: Adoption,
        target: (&dyn Connector, &Scope, &EntitySnapshot),
        watched: &[FieldKey],
    ) -> Result<Option<AdoptScope>, PortError> {
        let integration = &record.integration;
        let (target_conn, target_scope, current) = target;
        match adoption {
            Adoption::Linked => Ok(None),
            Adoption::Named => Ok(Some(AdoptScope::All)),
            Adoption::Twin => {
                let w = Written {
                    side: cmd.flow.target(),
                    conn: target_conn,
                    scope: target_scope,
                    entity: &current.id,
                    from: None,
                    to: &current.revision,
                    told: None,
                };
                let theirs = self.changed_since_creation(record, &w, watched).await?;
                if !theirs.fields.is_empty() || theirs.all {
                    info!(entity = %current.key, "people changed the twin since Ferry created it ({}): those fields are kept", theirs.reason);
                }
                Ok(Some(AdoptScope::Except(theirs)))
            }
            Adoption::Original => {
                let source_side = cmd.flow.source();
                let (source_conn, source_scope) = self.side_connector(record, source_side).await?;
                let w = Written {
                    side: source_side,
                    conn: source_conn.as_ref(),
                    scope: &source_scope,
                    entity: &cmd.source.id,
                    from: None,
                    to: &cmd.source.revision,
                    told: None,
                };
                let theirs = self.changed_since_creation(record, &w, &source_fields(integration, cmd.flow)).await?;
                let mut fields: BTreeSet<FieldKey> = cmd
                    .mapped
                    .keys()
                    .filter(|t| source_field(integration, cmd.flow, t).is_some_and(|s| theirs.touches(s)))
                    .cloned()
                    .collect();
                // The original learns its twin's key.
                fields.extend(integration.remote.id_field(cmd.flow.target()).cloned());
                Ok(Some(AdoptScope::Only(fields)))
            }
        }
    }
}
