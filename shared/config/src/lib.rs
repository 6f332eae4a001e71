//! Ferry's configuration as code: YAML files describing systems and integrations,
//! with value and user tables that may live in CSV or Excel (.xlsx) sheets.
//!
//! Loading validates everything and reports every problem it finds, each at its
//! `FILE:LINE:COL` with the key path (`integrations[0].fields[2].direction`) and, where
//! it helps, a hint. Sheets are read at load time, so the produced
//! [`Integration`]s are self-contained.
//!
//! The format is declared once, in `format.rs`: the decoder takes each object's keys from
//! there, and [`json_schema`] (for editors) is generated from it.

mod collab_support;
mod collaboration;
mod confined;
mod decode;
#[cfg(test)]
mod drift;
mod format;
mod integrations;
mod places;
mod rate_limit;
mod schema;
mod source_control;
mod systems;
mod tables;
mod webhook;
mod workbook_size;
mod yaml;

use ferry_domain::filter_scope::{check_condition, QueryLanguage, FILTER_RULES};
use ferry_domain::{Integration, SystemConfig, SystemKind};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use decode::duration_secs;
pub use places::{Place, Places};
pub use tables::{read_csv_bytes, read_csv_table, read_xlsx_bytes, read_xlsx_table, TableError, TableRow};

/// Everything the loaded files declare, validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigSet {
    pub systems: Vec<SystemConfig>,
    pub integrations: Vec<Integration>,
    /// Source-control systems (`source_control:`).
    pub source_control: Vec<ferry_domain::ScmSystem>,
    /// Commit integrations (`commit_links:`).
    pub commit_links: Vec<ferry_domain::CommitIntegration>,
    /// Where each key was written (for findings about the live systems).
    pub places: Places,
}

/// One problem in a config file (serialized as `ferry validate --json` prints it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigError {
    /// The file as named by the caller (`load_files`) or the `name` given to `load_str`.
    pub file: String,
    /// 1-based; `None` when the problem is the file itself (unreadable).
    pub line: Option<usize>,
    /// 1-based.
    pub column: Option<usize>,
    /// Key path such as `integrations[0].fields[2].values.sheet.left_column`; empty for the file.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// All problems found; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Where a loaded config runs. The AWS backend's functions cannot read the operator's
/// files: a certificate given as a file path is an error there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    #[default]
    Embedded,
    Aws,
}

/// Loads and merges several files. Sheet and certificate paths resolve relative to the
/// file that names them; integrations may refer to systems declared in any of the files.
pub fn load_files(paths: &[PathBuf]) -> Result<ConfigSet, ConfigErrors> {
    load_files_for(paths, Target::Embedded)
}

/// [`load_files`] for a given backend.
pub fn load_files_for(paths: &[PathBuf], target: Target) -> Result<ConfigSet, ConfigErrors> {
    let mut loader = Loader { target, ..Loader::default() };
    for path in paths {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let base = path.parent().unwrap_or(Path::new("."));
                let base = if base.as_os_str().is_empty() { Path::new(".") } else { base };
                loader.add(&name, &text, base);
            }
            Err(e) => loader.errors.push(ConfigError {
                file: name,
                line: None,
                column: None,
                path: String::new(),
                message: format!("cannot read the file: {e}"),
                hint: None,
            }),
        }
    }
    loader.finish()
}

/// Loads one document given as text; `name` is used in messages and `base_dir` resolves
/// relative sheet and certificate paths.
pub fn load_str(name: &str, text: &str, base_dir: &Path) -> Result<ConfigSet, ConfigErrors> {
    load_str_for(name, text, base_dir, Target::Embedded)
}

/// [`load_str`] for a given backend.
pub fn load_str_for(name: &str, text: &str, base_dir: &Path, target: Target) -> Result<ConfigSet, ConfigErrors> {
    let mut loader = Loader { target, ..Loader::default() };
    loader.add(name, text, base_dir);
    loader.finish()
}

