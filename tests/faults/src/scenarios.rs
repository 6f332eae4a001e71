//! Interleavings the random workload does not reach by itself, armed each round through
//! the simulators' test hooks (they run at an exact point of one of Ferry's requests):
//! - a person edits another field of an entity in the middle of Ferry's write to it
//!   (between Ferry's read and its edit, or between its edit and its transitions);
//! - a person edits the twin Ferry just created, before the create has linked it, and the
//!   twin's own direction handles that change at once: in the middle of the create (both
//!   directions then write the pair's state) or, with the create crashing at
//!   `write_after_target`, before the create's retry.
//!
//! The edits go into the workload's model, so the oracle checks them like any other:
//! they must reach the other side, with no duplicate and no echo.

use crate::inject::SeededCrashes;
use crate::workload::{title, to_value, Field, People, Workload, PRIORITIES};
use crate::world::{World, BOT};
use ferry_domain::ports::{Connector, OutMessage, QueueName};
use ferry_domain::{ChangeEvent, EntityId, Flow, Side, MESSAGE_SCHEMA};
use ferry_engine::{Batch, CrashPoint, Engine};
use ferry_runtime::actor::Actor;
use ferry_sim::{AdoSim, HookRequest, HookWhen, JiraSim};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The fields a hook's person edits: one-to-one mappings, no workflow.
const EDITABLE: [Field; 3] = [Field::Title, Field::Priority, Field::Points];

/// What a hook did, merged into the workload after the round.
#[derive(Debug, Clone)]
enum Made {
    /// An edit of `entity` on `side` (its peer on the other side: `peer`).
    Edit { side: Side, entity: EntityId, peer: EntityId, field: Field, value: String, round: usize },
    /// An edit of the twin Ferry created for the entity with `origin_key`.
    Twin { origin_key: String, side: Side, field: Field, value: String, round: usize },
}

/// Counts for the report.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    pub during_write_armed: u64,
    pub during_write_made: u64,
    pub twins_armed: u64,
    /// (crashed at write_after_target, in the middle of the create) -> count.
    pub twins_made: BTreeMap<&'static str, u64>,
    /// How the twin's direction handled the twin's change (outcome names).
    pub twin_outcomes: BTreeMap<String, u64>,
    /// Hooks that fired on something they could not use (e.g. an entity not linked yet).
    pub skipped: u64,
}

