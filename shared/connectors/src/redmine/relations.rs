//! An issue's parent and its relations to other issues (docs/system-apis.md, Redmine).
//!
//! - Parent: the issue's `parent.id`; set with `PUT /issues/{id}.json`
//!   `{"issue": {"parent_issue_id": N}}`, removed with `null`.
//! - Relations: `include=relations` lists every relation the issue is at either end of.
//!   Redmine stores a relation one way round: `blocked`, `duplicated`, `follows` and
//!   `copied_from` are kept as `blocks`, `duplicates`, `precedes` and `copied_to` from
//!   the other issue. A relation reads as [`Relation::Link`] of that stored type, outward
//!   when this issue is its `issue_id`; `relates` has no direction and is outward from
//!   both ends.
//! - Add: `POST /issues/{from}/relations.json` with `{"relation": {"issue_to_id", "relation_type"}}`,
//!   from this issue for an outward link, from the other for an inward one. Redmine
//!   allows one relation between two issues; an equal one present is not an error.
//! - Remove: `DELETE /relations/{rid}.json` of the matching relation (a 404: gone).

use super::wire::{Issue, RelationDto};
use super::{issue_id, RedmineConnector};
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityId, ErrorCategory, Relation, Scope};
use reqwest::Method;
use serde_json::{json, Map, Value};

/// Relation types without a direction.
const SYMMETRIC: &[&str] = &["relates"];
/// The reverse names Redmine accepts and stores as their forward type the other way round.
const REVERSE: &[(&str, &str)] =
    &[("blocked", "blocks"), ("duplicated", "duplicates"), ("follows", "precedes"), ("copied_from", "copied_to")];

/// A relation of issue `me` as Ferry sees it.
fn link_of(me: u64, r: &RelationDto) -> Relation {
    let outward = r.issue_id == me || SYMMETRIC.contains(&r.relation_type.as_str());
    let other = if r.issue_id == me { r.issue_to_id } else { r.issue_id };
    Relation::Link { link_type: r.relation_type.clone(), outward, other: EntityId::new(other.to_string()) }
}

/// The relations of `issue`: its parent first, then its links by relation id.
pub(super) fn relations_of(issue: &Issue) -> Vec<Relation> {
    let mut rels: Vec<&RelationDto> = issue.relations.iter().collect();
    rels.sort_by_key(|r| r.id);
    let parent = issue.parent.as_ref().map(|p| Relation::Parent { parent: EntityId::new(p.id.to_string()) });
    parent.into_iter().chain(rels.into_iter().map(|r| link_of(issue.id, r))).collect()
}

/// A link's type in its stored form, and whether it points from this issue.
fn stored(link_type: &str, outward: bool) -> (String, bool) {
    let t = link_type.trim().to_ascii_lowercase();
    match REVERSE.iter().find(|(reverse, _)| *reverse == t) {
        Some((_, forward)) => (forward.to_string(), !outward),
        None => {
            let outward = outward || SYMMETRIC.contains(&t.as_str());
            (t, outward)
        }
    }
}

/// Whether `r` of issue `me` is the link `link_type`/`outward` to `other`.
fn matches(me: u64, r: &RelationDto, link_type: &str, outward: bool, other: u64) -> bool {
    let (t, outward) = stored(link_type, outward);
    if r.relation_type != t {
        return false;
    }
    let (from, to) = if outward { (me, other) } else { (other, me) };
    (r.issue_id, r.issue_to_id) == (from, to)
        || (SYMMETRIC.contains(&t.as_str()) && (r.issue_id, r.issue_to_id) == (to, from))
}

impl RedmineConnector {
    pub(super) async fn list_relations(&self, _scope: &Scope, id: &EntityId) -> PortResult<Vec<Relation>> {
        let issue = self.must_read_collab(issue_id(id)?).await?;
        Ok(relations_of(&issue))
    }

    async fn set_parent(&self, id: u64, parent: Option<u64>) -> PortResult<()> {
        let mut body = Map::new();
        body.insert("parent_issue_id".into(), parent.map_or(Value::Null, Value::from));
        self.put_issue(id, body).await
    }

