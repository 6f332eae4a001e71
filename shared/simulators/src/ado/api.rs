//! Endpoint handlers.

use super::model::{
    allowed_values_wire, field_json, field_ref, fmt_date, identity, identity_reference, AdoField, AdoWorkItemType,
    Item, Snapshot, Store, FAR_FUTURE,
};
use super::patch::{self, Target};
use super::wiql;
use super::{Call, Inner, Reply};
use crate::common::SimUser;
use chrono::Utc;
use serde_json::{json, Value};
use std::cmp::Ordering;

/// Most work items one batch or list call returns (service limit).
const MAX_BATCH: usize = 200;
/// Most work items one WIQL query returns (service limit, VS402337).
const MAX_WIQL: usize = 20_000;
/// Tenant the demo identities belong to.
const DOMAIN: &str = "2b5c3f8e-5a7d-4c1e-9f0a-acme00000000";

pub(crate) fn not_found(id: u64) -> Reply {
    Reply::error(
        404,
        "WorkItemUnauthorizedAccessException",
        format!("TF401232: Work item {id} does not exist, or you do not have permissions to read it."),
    )
}

pub(crate) fn bad_request(message: impl Into<String>) -> Reply {
    Reply::error(400, "VssPropertyValidationException", message)
}

pub(crate) fn require_content_type(call: &Call, want: &str) -> Result<(), Reply> {
    let got = call.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let media = got.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case(want) {
        Ok(())
    } else {
        Err(Reply::error(
            415,
            "VssRequestContentTypeNotSupportedException",
            format!(
                "The request indicated a Content-Type of \"{got}\" for method type \"{}\" which is not supported. Valid content types for this method are: {want}.",
                call.method
            ),
        ))
    }
}

fn json_body(call: &Call) -> Result<Value, Reply> {
    serde_json::from_slice(call.body).map_err(|e| bad_request(format!("The request body is not valid JSON: {e}.")))
}

fn patch_body(call: &Call) -> Result<Value, Reply> {
    serde_json::from_slice(call.body).map_err(|_| {
        Reply::error(
            400,
            "VssPropertyValidationException",
            "You must pass a valid patch document in the body of the request.",
        )
    })
}

pub(crate) fn parse_bool(call: &Call, name: &str) -> Result<bool, Reply> {
    match call.params.get(name) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(bad_request(format!("The value '{v}' of query parameter {name} is not a boolean."))),
    }
}

pub(crate) fn parse_num(call: &Call, name: &str) -> Result<Option<usize>, Reply> {
    match call.params.get(name) {
        None | Some("") => Ok(None),
        Some(v) => v.parse::<usize>().map(Some).map_err(|_| {
            bad_request(format!("The value '{v}' of query parameter {name} is not a non-negative integer."))
        }),
    }
}

fn field_by_name<'a>(inner: &'a Inner, name: &str) -> Option<&'a AdoField> {
    inner.seed.fields.iter().find(|f| f.reference_name.eq_ignore_ascii_case(name) || f.name.eq_ignore_ascii_case(name))
}

fn unknown_field(name: &str) -> Reply {
    Reply::error(400, "WorkItemTrackingFieldDefinitionNotFoundException", format!("TF51535: Cannot find field {name}."))
}

/// What a work item rendering includes.
pub(crate) struct Render {
    pub fields: Option<Vec<String>>,
    pub relations: bool,
    pub links: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expand {
    None,
    Relations,
    Fields,
    Links,
    All,
}

fn parse_expand(v: Option<&str>) -> Result<Expand, Reply> {
    Ok(match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("none") => Expand::None,
        Some("relations") => Expand::Relations,
        Some("fields") => Expand::Fields,
        Some("links") => Expand::Links,
        Some("all") => Expand::All,
        Some(other) => {
            let msg = format!("The $expand value '{other}' is not valid; use none, relations, fields, links or all.");
            return Err(bad_request(msg));
        }
    })
}