/// One person per side for the hooks' edits, and what the hooks did so far.
pub struct Scenarios {
    people: BTreeMap<Side, Arc<Actor>>,
    readers: BTreeMap<Side, Arc<dyn Connector>>,
    /// What the hooks did, in the order the edits were made: of two edits of one field
    /// in one round, the later entry is the last edit ([`Workload::record_edit`]).
    made: Arc<Mutex<Vec<Made>>>,
    unresolved: Vec<Made>,
    figures: Arc<Mutex<Figures>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The value a hook's person gives `field`, in canonical form.
fn new_value(field: Field, work: &mut Workload, rng: &mut StdRng) -> String {
    match field {
        Field::Title => work.next_token(),
        Field::Priority => PRIORITIES[rng.gen_range(0..PRIORITIES.len())].to_string(),
        _ => rng.gen_range(14..40).to_string(),
    }
}

/// The fields a request of Ferry's sets (Jira `fields`, Azure DevOps patch paths).
fn fields_sent(req: &HookRequest) -> Vec<String> {
    match &req.body {
        Some(Value::Object(o)) => {
            o.get("fields").and_then(Value::as_object).map_or_else(Vec::new, |f| f.keys().cloned().collect())
        }
        Some(Value::Array(ops)) => ops
            .iter()
            .filter_map(|op| op.get("path").and_then(Value::as_str))
            .filter_map(|p| p.strip_prefix("/fields/"))
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// The entity a write request of Ferry's addresses: Jira `PUT issue/{id}` or `POST
/// issue/{id}/transitions`, Azure DevOps `PATCH workitems/{id}`.
fn written_entity(side: Side, req: &HookRequest) -> Option<String> {
    if !req.user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(BOT)) {
        return None;
    }
    let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    match (side, req.method.as_str(), parts.as_slice()) {
        (Side::Left, "PUT", ["rest", "api", "3", "issue", id]) => Some(id.to_string()),
        (Side::Left, "POST", ["rest", "api", "3", "issue", id, "transitions"]) => Some(id.to_string()),
        (Side::Right, "PATCH", [.., "_apis", "wit", "workitems", id]) if id.parse::<u64>().is_ok() => {
            Some(id.to_string())
        }
        _ => None,
    }
}

/// Whether a request is Ferry's create of an entity on `side`.
fn is_create(side: Side, req: &HookRequest) -> bool {
    let by_bot = req.user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(BOT));
    let path = req.path.to_ascii_lowercase();
    by_bot
        && req.method == "POST"
        && match side {
            Side::Left => path == "/rest/api/3/issue",
            Side::Right => path.contains("/_apis/wit/workitems/$"),
        }
}

/// The remote id (the origin's key) in Ferry's create request.
fn origin_key(side: Side, body: Option<&Value>, integration: &ferry_domain::Integration) -> Option<String> {
    let field = integration.remote.id_field(side)?.as_str().to_string();
    match body? {
        Value::Object(o) => o.get("fields")?.get(&field)?.as_str().map(str::to_string),
        Value::Array(ops) => ops
            .iter()
            .find(|op| op.get("path").and_then(Value::as_str) == Some(&format!("/fields/{field}")))
            .and_then(|op| op.get("value")?.as_str().map(str::to_string)),
        _ => None,
    }
}

fn hooks(world: &World, side: Side) -> &ferry_sim::Hooks {
    match side {
        Side::Left => world.jira.hooks(),
        Side::Right => world.ado.hooks(),
    }
}

impl Scenarios {
    pub async fn new(world: &World) -> anyhow::Result<Scenarios> {
        let mut people = BTreeMap::new();
        let mut readers = BTreeMap::new();
        for (side, token) in [(Side::Left, "jira-bob-token"), (Side::Right, "ado-bob-pat")] {
            people.insert(side, Arc::new(world.person(side, "bob@acme.test", token).await?));
            readers.insert(side, world.reader(side).await?);
        }
        Ok(Scenarios { people, readers, made: Arc::default(), unresolved: Vec::new(), figures: Arc::default() })
    }

    pub fn figures(&self) -> Figures {
        lock(&self.figures).clone()
    }

    /// Arms this round's hooks, each with chance `chance`: a person's edit during one of
    /// Ferry's writes on one side, and an edit of the next twin Ferry creates on one side
    /// (half of them with the create crashing at write_after_target).
    pub fn arm(&self, world: &World, work: &mut Workload, round: usize, chance: f64, rng: &mut StdRng) {
        self.disarm(world);
        if rng.gen_bool(chance) {
            self.arm_during_write(world, work, round, rng);
        }
        if rng.gen_bool(chance) {
            let crash = rng.gen_bool(0.5);
            self.arm_twin(world, work, round, crash, rng);
        }
    }

    /// Disarms the hooks that did not fire.
    pub fn disarm(&self, world: &World) {
        for side in [Side::Left, Side::Right] {
            hooks(world, side).clear();
        }
    }

    fn arm_during_write(&self, world: &World, work: &mut Workload, round: usize, rng: &mut StdRng) {
        let side = if rng.gen_bool(0.5) { Side::Left } else { Side::Right };
        let moment = if rng.gen_bool(0.5) { HookWhen::Before } else { HookWhen::After };
        let values: Vec<(Field, String)> = EDITABLE.iter().map(|f| (*f, new_value(*f, work, rng))).collect();
        let pick = rng.gen_range(0..EDITABLE.len());
        self.arm_edit_during_write(world, DuringWrite { side, moment, values, pick, round });
    }

