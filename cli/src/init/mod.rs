//! `ferry init`: discover both systems through their connectors and propose a ready
//! integration (YAML, a `status.csv` skeleton, and the list of gaps left to a person).
//!
//! The steps are plain functions so the web console's "new integration" page can call
//! them too: [`discover`] reads one side (I/O through the [`Connector`] port),
//! [`propose`] turns the two sides into the files and the gaps (pure; the rules are in
//! `matching.rs`, the text in `render.rs`). `cmd.rs` is the terminal flow.

pub mod cmd;
pub mod matching;
mod render;

use ferry_domain::ports::Connector;
use ferry_domain::{FieldInfo, PortError, Scope, UserRef};
use matching::{
    match_fields, match_users, match_values, required_unfilled, FieldPair, MappingKind, UserMatch, ValueTable,
};
use serde::Serialize;

/// What discovery found on one side of the proposed integration.
#[derive(Debug, Clone, Serialize)]
pub struct SideFacts {
    pub system: String,
    pub project: String,
    pub entity_type: String,
    /// The workflow states of the entity type.
    pub states: Vec<String>,
    pub fields: Vec<FieldInfo>,
    pub users: Vec<UserRef>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("system {system}: no project {project:?} (it has: {available})")]
    NoProject { system: String, project: String, available: String },
    #[error("system {system}, project {project}: no entity type {entity_type:?} (it has: {available})")]
    NoType { system: String, project: String, entity_type: String, available: String },
    #[error("system {system}: {source}")]
    Port { system: String, source: PortError },
}

/// Reads one side: checks that the project and the entity type exist (by key, id or
/// name, any case), then lists the type's states, its fields and the project's users.
pub async fn discover(
    conn: &dyn Connector,
    system: &str,
    project: &str,
    entity_type: &str,
) -> Result<SideFacts, InitError> {
    let port = |source| InitError::Port { system: system.into(), source };
    let projects = conn.projects().await.map_err(port)?;
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let Some(p) = projects.iter().find(|p| same(&p.key, project) || same(&p.id, project) || same(&p.name, project))
    else {
        let available = projects.iter().map(|p| p.key.as_str()).collect::<Vec<_>>().join(", ");
        return Err(InitError::NoProject { system: system.into(), project: project.into(), available });
    };
    let types = conn.entity_types(&p.key).await.map_err(port)?;
    let Some(t) = types.iter().find(|t| same(&t.name, entity_type) || same(&t.id, entity_type)) else {
        let available = types.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
        let (system, project, entity_type) = (system.into(), p.key.clone(), entity_type.into());
        return Err(InitError::NoType { system, project, entity_type, available });
    };
    let scope = Scope { project: p.key.clone(), entity_type: t.name.clone() };
    let fields = conn.fields(&scope).await.map_err(port)?;
    let users = conn.users(&p.key).await.map_err(port)?;
    Ok(SideFacts {
        system: system.into(),
        project: p.key.clone(),
        entity_type: t.name.clone(),
        states: t.states.clone(),
        fields,
        users,
    })
}

/// Something the proposal leaves to a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    /// `values` (a choice field's values without a match), `status` (the same for the
    /// workflows), `users` (people without a match by e-mail), `required` (a field a
    /// create needs that nothing fills), `remote_id` (no remote-id fields chosen).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// A proposed field mapping with its value table, if it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposed {
    pub pair: FieldPair,
    pub values: Option<ValueTable>,
}

/// The proposal: the integration's YAML, the status table's CSV (named `status_file`
/// in the YAML), and the gaps, each also marked `GAP:` in the files.
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    pub yaml: String,
    pub status_file: String,
    pub status_csv: Option<String>,
    pub gaps: Vec<Gap>,
    #[serde(skip)]
    pub fields: Vec<Proposed>,
    #[serde(skip)]
    pub users: UserMatch,
}

/// The proposal for integration `id` between the two sides (see the module docs).
pub fn propose(id: &str, left: &SideFacts, right: &SideFacts, status_file: &str) -> Proposal {
    let pairs = match_fields(&left.fields, &right.fields);
    let fields: Vec<Proposed> = pairs
        .iter()
        .map(|p| {
            let values = match p.kind {
                MappingKind::Status => {
                    Some(match_values(&choices(&p.left, &left.states), &choices(&p.right, &right.states)))
                }
                _ if !p.left.allowed_values.is_empty() && !p.right.allowed_values.is_empty() => {
                    Some(match_values(&p.left.allowed_values, &p.right.allowed_values))
                }
                _ => None,
            };
            Proposed { pair: p.clone(), values }
        })
        .collect();
    let users = match_users(&left.users, &right.users);
    let required: Vec<(&'static str, FieldInfo)> =
        required_unfilled(&left.fields, &right.fields, &pairs).into_iter().map(|(s, f)| (s, f.clone())).collect();
    let gaps = gaps(&fields, &users, &required);
    let status_csv = fields.iter().find(|f| f.pair.kind == MappingKind::Status).and_then(|f| f.values.as_ref());
    Proposal {
        yaml: render::yaml(id, left, right, &fields, &users, &required, status_file),
        status_file: status_file.into(),
        status_csv: status_csv.map(render::status_csv),
        gaps,
        fields,
        users,
    }
}

/// A choice field's values: its allowed values, or for the status the type's states.
fn choices(f: &FieldInfo, states: &[String]) -> Vec<String> {
    if f.allowed_values.is_empty() {
        states.to_vec()
    } else {
        f.allowed_values.clone()
    }
}

fn gaps(fields: &[Proposed], users: &UserMatch, required: &[(&'static str, FieldInfo)]) -> Vec<Gap> {
    let mut out = Vec::new();
    for f in fields {
        let Some(t) = &f.values else { continue };
        if t.left_unmatched.is_empty() && t.right_unmatched.is_empty() {
            continue;
        }
        let kind = if f.pair.kind == MappingKind::Status { "status" } else { "values" };
        let message = format!(
            "{} ⇄ {}: no match by name for left [{}] and right [{}]",
            f.pair.left.key,
            f.pair.right.key,
            t.left_unmatched.join(", "),
            t.right_unmatched.join(", ")
        );
        out.push(Gap { kind, field: Some(f.pair.left.key.to_string()), message });
    }
    let people = |v: &[UserRef]| v.iter().map(render::person).collect::<Vec<_>>().join(", ");
    if !users.left_unmatched.is_empty() || !users.right_unmatched.is_empty() {
        let message = format!(
            "no match by e-mail: left [{}], right [{}]",
            people(&users.left_unmatched),
            people(&users.right_unmatched)
        );
        out.push(Gap { kind: "users", field: None, message });
    }
    for (side, f) in required {
        let message =
            format!("required on create in the {side} system, and no mapped field fills it: {} ({})", f.key, f.name);
        out.push(Gap { kind: "required", field: Some(f.key.to_string()), message });
    }
    let message =
        "no remote-id fields: create a text field on each side for the twin's key and name it in remote:".into();
    out.push(Gap { kind: "remote_id", field: None, message });
    out
}

#[cfg(test)]
mod tests;
