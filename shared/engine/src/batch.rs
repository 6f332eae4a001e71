//! One handler batch: its outgoing write commands, the sync state it read (fetched
//! together up front) and its counters (written together at the end).
//!
//! Every DynamoDB request is billed, and one per record per message was most of
//! Ferry's AWS cost. A batch reads the state of all its messages before handling them,
//! in two `BatchGetItem`s: the source entities' links and their flows' open-failure
//! counts, then each linked pair's fingerprint record (an unlinked entity's own
//! fingerprint) and, only in a flow whose count is not 0, the entities' failures.
//! Handlers then read through this cache and write through it, so a later message of
//! the same entity in the batch sees the earlier one's writes. The cache lives for one
//! batch only. Write commands of both directions of a linked pair share one FIFO message
//! group (see [`ferry_domain::WriteCommand::group_id`]), but one built before the pair
//! was linked runs in its source entity's group, at the same time as the pair's: a
//! pair's record is therefore written on the condition of the version read
//! ([`Engine::batch_put_pair`]). A create is not linked yet, so its link and create
//! intent are not read ahead: they are read when it runs.
//!
//! A batch of write commands also reads the targets its linked updates compare against
//! ahead, one request per integration and target side ([`crate::target_reads`] says
//! which), so a full batch costs its target system one read instead of one per command;
//! only where the system's updates are conditional ([`Engine::read_targets`]).
//! Each update takes its target's snapshot once; one not read ahead, or whose read
//! failed, reads its own.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::target_reads::{target_reads, Command, TargetRead};
use ferry_domain::ports::{OutMessage, QueueName, StateKey, StateRecord};
use ferry_domain::{
    Activity, ChangeEvent, Counter, EntityId, EntitySnapshot, FailureRecord, FieldKey, Fingerprint, Flow,
    IntegrationId, Link, PortError, Side, WriteCommand,
};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use tracing::warn;

/// A handler batch (see the module docs). Create one per received batch, hand it to
/// [`Engine::prefetch`], every [`Engine::transform_change`] / [`Engine::write_command`] of the
/// batch, then [`Engine::flush`].
#[derive(Debug, Default)]
pub struct Batch {
    /// Write commands to send, each with the received message it came from.
    outbox: Mutex<Vec<(Option<String>, OutMessage)>>,
    /// The received message being handled ([`Batch::begin`]).
    current: Mutex<Option<String>>,
    /// `None`: known to be absent.
    state: Mutex<HashMap<StateKey, Option<StateRecord>>>,
    counters: Mutex<HashMap<(IntegrationId, Flow, Counter), u64>>,
    /// Steps of the batch's entities, recorded with the counters.
    steps: Mutex<Vec<Activity>>,
    /// Targets read ahead ([`Engine::prefetch`]), each with the fields it was read with.
    targets: Mutex<HashMap<TargetKey, (Vec<FieldKey>, EntitySnapshot)>>,
}

/// A target entity: its integration, side and id.
type TargetKey = (IntegrationId, Side, EntityId);

