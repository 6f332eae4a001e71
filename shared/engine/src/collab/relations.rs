//! Which parent and link changes a write step makes on the target: one rule, a
//! three-way merge of the source's relations now, the relations last synced and the
//! target's relations now.
//!
//! Only what changed on the source since the last sync travels (an addition, a removal,
//! a new parent), so two people changing links on both sides at once do not undo each
//! other, and a relation Ferry just wrote does not come back as a change. A relation to
//! an entity outside the integration (not linked) is left alone on both sides; one to an
//! entity not synced *yet* is pending: it is added when that entity's pair is linked.
//! A link of a type without a direction ([`is_symmetric_link_type`]) is the same link
//! from either end: its `outward` is not compared.

use ferry_domain::{is_symmetric_link_type, EntityId, Relation};
use std::collections::{BTreeMap, BTreeSet};

/// How relation types and entities of the source translate to the target.
pub struct RelationMap<'a> {
    /// Whether parents travel (`hierarchy`).
    pub hierarchy: bool,
    /// The target's link type for a source link type (`links`), `None`: not synced.
    pub link_type: &'a (dyn Fn(&str) -> Option<String> + Sync),
    /// The target entity linked to a source entity, `None`: not (yet) synced.
    pub peer: &'a (dyn Fn(&EntityId) -> Option<EntityId> + Sync),
}

impl RelationMap<'_> {
    /// The relation in the target's terms; `Err(other)`: its other end is not synced yet;
    /// `Ok(None)`: a relation this integration does not sync.
    pub(super) fn translate(&self, r: &Relation) -> Result<Option<Relation>, EntityId> {
        match r {
            Relation::Parent { parent } if self.hierarchy => match (self.peer)(parent) {
                Some(p) => Ok(Some(Relation::Parent { parent: p })),
                None => Err(parent.clone()),
            },
            Relation::Parent { .. } => Ok(None),
            Relation::Link { link_type, outward, other } => {
                let Some(t) = (self.link_type)(link_type) else { return Ok(None) };
                match (self.peer)(other) {
                    Some(o) => Ok(Some(Relation::Link { link_type: t, outward: *outward, other: o })),
                    None => Err(other.clone()),
                }
            }
        }
    }
}

/// What to change on the target, and what to record.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RelationPlan {
    pub add: Vec<Relation>,
    pub remove: Vec<Relation>,
    /// Source entities the source relates to that are not synced yet: revisit this
    /// entity when one of them is linked.
    pub pending: Vec<EntityId>,
    /// The source's synced relations now, in the target's terms: the next base.
    pub base: Vec<Relation>,
}

/// `source`: the source entity's relations now; `base`: the source's relations as last
/// synced, in the target's terms; `target`: the target entity's relations now.
pub fn plan_relations(
    source: &[Relation],
    base: &[Relation],
    target: &[Relation],
    map: &RelationMap<'_>,
) -> RelationPlan {
    let mut now = BTreeSet::new();
    let mut pending = BTreeSet::new();
    for r in source {
        match map.translate(r) {
            Ok(Some(t)) => {
                now.insert(undirected(&t));
            }
            Ok(None) => {}
            Err(waiting) => {
                pending.insert(waiting);
            }
        }
    }
    let base: BTreeSet<Relation> = base.iter().map(undirected).collect();
    // The target's relations by their compared form, each with itself: a removal names
    // the relation as the target holds it.
    let target: BTreeMap<Relation, &Relation> = target.iter().map(|r| (undirected(r), r)).collect();
    let add: Vec<Relation> = now.difference(&base).filter(|r| !target.contains_key(*r)).cloned().collect();
    let new_parent = add.iter().any(|r| matches!(r, Relation::Parent { .. }));
    let remove = base
        .difference(&now)
        .filter_map(|r| target.get(r).map(|held| (*held).clone()))
        // Adding a parent replaces the old one: no separate removal.
        .filter(|r| !(new_parent && matches!(r, Relation::Parent { .. })))
        .collect();
    RelationPlan { add, remove, pending: pending.into_iter().collect(), base: now.into_iter().collect() }
}

