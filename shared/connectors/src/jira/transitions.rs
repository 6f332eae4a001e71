//! Where a Jira transition path is chosen. Jira sets a status only through workflow
//! transitions, one hop at a time, each from the issue's current status. The next hop
//! toward a target status is, in order:
//! 1. a transition straight to the target;
//! 2. else the first hop of the shortest path through workflow edges already seen
//!    (learned from earlier transition reads of the same project and issue type);
//! 3. else the status whose category (to do / in progress / done) is closest to the
//!    target's;
//!
//! never a status this walk already visited, never a transition Jira marks
//! unavailable; ties keep Jira's order. A transition screen's required fields get
//! Ferry's own value when the change has one, else a sensible allowed value.
//!
//! Pure: the I/O (reading transitions, the learned workflow, posting a hop) is in
//! `workflow`.

use super::schema::{kind_of, FieldMeta};
use super::values::to_wire;
use super::wire::{Allowed, Transition, TypeStatuses};
use ferry_domain::ports::PortResult;
use ferry_domain::{ErrorCategory, FieldChange, FieldValue, PortError, Scope};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};

/// Transition hops tried to reach a target status.
pub const MAX_HOPS: usize = 5;

/// Workflow edges seen so far for one project and issue type: status -> the statuses
/// its transitions lead to (names in lower case).
#[derive(Debug, Clone, Default)]
pub struct Workflow(HashMap<String, Vec<String>>);

impl Workflow {
    /// Records the transitions read at status `from`.
    pub fn learn(&mut self, from: &str, transitions: &[Transition]) {
        self.0.insert(from.to_lowercase(), transitions.iter().map(|t| t.to.name.to_lowercase()).collect());
    }

    /// Hops from `from` to `target` over known edges (0 when they are the same),
    /// avoiding statuses in `visited`; `None` beyond [`MAX_HOPS`] or when unknown.
    fn distance(&self, from: &str, target: &str, visited: &[String]) -> Option<usize> {
        let mut seen: HashSet<&str> = visited.iter().map(String::as_str).collect();
        let mut frontier = vec![from];
        for d in 0..=MAX_HOPS {
            let mut next = Vec::new();
            for s in frontier {
                if s == target {
                    return Some(d);
                }
                if !seen.insert(s) && d > 0 {
                    continue;
                }
                next.extend(self.0.get(s).into_iter().flatten().map(String::as_str));
            }
            frontier = next;
        }
        None
    }
}

/// Status name (lower case) -> category key, for the scope's issue type.
pub type Categories = HashMap<String, String>;

fn category_rank(cat: &str) -> i32 {
    match cat {
        "new" => 0,
        "done" => 2,
        _ => 1,
    }
}

/// Picks the next transition toward `target` (see the module docs).
pub fn choose<'a>(
    transitions: &'a [Transition],
    target: &str,
    visited: &[String],
    known: &Workflow,
    categories: &Categories,
) -> Option<&'a Transition> {
    if let Some(t) = transitions.iter().find(|t| t.to.name.eq_ignore_ascii_case(target)) {
        return Some(t);
    }
    let target = target.to_lowercase();
    let target_rank = categories.get(&target).map(|c| category_rank(c));
    transitions
        .iter()
        .enumerate()
        .filter(|(_, t)| t.is_available != Some(false) && !visited.contains(&t.to.name.to_lowercase()))
        .min_by_key(|(i, t)| {
            let name = t.to.name.to_lowercase();
            let known_path = known.distance(&name, &target, visited).unwrap_or(usize::MAX);
            let cat =
                Some(t.to.category()).filter(|c| !c.is_empty()).or_else(|| categories.get(&name).map(String::as_str));
            let closeness = target_rank.map_or(0, |tr| (category_rank(cat.unwrap_or_default()) - tr).abs());
            (known_path, closeness, *i)
        })
        .map(|(_, t)| t)
}

/// The status a change set asks for (`None` for no status change).
pub fn status_target(changes: &[FieldChange]) -> PortResult<Option<String>> {
    match changes.iter().find(|c| c.field.as_str() == "status") {
        None => Ok(None),
        Some(c) if c.value.is_null() => Ok(None),
        Some(c) => match &c.value {
            FieldValue::Option(s) | FieldValue::Text(s) => Ok(Some(s.clone())),
            other => Err(PortError::new(
                ErrorCategory::InvalidRequest,
                format!("status must be a status name, got {other:?}"),
            )),
        },
    }
}

