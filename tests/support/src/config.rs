//! A config in a temp dir: the example sheets the integrations read, the YAML written
//! from a template, loaded and validated as `ferry apply` does.

use anyhow::{anyhow, Context, Result};
use ferry_config::ConfigSet;
use ferry_domain::{Integration, Scope, Side, SystemConfig};
use ferry_sim::{AdoSim, JiraSim};
use std::path::{Path, PathBuf};

/// The sheets in `examples/` that the test integrations' value maps read.
pub const EXAMPLE_SHEETS: [&str; 3] = ["status.csv", "severity.xlsx", "users.xlsx"];

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A temp dir holding copies of the example sheets (removed when dropped).
pub fn dir_with_sheets() -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    for f in EXAMPLE_SHEETS {
        std::fs::copy(repo_root().join("examples").join(f), dir.path().join(f))
            .with_context(|| format!("copying examples/{f}"))?;
    }
    Ok(dir)
}

/// `template` with the simulators' base URLs put in for `@JIRA_URL@` and `@ADO_URL@`.
pub fn with_simulator_urls(template: &str, jira: &JiraSim, ado: &AdoSim) -> String {
    template.replace("@JIRA_URL@", &jira.base_url()).replace("@ADO_URL@", &ado.base_url())
}

/// Loads and validates the config file at `path`; the error lists every problem.
pub fn load(path: &Path) -> Result<ConfigSet> {
    ferry_config::load_files(&[path.to_path_buf()]).map_err(|e| anyhow!("test config {} invalid:\n{e}", path.display()))
}

/// Writes `text` to `path`, then loads it.
pub fn write_and_load(path: &Path, text: &str) -> Result<ConfigSet> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    load(path)
}

/// The system an integration's `side` names.
pub fn system<'a>(systems: &'a [SystemConfig], integration: &Integration, side: Side) -> Result<&'a SystemConfig> {
    let id = &integration.endpoint(side).system;
    systems.iter().find(|s| &s.id == id).with_context(|| format!("system {id} of integration {}", integration.id))
}

/// The project and entity type an integration syncs on `side`.
pub fn scope(integration: &Integration, side: Side) -> Scope {
    let ep = integration.endpoint(side);
    Scope { project: ep.project.clone(), entity_type: ep.entity_type.clone() }
}
