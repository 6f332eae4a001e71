//! Which targets a batch of write commands reads ahead, and in which groups.
//!
//! An update reads its target before it writes (the three-way comparison needs the
//! target's values). A batch reads those targets together, one request per group
//! ([`ferry_domain::ports::Connector::get_many`]), instead of one per command. A target
//! read ahead is read at the start of the batch, not right before its write, so only a
//! command no other command of the batch can change the target of takes part: an
//! update of a linked pair whose two entities no other command of the batch names,
//! as its source or its target, in either flow. (A second command of the same pair
//! must see the first one's write; a create or an unlinked update may link or write
//! either entity.) A group of one target is not read ahead: its command reads it right
//! before its write, for the same one request.

use ferry_domain::{EntityId, FieldKey, Flow, IntegrationId, Side};
use std::collections::{BTreeMap, HashMap};

/// What the rule needs to know of one write command of the batch.
#[derive(Debug, Clone)]
pub(crate) struct Command<'a> {
    pub integration: &'a IntegrationId,
    pub flow: Flow,
    pub source: &'a EntityId,
    /// The target it reaches: the linked one, else the one it names (`None`: a create,
    /// or its link is not known yet).
    pub target: Option<&'a EntityId>,
    /// It reads its linked `target` before updating it (linked, and not collab-only).
    pub reads_linked_target: bool,
    /// The target fields it reads.
    pub fields: &'a [FieldKey],
}

/// One read ahead: the targets of `integration`'s `side`, read with `fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetRead {
    pub integration: IntegrationId,
    pub side: Side,
    pub fields: Vec<FieldKey>,
    pub ids: Vec<EntityId>,
}

