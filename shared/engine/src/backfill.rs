//! Values a create copies back: a new target may fill in its own defaults for fields the
//! source left empty (a Jira priority, an Azure DevOps state). Left as they are, the two
//! sides would differ from the first sync on; copied back to the source with the
//! remote id (in the same write), the pair starts in sync.

use ferry_domain::{EntitySnapshot, FieldChange, Fingerprint, Integration, WriteCommand};
use ferry_mapping::{map_change, source_fields, synced_source_values, Decision, MappingInput, UserDirectory};

/// Source fields the source left empty and the just-created target filled in (its own
/// defaults), mapped back to the source's terms. Only both-way mappings apply; a value
/// the reverse mapping cannot map is left alone.
pub(crate) fn backfill(integration: &Integration, cmd: &WriteCommand, created: &EntitySnapshot) -> Vec<FieldChange> {
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
