//! The issue hierarchy: the `parent` field (an epic above standard issues, a standard
//! issue above its sub-tasks), its rules, its changelog item and its renderings.

use super::store::{ChangeItem, Inner, Issue, State};
use serde_json::{json, Value};

/// Why a parent cannot be set, worded as Jira's `errors.parent`.
pub(crate) const PARENT_NOT_FOUND: &str = "Could not find issue by id or key.";
pub(crate) const SUBTASK_NEEDS_PARENT: &str = "Issue type is a sub-task but parent issue key or id not specified.";
pub(crate) const WRONG_LEVEL: &str = "Given parent issue does not belong to appropriate hierarchy.";
pub(crate) const SUBTASK_OTHER_PROJECT: &str = "A sub-task must be in the same project as its parent.";

/// What a request asked of the `parent` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParentSet {
    /// No parent (`null`, `{"key": null}`, `{"id": null}`, `{"none": true}`).
    Clear,
    /// The issue with this id.
    To(u64),
}

/// Reads a `parent` value: `{"key": "APP-1"}`, `{"id": "10000"}` (or a number), or a
/// clearing form. Unknown issues are an error.
pub(crate) fn parse_parent(inner: &Inner, st: &State, v: &Value) -> Result<ParentSet, String> {
    if v.is_null() || v.get("none").and_then(Value::as_bool) == Some(true) {
        return Ok(ParentSet::Clear);
    }
    let o = v.as_object().ok_or("The parent must be an object like {\"key\": \"ABC-1\"}.")?;
    let wanted = match (o.get("key"), o.get("id")) {
        (Some(Value::String(k)), _) => k.clone(),
        (_, Some(Value::String(id))) => id.clone(),
        (_, Some(Value::Number(n))) => n.to_string(),
        (Some(Value::Null), _) | (_, Some(Value::Null)) => return Ok(ParentSet::Clear),
        _ => return Err("The parent must be an object like {\"key\": \"ABC-1\"}.".into()),
    };
    inner.find_issue(st, &wanted).map(|i| ParentSet::To(st.issues[i].id)).ok_or_else(|| PARENT_NOT_FOUND.into())
}

/// The `parent` value of a request's `fields` or `update` (`[{"set": …}]`), if any.
pub(crate) fn requested_parent<'a>(
    fields: Option<&'a serde_json::Map<String, Value>>,
    update: Option<&'a serde_json::Map<String, Value>>,
) -> Result<Option<&'a Value>, String> {
    if let Some(v) = fields.and_then(|f| f.get("parent")) {
        return Ok(Some(v));
    }
    match update.and_then(|u| u.get("parent")) {
        None => Ok(None),
        Some(ops) => {
            let op = ops.as_array().and_then(|a| a.last()).and_then(Value::as_object);
            match op.and_then(|o| o.get("set")) {
                Some(v) => Ok(Some(v)),
                None => Err("Field 'parent' supports only the 'set' operation.".into()),
            }
        }
    }
}

/// The parent a create or edit asks for: `None` when the request does not mention it,
/// `Some(None)` when it clears it.
pub(crate) fn requested_parent_id(
    inner: &Inner,
    st: &State,
    fields: Option<&serde_json::Map<String, Value>>,
    update: Option<&serde_json::Map<String, Value>>,
) -> Result<Option<Option<u64>>, String> {
    match requested_parent(fields, update)? {
        None => Ok(None),
        Some(v) => match parse_parent(inner, st, v)? {
            ParentSet::Clear => Ok(Some(None)),
            ParentSet::To(id) => Ok(Some(Some(id))),
        },
    }
}

