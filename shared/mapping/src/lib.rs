//! ferry-mapping: turns one source snapshot into the changes to write to the target, or
//! a decision not to write, with the reason. Pure and synchronous: no I/O, no clock.
//!
//! The engine calls, per change event:
//! 1. [`source_fields`] (what the source connector must fetch),
//! 2. [`needed_target_emails`] and resolves those e-mails in the target into a
//!    [`UserDirectory`],
//! 3. [`map_change`], which returns a [`Decision`]: write (create or update), skip
//!    (filtered, echo, unchanged, nothing mapped) or fail (a value or user with no match).
//!
//! # Rules, in the order they apply
//! 1. **Filter**: an entity that does not match the flow's filter is skipped unless it is
//!    already linked and the integration keeps syncing on filter exit
//!    ([`FilterExit::KeepSyncing`](ferry_domain::FilterExit)).
//! 2. **Echo**: a snapshot changed by the source integration user (same id, or same e-mail
//!    when an id is empty) *at the revision Ferry wrote* is skipped. Changed by Ferry at another revision maps normally; rule 10 then
//!    suppresses the fields that did not change.
//! 3. **Applicability**: a field mapping applies when its direction allows the flow and both
//!    its source and target fields are set. A mapping whose source is `none` writes its
//!    `constant` (or, when no constant is given, the default for the target side) to the
//!    other side, in that flow only, and only if its direction also allows that flow.
//!    When two mappings target the same field in one flow the first in configuration order
//!    wins (the other is noted); the remote-id field always belongs to the remote id.
//! 4. **Values** copy as they are; a value table maps the value's key string
//!    ([`FieldValue::key_string`](ferry_domain::FieldValue::key_string)) to an option, element
//!    by element for lists (mapped lists are deduplicated, order kept). A value with no row
//!    takes the default for the target side (noted) or fails with `mapping_value_missing`.
//! 5. **Defaults** apply when the source value is empty (an explicit null or an empty
//!    text, option or list; rule 12 covers a field the source did not return). On a create they are
//!    always written; on an update only when Ferry wrote a real (non-empty) value to that
//!    field before, i.e. the source was cleared, so a value a person set in the target is
//!    never overwritten. Without a default, a cleared source writes `Null` under the same
//!    condition. This applies to every kind, users included: an unassigned source user
//!    unassigns the target only if Ferry had assigned it. A default that replaces an
//!    unmapped value (rule 4) or an unmatched user (rule 7) is written on updates too,
//!    because the source does hold a value.
//! 6. **Constants** are written like any mapped value; comparing with the fingerprint makes
//!    them one-time writes.
//! 7. **Users** match by e-mail after the user-table override; a source user with no match
//!    (or a hidden e-mail) is handled by the mapping's `unmatched` policy. A text or option
//!    source value of a user mapping is taken as an e-mail. Defaults and constants of user
//!    mappings are target e-mails looked up in the directory (`user_not_found` if absent).
//! 8. **Rich text**: plain text is escaped into `<p>…</p>` (line breaks as `<br>`); HTML
//!    passes as is. **Status** behaves like a value mapping whose output is an option.
//!    Value tables are only used by value and status mappings.
//! 9. **Remote id**: when the integration writes the peer's key into a target field, it is
//!    part of every write and compared like any mapped field.
//! 10. **Unchanged**: on an update only fields whose value differs from the target
//!     fingerprint are written ([`same_value`]); nothing differing means skip. On a create
//!     every non-empty mapped value is written, whatever a fingerprint says.
//!
//! 11. **Unchanged at the source**: on an update a field whose source value equals the
//!     source-side fingerprint (its value at the last sync) is not written: it did not
//!     change here since then.
//! 12. **Missing is not empty**: a mapped source field absent from the snapshot (the
//!     system did not return it: a permission or field-context change, a field removed
//!     from the type) says nothing about its value. The mapping leaves the target field
//!     alone (no value, no default, no clear; the rest of the change syncs) and names
//!     the field in [`MappingOutput::missing`]. Only an explicit empty value clears
//!     (rule 5). Connectors put a key in the snapshot only when the system returned it.
//!
//! After a write, [`synced_source_values`] gives the source values the engine may merge into
//! the source entity's fingerprint, so the reverse flow does not write them back.
//!
//! A failing field does not stop the others from being evaluated: the decision then names
//! every failing field, with the category of the first.

mod conflict;
mod echo;
mod map;
mod users;
mod value;

#[cfg(test)]
mod proptests;

pub use conflict::{conflict_policy, resolve, Resolution};
pub use echo::{is_echo, made_by, same_person};
pub use map::{
    map_change, mapping_kind, needed_target_emails, paired_fields, paired_values, source_field, source_fields,
    synced_source_values,
};
pub use users::UserDirectory;
pub use value::{same_content, same_value};

use ferry_domain::{
    EntitySnapshot, ErrorCategory, FieldChange, FieldKey, FieldValue, Fingerprint, Flow, Integration, UserRef,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Everything one mapping decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct MappingInput<'a> {
    pub integration: &'a Integration,
    pub flow: Flow,
    pub source: &'a EntitySnapshot,
    pub users: &'a UserDirectory,
    /// The integration user of the SOURCE system (changes by it may be echoes).
    pub source_integration_user: Option<&'a UserRef>,
    /// What Ferry last wrote to this source entity (its `written_revision` identifies
    /// Ferry's own revision).
    pub source_fingerprint: Option<&'a Fingerprint>,
    /// What Ferry last wrote to the linked target entity; `None` when not linked yet.
    pub target_fingerprint: Option<&'a Fingerprint>,
    /// Whether the source entity is linked to a target entity. `false` means create; the
    /// target fingerprint is then ignored.
    pub linked: bool,
    pub matches_filter: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MappingOutput {
    pub decision: Decision,
    /// Things a person may want to know even when the write succeeds, e.g.
    /// `assignee -> System.AssignedTo: erin@acme.test has no match in the target, skipped (unmatched: skip)`.
    pub notes: Vec<String>,
    /// Mapped source fields the snapshot does not hold (rule 12), in configuration
    /// order: left alone in the target. The engine reports them once per integration.
    pub missing: Vec<FieldKey>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// `changes`: the fields whose value differs from the target fingerprint (on create:
    /// every non-empty mapped value), in configuration order, the remote id last.
    /// `mapped`: every target field the mapping decided a value for (the next fingerprint,
    /// merged over the previous one), keyed by field key. Fields the mapping leaves alone
    /// (unmatched user skipped, default not applied on update) are absent from both.
    Write {
        create: bool,
        changes: Vec<FieldChange>,
        mapped: BTreeMap<FieldKey, FieldValue>,
    },
    Skip {
        reason: SkipReason,
        detail: String,
    },
    /// `MappingValueMissing` or `UserNotFound`; permanent, so the engine parks the event.
    Fail {
        category: ErrorCategory,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The entity does not match the flow's criteria filter (see rule 1).
    Filtered,
    /// The snapshot is Ferry's own write coming back.
    Echo,
    /// No mapped value differs from what Ferry last wrote.
    Unchanged,
    /// No field mapping travels in this flow.
    NoMappedFields,
}

impl SkipReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            SkipReason::Filtered => "filtered",
            SkipReason::Echo => "echo",
            SkipReason::Unchanged => "unchanged",
            SkipReason::NoMappedFields => "no_mapped_fields",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod testkit;
