//! Work item relations: the relation types, what an `add /relations/-` may add, the
//! hierarchy rules, and the far end of a work item link.
//!
//! A work item link is stored on both items. The item the patch edits gets a new revision
//! (its update lists the relation under `relations.added|removed`); the item at the other
//! end gets the opposite relation and an update with the same revision number and no field
//! changes, as Microsoft's updates example shows (docs/system-apis.md §3.9).

use super::model::{fmt_date, Item, Store, UpdateRec, FAR_FUTURE};
use super::{Inner, Reply};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// One relation type (`WorkItemRelationType`).
pub(crate) struct RelType {
    pub reference: &'static str,
    pub name: &'static str,
    /// The other end's type, for work item links (`None`: a resource link).
    pub opposite: Option<&'static str>,
    attributes: &'static str,
}

macro_rules! link {
    ($r:expr, $n:expr, $o:expr, $a:expr) => {
        RelType { reference: $r, name: $n, opposite: Some($o), attributes: $a }
    };
}

const TREE_F: &str = r#"{"usage":"workItemLink","editable":false,"enabled":true,"acyclic":true,"directional":true,"singleTarget":false,"topology":"tree","isForward":true}"#;
const TREE_R: &str = r#"{"usage":"workItemLink","editable":false,"enabled":true,"acyclic":true,"directional":true,"singleTarget":false,"topology":"tree","isForward":false}"#;
const DEP_F: &str = r#"{"usage":"workItemLink","editable":false,"enabled":true,"acyclic":true,"directional":true,"singleTarget":true,"topology":"dependency","isForward":true}"#;
const DEP_R: &str = r#"{"usage":"workItemLink","editable":false,"enabled":true,"acyclic":true,"directional":true,"singleTarget":true,"topology":"dependency","isForward":false}"#;
const CUSTOM_F: &str = r#"{"usage":"workItemLink","editable":true,"enabled":true,"acyclic":true,"directional":true,"singleTarget":true,"topology":"dependency","isForward":true}"#;
const CUSTOM_R: &str = r#"{"usage":"workItemLink","editable":true,"enabled":true,"acyclic":true,"directional":true,"singleTarget":true,"topology":"dependency","isForward":false}"#;
const NETWORK: &str = r#"{"usage":"workItemLink","editable":false,"enabled":true,"acyclic":false,"directional":false,"singleTarget":true,"topology":"network"}"#;
const RESOURCE: &str = r#"{"usage":"resourceLink","editable":false,"enabled":true}"#;

/// The relation types of Microsoft's `workItemRelationTypes` example, in its order.
pub(crate) const TYPES: &[RelType] = &[
    link!("Microsoft.VSTS.Common.Affects-Forward", "Affects", "Microsoft.VSTS.Common.Affects-Reverse", CUSTOM_F),
    link!("Microsoft.VSTS.Common.Affects-Reverse", "Affected By", "Microsoft.VSTS.Common.Affects-Forward", CUSTOM_R),
    link!(
        "Microsoft.VSTS.TestCase.SharedParameterReferencedBy-Forward",
        "Referenced By",
        "Microsoft.VSTS.TestCase.SharedParameterReferencedBy-Reverse",
        CUSTOM_F
    ),
    link!(
        "Microsoft.VSTS.TestCase.SharedParameterReferencedBy-Reverse",
        "References",
        "Microsoft.VSTS.TestCase.SharedParameterReferencedBy-Forward",
        CUSTOM_R
    ),
    link!("Microsoft.VSTS.Common.TestedBy-Forward", "Tested By", "Microsoft.VSTS.Common.TestedBy-Reverse", CUSTOM_F),
    link!("Microsoft.VSTS.Common.TestedBy-Reverse", "Tests", "Microsoft.VSTS.Common.TestedBy-Forward", CUSTOM_R),
    link!(
        "Microsoft.VSTS.TestCase.SharedStepReferencedBy-Forward",
        "Test Case",
        "Microsoft.VSTS.TestCase.SharedStepReferencedBy-Reverse",
        CUSTOM_F
    ),
    link!(
        "Microsoft.VSTS.TestCase.SharedStepReferencedBy-Reverse",
        "Shared Steps",
        "Microsoft.VSTS.TestCase.SharedStepReferencedBy-Forward",
        CUSTOM_R
    ),
    link!("System.LinkTypes.Duplicate-Forward", "Duplicate", "System.LinkTypes.Duplicate-Reverse", TREE_F),
    link!("System.LinkTypes.Duplicate-Reverse", "Duplicate Of", "System.LinkTypes.Duplicate-Forward", TREE_R),
    link!("System.LinkTypes.Dependency-Forward", "Successor", "System.LinkTypes.Dependency-Reverse", DEP_F),
    link!("System.LinkTypes.Dependency-Reverse", "Predecessor", "System.LinkTypes.Dependency-Forward", DEP_R),
    link!("System.LinkTypes.Hierarchy-Forward", "Child", "System.LinkTypes.Hierarchy-Reverse", TREE_F),
    link!("System.LinkTypes.Hierarchy-Reverse", "Parent", "System.LinkTypes.Hierarchy-Forward", TREE_R),
    link!("System.LinkTypes.Related", "Related", "System.LinkTypes.Related", NETWORK),
    RelType { reference: "AttachedFile", name: "Attached File", opposite: None, attributes: RESOURCE },
    RelType { reference: "Hyperlink", name: "Hyperlink", opposite: None, attributes: RESOURCE },
    RelType { reference: "ArtifactLink", name: "Artifact Link", opposite: None, attributes: RESOURCE },
];