/// The other direction's base (`other_base`: the target's relations as last synced, in
/// the source's terms) once this sync brought the target in line: a relation the source
/// holds and the target now holds too is in step on both sides, one Ferry removed from
/// the target is gone from both. Without this the other direction would take Ferry's
/// own writes on the target for a person's changes there, and a link a person removed
/// on the source before that direction ran would be written back to it.
///
/// `source`: the source's relations now; `target_after`: the target's relations after
/// this sync's writes; `removed`: what this sync removed from the target (target terms).
pub fn other_base_after(
    other_base: &[Relation],
    source: &[Relation],
    target_after: &[Relation],
    removed: &[Relation],
    map: &RelationMap<'_>,
) -> Vec<Relation> {
    let removed: BTreeSet<Relation> = removed.iter().map(undirected).collect();
    let held: BTreeSet<Relation> = target_after.iter().map(undirected).collect();
    let in_target = |r: &Relation| map.translate(r).ok().flatten().map(|t| undirected(&t));
    let mut out: Vec<Relation> =
        other_base.iter().filter(|r| in_target(r).is_none_or(|t| !removed.contains(&t))).cloned().collect();
    let mut seen: BTreeSet<Relation> = out.iter().map(undirected).collect();
    for r in source {
        if in_target(r).is_some_and(|t| held.contains(&t)) && seen.insert(undirected(r)) {
            out.push(r.clone());
        }
    }
    out
}

