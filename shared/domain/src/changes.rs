//! A read of changes a page at a time ([`crate::ports::Connector::changes`]).
//!
//! A poll reads the entities changed since its watermark in pages, oldest first, and
//! saves its progress after each page: a read that outlives one poll's time budget is
//! continued by the next poll from the [`ReadToken`] the last page returned. Entities
//! that share an `updated` instant across a page boundary are told apart by the seen
//! revisions the watermark keeps ([`SeenRevision`]).

use crate::ids::{EntityId, FieldKey};
use crate::message::SeenRevision;
use crate::model::EntitySnapshot;
use crate::ports::QueryFilter;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a read continues, made by the connector that read the page before; the engine
/// stores it between polls and hands it back unchanged. A connector that does not
/// recognise a token (another system kind, a version it no longer reads, a search
/// cursor the server has expired) fails with [`crate::ErrorCategory::InvalidRequest`];
/// the engine then starts a new read from its cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReadToken(pub String);

impl ReadToken {
    /// A token holding `value` as JSON (connectors keep their position as a small struct).
    pub fn encode<T: Serialize>(value: &T) -> ReadToken {
        // Serialising a plain struct of numbers and strings cannot fail.
        ReadToken(serde_json::to_string(value).unwrap_or_default())
    }

    /// The position a connector put in this token, `None` when it is not one of its own.
    pub fn decode<T: for<'de> Deserialize<'de>>(&self) -> Option<T> {
        serde_json::from_str(&self.0).ok()
    }
}

/// What a read of changes asks for.
#[derive(Debug, Clone, Copy)]
pub struct ChangeQuery<'a> {
    /// Entities whose `updated` is at or after this instant. A connector widens the
    /// bound to the system's query precision, never narrows it; the engine drops what
    /// comes back from before it.
    pub since: DateTime<Utc>,
    pub filter: Option<&'a QueryFilter>,
    /// Fields to read (plus whatever the connector needs for revision and changed-by);
    /// empty reads every field.
    pub fields: &'a [FieldKey],
    /// Revisions handled before. A connector that lists `updated` before reading each
    /// entity in full leaves out the entities whose listing shows nothing newer
    /// ([`SeenRevision::covers_listed`]) and counts them in [`ChangePage::unchanged`].
    pub seen: &'a BTreeMap<EntityId, SeenRevision>,
    /// At most this many entities listed per page (connectors cap it at their API's
    /// page limit).
    pub page_size: usize,
}

/// One page of a read of changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePage {
    /// The changed entities of this page, each once, oldest first.
    pub snapshots: Vec<EntitySnapshot>,
    /// Entities listed but left out as already seen ([`ChangeQuery::seen`]).
    pub unchanged: usize,
    /// The read's position after this page: every entity updated before this instant
    /// (at or after `since`) that the system listed has been returned by this page or an
    /// earlier one of the read, or left out as unchanged. Entities updated at exactly
    /// this instant may still follow. `None` when the page listed nothing.
    pub through: Option<DateTime<Utc>>,
    /// The system's clock when it answered the listing (HTTP `Date`, WIQL `asOf`);
    /// `None` when it did not say.
    pub as_of: Option<DateTime<Utc>>,
    /// Where the read continues; `None` when this page reached the end.
    pub next: Option<ReadToken>,
}