fn parse_fields(inner: &Inner, names: Vec<String>) -> Result<Option<Vec<String>>, Reply> {
    let names: Vec<String> = names.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    if names.is_empty() {
        return Ok(None);
    }
    names
        .iter()
        .map(|n| field_by_name(inner, n).map(|f| f.reference_name.clone()).ok_or_else(|| unknown_field(n)))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

pub(crate) fn render_item(inner: &Inner, item: &Item, snap: &Snapshot, r: &Render) -> Value {
    let base = &inner.base;
    let id = item.id;
    let fields: serde_json::Map<String, Value> = match &r.fields {
        Some(list) => list
            .iter()
            .filter_map(|f| {
                let v = match f.as_str() {
                    "System.Id" => json!(id),
                    "System.Rev" => json!(snap.rev),
                    other => snap.fields.get(other)?.clone(),
                };
                Some((f.clone(), v))
            })
            .collect(),
        None => snap.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    };
    let fields = fields.into_iter().filter(|(k, _)| inner.type_has(&item.type_name, k)).collect();
    let mut out = serde_json::Map::new();
    out.insert("id".into(), json!(id));
    out.insert("rev".into(), json!(snap.rev));
    out.insert("fields".into(), Value::Object(fields));
    if r.relations && !snap.relations.is_empty() {
        out.insert("relations".into(), json!(snap.relations));
    }
    if let Some(c) = item.comments.iter().rev().find(|c| c.rev <= snap.rev) {
        let (cid, version) = (c.id, c.versions.len());
        out.insert(
            "commentVersionRef".into(),
            json!({
                "commentId": cid,
                "version": version,
                "url": format!("{base}/{}/_apis/wit/workItems/{id}/comments/{cid}/versions/{version}", item.project_id),
            }),
        );
    }
    if r.links {
        out.insert(
            "_links".into(),
            json!({
                "self": {"href": format!("{base}/_apis/wit/workItems/{id}")},
                "workItemUpdates": {"href": format!("{base}/_apis/wit/workItems/{id}/updates")},
                "workItemRevisions": {"href": format!("{base}/_apis/wit/workItems/{id}/revisions")},
                "workItemComments": {"href": format!("{base}/_apis/wit/workItems/{id}/comments")},
                "html": {"href": format!("{base}/{}/_workitems/edit/{id}", item.project_id)},
                "workItemType": {"href": format!("{base}/{}/_apis/wit/workItemTypes/{}", item.project_id, item.type_name)},
                "fields": {"href": format!("{base}/_apis/wit/fields")},
            }),
        );
    }
    out.insert("url".into(), json!(format!("{base}/_apis/wit/workItems/{id}")));
    Value::Object(out)
}

fn parse_as_of(v: Option<&str>) -> Result<Option<chrono::DateTime<Utc>>, Reply> {
    match v {
        None | Some("") => Ok(None),
        Some(s) => wiql::parse_time(s)
            .map(Some)
            .ok_or_else(|| bad_request(format!("The asOf value '{s}' is not a valid date."))),
    }
}

/// The shared core of batch, list and single get.
fn fetch(
    inner: &Inner,
    ids: &[u64],
    fields: Option<Vec<String>>,
    expand: Expand,
    as_of: Option<chrono::DateTime<Utc>>,
    omit_missing: bool,
    single: bool,
) -> Result<Vec<Value>, Reply> {
    if fields.is_some() && expand != Expand::None {
        return Err(Reply::error(
            400,
            "ConflictingParametersException",
            "The expand parameter can not be used with the fields parameter.",
        ));
    }
    let render = Render {
        fields,
        relations: matches!(expand, Expand::Relations | Expand::All),
        links: single || matches!(expand, Expand::Links | Expand::All),
    };
    let store = inner.store();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let found = store.items.get(id).and_then(|item| {
            let snap = match as_of {
                Some(t) => item.as_of(t)?,
                None => item.current(),
            };
            Some(render_item(inner, item, snap, &render))
        });
        match found {
            Some(v) => out.push(v),
            None if omit_missing => out.push(Value::Null),
            None => return Err(not_found(*id)),
        }
    }
    Ok(out)
}

