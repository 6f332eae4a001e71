//! A work item's parent and links to other work items (docs/system-apis.md §3.9), and the
//! read-modify-write of its `relations` that attachments share.
//!
//! - Read: `GET …/workitems/{id}?$expand=relations`. `System.LinkTypes.Hierarchy-Reverse`
//!   is the parent; `Hierarchy-Forward` (a child) is not reported, the child reports its
//!   parent; `X-Forward` / `X-Reverse` are a link of type `X` from its outward / inward
//!   end; a type without ends (`System.LinkTypes.Related`) is outward. Only links to work
//!   items of this organization count (not remote links, hyperlinks, artifacts, files).
//! - Write: one JSON Patch of the work item: `add /relations/-` (a new parent removes the
//!   old one in the same document: an item has one parent), `remove /relations/{index}`.
//!   A document that removes starts with `test /rev`, since an index holds only at the
//!   revision it was read at; a stale revision reads the relations again.

use super::markup;
use super::snapshot::work_item_id;
use super::AdoConnector;
use ferry_domain::ports::PortResult;
use ferry_domain::{EntityId, ErrorCategory, PortError, Relation, Scope};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use url::Url;

const PARENT: &str = "System.LinkTypes.Hierarchy-Reverse";
const CHILD: &str = "System.LinkTypes.Hierarchy-Forward";
const JSON_PATCH: &str = "application/json-patch+json";
/// Reads of the relations when the revision keeps moving under a guarded patch.
const ATTEMPTS: usize = 3;

/// A work item with its relations.
#[derive(Debug, Deserialize)]
pub(super) struct WithRelations {
    #[serde(default)]
    pub rev: Option<u64>,
    #[serde(default)]
    pub relations: Option<Vec<RelationDto>>,
}

impl WithRelations {
    pub fn relations(&self) -> &[RelationDto] {
        self.relations.as_deref().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct RelationDto {
    pub rel: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

/// Which patches of [`AdoConnector::edit_relations`] carry `test /rev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Guard {
    /// Those that remove (an index read from a moved revision could name another relation).
    Removals,
    /// Every one (an add whose duplicate must not be made by two racing upserts).
    Always,
}

/// What [`AdoConnector::edit_relations`] did.
pub(super) enum Edit {
    /// The work item does not exist.
    Missing,
    /// The plan found nothing to change.
    Unchanged,
    /// The patch was applied.
    Applied,
}

/// The id of a work item URL of this organization (`{base}[{project}/]_apis/wit/workItems/{id}`).
fn work_item_ref(url: &str, base: &Url) -> Option<u64> {
    let url = base.join(url.trim()).ok()?;
    let same_site = url.scheme() == base.scheme()
        && url.host_str().map(str::to_ascii_lowercase) == base.host_str().map(str::to_ascii_lowercase)
        && url.port_or_known_default() == base.port_or_known_default();
    let path = url.path().to_ascii_lowercase();
    let rest = path.strip_prefix(&base.path().to_ascii_lowercase()).filter(|_| same_site)?;
    match rest.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>().as_slice() {
        ["_apis", "wit", "workitems", id] | [_, "_apis", "wit", "workitems", id] => id.parse().ok(),
        _ => None,
    }
}

/// A relation as Ferry reports it; `None` for what it does not sync.
fn read_relation(r: &RelationDto, base: &Url) -> Option<Relation> {
    let other = EntityId::new(work_item_ref(&r.url, base)?.to_string());
    let rel = r.rel.as_str();
    if rel.eq_ignore_ascii_case(PARENT) {
        return Some(Relation::Parent { parent: other });
    }
    if rel.eq_ignore_ascii_case(CHILD) {
        return None;
    }
    let (link_type, outward) = match (ends_with(rel, "-Forward"), ends_with(rel, "-Reverse")) {
        (Some(t), _) => (t, true),
        (_, Some(t)) => (t, false),
        _ => (rel, true),
    };
    Some(Relation::Link { link_type: link_type.to_string(), outward, other })
}

/// `s` without `suffix` (any case).
fn ends_with<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    (s.is_char_boundary(cut) && s[cut..].eq_ignore_ascii_case(suffix)).then(|| &s[..cut])
}

/// The `rel` that writes `relation`, and the work item it points at.
fn rel_of(relation: &Relation) -> PortResult<(String, u64)> {
    let (rel, other) = match relation {
        Relation::Parent { parent } => (PARENT.to_string(), parent),
        Relation::Link { link_type, outward, other } => {
            let rel = if ferry_domain::is_symmetric_link_type(link_type) {
                link_type.clone()
            } else {
                format!("{link_type}-{}", if *outward { "Forward" } else { "Reverse" })
            };
            (rel, other)
        }
    };
    Ok((rel, work_item_id(other)?))
}

/// The index of the relation `rel` to work item `other` among `relations`.
fn position(relations: &[RelationDto], rel: &str, other: u64, base: &Url) -> Option<usize> {
    relations.iter().position(|r| r.rel.eq_ignore_ascii_case(rel) && work_item_ref(&r.url, base) == Some(other))
}

impl AdoConnector {
    /// `{base}_apis/wit/workItems/{id}`, as links name their target.
    fn work_item_api_url(&self, id: u64) -> String {
        let mut url = self.base.clone();
        if let Ok(mut s) = url.path_segments_mut() {
            s.pop_if_empty().extend(["_apis", "wit", "workItems", &id.to_string()]);
        }
        url.to_string()
    }

