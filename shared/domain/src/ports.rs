//! Port traits: what the engine needs from connectors, stores and queues.
//!
//! Every adapter (Jira, Azure DevOps, SQLite, DynamoDB, SQS) implements these, and
//! the engine is generic over them. Errors are [`PortError`]s classified at the edge.

use crate::activity::{Activity, PaceBucket};
pub use crate::changes::{ChangePage, ChangeQuery, ReadToken};
use crate::collab::{Attachment, ByteSink, ByteSource, Capabilities, CollabState, Comment, CommentWrite, Relation};
use crate::error::{ErrorCategory, PortError};
use crate::failure_counts::FailureCount;
use crate::failure_listing::ListedFailure;
use crate::ids::{EntityId, FieldKey, IntegrationId, SystemId};
use crate::integration::{IntegrationRecord, SystemConfig};
use crate::message::{Counter, FailureRecord, Fingerprint, FlowCounts, Link, PairFingerprints, Watermark};
use crate::model::{
    EntityRef, EntitySnapshot, EntityTypeInfo, FieldChange, FieldInfo, Flow, HistoryEntry, ProjectInfo, RemoteLink,
    Scope, Side, SystemKind, Updated, UserRef,
};
use crate::scm::{CommitLinkRecord, ScmSystem};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

pub type PortResult<T> = Result<T, PortError>;

/// Entities per page of [`Connector::changed_since`].
const CHANGES_PAGE: usize = 100;
/// Guard of [`Connector::changed_since`] against a server that never ends a read.
const MAX_CHANGE_PAGES: usize = 100_000;

/// A criteria filter pushed into the source query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFilter {
    /// Native condition: JQL for Jira, a WIQL condition for Azure DevOps.
    pub condition: String,
    /// Select the entities that do NOT match (used to keep syncing linked entities).
    pub negate: bool,
}

/// A work-item system (Jira Cloud, Azure DevOps, ...).
#[async_trait]
pub trait Connector: Send + Sync {
    fn kind(&self) -> SystemKind;