fn check_ids(ids: &[u64]) -> Result<(), Reply> {
    if ids.is_empty() {
        return Err(bad_request("Value cannot be null or empty. Parameter name: ids"));
    }
    if ids.len() > MAX_BATCH {
        return Err(bad_request(format!(
            "VS402335: The number of work items requested ({}) exceeds the limit of {MAX_BATCH}.",
            ids.len()
        )));
    }
    Ok(())
}

fn parse_error_policy(v: Option<&str>) -> Result<bool, Reply> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("fail") => Ok(false),
        Some("omit") => Ok(true),
        Some(other) => Err(bad_request(format!("The errorPolicy value '{other}' is not valid; use fail or omit."))),
    }
}

pub(crate) fn batch(inner: &Inner, call: &Call) -> Reply {
    let run = || -> Result<Reply, Reply> {
        require_content_type(call, "application/json")?;
        let body = json_body(call)?;
        let ids: Vec<u64> = match body.get("ids") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_u64().ok_or_else(|| bad_request("ids must be an array of positive integers.")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad_request("ids must be an array of positive integers.")),
        };
        check_ids(&ids)?;
        let names: Vec<String> = match body.get("fields") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Some(_) => return Err(bad_request("fields must be an array of field reference names.")),
        };
        let fields = parse_fields(inner, names)?;
        let expand = parse_expand(body.get("$expand").and_then(Value::as_str))?;
        let as_of = parse_as_of(body.get("asOf").and_then(Value::as_str))?;
        let omit = parse_error_policy(body.get("errorPolicy").and_then(Value::as_str))?;
        Ok(Reply::list(fetch(inner, &ids, fields, expand, as_of, omit, false)?))
    };
    run().unwrap_or_else(|e| e)
}

fn split_list(s: Option<&str>) -> Vec<String> {
    s.unwrap_or_default().split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
}

pub(crate) fn list(inner: &Inner, call: &Call) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let ids: Vec<u64> = split_list(call.params.get("ids"))
            .iter()
            .map(|s| s.parse::<u64>().map_err(|_| bad_request(format!("The id '{s}' is not a valid work item id."))))
            .collect::<Result<_, _>>()?;
        check_ids(&ids)?;
        let fields = parse_fields(inner, split_list(call.params.get("fields")))?;
        let expand = parse_expand(call.params.get("$expand"))?;
        let as_of = parse_as_of(call.params.get("asOf"))?;
        let omit = parse_error_policy(call.params.get("errorPolicy"))?;
        Ok(Reply::list(fetch(inner, &ids, fields, expand, as_of, omit, false)?))
    };
    run().unwrap_or_else(|e| e)
}

pub(crate) fn parse_id(s: &str) -> Result<u64, Reply> {
    s.parse::<u64>().map_err(|_| bad_request(format!("The work item id '{s}' is not a valid integer.")))
}

pub(crate) fn get(inner: &Inner, call: &Call, id: &str) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let id = parse_id(id)?;
        let fields = parse_fields(inner, split_list(call.params.get("fields")))?;
        let expand = parse_expand(call.params.get("$expand"))?;
        let as_of = parse_as_of(call.params.get("asOf"))?;
        let mut v = fetch(inner, &[id], fields, expand, as_of, false, true)?;
        Ok(Reply::ok(v.pop().unwrap_or(Value::Null)))
    };
    run().unwrap_or_else(|e| e)
}

fn patch_response(inner: &Inner, applied: patch::Applied) -> Result<Reply, Reply> {
    let render = Render { fields: None, relations: true, links: true };
    if let Some((item, snap)) = applied.preview {
        return Ok(Reply::ok(render_item(inner, &item, &snap, &render)));
    }
    let store = inner.store();
    let item = store.items.get(&applied.id).ok_or_else(|| not_found(applied.id))?;
    Ok(Reply::ok(render_item(inner, item, item.current(), &render)))
}

