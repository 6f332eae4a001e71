//! What an update of a linked (or adopted) target sends: the three-way comparison of each
//! mapped value with the target's current value and the last-synced base, and the
//! conflict policy where both sides changed a field since the last sync. Who changed a
//! contested field last comes from the histories ([`crate::last_change`]): a plan made
//! without them names the fields it needs them for, and is made again with them.

use crate::adopt::AdoptScope;
use crate::last_change::{Contested, FieldTimes, LastChange};
use ferry_domain::{
    EntityRef, EntitySnapshot, FieldChange, FieldKey, FieldValue, Fingerprint, Integration, WriteCommand,
};
use ferry_mapping::Resolution;

/// What an update sends, and what the three-way comparison decided.
pub(crate) struct UpdatePlan {
    pub send: Vec<FieldChange>,
    /// Target fields whose (changed) target value won over the source's.
    pub kept_target: Vec<FieldKey>,
    /// Fields changed on both sides that the conflict policy leaves to a person.
    pub flagged: Vec<FlaggedField>,
    /// Fields changed on both sides that the conflict policy settled.
    pub resolved: Vec<ResolvedField>,
    /// The target was at Ferry's own last-written revision (or is new): nobody else
    /// changed it since.
    pub target_was_clean: bool,
    /// Fields changed on both sides that were settled without the histories: plan again
    /// with their [`FieldTimes`].
    pub contested: Vec<Contested>,
}

impl UpdatePlan {
    pub(crate) fn create() -> Self {
        UpdatePlan {
            send: Vec::new(),
            kept_target: Vec::new(),
            flagged: Vec::new(),
            resolved: Vec::new(),
            target_was_clean: true,
            contested: Vec::new(),
        }
    }
}

pub(crate) struct FlaggedField {
    pub field: FieldKey,
    pub source_field: FieldKey,
    pub source_value: FieldValue,
    pub target_value: FieldValue,
    /// The last-synced value.
    pub base: FieldValue,
}

pub(crate) struct ResolvedField {
    pub field: FieldKey,
    pub winner: &'static str,
}