    /// One page of the entities of `scope` changed since `query.since`, oldest first:
    /// the first page with `from: None`, each later one from the previous page's
    /// [`ChangePage::next`]. Paging is by position (`updated`, then id), never by
    /// offset: an entity edited while the read goes on moves to the end instead of
    /// shifting the others past a page boundary.
    async fn changes(&self, scope: &Scope, query: &ChangeQuery<'_>, from: Option<&ReadToken>)
        -> PortResult<ChangePage>;

    /// Every entity of `scope` changed since `since` (all pages of [`Connector::changes`]),
    /// oldest first, each once with its newest read.
    async fn changed_since(
        &self,
        scope: &Scope,
        since: DateTime<Utc>,
        filter: Option<&QueryFilter>,
        fields: &[FieldKey],
    ) -> PortResult<Vec<EntitySnapshot>> {
        let seen = std::collections::BTreeMap::new();
        let query = ChangeQuery { since, filter, fields, seen: &seen, page_size: CHANGES_PAGE };
        let mut newest: std::collections::HashMap<crate::EntityId, EntitySnapshot> = Default::default();
        let mut from: Option<ReadToken> = None;
        for _ in 0..MAX_CHANGE_PAGES {
            let page = self.changes(scope, &query, from.as_ref()).await?;
            for snap in page.snapshots {
                // An entity edited during the read comes again, newer: keep the newest.
                if newest.get(&snap.id).is_none_or(|s| s.updated <= snap.updated) {
                    newest.insert(snap.id.clone(), snap);
                }
            }
            match page.next {
                Some(next) if Some(&next) == from.as_ref() => {
                    return Err(PortError::new(ErrorCategory::BadResponse, "a read of changes did not advance"))
                }
                Some(next) => from = Some(next),
                None => {
                    let mut out: Vec<EntitySnapshot> = newest.into_values().collect();
                    out.sort_by(|a, b| a.updated.cmp(&b.updated).then_with(|| a.id.cmp(&b.id)));
                    return Ok(out);
                }
            }
        }
        Err(PortError::new(ErrorCategory::BadResponse, format!("a read of changes ran over {MAX_CHANGE_PAGES} pages")))
    }

    /// One entity, or `None` when it does not exist. An empty `fields` reads every field.
    /// `id` may also be the entity's key (Jira takes an issue id or key; Azure DevOps and
    /// Redmine keys are their ids).
    async fn get(&self, scope: &Scope, id: &EntityId, fields: &[FieldKey]) -> PortResult<Option<EntitySnapshot>>;

    /// Several entities at once, each snapshot exactly what [`Connector::get`] answers for
    /// it and `fields`, in no particular order. An entity the answer leaves out is one this
    /// read did not return: absent, or (for a system that says so) not returned this time;
    /// a caller that must tell which reads it with [`Connector::get`]. The default reads
    /// them one by one; a system with a batch read does it in one request per batch.
    async fn get_many(&self, scope: &Scope, ids: &[EntityId], fields: &[FieldKey]) -> PortResult<Vec<EntitySnapshot>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.get(scope, id, fields).await?);
        }
        Ok(out)
    }

    /// After [`Connector::get`] answered `None` for `id`: `Ok` when the entity is deleted
    /// as far as this system can tell it apart from one Ferry cannot see (a lost
    /// permission, a wrong or archived project), else the error that says why not. The
    /// default reads the scope's project (its entity types): a project Ferry still reads
    /// that has no such entity has lost it; a project it cannot read answers that error
    /// (`permission`, `not_found`, `auth`), and nothing is taken for a deletion.
    async fn confirm_deleted(&self, scope: &Scope, id: &EntityId) -> PortResult<()> {
        let _ = id;
        self.entity_types(&scope.project).await.map(|_| ())
    }

    /// Creates an entity; values are coerced to each target field's native type.
    async fn create(&self, scope: &Scope, changes: &[FieldChange]) -> PortResult<EntityRef>;

    /// Updates an entity. With `expected_revision`, a stale revision fails with
    /// [`crate::ErrorCategory::Conflict`] (ADO `test /rev`). Jira status changes go through
    /// a workflow transition. The answer carries what the system's response holds of the
    /// entity as written (`fields` of it, as [`Connector::get`] reads them) and of its
    /// history since `expected_revision`, so the writer need not read them again.
    async fn update(
        &self,
        scope: &Scope,
        id: &EntityId,
        changes: &[FieldChange],
        expected_revision: Option<&str>,
        fields: &[FieldKey],
    ) -> PortResult<Updated>;

    /// Whether [`Connector::update`] given an expected revision applies the change
    /// atomically at that revision (Azure DevOps' `test /rev`): the revision it returns
    /// then holds Ferry's change and nothing else, and no history needs reading.
    fn atomic_updates(&self) -> bool {
        false
    }

    /// The entity's history after revision `after` (exclusive; `None`: from its creation,
    /// included) up to revision `through` (inclusive), oldest first; revisions as this
    /// connector's snapshots name them. Changed fields are reported under the keys of
    /// `fields` where one names them (e.g. a Redmine custom field by name), else under
    /// the system's own key.
    async fn history(
        &self,
        scope: &Scope,
        id: &EntityId,
        after: Option<&str>,
        through: &str,
        fields: &[FieldKey],
    ) -> PortResult<Vec<HistoryEntry>>;

    /// Enough of the entity's history through revision `through` to tell who changed each
    /// of `fields` last: the newest entries, back to the last one that sets each field (all
    /// of the history when one never does). Oldest first, keyed as [`Connector::history`]'s.
    /// By default the whole history; a connector whose history is paged overrides it to
    /// stop early.
    async fn last_changes(
        &self,
        scope: &Scope,
        id: &EntityId,
        through: &str,
        fields: &[FieldKey],
    ) -> PortResult<Vec<HistoryEntry>> {
        self.history(scope, id, None, through, fields).await
    }

    /// The entity whose `field` equals `value` (remote-id search for idempotent creates).
    async fn find_by_field(&self, scope: &Scope, field: &FieldKey, value: &str) -> PortResult<Option<EntityRef>>;

    /// Adds or updates (by `global_id`) a link to the peer entity.
    async fn upsert_remote_link(&self, scope: &Scope, id: &EntityId, link: &RemoteLink) -> PortResult<()>;

    /// The newest `updated` in the scope, `None` for an empty project (start polling time).
    async fn last_updated(&self, scope: &Scope) -> PortResult<Option<DateTime<Utc>>>;

    /// Asks the live system whether the poll query of `scope` with the criteria filter
    /// `condition` is valid (Jira: `jql/parse`; Azure DevOps: the WIQL query with
    /// `$top=1`; Redmine: one listing). A condition the system or Ferry refuses is a
    /// `Config` error saying why.
    async fn validate_filter(&self, scope: &Scope, condition: &str) -> PortResult<()>;

    /// The user Ferry authenticates as (changes by this user are echoes).
    async fn integration_user(&self) -> PortResult<UserRef>;

    /// Exact, case-insensitive e-mail match; `None` when absent or ambiguous.
    async fn find_user_by_email(&self, email: &str) -> PortResult<Option<UserRef>>;

    async fn projects(&self) -> PortResult<Vec<ProjectInfo>>;
    async fn entity_types(&self, project: &str) -> PortResult<Vec<EntityTypeInfo>>;
    async fn fields(&self, scope: &Scope) -> PortResult<Vec<FieldInfo>>;
    async fn users(&self, project: &str) -> PortResult<Vec<UserRef>>;

    // ---- the conversation and structure around an entity (crate::collab) ----
    // A system without one of these keeps the default: its capability is off and the
    // call is refused as a `Config` error (the config validator refuses it earlier).

    /// What this system supports beyond fields.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// Every comment of the entity, oldest first, bodies in neutral HTML.
    async fn comments(&self, _scope: &Scope, _id: &EntityId) -> PortResult<Vec<Comment>> {
        Err(unsupported(self.kind(), "comments"))
    }
    /// Posts a comment as the integration user, keeping `origin` with it where possible.
    async fn add_comment(&self, _scope: &Scope, _id: &EntityId, _comment: &CommentWrite) -> PortResult<Comment> {
        Err(unsupported(self.kind(), "comments"))
    }
    /// Replaces the body of a comment Ferry wrote.
    async fn edit_comment(
        &self,
        _scope: &Scope,
        _id: &EntityId,
        _comment_id: &str,
        _comment: &CommentWrite,
    ) -> PortResult<Comment> {
        Err(unsupported(self.kind(), "comment edits"))
    }
    /// Deletes a comment; one already gone is not an error.
    async fn delete_comment(&self, _scope: &Scope, _id: &EntityId, _comment_id: &str) -> PortResult<()> {
        Err(unsupported(self.kind(), "comment deletions"))
    }

    /// Every attachment of the entity.
    async fn attachments(&self, _scope: &Scope, _id: &EntityId) -> PortResult<Vec<Attachment>> {
        Err(unsupported(self.kind(), "attachments"))
    }
    /// Streams an attachment's bytes into `sink`; returns how many were written.
    async fn download(
        &self,
        _scope: &Scope,
        _id: &EntityId,
        _attachment: &Attachment,
        _sink: &mut dyn ByteSink,
    ) -> PortResult<u64> {
        Err(unsupported(self.kind(), "attachments"))
    }
    /// Attaches `size` bytes read from `source` to the entity under `name`.
    async fn upload(
        &self,
        _scope: &Scope,
        _id: &EntityId,
        _name: &str,
        _size: u64,
        _source: &mut dyn ByteSource,
    ) -> PortResult<Attachment> {
        Err(unsupported(self.kind(), "attachments"))
    }
    /// Removes an attachment; one already gone is not an error.
    async fn delete_attachment(&self, _scope: &Scope, _id: &EntityId, _attachment_id: &str) -> PortResult<()> {
        Err(unsupported(self.kind(), "attachments"))
    }

    /// The entity's parent and typed links to entities of the same system.
    async fn relations(&self, _scope: &Scope, _id: &EntityId) -> PortResult<Vec<Relation>> {
        Err(unsupported(self.kind(), "relations"))
    }
    /// Adds a relation (a parent replaces the current one); an existing one is not an error.
    async fn add_relation(&self, _scope: &Scope, _id: &EntityId, _relation: &Relation) -> PortResult<()> {
        Err(unsupported(self.kind(), "relations"))
    }
    /// Removes a relation; one already gone is not an error.
    async fn remove_relation(&self, _scope: &Scope, _id: &EntityId, _relation: &Relation) -> PortResult<()> {
        Err(unsupported(self.kind(), "relations"))
    }
}

