//! Whether the two systems of an integration can do the collaboration keys it asks for
//! (`comments`, `attachments`, `hierarchy`, `links`). Checked once both systems' kinds
//! are known (they may be declared in another file), against each kind's static
//! abilities ([`ferry_domain::SystemKind::abilities`]): the config crate knows kinds,
//! never connectors, and a file is validated without reaching any server.

use ferry_domain::{Collaboration, KindAbilities, SystemKind};

/// One key an integration asks of a system that cannot do it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The key under the integration, e.g. `hierarchy`, `attachments.max_size`, `links[1].right`.
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

/// A side of the integration: its system's id, kind and abilities.
pub struct SideKind<'a> {
    pub system: &'a str,
    pub kind: SystemKind,
    pub abilities: KindAbilities,
}

/// Every key of `c` that one of the two systems cannot do. A key needs the ability on
/// both sides whatever its direction: the source's is read, the target's written.
pub fn refusals(c: &Collaboration, left: &SideKind, right: &SideKind) -> Vec<Refusal> {
    let mut out = Vec::new();
    for side in [left, right] {
        let can = side.abilities.capabilities;
        let asked = [
            ("comments", c.comments.is_some(), can.comments, "comments"),
            ("attachments", c.attachments.is_some(), can.attachments, "attachments"),
            ("hierarchy", c.hierarchy.is_some(), can.hierarchy, "parents and children"),
            ("links", !c.links.is_empty(), can.links, "links between work items"),
        ];
        for (key, wanted, able, what) in asked {
            if wanted && !able {
                out.push(Refusal {
                    key: key.into(),
                    message: format!("{} ({}) has no {what}", side.system, side.kind),
                    hint: Some(format!("remove `{key}:` from this integration")),
                });
            }
        }
        if let (Some(a), Some(max)) = (c.attachments, side.abilities.max_attachment) {
            if a.max_size > max {
                out.push(Refusal {
                    key: "attachments.max_size".into(),
                    message: format!(
                        "max_size is {} bytes, but {} ({}) takes files of at most {max} bytes",
                        a.max_size, side.system, side.kind
                    ),
                    hint: Some("files over max_size are linked instead of copied: set it at or below the limit".into()),
                });
            }
        }
    }
    for (i, pair) in c.links.iter().enumerate() {
        for (side, (end, name)) in [(left, ("left", &pair.left)), (right, ("right", &pair.right))] {
            if let Some(problem) = side.kind.link_type_problem(name) {
                out.push(Refusal { key: format!("links[{i}].{end}"), message: problem, hint: None });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_domain::{AttachmentRule, Capabilities, Direction, LinkTypePair, OnTargetDeleted};

    fn side(system: &'static str, kind: SystemKind, abilities: KindAbilities) -> SideKind<'static> {
        SideKind { system, kind, abilities }
    }

    /// A kind that has comments and attachments (at most 10 MB) but no parents or links.
    fn flat() -> KindAbilities {
        let capabilities = Capabilities { comments: true, attachments: true, ..Capabilities::default() };
        KindAbilities { capabilities, max_attachment: Some(10 << 20) }
    }

    fn collab(f: impl FnOnce(&mut Collaboration)) -> Collaboration {
        let mut c = Collaboration { on_target_deleted: OnTargetDeleted::Unlink, ..Collaboration::default() };
        f(&mut c);
        c
    }

    fn links(pairs: &[(&str, &str)]) -> Vec<LinkTypePair> {
        pairs.iter().map(|(l, r)| LinkTypePair { left: l.to_string(), right: r.to_string() }).collect()
    }

    /// (what, left, right, collaboration, refused keys, a fragment of the first message)
    type Case<'a> = (&'a str, &'a SideKind<'a>, &'a SideKind<'a>, Collaboration, Vec<&'a str>, &'a str);

    #[test]
    fn keys_a_paired_kind_cannot_do_are_refused_at_their_key() {
        let jira = side("jira", SystemKind::Jira, SystemKind::Jira.abilities());
        let ado = side("ado", SystemKind::AzureDevops, SystemKind::AzureDevops.abilities());
        let redmine = side("redmine", SystemKind::Redmine, SystemKind::Redmine.abilities());
        let flat = side("flat", SystemKind::Redmine, flat());
        let attachments = |max_size| AttachmentRule { direction: Direction::Both, max_size };
        let table: Vec<Case> = vec![
            ("nothing asked", &jira, &flat, collab(|_| {}), vec![], ""),
            (
                "everything Jira and Azure DevOps both do",
                &jira,
                &ado,
                collab(|c| {
                    c.comments = Some(Direction::Both);
                    c.attachments = Some(attachments(100 << 20));
                    c.hierarchy = Some(Direction::Both);
                    c.links =
                        links(&[("Blocks", "System.LinkTypes.Dependency"), ("Relates", "System.LinkTypes.Related")]);
                }),
                vec![],
                "",
            ),
            (
                "hierarchy toward a kind without parents",
                &jira,
                &flat,
                collab(|c| c.hierarchy = Some(Direction::LeftToRight)),
                vec!["hierarchy"],
                "flat (redmine) has no parents and children",
            ),
            (
                "links on a kind without links",
                &flat,
                &ado,
                collab(|c| c.links = links(&[("relates", "System.LinkTypes.Related")])),
                vec!["links"],
                "has no links between work items",
            ),
            (
                "max_size over a kind's limit",
                &ado,
                &flat,
                collab(|c| c.attachments = Some(attachments(11 << 20))),
                vec!["attachments.max_size"],
                "takes files of at most 10485760 bytes",
            ),
            ("max_size at the limit", &ado, &flat, collab(|c| c.attachments = Some(attachments(10 << 20))), vec![], ""),
            (
                "max_size over Jira Cloud's 2 GB",
                &jira,
                &ado,
                collab(|c| c.attachments = Some(attachments(3 << 30))),
                vec!["attachments.max_size"],
                "jira (jira) takes files of at most",
            ),
            (
                "an Azure DevOps link type named by one end",
                &jira,
                &ado,
                collab(|c| c.links = links(&[("Blocks", "System.LinkTypes.Dependency-Forward")])),
                vec!["links[0].right"],
                "names one end (-Forward)",
            ),
            (
                "parent and child as a link type",
                &jira,
                &ado,
                collab(|c| {
                    c.links =
                        links(&[("Relates", "System.LinkTypes.Related"), ("Parent", "System.LinkTypes.Hierarchy")])
                }),
                vec!["links[1].right"],
                "use `hierarchy:`",
            ),
            (
                "a relation type Redmine does not have",
                &redmine,
                &jira,
                collab(|c| c.links = links(&[("blocks", "Blocks"), ("clones", "Cloners")])),
                vec!["links[1].left"],
                "Redmine has no relation type \"clones\"",
            ),
        ];
        for (what, left, right, c, keys, fragment) in table {
            let got = refusals(&c, left, right);
            let got_keys: Vec<&str> = got.iter().map(|r| r.key.as_str()).collect();
            assert_eq!(got_keys, keys, "{what}: {got:?}");
            if let Some(first) = got.first() {
                assert!(first.message.contains(fragment), "{what}: {}", first.message);
            }
        }
    }
}