/// The categories of the statuses of `scope`'s issue type, which steer multi-hop
/// choices (To Do -> In Progress -> Done). A target the type does not have fails here,
/// before any hop; a project whose statuses name no such type ranks nothing.
pub fn categories(types: &[TypeStatuses], scope: &Scope, target: &str, current: &str) -> PortResult<Categories> {
    let of_type: Vec<(&str, &str)> = types
        .iter()
        .filter(|t| t.name.eq_ignore_ascii_case(&scope.entity_type))
        .flat_map(|t| t.statuses.iter().map(|s| (s.name.as_str(), s.category())))
        .collect();
    if !of_type.is_empty() && !of_type.iter().any(|(n, _)| n.eq_ignore_ascii_case(target)) {
        return Err(PortError::new(
            ErrorCategory::TransitionNotReachable,
            format!(
                "status {target:?} does not exist for {} {} (from {current:?}); statuses: {}",
                scope.project,
                scope.entity_type,
                of_type.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Ok(of_type.into_iter().map(|(n, c)| (n.to_lowercase(), c.to_string())).collect())
}

/// Whether the screen of `t` asks for a field `changes` sets (its value is written
/// by the field's schema, from the field catalog).
pub fn screen_takes_a_change(t: &Transition, changes: &[FieldChange]) -> bool {
    t.fields.keys().any(|fid| changes.iter().any(|c| c.field.as_str() == fid && !c.value.is_null()))
}

/// Values for the fields the screen of `t` asks for: Ferry's own change when it has
/// one, else, for a required field without a default, the allowed value labelled
/// "Done" (resolutions), else the first. `metas`: the field catalog, when read.
pub fn screen_values(
    t: &Transition,
    changes: &[FieldChange],
    metas: Option<&HashMap<String, FieldMeta>>,
) -> PortResult<Map<String, Value>> {
    let mut out = Map::new();
    for (fid, fm) in &t.fields {
        if let Some(c) = changes.iter().find(|c| c.field.as_str() == fid && !c.value.is_null()) {
            let meta = metas.and_then(|m| m.get(fid)).cloned().unwrap_or_else(|| FieldMeta {
                id: fid.clone(),
                name: fid.clone(),
                kind: kind_of(fid, fm.schema.as_ref()),
            });
            out.insert(fid.clone(), to_wire(&c.value, &meta)?);
            continue;
        }
        if !fm.required || fm.has_default_value == Some(true) {
            continue;
        }
        let label = |a: &Allowed| a.choice().and_then(|c| c.name.clone().or_else(|| c.value.clone()));
        let pick = fm
            .allowed_values
            .iter()
            .find(|a| label(a).is_some_and(|l| l.eq_ignore_ascii_case("Done")))
            .or_else(|| fm.allowed_values.first());
        let Some(pick) = pick else {
            return Err(PortError::new(
                ErrorCategory::RequiredFieldMissing,
                format!(
                    "transition {:?} requires field {fid} ({}) and Ferry has no value for it: map it or give it a default in Jira",
                    t.name.as_deref().unwrap_or(""),
                    fm.name.as_deref().unwrap_or(fid)
                ),
            ));
        };
        out.insert(fid.clone(), allowed_ref(pick));
    }
    Ok(out)
}

/// How a transition screen is told an allowed value: by name, else value, else id.
fn allowed_ref(a: &Allowed) -> Value {
    match a {
        Allowed::Choice(c) => match (&c.name, &c.value) {
            (Some(n), _) => json!({"name": n}),
            (None, Some(v)) => json!({"value": v}),
            (None, None) => json!({"id": c.id.clone().unwrap_or(Value::Null)}),
        },
        Allowed::Other(v) => json!({"id": v.get("id").cloned().unwrap_or(Value::Null)}),
    }
}

/// No transition leads anywhere new from `current`.
pub fn no_path(id: &str, start: &str, target: &str, current: &str, visited: &[String]) -> PortError {
    PortError::new(
        ErrorCategory::TransitionNotReachable,
        format!(
            "no workflow path from status {start:?} to {target:?} for issue {id} (stuck at {current:?}; visited: {})",
            visited.join(" -> ")
        ),
    )
}

/// [`MAX_HOPS`] hops did not reach the target.
pub fn not_reached(id: &str, start: &str, target: &str, current: &str) -> PortError {
    PortError::new(
        ErrorCategory::TransitionNotReachable,
        format!(
            "status {target:?} not reached from {start:?} within {MAX_HOPS} transitions for issue {id} (now {current:?})"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_domain::FieldKey;

    fn tr(id: &str, to: &str, cat: &str) -> Transition {
        serde_json::from_value(json!({"id": id, "name": id, "to": {"name": to, "statusCategory": {"key": cat}}}))
            .unwrap()
    }

    fn wf(edges: &[(&str, &[&str])]) -> Workflow {
        Workflow(edges.iter().map(|(f, t)| (f.to_string(), t.iter().map(|x| x.to_string()).collect())).collect())
    }

    fn cats() -> Categories {
        [("done", "done"), ("to do", "new"), ("blocked", "indeterminate"), ("in progress", "indeterminate")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn the_next_hop_is_direct_then_a_known_path_then_the_closest_category() {
        let from_todo = vec![
            tr("a", "Blocked", "indeterminate"),
            tr("b", "In Progress", "indeterminate"),
            tr("c", "Won't Fix", "done"),
        ];
        let unavailable: Transition =
            serde_json::from_value(json!({"id": "u", "isAvailable": false, "to": {"name": "X"}})).unwrap();
        type Case<'a> = (&'a str, Vec<Transition>, &'a str, Vec<&'a str>, Workflow, Option<&'a str>);
        let cases: Vec<Case> = vec![
            (
                "direct",
                vec![tr("x", "To Do", "new"), tr("y", "Done", "done")],
                "Done",
                vec!["in progress"],
                wf(&[]),
                Some("y"),
            ),
            ("direct, whatever the case", vec![tr("x", "DONE", "done")], "done", vec!["to do"], wf(&[]), Some("x")),
            ("closest category", from_todo.clone(), "Done", vec!["to do"], wf(&[]), Some("c")),
            (
                "known path beats category",
                from_todo.clone(),
                "Done",
                vec!["to do"],
                wf(&[("in progress", &["in review"]), ("in review", &["done"]), ("won't fix", &["to do"])]),
                Some("b"),
            ),
            (
                "of several known paths, the shortest",
                from_todo.clone(),
                "Done",
                vec!["to do"],
                wf(&[
                    ("blocked", &["triage"]),
                    ("triage", &["ready"]),
                    ("ready", &["done"]),
                    ("in progress", &["done"]),
                    ("won't fix", &["reopened"]),
                    ("reopened", &["done"]),
                ]),
                Some("b"),
            ),
            (
                "equal paths: Jira's order",
                from_todo.clone(),
                "Done",
                vec!["to do"],
                wf(&[("blocked", &["done"]), ("in progress", &["done"])]),
                Some("a"),
            ),
            (
                "a cycle in the known workflow ends the search, the category decides",
                vec![tr("a", "Blocked", "indeterminate"), tr("b", "Backlog", "new")],
                "Done",
                vec!["to do"],
                wf(&[("blocked", &["backlog"]), ("backlog", &["blocked"])]),
                Some("a"),
            ),
            (
                "a path through a visited status does not count",
                vec![tr("b", "In Progress", "indeterminate"), tr("k", "Backlog", "new")],
                "Done",
                vec!["to do", "blocked"],
                wf(&[
                    ("in progress", &["blocked"]),
                    ("blocked", &["done"]),
                    ("backlog", &["triage"]),
                    ("triage", &["ready"]),
                    ("ready", &["done"]),
                ]),
                Some("k"),
            ),
            ("visited excluded", vec![tr("s", "To Do", "new")], "Done", vec!["in progress", "to do"], wf(&[]), None),
            ("unreachable: nothing new", vec![], "Done", vec!["to do"], wf(&[]), None),
            ("unavailable excluded", vec![unavailable], "Done", vec!["to do"], wf(&[]), None),
        ];
        for (name, ts, target, visited, known, want) in cases {
            let visited: Vec<String> = visited.into_iter().map(String::from).collect();
            let got = choose(&ts, target, &visited, &known, &cats()).map(|t| t.id.0.as_str());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn learned_edges_replace_what_a_status_led_to_before() {
        let mut w = Workflow::default();
        w.learn("To Do", &[tr("1", "In Progress", "indeterminate")]);
        w.learn("In Progress", &[tr("2", "Done", "done")]);
        assert_eq!(w.distance("to do", "done", &[]), Some(2));
        w.learn("To Do", &[tr("3", "Blocked", "indeterminate")]);
        assert_eq!(w.distance("to do", "done", &[]), None);
        assert_eq!(w.distance("done", "done", &[]), Some(0));
    }

    fn change(field: &str, value: FieldValue) -> FieldChange {
        FieldChange { field: FieldKey::new(field), value }
    }

    fn screen(allowed: Value) -> Transition {
        serde_json::from_value(json!({"id": "31", "name": "Done", "to": {"name": "Done"}, "fields": {
            "resolution": {"required": true, "name": "Resolution", "schema": {"type": "resolution"}, "allowedValues": allowed},
            "comment": {"required": false, "name": "Comment"}
        }}))
        .unwrap()
    }

    #[test]
    fn a_screen_gets_the_mapped_value_a_default_pick_or_a_clear_failure() {
        let done = json!([{"id": "1", "name": "Fixed"}, {"id": "2", "name": "Done"}]);
        let wont = change("resolution", FieldValue::Option("Won't Do".into()));
        type Case<'a> = (&'a str, Transition, Vec<FieldChange>, Result<Value, &'a str>);
        let cases: Vec<Case> = vec![
            ("allowed value named Done", screen(done.clone()), vec![], Ok(json!({"resolution": {"name": "Done"}}))),
            (
                "the mapped value wins",
                screen(done),
                vec![wont.clone()],
                Ok(json!({"resolution": {"name": "Won't Do"}})),
            ),
            (
                "an empty mapped value does not count",
                screen(json!([{"id": "7", "value": "Nope"}])),
                vec![change("resolution", FieldValue::Null)],
                Ok(json!({"resolution": {"value": "Nope"}})),
            ),
            ("first by id", screen(json!([{"id": "9"}])), vec![], Ok(json!({"resolution": {"id": "9"}}))),
            ("nothing to pick", screen(json!([])), vec![], Err("requires field resolution (Resolution)")),
            (
                "a default in Jira needs nothing",
                serde_json::from_value(json!({"id": "5", "to": {"name": "Done"},
                    "fields": {"resolution": {"required": true, "hasDefaultValue": true}}}))
                .unwrap(),
                vec![],
                Ok(json!({})),
            ),
            ("no screen", tr("11", "In Progress", "indeterminate"), vec![wont], Ok(json!({}))),
        ];
        for (name, t, changes, want) in cases {
            match (screen_values(&t, &changes, None), want) {
                (Ok(got), Ok(want)) => assert_eq!(Value::Object(got), want, "{name}"),
                (Err(e), Err(says)) => {
                    assert_eq!(e.category, ErrorCategory::RequiredFieldMissing, "{name}");
                    assert!(e.message.contains(says), "{name}: {e}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_screen_value_is_written_by_the_catalog_schema_else_the_screen_schema() {
        let t = screen(json!([]));
        let c = [change("resolution", FieldValue::Option("Fixed".into()))];
        assert!(screen_takes_a_change(&t, &c));
        assert!(!screen_takes_a_change(&t, &[change("resolution", FieldValue::Null)]));
        let from_screen = screen_values(&t, &c, None).unwrap();
        assert_eq!(Value::Object(from_screen), json!({"resolution": {"name": "Fixed"}}));
        let catalog: HashMap<String, FieldMeta> =
            [("resolution".to_string(), crate::jira::schema::meta("resolution", json!({"type": "option"})))].into();
        let from_catalog = screen_values(&t, &c, Some(&catalog)).unwrap();
        assert_eq!(Value::Object(from_catalog), json!({"resolution": {"value": "Fixed"}}));
    }

    #[test]
    fn the_target_must_be_a_status_of_the_issue_type() {
        let types: Vec<TypeStatuses> = serde_json::from_value(json!([
            {"name": "Bug", "statuses": [
                {"name": "To Do", "statusCategory": {"key": "new"}},
                {"name": "Done", "statusCategory": {"key": "done"}}]},
            {"name": "Task", "statuses": [{"name": "Shipped"}]}
        ]))
        .unwrap();
        let bug = Scope { project: "APP".into(), entity_type: "bug".into() };
        let got = categories(&types, &bug, "DONE", "To Do").unwrap();
        assert_eq!(got.get("done").map(String::as_str), Some("done"));
        assert_eq!(got.get("to do").map(String::as_str), Some("new"));
        let e = categories(&types, &bug, "Shipped", "To Do").unwrap_err();
        assert_eq!(e.category, ErrorCategory::TransitionNotReachable);
        assert!(e.message.contains("\"Shipped\" does not exist for APP bug") && e.message.contains("To Do, Done"));
        let epic = Scope { project: "APP".into(), entity_type: "Epic".into() };
        assert!(categories(&types, &epic, "Anything", "x").unwrap().is_empty(), "unknown type: unranked");
    }

    #[test]
    fn the_status_asked_for_is_a_name() {
        assert_eq!(status_target(&[change("summary", FieldValue::Text("s".into()))]).unwrap(), None);
        assert_eq!(status_target(&[change("status", FieldValue::Null)]).unwrap(), None);
        assert_eq!(
            status_target(&[change("status", FieldValue::Option("Done".into()))]).unwrap().as_deref(),
            Some("Done")
        );
        let e = status_target(&[change("status", FieldValue::Number(3.0))]).unwrap_err();
        assert_eq!(e.category, ErrorCategory::InvalidRequest);
    }
}
