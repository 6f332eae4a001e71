//! `ferry check`: what `validate` checks, then the live systems: does the integration
//! user see the project and entity type, does every mapped field exist (and, where Ferry
//! writes it, accept writes), is every value-table entry and status an allowed value,
//! do the remote-id fields exist and accept writes, does each filter parse.
//!
//! The systems are read first ([`SideFacts`], I/O); the findings are a plain function of
//! the integration and those facts ([`side_findings`]), each placed at the line of the
//! config that declared the offending key.

use ferry_config::{ConfigSet, Place, Places};
use ferry_domain::ports::{Connector, ConnectorFactory};
use ferry_domain::{EntityTypeInfo, FieldInfo, Flow, Integration, MappingKind, ProjectInfo, Scope, Side};
use serde::Serialize;

/// What is wrong, one kind per rule (the `--json` output's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The system cannot be reached or refuses the credentials.
    Connection,
    /// The integration user does not see the project.
    Project,
    /// The project has no such entity type.
    EntityType,
    /// A mapped field does not exist on the entity type.
    UnknownField,
    /// Ferry would write a field the system refuses to write.
    ReadOnlyField,
    /// A value-table entry is not an allowed value of its field.
    ValueNotAllowed,
    /// A status of the value table is not a status of the entity type's workflow.
    UnknownStatus,
    /// A remote-id field does not exist or cannot be written.
    RemoteIdField,
    /// The system refuses a filter.
    Filter,
}

/// One finding: where, what, and a hint.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let (Some(file), Some(line)) = (&self.file, self.line) {
            write!(f, "{file}:{line}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
            f.write_str(": ")?;
        }
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// A finding before it is placed: the key path relative to the integration's entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFinding {
    pub kind: FindingKind,
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

impl RawFinding {
    fn new(kind: FindingKind, key: String, message: String, hint: Option<String>) -> Self {
        RawFinding { kind, key, message, hint }
    }

    /// The system of `side` could not be reached or refused the credentials.
    pub fn connection(system: &str, side: Side, error: &str) -> Self {
        RawFinding::new(
            FindingKind::Connection,
            format!("{}.system", side.as_str()),
            format!("{system} ({}) did not answer as the integration user: {error}", side.as_str()),
            Some(format!("`ferry discover {system} projects` shows what the credentials see")),
        )
    }

    /// Placed at the line of the config that declared its key.
    pub fn place(self, integration: &Integration, places: &Places) -> Finding {
        let at: Option<Place> = places.in_integration(integration.id.as_str(), &self.key);
        Finding {
            kind: self.kind,
            file: at.as_ref().map(|p| p.file.clone()),
            line: at.as_ref().map(|p| p.line),
            column: at.as_ref().map(|p| p.column),
            path: at.map(|p| p.path).unwrap_or_else(|| format!("{}.{}", integration.id, self.key)),
            message: self.message,
            hint: self.hint,
        }
    }
}

/// What one side's system says about the integration's endpoint.
#[derive(Debug, Clone, Default)]
pub struct SideFacts {
    pub projects: Vec<ProjectInfo>,
    /// `None`: the project is not visible (nothing more was read).
    pub types: Option<Vec<EntityTypeInfo>>,
    /// `None`: the entity type was not found (nothing more was read).
    pub fields: Option<Vec<FieldInfo>>,
    /// The system's answer to the filter of the direction that reads this side.
    pub filter_error: Option<String>,
}

/// Every finding of the config's integrations against their live systems, each side
/// read through `connectors` and placed at its line of the config.
pub async fn findings(set: &ConfigSet, connectors: &dyn ConnectorFactory) -> Vec<Finding> {
    let mut out = Vec::new();
    for integration in &set.integrations {
        for side in [Side::Left, Side::Right] {
            let system = &integration.endpoint(side).system;
            let found = match set.systems.iter().find(|s| &s.id == system) {
                None => vec![RawFinding::connection(system.as_str(), side, "the system is not in the config")],
                Some(cfg) => match connectors.connector(cfg).await {
                    Ok(conn) => match side_facts(conn.as_ref(), integration, side).await {
                        Ok(facts) => side_findings(integration, side, &facts),
                        Err(unreachable) => vec![unreachable],
                    },
                    Err(e) => vec![RawFinding::connection(system.as_str(), side, &e.to_string())],
                },
            };
            out.extend(found.into_iter().map(|f| f.place(integration, &set.places)));
        }
    }
    out
}

