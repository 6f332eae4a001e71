//! `ferry activate ID --since DATE`: the backfill of existing items. Counts first,
//! asks in a terminal (`--yes` for scripts), stores the accepted plan, links the pairs
//! that exist already, activates with each direction polling from DATE, and follows the
//! sync to its end (`--no-wait`: returns at once). The same command run again resumes
//! the stored backfill; `ferry backfill status ID` shows how far it is.

mod display;
mod text;

use crate::{exit, output};
use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use display::Display;
pub use display::LogWriter;
use ferry_domain::{BackfillRecord, FieldKey, IntegrationId, Side};
use ferry_engine::{BackfillPlan, BackfillProgress, BackfillStarted, Engine, PairBy};
use ferry_runtime::backfill::verdict::Verdict;
use ferry_runtime::backfill::{FollowEnd, FollowSettings, Worker};
use std::io::{BufRead, IsTerminal, Write};
use text::Synced;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  ferry activate app-bugs --since 2026-01-01 --pair-by title --yes
      counts, links the pairs, activates from 2026-01-01 and follows the sync to its end:
      a progress bar on a terminal, else a line every 5 s:
      backfill: 120/412 done, 3 parked, 4.1/s, ~1m10s left
  ferry activate app-bugs --since 2026-01-01 --yes
      run again (after Ctrl-C or a crash): resumes the same backfill, creating nothing twice

Exit codes with --since: 0 every item created or paired, 4 items parked (ferry failures
list), 6 items neither synced nor parked with nothing more to do for them, 130 interrupted.")]
pub struct BackfillArgs {
    /// Sync the items changed since this date (YYYY-MM-DD or RFC 3339), pairing those
    /// that mirror each other already instead of creating them again.
    #[arg(long)]
    since: Option<String>,
    /// How existing pairs are recognised: the integration's remote-id fields (default),
    /// `left:FIELD` / `right:FIELD` (that side's field holds the other's key), or `title`.
    #[arg(long, requires = "since")]
    pair_by: Option<String>,
    /// Go on without asking (needed when stdin is not a terminal).
    #[arg(long, requires = "since")]
    yes: bool,
    /// Return once the integration is active instead of following the backfill to its
    /// end (the next `ferry run`, or the functions on AWS, sync the rest).
    #[arg(long, requires = "since")]
    no_wait: bool,
    /// The activation (with `--since`, the plan and the backfill's end counts too) and
    /// the webhook registration as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// What activation did, and what is left to follow.
pub struct Activated {
    /// The JSON document so far (with `--json`).
    pub doc: Option<serde_json::Value>,
    /// The backfill to follow (with `--since`, without `--no-wait`).
    pub follow: Option<BackfillProgress>,
}

impl BackfillArgs {
    /// The `--since` date, parsed.
    pub fn since(&self) -> Option<Result<DateTime<Utc>>> {
        self.since.as_deref().map(parse_since)
    }

