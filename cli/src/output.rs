//! Human-readable output of the CLI commands.

use chrono::{DateTime, Utc};
use ferry_domain::ports::Delivery;
use ferry_domain::{ListedFailure, UnreadableFailure};
use ferry_engine::{ActivationReport, ApplyReport, HookStatus, IntegrationStatus, TransformOutcome, WriteOutcome};
use ferry_runtime::{CycleReport, HandledEvent};

pub fn apply(r: &ApplyReport) {
    for s in &r.systems_written {
        println!("system {s}: stored");
    }
    for s in &r.systems_unchanged {
        println!("system {s}: unchanged");
    }
    for i in &r.integrations_written {
        println!("integration {i}: stored (inactive: run `ferry activate {i}`)");
    }
    for i in &r.integrations_unchanged {
        println!("integration {i}: unchanged");
    }
    for n in &r.notes {
        println!("note: {n}");
    }
}

pub fn activation(r: &ActivationReport) {
    println!("{}: active", r.integration);
    for s in &r.starts {
        let why = match s.reason {
            "override" => "start_time from the config",
            "last_updated" => "last updated time in the source project",
            "empty_project" => "source project is empty: now - 26 h",
            "since" => "--since: the backfill's start",
            _ => "kept from an earlier activation",
        };
        println!("  {:<14} polls changes after {} ({why})", s.flow.as_str(), s.at.to_rfc3339());
    }
}

pub fn cycle(r: &CycleReport) {
    for (i, flow, p) in &r.polls {
        println!(
            "poll {i} {}: fetched {}, enqueued {}, already seen {}, before start {}",
            flow.as_str(),
            p.fetched,
            p.enqueued,
            p.duplicates,
            p.before_start
        );
    }
    for e in &r.poll_errors {
        println!("poll error: {e}");
    }
    for h in &r.handled {
        match h {
            HandledEvent::Transform { outcome: TransformOutcome::Skipped { reason, detail } } => {
                println!("  skipped ({reason}): {detail}")
            }
            HandledEvent::Transform { outcome: TransformOutcome::Parked { failure_id } } => {
                println!("  failed: parked as {failure_id} (see `ferry failures list`)")
            }
            HandledEvent::Transform { .. } => {}
            HandledEvent::Crashed { queue, point } => println!("  {queue}: injected crash at {point}"),
            HandledEvent::Write { outcome } => match outcome {
                WriteOutcome::Created { source, target } => {
                    println!("  {source} -> created {target}")
                }
                WriteOutcome::Updated { source, target, fields, conflicts } => {
                    println!("  {source} -> updated {target} ({fields} field(s){})", settled(*conflicts))
                }
                WriteOutcome::Unchanged { source, target, conflicts } => {
                    println!("  {source} -> {target} already up to date{}", settled(*conflicts))
                }
                WriteOutcome::Parked { failure_id, .. } => println!("  failed: parked as {failure_id}"),
                WriteOutcome::Skipped { source, reason, detail } => {
                    println!("  {source}: skipped ({reason}): {detail}")
                }
            },
            HandledEvent::Retry { queue, error } => println!("  will retry ({queue}): {error}"),
            HandledEvent::BadMessage { queue, error } => {
                println!("  bad message on {queue}: {error}")
            }
        }
    }
}

/// ", N conflict(s) settled by policy" when the write settled any.
fn settled(conflicts: usize) -> String {
    if conflicts == 0 {
        String::new()
    } else {
        format!(", {conflicts} conflict(s) settled by policy")
    }
}

pub fn status(all: &[IntegrationStatus]) {
    if all.is_empty() {
        println!("no integrations: run `ferry apply FILE`");
    }
    for s in all {
        if crate::commits::print_status(s) {
            continue;
        }
        println!(
            "{} ({}, version {}): {} <-> {}, {} linked pair(s)",
            s.integration,
            if s.active { "active" } else { "inactive" },
            s.version,
            s.left,
            s.right,
            s.links
        );
        for f in &s.flows {
            let t = |d: Option<chrono::DateTime<chrono::Utc>>| d.map_or("-".to_string(), |d| d.to_rfc3339());
            println!(
                "  {:<14} watermark {}  last poll {}  lag {}  synced {}  skipped {}  failed {}  open failures {}  conflicts {}  \
                 targets deleted: unlinked {} parked {}",
                f.flow.as_str(),
                t(f.watermark),
                t(f.last_poll),
                f.lag_secs.map_or("-".into(), |s| format!("{s}s")),
                f.counts.synced,
                f.counts.skipped,
                f.counts.failed,
                f.open_failures,
                f.conflicts,
                f.counts.unlinked,
                f.targets_deleted
            );
        }
    }
}