fn unsupported(kind: SystemKind, what: &str) -> PortError {
    PortError::new(ErrorCategory::Config, format!("Ferry's {} connector does not support {what}", kind.as_str()))
}

/// Builds connectors for configured systems (secrets resolved by the implementation).
#[async_trait]
pub trait ConnectorFactory: Send + Sync {
    async fn connector(&self, system: &SystemConfig) -> PortResult<std::sync::Arc<dyn Connector>>;
}

/// Systems and integrations.
#[async_trait]
pub trait ConfigStore: Send + Sync {
    async fn put_system(&self, system: &SystemConfig) -> PortResult<()>;
    async fn get_system(&self, id: &SystemId) -> PortResult<Option<SystemConfig>>;
    async fn list_systems(&self) -> PortResult<Vec<SystemConfig>>;

    async fn get_integration(&self, id: &IntegrationId) -> PortResult<Option<IntegrationRecord>>;
    async fn list_integrations(&self) -> PortResult<Vec<IntegrationRecord>>;
    /// Writes the record if the stored version equals `expected_version` (`None`: must
    /// not exist yet); otherwise fails with `Conflict`.
    async fn put_integration(&self, record: &IntegrationRecord, expected_version: Option<u64>) -> PortResult<()>;
}

/// Source-control systems and commit integrations (the SCM class, [`crate::scm`]): what
/// `ferry apply` stores of `source_control:` and `commit_links:`. Kept apart from
/// [`ConfigStore`] so that no reader of work-item integrations meets them. Both stores keep
/// them (SQLite tables; the DynamoDB config table).
#[async_trait]
pub trait CommitLinkStore: Send + Sync {
    async fn put_scm_system(&self, system: &ScmSystem) -> PortResult<()>;
    async fn get_scm_system(&self, id: &SystemId) -> PortResult<Option<ScmSystem>>;
    /// Sorted by id.
    async fn list_scm_systems(&self) -> PortResult<Vec<ScmSystem>>;