    /// Arms a person's edit during Ferry's next write on `w.side`: of the `w.pick`-th
    /// (modulo) of the fields in `w.values` that the write does not set.
    fn arm_edit_during_write(&self, world: &World, w: DuringWrite) {
        let DuringWrite { side, moment, values, pick, round } = w;
        let (person, made, figures) = (self.people[&side].clone(), self.made.clone(), self.figures.clone());
        let (state, id) = (world.state.clone(), world.id().clone());
        let jira_ids = work_people_ids(world);
        lock(&self.figures).during_write_armed += 1;
        hooks(world, side).once(
            moment,
            move |req| written_entity(side, req).is_some(),
            move |req| async move {
                let Some(entity) = written_entity(side, &req).map(EntityId::new) else { return };
                // Only an entity whose pair is linked: its edit can be told apart.
                let Ok(Some(link)) = state.get_link(&id, side, &entity).await else {
                    lock(&figures).skipped += 1;
                    return;
                };
                let sent = fields_sent(&req);
                let free: Vec<&(Field, String)> =
                    values.iter().filter(|(f, _)| !sent.iter().any(|s| s == f.key(side))).collect();
                let Some((field, value)) = free.get(pick % free.len().max(1)).copied().cloned() else { return };
                let rendered = if field == Field::Title { title(&value) } else { value.clone() };
                let v = to_value(field, side, &rendered, &jira_ids);
                match person.update(&entity, vec![(field.key(side), v)]).await {
                    Ok(_) => {
                        tracing::info!(%entity, side = side.as_str(), ?field, %value, round, ?moment, "interleaved: a person's edit during Ferry's {} {}", req.method, req.path);
                        lock(&figures).during_write_made += 1;
                        let peer = link.side(side.other()).id.clone();
                        lock(&made).push(Made::Edit { side, entity, peer, field, value, round });
                    }
                    Err(e) => tracing::info!("a hook's edit was refused: {e}"),
                }
            },
        );
    }

    fn arm_twin(&self, world: &World, work: &mut Workload, round: usize, crash: bool, rng: &mut StdRng) {
        let side = if rng.gen_bool(0.5) { Side::Left } else { Side::Right };
        let field = EDITABLE[rng.gen_range(0..EDITABLE.len())];
        let value = new_value(field, work, rng);
        self.arm_twin_edit(world, TwinEdit { side, field, value, round, crash });
    }

    /// Arms a person's edit (`t.field` to `t.value`) of the next twin Ferry creates on
    /// `t.side`, handled by the twin's direction at once.
    fn arm_twin_edit(&self, world: &World, t: TwinEdit) {
        let TwinEdit { side, field, value, round, crash } = t;
        let ctx = TwinCtx {
            side,
            field,
            value,
            round,
            crash,
            person: self.people[&side].clone(),
            reader: self.readers[&side].clone(),
            jira: world.jira.clone(),
            ado: world.ado.clone(),
            engine: world.engine.clone(),
            crashes: world.crashes.clone(),
            integration: world.integration.clone(),
            jira_ids: work_people_ids(world),
            made: self.made.clone(),
            figures: self.figures.clone(),
        };
        lock(&self.figures).twins_armed += 1;
        // Only a create that was made (not one a fault switch answered).
        let made = |req: &HookRequest| req.status.is_some_and(|s| (200..300).contains(&s));
        hooks(world, side).once(HookWhen::After, move |req| is_create(side, req) && made(req), move |req| ctx.run(req));
    }