/// Each hook: its last accepted delivery, and its deliveries accepted and refused.
pub fn hooks(all: &[HookStatus]) {
    for h in all {
        let refused: Vec<String> = h.rejected.iter().map(|(reason, n)| format!("{reason} {n}")).collect();
        println!(
            "hook {}{}: last delivery {}  accepted {}  rejected {}",
            h.system,
            if h.configured { "" } else { " (no webhook: configured)" },
            h.last_delivery.map_or("-".to_string(), |d| d.to_rfc3339()),
            h.accepted,
            if refused.is_empty() { "0".to_string() } else { refused.join(", ") },
        );
    }
}

pub fn failures(listing: &[ListedFailure], dead: &[(&str, Delivery, Option<std::time::Duration>)], now: DateTime<Utc>) {
    if listing.is_empty() && dead.is_empty() {
        println!("no failures");
    }
    for f in listing {
        let f = match f {
            Ok(f) => f,
            Err(u) => {
                println!("{}  {}", u.id, unreadable(u));
                continue;
            }
        };
        println!(
            "{}  {} {} {}  [{}] after {} attempt(s), last {}\n    {}",
            f.id,
            f.integration,
            f.flow.as_str(),
            f.entity_key,
            f.category,
            f.attempts,
            f.last_failed_at.to_rfc3339(),
            f.cause
        );
    }
    for (q, d, kept) in dead {
        println!(
            "dead letter {} on {q} after {} receive(s): {} bytes, {}",
            d.message_id,
            d.receive_count,
            d.body.len(),
            dead_letter_age(d.since, *kept, now)
        );
    }
    if !dead.is_empty() {
        println!("replay dead letters with `ferry failures redrive [--queue changes|writes]`");
    }
}

/// What the store knows of a failure it cannot read, and why (after its id).
pub fn unreadable(u: &UnreadableFailure) -> String {
    let known = |v: Option<&str>| v.unwrap_or("?").to_string();
    format!(
        "{} {} {}  [unreadable]\n    the failure's record cannot be read: {}",
        known(u.integration.as_ref().map(|i| i.as_str())),
        known(u.flow.map(|f| f.as_str())),
        known(u.entity.as_ref().map(|e| e.as_str())),
        u.reason,
    )
}

/// A dead letter's age against how long its queue keeps it.
pub fn dead_letter_age(since: Option<DateTime<Utc>>, kept: Option<std::time::Duration>, now: DateTime<Utc>) -> String {
    let age = since.map(|t| (now - t).to_std().unwrap_or_default());
    match (age, kept) {
        (Some(age), Some(kept)) => {
            let left = kept.saturating_sub(age);
            format!("age {} of the {} the dead-letter queue keeps it ({} left)", span(age), span(kept), span(left))
        }
        (Some(age), None) => format!("age {}, kept until deleted or redriven", span(age)),
        (None, Some(kept)) => format!("kept {} after it reached the dead-letter queue", span(kept)),
        (None, None) => "kept until deleted or redriven".to_string(),
    }
}

/// A duration in its two largest units (`3d 4h`, `5h 10m`, `42s`).
fn span(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m {}s", s % 60),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

pub fn discovered(v: &serde_json::Value) {
    match v.as_array() {
        Some(items) => {
            for item in items {
                let name = item.get("name").and_then(|n| n.as_str()).unwrap_or("");
                let id = item
                    .get("key")
                    .or_else(|| item.get("id"))
                    .or_else(|| item.get("email"))
                    .map(|k| k.as_str().map(str::to_string).unwrap_or_else(|| k.to_string()))
                    .unwrap_or_default();
                let extra = item
                    .get("allowed_values")
                    .or_else(|| item.get("states"))
                    .and_then(|a| a.as_array())
                    .filter(|a| !a.is_empty())
                    .map(|a| format!("  [{}]", a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ")))
                    .unwrap_or_default();
                let display = item.get("display_name").and_then(|n| n.as_str()).unwrap_or(name);
                println!("{id:<28} {display}{extra}");
            }
        }
        None => println!("{v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letters_age_is_shown_against_its_queues_retention() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let day = std::time::Duration::from_secs(86_400);
        let since = now - chrono::Duration::hours(50);
        let table = [
            (Some(since), Some(14 * day), "age 2d 2h of the 14d 0h the dead-letter queue keeps it (11d 22h left)"),
            (Some(since), None, "age 2d 2h, kept until deleted or redriven"),
            (None, Some(4 * day), "kept 4d 0h after it reached the dead-letter queue"),
            (Some(now - chrono::Duration::seconds(42)), None, "age 42s, kept until deleted or redriven"),
        ];
        for (since, kept, want) in table {
            assert_eq!(dead_letter_age(since, kept, now), want);
        }
    }
}
