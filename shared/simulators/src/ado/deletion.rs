//! Work item deletion: `DELETE workitems/{id}` moves the item to the recycle bin (or
//! destroys it with `destroy=true`); reads answer 404 afterwards, and the items it was
//! linked to lose the link (an update that keeps their revision, as for any far end).

use super::api::{not_found, parse_bool, parse_id, render_item, Render};
use super::model::{fmt_date, DeletedItem, Item};
use super::{Call, Inner, Reply};
use serde_json::{json, Value};

fn reference(inner: &Inner, d: &DeletedItem, with_resource: bool) -> Value {
    let item = &d.item;
    let snap = item.current();
    let by = inner
        .seed
        .users
        .iter()
        .find(|u| u.id == d.by_user)
        .map(|u| format!("{} <{}>", u.display_name, u.email))
        .unwrap_or_default();
    let project = inner.seed.projects.iter().find(|p| p.id == item.project_id).map(|p| p.name.clone());
    let mut o = json!({
        "id": item.id,
        "code": 200,
        "deletedBy": by,
        "deletedDate": fmt_date(d.at),
        "name": snap.fields.get("System.Title").cloned().unwrap_or(Value::Null),
        "project": project,
        "type": item.type_name,
        "url": format!("{}/_apis/wit/recycleBin/{}", inner.base, item.id),
    });
    if with_resource {
        o["resource"] = render_item(inner, item, snap, &Render { fields: None, relations: true, links: true });
    }
    o
}

/// `DELETE …/workitems/{id}[?destroy=true]`: 200 with a `WorkItemDelete`.
pub(crate) fn delete(inner: &Inner, call: &Call, id: &str) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let id = parse_id(id)?;
        let destroy = parse_bool(call, "destroy")?;
        let mut store = inner.store();
        let item: &Item = store.items.get(&id).ok_or_else(|| not_found(id))?;
        if call.project.is_some_and(|p| p.id != item.project_id) {
            return Err(not_found(id));
        }
        let links = item.current().relations.clone();
        let item = store.items.remove(&id).ok_or_else(|| not_found(id))?;
        let at = store.next_ts();
        super::relations::update_far_ends(inner, &mut store, &call.user.id, id, &[], &links, at);
        let deleted = DeletedItem { item, by_user: call.user.id.clone(), at };
        let out = reference(inner, &deleted, true);
        if !destroy {
            store.deleted.insert(id, deleted);
        }
        Ok(Reply::ok(out))
    };
    run().unwrap_or_else(|e| e)
}

fn project_of<'a>(call: &'a Call) -> Result<&'a super::AdoProject, Reply> {
    call.project.ok_or_else(|| {
        super::api::bad_request("A project is required: /{organization}/{project}/_apis/wit/recyclebin.")
    })
}

/// `GET …/recyclebin` (shallow references) or `…/recyclebin?ids=` (`WorkItemDelete`s).
pub(crate) fn list(inner: &Inner, call: &Call) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let project = project_of(call)?;
        let store = inner.store();
        let in_project = store.deleted.values().filter(|d| d.item.project_id == project.id);
        match call.params.get("ids") {
            None => Ok(Reply::list(
                in_project
                    .map(|d| json!({"id": d.item.id, "url": format!("{}/_apis/wit/recycleBin/{}", inner.base, d.item.id)}))
                    .collect(),
            )),
            Some(ids) => {
                let wanted: Vec<u64> = ids.split(',').map(|s| parse_id(s.trim())).collect::<Result<_, _>>()?;
                Ok(Reply::list(in_project.filter(|d| wanted.contains(&d.item.id)).map(|d| reference(inner, d, false)).collect()))
            }
        }
    };
    run().unwrap_or_else(|e| e)
}

/// `GET …/recyclebin/{id}` (`WorkItemDelete`).
pub(crate) fn get(inner: &Inner, call: &Call, id: &str) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let project = project_of(call)?;
        let id = parse_id(id)?;
        let store = inner.store();
        let d = store.deleted.get(&id).filter(|d| d.item.project_id == project.id).ok_or_else(|| not_found(id))?;
        Ok(Reply::ok(reference(inner, d, true)))
    };
    run().unwrap_or_else(|e| e)
}