    /// Folds what the hooks did into the workload (an edit whose pair cannot be found
    /// yet is tried again after the next round).
    pub fn merge(&mut self, work: &mut Workload) {
        let mut todo: Vec<Made> = std::mem::take(&mut self.unresolved);
        todo.extend(std::mem::take(&mut *lock(&self.made)));
        for m in todo {
            let found = match &m {
                Made::Edit { side, entity, peer, .. } => work.pair_of(*side, entity, Some(peer)),
                Made::Twin { origin_key, .. } => work.pair_by_origin_key(origin_key),
            };
            let Some(pair) = found else {
                self.unresolved.push(m);
                continue;
            };
            match m {
                Made::Edit { side, field, value, round, .. } | Made::Twin { side, field, value, round, .. } => {
                    work.record_edit(pair, round, side, field, value)
                }
            }
        }
    }

    /// Edits whose pair was never found (none expected).
    pub fn unresolved(&self) -> usize {
        self.unresolved.len()
    }
}

/// Jira account ids of the workload's people (for user values).
fn work_people_ids(world: &World) -> People {
    let mut jira_ids = std::collections::HashMap::new();
    for (name, email, _) in crate::workload::PEOPLE {
        if let Some(u) = world.jira.user(email) {
            jira_ids.insert(name.to_string(), u.id);
        }
    }
    People { jira: Vec::new(), ado: Vec::new(), jira_ids }
}

/// A person's edit during one of Ferry's writes, as armed.
struct DuringWrite {
    side: Side,
    moment: HookWhen,
    /// The candidate fields and their new values (canonical form).
    values: Vec<(Field, String)>,
    pick: usize,
    round: usize,
}

/// A person's edit of the next twin Ferry creates, as armed.
struct TwinEdit {
    side: Side,
    field: Field,
    value: String,
    round: usize,
    /// The create crashes at write_after_target after the twin's direction handled it.
    crash: bool,
}

/// Everything the twin hook needs (it runs inside the simulator's request).
struct TwinCtx {
    side: Side,
    field: Field,
    value: String,
    round: usize,
    crash: bool,
    person: Arc<Actor>,
    reader: Arc<dyn Connector>,
    jira: JiraSim,
    ado: AdoSim,
    engine: Arc<Engine>,
    crashes: Arc<SeededCrashes>,
    integration: ferry_domain::Integration,
    jira_ids: People,
    made: Arc<Mutex<Vec<Made>>>,
    figures: Arc<Mutex<Figures>>,
}

impl TwinCtx {
    /// Right after Ferry created the twin: a person edits it, and the twin's direction
    /// handles that change (transform, then write) before the create goes on.
    async fn run(self, req: HookRequest) {
        let Some(origin_key) = origin_key(self.side, req.body.as_ref(), &self.integration) else {
            lock(&self.figures).skipped += 1;
            return;
        };
        let twin = match self.side {
            Side::Left => self
                .jira
                .issue_keys(&self.integration.left.project)
                .last()
                .and_then(|k| self.jira.issue_json(k).and_then(|j| j["id"].as_str().map(str::to_string))),
            Side::Right => {
                self.ado.work_item_ids(&self.integration.right.project).into_iter().max().map(|n| n.to_string())
            }
        };
        let Some(twin) = twin.map(EntityId::new) else { return };
        // The newest entity is the one this create made: it names its origin.
        if self.names_origin(&twin, &origin_key).await != Some(true) {
            lock(&self.figures).skipped += 1;
            return;
        }
        let was_on = self.crashes.enabled();
        self.crashes.set_enabled(false);
        if let Err(e) = self.edit(&twin).await {
            self.crashes.set_enabled(was_on);
            tracing::info!("the twin scenario's edit was refused: {e}");
            lock(&self.figures).skipped += 1;
            return;
        }
        // The person's edit happened, whatever its handling does: it must reach the other
        // side. Remembered before that handling, which writes to the twin: a person may
        // edit the twin again during that write (the during-write hook), a later edit.
        lock(&self.made).push(Made::Twin {
            origin_key: origin_key.clone(),
            side: self.side,
            field: self.field,
            value: self.value.clone(),
            round: self.round,
        });
        let outcome = self.handle(&twin).await;
        self.crashes.set_enabled(was_on);
        tracing::info!(%twin, %origin_key, side = self.side.as_str(), field = ?self.field, value = %self.value, round = self.round, crash = self.crash, %outcome, "interleaved: a twin edited before its link");
        if self.crash {
            self.crashes.force_next(CrashPoint::WriteAfterTarget);
        }
        let mut f = lock(&self.figures);
        *f.twins_made.entry(if self.crash { "crash" } else { "middle" }).or_default() += 1;
        *f.twin_outcomes.entry(outcome).or_default() += 1;
    }