pub(crate) fn create(inner: &Inner, call: &Call, type_name: &str) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let project = call.project.ok_or_else(|| {
            bad_request("A project is required to create a work item: POST /{organization}/{project}/_apis/wit/workitems/${type}.")
        })?;
        let ty =
            inner.seed.work_item_types.iter().find(|t| t.name.eq_ignore_ascii_case(type_name)).ok_or_else(|| {
                Reply::error(
                    404,
                    "WorkItemTypeNotFoundException",
                    format!("VS402323: Work item type {type_name} does not exist in project {}.", project.name),
                )
            })?;
        require_content_type(call, "application/json-patch+json")?;
        parse_expand(call.params.get("$expand"))?;
        let validate_only = parse_bool(call, "validateOnly")?;
        parse_bool(call, "bypassRules")?;
        parse_bool(call, "suppressNotifications")?;
        let body = patch_body(call)?;
        let applied = {
            let mut store = inner.store();
            patch::apply(inner, &mut store, call.user, Target::Create { project, ty }, &body, validate_only, None)?
        };
        patch_response(inner, applied)
    };
    run().unwrap_or_else(|e| e)
}

pub(crate) fn update(inner: &Inner, call: &Call, id: &str) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let id = parse_id(id)?;
        require_content_type(call, "application/json-patch+json")?;
        parse_expand(call.params.get("$expand"))?;
        let validate_only = parse_bool(call, "validateOnly")?;
        parse_bool(call, "bypassRules")?;
        parse_bool(call, "suppressNotifications")?;
        let body = patch_body(call)?;
        let applied = {
            let mut store = inner.store();
            let item = store.items.get(&id).ok_or_else(|| not_found(id))?;
            if let Some(p) = call.project {
                if item.project_id != p.id {
                    return Err(not_found(id));
                }
            }
            if !validate_only && tests_rev(&body) && inner.faults.take_stale_revision() {
                edit_in_between(inner, &mut store, call.user, id)?;
            }
            patch::apply(inner, &mut store, call.user, Target::Update { id }, &body, validate_only, None)?
        };
        patch_response(inner, applied)
    };
    run().unwrap_or_else(|e| e)
}

/// Whether a patch document guards on the revision (`{"op": "test", "path": "/rev"}`).
fn tests_rev(body: &Value) -> bool {
    body.as_array().is_some_and(|ops| {
        ops.iter().any(|o| {
            o.get("op").and_then(Value::as_str).is_some_and(|k| k.eq_ignore_ascii_case("test"))
                && o.get("path").and_then(Value::as_str).is_some_and(|p| p.eq_ignore_ascii_case("/rev"))
        })
    })
}

/// The stale-revision fault: another person saves the item (a discussion comment, a new
/// revision) just before the caller's guarded update is applied.
fn edit_in_between(inner: &Inner, store: &mut Store, caller: &SimUser, id: u64) -> Result<(), Reply> {
    let Some(editor) = inner.seed.users.iter().find(|u| u.active && u.id != caller.id) else {
        return Ok(());
    };
    let ops = json!([{"op": "add", "path": "/fields/System.History", "value": "Looked at this in the meantime."}]);
    patch::apply(inner, store, editor, Target::Update { id }, &ops, false, None).map(|_| ())
}

fn page(call: &Call, values: Vec<Value>) -> Result<Vec<Value>, Reply> {
    let skip = parse_num(call, "$skip")?.unwrap_or(0);
    let top = parse_num(call, "$top")?.unwrap_or(200);
    Ok(values.into_iter().skip(skip).take(top).collect())
}