/// The parent an edit leaves the issue at `idx` with, checked against the hierarchy:
/// `None` when the edit does not touch the parent (nor the issue type's level).
pub(crate) fn edited_parent(
    inner: &Inner,
    st: &State,
    idx: usize,
    fields: Option<&serde_json::Map<String, Value>>,
    update: Option<&serde_json::Map<String, Value>>,
    sets: &[super::store::Set],
) -> Result<Option<Option<u64>>, super::store::FieldErrors> {
    let err = |field: &str, msg: String| super::store::FieldErrors::from([(field.to_string(), msg)]);
    let issue = &st.issues[idx];
    let new_type = sets.iter().rev().find_map(|s| match s {
        super::store::Set::IssueType(t) => Some(t.clone()),
        _ => None,
    });
    if let Some(t) = &new_type {
        if inner.seed.level(t) != inner.seed.level(&issue.issuetype_id) {
            let msg = "The issue type cannot be changed to one at another hierarchy level.".to_string();
            return Err(err("issuetype", msg));
        }
    }
    let requested = requested_parent_id(inner, st, fields, update).map_err(|m| err("parent", m))?;
    let Some(parent) = requested else { return Ok(None) };
    let type_id = new_type.unwrap_or_else(|| issue.issuetype_id.clone());
    check_parent(inner, st, &type_id, &issue.project_id, Some(issue.id), parent).map_err(|m| err("parent", m))?;
    Ok(Some(parent))
}

/// Checks that an issue of `type_id` in `project_id` may have `parent` (its own id is
/// `self_id` when it exists). Levels: a parent is exactly one level above its child.
pub(crate) fn check_parent(
    inner: &Inner,
    st: &State,
    type_id: &str,
    project_id: &str,
    self_id: Option<u64>,
    parent: Option<u64>,
) -> Result<(), String> {
    let level = inner.seed.level(type_id);
    let Some(pid) = parent else {
        return if level < 0 { Err(SUBTASK_NEEDS_PARENT.into()) } else { Ok(()) };
    };
    let p = st.issue_by_id(pid).ok_or(PARENT_NOT_FOUND)?;
    if Some(pid) == self_id || inner.seed.level(&p.issuetype_id) != level + 1 {
        return Err(WRONG_LEVEL.into());
    }
    if level < 0 && p.project_id != project_id {
        return Err(SUBTASK_OTHER_PROJECT.into());
    }
    Ok(())
}

/// The changelog item of a parent change, as Jira Cloud writes it: field
/// `IssueParentAssociation`, no `fieldId`, the parents' issue ids in `from`/`to` and no
/// display strings.
pub(crate) fn parent_item(old: Option<u64>, new: Option<u64>) -> ChangeItem {
    ChangeItem {
        field: "IssueParentAssociation".into(),
        field_id: "parent".into(),
        wire_field_id: false,
        fieldtype: "jira",
        from: old.map(|x| x.to_string()),
        from_string: None,
        to: new.map(|x| x.to_string()),
        to_string: None,
    }
}

impl Inner {
    /// An issue as other issues refer to it (`parent`, `subtasks`, issue links):
    /// `{id, key, self, fields: {summary, status, priority, issuetype}}`.
    pub fn issue_ref(&self, i: &Issue) -> Value {
        let issuetype = self
            .seed
            .issue_types
            .iter()
            .find(|t| t.id == i.issuetype_id)
            .map(|t| self.issuetype_json(t))
            .unwrap_or(Value::Null);
        let priority = i
            .priority_id
            .as_ref()
            .and_then(|p| self.seed.priorities.iter().find(|x| &x.id == p))
            .map(|p| self.priority_json(p));
        let mut fields =
            json!({"summary": i.summary, "status": self.status_json(&i.status_id), "issuetype": issuetype});
        if let Some(p) = priority {
            fields["priority"] = p;
        }
        json!({"id": i.id.to_string(), "key": i.key, "self": self.api(&format!("issue/{}", i.id)), "fields": fields})
    }

    /// The `subtasks` field: the sub-tasks whose parent is `i`, oldest first.
    pub fn subtasks_json(&self, st: &State, i: &Issue) -> Vec<Value> {
        st.issues
            .iter()
            .filter(|c| c.parent == Some(i.id) && self.seed.level(&c.issuetype_id) < 0)
            .map(|c| self.issue_ref(c))
            .collect()
    }
}