    async fn get_commit_link(&self, id: &IntegrationId) -> PortResult<Option<CommitLinkRecord>>;
    /// Sorted by id.
    async fn list_commit_links(&self) -> PortResult<Vec<CommitLinkRecord>>;
    /// Writes the record if the stored version equals `expected_version` (`None`: must
    /// not exist yet); otherwise fails with `Conflict`.
    async fn put_commit_link(&self, record: &CommitLinkRecord, expected_version: Option<u64>) -> PortResult<()>;
}

/// One record of the sync state, named for a read ([`StateStore::get_many`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StateKey {
    /// The link that holds an entity on a side.
    Link(IntegrationId, Side, EntityId),
    /// An entity's own fingerprint record ([`StateStore::put_fingerprint`]): an unlinked
    /// entity's (a create's intent). A linked pair's are read with [`StateKey::Pair`].
    Fingerprint(IntegrationId, Side, EntityId),
    /// The parked failure of an entity in one flow.
    Failure(IntegrationId, Flow, EntityId),
    /// How many entities of a flow have a parked failure: always answered, 0 included.
    OpenFailures(IntegrationId, Flow),
    /// The fingerprints of the linked pair whose left entity this is, with its record's
    /// version: both as the last [`StateStore::put_pair`] wrote them. A pair linked a
    /// moment ago, whose record the linking step has not written yet, answers its two
    /// entities' own fingerprints (a create's intent) at version 0. Absent when the
    /// entity is not linked (after a relink a store may still answer the record of the
    /// pair it left: [`PairFingerprints::of`] tells whose fingerprints it holds).
    Pair(IntegrationId, EntityId),
}

/// A record read by [`StateStore::get_many`].
#[derive(Debug, Clone, PartialEq)]
pub enum StateRecord {
    Link(Link),
    Fingerprint(Fingerprint),
    Failure(Box<FailureRecord>),
    OpenFailures(u64),
    Pair(Box<PairFingerprints>),
}

/// Sync state: watermarks (with the polls' dedupe), links, fingerprints, failures,
/// counters, poll leases, and each linked pair's collaboration record.
#[async_trait]
pub trait StateStore: Send + Sync {
    async fn get_watermark(&self, integration: &IntegrationId, flow: Flow) -> PortResult<Option<Watermark>>;
    /// Conditional put: succeeds only if the stored version equals `expected_version`
    /// (`None`: no watermark stored yet); the stored version becomes `expected + 1`.
    async fn put_watermark(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        watermark: &Watermark,
        expected_version: Option<u64>,
    ) -> PortResult<()>;

    /// The records of many keys, read together (a handler batch's links, fingerprints
    /// and failures in as few requests as the store allows). Keys without a record are
    /// absent; a [`StateKey::OpenFailures`] key is always answered.
    async fn get_many(&self, keys: &[StateKey]) -> PortResult<std::collections::HashMap<StateKey, StateRecord>>;
    /// [`StateStore::get_many`] where an answer from a moment ago will do: a record
    /// written a moment ago may be missing or older, which may only cost work (an event
    /// enqueued that the transform then skips), never correctness. Stores whose stale
    /// reads are cheaper than current ones override this.
    async fn get_many_relaxed(
        &self,
        keys: &[StateKey],
    ) -> PortResult<std::collections::HashMap<StateKey, StateRecord>> {
        self.get_many(keys).await
    }

