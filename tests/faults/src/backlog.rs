//! The backlog scenario: a person bulk-edits more entities than one poll may read (a
//! poll's budget here is one page), then the direction is polled the way its schedule
//! would until it has caught up. Every poll must save progress (its watermark moves);
//! the end-of-run oracle then checks that every edit arrived once and converged.

use crate::workload::{Field, People, Workload};
use crate::world::{World, PAGE_SIZE};
use anyhow::{bail, Result};
use ferry_domain::{Flow, Side};
use rand::rngs::StdRng;
use std::time::Duration;

/// What the backlog scenario saw.
#[derive(Debug, Default, Clone)]
pub struct Backlog {
    /// Person edits in the bulk edit.
    pub edits: usize,
    /// Polls until the direction caught up, and the changes each enqueued.
    pub enqueued_per_poll: Vec<usize>,
    /// Polls that returned without saving progress (must be none).
    pub stalled_polls: usize,
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
    for p in targets {
        if work.update(round, p, Side::Left, &[Field::Points], &[], people, rng).await? {
            b.edits += 1;
        }
    }
    if b.edits <= PAGE_SIZE {
        bail!("the bulk edit made {} changes, not more than one page ({PAGE_SIZE}): raise --backlog", b.edits);
    }
    let flow = Flow::LeftToRight;
    let state = world.state.clone();
    for _ in 0..(b.edits / PAGE_SIZE + 20) {
        let before = state.get_watermark(world.id(), flow).await?;
        let report = world.poll_within(flow, Duration::ZERO).await?;
        let after = state.get_watermark(world.id(), flow).await?;
        let moved = match (&before, &after) {
            (Some(a), Some(b)) => b.cursor > a.cursor || b.read.resume != a.read.resume,
            _ => false,
        };
        if report.busy || !moved {
            b.stalled_polls += 1;
        }
        b.enqueued_per_poll.push(report.enqueued);
        if !report.more && !report.busy {
            return Ok(b);
        }
    }
    bail!("Jira → Azure DevOps did not catch up with a bulk edit of {} changes", b.edits)
}