/// Reads what [`side_findings`] needs from one side's system; a failed read is a finding.
pub async fn side_facts(conn: &dyn Connector, integration: &Integration, side: Side) -> Result<SideFacts, RawFinding> {
    let ep = integration.endpoint(side);
    let unreachable = |e: ferry_domain::PortError| RawFinding::connection(ep.system.as_str(), side, &e.to_string());
    let mut facts = SideFacts { projects: conn.projects().await.map_err(unreachable)?, ..SideFacts::default() };
    if find_project(&facts.projects, &ep.project).is_none() {
        return Ok(facts);
    }
    let types = conn.entity_types(&ep.project).await.map_err(unreachable)?;
    let found = types.iter().any(|t| same(&t.name, &ep.entity_type) || same(&t.id, &ep.entity_type));
    facts.types = Some(types);
    if !found {
        return Ok(facts);
    }
    let scope = Scope { project: ep.project.clone(), entity_type: ep.entity_type.clone() };
    facts.fields = Some(conn.fields(&scope).await.map_err(unreachable)?);
    let reading = if side == Side::Left { Flow::LeftToRight } else { Flow::RightToLeft };
    if let Some(condition) = integration.filter(reading) {
        facts.filter_error = conn.validate_filter(&scope, condition).await.err().map(|e| e.message);
    }
    Ok(facts)
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn find_project<'a>(projects: &'a [ProjectInfo], wanted: &str) -> Option<&'a ProjectInfo> {
    projects.iter().find(|p| same(&p.key, wanted) || same(&p.name, wanted) || p.id == wanted)
}