pub(crate) const PARENT: &str = "System.LinkTypes.Hierarchy-Reverse";
pub(crate) const CHILD: &str = "System.LinkTypes.Hierarchy-Forward";

pub(crate) fn find(rel: &str) -> Option<&'static RelType> {
    TYPES.iter().find(|t| t.reference.eq_ignore_ascii_case(rel))
}

/// `WorkItemRelationType`.
pub(crate) fn type_json(base: &str, t: &RelType) -> Value {
    let mut attributes: Value = serde_json::from_str(t.attributes).unwrap_or_else(|_| json!({}));
    if let (Some(o), Some(opposite)) = (attributes.as_object_mut(), t.opposite) {
        if opposite != t.reference {
            o.insert("oppositeEndReferenceName".into(), json!(opposite));
        }
    }
    json!({
        "attributes": attributes,
        "referenceName": t.reference,
        "name": t.name,
        "url": format!("{base}/_apis/wit/workItemRelationTypes/{}", t.reference),
    })
}

fn invalid(message: String) -> Reply {
    Reply::error(400, "VssPropertyValidationException", message)
}

/// The id of a work item URL of this organization (`…/_apis/wit/workItems/{id}`).
pub(crate) fn work_item_id(inner: &Inner, url: &str) -> Option<u64> {
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with(&inner.base.to_ascii_lowercase()) {
        return None;
    }
    let (_, id) = lower.split_once("/_apis/wit/workitems/")?;
    id.trim_end_matches('/').parse().ok()
}

/// The attachment id of an attachment URL of this organization
/// (`…/_apis/wit/attachments/{id}[?fileName=…]`), lower case.
pub(crate) fn attachment_id(inner: &Inner, url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with(&inner.base.to_ascii_lowercase()) {
        return None;
    }
    let (_, rest) = lower.split_once("/_apis/wit/attachments/")?;
    let id = rest.split(['?', '/']).next()?;
    uuid::Uuid::parse_str(id).ok().map(|u| u.to_string())
}

