//! Queue messages and store records: the schemas shared by both runtimes.

use crate::changes::ReadToken;
use crate::error::ErrorCategory;
use crate::ids::{EntityId, FieldKey, IntegrationId};
use crate::model::{EntityRef, EntitySnapshot, FieldChange, FieldValue, Flow, RemoteLink, Side};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Schema version carried by every queue message; a consumer rejects versions it
/// does not know with a failure record instead of guessing.
pub const MESSAGE_SCHEMA: u32 = 1;

/// poll → transform: one entity changed in the source of `flow`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub schema: u32,
    pub integration: IntegrationId,
    pub flow: Flow,
    pub snapshot: EntitySnapshot,
    /// False when the entity did not match the flow's filter (it is then only synced
    /// if already linked and the filter-exit policy keeps it).
    #[serde(default = "yes")]
    pub matches_filter: bool,
    pub polled_at: DateTime<Utc>,
    /// Set when an operator replays a parked event: it makes the replay's queue
    /// deduplication ids new, so a replay inside the dedup window is not dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// Set by an operator's replay of a flagged field conflict: the side whose values
    /// win every conflict of this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<Side>,
}

fn yes() -> bool {
    true
}

impl ChangeEvent {
    /// FIFO message group: one per source entity, so its changes stay in order.
    pub fn group_id(&self) -> String {
        entity_group(&self.integration, self.flow.source(), &self.snapshot.id)
    }
    /// Deduplication id: a change is identified by its entity and revision.
    pub fn dedup_id(&self) -> String {
        let base = format!(
            "{}:{}:{}:{}",
            self.integration,
            self.flow.source().as_str(),
            self.snapshot.id,
            self.snapshot.revision
        );
        with_replay(base, self.replay.as_deref())
    }
}

fn with_replay(base: String, replay: Option<&str>) -> String {
    match replay {
        Some(r) => format!("{base}:replay:{r}"),
        None => base,
    }
}

pub fn entity_group(integration: &IntegrationId, side: Side, id: &EntityId) -> String {
    format!("{integration}:{}:{id}", side.as_str())
}

/// transform → write: what to apply to the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteCommand {
    pub schema: u32,
    pub integration: IntegrationId,
    pub flow: Flow,
    /// The source entity as read (kept for the failure record and back-links).
    pub source: EntitySnapshot,
    /// `None`: create a new target entity.
    pub target: Option<EntityId>,
    pub changes: Vec<FieldChange>,
    /// Values Ferry means the target to hold after this write (all mapped fields), the
    /// next fingerprint. On the wire an object keyed by field name.
    pub mapped: BTreeMap<FieldKey, FieldValue>,
    /// Carried from a replayed [`ChangeEvent`] (see its `replay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// Carried from a replayed [`ChangeEvent`] (see its `winner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<Side>,
    /// No field changed: the write step syncs only the pair's comments, attachments and
    /// relations (`changes` and `mapped` are empty and write nothing).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub collab_only: bool,
}

impl WriteCommand {
    /// FIFO message group: the pair's, named by its left entity, once the pair is linked,
    /// so both directions' writes of one pair run one at a time (neither reads the
    /// pair's fingerprints while the other changes them); the source entity's before.
    pub fn group_id(&self) -> String {
        match (self.flow.source(), &self.target) {
            (Side::Right, Some(left)) => entity_group(&self.integration, Side::Left, left),
            (side, _) => entity_group(&self.integration, side, &self.source.id),
        }
    }
    pub fn dedup_id(&self) -> String {
        let base = format!(
            "w:{}:{}:{}:{}",
            self.integration,
            self.flow.source().as_str(),
            self.source.id,
            self.source.revision
        );
        with_replay(base, self.replay.as_deref())
    }
}