    /// Whether `twin`'s remote-id field holds `origin_key` (`None`: it cannot be read).
    async fn names_origin(&self, twin: &EntityId, origin_key: &str) -> Option<bool> {
        let field = self.integration.remote.id_field(self.side)?;
        let snapshot = self.reader.get(&self.scope(), twin, std::slice::from_ref(field)).await.ok()??;
        Some(snapshot.field(field).and_then(ferry_domain::FieldValue::key_string).as_deref() == Some(origin_key))
    }

    fn scope(&self) -> ferry_domain::Scope {
        ferry_domain::Scope {
            project: self.integration.endpoint(self.side).project.clone(),
            entity_type: self.integration.endpoint(self.side).entity_type.clone(),
        }
    }

    async fn edit(&self, twin: &EntityId) -> anyhow::Result<()> {
        let rendered = if self.field == Field::Title { title(&self.value) } else { self.value.clone() };
        let v = to_value(self.field, self.side, &rendered, &self.jira_ids);
        self.person.update(twin, vec![(self.field.key(self.side), v)]).await?;
        Ok(())
    }

    /// The twin's direction handles its change now: its transform, then its write. A
    /// step that fails for now is handed to its queue, as a handler's retry would be.
    async fn handle(&self, twin: &EntityId) -> String {
        match self.transform_and_write(twin).await {
            Ok(outcome) => outcome,
            Err(e) => format!("error: {e}"),
        }
    }