/// The relation an `add /relations/-` stores, checked: a known type, a url, no duplicate;
/// a work item link must point at another existing work item, an `AttachedFile` at an
/// uploaded file (the service fills in its attributes).
pub(crate) fn to_add(inner: &Inner, store: &Store, id: i64, value: &Value, current: &[Value]) -> Result<Value, Reply> {
    let r =
        value.as_object().ok_or_else(|| invalid("The relation must be an object {rel, url, attributes}.".into()))?;
    let rel = r.get("rel").and_then(Value::as_str).unwrap_or_default();
    let t = find(rel).ok_or_else(|| {
        Reply::error(
            400,
            "WorkItemLinkTypeNotFoundException",
            format!("TF201037: The link type '{rel}' does not exist."),
        )
    })?;
    let url = r.get("url").and_then(Value::as_str).unwrap_or_default().trim();
    if url.is_empty() {
        return Err(invalid("The relation needs a url.".into()));
    }
    if current
        .iter()
        .any(|x| x["rel"] == json!(t.reference) && x["url"].as_str().is_some_and(|u| u.eq_ignore_ascii_case(url)))
    {
        return Err(Reply::error(
            400,
            "WorkItemLinkAlreadyExistsException",
            format!("TF201035: The {} relation to '{url}' already exists on work item {id}.", t.reference),
        ));
    }
    let mut attributes = r.get("attributes").and_then(Value::as_object).cloned().unwrap_or_default();
    match (t.opposite, t.reference) {
        (Some(_), _) => {
            let target = work_item_id(inner, url).ok_or_else(|| {
                invalid(format!("The relation url '{url}' is not a work item URL of this organization ({}/_apis/wit/workItems/{{id}}).", inner.base))
            })?;
            if !store.items.contains_key(&target) {
                return Err(super::api::not_found(target));
            }
            if target as i64 == id {
                return Err(invalid(format!("TF201036: Work item {id} cannot be linked to itself.")));
            }
            attributes.insert("name".into(), json!(t.name));
        }
        (None, "AttachedFile") => attributes = attached_file_attributes(inner, store, url, attributes)?,
        (None, "ArtifactLink") if !attributes.contains_key("name") => {
            return Err(invalid("An ArtifactLink needs attributes.name (the link type name).".into()));
        }
        _ => {}
    }
    attributes.entry("isLocked").or_insert(json!(false));
    Ok(json!({"rel": t.reference, "url": url, "attributes": attributes}))
}

fn attached_file_attributes(
    inner: &Inner,
    store: &Store,
    url: &str,
    given: Map<String, Value>,
) -> Result<Map<String, Value>, Reply> {
    let file = attachment_id(inner, url).and_then(|a| store.attachments.get(&a)).filter(|a| a.complete());
    let file = file.ok_or_else(|| super::attachments::not_found(url))?;
    let now = fmt_date(Utc::now());
    let mut a = Map::new();
    a.insert("authorizedDate".into(), json!(now));
    a.insert("id".into(), json!(file.file_id));
    a.insert("resourceCreatedDate".into(), json!(fmt_date(file.created)));
    a.insert("resourceModifiedDate".into(), json!(fmt_date(file.created)));
    a.insert("revisedDate".into(), json!(FAR_FUTURE));
    a.insert("resourceSize".into(), json!(file.data.len()));
    a.insert("name".into(), given.get("name").cloned().unwrap_or_else(|| json!(file.name)));
    if let Some(c) = given.get("comment") {
        a.insert("comment".into(), c.clone());
    }
    Ok(a)
}

fn link_target(inner: &Inner, r: &Value) -> Option<(&'static RelType, u64)> {
    let t = find(r["rel"].as_str()?)?;
    t.opposite?;
    Some((t, work_item_id(inner, r["url"].as_str()?)?))
}

/// The parent id of a relation set (its `Hierarchy-Reverse` link).
pub(crate) fn parent_of(inner: &Inner, relations: &[Value]) -> Option<u64> {
    relations.iter().filter_map(|r| link_target(inner, r)).find(|(t, _)| t.reference == PARENT).map(|(_, id)| id)
}

fn parent_in_store(inner: &Inner, store: &Store, id: u64) -> Option<u64> {
    store.items.get(&id).and_then(|i| parent_of(inner, &i.current().relations))
}

/// The hierarchy rules on the relations an item will have: one parent at most, a child
/// that has no other parent, no cycle.
pub(crate) fn check_hierarchy(
    inner: &Inner,
    store: &Store,
    id: u64,
    relations: &[Value],
    old: &[Value],
) -> Result<(), Reply> {
    let links: Vec<(&RelType, u64)> = relations.iter().filter_map(|r| link_target(inner, r)).collect();
    let parents: Vec<u64> = links.iter().filter(|(t, _)| t.reference == PARENT).map(|(_, p)| *p).collect();
    let one_parent = |a: u64, b: u64, kind: &str| {
        Reply::error(
            400,
            "WorkItemLinkInvalidException",
            format!("TF201036: You cannot add a {kind} link between work items {a} and {b} because a work item can have only one Parent link."),
        )
    };
    if parents.len() > 1 {
        return Err(one_parent(id, parents[1], "Parent"));
    }
    let new_children = links.iter().filter(|(t, c)| {
        t.reference == CHILD
            && !old.iter().any(|o| link_target(inner, o).is_some_and(|(ot, oc)| ot.reference == CHILD && oc == *c))
    });
    for (_, child) in new_children {
        if parent_in_store(inner, store, *child).is_some_and(|p| p != id) {
            return Err(one_parent(id, *child, "Child"));
        }
        if ancestors(inner, store, id, parents.first().copied()).contains(child) {
            return Err(cycle(id, *child));
        }
    }
    if let Some(p) = parents.first() {
        if *p == id || ancestors(inner, store, *p, parent_in_store(inner, store, *p)).contains(&id) {
            return Err(cycle(id, *p));
        }
    }
    Ok(())
}

