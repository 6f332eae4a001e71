//! The terminal flow of `ferry init`: flags (what tests and CI use), or numbered
//! prompts for what is missing when stdin is a terminal; then the files and a report.

use super::{discover, propose, Proposal, SideFacts};
use crate::{open, Backend, Target};
use anyhow::{bail, Context, Result};
use ferry_domain::ports::ConnectorFactory;
use ferry_domain::{SystemConfig, SystemId};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  ferry init --config systems.yaml --left jira:APP:Bug --right ado:App:Bug --id app-bugs --out config/"
)]
pub struct InitArgs {
    /// The left side as SYSTEM:PROJECT:TYPE (project and type are asked for in a terminal
    /// when left out), e.g. `jira:APP:Bug`.
    #[arg(long)]
    left: String,
    /// The right side as SYSTEM:PROJECT:TYPE, e.g. `ado:App:Bug`.
    #[arg(long)]
    right: String,
    /// The integration's id (default: the two projects and the left type, e.g. `app-app-bug`).
    #[arg(long)]
    id: Option<String>,
    /// Config files that define the systems (default: the systems applied to the store).
    #[arg(long)]
    config: Vec<PathBuf>,
    /// Where the files go: ID.yaml and ID-status.csv.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Replace files that exist.
    #[arg(long)]
    force: bool,
    /// The proposal's files and gaps as one JSON object (the files are written too).
    #[arg(long)]
    json: bool,
}

pub async fn run(target: &Target, args: InitArgs) -> Result<ExitCode> {
    let rt = open(target).await?;
    let left = side(target, &rt, &args.config, &args.left).await?;
    let right = side(target, &rt, &args.config, &args.right).await?;
    let id = args.id.clone().unwrap_or_else(|| default_id(&left, &right));
    let status_file = format!("{id}-status.csv");
    let proposal = propose(&id, &left, &right, &status_file);
    let written = write_files(&args.out, &id, &proposal, args.force)?;
    if args.json {
        let v = serde_json::json!({ "files": written, "proposal": proposal });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        report(&proposal, &written);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn default_id(left: &SideFacts, right: &SideFacts) -> String {
    let raw = format!("{}-{}-{}", left.project, right.project, left.entity_type).to_lowercase();
    raw.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// One side: the system's config, then its project and type (given or asked), discovered.
async fn side(target: &Target, rt: &Backend, config: &[PathBuf], spec: &str) -> Result<SideFacts> {
    let mut parts = spec.splitn(3, ':').map(str::to_string);
    let system = parts.next().unwrap_or_default();
    let (project, entity_type) = (parts.next().filter(|s| !s.is_empty()), parts.next().filter(|s| !s.is_empty()));
    let cfg = system_config(target, rt, config, &system).await?;
    let conn = rt.connectors().connector(&cfg).await?;
    let project = match project {
        Some(p) => p,
        None => {
            let names: Vec<String> = conn.projects().await?.into_iter().map(|p| p.key).collect();
            choose(&format!("{system}: project"), &names)?
        }
    };
    let entity_type = match entity_type {
        Some(t) => t,
        None => {
            let names: Vec<String> = conn.entity_types(&project).await?.into_iter().map(|t| t.name).collect();
            choose(&format!("{system}/{project}: entity type"), &names)?
        }
    };
    Ok(discover(conn.as_ref(), &system, &project, &entity_type).await?)
}

async fn system_config(target: &Target, rt: &Backend, config: &[PathBuf], system: &str) -> Result<SystemConfig> {
    let id = SystemId::parse(system).map_err(|e| anyhow::anyhow!("{e}"))?;
    if config.is_empty() {
        return rt.engine().config_store().get_system(&id).await?.with_context(|| {
            format!("system {system:?} is not in the store: apply a config first or pass --config FILE")
        });
    }
    let set = ferry_config::load_files_for(config, target.config_target())
        .map_err(|e| anyhow::anyhow!("config is invalid:\n{e}"))?;
    set.systems
        .into_iter()
        .find(|s| s.id == id)
        .with_context(|| format!("system {system:?} is not in the given config"))
}

/// A numbered choice on a terminal; without one, the flag that was left out is an error.
fn choose(what: &str, options: &[String]) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("{what} not given: pass it as SYSTEM:PROJECT:TYPE (not a terminal, so nothing is asked)");
    }
    if options.is_empty() {
        bail!("{what}: the system offers none");
    }
    let mut err = std::io::stderr();
    for (i, o) in options.iter().enumerate() {
        writeln!(err, "  {}) {o}", i + 1)?;
    }
    loop {
        write!(err, "{what} [1-{}]: ", options.len())?;
        err.flush()?;
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            bail!("{what}: no answer");
        }
        match line.trim().parse::<usize>() {
            Ok(n) if (1..=options.len()).contains(&n) => return Ok(options[n - 1].clone()),
            _ => writeln!(err, "  a number from 1 to {}", options.len())?,
        }
    }
}

/// Writes ID.yaml and the status skeleton; refuses to replace a file without `--force`.
fn write_files(dir: &Path, id: &str, p: &Proposal, force: bool) -> Result<Vec<PathBuf>> {
    let mut files = vec![(dir.join(format!("{id}.yaml")), p.yaml.clone())];
    if let Some(csv) = &p.status_csv {
        files.push((dir.join(&p.status_file), csv.clone()));
    }
    if !force {
        if let Some((path, _)) = files.iter().find(|(path, _)| path.exists()) {
            bail!("{} exists: pass --force to replace it", path.display());
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (path, text) in &files {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

fn report(p: &Proposal, written: &[PathBuf]) {
    for f in written {
        println!("wrote {}", f.display());
    }
    println!("{} field(s) mapped:", p.fields.len());
    for f in &p.fields {
        println!("  {} ⇄ {}  ({})", f.pair.left.key, f.pair.right.key, f.pair.because);
    }
    println!("{} user(s) matched by e-mail", p.users.matched.len());
    println!("{} gap(s) to close (marked GAP: in the files):", p.gaps.len());
    for g in &p.gaps {
        println!("  [{}] {}", g.kind, g.message);
    }
    println!("next: ferry check SYSTEMS.yaml {}", written.first().map(|f| f.display().to_string()).unwrap_or_default());
}
