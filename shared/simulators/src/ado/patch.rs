//! JSON Patch create and update of work items, with the rules the service enforces.

use super::model::{
    fmt_date, identity_ref, AdoField, AdoProject, AdoWorkItemType, CommentRec, CommentText, FieldKind, Item, Snapshot,
    Store, UpdateRec,
};
use super::{Inner, Reply};
use crate::common::SimUser;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub(crate) enum Target<'a> {
    Create { project: &'a AdoProject, ty: &'a AdoWorkItemType },
    Update { id: u64 },
}

/// Outcome of a patch: the id it touched and whether a new revision was stored.
pub(crate) struct Applied {
    pub id: u64,
    /// Set for `validateOnly`: the state the patch would produce, unsaved.
    pub preview: Option<(Item, Snapshot)>,
}

fn invalid_patch() -> Reply {
    Reply::error(
        400,
        "VssPropertyValidationException",
        "You must pass a valid patch document in the body of the request.",
    )
}

fn rule_error(f: &AdoField, codes: &str) -> Reply {
    Reply::error(
        400,
        "RuleValidationException",
        format!("TF401320: Rule Error for field {}. Error code: {codes}.", f.name),
    )
}

fn status_error(f: &AdoField, status: &str) -> Reply {
    Reply::error(
        400,
        "WorkItemFieldInvalidException",
        format!("TF401326: Invalid field status '{status}' for field '{}'.", f.reference_name),
    )
}

fn unknown_field(name: &str) -> Reply {
    Reply::error(400, "WorkItemTrackingFieldDefinitionNotFoundException", format!("TF51535: Cannot find field {name}."))
}

/// Resolves what identity fields accept: e-mail, unique display name, "Name <email>",
/// an IdentityRef object, the VSID, or "" / null to clear.
pub(crate) fn resolve_identity<'a>(
    users: &'a [SimUser],
    f: &AdoField,
    v: &Value,
) -> Result<Option<&'a SimUser>, Reply> {
    let active = || users.iter().filter(|u| u.active);
    let unknown = |shown: &str| {
        Reply::error(
            400,
            "RuleValidationException",
            format!(
                "TF401320: Rule Error for field {}. Error code: ValidIdentity. The identity value '{shown}' for field '{}' is an unknown identity.",
                f.name, f.name
            ),
        )
    };
    let by_text = |s: &str| -> Result<Option<&'a SimUser>, Reply> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        if let (Some(open), true) = (s.rfind('<'), s.ends_with('>')) {
            let email = s[open + 1..s.len() - 1].trim();
            return active().find(|u| u.email.eq_ignore_ascii_case(email)).map(Some).ok_or_else(|| unknown(s));
        }
        if let Some(u) = active().find(|u| u.email.eq_ignore_ascii_case(s) || u.id.eq_ignore_ascii_case(s)) {
            return Ok(Some(u));
        }
        let named: Vec<&SimUser> = active().filter(|u| u.display_name.eq_ignore_ascii_case(s)).collect();
        match named.as_slice() {
            [one] => Ok(Some(one)),
            [] => Err(unknown(s)),
            _ => Err(Reply::error(
                400,
                "RuleValidationException",
                format!(
                    "TF401320: Rule Error for field {}. Error code: ValidIdentity. The identity value '{s}' is ambiguous; use the e-mail address.",
                    f.name
                ),
            )),
        }
    };
    match v {
        Value::Null => Ok(None),
        Value::String(s) => by_text(s),
        Value::Object(o) => {
            if let Some(id) = o.get("id").and_then(Value::as_str) {
                return active().find(|u| u.id.eq_ignore_ascii_case(id)).map(Some).ok_or_else(|| unknown(id));
            }
            for key in ["uniqueName", "displayName"] {
                if let Some(s) = o.get(key).and_then(Value::as_str) {
                    return by_text(s);
                }
            }
            Err(status_error(f, "InvalidType"))
        }
        _ => Err(status_error(f, "InvalidType")),
    }
}