    /// The link that holds `entity` on `side` ([`StateKey::Link`]).
    async fn get_link(&self, integration: &IntegrationId, side: Side, entity: &EntityId) -> PortResult<Option<Link>> {
        let key = StateKey::Link(integration.clone(), side, entity.clone());
        match self.get_many(std::slice::from_ref(&key)).await?.remove(&key) {
            Some(StateRecord::Link(l)) => Ok(Some(l)),
            _ => Ok(None),
        }
    }
    /// Stores a link, replacing any link of the integration that holds either entity
    /// (links are one-to-one).
    async fn put_link(&self, link: &Link) -> PortResult<()>;
    /// Drops `link` (both entities' link records) and its pair's fingerprint record: the
    /// pair is over. The entities' own fingerprints ([`StateKey::Fingerprint`]) stay.
    /// Idempotent: a link no longer stored, or replaced by another, is left alone.
    async fn delete_link(&self, link: &Link) -> PortResult<()>;
    async fn count_links(&self, integration: &IntegrationId) -> PortResult<u64>;

    /// An entity's fingerprint as it stands now: its pair's ([`StateKey::Pair`]) when it
    /// is linked and the pair holds one for it, else its own ([`StateKey::Fingerprint`]).
    /// An entity a reader saw unlinked may have been linked since.
    async fn get_fingerprint(
        &self,
        integration: &IntegrationId,
        side: Side,
        entity: &EntityId,
    ) -> PortResult<Option<Fingerprint>> {
        let link_key = StateKey::Link(integration.clone(), side, entity.clone());
        let own_key = StateKey::Fingerprint(integration.clone(), side, entity.clone());
        let mut found = self.get_many(&[link_key.clone(), own_key.clone()]).await?;
        if let Some(StateRecord::Link(link)) = found.remove(&link_key) {
            let pair_key = StateKey::Pair(integration.clone(), link.left.id);
            if let Some(StateRecord::Pair(pair)) =
                self.get_many(std::slice::from_ref(&pair_key)).await?.remove(&pair_key)
            {
                if let Some(fp) = pair.of(side, entity) {
                    return Ok(Some(fp.clone()));
                }
            }
        }
        match found.remove(&own_key) {
            Some(StateRecord::Fingerprint(f)) => Ok(Some(f)),
            _ => Ok(None),
        }
    }
    /// Stores an entity's own fingerprint ([`StateKey::Fingerprint`]), replacing it.
    async fn put_fingerprint(&self, fingerprint: &Fingerprint) -> PortResult<()>;
    /// Stores an entity's own fingerprint whose create intent
    /// ([`Fingerprint::create_started`]) claims the create of its twin, only if the stored
    /// one's intent is still `expected` (`None`: no fingerprint, or one without an intent).
    /// Otherwise it fails with `Conflict` and writes nothing: another attempt at the same
    /// create (a redelivery while the first still runs) claimed it meanwhile. A claim that
    /// replaces an intent also fails while the entity is linked: the create that intent
    /// belongs to linked the pair meanwhile.
    async fn put_create_intent(&self, fingerprint: &Fingerprint, expected: Option<DateTime<Utc>>) -> PortResult<()>;
    /// Stores both fingerprints of a linked pair (`left` of the left entity, `right` of
    /// its peer) as its one record ([`StateKey::Pair`]), if the record is still at
    /// `expected_version` (the version read; 0: no record yet); the stored version
    /// becomes `expected_version + 1`. Otherwise it fails with `Conflict` and writes
    /// nothing: a write of the other direction changed the pair since it was read, and
    /// the caller reads it again.
    async fn put_pair(&self, left: &Fingerprint, right: &Fingerprint, expected_version: u64) -> PortResult<()>;

