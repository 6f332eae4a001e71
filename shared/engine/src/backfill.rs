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
        twin_deleted: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{both, command, integration, snapshot, text};
    use ferry_domain::{Direction, FieldValue, Flow, MappingKind};

    #[test]
    fn a_create_copies_back_what_the_target_filled_in_where_the_source_is_empty() {
        let (high, low) = (text("High"), text("Low"));
        // (the priority mapping's direction, the source's priority (None: not returned),
        // the new target's Priority, copied back)
        let table = [
            (Direction::Both, Some(FieldValue::Null), high.clone(), Some(high.clone())),
            (Direction::Both, Some(low.clone()), high.clone(), None),
            (Direction::Both, Some(FieldValue::Null), FieldValue::Null, None),
            // Read by the create's flow and not returned: not known to be empty.
            (Direction::Both, None, high.clone(), None),
            // Never read by the create's flow: the source has no value of it.
            (Direction::RightToLeft, None, high.clone(), Some(high.clone())),
            // A field the reverse flow does not map stays as it is.
            (Direction::LeftToRight, Some(FieldValue::Null), high.clone(), None),
        ];
        for (direction, source_priority, target_priority, want) in table {
            let mut i = integration();
            i.fields[1] = ferry_domain::FieldMapping { direction, ..both("priority", "Priority", MappingKind::Value) };
            let mut fields = vec![("summary", text("Crash on save"))];
            fields.extend(source_priority.clone().map(|v| ("priority", v)));
            let cmd = command(Flow::LeftToRight, snapshot("APP-1", &fields), &[]);
            // The target as created: the summary sent, the priority its own, its remote id.
            let created = snapshot(
                "7",
                &[
                    ("System.Title", text("Crash on save")),
                    ("Priority", target_priority.clone()),
                    ("Custom.JiraKey", text("APP-1")),
                ],
            );
            let back = backfill(&i, &cmd, &created);
            let got: Vec<(String, FieldValue)> = back.into_iter().map(|c| (c.field.to_string(), c.value)).collect();
            let want: Vec<(String, FieldValue)> = want.into_iter().map(|v| ("priority".to_string(), v)).collect();
            assert_eq!(got, want, "{direction:?}: source {source_priority:?}, target {target_priority:?}");
        }
    }

    #[test]
    fn the_remote_id_is_never_copied_back_as_a_default() {
        let i = integration();
        // The source's remote-id field is empty; the target names it in its own.
        let cmd = command(Flow::RightToLeft, snapshot("7", &[("Custom.JiraKey", FieldValue::Null)]), &[]);
        let created = snapshot("APP-1", &[("customfield_10050", text("7")), ("summary", text("x"))]);
        let back = backfill(&i, &cmd, &created);
        assert!(back.iter().all(|c| c.field.as_str() != "Custom.JiraKey"), "{back:?}");
    }
}
