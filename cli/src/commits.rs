//! `ferry commits FILE...`: one poll of each commit link the config files declare, on the
//! embedded store: fetch the repository, walk the new commits, link and comment them on
//! the work items they name (docs/source-control.md).

use anyhow::{bail, Context, Result};
use ferry_config::ConfigSet;
use ferry_domain::{CommitIntegration, ScmSystem};
use ferry_runtime::Embedded;
use ferry_scm::{CommitSync, KeyPattern, PollReport, Target};
use secrecy::ExposeSecret;
use std::path::Path;
use std::process::ExitCode;

/// Polls every commit link of `set`; prints one line per link. Exit 1 when one failed.
pub async fn poll_all(rt: &Embedded, set: &ConfigSet, db: &Path) -> Result<ExitCode> {
    if set.commit_links.is_empty() {
        bail!("the config files declare no commit_links");
    }
    let mut failed = false;
    for link in &set.commit_links {
        match poll_one(rt, set, link, db).await {
            Ok(report) => println!("{}: {}", link.id, summary(&report)),
            Err(e) => {
                failed = true;
                eprintln!("{}: {e:#}", link.id);
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

async fn poll_one(rt: &Embedded, set: &ConfigSet, link: &CommitIntegration, db: &Path) -> Result<PollReport> {
    let system = set.source_control.iter().find(|s| s.id == link.source).context("the source system")?;
    let token = match &system.token {
        Some(r) => Some(rt.connectors.secrets().resolve(r).await?.expose_secret().to_string()),
        None => None,
    };
    let mut targets = Vec::new();
    for t in &link.targets {
        let target_system = set.systems.iter().find(|s| s.id == t.system).context("a target system")?;
        targets.push(Target {
            system: t.system.to_string(),
            project: t.project.clone(),
            pattern: KeyPattern::new(&t.key_pattern).map_err(anyhow::Error::msg)?,
            connector: rt.connectors.build(target_system).await?,
        });
    }
    let sync = CommitSync {
        integration: link.clone(),
        system: system.clone(),
        token,
        mirror_dir: mirror_dir(db, system),
        targets,
        state: rt.engine.state().clone(),
    };
    Ok(sync.poll().await?)
}

/// Mirrors live beside the store: `<db dir>/ferry-mirrors/<system id>`.
fn mirror_dir(db: &Path, system: &ScmSystem) -> std::path::PathBuf {
    db.parent().unwrap_or(Path::new(".")).join("ferry-mirrors").join(system.id.as_str())
}

fn summary(r: &PollReport) -> String {
    if r.activated {
        return "activated: the branch tips are recorded; later commits will be linked".into();
    }
    let mut s = format!(
        "{} new commit(s), {} link(s), {} comment(s), {} already there, {} reported",
        r.commits, r.links, r.comments, r.already_done, r.reported
    );
    if !r.unmatched_patterns.is_empty() {
        s.push_str(&format!("; no branch matches {}", r.unmatched_patterns.join(", ")));
    }
    s
}