    /// Inserts or replaces the failure of (integration, flow, entity): one per entity.
    /// A replacement keeps the existing failure's `id` and earlier `first_failed_at`.
    async fn put_failure(&self, failure: &FailureRecord) -> PortResult<()>;
    async fn get_failure(&self, id: &str) -> PortResult<Option<FailureRecord>>;
    /// The parked failure of `entity` in `flow` ([`StateKey::Failure`]).
    async fn failure_for_entity(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        entity: &EntityId,
    ) -> PortResult<Option<FailureRecord>> {
        let key = StateKey::Failure(integration.clone(), flow, entity.clone());
        match self.get_many(std::slice::from_ref(&key)).await?.remove(&key) {
            Some(StateRecord::Failure(f)) => Ok(Some(*f)),
            _ => Ok(None),
        }
    }
    /// Oldest `first_failed_at` first, of one integration or of all: every failure, a
    /// record the store cannot read (payload object missing, JSON corrupt) as what the
    /// store still knows of it and why. Fails only when the listing itself cannot be read.
    async fn failure_listing(&self, integration: Option<&IntegrationId>) -> PortResult<Vec<ListedFailure>>;
    /// [`StateStore::failure_listing`] for callers that need every record whole: fails
    /// naming the first unreadable failure.
    async fn list_failures(&self, integration: Option<&IntegrationId>) -> PortResult<Vec<FailureRecord>> {
        crate::failure_listing::all_readable(self.failure_listing(integration).await?)
            .map_err(|u| PortError::store(u.to_string()))
    }
    /// Idempotent: deleting an absent failure succeeds.
    async fn delete_failure(&self, id: &str) -> PortResult<()>;
    /// The parked failures counted per integration, direction and category (of all
    /// integrations). Stores that can count without reading every record override this.
    async fn failure_counts(&self) -> PortResult<Vec<FailureCount>> {
        Ok(crate::failure_counts::count_listed(&self.failure_listing(None).await?))
    }
    /// One page of [`StateStore::failure_listing`] (the `limit` after the first `offset`,
    /// in its order) and how many there are in all. Stores that can page without reading
    /// every record override this.
    async fn failure_page(
        &self,
        integration: Option<&IntegrationId>,
        offset: usize,
        limit: usize,
    ) -> PortResult<(Vec<ListedFailure>, u64)> {
        let all = self.failure_listing(integration).await?;
        let total = all.len() as u64;
        Ok((all.into_iter().skip(offset).take(limit).collect(), total))
    }

    async fn incr_counter(&self, integration: &IntegrationId, flow: Flow, counter: Counter, by: u64) -> PortResult<()>;
    async fn counts(&self, integration: &IntegrationId, flow: Flow) -> PortResult<FlowCounts>;