    /// The work item with its relations; `None` when it does not exist.
    pub(super) async fn read_relations(&self, project: &str, wid: u64) -> PortResult<Option<WithRelations>> {
        let url = self.wit(project, &["workitems", &wid.to_string()], &[("$expand", "relations")])?;
        match self.get_json::<WithRelations>(url, "ADO work item relations").await {
            Ok(item) => Ok(Some(item)),
            // A missing project (TF200016) is a configuration error, not a missing item.
            Err(e) if e.category == ErrorCategory::NotFound && !e.message.contains("TF200016") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends a JSON Patch of the work item's relations; the answer holds them.
    pub(super) async fn patch_relations(&self, project: &str, wid: u64, ops: Vec<Value>) -> PortResult<WithRelations> {
        let url = self.wit(project, &["workitems", &wid.to_string()], &[("$expand", "relations")])?;
        self.send_json(Method::PATCH, url, &Value::Array(ops), Some(JSON_PATCH), "ADO relations").await
    }

    /// Reads the relations and applies the operations `plan` makes of them (`None`:
    /// nothing to do). The patches `guard` names carry `test /rev`; when the revision
    /// moved since the read (someone saved in between), it reads again (a few times).
    pub(super) async fn edit_relations(
        &self,
        project: &str,
        wid: u64,
        plan: &(dyn Fn(&[RelationDto]) -> Option<Vec<Value>> + Send + Sync),
        guard: Guard,
    ) -> PortResult<Edit> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(item) = self.read_relations(project, wid).await? else { return Ok(Edit::Missing) };
            let Some(mut ops) = plan(item.relations()) else { return Ok(Edit::Unchanged) };
            if guard == Guard::Always || ops.iter().any(|o| o["op"] == "remove") {
                let rev = item.rev.ok_or_else(|| {
                    PortError::new(ErrorCategory::BadResponse, format!("work item {wid} was read without its rev"))
                })?;
                ops.insert(0, json!({ "op": "test", "path": "/rev", "value": rev }));
            }
            match self.patch_relations(project, wid, ops).await {
                Err(e) if e.category == ErrorCategory::Conflict && attempt < ATTEMPTS => continue,
                Err(e) if e.category == ErrorCategory::NotFound && e.message.contains("TF401232") => {
                    // Deleted between the read and the patch (a missing link target
                    // answers the same code with another id, so check).
                    if self.read_relations(project, wid).await?.is_none() {
                        return Ok(Edit::Missing);
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
                Ok(_) => return Ok(Edit::Applied),
            }
        }
    }

    pub(super) async fn list_relations(&self, scope: &Scope, id: &EntityId) -> PortResult<Vec<Relation>> {
        let wid = work_item_id(id)?;
        let item = self
            .read_relations(&scope.project, wid)
            .await?
            .ok_or_else(|| PortError::new(ErrorCategory::NotFound, format!("work item {wid} not found")))?;
        Ok(item.relations().iter().filter_map(|r| read_relation(r, &self.base)).collect())
    }

    /// Adds the relation unless present; a new parent replaces the old one.
    pub(super) async fn link(&self, scope: &Scope, id: &EntityId, relation: &Relation) -> PortResult<()> {
        let wid = work_item_id(id)?;
        let (rel, other) = rel_of(relation)?;
        let url = self.work_item_api_url(other);
        let is_parent = matches!(relation, Relation::Parent { .. });
        let plan = |relations: &[RelationDto]| -> Option<Vec<Value>> {
            if position(relations, &rel, other, &self.base).is_some() {
                return None;
            }
            let mut ops = Vec::new();
            if is_parent {
                // Highest index first: each removal leaves the earlier indexes as read.
                for (i, _) in relations.iter().enumerate().rev().filter(|(_, r)| r.rel.eq_ignore_ascii_case(PARENT)) {
                    ops.push(json!({ "op": "remove", "path": format!("/relations/{i}") }));
                }
            }
            ops.push(json!({ "op": "add", "path": "/relations/-", "value": { "rel": rel, "url": url } }));
            Some(ops)
        };
        match self.edit_relations(&scope.project, wid, &plan, Guard::Removals).await {
            Ok(Edit::Applied | Edit::Unchanged) => Ok(()),
            Ok(Edit::Missing) => Err(PortError::new(ErrorCategory::NotFound, format!("work item {wid} not found"))),
            // Added meanwhile by someone else (TF201035: the relation already exists).
            Err(e) if e.message.contains("TF201035") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes the relation; one already gone (or a work item gone) is not an error.
    pub(super) async fn unlink(&self, scope: &Scope, id: &EntityId, relation: &Relation) -> PortResult<()> {
        let wid = work_item_id(id)?;
        let (rel, other) = rel_of(relation)?;
        let plan = |relations: &[RelationDto]| -> Option<Vec<Value>> {
            let i = position(relations, &rel, other, &self.base)?;
            Some(vec![json!({ "op": "remove", "path": format!("/relations/{i}") })])
        };
        self.edit_relations(&scope.project, wid, &plan, Guard::Removals).await.map(|_| ())
    }
}

/// The attachment id of an `AttachedFile` relation.
pub(super) fn attached_file(r: &RelationDto, base: &Url) -> Option<String> {
    if r.rel.eq_ignore_ascii_case("AttachedFile") {
        markup::attachment_id(&r.url, base)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://dev.azure.com/acme/").expect("url")
    }

    fn dto(rel: &str, url: &str) -> RelationDto {
        RelationDto { rel: rel.into(), url: url.into(), attributes: Map::new() }
    }

    fn link(t: &str, outward: bool, other: &str) -> Option<Relation> {
        Some(Relation::Link { link_type: t.into(), outward, other: EntityId::new(other) })
    }

    #[test]
    fn relations_read_as_parents_and_links_of_this_organizations_work_items() {
        let item = "https://dev.azure.com/acme/_apis/wit/workItems/7";
        let cases = [
            (dto(PARENT, item), Some(Relation::Parent { parent: EntityId::new("7") })),
            (
                dto("system.linktypes.hierarchy-reverse", "https://dev.azure.com/acme/App/_apis/wit/workitems/7"),
                Some(Relation::Parent { parent: EntityId::new("7") }),
            ),
            (dto(CHILD, item), None),
            (dto("System.LinkTypes.Dependency-Forward", item), link("System.LinkTypes.Dependency", true, "7")),
            (dto("System.LinkTypes.Dependency-Reverse", item), link("System.LinkTypes.Dependency", false, "7")),
            (dto("System.LinkTypes.Related", item), link("System.LinkTypes.Related", true, "7")),
            (dto("System.LinkTypes.Remote.Related", "https://dev.azure.com/other/_apis/wit/workItems/7"), None),
            (dto("Hyperlink", "https://jira.test/browse/APP-1"), None),
            (
                dto(
                    "AttachedFile",
                    "https://dev.azure.com/acme/_apis/wit/attachments/3f1c9a6e-2b7d-4e0a-9c51-7a8d2e6b4f10",
                ),
                None,
            ),
            (dto("ArtifactLink", "vstfs:///Git/Commit/1%2F2%2F3"), None),
        ];
        for (r, want) in cases {
            assert_eq!(read_relation(&r, &base()), want, "{} {}", r.rel, r.url);
        }
    }

    #[test]
    fn relations_are_written_with_their_end() {
        let e = EntityId::new;
        let cases = [
            (Relation::Parent { parent: e("7") }, PARENT),
            (
                Relation::Link { link_type: "System.LinkTypes.Dependency".into(), outward: true, other: e("7") },
                "System.LinkTypes.Dependency-Forward",
            ),
            (
                Relation::Link { link_type: "System.LinkTypes.Dependency".into(), outward: false, other: e("7") },
                "System.LinkTypes.Dependency-Reverse",
            ),
            (
                Relation::Link { link_type: "System.LinkTypes.Related".into(), outward: false, other: e("7") },
                "System.LinkTypes.Related",
            ),
        ];
        for (r, want) in cases {
            assert_eq!(rel_of(&r).expect("written"), (want.to_string(), 7), "{r:?}");
        }
        let bad = Relation::Parent { parent: e("APP-1") };
        assert_eq!(rel_of(&bad).expect_err("not a work item id").category, ErrorCategory::InvalidRequest);
    }
}
