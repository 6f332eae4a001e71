//! What a link one pair's sync brought in step (or removed) means for the pair at the
//! link's far end: one link, two linked pairs, two records.
//!
//! A link between two synced entities is held by both ends on each side (Jira lists it
//! on both issues, Azure DevOps on both work items). When pair (S, T) writes the link
//! from T to T', the far pair (S', T') holds it too, on both sides — but only (S, T)'s
//! record says so. Were the far pair's record left as it was, its next sync would take
//! the link on its target side for a person's new link: a person who removed the link on
//! the source in the meantime would see Ferry write it back. So the far pair's record
//! gets the link from its end, in both bases, as the sync that made it in step (or
//! removed it) knew it.

use super::relations::{undirected, RelationMap};
use ferry_domain::{CollabState, EntityId, Relation, RelationIntent, Side};
use std::collections::BTreeSet;

/// A link whose far end's pair records it as in step on both sides, or as gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FarEnd {
    /// The far end on the source side (the link's `other`).
    pub source: EntityId,
    /// Its peer on the target side.
    pub target: EntityId,
    /// The link as the far end's peer holds it, in the source's terms (towards this
    /// pair's source entity): what the far pair's target-side base records.
    pub in_source_terms: Relation,
    /// The link as the far end holds it, in the target's terms (towards this pair's
    /// target entity): what the far pair's source-side base records.
    pub in_target_terms: Relation,
    /// `true`: in step on both sides; `false`: removed from both.
    pub held: bool,
}

/// The far ends of the links that entered or left `before` (the target's relations as
/// last synced, in the source's terms) in `after`. `ends`: this pair's (source, target)
/// entities. Parents have no far end to record: a parent lists no children.
pub fn far_ends(
    before: &[Relation],
    after: &[Relation],
    ends: (&EntityId, &EntityId),
    map: &RelationMap<'_>,
) -> Vec<FarEnd> {
    let was: BTreeSet<Relation> = before.iter().map(undirected).collect();
    let now: BTreeSet<Relation> = after.iter().map(undirected).collect();
    let changed = now.symmetric_difference(&was);
    changed
        .filter_map(|r| {
            let Relation::Link { link_type, outward, other } = r else { return None };
            let Ok(Some(Relation::Link { link_type: target_type, other: peer, .. })) = map.translate(r) else {
                return None;
            };
            if other == ends.0 {
                return None;
            }
            let reverse =
                |t: &str, to: &EntityId| Relation::Link { link_type: t.into(), outward: !outward, other: to.clone() };
            Some(FarEnd {
                source: other.clone(),
                target: peer,
                in_source_terms: reverse(link_type, ends.0),
                in_target_terms: reverse(&target_type, ends.1),
                held: now.contains(r),
            })
        })
        .collect()
}

/// Records `far` in its pair's record, whose source-side entity is on `source_side`;
/// `false`: the record said so already.
pub fn record_far_end(state: &mut CollabState, source_side: Side, far: &FarEnd) -> bool {
    let (source_base, target_base) = match source_side {
        Side::Left => (&mut state.relations_left, &mut state.relations_right),
        Side::Right => (&mut state.relations_right, &mut state.relations_left),
    };
    let a = set_in(source_base, &far.in_target_terms, far.held);
    let b = set_in(target_base, &far.in_source_terms, far.held);
    // Recorded (or gone): no longer an intent.
    let key = undirected(&far.in_target_terms);
    let before = state.relating.len();
    state.relating.retain(|i| !(i.source_side == source_side && undirected(&i.in_target_terms) == key));
    a || b || state.relating.len() != before
}

/// Records in its pair's record (whose source-side entity is on `source_side`) that the
/// link `far` stands for is being written ([`RelationIntent`]); `false`: recorded already.
pub fn intend_far_end(state: &mut CollabState, source_side: Side, far: &FarEnd) -> bool {
    let intent = RelationIntent {
        source_side,
        in_source_terms: far.in_source_terms.clone(),
        in_target_terms: far.in_target_terms.clone(),
    };
    if state.relating.contains(&intent) {
        return false;
    }
    state.relating.push(intent);
    true
}

