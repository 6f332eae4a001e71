//! `ferry-faults`: a randomized bidirectional workload synced while faults are injected
//! (handler crashes at every step boundary, duplicate and reordered deliveries, two polls
//! of one direction at once, 429 with Retry-After, 500s, timeouts, creates and comments
//! applied whose answers are lost, search lag, a non-UTC Jira integration user, stale
//! Azure DevOps revisions), then checked: entities lost,
//! duplicates, fields not converged, lost updates, echo writes, failures parked.
//! Exits non-zero when an invariant fails.

mod backlog;
mod collab_oracle;
mod collab_work;
mod hooks;
mod inject;
mod oracle;
mod scenarios;
mod workload;
mod world;

use anyhow::{bail, Result};
use clap::{Parser, ValueEnum};
use ferry_domain::ports::QueueName;
use ferry_domain::{Flow, Side};
use inject::Sent;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use workload::{People, Workload, PEOPLE};
use world::{Backend, World, HANG};

#[derive(Parser, Clone)]
#[command(name = "ferry-faults", about = "Ferry's fault-injection suite: sync under faults, then check the invariants")]
struct Args {
    #[arg(long, value_enum, default_value_t = BackendArg::Embedded)]
    backend: BackendArg,
    /// Person-made creates, updates, comments, files and links, both sides together.
    #[arg(long, default_value_t = 2000)]
    changes: usize,
    /// Person changes between two syncs.
    #[arg(long, default_value_t = 100)]
    round: usize,
    /// Random seed (default: random; printed so a run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
    /// Crash probability at each handler step boundary (polls crash 5x as often, the
    /// batch boundary a quarter as often).
    #[arg(long, default_value_t = 0.01)]
    crash_rate: f64,
    /// Share of each round's sent messages delivered a second time.
    #[arg(long, default_value_t = 0.05)]
    duplicates: f64,
    /// Share of each round's change events followed by an older event of the same entity.
    #[arg(long, default_value_t = 0.02)]
    reorders: f64,
    /// Chance a sync round gets each simulator fault (429, 500, timeout, search lag, stale rev,
    /// an answer lost after a create or comment).
    #[arg(long, default_value_t = 0.5)]
    sim_faults: f64,
    /// Chance that a person edit of a field the other side edited in the same or the
    /// previous round is made anyway (a true conflict: either value may win).
    #[arg(long, default_value_t = 0.0)]
    conflicts: f64,
    /// Share of each round's person changes that are comments, files and links (the
    /// rest are creates and field edits).
    #[arg(long, default_value_t = 0.3)]
    collab_share: f64,
    /// Share of person changes that are creates (after the first round, which only creates).
    #[arg(long, default_value_t = 0.3)]
    create_share: f64,
    /// Visibility timeout of received messages, in seconds: a crashed batch returns after
    /// it. It must outlast the slowest batch: on SQS (and LocalStack) a FIFO message cannot
    /// be deleted once its receipt handle has expired, so a slower batch is received again
    /// and, after the queue's receive limit, dead-lettered (moto deletes it anyway).
    #[arg(long, default_value_t = 1)]
    visibility: u64,
    /// Before the second round, a person bulk-edits up to this many bugs at once (0: no
    /// backlog scenario); the direction is then polled one page per poll until it caught up.
    #[arg(long, default_value_t = 100)]
    backlog: usize,
    /// Chance a sync round gets each interleaving (a person's edit during one of Ferry's
    /// writes; a person's edit of a twin Ferry just created, handled by the twin's
    /// direction in the middle of the create or after it crashed).
    #[arg(long, default_value_t = 0.7)]
    interleave: f64,
    /// `on`: the simulators deliver webhooks (with delivery faults drawn per round) to a
    /// listener that polls what they name, and the suite itself polls only every
    /// few rounds; `off`: polling alone.
    #[arg(long, value_enum, default_value_t = Switch::Off)]
    hooks: Switch,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Switch {
    On,
    Off,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum BackendArg {
    Embedded,
    Aws,
    Both,
}

#[derive(Debug, Default)]
struct Figures {
    creates: usize,
    updates: usize,
    rejected: usize,
    rounds: usize,
    polls: u64,
    concurrent_polls: u64,
    crashed_polls: u64,
    duplicates_sent: u64,
    reorders_sent: u64,
    sim_faults: BTreeMap<&'static str, u64>,
    http_faults_answered: u64,
    parked_during_run: Vec<String>,
    backlog: Option<backlog::Backlog>,
    interleavings: scenarios::Figures,
    unresolved_edits: usize,
    collab: collab_work::CollabMade,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<std::process::ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| "error".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if args.changes == 0 || args.round == 0 || args.visibility == 0 {
        bail!("--changes, --round and --visibility must be at least 1");
    }
    for (name, v) in [
        ("--crash-rate", args.crash_rate),
        ("--duplicates", args.duplicates),
        ("--reorders", args.reorders),
        ("--sim-faults", args.sim_faults),
        ("--conflicts", args.conflicts),
        ("--create-share", args.create_share),
        ("--collab-share", args.collab_share),
        ("--interleave", args.interleave),
    ] {
        if !(0.0..=1.0).contains(&v) {
            bail!("{name} is a probability: give a number from 0 to 1, not {v}");
        }
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    let backends = match args.backend {
        BackendArg::Embedded => vec![Backend::Embedded],
        BackendArg::Aws => vec![Backend::Aws],
        BackendArg::Both => vec![Backend::Embedded, Backend::Aws],
    };
    println!("ferry-faults: seed {seed}, {} changes in rounds of {}", args.changes, args.round);
    let mut failed = Vec::new();
    for b in backends {
        let started = Instant::now();
        let (figures, (verdict, collab), world) = run(&args, b, seed).await?;
        print_report(&args, seed, b, &figures, &verdict, &world, started.elapsed());
        collab_oracle::print(&collab, &figures.collab);
        println!("collaboration result: {}", if collab.passed() { "PASS" } else { "FAIL" });
        let backlog_ok = figures.backlog.as_ref().is_none_or(backlog::Backlog::passed);
        let hooks_ok = world.hooks.as_ref().is_none_or(|h| {
            let carried = h.carried();
            println!(
                "webhook-triggered polls that synced something: {carried} {}",
                if carried > 0 { "ok" } else { "FAIL" }
            );
            carried > 0
        });
        if !verdict.passed() || !backlog_ok || !collab.passed() || !hooks_ok {
            failed.push(b.name());
        }
    }
    if !failed.is_empty() {
        eprintln!("ferry-faults: invariants failed on: {} (seed {seed})", failed.join(", "));
        return Ok(std::process::ExitCode::FAILURE);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

type Verdicts = (oracle::Verdict, collab_oracle::CollabVerdict);

async fn run(args: &Args, backend: Backend, seed: u64) -> Result<(Figures, Verdicts, World)> {
    eprintln!("{}: building the world ...", backend.name());
    let visibility = Duration::from_secs(args.visibility);
    let mut world = World::new(backend, seed, args.crash_rate, visibility, args.hooks == Switch::On).await?;
    let mut hook_rng = StdRng::seed_from_u64(seed ^ 0x0000_4b00);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut jira_ids = HashMap::new();
    for (name, email, _) in PEOPLE {
        if let Some(u) = world.jira.user(email) {
            jira_ids.insert(name.to_string(), u.id);
        }
    }
    let mut people = People { jira: Vec::new(), ado: Vec::new(), jira_ids: jira_ids.clone() };
    for (name, jira_email, ado_email) in PEOPLE {
        people.jira.push(world.person(Side::Left, jira_email, &format!("jira-{name}-token")).await?);
        people.ado.push(world.person(Side::Right, ado_email, &format!("ado-{name}-pat")).await?);
    }
    let mut work = Workload::new(args.conflicts, args.create_share);
    let mut collab = collab_work::CollabWork::default();
    // Collaboration changes come from their own generator: the field workload's choices
    // stay what they are for a seed.
    let mut collab_rng = StdRng::seed_from_u64(seed ^ 0x00c0_11ab);
    let mut interleave = scenarios::Scenarios::new(&world).await?;
    let mut f = Figures::default();
    let mut made_total = 0;
    let mut round = 0;
    while made_total < args.changes {
        if round == 1 && args.backlog > 0 && f.backlog.is_none() {
            if let Some(h) = &world.hooks {
                h.mute(&world.jira, &world.ado);
            }
            let b = backlog::bulk_edit_and_catch_up(&world, &mut work, &people, &mut rng, round, args.backlog).await?;
            eprintln!("{}: backlog of {} edits read over {} polls", backend.name(), b.edits, b.enqueued_per_poll.len());
            world.drain().await?;
            f.backlog = Some(b);
        }
        if let Some(h) = &world.hooks {
            h.arm(&world.jira, &world.ado, &mut hook_rng);
            h.close().await;
        }
        if world.hooks.is_some() {
            // A poll a late delivery started after the last round's drain may have
            // enqueued snapshots `close` waited for; handled after this round's edits,
            // they would be writes made from reads older than those edits, which the echo
            // check cannot tell from echoes. Handled now, as with hooks off, where every
            // poll's messages are handled before people edit again.
            world.drain().await?;
        }
        let n = args.round.min(args.changes - made_total);
        let n_collab = if round == 0 { 0 } else { (n as f64 * args.collab_share).round() as usize };
        let made = work.round(round, n - n_collab, &people, &mut rng).await?;
        collab.learn_twins(&world, &work).await?;
        let talk = collab.round(n_collab, &work, &people, &mut collab_rng).await?;
        f.collab.add(&talk);
        made_total += made.creates + made.updates + talk.total();
        f.creates += made.creates;
        f.updates += made.updates;
        f.rejected += made.rejected;
        if made.creates + made.updates + talk.total() == 0 && made.rejected == 0 {
            // Every candidate edit was concurrent and skipped; try again.
            round += 1;
            continue;
        }
        world.crashes.set_enabled(true);
        arm_sim_faults(&world, args.sim_faults, &mut rng, &mut f);
        interleave.arm(&world, &mut work, round, args.interleave, &mut rng);
        let sent_before = world.queue.sent().len();
        if let Some(h) = &world.hooks {
            h.open();
            h.settle(Duration::from_millis(700), Duration::from_secs(20)).await;
        }
        if hooks::suite_polls(world.hooks.as_ref(), round) {
            poll_both(&world, &mut rng, &mut f, true).await?;
        }
        world.drain().await?;
        disarm_sim_faults(&world);
        // Duplicates of this round's messages, older events after newer ones.
        let sent = world.queue.sent();
        let injected = inject_deliveries(&world, &sent, sent_before, args, &mut rng, &mut f).await?;
        if injected > 0 {
            world.drain().await?;
        }
        world.crashes.set_enabled(false);
        interleave.merge(&mut work);
        for failure in world.state.list_failures(Some(world.id())).await? {
            let line =
                format!("{} {} [{}] {}", failure.flow.as_str(), failure.entity_key, failure.category, failure.cause);
            if !f.parked_during_run.contains(&line) {
                f.parked_during_run.push(line);
            }
        }
        round += 1;
        f.rounds = round;
        eprintln!(
            "{}: round {round}: {made_total}/{} changes, {} crashes so far",
            backend.name(),
            args.changes,
            world.crashes.counts().values().sum::<u64>()
        );
    }

    interleave.disarm(&world);
    settle(&mut world, &mut f).await?;
    interleave.merge(&mut work);
    f.interleavings = interleave.figures();
    f.unresolved_edits = interleave.unresolved();
    f.http_faults_answered = [world.jira.requests(), world.ado.requests()]
        .iter()
        .flatten()
        .filter(|r| matches!(r.status, 429 | 500 | 504))
        .count() as u64;
    let verdict = oracle::check(&world, &mut work, &jira_ids).await?;
    let collab_verdict = collab_oracle::check(&world, &work, &collab).await?;
    Ok((f, (verdict, collab_verdict), world))
}

/// Polls both directions; a share of the polls run twice at once.
async fn poll_both(world: &World, rng: &mut StdRng, f: &mut Figures, concurrent: bool) -> Result<()> {
    let mut flows = vec![Flow::LeftToRight, Flow::RightToLeft];
    flows.shuffle(rng);
    for flow in flows {
        if concurrent && rng.gen_bool(0.3) {
            let (a, b) = tokio::join!(world.poll(flow), world.poll(flow));
            f.polls += 2;
            f.concurrent_polls += 1;
            f.crashed_polls += u64::from(!a?) + u64::from(!b?);
        } else {
            f.polls += 1;
            f.crashed_polls += u64::from(!world.poll(flow).await?);
        }
    }
    Ok(())
}

fn arm_sim_faults(world: &World, chance: f64, rng: &mut StdRng, f: &mut Figures) {
    let sims = [world.jira.faults(), world.ado.faults()];
    let mut count = |name: &'static str| *f.sim_faults.entry(name).or_default() += 1;
    if rng.gen_bool(chance) {
        sims[rng.gen_range(0..2)].rate_limit_next(rng.gen_range(1..=3), 1);
        count("429 with Retry-After");
    }
    if rng.gen_bool(chance) {
        sims[rng.gen_range(0..2)].fail_next(rng.gen_range(1..=3), 500);
        count("500");
    }
    if rng.gen_bool(chance / 2.0) {
        sims[rng.gen_range(0..2)].hang_next(1, HANG);
        count("timeout");
    }
    if rng.gen_bool(chance) {
        // Everything the people changed in the last seconds is missing from search.
        let lag = Duration::from_secs(3);
        world.jira.faults().set_search_lag(lag);
        world.ado.faults().set_search_lag(lag);
        count("search lag");
    }
    if rng.gen_bool(chance) {
        world.ado.faults().stale_revision_next(rng.gen_range(1..=3));
        count("stale revision");
    }
    if rng.gen_bool(chance) {
        // A create or a comment is applied and its answer lost (a gateway's 504): sent
        // once, its twin is found by the retry, never made twice.
        let (sim, path) = [
            (world.jira.faults(), "/rest/api/3/issue"),
            (world.jira.faults(), "/comment"),
            (world.ado.faults(), "/_apis/wit/workitems/$Bug"),
            (world.ado.faults(), "/comments"),
        ][rng.gen_range(0..4)];
        sim.lose_answer_next(rng.gen_range(1..=2), "POST", path);
        count("answer lost after a create or comment");
    }
}

fn disarm_sim_faults(world: &World) {
    for s in [world.jira.faults(), world.ado.faults()] {
        s.rate_limit_next(0, 0);
        s.fail_next(0, 500);
        s.hang_next(0, Duration::ZERO);
        s.set_search_lag(Duration::ZERO);
        s.stale_revision_next(0);
        s.lose_answer_next(0, "POST", "");
    }
}

/// The entity a sent message is about and its snapshot time (change events and write
/// commands both carry the source snapshot).
fn entity_of(s: &Sent) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(&s.message.body).ok()?;
    let key = if s.queue == QueueName::Changes { "snapshot" } else { "source" };
    let snap = v.get(key)?;
    Some((
        format!("{}:{}", v.get("flow")?.as_str()?, snap.get("id")?.as_str()?),
        snap.get("updated")?.as_str()?.to_string(),
    ))
}

async fn inject_deliveries(
    world: &World,
    sent: &[Sent],
    since: usize,
    args: &Args,
    rng: &mut StdRng,
    f: &mut Figures,
) -> Result<usize> {
    let mut n = 0;
    let fresh = &sent[since.min(sent.len())..];
    for s in fresh {
        if rng.gen_bool(args.duplicates) {
            world.queue.resend(s).await?;
            f.duplicates_sent += 1;
            n += 1;
        }
    }
    // An older snapshot of an entity whose newer one this round delivered.
    let mut older: HashMap<String, Vec<&Sent>> = HashMap::new();
    for s in sent[..since.min(sent.len())].iter().filter(|s| s.queue == QueueName::Changes) {
        if let Some((entity, _)) = entity_of(s) {
            older.entry(entity).or_default().push(s);
        }
    }
    for s in fresh.iter().filter(|s| s.queue == QueueName::Changes) {
        let Some((entity, updated)) = entity_of(s) else { continue };
        let Some(candidates) = older.get(&entity) else { continue };
        let stale: Vec<&&Sent> = candidates.iter().filter(|o| entity_of(o).is_some_and(|(_, u)| u < updated)).collect();
        if !stale.is_empty() && rng.gen_bool(args.reorders) {
            let pick = stale[rng.gen_range(0..stale.len())];
            world.queue.resend(pick).await?;
            f.reorders_sent += 1;
            n += 1;
        }
    }
    Ok(n)
}

/// Faults off: drain what is left, replay what was parked, and poll until nothing moves.
async fn settle(world: &mut World, f: &mut Figures) -> Result<()> {
    eprintln!("{}: settling ...", world.backend.name());
    world.crashes.set_enabled(false);
    disarm_sim_faults(world);
    if let Some(h) = &world.hooks {
        h.disarm(&world.jira, &world.ado);
        h.open();
        h.settle(Duration::from_millis(700), Duration::from_secs(20)).await;
    }
    // Crashed polls hold their lease until it expires.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut rng = StdRng::seed_from_u64(0);
    world.drain().await?;
    // A parked failure of an injected fault is retried, as an operator would.
    for failure in world.state.list_failures(Some(world.id())).await? {
        world.engine.retry_failure(&failure.id).await?;
    }
    let mut quiet = 0;
    let mut passes = 0;
    while quiet < 2 && passes < 20 {
        passes += 1;
        let before = bot_writes(world);
        poll_both(world, &mut rng, f, false).await?;
        world.drain().await?;
        let depth = world.depth().await?;
        quiet = if bot_writes(world) == before && depth == 0 { quiet + 1 } else { 0 };
    }
    if quiet < 2 {
        eprintln!("{}: still writing after {passes} quiet-phase passes", world.backend.name());
    }
    Ok(())
}

/// Changing requests made by Ferry's integration user so far.
fn bot_writes(world: &World) -> usize {
    [world.jira.requests(), world.ado.requests()]
        .iter()
        .flatten()
        .filter(|r| r.user.as_deref() == Some(world::BOT) && r.status < 300)
        .filter(|r| matches!(r.method.as_str(), "PUT" | "PATCH" | "DELETE" | "POST"))
        .filter(|r| {
            let p = r.path.to_ascii_lowercase();
            !(p.ends_with("/search/jql") || p.ends_with("/wiql") || p.ends_with("/workitemsbatch"))
        })
        .count()
}

fn print_report(
    args: &Args,
    seed: u64,
    backend: Backend,
    f: &Figures,
    v: &oracle::Verdict,
    world: &World,
    took: Duration,
) {
    let ok = |n: usize| if n == 0 { "ok" } else { "FAIL" };
    println!();
    println!("== backend {} (seed {seed}, {:.0} s)", backend.name(), took.as_secs_f64());
    println!(
        "changes made (person creates + updates + comments, files and links): {}",
        f.creates + f.updates + f.collab.total()
    );
    println!(
        "  creates {}, updates {}, refused by the system or changing nothing {}, rounds {}",
        f.creates, f.updates, f.rejected, f.rounds
    );
    println!(
        "entities: jira {}, ado {}; pairs {}, linked {}",
        v.entities.get(&Side::Left).unwrap_or(&0),
        v.entities.get(&Side::Right).unwrap_or(&0),
        v.pairs,
        v.linked
    );
    println!("ferry writes: {} creates, {} updates of mapped fields", v.ferry_creates, v.ferry_writes);
    if let Some(h) = &world.hooks {
        println!("{} (the suite polled every {} rounds)", h.report(), hooks::POLL_EVERY);
    }
    println!("faults injected:");
    let crashes = world.crashes.counts();
    for (point, n) in &crashes {
        println!("  crash at {point}: {n}");
    }
    println!(
        "  polls {} ({} pairs at once, {} crashed); duplicate deliveries {}; reordered deliveries {}",
        f.polls, f.concurrent_polls, f.crashed_polls, f.duplicates_sent, f.reorders_sent
    );
    for (name, n) in &f.sim_faults {
        println!("  simulator rounds with {name}: {n}");
    }
    println!("  jira integration user time zone: Asia/Kolkata; conflicting edits share: {}", args.conflicts);
    let i = &f.interleavings;
    println!(
        "  a person's edit during one of Ferry's writes: {} made ({} rounds armed)",
        i.during_write_made, i.during_write_armed
    );
    println!(
        "  a person's edit of a twin before its create linked it, the twin's direction run at once: {} after a \
         crash at write_after_target, {} in the middle of the create ({} rounds armed; handled as {:?})",
        i.twins_made.get("crash").unwrap_or(&0),
        i.twins_made.get("middle").unwrap_or(&0),
        i.twins_armed,
        i.twin_outcomes
    );
    if i.skipped > 0 || f.unresolved_edits > 0 {
        println!("  interleavings not used: {}; edits whose pair was not found: {}", i.skipped, f.unresolved_edits);
    }
    let retried = match backend {
        Backend::Embedded => "messages released for a retry",
        Backend::Aws => "records reported failed (retries, and every record of a crashed batch)",
    };
    println!(
        "retries: {} {retried}; {} HTTP answers 429/500/504 (retried by the connector or the queue); {} messages handled",
        world.handled.retries, f.http_faults_answered, world.handled.records
    );
    println!("failures parked during the run: {} (replayed in the settle phase)", f.parked_during_run.len());
    for line in f.parked_during_run.iter().take(20) {
        println!("  {line}");
    }
    let list = |name: &str, items: &[String], must_be_zero: bool| {
        let verdict = if must_be_zero { ok(items.len()) } else { "" };
        println!("{name}: {} {verdict}", items.len());
        for i in items.iter().take(10) {
            println!("  {i}");
        }
        if items.len() > 10 {
            println!("  ... and {} more", items.len() - 10);
        }
    };
    if let Some(b) = &f.backlog {
        println!(
            "backlog: a bulk edit of {} bugs read over {} polls of one page each (enqueued per poll {:?}; {} polls found a crashed poll's lease)",
            b.edits,
            b.enqueued_per_poll.len(),
            b.enqueued_per_poll,
            b.busy_polls
        );
        println!("  backlog polls that saved no progress: {} {}", b.stalled_polls, ok(b.stalled_polls));
        println!("  bulk edits not enqueued exactly once: {} {}", b.not_once.len(), ok(b.not_once.len()));
        for line in b.not_once.iter().take(10) {
            println!("    {line}");
        }
    }
    list("entities lost", &v.lost, true);
    list("duplicate target entities", &v.duplicates, true);
    list("fields not converged to the mapped values", &v.not_converged, true);
    let mut by_field: BTreeMap<String, usize> = BTreeMap::new();
    for line in &v.not_converged {
        let field = line.split(':').next().unwrap_or_default().to_string();
        *by_field.entry(field).or_default() += 1;
    }
    for (field, n) in &by_field {
        println!("  by field: {field}: {n}");
    }
    println!("person edits checked for lost updates: {}", v.checked_edits);
    list("lost updates", &v.lost_updates, true);
    list("echo writes", &v.echoes, true);
    let mut by_fields: BTreeMap<String, usize> = BTreeMap::new();
    for line in &v.echoes {
        let fields = line.split(['(', ')']).nth(1).unwrap_or_default().to_string();
        *by_fields.entry(fields).or_default() += 1;
    }
    for (fields, n) in &by_fields {
        println!("  by fields written: {fields}: {n}");
    }
    let failures: Vec<String> = v
        .failures
        .iter()
        .map(|x| format!("{} {} [{}] {} (attempts {})", x.flow.as_str(), x.entity_key, x.category, x.cause, x.attempts))
        .collect();
    list("failures parked at the end", &failures, true);
    list("dead-lettered messages", &v.dead_letters, true);
    println!("result: {}", if v.passed() { "PASS" } else { "FAIL" });
}
