//! Who changed a contested field last, from the entities' histories. A field changed on
//! both sides since the last sync is settled by its conflict policy; the last-writer
//! policy needs the time each side changed *that field*. An entity's `updated` is not
//! it: a comment, a link or Ferry's own write of another field moves it too. And a
//! target value that differs from the last-synced one is no person's change at all when
//! Ferry wrote it (a write whose record a crash lost): then there is nothing to settle.

use crate::engine::Engine;
use crate::write::WriteCtx;
use chrono::{DateTime, Utc};
use ferry_domain::{EntitySnapshot, FieldKey, HistoryEntry, PortError, UserRef};
use ferry_mapping::same_person;
use std::collections::BTreeMap;

/// Who last changed one field of an entity, as its history tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LastChange {
    /// Someone other than Ferry, at this time.
    Person(DateTime<Utc>),
    /// Ferry's account.
    Ferry,
    /// The history does not say (no entry sets the field, or one without a time).
    Unknown,
}

/// The last change of `field` in `history` (oldest first).
pub(crate) fn last_change(history: &[HistoryEntry], me: &UserRef, field: &FieldKey) -> LastChange {
    let Some(entry) = history.iter().rev().find(|e| e.fields.iter().any(|(f, _)| f == field)) else {
        return LastChange::Unknown;
    };
    if entry.author.as_ref().is_some_and(|a| same_person(a, me)) {
        return LastChange::Ferry;
    }
    entry.at.map_or(LastChange::Unknown, LastChange::Person)
}

/// What the histories say of the contested fields: the source's by source field, the
/// target's by target field. A field not in them is settled by the entities' `updated`.
#[derive(Debug, Default)]
pub(crate) struct FieldTimes {
    pub source: BTreeMap<FieldKey, LastChange>,
    pub target: BTreeMap<FieldKey, LastChange>,
}

impl FieldTimes {
    /// Whether the histories were read for target field `field`.
    pub(crate) fn knows(&self, field: &FieldKey) -> bool {
        self.target.contains_key(field)
    }

    pub(crate) fn target(&self, field: &FieldKey) -> LastChange {
        self.target.get(field).copied().unwrap_or(LastChange::Unknown)
    }

    /// When the source last changed `field` (a person's change), else `fallback`.
    pub(crate) fn source_at(&self, field: &FieldKey, fallback: DateTime<Utc>) -> DateTime<Utc> {
        match self.source.get(field) {
            Some(LastChange::Person(at)) => *at,
            _ => fallback,
        }
    }

    /// When the target last changed `field` (a person's change), else `fallback`.
    pub(crate) fn target_at(&self, field: &FieldKey, fallback: DateTime<Utc>) -> DateTime<Utc> {
        match self.target.get(field) {
            Some(LastChange::Person(at)) => *at,
            _ => fallback,
        }
    }
}

/// A field both sides changed since the last sync: the target's and the source's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Contested {
    pub target: FieldKey,
    pub source: FieldKey,
}

impl Engine {
    /// Reads both entities' histories for the contested fields of a write (one request
    /// each, more only for a Jira issue whose newest hundred changelog entries do not set
    /// every contested field): only a write that found a conflict pays it.
    pub(crate) async fn field_times(
        &self,
        ctx: &WriteCtx<'_>,
        current: &EntitySnapshot,
        contested: &[Contested],
    ) -> Result<FieldTimes, PortError> {
        let (cmd, integration) = (ctx.cmd, &ctx.record.integration);
        let mut times = FieldTimes::default();
        let target_fields: Vec<FieldKey> = contested.iter().map(|c| c.target.clone()).collect();
        let (conn, scope) = (ctx.target_conn.as_ref(), &ctx.target_scope);
        let me = self.integration_user(&integration.endpoint(cmd.flow.target()).system, conn).await?;
        let history = conn.last_changes(scope, &current.id, &current.revision, &target_fields).await?;
        for f in &target_fields {
            times.target.insert(f.clone(), last_change(&history, &me, f));
        }
        let source_fields: Vec<FieldKey> = contested.iter().map(|c| c.source.clone()).collect();
        let (conn, scope) = self.side_connector(ctx.record, cmd.flow.source()).await?;
        let me = self.integration_user(&integration.endpoint(cmd.flow.source()).system, conn.as_ref()).await?;
        let history = conn.last_changes(&scope, &cmd.source.id, &cmd.source.revision, &source_fields).await?;
        for f in &source_fields {
            times.source.insert(f.clone(), last_change(&history, &me, f));
        }
        Ok(times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::at;

    fn user(id: &str) -> UserRef {
        UserRef { id: id.into(), email: Some(format!("{id}@acme.test")), display_name: None }
    }

    fn entry(by: &str, secs: Option<i64>, fields: &[&str]) -> HistoryEntry {
        HistoryEntry {
            author: Some(user(by)),
            created: false,
            at: secs.map(at),
            fields: fields.iter().map(|f| (FieldKey::new(*f), None)).collect(),
        }
    }

    #[test]
    fn the_last_entry_that_sets_the_field_says_who_changed_it() {
        let me = user("ferry");
        let title = FieldKey::new("System.Title");
        // (the history, oldest first; who changed the title last)
        let table: [(Vec<HistoryEntry>, LastChange); 6] = [
            (vec![], LastChange::Unknown),
            (vec![entry("bob", Some(1), &["System.Title"])], LastChange::Person(at(1))),
            // A later entry by anyone that does not set the title changes nothing.
            (
                vec![entry("bob", Some(1), &["System.Title"]), entry("carol", Some(5), &["System.History"])],
                LastChange::Person(at(1)),
            ),
            (
                vec![entry("bob", Some(1), &["System.Title"]), entry("ferry", Some(2), &["System.Title"])],
                LastChange::Ferry,
            ),
            (
                vec![entry("ferry", Some(1), &["System.Title"]), entry("bob", Some(2), &["System.Title"])],
                LastChange::Person(at(2)),
            ),
            (vec![entry("bob", None, &["System.Title"])], LastChange::Unknown),
        ];
        for (history, want) in table {
            assert_eq!(last_change(&history, &me, &title), want, "{history:?}");
        }
    }

    #[test]
    fn a_field_the_histories_were_not_read_for_falls_back_to_the_entitys_time() {
        let mut times = FieldTimes::default();
        let (title, state) = (FieldKey::new("System.Title"), FieldKey::new("System.State"));
        times.target.insert(title.clone(), LastChange::Person(at(3)));
        times.source.insert(title.clone(), LastChange::Ferry);
        assert_eq!(times.target_at(&title, at(9)), at(3));
        assert_eq!(times.source_at(&title, at(9)), at(9), "Ferry's change is no person's time");
        assert_eq!(times.target_at(&state, at(9)), at(9));
        assert!(times.knows(&title) && !times.knows(&state));
        assert_eq!(times.target(&state), LastChange::Unknown);
    }
}