    /// Whether options only a backfill's pairing and following take were given.
    pub fn has_pairing_options(&self) -> bool {
        self.pair_by.is_some() || self.yes || self.no_wait
    }
}

/// Activates `id`: with `--since`, a backfill accepted (or the stored one resumed).
/// Without `--json` the text is printed as it goes.
pub async fn activate(engine: &Engine, id: &IntegrationId, args: &BackfillArgs) -> Result<Activated> {
    let Some(since_text) = args.since.as_deref() else {
        let report = engine.activate(id, Utc::now()).await?;
        if args.json {
            return Ok(Activated { doc: Some(serde_json::json!({ "activation": report })), follow: None });
        }
        output::activation(&report);
        return Ok(Activated { doc: None, follow: None });
    };
    let since = parse_since(since_text)?;
    let by = parse_pair_by(args.pair_by.as_deref())?;
    let stored = engine.stored_backfill(id).await?.filter(|r| r.is_for(since, &by));
    let resumed = stored.is_some();
    let started = match stored {
        Some(record) => {
            if !args.json {
                resumes(&record);
            }
            engine.resume_backfill(record, Utc::now()).await?
        }
        None => {
            let plan = engine.plan_backfill(id, since, &by).await?;
            if !args.json {
                summary(&plan);
            }
            if !args.yes && !confirmed()? {
                bail!("nothing done: confirm in a terminal, or pass --yes");
            }
            engine.accept_backfill(id, plan, by, Utc::now()).await?
        }
    };
    let BackfillStarted { record, linked, activation } = started;
    let doc = args.json.then(
        || serde_json::json!({ "plan": record.plan, "linked": linked, "activation": activation, "resumed": resumed }),
    );
    if !args.json {
        println!("linked {linked} pair(s)");
        output::activation(&activation);
    }
    if args.no_wait {
        if !args.json {
            println!(
                "the next `ferry run` (or the poll function) syncs the {} item(s) to create; \
                 `ferry backfill status {id}` shows how far it is",
                record.plan.to_create.len()
            );
        }
        return Ok(Activated { doc, follow: None });
    }
    Ok(Activated { doc, follow: Some(BackfillProgress::new(record)) })
}

/// How a followed backfill ended: its exit code and, for `--json`, its end counts.
pub struct Followed {
    pub code: u8,
    pub json: serde_json::Value,
}

/// Follows a backfill to its end (see `ferry_runtime::backfill`): on the embedded store
/// this process syncs, on AWS the functions do and this only watches. Ctrl-C stops
/// following (after the batch in hand); a second Ctrl-C exits at once.
pub async fn follow(
    engine: &Engine,
    worker: Worker<'_>,
    mut progress: BackfillProgress,
    json: bool,
) -> Result<Followed> {
    let settings = FollowSettings::for_worker(&worker);
    let synced = match worker {
        Worker::Drive(_) => Synced::Here,
        Worker::Watch => Synced::ByFunctions,
    };
    let record = progress.record().clone();
    let mut display = Display::new(!json && std::io::stderr().is_terminal(), record.total());
    let end = ferry_runtime::backfill::follow(engine, &mut progress, worker, &settings, interrupted(synced), |r| {
        display.show(r)
    })
    .await?;
    display.finish(&end);
    if !json {
        let rerun = rerun_command(&record);
        for line in text::summary(end.verdict, &end.counts, end.elapsed, record.integration.as_str(), &rerun, synced) {
            println!("{line}");
        }
    }
    Ok(Followed { code: exit_code(end.verdict), json: end_json(&end) })
}

/// The exit code of a followed backfill's end (README, "Exit codes").
pub fn exit_code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Finished => exit::OK,
        Verdict::Parked => exit::UNHEALTHY,
        Verdict::Stalled => exit::BACKFILL_STALLED,
        Verdict::Interrupted => exit::INTERRUPTED,
    }
}

/// The `backfill` member of `activate --since --json`'s document.
fn end_json(end: &FollowEnd) -> serde_json::Value {
    let mut v = serde_json::to_value(&end.counts).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("outcome".into(), serde_json::to_value(end.verdict).unwrap_or_default());
        o.insert("done".into(), end.counts.done().into());
        o.insert("elapsed_secs".into(), end.elapsed.as_secs_f64().into());
    }
    v
}