pub(crate) fn updates(inner: &Inner, call: &Call, id: &str, number: Option<&str>) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let id = parse_id(id)?;
        let store = inner.store();
        let item = store.items.get(&id).ok_or_else(|| not_found(id))?;
        let base = &inner.base;
        let rendered: Vec<Value> = item
            .updates
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let by = inner
                    .seed
                    .users
                    .iter()
                    .find(|x| x.id == u.by_user)
                    .map(|x| identity_reference(base, x))
                    .unwrap_or(Value::Null);
                let revised = item
                    .revisions
                    .get(u.rev as usize)
                    .map(|next| fmt_date(next.changed))
                    .unwrap_or_else(|| FAR_FUTURE.to_string());
                let mut o = serde_json::Map::new();
                o.insert("id".into(), json!(i + 1));
                o.insert("workItemId".into(), json!(id));
                o.insert("rev".into(), json!(u.rev));
                o.insert("revisedBy".into(), by);
                o.insert("revisedDate".into(), json!(revised));
                if !u.fields.is_empty() {
                    o.insert("fields".into(), Value::Object(u.fields.clone()));
                }
                if let Some(r) = &u.relations {
                    o.insert("relations".into(), r.clone());
                }
                o.insert(
                    "url".into(),
                    json!(format!("{base}/{}/_apis/wit/workItems/{id}/updates/{}", item.project_id, i + 1)),
                );
                Value::Object(o)
            })
            .collect();
        match number {
            None => Ok(Reply::list(page(call, rendered)?)),
            Some(n) => {
                let n: usize = n.parse().map_err(|_| bad_request(format!("The update number '{n}' is not valid.")))?;
                rendered.into_iter().nth(n.wrapping_sub(1)).map(Reply::ok).ok_or_else(|| {
                    Reply::error(
                        404,
                        "WorkItemUpdateNotFoundException",
                        format!("TF401234: Update {n} of work item {id} does not exist."),
                    )
                })
            }
        }
    };
    run().unwrap_or_else(|e| e)
}

pub(crate) fn revisions(inner: &Inner, call: &Call, id: &str, number: Option<&str>) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let id = parse_id(id)?;
        let expand = parse_expand(call.params.get("$expand"))?;
        let render = Render {
            fields: None,
            relations: matches!(expand, Expand::Relations | Expand::All),
            links: matches!(expand, Expand::Links | Expand::All),
        };
        let store = inner.store();
        let item = store.items.get(&id).ok_or_else(|| not_found(id))?;
        let one = |s: &Snapshot| {
            let mut v = render_item(inner, item, s, &render);
            v["url"] =
                json!(format!("{}/{}/_apis/wit/workItems/{id}/revisions/{}", inner.base, item.project_id, s.rev));
            v
        };
        match number {
            None => {
                let all: Vec<Value> = item.revisions.iter().map(one).collect();
                Ok(Reply::list(page(call, all)?))
            }
            Some(n) => {
                let n: u64 = n.parse().map_err(|_| bad_request(format!("The revision '{n}' is not valid.")))?;
                item.revisions.iter().find(|s| s.rev == n).map(|s| Reply::ok(one(s))).ok_or_else(|| {
                    Reply::error(
                        404,
                        "WorkItemRevisionNotFoundException",
                        format!("TF401233: Revision {n} of work item {id} does not exist."),
                    )
                })
            }
        }
    };
    run().unwrap_or_else(|e| e)
}