// A poisoned lock still holds everything put in it: use it, never drop it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Batch {
    /// Names the received message (its queue message id) handled next: the write
    /// commands it produces are attributed to it, so that a command the queue does not
    /// take fails that message alone ([`Engine::flush_each`]).
    pub fn begin(&self, origin: &str) {
        *lock(&self.current) = Some(origin.to_string());
    }
    pub(crate) fn push(&self, m: OutMessage) {
        let origin = lock(&self.current).clone();
        lock(&self.outbox).push((origin, m));
    }
    /// Takes the write commands waiting to be sent out of the batch, each with the
    /// received message it came from ([`Engine::flush`] sends them; a caller that hands
    /// them to a handler itself takes them instead).
    pub fn take(&self) -> Vec<(Option<String>, OutMessage)> {
        std::mem::take(&mut *lock(&self.outbox))
    }
    /// Write commands waiting to be sent.
    pub fn len(&self) -> usize {
        lock(&self.outbox).len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub(crate) fn count(&self, integration: &IntegrationId, flow: Flow, counter: Counter) {
        *lock(&self.counters).entry((integration.clone(), flow, counter)).or_default() += 1;
    }
    pub(crate) fn add_step(&self, step: Activity) {
        lock(&self.steps).push(step);
    }
    pub(crate) fn take_steps(&self) -> Vec<Activity> {
        std::mem::take(&mut *lock(&self.steps))
    }
    /// The target read ahead for an update that reads it with `fields`, once: a later
    /// read of the same target (after the update wrote it) goes to its system.
    pub(crate) fn take_target(
        &self,
        integration: &IntegrationId,
        side: Side,
        id: &EntityId,
        fields: &[FieldKey],
    ) -> Option<EntitySnapshot> {
        let (read_with, snapshot) = lock(&self.targets).remove(&(integration.clone(), side, id.clone()))?;
        (read_with == fields).then_some(snapshot)
    }
    fn cached(&self, key: &StateKey) -> Option<Option<StateRecord>> {
        lock(&self.state).get(key).cloned()
    }
    fn remember(&self, key: StateKey, record: Option<StateRecord>) {
        lock(&self.state).insert(key, record);
    }
}

impl Engine {
    /// Reads the sync state every message of a received batch will need, in as few
    /// store requests as the store allows. Best effort: a message that cannot be
    /// parsed is skipped here (its handler reports it), and a failed read only means
    /// the handlers read for themselves.
    pub async fn prefetch(&self, batch: &Batch, queue: QueueName, bodies: &[&str]) {
        let mut first = Vec::new();
        // (integration, flow, source entity) per message, for the second round.
        let mut peers = Vec::new();
        // The same, for the entities' failures: read only in flows that have any.
        let mut parked = Vec::new();
        // The write commands, for their targets' reads ahead.
        let mut commands = Vec::new();
        for body in bodies {
            let (integration, flow, source, create) = match queue {
                QueueName::Changes => match serde_json::from_str::<ChangeEvent>(body) {
                    Ok(e) => (e.integration, e.flow, e.snapshot.id, false),
                    Err(_) => continue,
                },
                QueueName::Writes => match serde_json::from_str::<WriteCommand>(body) {
                    Ok(c) => {
                        let read = (c.integration.clone(), c.flow, c.source.id.clone(), c.target.is_none());
                        commands.push(c);
                        read
                    }
                    Err(_) => continue,
                },
            };
            let src = flow.source();
            first.push(StateKey::OpenFailures(integration.clone(), flow));
            parked.push((integration.clone(), flow, source.clone()));
            if create {
                // A create: its link and create intent are read when it runs. Until the
                // pair is linked the two directions are in different message groups, and
                // the other one may link it (adopt the twin) while this batch runs.
                continue;
            }
            first.push(StateKey::Link(integration.clone(), src, source.clone()));
            peers.push((integration, flow, source));
        }
        if first.is_empty() {
            return;
        }
        if let Err(e) = self.load(batch, first).await {
            warn!("reading the batch's sync state ahead failed; each message reads its own: {e}");
            return;
        }
        // The fingerprints, once the links say where they are: a linked pair's both in
        // its pair record, an unlinked entity's its own; and the failures of entities in
        // flows with any parked. A flow without one (nearly always) costs one count read
        // per batch instead of one per message.
        let mut second = Vec::new();
        for (integration, flow, source) in parked {
            let key = StateKey::Failure(integration.clone(), flow, source);
            match batch.cached(&StateKey::OpenFailures(integration, flow)) {
                Some(Some(StateRecord::OpenFailures(0))) => batch.remember(key, None),
                _ => second.push(key),
            }
        }
        for (integration, flow, source) in peers {
            let key = match batch.cached(&StateKey::Link(integration.clone(), flow.source(), source.clone())) {
                Some(Some(StateRecord::Link(l))) => StateKey::Pair(integration, l.left.id),
                Some(None) => StateKey::Fingerprint(integration, flow.source(), source),
                _ => continue,
            };
            if batch.cached(&key).is_none() {
                second.push(key);
            }
        }
        if !second.is_empty() {
            if let Err(e) = self.load(batch, second).await {
                warn!(
                    "reading the batch's peer fingerprints and failures ahead failed; each message reads its own: {e}"
                );
            }
        }
        self.prefetch_targets(batch, &commands).await;
    }