/// The reads ahead of a batch's commands: one per integration, target side and field
/// list with two targets or more, each target once, in the order of the batch.
pub(crate) fn target_reads(commands: &[Command<'_>]) -> Vec<TargetRead> {
    let mut named: HashMap<(&IntegrationId, Side, &EntityId), usize> = HashMap::new();
    for c in commands {
        *named.entry((c.integration, c.flow.source(), c.source)).or_default() += 1;
        if let Some(t) = c.target {
            *named.entry((c.integration, c.flow.target(), t)).or_default() += 1;
        }
    }
    let alone = |i, side, id| named.get(&(i, side, id)) == Some(&1);
    let mut groups: BTreeMap<(&IntegrationId, Side, &[FieldKey]), Vec<EntityId>> = BTreeMap::new();
    for c in commands {
        let Some(target) = c.target.filter(|_| c.reads_linked_target) else { continue };
        if alone(c.integration, c.flow.source(), c.source) && alone(c.integration, c.flow.target(), target) {
            groups.entry((c.integration, c.flow.target(), c.fields)).or_default().push(target.clone());
        }
    }
    groups
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|((integration, side, fields), ids)| TargetRead {
            integration: integration.clone(),
            side,
            fields: fields.to_vec(),
            ids,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> EntityId {
        EntityId::new(s)
    }

    fn integration(s: &str) -> IntegrationId {
        IntegrationId::parse(s).unwrap()
    }

    #[test]
    fn targets_are_read_ahead_only_for_linked_updates_no_other_command_of_the_batch_names() {
        let (a, b) = (integration("jira-ado"), integration("jira-redmine"));
        let f = [FieldKey::new("summary")];
        let g = [FieldKey::new("summary"), FieldKey::new("priority")];
        let ids: Vec<EntityId> =
            ["1", "2", "3", "4", "5", "6", "7", "8", "10", "20", "30", "40", "50", "60", "70", "80"]
                .into_iter()
                .map(id)
                .collect();
        let n = |s: &str| ids.iter().find(|x| x.as_str() == s).unwrap();
        let linked = |i, flow, s, t, fields| Command {
            integration: i,
            flow,
            source: n(s),
            target: Some(n(t)),
            reads_linked_target: true,
            fields,
        };
        type Case<'a> = (&'a str, Vec<Command<'a>>, Vec<(IntegrationId, Side, Vec<&'a str>)>);
        let l2r = |s, t| linked(&a, Flow::LeftToRight, s, t, &f);
        let cases: Vec<Case> = vec![
            ("no commands read nothing", vec![], vec![]),
            (
                "linked updates of distinct pairs are read in one group, in batch order",
                vec![l2r("2", "20"), l2r("1", "10")],
                vec![(a.clone(), Side::Right, vec!["20", "10"])],
            ),
            ("a lone linked update reads its target itself, right before its write", vec![l2r("1", "10")], vec![]),
            (
                "each flow reads the side it writes",
                vec![
                    l2r("1", "10"),
                    l2r("2", "20"),
                    linked(&a, Flow::RightToLeft, "30", "3", &f),
                    linked(&a, Flow::RightToLeft, "40", "4", &f),
                ],
                vec![(a.clone(), Side::Left, vec!["3", "4"]), (a.clone(), Side::Right, vec!["10", "20"])],
            ),
            (
                "two commands of one source read their target themselves",
                vec![l2r("1", "10"), l2r("1", "10"), l2r("2", "20"), l2r("3", "30")],
                vec![(a.clone(), Side::Right, vec!["20", "30"])],
            ),
            (
                "both flows of one pair read their targets themselves",
                vec![l2r("1", "10"), linked(&a, Flow::RightToLeft, "10", "1", &f), l2r("2", "20"), l2r("3", "30")],
                vec![(a.clone(), Side::Right, vec!["20", "30"])],
            ),
            (
                "a collab-only command of the pair keeps the update from reading ahead",
                vec![
                    l2r("1", "10"),
                    Command { reads_linked_target: false, ..linked(&a, Flow::RightToLeft, "10", "1", &[]) },
                    l2r("2", "20"),
                    l2r("3", "30"),
                ],
                vec![(a.clone(), Side::Right, vec!["20", "30"])],
            ),
            (
                "collab-only commands read nothing themselves",
                vec![
                    Command { reads_linked_target: false, ..l2r("3", "30") },
                    Command { reads_linked_target: false, ..l2r("4", "40") },
                ],
                vec![],
            ),
            (
                "a create from an entity of the pair keeps the update from reading ahead",
                vec![
                    l2r("4", "40"),
                    Command {
                        target: None,
                        reads_linked_target: false,
                        ..linked(&a, Flow::RightToLeft, "40", "4", &f)
                    },
                    l2r("2", "20"),
                    l2r("3", "30"),
                ],
                vec![(a.clone(), Side::Right, vec!["20", "30"])],
            ),
            (
                "an unlinked update naming the target keeps the update from reading ahead",
                vec![
                    l2r("5", "50"),
                    Command { reads_linked_target: false, ..l2r("6", "50") },
                    l2r("2", "20"),
                    l2r("3", "30"),
                ],
                vec![(a.clone(), Side::Right, vec!["20", "30"])],
            ),
            (
                "a create of another entity does not stop others",
                vec![
                    l2r("7", "70"),
                    Command { target: None, reads_linked_target: false, ..l2r("8", "80") },
                    l2r("2", "20"),
                ],
                vec![(a.clone(), Side::Right, vec!["70", "20"])],
            ),
            (
                "the same ids in two integrations are different pairs, read in groups of their own",
                vec![
                    l2r("1", "10"),
                    l2r("2", "20"),
                    linked(&b, Flow::LeftToRight, "1", "10", &f),
                    linked(&b, Flow::LeftToRight, "2", "20", &f),
                ],
                vec![(a.clone(), Side::Right, vec!["10", "20"]), (b.clone(), Side::Right, vec!["10", "20"])],
            ),
            (
                "commands reading different fields are read in groups of their own",
                vec![
                    l2r("1", "10"),
                    linked(&a, Flow::LeftToRight, "2", "20", &g),
                    l2r("3", "30"),
                    linked(&a, Flow::LeftToRight, "4", "40", &g),
                ],
                vec![(a.clone(), Side::Right, vec!["10", "30"]), (a.clone(), Side::Right, vec!["20", "40"])],
            ),
        ];
        for (name, commands, want) in cases {
            let got: Vec<(IntegrationId, Side, Vec<String>)> = target_reads(&commands)
                .into_iter()
                .map(|r| (r.integration, r.side, r.ids.iter().map(|i| i.as_str().to_string()).collect()))
                .collect();
            let want: Vec<(IntegrationId, Side, Vec<String>)> =
                want.into_iter().map(|(i, s, ids)| (i, s, ids.into_iter().map(str::to_string).collect())).collect();
            assert_eq!(got, want, "{name}");
        }
        let read = &target_reads(&[
            linked(&a, Flow::LeftToRight, "1", "10", &g),
            linked(&a, Flow::LeftToRight, "2", "20", &g),
        ])[0];
        assert_eq!(read.fields, g, "a read asks for the fields its commands read");
    }
}