/// [`load_str_for`] with `known` systems declared as if by another file loaded with it
/// (the systems already applied to a store): the text may name them without declaring
/// them. They are in the returned set's `systems`, after the text's own.
pub fn load_str_with_systems(
    name: &str,
    text: &str,
    base_dir: &Path,
    target: Target,
    known: &[SystemConfig],
) -> Result<ConfigSet, ConfigErrors> {
    let mut loader = Loader { target, ..Loader::default() };
    loader.add(name, text, base_dir);
    for (i, system) in known.iter().enumerate() {
        let at = decode::At { file: KNOWN_SYSTEMS.into(), pos: yaml::Pos::default(), path: format!("systems[{i}]") };
        loader.systems.push(systems::SystemDecl { id: system.id.clone(), system: Some(system.clone()), at });
    }
    loader.finish()
}

/// Where [`load_str_with_systems`]'s known systems are said to come from.
const KNOWN_SYSTEMS: &str = "(systems applied to the store)";

/// JSON Schema (draft-07) of the YAML file format, for editors (e.g. the YAML language
/// server's `# yaml-language-server: $schema=ferry.schema.json`).
pub fn json_schema() -> serde_json::Value {
    schema::json_schema()
}

#[derive(Default)]
struct Loader {
    target: Target,
    files: Vec<String>,
    errors: Vec<ConfigError>,
    systems: Vec<systems::SystemDecl>,
    integrations: Vec<integrations::IntegrationDecl>,
    source_control: Vec<source_control::ScmDecl>,
    commit_links: Vec<source_control::CommitLinkDecl>,
    places: Places,
}

impl Loader {
    fn add(&mut self, name: &str, text: &str, base_dir: &Path) {
        self.files.push(name.to_string());
        let mut ctx = decode::Ctx::new(name, &mut self.errors);
        let root = match yaml::parse(text) {
            Ok(Some(root)) => root,
            Ok(None) => return,
            Err(e) => {
                ctx.error(e.pos, "", format!("YAML syntax error: {}", e.message), None);
                return;
            }
        };
        if root.is_null() {
            return;
        }
        self.places.add_document(name, &root);
        let Some(obj) = decode::Obj::new(&mut ctx, &root, "", &format::FILE) else {
            return;
        };
        if let Some(list) = obj.get("systems") {
            for (i, item) in decode::list(&mut ctx, list, "systems").into_iter().enumerate() {
                let path = format!("systems[{i}]");
                if let Some(d) = systems::decode(&mut ctx, item, &path, base_dir, self.target) {
                    self.systems.push(d);
                }
            }
        }
        if let Some(list) = obj.get("integrations") {
            for (i, item) in decode::list(&mut ctx, list, "integrations").into_iter().enumerate() {
                let path = format!("integrations[{i}]");
                if let Some(d) = integrations::decode(&mut ctx, item, &path, base_dir) {
                    if let Some((id, _)) = &d.id {
                        self.places.add_integration(id, name, &path);
                    }
                    self.integrations.push(d);
                }
            }
        }
        add_source_control(&mut ctx, &obj, base_dir, self.target, &mut self.source_control, &mut self.commit_links);
    }