    /// Reads the targets of the batch's linked updates ahead (see the module docs), each
    /// group in one request. Best effort: a failed read is logged, and each of its
    /// commands reads its own target.
    async fn prefetch_targets(&self, batch: &Batch, commands: &[WriteCommand]) {
        let fields: Vec<Vec<FieldKey>> = commands.iter().map(|c| c.mapped.keys().cloned().collect()).collect();
        let mut links = Vec::with_capacity(commands.len());
        for c in commands {
            let key = StateKey::Link(c.integration.clone(), c.flow.source(), c.source.id.clone());
            links.push(match batch.cached(&key) {
                Some(Some(StateRecord::Link(l))) => Some(l.side(c.flow.target()).id.clone()),
                _ => None,
            });
        }
        let candidates: Vec<Command> = commands
            .iter()
            .zip(&links)
            .zip(&fields)
            .map(|((c, linked), fields)| Command {
                integration: &c.integration,
                flow: c.flow,
                source: &c.source.id,
                target: linked.as_ref().or(c.target.as_ref()),
                reads_linked_target: linked.is_some() && !c.collab_only,
                fields,
            })
            .collect();
        for read in target_reads(&candidates) {
            if let Err(e) = self.read_targets(batch, &read).await {
                let TargetRead { integration, side, ids, .. } = &read;
                warn!(%integration, side = side.as_str(), targets = ids.len(), "reading the batch's targets ahead failed; each command reads its own: {e}");
            }
        }
    }

    /// Reads one group ahead, where the target system's updates are conditional (Azure
    /// DevOps' `test /rev`): a target someone changed after the read ahead refuses the
    /// update, which is read and compared again. Jira's edit has no precondition: a
    /// person's edit of a field after a read ahead, before Ferry's edit of the same field,
    /// would be overwritten, so a Jira target is read right before its write, where that
    /// window is one request long.
    async fn read_targets(&self, batch: &Batch, read: &TargetRead) -> Result<(), EngineError> {
        let record = self.record(&read.integration).await?;
        let (conn, scope) = self.side_connector(&record, read.side).await?;
        if !conn.atomic_updates() {
            return Ok(());
        }
        let found = conn.get_many(&scope, &read.ids, &read.fields).await?;
        let mut targets = lock(&batch.targets);
        for snapshot in found {
            // Only the ids asked for: a system may answer a moved entity under another.
            if read.ids.contains(&snapshot.id) {
                let key = (read.integration.clone(), read.side, snapshot.id.clone());
                targets.insert(key, (read.fields.clone(), snapshot));
            }
        }
        Ok(())
    }

    async fn load(&self, batch: &Batch, mut keys: Vec<StateKey>) -> Result<(), PortError> {
        let mut unique = HashSet::new();
        keys.retain(|k| unique.insert(k.clone()));
        let mut found = self.state.get_many(&keys).await?;
        for k in keys {
            let record = found.remove(&k);
            // Both items of a link hold the same link, written together: one is the other.
            if let Some(StateRecord::Link(l)) = &record {
                for side in [Side::Left, Side::Right] {
                    let peer = StateKey::Link(l.integration.clone(), side, l.side(side).id.clone());
                    if peer != k {
                        batch.remember(peer, record.clone());
                    }
                }
            }
            batch.remember(k, record);
        }
        Ok(())
    }

    async fn cached_or(&self, batch: &Batch, key: StateKey) -> Result<Option<StateRecord>, PortError> {
        if let Some(hit) = batch.cached(&key) {
            return Ok(hit);
        }
        let record = match &key {
            StateKey::Fingerprint(i, side, e) => {
                self.state.get_fingerprint(i, *side, e).await?.map(StateRecord::Fingerprint)
            }
            _ => self.state.get_many(std::slice::from_ref(&key)).await?.remove(&key),
        };
        batch.remember(key, record.clone());
        Ok(record)
    }

