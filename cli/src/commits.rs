//! Commit links in the CLI (docs/source-control.md): `ferry activate` of one, and how
//! their lines of `ferry run --once` and `ferry status` read. `ferry apply` stores them
//! and `ferry run` polls them with the work-item integrations (main.rs).

use crate::backfill::BackfillArgs;
use anyhow::{bail, Result};
use chrono::Utc;
use ferry_domain::IntegrationId;
use ferry_domain::ScmSystem;
use ferry_engine::IntegrationStatus;
use ferry_runtime::commits::{probe, CommitActivation, CommitCycle, CommitRunner};
use ferry_runtime::connectors::Connectors;
use ferry_scm::{PollReport, Start};

/// `ferry activate ID` of a commit link: records its start point (by default each
/// selected branch's newest commit, or none for an empty repository) and marks it active.
pub async fn activate(runner: &CommitRunner, id: &IntegrationId, start: &Start, json: bool) -> Result<()> {
    let activation = runner.activate(id, start, Utc::now()).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "activation": activation }))?);
    } else {
        print_activation(&activation);
    }
    Ok(())
}

/// Where `ferry activate` starts a commit link: `--since DATE`, `--from-commit SHA`, or
/// each branch's newest commit; refuses what only work-item integrations take.
pub fn start(id: &IntegrationId, args: &BackfillArgs, from_commit: Option<String>, hooks_url: bool) -> Result<Start> {
    if args.has_pairing_options() {
        bail!("{id} is a commit link: --pair-by, --yes and --no-wait are for backfills of work-item integrations");
    }
    if hooks_url {
        bail!("{id} is a commit link: it is polled, Git servers' webhooks are not received");
    }
    Ok(match (args.since(), from_commit) {
        (Some(since), _) => Start::Since(since?),
        (None, Some(sha)) => Start::Commit(sha),
        (None, None) => Start::Newest,
    })
}

/// `ferry apply`'s connection test of the repositories it stores (new or changed): each
/// must answer with its token and CA, or nothing is stored.
pub async fn check_repositories(connectors: &Connectors, repositories: &[ScmSystem]) -> Result<()> {
    for system in repositories {
        if let Err(e) = probe(connectors, system).await {
            bail!("source_control {}: {e}; nothing was stored (`ferry apply --no-check` skips this test)", system.id);
        }
    }
    Ok(())
}

fn print_activation(a: &CommitActivation) {
    println!("{}: active", a.integration);
    let why = match a.reason {
        "empty_repository" => "the repository is empty (\"0\"): its first commit will be linked",
        "kept" => "kept from an earlier activation",
        "from_commit" => "after the commit given: later commits will be linked",
        "since_date" => "where the branch stood at the date given: later commits will be linked",
        _ => "each branch's newest commit: later commits will be linked",
    };
    if a.tips.is_empty() {
        println!("  start: no commit ({why})");
    }
    for (branch, sha) in &a.tips {
        println!("  start {branch} at {} ({why})", short(sha));
    }
}

/// The commit links' lines of `ferry run --once`.
pub fn print_cycle(c: &CommitCycle) {
    for (id, r) in &c.polls {
        println!("commits {id}: {}", summary(r));
    }
    for e in &c.errors {
        println!("poll error: {e}");
    }
}

fn summary(r: &PollReport) -> String {
    if r.busy {
        return "another poll holds the lease; skipped".into();
    }
    if r.activated {
        return "activated: the branch tips are recorded; later commits will be linked".into();
    }
    let mut s = format!(
        "{} new commit(s), {} link(s), {} comment(s), {} transition(s), {} already there, {} reported",
        r.commits, r.links, r.comments, r.transitions, r.already_done, r.reported
    );
    if r.unfinished {
        s.push_str("; stopped before the last (the tips did not move: the next poll walks them again)");
    }
    if !r.unmatched_patterns.is_empty() {
        s.push_str(&format!("; no branch matches {}", r.unmatched_patterns.join(", ")));
    }
    s
}

/// A commit link's lines of `ferry status`.
pub fn print_status(s: &IntegrationStatus) -> bool {
    let Some(c) = &s.commits else { return false };
    println!(
        "{} ({}, version {}): commits of {} ({}) -> {}",
        s.integration,
        if s.active { "active" } else { "inactive" },
        s.version,
        s.left,
        c.branches.join(", "),
        s.right
    );
    let t = |d: Option<chrono::DateTime<Utc>>| d.map_or("-".to_string(), |d| d.to_rfc3339());
    for f in &s.flows {
        let position = match &c.tips {
            None => "not activated".to_string(),
            Some(tips) if tips.is_empty() => "0 (empty repository)".to_string(),
            Some(tips) => tips.iter().map(|(b, sha)| format!("{b}@{}", short(sha))).collect::<Vec<_>>().join(" "),
        };
        println!(
            "  position {position}  last poll {}  lag {}  synced {}  reported {}",
            t(f.last_poll),
            f.lag_secs.map_or("-".into(), |s| format!("{s}s")),
            f.counts.synced,
            f.open_failures,
        );
    }
    if let Some(w) = &c.walk {
        let goal = w.to.iter().map(|(b, sha)| format!("{b}@{}", short(sha))).collect::<Vec<_>>().join(" ");
        println!("  walking to {goal}: {} commits handled, the last {}", w.handled, short(&w.after));
    }
    for r in &c.reported {
        println!("  reported [{}] {}\n    {} (`ferry failures discard {}`)", r.category, r.failure, r.cause, r.failure);
    }
    true
}

fn short(sha: &str) -> &str {
    ferry_scm::render::short(sha)
}