/// Per integration and flow: how far the source has been read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// Changes strictly before this instant are never synced (the start polling time).
    pub floor: DateTime<Utc>,
    /// How far the read of changes got: every change before this instant that the
    /// source listed has been handled ([`crate::ChangePage::through`]). A new read
    /// starts here, or earlier at [`ReadState::rescan_from`].
    pub cursor: DateTime<Utc>,
    /// Optimistic-concurrency version; a put with a stale version fails.
    pub version: u64,
    pub last_poll: Option<DateTime<Utc>>,
    /// Revisions the polls of this flow already handled (enqueued, or dropped as Ferry's
    /// echo) for entities a later read may list again: a re-read of one is a
    /// duplicate. Kept here so that a poll stores it with its cursor in one write.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seen: BTreeMap<EntityId, SeenRevision>,
    /// The state of the read of changes (continuation, rescan bound).
    #[serde(default, skip_serializing_if = "ReadState::is_idle")]
    pub read: ReadState,
    /// With a filter whose exit policy keeps syncing linked entities: the read of the
    /// entities outside the filter, which has its own position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside: Option<OutsideRead>,
    /// A source-control integration's position in the commit graph: each selected
    /// branch's newest handled commit (branch → full commit id). Empty for an empty
    /// repository; `None` for a work-item flow, whose position is its `cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_tips: Option<BTreeMap<String, String>>,
    /// A source-control integration's walk that a poll stopped part-way through: the
    /// next poll goes on with it after its last handled commit instead of walking
    /// every commit again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walk: Option<WalkCheckpoint>,
}

/// How far a walk of the commit graph got: from the recorded `branch_tips` to the tips
/// `to`, every commit up to and including `after`, in the walk's order, was handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkCheckpoint {
    pub to: BTreeMap<String, String>,
    pub after: String,
    /// Commits of the walk handled so far (shown by `ferry status`).
    pub handled: u64,
}

impl Watermark {
    /// The watermark of a direction activated at `at` (its start polling time).
    pub fn starting_at(at: DateTime<Utc>) -> Self {
        Watermark {
            floor: at,
            cursor: at,
            version: 1,
            last_poll: None,
            seen: BTreeMap::new(),
            read: ReadState::default(),
            outside: None,
            branch_tips: None,
            walk: None,
        }
    }
}

/// Where one read of changes stands between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadState {
    /// Where the read the last poll could not finish continues; `None`: the next poll
    /// starts a new read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ReadToken>,
    /// A new read starts no later than this. A page read while its entities were
    /// younger than the overlap window may have missed some the system's search did not
    /// show yet; the next read covers them again from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescan_from: Option<DateTime<Utc>>,
    /// When the last read that went back to [`ReadState::rescan_from`] began: a poll
    /// that answers a webhook's request reads from the cursor until the next rescan
    /// is due (see `ferry_engine`'s watermark rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescanned_at: Option<DateTime<Utc>>,
}

impl ReadState {
    pub fn is_idle(&self) -> bool {
        self.resume.is_none() && self.rescan_from.is_none() && self.rescanned_at.is_none()
    }
}

/// The read of linked entities outside a flow's filter (see [`Watermark::outside`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutsideRead {
    /// As [`Watermark::cursor`], for this read.
    pub cursor: DateTime<Utc>,
    #[serde(default, flatten)]
    pub read: ReadState,
}

/// The pairing of one left and one right entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub integration: IntegrationId,
    pub left: EntityRef,
    pub right: EntityRef,
    pub created_at: DateTime<Utc>,
}

impl Link {
    pub fn side(&self, side: Side) -> &EntityRef {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }
}

/// What Ferry last wrote to one side of a link, and the revision that write produced:
/// a later read of that revision is Ferry's own echo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub integration: IntegrationId,
    /// The side that was written.
    pub side: Side,
    pub entity: EntityId,
    /// Values written (field key → value), merged over earlier writes.
    pub values: BTreeMap<String, FieldValue>,
    /// Revision of the target right after Ferry's write.
    pub written_revision: Option<String>,
    /// The entity's `updated` at that revision: a snapshot older than this was read
    /// before Ferry's latest write and is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_updated: Option<DateTime<Utc>>,
    /// `updated` of the newest source snapshot (of the peer) applied to this side: an
    /// older snapshot delivered later (a reordered or duplicated message) is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_source_updated: Option<DateTime<Utc>>,
    /// Source side: when Ferry started creating this entity's twin, until the link is
    /// stored. A retry that finds it set knows a create may already have happened and
    /// searches the target before creating again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_started: Option<DateTime<Utc>>,
    /// Source side: when Ferry found this entity's twin deleted and dropped the pair
    /// (`on_target_deleted: unlink`). A later change of it is not created again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twin_deleted: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// Both fingerprints of a linked pair, stored together: a write step changes both at
/// once, and writes of the pair are conditional on one version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairFingerprints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<Fingerprint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right: Option<Fingerprint>,
    /// The record's version as read (0 stands for no record). Writes of both directions
    /// of a pair may run at once (one built before the pair was linked runs in the source
    /// entity's message group), so a write is conditional on it
    /// ([`crate::ports::StateStore::put_pair`]). Stores keep it beside the record.
    #[serde(skip)]
    pub version: u64,
}