    async fn transform_and_write(&self, twin: &EntityId) -> anyhow::Result<String> {
        let flow = Flow::from_source(self.side);
        let mut fields = ferry_mapping::source_fields(&self.integration, flow);
        fields.extend(self.integration.remote.id_field(self.side).cloned());
        let snapshot =
            self.reader.get(&self.scope(), twin, &fields).await?.ok_or_else(|| anyhow::anyhow!("twin gone"))?;
        let event = ChangeEvent {
            schema: MESSAGE_SCHEMA,
            integration: self.integration.id.clone(),
            flow,
            snapshot,
            matches_filter: true,
            polled_at: chrono::Utc::now(),
            replay: None,
            winner: None,
        };
        let body = serde_json::to_string(&event)?;
        let batch = Batch::default();
        let queue = self.engine.queue();
        let transformed = match self.engine.transform_change(&body, 1, &batch).await {
            Ok(t) => t,
            Err(e) => {
                let m = OutMessage { group_id: event.group_id(), dedup_id: event.dedup_id(), body };
                queue.send(QueueName::Changes, &[m]).await?;
                return Ok(format!("transform retried later ({e})"));
            }
        };
        let commands = batch.take();
        self.engine.flush(&batch).await?;
        let mut outcome = name_of(&format!("{transformed:?}"));
        for (_, c) in commands {
            let batch = Batch::default();
            let written = match self.engine.write_command(&c.body, 1, &batch).await {
                Ok(w) => self.engine.flush(&batch).await.map(|_| w),
                Err(e) => Err(e),
            };
            outcome = match written {
                Ok(w) => name_of(&format!("{w:?}")),
                Err(e) => {
                    queue.send(QueueName::Writes, std::slice::from_ref(&c)).await?;
                    format!("write retried later ({})", name_of(&e.to_string()))
                }
            };
        }
        Ok(outcome)
    }
}

/// The variant name of an outcome's debug form (`Updated { .. }` -> `Updated`).
fn name_of(debug: &str) -> String {
    debug.split([' ', '{', '(', ':']).next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{canonical, PEOPLE};
    use crate::world::Backend;
    use ferry_domain::FieldKey;
    use rand::SeedableRng;
    use std::time::Duration;

    /// The canonical value of `field` that `side`'s entity `id` holds now.
    async fn held(world: &World, side: Side, id: &EntityId, field: Field) -> anyhow::Result<Option<String>> {
        let key = FieldKey::new(field.key(side));
        let snap = world.reader(side).await?.get(&world.scope(side), id, std::slice::from_ref(&key)).await?;
        Ok(canonical(field, side, snap.as_ref().and_then(|s| s.field(&key)), &work_people_ids(world).jira_ids))
    }

    /// bob edits the twin's points right after Ferry created it (to 21); the twin's
    /// direction, handling that edit inside the create, links the pair and writes the
    /// back-link to the twin, and during that write bob edits the points again (to 35).
    /// His second edit is the last one: the model must say so, as both sides end up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_edit_made_while_the_twins_direction_handles_an_earlier_one_is_the_last() -> anyhow::Result<()> {
        let mut world = World::new(Backend::Embedded, 7, 0.0, Duration::from_secs(1), false).await?;
        let (name, email, _) = PEOPLE[0];
        let people = People {
            jira: vec![world.person(Side::Left, email, &format!("jira-{name}-token")).await?],
            ado: Vec::new(),
            jira_ids: work_people_ids(&world).jira_ids,
        };
        let mut rng = StdRng::seed_from_u64(7);
        let mut work = Workload::new(0.0, 1.0);
        work.create(0, Side::Left, &people, &mut rng).await?;
        let mut scenarios = Scenarios::new(&world).await?;
        let (side, round) = (Side::Right, 0);
        scenarios
            .arm_twin_edit(&world, TwinEdit { side, field: Field::Points, value: "21".into(), round, crash: false });
        let values = vec![(Field::Points, "35".to_string())];
        scenarios.arm_edit_during_write(&world, DuringWrite { side, moment: HookWhen::After, values, pick: 0, round });

        world.poll(Flow::LeftToRight).await?;
        world.drain().await?;
        let figures = scenarios.figures();
        assert_eq!(
            (figures.twins_made.values().sum::<u64>(), figures.during_write_made, figures.skipped),
            (1, 1, 0),
            "both edits made, the second one during the twin direction's handling: {figures:?}"
        );
        // The twin's change reaches the original.
        world.poll(Flow::RightToLeft).await?;
        world.drain().await?;
        scenarios.merge(&mut work);

        let pair = &work.pairs[0];
        let (jira_id, _) = &pair.ids[&Side::Left];
        let link = world.state.get_link(world.id(), Side::Left, jira_id).await?.expect("the pair is linked");
        let twin = link.side(Side::Right).id.clone();
        assert_eq!(held(&world, Side::Right, &twin, Field::Points).await?.as_deref(), Some("35"), "bob's last edit");
        assert_eq!(held(&world, Side::Left, jira_id, Field::Points).await?.as_deref(), Some("35"), "carried over");
        // The twin's history as in the suite's report: bob's edit, Ferry's back-link (a
        // relation, no field), bob's edit during it.
        let points = "Microsoft.VSTS.Scheduling.StoryPoints".to_string();
        let after_create: Vec<(String, Vec<String>)> = world
            .ado
            .history(twin.as_str().parse()?)
            .unwrap_or_default()
            .into_iter()
            .skip(1)
            .map(|r| (r.author, r.fields))
            .collect();
        let bob = "bob@acme.test".to_string();
        let want = [(bob.clone(), vec![points.clone()]), (crate::world::BOT.to_string(), vec![]), (bob, vec![points])];
        assert_eq!(after_create, want);
        let last = &pair.last[&Field::Points];
        assert_eq!((last.side, last.value.as_str()), (Side::Right, "35"), "the model's last edit of the points");
        Ok(())
    }
}