pub(crate) fn wiql(inner: &Inner, call: &Call) -> Reply {
    let run = || -> Result<Reply, Reply> {
        require_content_type(call, "application/json")?;
        let body = json_body(call)?;
        let text = body
            .get("query")
            .and_then(Value::as_str)
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| bad_request("Value cannot be null or empty. Parameter name: wiql.query"))?;
        let precise = parse_bool(call, "timePrecision")?;
        let top = parse_num(call, "$top")?;
        let syntax = |m: String| Reply::error(400, "WorkItemTrackingQueryException", m);
        let q = wiql::parse(text).map_err(syntax)?;
        let now = Utc::now();
        let ctx = wiql::Ctx {
            fields: &inner.seed.fields,
            time_precision: precise,
            project: call.project.map(|p| p.name.as_str()),
            me: &call.user.email,
            now,
        };
        let columns: Vec<&AdoField> =
            q.columns.iter().map(|c| ctx.field(c)).collect::<Result<_, _>>().map_err(syntax)?;
        let order: Vec<(&AdoField, bool)> =
            q.order.iter().map(|(c, d)| ctx.field(c).map(|f| (f, *d))).collect::<Result<_, _>>().map_err(syntax)?;
        let filter = q.filter.as_ref().map(|e| wiql::compile(e, &ctx)).transpose().map_err(syntax)?;
        let lag = inner.faults.search_lag();
        let cutoff = chrono::Duration::from_std(lag).ok().and_then(|d| now.checked_sub_signed(d)).unwrap_or(now);
        let store = inner.store();
        let value = |item: &Item, f: &str| -> Value {
            match f {
                "System.Id" => json!(item.id),
                "System.Rev" => json!(item.rev()),
                other => item.current().fields.get(other).cloned().unwrap_or(Value::Null),
            }
        };
        let mut hits: Vec<&Item> = store
            .items
            .values()
            .filter(|item| lag.is_zero() || item.changed() <= cutoff)
            .filter(|item| match &filter {
                None => true,
                Some(c) => wiql::eval(c, &|f: &str| value(item, f)),
            })
            .collect();
        hits.sort_by(|a, b| {
            for (f, desc) in &order {
                let o = wiql::order_values(&value(a, &f.reference_name), &value(b, &f.reference_name), f.kind);
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            a.id.cmp(&b.id)
        });
        if let Some(t) = top {
            hits.truncate(t);
        }
        if hits.len() > MAX_WIQL {
            return Err(Reply::error(
                400,
                "WorkItemTrackingQueryResultSizeLimitExceededException",
                format!("VS402337: The number of work items returned exceeds the size limits of {MAX_WIQL}. Change the query to return fewer items."),
            ));
        }
        let base = &inner.base;
        Ok(Reply::ok(json!({
            "queryType": "flat",
            "queryResultType": "workItem",
            "asOf": fmt_date(now),
            "columns": columns.iter().map(|f| field_ref(base, f)).collect::<Vec<_>>(),
            "sortColumns": order.iter().map(|(f, d)| json!({"field": field_ref(base, f), "descending": d})).collect::<Vec<_>>(),
            "workItems": hits.iter().map(|i| json!({"id": i.id, "url": format!("{base}/_apis/wit/workItems/{}", i.id)})).collect::<Vec<_>>(),
        })))
    };
    run().unwrap_or_else(|e| e)
}

pub(crate) fn fields(inner: &Inner, name: Option<&str>) -> Reply {
    match name {
        None => Reply::list(inner.seed.fields.iter().map(|f| field_json(&inner.base, f)).collect()),
        Some(n) => match field_by_name(inner, n) {
            Some(f) => Reply::ok(field_json(&inner.base, f)),
            None => Reply::error(
                404,
                "WorkItemTrackingFieldDefinitionNotFoundException",
                format!("TF51535: Cannot find field {n}."),
            ),
        },
    }
}

fn find_type<'a>(inner: &'a Inner, name: &str) -> Result<&'a AdoWorkItemType, Reply> {
    inner
        .seed
        .work_item_types
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name) || t.reference_name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            Reply::error(
                404,
                "WorkItemTypeNotFoundException",
                format!("VS402323: Work item type {name} does not exist."),
            )
        })
}

fn always_required(f: &AdoField) -> bool {
    matches!(f.reference_name.as_str(), "System.Title" | "System.State")
}