/// Everything wrong with one side of `integration`, given what its system said.
pub fn side_findings(integration: &Integration, side: Side, facts: &SideFacts) -> Vec<RawFinding> {
    let ep = integration.endpoint(side);
    let s = side.as_str();
    let Some(types) = &facts.types else {
        let seen: Vec<&str> = facts.projects.iter().map(|p| p.key.as_str()).collect();
        let message = format!("the integration user of {} does not see project \"{}\"", ep.system, ep.project);
        let hint = format!("projects it sees: {}", list(&seen));
        return vec![RawFinding::new(FindingKind::Project, format!("{s}.project"), message, Some(hint))];
    };
    let Some(fields) = &facts.fields else {
        let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
        let message = format!("project \"{}\" has no entity type \"{}\"", ep.project, ep.entity_type);
        let hint = format!("types: {}", list(&names));
        return vec![RawFinding::new(FindingKind::EntityType, format!("{s}.type"), message, Some(hint))];
    };
    let states = types
        .iter()
        .find(|t| same(&t.name, &ep.entity_type) || same(&t.id, &ep.entity_type))
        .map(|t| t.states.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (j, m) in integration.fields.iter().enumerate() {
        out.extend(mapping_findings(integration, side, j, m, fields, &states));
    }
    out.extend(remote_id_findings(integration, side, fields));
    if let Some(e) = &facts.filter_error {
        let flow = if side == Side::Left { Flow::LeftToRight } else { Flow::RightToLeft };
        let message = format!("{} refuses the filter: {e}", ep.system);
        out.push(RawFinding::new(FindingKind::Filter, format!("filters.{}", flow.as_str()), message, None));
    }
    out
}

/// Whether some direction of mapping `m` writes into `side`.
fn writes_into(m: &ferry_domain::FieldMapping, side: Side) -> bool {
    let flow = if side == Side::Left { Flow::RightToLeft } else { Flow::LeftToRight };
    m.direction.allows(flow)
}

fn mapping_findings(
    integration: &Integration,
    side: Side,
    j: usize,
    m: &ferry_domain::FieldMapping,
    fields: &[FieldInfo],
    states: &[String],
) -> Vec<RawFinding> {
    let (s, ep) = (side.as_str(), integration.endpoint(side));
    let Some(key) = m.field(side) else { return Vec::new() };
    let at = format!("fields[{j}].{s}");
    let Some(info) = fields.iter().find(|f| same(f.key.as_str(), key.as_str())) else {
        let message = format!("{key} is not a field of {}/{}", ep.project, ep.entity_type);
        let hint = close_field(fields, key.as_str()).map_or_else(
            || {
                format!(
                    "`ferry discover {} fields --project {} --type {}` lists them",
                    ep.system, ep.project, ep.entity_type
                )
            },
            |c| format!("did you mean {c}?"),
        );
        return vec![RawFinding::new(FindingKind::UnknownField, at, message, Some(hint))];
    };
    let mut out = Vec::new();
    if !writes_into(m, side) {
        return out;
    }
    if info.read_only {
        let message = format!("{key} ({}) cannot be written on {}/{}", info.name, ep.project, ep.entity_type);
        let hint = "map it in the other direction only (direction:) or map another field".to_string();
        out.push(RawFinding::new(FindingKind::ReadOnlyField, at, message, Some(hint)));
    }
    let (allowed, kind): (&[String], _) = if m.kind == MappingKind::Status && info.allowed_values.is_empty() {
        (states, FindingKind::UnknownStatus)
    } else if m.kind == MappingKind::Status {
        (&info.allowed_values, FindingKind::UnknownStatus)
    } else {
        (&info.allowed_values, FindingKind::ValueNotAllowed)
    };
    let Some(table) = &m.values else { return out };
    if allowed.is_empty() {
        return out;
    }
    for (left, right) in &table.rows {
        let value = if side == Side::Left { left } else { right };
        if allowed.iter().any(|a| same(a, value)) {
            continue;
        }
        let what = if kind == FindingKind::UnknownStatus { "a status of" } else { "an allowed value of" };
        let message =
            format!("\"{value}\" ({}) is not {what} {key} on {}/{}", table.origin, ep.project, ep.entity_type);
        let hint = format!("allowed: {}", list(&allowed.iter().map(String::as_str).collect::<Vec<_>>()));
        out.push(RawFinding::new(kind, format!("fields[{j}].values.inline.{left}"), message, Some(hint)));
    }
    out
}

fn remote_id_findings(integration: &Integration, side: Side, fields: &[FieldInfo]) -> Option<RawFinding> {
    let key = integration.remote.id_field(side)?;
    let ep = integration.endpoint(side);
    let at = format!("remote.{}_id_field", side.as_str());
    let problem = match fields.iter().find(|f| same(f.key.as_str(), key.as_str())) {
        None => format!("{key} is not a field of {}/{}", ep.project, ep.entity_type),
        Some(f) if f.read_only => format!("{key} ({}) cannot be written on {}/{}", f.name, ep.project, ep.entity_type),
        Some(_) => return None,
    };
    let hint = "Ferry writes the peer's key there: create a text field on the type's screens, or remove the key";
    Some(RawFinding::new(FindingKind::RemoteIdField, at, problem, Some(hint.into())))
}

/// A field whose key or name differs from `wanted` only in case or by its name.
fn close_field(fields: &[FieldInfo], wanted: &str) -> Option<String> {
    fields.iter().find(|f| same(&f.name, wanted)).map(|f| format!("{} ({})", f.key, f.name))
}

fn list(items: &[&str]) -> String {
    const SHOWN: usize = 20;
    if items.is_empty() {
        return "none".into();
    }
    let mut s = items.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(", … ({} more)", items.len() - SHOWN));
    }
    s
}

#[cfg(test)]
mod tests;