/// Converts a patch value into what the field stores (`Null` = cleared).
fn convert(inner: &Inner, project: &AdoProject, id: i64, f: &AdoField, v: &Value) -> Result<Value, Reply> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let text = || -> Result<String, Reply> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(status_error(f, "InvalidType")),
        }
    };
    let limited = |value: Value| -> Result<Value, Reply> {
        if f.allowed_values.is_empty() || f.allowed_values.contains(&value) {
            Ok(value)
        } else {
            Err(rule_error(f, "HasValues, LimitedToValues, AllowsOldValue"))
        }
    };
    match f.kind {
        FieldKind::Identity => {
            Ok(resolve_identity(&inner.seed.users, f, v)?.map(|u| identity_ref(&inner.base, u)).unwrap_or(Value::Null))
        }
        FieldKind::Integer => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) if s.trim().is_empty() => return Ok(Value::Null),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| status_error(f, "InvalidType"))?;
            limited(json!(n))
        }
        FieldKind::Double => {
            let n = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) if s.trim().is_empty() => return Ok(Value::Null),
                Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
                _ => None,
            }
            .ok_or_else(|| status_error(f, "InvalidType"))?;
            limited(json!(n))
        }
        FieldKind::Boolean => match v {
            Value::Bool(b) => Ok(json!(b)),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(json!(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(json!(false)),
            _ => Err(status_error(f, "InvalidType")),
        },
        FieldKind::DateTime => {
            let s = text()?;
            super::wiql::parse_time(&s).map(|t| json!(fmt_date(t))).ok_or_else(|| status_error(f, "InvalidDate"))
        }
        FieldKind::TreePath => {
            let s = text()?;
            if s.eq_ignore_ascii_case(&project.name) {
                Ok(json!(project.name))
            } else {
                Err(Reply::error(
                    400,
                    "WorkItemTrackingTreeNodeNotFoundException",
                    format!("TF401347: Invalid tree name given for work item {id}, field '{}'.", f.reference_name),
                ))
            }
        }
        FieldKind::String => {
            let s = text()?;
            if s.is_empty() {
                return Ok(Value::Null);
            }
            if s.chars().count() > 255 {
                return Err(status_error(f, "InvalidTooLong"));
            }
            if f.allowed_values.is_empty() {
                return Ok(json!(s));
            }
            f.allowed_values
                .iter()
                .find(|a| a.as_str().is_some_and(|a| a.eq_ignore_ascii_case(&s)))
                .cloned()
                .ok_or_else(|| rule_error(f, "HasValues, LimitedToValues, AllowsOldValue"))
        }
        FieldKind::PlainText | FieldKind::Html | FieldKind::History => {
            let s = text()?;
            if s.is_empty() {
                return Ok(Value::Null);
            }
            if f.reference_name == "System.Tags" {
                return Ok(normalize_tags(&s));
            }
            Ok(json!(s))
        }
    }
}