fn type_json(inner: &Inner, project_id: &str, t: &AdoWorkItemType) -> Value {
    let base = &inner.base;
    let fields: Vec<Value> = inner
        .seed
        .fields
        .iter()
        .map(|f| {
            json!({
                "alwaysRequired": always_required(f),
                "referenceName": f.reference_name,
                "name": f.name,
                "url": format!("{base}/_apis/wit/fields/{}", f.reference_name),
            })
        })
        .collect();
    let mut transitions = serde_json::Map::new();
    for s in &t.states {
        let mut to: Vec<Value> = vec![json!({"to": s.name, "actions": null})];
        to.extend(t.states.iter().filter(|o| o.name != s.name).map(|o| json!({"to": o.name, "actions": null})));
        transitions.insert(s.name.clone(), Value::Array(to));
    }
    if let Some(first) = t.states.first() {
        transitions.insert(String::new(), json!([{"to": first.name, "actions": null}]));
    }
    let url = format!("{base}/{project_id}/_apis/wit/workItemTypes/{}", t.name);
    json!({
        "name": t.name,
        "referenceName": t.reference_name,
        "description": t.description,
        "color": t.color,
        "icon": {"id": t.icon, "url": format!("{base}/_apis/wit/workItemIcons/{}?color={}&v=2", t.icon, t.color)},
        "isDisabled": false,
        "fieldInstances": fields,
        "fields": fields,
        "transitions": transitions,
        "states": t.states.iter().map(|s| json!({"name": s.name, "color": s.color, "category": s.category})).collect::<Vec<_>>(),
        "_links": {"self": {"href": url}},
        "url": url,
    })
}

fn need_project<'a>(call: &'a Call) -> Result<&'a super::AdoProject, Reply> {
    call.project.ok_or_else(|| {
        bad_request("A project is required in the path: /{organization}/{project}/_apis/wit/workitemtypes.")
    })
}

pub(crate) fn types(inner: &Inner, call: &Call, name: Option<&str>) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let project = need_project(call)?;
        match name {
            None => {
                Ok(Reply::list(inner.seed.work_item_types.iter().map(|t| type_json(inner, &project.id, t)).collect()))
            }
            Some(n) => Ok(Reply::ok(type_json(inner, &project.id, find_type(inner, n)?))),
        }
    };
    run().unwrap_or_else(|e| e)
}

pub(crate) fn states(inner: &Inner, name: &str) -> Reply {
    match find_type(inner, name) {
        Ok(t) => Reply::list(
            t.states.iter().map(|s| json!({"name": s.name, "color": s.color, "category": s.category})).collect(),
        ),
        Err(e) => e,
    }
}

pub(crate) fn type_fields(inner: &Inner, call: &Call, type_name: &str, field: Option<&str>) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let t = find_type(inner, type_name)?;
        let expand = call.params.get("$expand").map(str::to_ascii_lowercase);
        let (allowed, dependent) = match expand.as_deref() {
            None | Some("") | Some("none") => (false, false),
            Some("allowedvalues") => (true, false),
            Some("dependentfields") => (false, true),
            Some("all") => (true, true),
            Some(other) => {
                return Err(bad_request(format!(
                    "The $expand value '{other}' is not valid; use none, allowedValues, dependentFields or all."
                )))
            }
        };
        let one = |f: &AdoField| {
            let default = if f.reference_name == "System.State" {
                t.states.first().map(|s| json!(s.name)).unwrap_or(Value::Null)
            } else {
                f.default_value.as_ref().map(|v| json!(super::model::value_text(v))).unwrap_or(Value::Null)
            };
            let mut o = serde_json::Map::new();
            if let Some(h) = &f.help_text {
                o.insert("helpText".into(), json!(h));
            }
            o.insert("alwaysRequired".into(), json!(always_required(f)));
            o.insert("defaultValue".into(), default);
            if allowed {
                o.insert("allowedValues".into(), json!(allowed_values_wire(f, t)));
            }
            if dependent {
                o.insert("dependentFields".into(), json!([]));
            }
            o.insert("referenceName".into(), json!(f.reference_name));
            o.insert("name".into(), json!(f.name));
            o.insert("url".into(), json!(format!("{}/_apis/wit/fields/{}", inner.base, f.reference_name)));
            Value::Object(o)
        };
        match field {
            None => Ok(Reply::list(
                inner.seed.fields.iter().filter(|f| inner.type_has(&t.name, &f.reference_name)).map(one).collect(),
            )),
            Some(n) => field_by_name(inner, n).map(|f| Reply::ok(one(f))).ok_or_else(|| unknown_field(n)),
        }
    };
    run().unwrap_or_else(|e| e)
}