    /// Takes the poll lease of (integration, flow) for `ttl` if it is free, expired or
    /// already held by `owner`; `false` when another owner holds it. Stops two polls
    /// of one integration direction from overlapping.
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        owner: &str,
        ttl: Duration,
    ) -> PortResult<bool>;
    /// Frees the lease if `owner` still holds it.
    async fn release_lease(&self, integration: &IntegrationId, flow: Flow, owner: &str) -> PortResult<()>;

    /// The collaboration record of the linked pair whose left entity is `left` (its
    /// comment and attachment pairs and relation bases), with its version; `None`
    /// until one is written.
    async fn get_collab(&self, integration: &IntegrationId, left: &EntityId) -> PortResult<Option<(CollabState, u64)>>;
    /// Writes the pair's collaboration record if the stored version equals
    /// `expected_version` (`None`: no record may exist yet); the stored version becomes
    /// `expected + 1` (1 for the first). Otherwise it fails with `Conflict` and writes
    /// nothing: another write changed the record since it was read.
    async fn put_collab(
        &self,
        integration: &IntegrationId,
        left: &EntityId,
        state: &CollabState,
        expected_version: Option<u64>,
    ) -> PortResult<()>;

    /// Records steps of entities' way through Ferry ([`Activity`]) in their entities'
    /// timelines. A store with expiry keeps them [`crate::activity::ACTIVITY_RETENTION_DAYS`] days.
    async fn record_activity(&self, steps: &[Activity]) -> PortResult<()>;
    /// The newest `limit` steps of `entity` as the source of `flow`, oldest first.
    async fn entity_activity(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        entity: &EntityId,
        limit: usize,
    ) -> PortResult<Vec<Activity>>;
    /// Adds `bucket`'s counts to the stored bucket of its minute (one direction's pace).
    /// A store with expiry keeps buckets [`crate::activity::PACE_RETENTION_HOURS`] hours.
    async fn add_pace(&self, integration: &IntegrationId, flow: Flow, bucket: &PaceBucket) -> PortResult<()>;
    /// One direction's buckets of the minutes at or after `since`, oldest first.
    async fn pace_since(
        &self,
        integration: &IntegrationId,
        flow: Flow,
        since: DateTime<Utc>,
    ) -> PortResult<Vec<PaceBucket>>;
    /// Both directions' watermarks, counters and (with `pace`) pace over that window,
    /// and the link counts, of `integrations`: what [`StateStore::get_watermark`],
    /// [`StateStore::counts`], [`crate::activity::flow_pace`] of [`StateStore::pace_since`]
    /// and [`StateStore::count_links`] answer one by one, in a number of store requests
    /// that does not grow with each integration (the console's integrations page reads
    /// it for every integration). The default makes the single reads; stores override it
    /// with batch reads.
    async fn overview(
        &self,
        integrations: &[IntegrationId],
        pace: Option<crate::activity::PaceWindow>,
    ) -> PortResult<crate::overview::StateOverview> {
        let mut out = crate::overview::StateOverview::default();
        for i in integrations {
            out.links.insert(i.clone(), self.count_links(i).await?);
            for flow in Flow::BOTH {
                if let Some(wm) = self.get_watermark(i, flow).await? {
                    out.watermarks.insert((i.clone(), flow), wm);
                }
                out.counts.insert((i.clone(), flow), self.counts(i, flow).await?);
                if let Some(w) = pace {
                    let buckets = self.pace_since(i, flow, w.since).await?;
                    if !buckets.is_empty() {
                        out.pace.insert((i.clone(), flow), crate::activity::flow_pace(&buckets, w.now));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Records that `waiting` (an entity on `side`) has a relation to `awaited` (on the
    /// same side) that cannot be written yet: `awaited` is not synced. Idempotent.
    async fn add_pending(
        &self,
        integration: &IntegrationId,
        side: Side,
        awaited: &EntityId,
        waiting: &EntityId,
    ) -> PortResult<()>;
    /// The entities waiting for `awaited` on `side`, in id order (bytewise).
    async fn pending(&self, integration: &IntegrationId, side: Side, awaited: &EntityId) -> PortResult<Vec<EntityId>>;
    /// Forgets that `waiting` waits for `awaited`. Idempotent.
    async fn remove_pending(
        &self,
        integration: &IntegrationId,
        side: Side,
        awaited: &EntityId,
        waiting: &EntityId,
    ) -> PortResult<()>;

    // ---- webhooks (crate::webhook) ----

    /// Records delivery `id` of hook `hook` (a system id) received at `at`: `true` when
    /// it is new, `false` when the same id was recorded less than `window` before `at`
    /// (a replay; nothing is written). An id recorded longer ago counts as new again,
    /// and records older than the window may be dropped.
    async fn record_delivery(&self, hook: &str, id: &str, at: DateTime<Utc>, window: Duration) -> PortResult<bool>;
    /// Asks for one more poll of (integration, flow): whoever holds or next takes its
    /// poll lease polls again ([`StateStore::take_poll_request`]). Idempotent.
    async fn request_poll(&self, integration: &IntegrationId, flow: Flow) -> PortResult<()>;
    /// Whether a poll of (integration, flow) was requested and not taken yet.
    async fn poll_requested(&self, integration: &IntegrationId, flow: Flow) -> PortResult<bool>;
    /// Takes (clears) the poll request of (integration, flow); answers whether there was
    /// one. Only the holder of the poll lease takes it, before it reads.
    async fn take_poll_request(&self, integration: &IntegrationId, flow: Flow) -> PortResult<bool>;
    /// Counts one delivery to `hook` that ended with `outcome` (accepted or a refusal's
    /// reason code, [`crate::webhook::tally`]) at `at`.
    async fn tally_hook(&self, hook: &str, outcome: &str, at: DateTime<Utc>) -> PortResult<()>;
    /// The outcomes counted for `hook`, by outcome name.
    async fn hook_tallies(&self, hook: &str) -> PortResult<Vec<crate::webhook::HookTally>>;
    /// The webhook subscriptions `ferry activate` registered at the systems for
    /// `integration` (what `ferry deactivate` removes); empty when none are recorded.
    async fn hook_subscriptions(
        &self,
        integration: &IntegrationId,
    ) -> PortResult<Vec<crate::webhook::HookSubscription>>;
    /// Replaces the recorded subscriptions of `integration` (empty forgets them).
    async fn put_hook_subscriptions(
        &self,
        integration: &IntegrationId,
        subscriptions: &[crate::webhook::HookSubscription],
    ) -> PortResult<()>;

    // ---- backfills (crate::backfill) ----

    /// The backfill `ferry activate --since` last accepted for `integration`, if any.
    async fn get_backfill(&self, integration: &IntegrationId) -> PortResult<Option<crate::BackfillRecord>>;
    /// Stores `record` as its integration's backfill, replacing the one before.
    async fn put_backfill(&self, record: &crate::BackfillRecord) -> PortResult<()>;
}

/// The rate-limit governor's buckets, one per system, shared by every process that uses
/// the store ([`crate::rate_limit`]). Each call is one atomic read-modify-write of the
/// system's bucket by the rules of [`crate::rate_limit::take`] and
/// [`crate::rate_limit::pause`].
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Takes up to `want` tokens (at least 1) from `system`'s bucket, paced by `limit`, at
    /// `now`: how many it took, or how long until a token is there (nothing taken).
    async fn take_tokens(
        &self,
        system: &SystemId,
        limit: &crate::rate_limit::RateLimit,
        want: u32,
        now: DateTime<Utc>,
    ) -> PortResult<crate::rate_limit::Grant>;
    /// Empties `system`'s bucket until `until`, when it starts refilling; a pause stored
    /// already that lasts as long or longer is kept.
    async fn pause_tokens(&self, system: &SystemId, until: DateTime<Utc>) -> PortResult<()>;
}

/// Turns each integration direction's poll schedule on and off (EventBridge Scheduler
/// on AWS; the embedded runner reads the active flag itself).
#[async_trait]
pub trait ScheduleControl: Send + Sync {
    async fn enable(&self, integration: &IntegrationId, flow: Flow, every: Duration) -> PortResult<()>;
    async fn disable(&self, integration: &IntegrationId, flow: Flow) -> PortResult<()>;
}

/// The two pipeline queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueName {
    Changes,
    Writes,
}

impl QueueName {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Changes => "changes",
            QueueName::Writes => "writes",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    /// FIFO message group; messages of one group are delivered in order, one at a time.
    pub group_id: String,
    /// Deduplication id: a second send with the same id within the window is dropped.
    pub dedup_id: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    /// 1 on first delivery.
    pub receive_count: u32,
    /// For a dead letter: when it reached the dead-letter queue where the queue records
    /// that (SQLite), else when it was first sent (SQS's `SentTimestamp`, so its age in
    /// the dead-letter queue is at most the age shown). `None` where unknown.
    pub since: Option<DateTime<Utc>>,
}

/// What [`Queue::send_each`] did with each message, in the order given.
pub type SendResults = Vec<Option<PortError>>;

/// A durable FIFO queue with visibility timeouts and dead-lettering (SQS FIFO semantics).
#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends all messages; implementations batch (SQS takes at most 10 per call) and
    /// fail if any entry failed.
    async fn send(&self, queue: QueueName, messages: &[OutMessage]) -> PortResult<()>;
    /// Sends every message on its own account: `None` where it was sent, the error where
    /// it was not (a retryable one may succeed later; any other never will), so one
    /// message the queue rejects does not hold back the others. `Err` when nothing is
    /// known of any message. Queues that send all or nothing answer from [`Queue::send`].
    async fn send_each(&self, queue: QueueName, messages: &[OutMessage]) -> PortResult<SendResults> {
        self.send(queue, messages).await?;
        Ok(messages.iter().map(|_| None).collect())
    }
    /// The body a consumer handles for a body as delivered ([`Queue::receive`], or on
    /// Lambda the SQS records): a queue that keeps large bodies elsewhere (a claim check
    /// in object storage) fetches it here. Both runtimes' consumers open every body.
    async fn open_body(&self, _queue: QueueName, body: &str) -> PortResult<String> {
        Ok(body.to_string())
    }
    /// Deliveries of one message before the queue moves it to its dead-letter queue,
    /// where the queue dead-letters at all.
    fn max_receives(&self) -> Option<u32> {
        None
    }
    /// How long the dead-letter queue keeps a message (`None`: until it is deleted).
    async fn dead_letter_retention(&self, _queue: QueueName) -> PortResult<Option<Duration>> {
        Ok(None)
    }
    /// Moves every dead letter of `queue` back onto it, to be handled again from a first
    /// delivery; answers how many were moved (or, where the queue moves them in the
    /// background, were asked to be).
    async fn redrive(&self, queue: QueueName) -> PortResult<u64>;
    async fn receive(&self, queue: QueueName, max: usize, visibility: Duration) -> PortResult<Vec<Delivery>>;
    async fn ack(&self, queue: QueueName, receipt: &str) -> PortResult<()>;
    /// Makes an in-flight message visible again after `delay`.
    async fn release(&self, queue: QueueName, receipt: &str, delay: Duration) -> PortResult<()>;
    /// Messages moved to the dead-letter queue after too many receives.
    async fn dead_letters(&self, queue: QueueName) -> PortResult<Vec<Delivery>>;
    async fn delete_dead_letter(&self, queue: QueueName, message_id: &str) -> PortResult<()>;
    /// Approximate visible + in-flight count.
    async fn depth(&self, queue: QueueName) -> PortResult<u64>;
}