/// `ferry backfill status ID`: the stored backfill's counts, read once.
pub async fn status(engine: &Engine, id: &IntegrationId, json: bool) -> Result<()> {
    let record = engine.stored_backfill(id).await?.with_context(|| {
        format!("no backfill is recorded for {id}: start one with `ferry activate {id} --since DATE`")
    })?;
    let mut progress = BackfillProgress::new(record.clone());
    let counts = progress.read(engine).await?;
    if json {
        let v = serde_json::json!({
            "integration": record.integration, "since": record.plan.since, "pair_by": record.pair_by,
            "accepted_at": record.accepted_at, "activated_at": record.activated_at,
            "counts": counts, "done": counts.done(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{id}: backfill since {}, accepted {}{}",
        record.plan.since.to_rfc3339(),
        record.accepted_at.to_rfc3339(),
        if record.activated_at.is_some() { "" } else { " (not activated yet: run the same `activate` again)" }
    );
    println!("{}", text::progress_line(&counts, None));
    println!(
        "  {} created, {} paired, {} parked, {} to sync, {} ambiguous",
        counts.created, counts.paired, counts.parked, counts.waiting, counts.ambiguous
    );
    if counts.waiting > 0 {
        println!("  follow it with `{}`", rerun_command(&record));
    }
    Ok(())
}

/// The command that resumes (and follows) `record`'s backfill.
fn rerun_command(record: &BackfillRecord) -> String {
    let by = match &record.pair_by {
        PairBy::RemoteId => String::new(),
        PairBy::Title => " --pair-by title".to_string(),
        PairBy::Field { side, field } => format!(" --pair-by {}:{field}", side.as_str()),
    };
    format!("ferry activate {} --since {}{by} --yes", record.integration, record.plan.since.to_rfc3339())
}

/// Resolves on the first Ctrl-C; a second one exits at once (the batch in hand is then
/// left to its visibility timeout, as after a crash).
async fn interrupted(synced: Synced) {
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handler: following ends only with the backfill.
        std::future::pending::<()>().await;
    }
    match synced {
        Synced::Here => eprintln!("ferry: stopping after the batch in hand (Ctrl-C again to quit at once)"),
        Synced::ByFunctions => eprintln!("ferry: no longer following; the functions go on syncing"),
    }
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(i32::from(exit::INTERRUPTED));
        }
    });
}

fn resumes(record: &BackfillRecord) {
    let plan = &record.plan;
    println!(
        "resuming the backfill since {} accepted {}: {} to create, {} to pair, {} ambiguous",
        plan.since.to_rfc3339(),
        record.accepted_at.to_rfc3339(),
        plan.to_create.len(),
        plan.to_pair.len(),
        plan.ambiguous.len()
    );
}

fn summary(plan: &BackfillPlan) {
    println!(
        "since {}: {} to create, {} already paired, {} to pair, {} ambiguous",
        plan.since.to_rfc3339(),
        plan.to_create.len(),
        plan.already_paired,
        plan.to_pair.len(),
        plan.ambiguous.len()
    );
    for a in &plan.ambiguous {
        println!(
            "  ambiguous: {} {} (candidates: {}); neither paired nor created",
            a.side.as_str(),
            a.key,
            a.candidates.join(", ")
        );
    }
}

/// A yes from a terminal; without a terminal, no (scripts pass `--yes`).
fn confirmed() -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("go on? [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

fn parse_since(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("--since {s:?}: use YYYY-MM-DD or an RFC 3339 time (2026-01-01T00:00:00Z)"))?;
    Ok(d.and_hms_opt(0, 0, 0).context("midnight")?.and_utc())
}

fn parse_pair_by(s: Option<&str>) -> Result<PairBy> {
    Ok(match s {
        None | Some("remote") => PairBy::RemoteId,
        Some("title") => PairBy::Title,
        Some(other) => match other.split_once(':') {
            Some(("left", f)) if !f.is_empty() => PairBy::Field { side: Side::Left, field: FieldKey::new(f) },
            Some(("right", f)) if !f.is_empty() => PairBy::Field { side: Side::Right, field: FieldKey::new(f) },
            _ => bail!("--pair-by {other:?}: use title, remote, left:FIELD or right:FIELD"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_date_or_a_time_and_pair_by_names_a_side() {
        assert_eq!(parse_since("2026-01-02").unwrap().to_rfc3339(), "2026-01-02T00:00:00+00:00");
        assert_eq!(parse_since("2026-01-02T03:04:05+01:00").unwrap().to_rfc3339(), "2026-01-02T02:04:05+00:00");
        assert!(parse_since("yesterday").is_err());
        assert_eq!(parse_pair_by(None).unwrap(), PairBy::RemoteId);
        assert_eq!(parse_pair_by(Some("title")).unwrap(), PairBy::Title);
        assert_eq!(
            parse_pair_by(Some("right:Custom.JiraKey")).unwrap(),
            PairBy::Field { side: Side::Right, field: FieldKey::new("Custom.JiraKey") }
        );
        assert!(parse_pair_by(Some("middle:x")).is_err());
    }
}