pub(crate) fn projects(inner: &Inner, call: &Call, key: Option<&str>) -> Reply {
    let base = &inner.base;
    let reference = |p: &super::AdoProject| {
        json!({
            "id": p.id,
            "name": p.name,
            "description": p.description,
            "url": format!("{base}/_apis/projects/{}", p.id),
            "state": "wellFormed",
            "revision": 1,
            "visibility": "private",
            "lastUpdateTime": fmt_date(inner.started),
        })
    };
    match key {
        None => {
            let all: Vec<Value> = inner.seed.projects.iter().map(reference).collect();
            match page(call, all) {
                Ok(v) => Reply::list(v),
                Err(e) => e,
            }
        }
        Some(k) => match inner.project(k) {
            Some(p) => {
                let mut v = reference(p);
                let team_id = uuid::Uuid::parse_str(&p.id)
                    .map(|u| uuid::Uuid::from_u128(u.as_u128() ^ 0xffff))
                    .unwrap_or_default();
                v["defaultTeam"] = json!({
                    "id": team_id.to_string(),
                    "name": format!("{} Team", p.name),
                    "url": format!("{base}/_apis/projects/{}/teams/{team_id}", p.id),
                });
                v["_links"] = json!({
                    "self": {"href": format!("{base}/_apis/projects/{}", p.id)},
                    "collection": {"href": format!("{base}/_apis/projectCollections/{DOMAIN}")},
                    "web": {"href": format!("{base}/{}", p.name)},
                });
                Reply::ok(v)
            }
            None => Reply::error(
                404,
                "ProjectDoesNotExistWithNameException",
                format!("TF200016: The following project does not exist: {k}. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server."),
            ),
        },
    }
}

pub(crate) fn identities(inner: &Inner, call: &Call) -> Reply {
    let users = inner.seed.users.iter().filter(|u| u.active);
    if let Some(q) = call.params.get("queryMembership") {
        if !["none", "direct", "expanded", "expandedup", "expandeddown"].contains(&q.to_ascii_lowercase().as_str()) {
            return bad_request(format!("The queryMembership value '{q}' is not valid."));
        }
    }
    if let Some(ids) = call.params.get("identityIds") {
        let wanted = split_list(Some(ids));
        let found: Vec<Value> = users
            .filter(|u| wanted.iter().any(|w| w.eq_ignore_ascii_case(&u.id)))
            .map(|u| identity(u, DOMAIN))
            .collect();
        return Reply::list(found);
    }
    let (Some(filter), Some(value)) = (call.params.get("searchFilter"), call.params.get("filterValue")) else {
        return Reply::error(
            400,
            "IdentitySearchParameterException",
            "Exactly one of descriptors, identityIds, subjectDescriptors or searchFilter with filterValue must be supplied.",
        );
    };
    let value = value.trim();
    let by_mail = |u: &crate::common::SimUser| u.email.eq_ignore_ascii_case(value);
    let by_name = |u: &crate::common::SimUser| u.display_name.eq_ignore_ascii_case(value);
    let matcher: Box<dyn Fn(&crate::common::SimUser) -> bool> = match filter.to_ascii_lowercase().as_str() {
        "mailaddress" | "accountname" => Box::new(by_mail),
        "displayname" => Box::new(by_name),
        "general" => Box::new(move |u| by_mail(u) || by_name(u)),
        "localgroupname" => Box::new(|_| false),
        other => return bad_request(format!("The searchFilter '{other}' is not valid; use General, MailAddress, AccountName, DisplayName or LocalGroupName.")),
    };
    Reply::list(users.filter(|u| matcher(u)).map(|u| identity(u, DOMAIN)).collect())
}