    pub(super) async fn add_relation_to(&self, _scope: &Scope, id: &EntityId, relation: &Relation) -> PortResult<()> {
        let me = issue_id(id)?;
        let issue = self.must_read_collab(me).await?;
        match relation {
            Relation::Parent { parent } => {
                let parent = issue_id(parent)?;
                if issue.parent.as_ref().is_some_and(|p| p.id == parent) {
                    return Ok(());
                }
                self.set_parent(me, Some(parent)).await
            }
            Relation::Link { link_type, outward, other } => {
                let other = issue_id(other)?;
                if issue.relations.iter().any(|r| matches(me, r, link_type, *outward, other)) {
                    return Ok(());
                }
                let (t, outward) = stored(link_type, *outward);
                let (from, to) = if outward { (me, other) } else { (other, me) };
                let url = self.url(&format!("issues/{from}/relations.json"), &[])?;
                let body = json!({ "relation": { "issue_to_id": to, "relation_type": t } });
                self.http.send(Method::POST, url, Some(&body), None).await.map_err(|e| {
                    let message = format!("relating Redmine issue {from} to {to} ({t}): {}", e.message);
                    ferry_domain::PortError { message, ..e }
                })?;
                Ok(())
            }
        }
    }

    pub(super) async fn remove_relation_from(
        &self,
        _scope: &Scope,
        id: &EntityId,
        relation: &Relation,
    ) -> PortResult<()> {
        let me = issue_id(id)?;
        let Some(issue) = self.read_collab(me).await? else { return Ok(()) };
        match relation {
            Relation::Parent { parent } => {
                let parent = issue_id(parent)?;
                if issue.parent.as_ref().is_none_or(|p| p.id != parent) {
                    return Ok(());
                }
                self.set_parent(me, None).await
            }
            Relation::Link { link_type, outward, other } => {
                let other = issue_id(other)?;
                let Some(r) = issue.relations.iter().find(|r| matches(me, r, link_type, *outward, other)) else {
                    return Ok(());
                };
                let url = self.url(&format!("relations/{}.json", r.id), &[])?;
                match self.http.send(Method::DELETE, url, None, None).await {
                    Err(e) if e.category == ErrorCategory::NotFound => Ok(()),
                    Err(e) => Err(e),
                    Ok(_) => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(id: u64, from: u64, to: u64, t: &str) -> RelationDto {
        RelationDto { id, issue_id: from, issue_to_id: to, relation_type: t.into() }
    }

    fn link(t: &str, outward: bool, other: u64) -> Relation {
        Relation::Link { link_type: t.into(), outward, other: EntityId::new(other.to_string()) }
    }

    #[test]
    fn a_relation_reads_from_either_end_with_its_direction() {
        let table = [
            (rel(1, 10, 20, "blocks"), 10, link("blocks", true, 20)),
            (rel(1, 10, 20, "blocks"), 20, link("blocks", false, 10)),
            (rel(1, 10, 20, "precedes"), 20, link("precedes", false, 10)),
            (rel(1, 10, 20, "relates"), 10, link("relates", true, 20)),
            (rel(1, 10, 20, "relates"), 20, link("relates", true, 10)),
        ];
        for (r, me, want) in table {
            assert_eq!(link_of(me, &r), want, "{r:?} from {me}");
        }
    }

    #[test]
    fn reverse_names_are_the_forward_type_the_other_way_round() {
        assert_eq!(stored("blocked", true), ("blocks".into(), false));
        assert_eq!(stored("Blocks", false), ("blocks".into(), false));
        assert_eq!(stored("relates", false), ("relates".into(), true));
        assert_eq!(stored("follows", false), ("precedes".into(), true));
    }

    #[test]
    fn a_link_matches_only_its_stored_relation() {
        let r = rel(1, 10, 20, "blocks");
        assert!(matches(10, &r, "blocks", true, 20));
        assert!(matches(10, &r, "blocked", false, 20), "a reverse name of the same relation");
        assert!(!matches(10, &r, "blocks", false, 20), "the other direction");
        assert!(!matches(10, &r, "precedes", true, 20));
        assert!(matches(20, &rel(1, 10, 20, "relates"), "relates", true, 10), "relates has no direction");
    }
}
