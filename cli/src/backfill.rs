//! `ferry activate ID --since DATE`: the backfill of existing items. Counts first,
//! asks in a terminal (`--yes` for scripts), links the pairs that exist already, then
//! activates with each direction polling from DATE; the next run syncs the rest.

use crate::output;
use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use ferry_domain::{FieldKey, IntegrationId, Side};
use ferry_engine::{BackfillPlan, Engine, PairBy};
use std::io::{BufRead, IsTerminal, Write};

#[derive(clap::Args)]
#[command(after_help = "Example:\n  ferry activate app-bugs --since 2026-01-01 --pair-by title --yes")]
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
    /// The activation (with `--since`, the plan too) and the webhook registration as
    /// one JSON document.
    #[arg(long)]
    pub json: bool,
}

impl BackfillArgs {
    /// Whether a backfill (`--since`) was asked for.
    pub fn is_backfill(&self) -> bool {
        self.since.is_some()
    }
}

/// Activates `id` (a backfill with `--since`). With `--json` nothing is printed and
/// the answer is the document to print; without, the text is printed and the answer
/// is `None`.
pub async fn activate(engine: &Engine, id: &IntegrationId, args: BackfillArgs) -> Result<Option<serde_json::Value>> {
    let Some(since) = args.since.as_deref() else {
        let report = engine.activate(id, Utc::now()).await?;
        if args.json {
            return Ok(Some(serde_json::json!({ "activation": report })));
        }
        output::activation(&report);
        return Ok(None);
    };
    let since = parse_since(since)?;
    let by = parse_pair_by(args.pair_by.as_deref())?;
    let plan = engine.plan_backfill(id, since, &by).await?;
    if !args.json {
        summary(&plan);
    }
    if !args.yes && !confirmed()? {
        bail!("nothing done: confirm in a terminal, or pass --yes");
    }
    let linked = engine.record_pairs(id, &plan).await?;
    let report = engine.activate_from(id, Utc::now(), Some(since)).await?;
    if args.json {
        return Ok(Some(serde_json::json!({ "plan": plan, "linked": linked, "activation": report })));
    }
    println!("linked {linked} pair(s)");
    output::activation(&report);
    println!("the next `ferry run` (or the poll function) syncs the {} item(s) to create", plan.to_create.len());
    Ok(None)
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