    /// Commit links across files: ids unique among all systems and integrations, the
    /// source a source_control system, each target a Jira or Azure DevOps system, and a
    /// web_url where links are wanted.
    fn check_commit_links(&mut self) {
        let mut errors = Vec::new();
        let error = |at: &decode::At, message: String, hint: Option<String>| ConfigError {
            file: at.file.clone(),
            line: Some(at.pos.line),
            column: Some(at.pos.col),
            path: at.path.clone(),
            message,
            hint,
        };
        for d in &self.source_control {
            if let Some(first) = self.systems.iter().find(|s| s.id == d.id).map(|s| &s.at) {
                let hint = Some(format!("it is already declared at {}:{}", first.file, first.pos.line));
                errors.push(error(&d.at, format!("duplicate system id \"{}\"", d.id), hint));
            }
        }
        let mut seen: Vec<(&str, &decode::At)> = Vec::new();
        for d in &self.commit_links {
            if let Some(i) = &d.integration {
                let id = i.id.as_str();
                let first = seen.iter().find(|(s, _)| *s == id).map(|(_, at)| (*at).clone());
                let first = first.or_else(|| {
                    self.integrations
                        .iter()
                        .find_map(|x| x.id.as_ref().filter(|(x, _)| x.as_str() == id).map(|(_, at)| at.clone()))
                });
                match first {
                    Some(f) => errors.push(error(
                        &d.at,
                        format!("duplicate integration id \"{id}\""),
                        Some(format!("it is already declared at {}:{}", f.file, f.pos.line)),
                    )),
                    None => seen.push((id, &d.at)),
                }
            }
            if let Some((source, at)) = &d.source_ref {
                match self.source_control.iter().find(|s| &s.id == source) {
                    None => {
                        let known: Vec<&str> = self.source_control.iter().map(|s| s.id.as_str()).collect();
                        let hint = match known.is_empty() {
                            true => "declare it under `source_control:`".to_string(),
                            false => format!("declare it under `source_control:`; known: {}", known.join(", ")),
                        };
                        errors.push(error(at, format!("unknown source-control system \"{source}\""), Some(hint)));
                    }
                    Some(s) => {
                        let links = d.integration.as_ref().is_some_and(|i| i.links());
                        if links && s.system.as_ref().is_some_and(|s| s.web_url.is_none()) {
                            let hint = Some(format!("give {source} a web_url, or use on_commit: [comment]"));
                            errors.push(error(at, format!("on_commit: link needs the web_url of {source}"), hint));
                        }
                    }
                }
            }
            for (target, at) in &d.target_refs {
                let kind =
                    self.systems.iter().find(|s| &s.id == target).and_then(|s| s.system.as_ref()).map(|s| s.kind);
                match kind {
                    Some(SystemKind::Jira | SystemKind::AzureDevops) => {}
                    Some(other) => errors.push(error(
                        at,
                        format!("commits can be linked to Jira or Azure DevOps work items, not {other}"),
                        None,
                    )),
                    None if self.systems.iter().any(|s| &s.id == target) => {}
                    None => errors.push(error(
                        at,
                        format!("unknown system \"{target}\""),
                        Some("a target is a system declared under `systems:`".into()),
                    )),
                }
            }
        }
        self.errors.extend(errors);
    }

    fn finish(mut self) -> Result<ConfigSet, ConfigErrors> {
        self.cross_check();
        self.check_commit_links();
        if !self.errors.is_empty() {
            let order: HashMap<&str, usize> = self.files.iter().enumerate().map(|(i, f)| (f.as_str(), i)).collect();
            let mut errors = self.errors;
            errors.sort_by_key(|e| {
                (order.get(e.file.as_str()).copied().unwrap_or(0), e.line.unwrap_or(0), e.column.unwrap_or(0))
            });
            return Err(ConfigErrors(errors));
        }
        Ok(ConfigSet {
            systems: self.systems.into_iter().filter_map(|d| d.system).collect(),
            integrations: self.integrations.into_iter().filter_map(|d| d.integration).collect(),
            source_control: self.source_control.into_iter().filter_map(|d| d.system).collect(),
            commit_links: self.commit_links.into_iter().filter_map(|d| d.integration).collect(),
            places: self.places,
        })
    }