impl PairFingerprints {
    /// The fingerprint of `entity` on `side`, if this pair holds it (after a relink the
    /// pair of a left entity may still hold the former peer's).
    pub fn of(&self, side: Side, entity: &EntityId) -> Option<&Fingerprint> {
        let fp = match side {
            Side::Left => self.left.as_ref(),
            Side::Right => self.right.as_ref(),
        };
        fp.filter(|f| &f.entity == entity)
    }
}

/// The last revision of a source entity a poll handled (dedupe). Short names and
/// milliseconds: a watermark holds thousands after a burst and is written per page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenRevision {
    /// The revision, kept only while its `updated` alone may not name it: when it was
    /// read so soon after its update that a later edit could carry the same `updated`
    /// (Redmine's `updated_on` has second precision). Once a read came later than that,
    /// `updated` names the revision and this is `None`.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(rename = "u", with = "chrono::serde::ts_milliseconds")]
    pub updated: DateTime<Utc>,
}

impl SeenRevision {
    /// Whether a snapshot at (`revision`, `updated`) is this revision or an older one:
    /// a re-read, not a change.
    pub fn covers(&self, revision: &str, updated: DateTime<Utc>) -> bool {
        self.updated > updated || (self.updated == updated && self.revision.as_deref().is_none_or(|r| r == revision))
    }

    /// Whether a listing that shows the entity at `updated` (without its revision) shows
    /// nothing newer than this: the entity need not be read in full.
    pub fn covers_listed(&self, updated: DateTime<Utc>) -> bool {
        self.updated > updated || (self.updated == updated && self.revision.is_none())
    }
}

/// A parked event: visible, retryable, discardable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub id: String,
    pub integration: IntegrationId,
    pub flow: Flow,
    /// Source entity id and key.
    pub entity: EntityId,
    pub entity_key: String,
    pub category: ErrorCategory,
    pub cause: String,
    /// The event as received (the newest for this entity: later ones wait behind it).
    pub input: ChangeEvent,
    /// The mapping's output when it got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping_output: Option<WriteCommand>,
    pub attempts: u32,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
}

/// Counters per integration and flow, shown by `ferry status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FlowCounts {
    pub synced: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Pairs dropped because their target was deleted (`on_target_deleted: unlink`).
    #[serde(default)]
    pub unlinked: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counter {
    Synced,
    Skipped,
    Failed,
    /// A pair dropped because its target was deleted.
    Unlinked,
}

/// A back-link to write after a create.
pub fn remote_link_for(integration: &IntegrationId, peer_side: Side, peer: &EntityRef, label: &str) -> RemoteLink {
    RemoteLink {
        global_id: format!("ferry:{integration}:{}:{}", peer_side.as_str(), peer.id),
        url: peer.url.clone(),
        title: format!("{label} {}", peer.key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write command as Ferry wrote it before its mapped values were keyed by
    /// `FieldKey`: queue messages in flight across an upgrade must still parse, and a
    /// command must still be written the same way.
    const WRITE_COMMAND: &str = r#"{"schema":1,"integration":"app-bugs","flow":"left_to_right","source":{"id":"10001","key":"APP-1","revision":"1795000000000","updated":"2026-11-18T11:06:40Z","url":"https://acme.atlassian.net/browse/APP-1","fields":{"priority":{"type":"option","value":"High"},"summary":{"type":"text","value":"Crash on save"}}},"target":"7","changes":[{"field":"System.Title","value":{"type":"text","value":"Crash on save"}}],"mapped":{"Microsoft.VSTS.Common.Priority":{"type":"number","value":2.0},"System.Description":{"type":"rich_text","value":"<p>Steps</p>"},"System.Title":{"type":"text","value":"Crash on save"}}}"#;

    #[test]
    fn a_write_command_parses_and_is_written_back_byte_for_byte() {
        let cmd: WriteCommand = serde_json::from_str(WRITE_COMMAND).expect("parses");
        assert_eq!(cmd.mapped.len(), 3);
        assert_eq!(cmd.mapped.get("Microsoft.VSTS.Common.Priority"), Some(&FieldValue::Number(2.0)));
        assert_eq!(cmd.mapped.get("System.Title"), Some(&FieldValue::Text("Crash on save".into())));
        assert_eq!(serde_json::to_string(&cmd).expect("serializes"), WRITE_COMMAND);
    }
}