fn cycle(a: u64, b: u64) -> Reply {
    Reply::error(
        400,
        "WorkItemLinkCircularException",
        format!("TF201063: You cannot add a link between work items {a} and {b} because it would create a circular relationship."),
    )
}

/// `start` and its ancestors (its parent is `parent`, the others' come from the store).
fn ancestors(inner: &Inner, store: &Store, start: u64, parent: Option<u64>) -> Vec<u64> {
    let mut out = vec![start];
    let mut next = parent;
    while let Some(p) = next {
        if out.contains(&p) {
            break;
        }
        out.push(p);
        next = parent_in_store(inner, store, p);
    }
    out
}

/// Gives the items at the far end of the work item links `added` to / `removed` from item
/// `id` the opposite relation, each with an update that keeps its revision.
pub(crate) fn update_far_ends(
    inner: &Inner,
    store: &mut Store,
    user: &str,
    id: u64,
    added: &[Value],
    removed: &[Value],
    at: DateTime<Utc>,
) {
    let own_url = format!("{}/_apis/wit/workItems/{id}", inner.base);
    let changes = added.iter().map(|r| (r, true)).chain(removed.iter().map(|r| (r, false)));
    for (r, is_add) in changes {
        let Some((t, target)) = link_target(inner, r) else { continue };
        let Some(opposite) = t.opposite.and_then(find) else { continue };
        let Some(item) = store.items.get_mut(&target) else { continue };
        let mut attributes = Map::new();
        attributes.insert("isLocked".into(), json!(false));
        attributes.insert("name".into(), json!(opposite.name));
        if let Some(c) = r.pointer("/attributes/comment") {
            attributes.insert("comment".into(), c.clone());
        }
        let far = json!({"rel": opposite.reference, "url": own_url, "attributes": attributes});
        far_end_change(inner, item, far, is_add, user, at);
    }
}

fn far_end_change(inner: &Inner, item: &mut Item, far: Value, is_add: bool, user: &str, at: DateTime<Utc>) {
    let rev = item.rev();
    let Some(snap) = item.revisions.last_mut() else { return };
    let same = |x: &Value| {
        x["rel"] == far["rel"]
            && x["url"].as_str().map(str::to_ascii_lowercase) == far["url"].as_str().map(str::to_ascii_lowercase)
    };
    let stored = if is_add {
        if snap.relations.iter().any(same) {
            return;
        }
        snap.relations.push(far.clone());
        far
    } else {
        let Some(pos) = snap.relations.iter().position(same) else { return };
        snap.relations.remove(pos)
    };
    match parent_of(inner, &snap.relations) {
        Some(p) => snap.fields.insert("System.Parent".into(), json!(p)),
        None => snap.fields.remove("System.Parent"),
    };
    let key = if is_add { "added" } else { "removed" };
    item.updates.push(UpdateRec {
        rev,
        by_user: user.to_string(),
        fields: Map::new(),
        relations: Some(json!({ key: [stored] })),
        at,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_work_item_link_type_has_an_opposite_that_points_back() {
        for t in TYPES.iter().filter(|t| t.opposite.is_some()) {
            let o = t.opposite.and_then(find).expect("opposite exists");
            assert_eq!(o.opposite, Some(t.reference), "{}", t.reference);
        }
        assert_eq!(find("system.linktypes.hierarchy-reverse").map(|t| t.name), Some("Parent"));
        assert!(find("Nope").is_none());
    }

    #[test]
    fn relation_types_render_their_opposite_end() {
        let v = type_json("http://x/acme", find(PARENT).expect("parent type"));
        assert_eq!(v["attributes"]["oppositeEndReferenceName"], CHILD);
        assert_eq!(v["attributes"]["topology"], "tree");
        let related = type_json("http://x/acme", find("System.LinkTypes.Related").expect("related"));
        assert!(related["attributes"].get("oppositeEndReferenceName").is_none());
    }
}