    /// Checks that span files: duplicate ids and references to systems.
    fn cross_check(&mut self) {
        let mut seen: HashMap<&str, &systems::SystemDecl> = HashMap::new();
        for d in &self.systems {
            match seen.get(d.id.as_str()) {
                Some(first) => self.errors.push(ConfigError {
                    file: d.at.file.clone(),
                    line: Some(d.at.pos.line),
                    column: Some(d.at.pos.col),
                    path: format!("{}.id", d.at.path),
                    message: format!("duplicate system id \"{}\"", d.id),
                    hint: Some(format!("it is already declared at {}:{}", first.at.file, first.at.pos.line)),
                }),
                None => {
                    seen.insert(d.id.as_str(), d);
                }
            }
        }
        let known: Vec<&str> = {
            let mut v: Vec<&str> = seen.keys().copied().collect();
            v.sort_unstable();
            v
        };
        let mut seen_integrations: HashMap<&str, &decode::At> = HashMap::new();
        for d in &self.integrations {
            if let Some((id, at)) = &d.id {
                match seen_integrations.get(id.as_str()) {
                    Some(first) => self.errors.push(ConfigError {
                        file: at.file.clone(),
                        line: Some(at.pos.line),
                        column: Some(at.pos.col),
                        path: at.path.clone(),
                        message: format!("duplicate integration id \"{id}\""),
                        hint: Some(format!("it is already declared at {}:{}", first.file, first.pos.line)),
                    }),
                    None => {
                        seen_integrations.insert(id.as_str(), at);
                    }
                }
            }
            for f in &d.filters {
                let lang = match seen.get(f.source_system.as_str()).and_then(|s| s.system.as_ref()).map(|s| s.kind) {
                    Some(SystemKind::Jira) => QueryLanguage::Jql,
                    Some(SystemKind::AzureDevops) => QueryLanguage::Wiql,
                    // Redmine filters are query-string pairs, checked by the connector.
                    Some(SystemKind::Redmine) | None => continue,
                };
                if let Err(e) = check_condition(lang, f.condition.trim()) {
                    self.errors.push(ConfigError {
                        file: f.at.file.clone(),
                        line: Some(f.at.pos.line),
                        column: Some(f.at.pos.col),
                        path: f.at.path.clone(),
                        message: format!("this {lang} condition cannot be a filter: {e}"),
                        hint: Some(FILTER_RULES.to_string()),
                    });
                }
            }
            self.errors.extend(collab_errors(d, &seen));
            for (system, at) in d.system_refs.iter() {
                if !seen.contains_key(system.as_str()) {
                    let hint = if known.is_empty() {
                        "declare it under `systems:` in this file or in another file loaded with it".to_string()
                    } else {
                        let close = decode::did_you_mean(system, &known);
                        let list = known.join(", ");
                        match close {
                            Some(c) => format!("did you mean \"{c}\"? known systems: {list}"),
                            None => format!("known systems: {list}"),
                        }
                    };
                    self.errors.push(ConfigError {
                        file: at.file.clone(),
                        line: Some(at.pos.line),
                        column: Some(at.pos.col),
                        path: at.path.clone(),
                        message: format!("unknown system \"{system}\""),
                        hint: Some(hint),
                    });
                }
            }
        }
    }
}

/// A file's `source_control:` and `commit_links:` entries.
fn add_source_control(
    ctx: &mut decode::Ctx,
    obj: &decode::Obj,
    base_dir: &Path,
    target: Target,
    systems: &mut Vec<source_control::ScmDecl>,
    links: &mut Vec<source_control::CommitLinkDecl>,
) {
    if let Some(list) = obj.get("source_control") {
        for (i, item) in decode::list(ctx, list, "source_control").into_iter().enumerate() {
            let path = format!("source_control[{i}]");
            systems.extend(source_control::decode_system(ctx, item, &path, base_dir, target));
        }
    }
    if let Some(list) = obj.get("commit_links") {
        for (i, item) in decode::list(ctx, list, "commit_links").into_iter().enumerate() {
            links.extend(source_control::decode_link(ctx, item, &format!("commit_links[{i}]")));
        }
    }
}

/// The collaboration keys of an integration that one of its systems cannot do, each at
/// the line of its key (see `collab_support.rs`).
fn collab_errors(d: &integrations::IntegrationDecl, systems: &HashMap<&str, &systems::SystemDecl>) -> Vec<ConfigError> {
    let Some(i) = &d.integration else { return Vec::new() };
    fn side<'e>(
        e: &'e ferry_domain::Endpoint,
        systems: &HashMap<&str, &systems::SystemDecl>,
    ) -> Option<collab_support::SideKind<'e>> {
        let kind = systems.get(e.system.as_str()).and_then(|s| s.system.as_ref()).map(|s| s.kind)?;
        Some(collab_support::SideKind { system: e.system.as_str(), kind, abilities: kind.abilities() })
    }
    let (Some(left), Some(right)) = (side(&i.left, systems), side(&i.right, systems)) else { return Vec::new() };
    collab_support::refusals(&i.collaboration, &left, &right)
        .into_iter()
        .filter_map(|r| {
            // The key itself, else the collaboration key it is under (always written).
            let top = r.key.split(['.', '[']).next().unwrap_or_default();
            let at =
                d.collab_at.iter().find(|(k, _)| *k == r.key).or_else(|| d.collab_at.iter().find(|(k, _)| k == top));
            let (_, at) = at?;
            Some(ConfigError {
                file: at.file.clone(),
                line: Some(at.pos.line),
                column: Some(at.pos.col),
                path: at.path.clone(),
                message: r.message,
                hint: r.hint,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