/// Puts `r` in `base` (`held`) or takes it out; `true` when `base` changed.
fn set_in(base: &mut Vec<Relation>, r: &Relation, held: bool) -> bool {
    let key = undirected(r);
    let present = base.iter().any(|b| undirected(b) == key);
    match (held, present) {
        (true, false) => base.push(r.clone()),
        (false, true) => base.retain(|b| undirected(b) != key),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "System.LinkTypes.Dependency";
    const RELATED: &str = "System.LinkTypes.Related";

    fn e(s: &str) -> EntityId {
        EntityId::new(s)
    }
    fn link(t: &str, outward: bool, other: &str) -> Relation {
        Relation::Link { link_type: t.into(), outward, other: e(other) }
    }
    fn far(source: &str, target: &str, in_source: Relation, in_target: Relation, held: bool) -> FarEnd {
        FarEnd { source: e(source), target: e(target), in_source_terms: in_source, in_target_terms: in_target, held }
    }

    /// Pair APP-1 ⇄ 101; Jira keys APP-n are synced to ids 10n; APP-9 is not synced yet.
    fn ends_of(before: &[Relation], after: &[Relation]) -> Vec<FarEnd> {
        let types = |t: &str| match t {
            "Blocks" => Some(DEP.to_string()),
            "Relates" => Some(RELATED.to_string()),
            _ => None,
        };
        let peer = |id: &EntityId| match id.as_str() {
            "APP-9" => None,
            s => s.strip_prefix("APP-").map(|n| e(&format!("10{n}"))),
        };
        let map = RelationMap { hierarchy: true, link_type: &types, peer: &peer };
        far_ends(before, after, (&e("APP-1"), &e("101")), &map)
    }

    #[test]
    fn a_link_brought_in_step_or_removed_is_recorded_from_its_far_end() {
        let blocks_2 = link("Blocks", true, "APP-2");
        type Row<'a> = (&'a [Relation], &'a [Relation], Vec<FarEnd>);
        let table: [Row; 7] = [
            // APP-1 blocks APP-2, now in step: APP-2 is blocked by APP-1, 102 by 101.
            (
                &[],
                std::slice::from_ref(&blocks_2),
                vec![far("APP-2", "102", link("Blocks", false, "APP-1"), link(DEP, false, "101"), true)],
            ),
            // Removed from both sides.
            (
                std::slice::from_ref(&blocks_2),
                &[],
                vec![far("APP-2", "102", link("Blocks", false, "APP-1"), link(DEP, false, "101"), false)],
            ),
            // Unchanged: nothing to record.
            (std::slice::from_ref(&blocks_2), std::slice::from_ref(&blocks_2), vec![]),
            // The inward end: APP-1 is blocked by APP-3, so APP-3 blocks APP-1.
            (
                &[],
                &[link("Blocks", false, "APP-3")],
                vec![far("APP-3", "103", link("Blocks", true, "APP-1"), link(DEP, true, "101"), true)],
            ),
            // A symmetric link seen from its other end is the same link: unchanged.
            (&[link("Relates", true, "APP-2")], &[link("Relates", false, "APP-2")], vec![]),
            // A parent, a far end not synced, a type not synced: nothing.
            (
                &[],
                &[
                    Relation::Parent { parent: e("APP-2") },
                    link("Blocks", true, "APP-9"),
                    link("Clones", true, "APP-2"),
                ],
                vec![],
            ),
            // A link of the entity to itself has no other pair.
            (&[], &[link("Blocks", true, "APP-1")], vec![]),
        ];
        for (before, after, want) in table {
            assert_eq!(ends_of(before, after), want, "{before:?} -> {after:?}");
        }
    }

    #[test]
    fn the_far_pair_records_the_link_in_both_bases_once() {
        let f = far("APP-2", "102", link("Blocks", false, "APP-1"), link(DEP, false, "101"), true);
        // The far pair's source entity on the left: its left base is in the right's terms.
        let mut state = CollabState::default();
        assert!(record_far_end(&mut state, Side::Left, &f));
        assert_eq!(state.relations_left, vec![link(DEP, false, "101")]);
        assert_eq!(state.relations_right, vec![link("Blocks", false, "APP-1")]);
        assert!(!record_far_end(&mut state, Side::Left, &f), "recorded already");
        // Seen from a sync whose source is on the right, the bases swap.
        let mut mirrored = CollabState::default();
        assert!(record_far_end(&mut mirrored, Side::Right, &f));
        assert_eq!(mirrored.relations_right, vec![link(DEP, false, "101")]);
        assert_eq!(mirrored.relations_left, vec![link("Blocks", false, "APP-1")]);
        // Removed: gone from both, other links kept.
        let other = link(DEP, true, "105");
        state.relations_left.push(other.clone());
        assert!(record_far_end(&mut state, Side::Left, &FarEnd { held: false, ..f }));
        assert_eq!(state.relations_left, vec![other]);
        assert!(state.relations_right.is_empty());
    }
}