    pub(crate) async fn batch_link(
        &self,
        batch: &Batch,
        integration: &IntegrationId,
        side: Side,
        entity: &EntityId,
    ) -> Result<Option<Link>, PortError> {
        match self.cached_or(batch, StateKey::Link(integration.clone(), side, entity.clone())).await? {
            Some(StateRecord::Link(l)) => Ok(Some(l)),
            _ => Ok(None),
        }
    }

    /// A linked entity's fingerprint from its pair's record, an unlinked one's own.
    pub(crate) async fn batch_fingerprint(
        &self,
        batch: &Batch,
        integration: &IntegrationId,
        side: Side,
        entity: &EntityId,
    ) -> Result<Option<Fingerprint>, PortError> {
        if let Some(link) = self.batch_link(batch, integration, side, entity).await? {
            return match self.cached_or(batch, StateKey::Pair(integration.clone(), link.left.id)).await? {
                Some(StateRecord::Pair(p)) => Ok(p.of(side, entity).cloned()),
                _ => Ok(None),
            };
        }
        match self.cached_or(batch, StateKey::Fingerprint(integration.clone(), side, entity.clone())).await? {
            Some(StateRecord::Fingerprint(f)) => Ok(Some(f)),
            _ => Ok(None),
        }
    }

    pub(crate) async fn batch_failure(
        &self,
        batch: &Batch,
        integration: &IntegrationId,
        flow: Flow,
        entity: &EntityId,
    ) -> Result<Option<FailureRecord>, PortError> {
        match self.cached_or(batch, StateKey::Failure(integration.clone(), flow, entity.clone())).await? {
            Some(StateRecord::Failure(f)) => Ok(Some(*f)),
            _ => Ok(None),
        }
    }

    pub(crate) async fn batch_put_link(&self, batch: &Batch, link: &Link) -> Result<(), PortError> {
        // A replaced link's other entity may have lost its link, and a pair record is
        // found through links: ask the store again.
        lock(&batch.state)
            .retain(|k, _| !matches!(k, StateKey::Link(i, ..) | StateKey::Pair(i, ..) if *i == link.integration));
        self.state.put_link(link).await?;
        for side in [Side::Left, Side::Right] {
            let key = StateKey::Link(link.integration.clone(), side, link.side(side).id.clone());
            batch.remember(key, Some(StateRecord::Link(link.clone())));
        }
        Ok(())
    }

    /// Drops a pair ([`ferry_domain::ports::StateStore::delete_link`]): both entities are
    /// unlinked from now on, and their fingerprints are their own records.
    pub(crate) async fn batch_delete_link(&self, batch: &Batch, link: &Link) -> Result<(), PortError> {
        lock(&batch.state)
            .retain(|k, _| !matches!(k, StateKey::Link(i, ..) | StateKey::Pair(i, ..) if *i == link.integration));
        self.state.delete_link(link).await?;
        for side in [Side::Left, Side::Right] {
            batch.remember(StateKey::Link(link.integration.clone(), side, link.side(side).id.clone()), None);
        }
        Ok(())
    }

    /// A create intent, on the condition that the stored one is still `expected`
    /// ([`ferry_domain::ports::StateStore::put_create_intent`]); on a conflict the batch
    /// forgets the fingerprint and the entity's link, so the retry reads the intent that
    /// won or the link another attempt stored.
    pub(crate) async fn batch_put_create_intent(
        &self,
        batch: &Batch,
        fp: &Fingerprint,
        expected: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), PortError> {
        let key = StateKey::Fingerprint(fp.integration.clone(), fp.side, fp.entity.clone());
        if let Err(e) = self.state.put_create_intent(fp, expected).await {
            let link = StateKey::Link(fp.integration.clone(), fp.side, fp.entity.clone());
            let mut state = lock(&batch.state);
            state.remove(&key);
            state.remove(&link);
            return Err(e);
        }
        batch.remember(key, Some(StateRecord::Fingerprint(fp.clone())));
        Ok(())
    }