/// The changes the target still needs, field by field against its current values and
/// the last-synced base: a field the target holds already is skipped; one the target
/// changed since the last sync (current differs from the base) while the source changed
/// it too is a conflict, settled by the field's policy: unless Ferry itself made the
/// target's value (`times`), which is no person's change. The last writer is who changed
/// the field last (`times`), else the entity changed last. An adoption (no link yet)
/// considers the mapped values its scope allows, without a base; the others the target
/// keeps.
pub(crate) fn plan_update(
    integration: &Integration,
    cmd: &WriteCommand,
    adopting: Option<&AdoptScope>,
    current: &EntitySnapshot,
    base: Option<&Fingerprint>,
    times: &FieldTimes,
) -> UpdatePlan {
    let wanted: Vec<FieldChange> = if adopting.is_some() {
        cmd.mapped.iter().map(|(k, v)| FieldChange { field: k.clone(), value: v.clone() }).collect()
    } else {
        cmd.changes.clone()
    };
    let mut plan = UpdatePlan {
        send: Vec::new(),
        kept_target: Vec::new(),
        flagged: Vec::new(),
        resolved: Vec::new(),
        target_was_clean: base.and_then(|b| b.written_revision.as_deref()) == Some(current.revision.as_str()),
        contested: Vec::new(),
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
        if cmd.winner.is_none() {
            if !times.knows(&c.field) {
                plan.contested.push(Contested { target: c.field.clone(), source: source_field.clone() });
            } else if times.target(&c.field) == LastChange::Ferry {
                // Ferry's own write whose record was lost: the source's value goes.
                plan.send.push(c);
                continue;
            }
        }
        let source_at = times.source_at(source_field, cmd.source.updated);
        let target_at = times.target_at(&c.field, current.updated);
        match ferry_mapping::resolve(policy, cmd.winner, cmd.flow, source_at, target_at) {
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

/// The cause of a flagged-conflict failure record: each field with both values and the base.
pub(crate) fn flagged_message(cmd: &WriteCommand, target: &EntityRef, flagged: &[FlaggedField]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{at, command, integration, rich, snapshot, text};
    use ferry_domain::{ConflictPolicy, Flow, IntegrationId, Side};

    fn base(values: &[(&str, FieldValue)], written_revision: Option<&str>) -> Fingerprint {
        Fingerprint {
            integration: IntegrationId::parse("i").expect("id"),
            side: Side::Right,
            entity: ferry_domain::EntityId::new("7"),
            values: values.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            written_revision: written_revision.map(str::to_string),
            written_updated: None,
            applied_source_updated: None,
            create_started: None,
            twin_deleted: None,
            updated_at: at(0),
        }
    }

    /// What the plan did with the one field of a command.
    #[derive(Debug, PartialEq)]
    enum Done {
        Sent,
        Nothing,
        Kept,
        Flagged,
    }

    #[test]
    fn a_linked_update_sends_what_the_target_lacks_and_settles_fields_changed_on_both_sides_by_policy() {
        use ConflictPolicy::{Flag, LastWriter, Left, Right};
        let (high, low, medium) = (text("High"), text("Low"), text("Medium"));
        // (policy, operator's winner, the target's Priority now (None: not returned), the
        // last-synced base, the source changed last, what the plan does, who won)
        let table = [
            (LastWriter, None, None, Some(&low), true, Done::Sent, None),
            (LastWriter, None, Some(&high), Some(&low), true, Done::Nothing, None),
            // The target still holds the last-synced value: only the source changed.
            (LastWriter, None, Some(&low), Some(&low), false, Done::Sent, None),
            // No base to tell whether the target changed: the source's value goes.
            (Flag, None, Some(&low), None, false, Done::Sent, None),
            // Changed on both sides since the last sync.
            (LastWriter, None, Some(&medium), Some(&low), true, Done::Sent, Some("left")),
            (LastWriter, None, Some(&medium), Some(&low), false, Done::Kept, Some("right")),
            (Left, None, Some(&medium), Some(&low), false, Done::Sent, Some("left")),
            (Right, None, Some(&medium), Some(&low), true, Done::Kept, Some("right")),
            (Flag, None, Some(&medium), Some(&low), true, Done::Flagged, None),
            // An operator's decision overrides the policy.
            (Flag, Some(Side::Left), Some(&medium), Some(&low), false, Done::Sent, Some("left")),
            (Flag, Some(Side::Right), Some(&medium), Some(&low), true, Done::Kept, Some("right")),
        ];
        for (policy, winner, now, last_synced, source_last, want, won) in table {
            let mut i = integration();
            i.fields[1].conflict = policy;
            let mut source = snapshot("APP-1", &[("priority", high.clone())]);
            let mut current = snapshot("7", &now.map(|v| ("Priority", v.clone())).into_iter().collect::<Vec<_>>());
            if source_last {
                source.updated = at(10);
            } else {
                current.updated = at(10);
            }
            let mut cmd = command(Flow::LeftToRight, source, &[("Priority", high.clone())]);
            cmd.changes = vec![FieldChange { field: FieldKey::new("Priority"), value: high.clone() }];
            cmd.winner = winner;
            let base = last_synced.map(|v| base(&[("Priority", v.clone())], Some("0")));
            let plan = plan_update(&i, &cmd, None, &current, base.as_ref(), &FieldTimes::default());
            let done = match (plan.send.len(), plan.kept_target.len(), plan.flagged.len()) {
                (1, 0, 0) => Done::Sent,
                (0, 0, 0) => Done::Nothing,
                (0, 1, 0) => Done::Kept,
                (0, 0, 1) => Done::Flagged,
                other => panic!("one field, one decision: {other:?}"),
            };
            let row = format!("{policy:?} {winner:?} now {now:?} base {last_synced:?} source last {source_last}");
            assert_eq!(done, want, "{row}");
            assert_eq!(plan.resolved.first().map(|r| r.winner), won, "{row}");
            if done == Done::Flagged {
                let f = &plan.flagged[0];
                assert_eq!((f.source_field.as_str(), &f.target_value, &f.base), ("priority", &medium, &low), "{row}");
            }
        }
    }

    #[test]
    fn the_field_histories_decide_who_changed_a_contested_field_last() {
        use crate::last_change::LastChange::{Ferry, Person, Unknown};
        let (high, low, medium) = (text("High"), text("Low"), text("Medium"));
        let priority = FieldKey::new("Priority");
        // The source entity changed last (10, e.g. a comment), the target earlier (5).
        let mut source = snapshot("APP-1", &[("priority", high.clone())]);
        source.updated = at(10);
        let mut current = snapshot("7", &[("Priority", medium.clone())]);
        current.updated = at(5);
        let mut cmd = command(Flow::LeftToRight, source, &[("Priority", high.clone())]);
        cmd.changes = vec![FieldChange { field: priority.clone(), value: high.clone() }];
        let fp = base(&[("Priority", low.clone())], Some("0"));
        // (who changed the source's priority last, the target's, what the plan does)
        let table = [
            // No histories read yet: the entities' times settle it, and the plan asks for them.
            (None, None, Done::Sent),
            (Some(Person(at(2))), Some(Person(at(4))), Done::Kept),
            (Some(Person(at(4))), Some(Person(at(2))), Done::Sent),
            // Ferry made the target's value (its record lost): no person's change to keep.
            (Some(Person(at(2))), Some(Ferry), Done::Sent),
            // Where a history names no person's change, that side's entity time stands in.
            (Some(Unknown), Some(Unknown), Done::Sent),
            (Some(Ferry), Some(Person(at(7))), Done::Sent),
            (Some(Ferry), Some(Person(at(12))), Done::Kept),
            (Some(Person(at(2))), Some(Unknown), Done::Kept),
        ];
        for (src, tgt, want) in table {
            let mut times = FieldTimes::default();
            if let (Some(s), Some(t)) = (src, tgt) {
                times.source.insert(FieldKey::new("priority"), s);
                times.target.insert(priority.clone(), t);
            }
            let plan = plan_update(&integration(), &cmd, None, &current, Some(&fp), &times);
            let done = match (plan.send.len(), plan.kept_target.len()) {
                (1, 0) => Done::Sent,
                (0, 1) => Done::Kept,
                other => panic!("one field, one decision: {other:?}"),
            };
            assert_eq!(done, want, "{src:?} {tgt:?}");
            assert_eq!(plan.contested.is_empty(), src.is_some(), "{src:?}: the plan asks for the histories it lacks");
        }
    }

    #[test]
    fn the_target_is_clean_only_at_the_revision_ferry_wrote_last() {
        let cmd = command(Flow::LeftToRight, snapshot("APP-1", &[]), &[]);
        let current = snapshot("7", &[]);
        // (the revision Ferry wrote last, clean)
        for (written, clean) in [(Some("1"), true), (Some("0"), false), (None, false)] {
            let fp = base(&[], written);
            assert_eq!(
                plan_update(&integration(), &cmd, None, &current, Some(&fp), &FieldTimes::default()).target_was_clean,
                clean
            );
        }
        assert!(
            !plan_update(&integration(), &cmd, None, &current, None, &FieldTimes::default()).target_was_clean,
            "never written"
        );
        assert!(UpdatePlan::create().target_was_clean, "a new target holds only Ferry's write");
    }

    #[test]
    fn an_adoption_writes_what_its_scope_allows_and_the_target_keeps_the_rest() {
        // Right to left: the twin (right) as mapped onto the original (left).
        let mapped = [
            ("summary", text("Title at the create")),
            ("priority", text("High")),
            ("description", rich("<p>Steps</p><ul><li>Chrome</li></ul>")),
            ("customfield_10050", text("7")),
        ];
        let cmd = command(Flow::RightToLeft, snapshot("7", &[]), &mapped);
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
        let plan = plan_update(&i, &cmd, Some(&only), &current, None, &FieldTimes::default());
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
        let plan = plan_update(&i, &cmd, Some(&AdoptScope::Except(theirs)), &current, None, &FieldTimes::default());
        assert_eq!(fields(&plan.send), ["customfield_10050", "description", "priority"]);
        assert_eq!(keys(&plan.kept_target), ["summary"]);

        let plan = plan_update(&i, &cmd, Some(&AdoptScope::All), &current, None, &FieldTimes::default());
        assert_eq!(fields(&plan.send), ["customfield_10050", "description", "priority", "summary"]);
    }
}