/// `r` as it is compared: a link of a symmetric type from its outward end.
pub(super) fn undirected(r: &Relation) -> Relation {
    match r {
        Relation::Link { link_type, other, .. } if is_symmetric_link_type(link_type) => {
            Relation::Link { link_type: link_type.clone(), outward: true, other: other.clone() }
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> EntityId {
        EntityId::new(s)
    }
    fn parent(p: &str) -> Relation {
        Relation::Parent { parent: e(p) }
    }
    fn link(t: &str, outward: bool, other: &str) -> Relation {
        Relation::Link { link_type: t.into(), outward, other: e(other) }
    }

    /// Jira keys APP-n are synced to ADO ids 10n; APP-9 is not synced yet.
    fn plan(source: &[Relation], base: &[Relation], target: &[Relation]) -> RelationPlan {
        let types = |t: &str| match t {
            "Blocks" => Some("System.LinkTypes.Dependency".to_string()),
            "Relates" => Some(RELATED.to_string()),
            _ => None,
        };
        let peer = |id: &EntityId| match id.as_str() {
            "APP-9" | "OUT-1" => None,
            s => s.strip_prefix("APP-").map(|n| e(&format!("10{n}"))),
        };
        plan_relations(source, base, target, &RelationMap { hierarchy: true, link_type: &types, peer: &peer })
    }

    const DEP: &str = "System.LinkTypes.Dependency";
    const RELATED: &str = "System.LinkTypes.Related";

    #[test]
    fn a_symmetric_link_is_the_same_link_from_either_end() {
        // (source, base, target) -> (add, remove)
        type Case<'a> = (&'a [Relation], &'a [Relation], &'a [Relation], &'a [Relation], &'a [Relation]);
        let cases: &[Case] = &[
            // APP-3's inward end of a Relates link; the target holds it from its other end.
            (&[link("Relates", false, "APP-2")], &[], &[link(RELATED, true, "102")], &[], &[]),
            // The same, the target holding it as its inward end.
            (&[link("Relates", true, "APP-2")], &[], &[link(RELATED, false, "102")], &[], &[]),
            // A new one is written from its outward end.
            (&[link("Relates", false, "APP-2")], &[], &[], &[link(RELATED, true, "102")], &[]),
            // A removal names the link as the target holds it.
            (&[], &[link(RELATED, true, "102")], &[link(RELATED, false, "102")], &[], &[link(RELATED, false, "102")]),
            // A directed type still compares its direction.
            (&[link("Blocks", false, "APP-2")], &[], &[link(DEP, true, "102")], &[link(DEP, false, "102")], &[]),
        ];
        for (source, base, target, add, remove) in cases {
            let p = plan(source, base, target);
            assert_eq!((p.add.as_slice(), p.remove.as_slice()), (*add, *remove), "{source:?} {base:?} {target:?}");
        }
    }

    #[test]
    fn a_new_parent_and_link_are_added_in_the_targets_terms() {
        let p = plan(&[parent("APP-1"), link("Blocks", true, "APP-2")], &[], &[]);
        assert_eq!(p.add, [parent("101"), link(DEP, true, "102")]);
        assert!(p.remove.is_empty() && p.pending.is_empty());
        assert_eq!(p.base, p.add);
    }

    #[test]
    fn a_parent_not_synced_yet_is_pending_and_not_recorded() {
        let p = plan(&[parent("APP-9")], &[], &[]);
        assert_eq!(p.pending, [e("APP-9")]);
        assert!(p.add.is_empty() && p.base.is_empty(), "added once APP-9 is linked: {p:?}");
    }

    #[test]
    fn moving_a_child_replaces_its_parent_without_a_separate_removal() {
        let p = plan(&[parent("APP-2")], &[parent("101")], &[parent("101")]);
        assert_eq!(p.add, [parent("102")]);
        assert!(p.remove.is_empty());
    }

    #[test]
    fn a_removal_on_the_source_removes_on_the_target_and_a_target_only_link_stays() {
        // The source removed its Blocks link to APP-2; someone added one to 103 on the target.
        let target = [link(DEP, true, "102"), link(DEP, true, "103")];
        let p = plan(&[], &[link(DEP, true, "102")], &target);
        assert_eq!(p.remove, [link(DEP, true, "102")]);
        assert!(p.add.is_empty());
    }

    #[test]
    fn what_the_target_holds_already_is_not_added_again() {
        let p = plan(&[link("Blocks", false, "APP-3")], &[], &[link(DEP, false, "103")]);
        assert!(p.add.is_empty(), "the reverse end written by the other entity's sync: {p:?}");
        assert_eq!(p.base, [link(DEP, false, "103")]);
    }

    #[test]
    fn unmapped_link_types_and_entities_outside_the_integration_are_left_alone() {
        let p = plan(&[link("Duplicate", true, "APP-2")], &[], &[link("System.LinkTypes.Duplicate", true, "555")]);
        assert_eq!(p, RelationPlan::default());
        let p = plan(&[link("Blocks", true, "OUT-1")], &[], &[]);
        assert_eq!(p.pending, [e("OUT-1")], "not linked: it may be synced later");
        assert!(p.add.is_empty() && p.remove.is_empty());
    }

    #[test]
    fn what_ferry_wrote_to_the_target_is_in_the_other_directions_base() {
        let types = |t: &str| (t == "Blocks").then(|| DEP.to_string());
        let peer = |id: &EntityId| id.as_str().strip_prefix("APP-").map(|n| e(&format!("10{n}")));
        let map = RelationMap { hierarchy: true, link_type: &types, peer: &peer };
        let b2 = [link("Blocks", true, "APP-2")];
        // (other base, source, target after, removed) -> other base after
        type Row<'a> = (&'a [Relation], &'a [Relation], &'a [Relation], &'a [Relation], &'a [Relation]);
        let table: [Row; 5] = [
            // Ferry added the link to the target: the target's side holds it as synced.
            (&[], &b2, &[link(DEP, true, "102")], &[], &b2),
            // The target held it already (the other end's sync wrote it).
            (
                &[],
                &[link("Blocks", false, "APP-3")],
                &[link(DEP, false, "103")],
                &[],
                &[link("Blocks", false, "APP-3")],
            ),
            // Ferry removed it from the target: gone from the other base too.
            (&b2, &[], &[], &[link(DEP, true, "102")], &[]),
            // A person removed it on the target (not carried yet): it stays in the base,
            // so the other direction still sees that removal.
            (&b2, &b2, &[], &[], &b2),
            // A person's link on the target not synced yet is not made part of the base.
            (&[], &[], &[link(DEP, true, "104")], &[], &[]),
        ];
        for (base, source, after, removed, want) in table {
            assert_eq!(other_base_after(base, source, after, removed, &map), want, "{base:?} {source:?} {after:?}");
        }
    }

    #[test]
    fn a_parent_removed_on_the_source_is_removed_on_the_target() {
        let p = plan(&[], &[parent("101")], &[parent("101")]);
        assert_eq!(p.remove, [parent("101")]);
    }
}