    pub(crate) async fn batch_put_fingerprint(&self, batch: &Batch, fp: &Fingerprint) -> Result<(), PortError> {
        self.state.put_fingerprint(fp).await?;
        let key = StateKey::Fingerprint(fp.integration.clone(), fp.side, fp.entity.clone());
        batch.remember(key, Some(StateRecord::Fingerprint(fp.clone())));
        Ok(())
    }

    /// Remembers the pair of a link this step just made to a target it just created:
    /// the source's own fingerprint as the batch knows it, none for the new target.
    /// Nothing is remembered when the batch does not know the source's.
    pub(crate) fn batch_new_pair(&self, batch: &Batch, link: &Link, source_side: Side) {
        let source = link.side(source_side);
        let own = match batch.cached(&StateKey::Fingerprint(link.integration.clone(), source_side, source.id.clone())) {
            Some(Some(StateRecord::Fingerprint(f))) => Some(f),
            Some(None) => None,
            _ => return,
        };
        // Just linked: no pair record exists yet (version 0).
        let pair = match source_side {
            Side::Left => ferry_domain::PairFingerprints { left: own, right: None, version: 0 },
            Side::Right => ferry_domain::PairFingerprints { left: None, right: own, version: 0 },
        };
        batch.remember(
            StateKey::Pair(link.integration.clone(), link.left.id.clone()),
            Some(StateRecord::Pair(Box::new(pair))),
        );
    }

    /// A write step's fingerprints of a linked pair, as its one pair record, on the
    /// condition that the record is still the version this batch read them from. A
    /// write of the other direction may have changed it meanwhile (it may run in another
    /// message group: see [`ferry_domain::PairFingerprints::version`]): then nothing is
    /// written, the batch forgets the record, and the `Conflict` makes the step run
    /// again on a fresh read.
    pub(crate) async fn batch_put_pair(&self, batch: &Batch, a: Fingerprint, b: Fingerprint) -> Result<(), PortError> {
        let (left, right) = if a.side == Side::Left { (a, b) } else { (b, a) };
        let key = StateKey::Pair(left.integration.clone(), left.entity.clone());
        let read = match batch.cached(&key) {
            Some(Some(StateRecord::Pair(p))) => p.version,
            _ => 0,
        };
        if let Err(e) = self.state.put_pair(&left, &right, read).await {
            lock(&batch.state).remove(&key);
            return Err(e);
        }
        let pair = ferry_domain::PairFingerprints { left: Some(left), right: Some(right), version: read + 1 };
        batch.remember(key, Some(StateRecord::Pair(Box::new(pair))));
        Ok(())
    }

    pub(crate) async fn batch_put_failure(&self, batch: &Batch, failure: &FailureRecord) -> Result<(), PortError> {
        self.state.put_failure(failure).await?;
        // The store keeps an existing failure's id: read it back when next asked.
        let key = StateKey::Failure(failure.integration.clone(), failure.flow, failure.entity.clone());
        lock(&batch.state).remove(&key);
        Ok(())
    }

    pub(crate) async fn batch_delete_failure(&self, batch: &Batch, failure: &FailureRecord) -> Result<(), PortError> {
        self.state.delete_failure(&failure.id).await?;
        let key = StateKey::Failure(failure.integration.clone(), failure.flow, failure.entity.clone());
        batch.remember(key, None);
        Ok(())
    }

    /// Writes the batch's counters (one store request per integration, flow and counter)
    /// and its entities' steps. Both are statistics: a failure is logged, and the batch's
    /// messages still succeed.
    pub(crate) async fn flush_counters(&self, batch: &Batch) {
        self.flush_steps(batch).await;
        let counters = std::mem::take(&mut *lock(&batch.counters));
        for ((integration, flow, counter), by) in counters {
            if let Err(e) = self.state.incr_counter(&integration, flow, counter, by).await {
                warn!(%integration, %flow, ?counter, by, "counting the batch's outcomes failed: {e}");
            }
        }
    }
}
