//! The backlog scenario: a person bulk-edits more entities than one poll may read (a
//! poll's budget here is one page), then the direction is polled the way its schedule
//! would until it has caught up. Every poll that runs must save progress (its watermark
//! moves) and every edit must be enqueued exactly once; the end-of-run oracle then
//! checks that every edit arrived and converged.

use crate::workload::{Field, People, Workload};
use crate::world::{World, PAGE_SIZE};
use anyhow::{bail, Result};
use ferry_domain::ports::QueueName;
use ferry_domain::{Flow, Side};
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the backlog scenario saw.
#[derive(Debug, Default, Clone)]
pub struct Backlog {
    /// Person edits in the bulk edit.
    pub edits: usize,
    /// The changes each poll enqueued, until the direction caught up.
    pub enqueued_per_poll: Vec<usize>,
    /// Polls that ran and saved no progress (must be none).
    pub stalled_polls: usize,
    /// Polls that found another poll's lease (one that crashed earlier in the run).
    pub busy_polls: usize,
    /// Edited entities whose change was not enqueued exactly once (must be none).
    pub not_once: Vec<String>,
}

impl Backlog {
    pub fn passed(&self) -> bool {
        self.stalled_polls == 0 && self.not_once.is_empty() && self.enqueued_per_poll.len() > 1
    }
}

/// Alice edits the story points of up to `max` bugs on Jira at once, then Jira → Azure
/// DevOps is polled with a budget of one page per poll until its read ends.
pub async fn bulk_edit_and_catch_up(
    world: &World,
    work: &mut Workload,
    people: &People,
    rng: &mut StdRng,
    round: usize,
    max: usize,
) -> Result<Backlog> {
    let mut b = Backlog::default();
    let targets: Vec<usize> =
        (0..work.pairs.len()).filter(|p| work.pairs[*p].ids.contains_key(&Side::Left)).take(max).collect();
    let mut edited = Vec::new();
    // An edit that sets the value it had changes nothing (no new revision): not counted.
    let updated = |key: &str| world.jira.issue_json(key).map(|v| v["fields"]["updated"].clone());
    for p in targets {
        let (id, key) = work.pairs[p].ids[&Side::Left].clone();
        let before = updated(&key);
        if work.update(round, p, Side::Left, &[Field::Points], &[], people, rng).await? && updated(&key) != before {
            edited.push(id.to_string());
        }
    }
    b.edits = edited.len();
    if b.edits <= PAGE_SIZE {
        bail!("the bulk edit made {} changes, not more than one page ({PAGE_SIZE}): raise --backlog", b.edits);
    }
    let sent_before = world.queue.sent().len();
    let flow = Flow::LeftToRight;
    let state = world.state.clone();
    let mut caught_up = false;
    for _ in 0..(b.edits / PAGE_SIZE + 40) {
        let before = state.get_watermark(world.id(), flow).await?;
        let report = world.poll_within(flow, Duration::ZERO).await?;
        if report.busy {
            b.busy_polls += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let after = state.get_watermark(world.id(), flow).await?;
        let moved = match (&before, &after) {
            (Some(a), Some(b)) => b.cursor > a.cursor || b.read.resume != a.read.resume,
            _ => false,
        };
        b.stalled_polls += usize::from(!moved);
        b.enqueued_per_poll.push(report.enqueued);
        if !report.more {
            caught_up = true;
            break;
        }
    }
    if !caught_up {
        bail!("Jira → Azure DevOps did not catch up with a bulk edit of {} changes", b.edits);
    }
    let mut times: BTreeMap<String, usize> = edited.iter().map(|e| (e.clone(), 0)).collect();
    for s in &world.queue.sent()[sent_before..] {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&s.message.body) else { continue };
        if s.queue != QueueName::Changes || v["flow"] != flow.as_str() {
            continue;
        }
        if let Some(n) = v["snapshot"]["id"].as_str().and_then(|id| times.get_mut(id)) {
            *n += 1;
        }
    }
    b.not_once = times.into_iter().filter(|(_, n)| *n != 1).map(|(e, n)| format!("{e}: enqueued {n} times")).collect();
    Ok(b)
}