/// Tags are stored de-duplicated and sorted, joined by "; ".
fn normalize_tags(s: &str) -> Value {
    let mut tags: Vec<String> = Vec::new();
    for t in s.split([';', ',']).map(str::trim).filter(|t| !t.is_empty()) {
        if !tags.iter().any(|x| x.eq_ignore_ascii_case(t)) {
            tags.push(t.to_string());
        }
    }
    tags.sort_by_key(|t| t.to_lowercase());
    if tags.is_empty() {
        Value::Null
    } else {
        json!(tags.join("; "))
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x.get("id") == y.get("id"),
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn rev_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Applies a patch document. Nothing is stored unless every operation succeeds.
pub(crate) fn apply(
    inner: &Inner,
    store: &mut Store,
    user: &SimUser,
    target: Target,
    ops: &Value,
    validate_only: bool,
    at: Option<DateTime<Utc>>,
) -> Result<Applied, Reply> {
    let ops = ops.as_array().filter(|a| !a.is_empty()).ok_or_else(invalid_patch)?;
    let old_owned: Option<Item> = match &target {
        Target::Create { .. } => None,
        Target::Update { id } => Some(store.items.get(id).cloned().ok_or_else(|| super::api::not_found(*id))?),
    };
    let (project, ty, old): (&AdoProject, &AdoWorkItemType, Option<&Item>) = match &target {
        Target::Create { project, ty } => (project, ty, None),
        Target::Update { id } => {
            let item = old_owned.as_ref().ok_or_else(|| super::api::not_found(*id))?;
            let project = inner
                .seed
                .projects
                .iter()
                .find(|p| p.id == item.project_id)
                .ok_or_else(|| super::api::not_found(*id))?;
            let ty = inner
                .seed
                .work_item_types
                .iter()
                .find(|t| t.name == item.type_name)
                .ok_or_else(|| super::api::not_found(*id))?;
            (project, ty, Some(item))
        }
    };
    let shown_id: i64 = match &target {
        Target::Create { .. } => -1,
        Target::Update { id } => *id as i64,
    };
    let current_rev = old.map(Item::rev).unwrap_or(0);
    let mut fields: BTreeMap<String, Value> = match old {
        Some(i) => i.current().fields.clone(),
        None => BTreeMap::new(),
    };
    // History belongs to the revision that wrote it.
    fields.remove("System.History");
    let mut relations: Vec<Value> = old.map(|i| i.current().relations.clone()).unwrap_or_default();
    let mut set_reason = false;

    for (index, op) in ops.iter().enumerate() {
        let o = op.as_object().ok_or_else(invalid_patch)?;
        let kind = o.get("op").and_then(Value::as_str).ok_or_else(invalid_patch)?.to_ascii_lowercase();
        let path = o.get("path").and_then(Value::as_str).ok_or_else(invalid_patch)?;
        let value = o.get("value").cloned().unwrap_or(Value::Null);
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let test_failed = |actual: String| {
            Reply::error(
                412,
                "TestPatchOperationFailedException",
                format!(
                    "Test operation failed at index {index}: the value at '{path}' is {actual}, which does not equal the expected value {value}."
                ),
            )
        };
        match (kind.as_str(), segs.as_slice()) {
            ("test", ["rev"]) => {
                if rev_of(&value) != Some(current_rev) {
                    return Err(test_failed(current_rev.to_string()));
                }
            }
            ("test", ["id"]) => {
                if rev_of(&value) != Some(shown_id.max(0) as u64) {
                    return Err(test_failed(shown_id.to_string()));
                }
            }
            ("test", ["fields", name]) => {
                let f = field_def(inner, name)?;
                let actual = fields.get(&f.reference_name).cloned().unwrap_or(Value::Null);
                let expected = convert(inner, project, shown_id, f, &value).unwrap_or(value.clone());
                if !same_value(&actual, &expected) {
                    return Err(test_failed(actual.to_string()));
                }
            }
            ("add" | "replace" | "remove", ["fields", name]) => {
                let f = field_def(inner, name)?;
                if f.read_only || matches!(f.reference_name.as_str(), "System.WorkItemType" | "System.TeamProject") {
                    return Err(status_error(f, "ReadOnly"));
                }
                let v = if kind == "remove" { Value::Null } else { convert(inner, project, shown_id, f, &value)? };
                if f.reference_name == "System.Reason" {
                    set_reason = true;
                }
                if v.is_null() {
                    fields.remove(&f.reference_name);
                } else {
                    fields.insert(f.reference_name.clone(), v);
                }
            }
            ("add", ["relations", "-"]) => {
                let relation = super::relations::to_add(inner, store, shown_id, &value, &relations)?;
                relations.push(relation);
            }
            ("remove", ["relations", i]) => {
                let i = relation_index(i, relations.len())?;
                relations.remove(i);
            }
            ("add" | "replace", ["relations", i, "attributes", attr]) => {
                let i = relation_index(i, relations.len())?;
                if let Some(a) = relations[i].get_mut("attributes").and_then(Value::as_object_mut) {
                    a.insert((*attr).to_string(), value.clone());
                }
            }
            ("move" | "copy", _) => {
                return Err(Reply::error(
                    400,
                    "VssPropertyValidationException",
                    format!("The '{kind}' patch operation is not supported for work items (index {index})."),
                ))
            }
            _ => {
                return Err(Reply::error(
                    400,
                    "VssPropertyValidationException",
                    format!(
                    "The patch operation '{kind}' on path '{path}' is not supported for work items (index {index})."
                ),
                ))
            }
        }
    }

    let field = |r: &str| inner.seed.fields.iter().find(|f| f.reference_name == r);
    let is_create = old.is_none();
    if is_create {
        for f in &inner.seed.fields {
            if let Some(d) = &f.default_value {
                fields.entry(f.reference_name.clone()).or_insert(d.clone());
            }
        }
        fields.entry("System.AreaPath".into()).or_insert(json!(project.name));
        fields.entry("System.IterationPath".into()).or_insert(json!(project.name));
        fields.entry("System.CommentCount".into()).or_insert(json!(0));
    }
    let has_title = matches!(fields.get("System.Title"), Some(Value::String(s)) if !s.trim().is_empty());
    if !has_title {
        if let Some(f) = field("System.Title") {
            return Err(rule_error(f, "Required, InvalidEmpty"));
        }
    }
    let initial = ty.states.first().map(|s| s.name.clone()).unwrap_or_default();
    let old_state = old.and_then(|i| i.current().fields.get("System.State").cloned());
    let state = fields.get("System.State").and_then(Value::as_str).map(str::to_string);
    let state_field = field("System.State");
    let state = match (state, state_field) {
        (None, _) if is_create => initial.clone(),
        (None, Some(f)) => return Err(rule_error(f, "Required, InvalidEmpty")),
        (Some(s), Some(f)) => {
            let canonical =
                ty.states.iter().find(|x| x.name.eq_ignore_ascii_case(&s)).map(|x| x.name.clone()).ok_or_else(
                    || rule_error(f, "Required, InvalidListValue, HasValues, LimitedToValues, AllowsOldValue"),
                )?;
            if is_create && canonical != initial {
                // A new work item can only enter the type's initial state ("" -> New transition).
                return Err(rule_error(f, "InvalidListValue, LimitedToValues, AllowsOldValue"));
            }
            canonical
        }
        (Some(s), None) => s,
        (None, None) => initial.clone(),
    };
    let state_changed = old_state.as_ref().and_then(Value::as_str) != Some(state.as_str());
    fields.insert("System.State".into(), json!(state));
    if state_changed && !set_reason {
        let reason = if is_create { "New".to_string() } else { format!("Moved to state {state}") };
        fields.insert("System.Reason".into(), json!(reason));
    }

    let old_fields = old.map(|i| i.current().fields.clone()).unwrap_or_default();
    let old_relations = old.map(|i| i.current().relations.clone()).unwrap_or_default();
    super::relations::check_hierarchy(inner, store, shown_id.max(0) as u64, &relations, &old_relations)?;
    let files = |r: &[Value]| r.iter().filter(|x| x["rel"] == json!("AttachedFile")).count();
    if files(&relations) > inner.seed.max_attachments_per_item && files(&relations) > files(&old_relations) {
        return Err(Reply::error(
            400,
            "VssServiceException",
            format!(
                "VS403313: The number of attachments exceeded the limit. One work item should contain no more than {} attachments.",
                inner.seed.max_attachments_per_item
            ),
        ));
    }
    match super::relations::parent_of(inner, &relations) {
        Some(p) => fields.insert("System.Parent".into(), json!(p)),
        None => fields.remove("System.Parent"),
    };
    let history = fields.get("System.History").and_then(Value::as_str).map(str::to_string);
    if history.is_some() {
        let count = old_fields.get("System.CommentCount").and_then(Value::as_u64).unwrap_or(0);
        fields.insert("System.CommentCount".into(), json!(count + 1));
    }
    let mut changed_any = fields.contains_key("System.History") || relations != old_relations;
    for (k, v) in &fields {
        if old_fields.get(k) != Some(v) {
            changed_any = true;
        }
    }
    for k in old_fields.keys() {
        if k != "System.History" && !fields.contains_key(k) {
            changed_any = true;
        }
    }
    if !changed_any && !is_create {
        // Nothing to store: the service answers with the unchanged work item.
        let id = match target {
            Target::Update { id } => id,
            Target::Create { .. } => 0,
        };
        return Ok(Applied { id, preview: None });
    }

    let ts = if validate_only {
        store.last_ts.unwrap_or_else(Utc::now)
    } else {
        match at {
            Some(t) => {
                store.last_ts = Some(store.last_ts.map_or(t, |l| l.max(t)));
                t
            }
            None => store.next_ts(),
        }
    };
    let me = identity_ref(&inner.base, user);
    fields.insert("System.ChangedDate".into(), json!(fmt_date(ts)));
    fields.insert("System.ChangedBy".into(), me.clone());
    if is_create {
        fields.insert("System.CreatedDate".into(), json!(fmt_date(ts)));
        fields.insert("System.CreatedBy".into(), me);
        fields.insert("System.WorkItemType".into(), json!(ty.name));
        fields.insert("System.TeamProject".into(), json!(project.name));
    }
    let rev = current_rev + 1;
    let id = match target {
        Target::Update { id } => id,
        Target::Create { .. } => {
            if validate_only {
                0
            } else {
                let id = store.next_id;
                store.next_id += 1;
                id
            }
        }
    };

    let mut diff = Map::new();
    if is_create {
        diff.insert("System.Id".into(), json!({"newValue": id}));
        diff.insert("System.Rev".into(), json!({"newValue": rev}));
    } else {
        diff.insert("System.Rev".into(), json!({"oldValue": current_rev, "newValue": rev}));
    }
    for (k, v) in &fields {
        match old_fields.get(k) {
            Some(o) if o == v && k != "System.History" => {}
            Some(o) if k != "System.History" => {
                diff.insert(k.clone(), json!({"oldValue": o, "newValue": v}));
            }
            _ => {
                diff.insert(k.clone(), json!({"newValue": v}));
            }
        }
    }
    for (k, o) in &old_fields {
        if k != "System.History" && !fields.contains_key(k) {
            diff.insert(k.clone(), json!({"oldValue": o}));
        }
    }
    let added: Vec<Value> = relations.iter().filter(|r| !old_relations.contains(r)).cloned().collect();
    let removed: Vec<Value> = old_relations.iter().filter(|r| !relations.contains(r)).cloned().collect();
    let rel_diff = if added.is_empty() && removed.is_empty() {
        None
    } else {
        let mut m = Map::new();
        if !added.is_empty() {
            m.insert("added".into(), json!(added));
        }
        if !removed.is_empty() {
            m.insert("removed".into(), json!(removed));
        }
        Some(Value::Object(m))
    };
    let snapshot = Snapshot { rev, fields, relations, changed: ts };
    let update = UpdateRec { rev, by_user: user.id.clone(), fields: diff, relations: rel_diff, at: ts };
    let mut item = match old_owned {
        Some(i) => i,
        None => Item {
            id,
            project_id: project.id.clone(),
            type_name: ty.name.clone(),
            revisions: Vec::new(),
            updates: Vec::new(),
            comments: Vec::new(),
        },
    };
    if validate_only {
        return Ok(Applied { id, preview: Some((item, snapshot)) });
    }
    if let Some(text) = history {
        let first = CommentText { text, format: "html".into(), by_user: user.id.clone(), at: ts, deleted: false };
        item.comments.push(CommentRec { id: store.next_comment_id, rev, versions: vec![first] });
        store.next_comment_id += 1;
    }
    item.revisions.push(snapshot);
    item.updates.push(update);
    store.items.insert(id, item);
    super::relations::update_far_ends(inner, store, &user.id, id, &added, &removed, ts);
    Ok(Applied { id, preview: None })
}

fn relation_index(s: &str, len: usize) -> Result<usize, Reply> {
    s.parse::<usize>().ok().filter(|i| *i < len).ok_or_else(|| {
        Reply::error(
            400,
            "VssPropertyValidationException",
            format!("The relation index '{s}' does not exist on this work item ({len} relations)."),
        )
    })
}

fn field_def<'a>(inner: &'a Inner, name: &str) -> Result<&'a AdoField, Reply> {
    inner.seed.fields.iter().find(|f| f.reference_name.eq_ignore_ascii_case(name)).ok_or_else(|| unknown_field(name))
}

/// Creates the seed's work items through the same rules as the REST API.
pub(crate) fn load_seed_items(inner: &Inner) -> Result<(), String> {
    let mut store = inner.store();
    for (n, w) in inner.seed.work_items.iter().enumerate() {
        let project =
            inner.project(&w.project).ok_or_else(|| format!("seed work item {n}: unknown project {}", w.project))?;
        let ty = inner
            .seed
            .work_item_types
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(&w.work_item_type))
            .ok_or_else(|| format!("seed work item {n}: unknown type {}", w.work_item_type))?;
        let user = inner
            .user_by_email(&w.created_by)
            .ok_or_else(|| format!("seed work item {n}: unknown user {}", w.created_by))?;
        let ops: Vec<Value> =
            w.fields.iter().map(|(k, v)| json!({"op": "add", "path": format!("/fields/{k}"), "value": v})).collect();
        apply(inner, &mut store, user, Target::Create { project, ty }, &Value::Array(ops), false, w.created_at)
            .map_err(|r| format!("seed work item {n}: {}", r.message()))?;
    }
    Ok(())
}
