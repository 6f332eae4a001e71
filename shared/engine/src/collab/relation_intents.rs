//! What the relations Ferry set out to write ([`RelationIntent`]) mean for a sync that finds
//! them still recorded: a crash came between the write and the store of the pair's bases.
//!
//! - In the flow that wrote them: an intent whose relation the source no longer holds was
//!   abandoned (a person removed it meanwhile); the target's copy of it, if the write
//!   reached the target, is removed. An intent the source still holds is planned again as
//!   any relation is (added if missing, recorded if there).
//! - In the other flow: the relation on its source entity is Ferry's unconfirmed write,
//!   not a person's; it is not copied back.

use super::relations::{undirected, RelationMap};
use ferry_domain::{Relation, RelationIntent, Side};

/// The intents of the flow whose source is on `side` that the source no longer holds
/// (`source`: its relations now), each with the relation to remove from the target
/// (`target`: its relations now) when the write reached it.
pub fn abandoned(
    intents: &[RelationIntent],
    side: Side,
    source: &[Relation],
    target: &[Relation],
) -> Vec<(RelationIntent, Option<Relation>)> {
    intents
        .iter()
        .filter(|i| i.source_side == side && !holds(source, &i.in_source_terms))
        .map(|i| {
            let key = undirected(&i.in_target_terms);
            (i.clone(), target.iter().find(|t| undirected(t) == key).cloned())
        })
        .collect()
}

/// `source` (the relations of the flow's source entity, on `side`) without the ones the
/// other flow is writing to it and no base records yet.
pub fn without_unconfirmed(source: &[Relation], intents: &[RelationIntent], side: Side) -> Vec<Relation> {
    let unconfirmed: Vec<Relation> =
        intents.iter().filter(|i| i.source_side == side.other()).map(|i| undirected(&i.in_target_terms)).collect();
    source.iter().filter(|r| !unconfirmed.contains(&undirected(r))).cloned().collect()
}

/// The intent of adding `added` (in the target's terms) to the target: the source's
/// relation it is the translation of, `None` when no relation of `source` translates to it.
pub fn intent_of(added: &Relation, source: &[Relation], side: Side, map: &RelationMap<'_>) -> Option<RelationIntent> {
    let key = undirected(added);
    source
        .iter()
        .find(|r| map.translate(r).ok().flatten().is_some_and(|t| undirected(&t) == key))
        .map(|r| RelationIntent { source_side: side, in_source_terms: r.clone(), in_target_terms: added.clone() })
}

fn holds(relations: &[Relation], r: &Relation) -> bool {
    let key = undirected(r);
    relations.iter().any(|x| undirected(x) == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_domain::EntityId;

    const DEP: &str = "System.LinkTypes.Dependency";

    fn e(s: &str) -> EntityId {
        EntityId::new(s)
    }
    fn link(t: &str, outward: bool, other: &str) -> Relation {
        Relation::Link { link_type: t.into(), outward, other: e(other) }
    }
    fn parent(p: &str) -> Relation {
        Relation::Parent { parent: e(p) }
    }
    /// APP-1 ⇄ 101 writing "APP-1 blocks APP-2" as 101 → 102, from the left.
    fn blocks_2() -> RelationIntent {
        RelationIntent {
            source_side: Side::Left,
            in_source_terms: link("Blocks", true, "APP-2"),
            in_target_terms: link(DEP, true, "102"),
        }
    }
    fn parent_5() -> RelationIntent {
        RelationIntent { source_side: Side::Left, in_source_terms: parent("APP-5"), in_target_terms: parent("105") }
    }

    #[test]
    fn an_intent_the_source_dropped_is_abandoned_and_its_copy_on_the_target_removed() {
        type Row = (Vec<RelationIntent>, Side, Vec<Relation>, Vec<Relation>, Vec<Option<Relation>>);
        let table: Vec<Row> = vec![
            // The source still holds it: planned again, not abandoned.
            (vec![blocks_2()], Side::Left, vec![link("Blocks", true, "APP-2")], vec![link(DEP, true, "102")], vec![]),
            // Dropped, and the write reached the target: remove it there.
            (vec![blocks_2()], Side::Left, vec![], vec![link(DEP, true, "102")], vec![Some(link(DEP, true, "102"))]),
            // Dropped before the write reached the target: nothing to remove.
            (vec![blocks_2()], Side::Left, vec![], vec![], vec![None]),
            // A parent as well.
            (vec![parent_5()], Side::Left, vec![], vec![parent("105")], vec![Some(parent("105"))]),
            // The other flow's intents are not this flow's to settle.
            (vec![blocks_2()], Side::Right, vec![], vec![link(DEP, true, "102")], vec![]),
        ];
        for (intents, side, source, target, want) in table {
            let got: Vec<Option<Relation>> =
                abandoned(&intents, side, &source, &target).into_iter().map(|(_, r)| r).collect();
            assert_eq!(got, want, "{intents:?} {side:?} {source:?} {target:?}");
        }
    }

    #[test]
    fn the_other_flow_does_not_take_an_unconfirmed_write_for_a_persons_relation() {
        let on_101 = vec![link(DEP, true, "102"), link(DEP, true, "103"), parent("105")];
        // The right-to-left flow reads 101: the link Ferry is writing from the left is hidden.
        assert_eq!(without_unconfirmed(&on_101, &[blocks_2(), parent_5()], Side::Right), vec![link(DEP, true, "103")]);
        // The writing flow itself sees its source as it is.
        assert_eq!(without_unconfirmed(&on_101, &[blocks_2()], Side::Left), on_101);
    }

    #[test]
    fn an_added_relation_is_traced_to_the_source_relation_it_translates() {
        let types = |t: &str| (t == "Blocks").then(|| DEP.to_string());
        let peer = |id: &EntityId| id.as_str().strip_prefix("APP-").map(|n| e(&format!("10{n}")));
        let map = RelationMap { hierarchy: true, link_type: &types, peer: &peer };
        let source = vec![link("Relates", true, "APP-3"), link("Blocks", true, "APP-2"), parent("APP-5")];
        assert_eq!(intent_of(&link(DEP, true, "102"), &source, Side::Left, &map), Some(blocks_2()));
        assert_eq!(intent_of(&parent("105"), &source, Side::Left, &map), Some(parent_5()));
        assert_eq!(intent_of(&link(DEP, true, "109"), &source, Side::Left, &map), None);
    }
}
