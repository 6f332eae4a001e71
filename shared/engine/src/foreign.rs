//! Whose changes a revision holds. Jira and Redmine have no conditional update, and a
//! write is several requests (an edit, workflow transitions, a read back): a person's
//! edit can land in between, and the revision Ferry then records as its own also holds
//! that edit. Recorded as Ferry's echo, the edit would never sync. The entity's history
//! between the revision Ferry started from and the one it recorded tells: any change by
//! someone else, or a value Ferry did not send, makes the revision foreign.
//!
//! The same history tells which fields people changed on a twin Ferry created, which
//! decides what an adoption (linking a twin after an interrupted create) may write.

use ferry_domain::{FieldChange, FieldKey, FieldValue, HistoryEntry, UserRef};
use ferry_mapping::{same_person, same_value};
use std::collections::{BTreeMap, BTreeSet};

/// Changes in a revision window that are not Ferry's own write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Foreign {
    /// What was found, for the log.
    pub reason: String,
    /// The fields those changes set.
    pub fields: BTreeSet<FieldKey>,
    /// Every field may hold someone else's value (a change that does not say which
    /// fields it set, or an entity someone else created).
    pub all: bool,
}

impl Foreign {
    /// Whether `field`'s value may be someone else's.
    pub fn touches(&self, field: &FieldKey) -> bool {
        self.all || self.fields.contains(field)
    }
}

/// The changes in `history` (the window of one write) that are not that write: any
/// entry by someone other than `me` (or by an unknown author), and, among `me`'s
/// entries, a change of a `watched` field the write did not send or a final value of a
/// sent field other than the one sent. The creation entry of an entity Ferry created
/// holds the system's own defaults and counts as Ferry's. `None`: all Ferry's.
pub(crate) fn foreign_changes(
    history: &[HistoryEntry],
    me: &UserRef,
    sent: &[FieldChange],
    watched: &[FieldKey],
) -> Option<Foreign> {
    let mut found = Foreign { reason: String::new(), fields: BTreeSet::new(), all: false };
    let mut reasons: Vec<String> = Vec::new();
    // The last value Ferry's account gave each sent field within the window.
    let mut last_mine: BTreeMap<&FieldKey, &FieldValue> = BTreeMap::new();
    for entry in history {
        if !entry.author.as_ref().is_some_and(|a| same_person(a, me)) {
            let who = entry.author.as_ref().map_or("an unknown author".to_string(), describe_user);
            if entry.created || entry.fields.is_empty() {
                // A creation by someone else, or a change that does not list its fields
                // (a comment, an attachment): nothing tells which values are theirs.
                found.all |= entry.created;
            }
            found.fields.extend(entry.fields.iter().map(|(f, _)| f.clone()));
            reasons.push(format!("a change by {who}{}", fields_note(&entry.fields)));
            continue;
        }
        if entry.created {
            continue;
        }
        for (field, value) in &entry.fields {
            if !watched.contains(field) {
                continue;
            }
            match sent.iter().find(|c| &c.field == field) {
                None => {
                    found.fields.insert(field.clone());
                    reasons.push(format!("Ferry's account changed {field}, which this write did not send"));
                }
                Some(_) => {
                    if let Some(v) = value {
                        last_mine.insert(field, v);
                    }
                }
            }
        }
    }
    for c in sent {
        if let Some(v) = last_mine.get(&c.field) {
            if !same_value(v, &c.value) {
                found.fields.insert(c.field.clone());
                reasons.push(format!("{} holds a value this write did not send", c.field));
            }
        }
    }
    if reasons.is_empty() {
        return None;
    }
    found.reason = reasons.join("; ");
    Some(found)
}

/// The fields someone other than `me` changed in `history` (a twin's history since its
/// creation): the ones an adoption must not take for Ferry's copy.
pub(crate) fn changed_by_others(history: &[HistoryEntry], me: &UserRef) -> Foreign {
    let by_others: Vec<HistoryEntry> =
        history.iter().filter(|e| !e.author.as_ref().is_some_and(|a| same_person(a, me))).cloned().collect();
    foreign_changes(&by_others, me, &[], &[]).unwrap_or(Foreign {
        reason: String::new(),
        fields: BTreeSet::new(),
        all: false,
    })
}

fn describe_user(u: &UserRef) -> String {
    u.email.clone().or_else(|| u.display_name.clone()).unwrap_or_else(|| u.id.clone())
}

fn fields_note(fields: &[(FieldKey, Option<FieldValue>)]) -> String {
    if fields.is_empty() {
        return String::new();
    }
    format!(" ({})", fields.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserRef {
        UserRef { id: id.into(), email: Some(format!("{id}@acme.test")), display_name: None }
    }

    fn entry(by: Option<&str>, created: bool, fields: &[(&str, Option<FieldValue>)]) -> HistoryEntry {
        HistoryEntry {
            author: by.map(user),
            created,
            at: None,
            fields: fields.iter().map(|(f, v)| (FieldKey::new(*f), v.clone())).collect(),
        }
    }

    fn text(s: &str) -> FieldValue {
        FieldValue::Text(s.into())
    }

    fn sent(pairs: &[(&str, FieldValue)]) -> Vec<FieldChange> {
        pairs.iter().map(|(f, v)| FieldChange { field: FieldKey::new(*f), value: v.clone() }).collect()
    }

    fn keys(ks: &[&str]) -> Vec<FieldKey> {
        ks.iter().map(|k| FieldKey::new(*k)).collect()
    }

    #[test]
    fn a_window_of_ferrys_own_changes_is_not_foreign() {
        let me = user("bot");
        let watched = keys(&["summary", "status", "priority"]);
        let cases: Vec<(&str, Vec<HistoryEntry>, Vec<FieldChange>)> = vec![
            ("an empty window (nothing changed)", vec![], sent(&[])),
            (
                "the edit Ferry sent",
                vec![entry(Some("bot"), false, &[("summary", Some(text("A")))])],
                sent(&[("summary", text("A"))]),
            ),
            (
                "a status reached in two transition hops (only the last value counts)",
                vec![
                    entry(Some("bot"), false, &[("status", Some(FieldValue::Option("In Progress".into())))]),
                    entry(Some("bot"), false, &[("status", Some(FieldValue::Option("In Review".into())))]),
                ],
                sent(&[("status", FieldValue::Option("In Review".into()))]),
            ),
            (
                "the creation with the system's defaults, then Ferry's state step",
                vec![
                    entry(Some("bot"), true, &[("priority", Some(FieldValue::Number(2.0)))]),
                    entry(Some("bot"), false, &[("status", Some(FieldValue::Option("Active".into())))]),
                ],
                sent(&[("status", FieldValue::Option("Active".into()))]),
            ),
            (
                "a field Ferry's account changed that the integration does not map",
                vec![entry(Some("bot"), false, &[("System.Reason", Some(text("x")))])],
                sent(&[]),
            ),
            (
                "a value the history does not show comparably (rich text)",
                vec![entry(Some("bot"), false, &[("summary", None)])],
                sent(&[("summary", text("A"))]),
            ),
        ];
        for (name, history, sent) in cases {
            assert_eq!(foreign_changes(&history, &me, &sent, &watched), None, "{name}");
        }
    }

    #[test]
    fn a_change_by_anyone_else_or_a_value_ferry_did_not_send_is_foreign() {
        let me = user("bot");
        let watched = keys(&["summary", "priority"]);
        let s = sent(&[("summary", text("A"))]);
        let cases: Vec<(&str, Vec<HistoryEntry>, &[&str], bool)> = vec![
            (
                "a person's edit of another field during Ferry's write",
                vec![
                    entry(Some("alice"), false, &[("priority", Some(FieldValue::Option("High".into())))]),
                    entry(Some("bot"), false, &[("summary", Some(text("A")))]),
                ],
                &["priority"],
                false,
            ),
            (
                "a person's edit of an unmapped field counts too",
                vec![entry(Some("alice"), false, &[("labels", None)])],
                &["labels"],
                false,
            ),
            (
                "an author the history does not name",
                vec![entry(None, false, &[("summary", None)])],
                &["summary"],
                false,
            ),
            ("a person's comment (no fields)", vec![entry(Some("alice"), false, &[])], &[], false),
            (
                "Ferry's account set a mapped field this write did not send",
                vec![entry(Some("bot"), false, &[("priority", Some(FieldValue::Option("Low".into())))])],
                &["priority"],
                false,
            ),
            (
                "the sent field ends with another value",
                vec![entry(Some("bot"), false, &[("summary", Some(text("B")))])],
                &["summary"],
                false,
            ),
            ("an entity someone else created", vec![entry(Some("alice"), true, &[])], &[], true),
        ];
        for (name, history, fields, all) in cases {
            let f = foreign_changes(&history, &me, &s, &watched).unwrap_or_else(|| panic!("{name}: not foreign"));
            assert_eq!(f.fields, keys(fields).into_iter().collect(), "{name}");
            assert_eq!(f.all, all, "{name}");
            assert!(!f.reason.is_empty(), "{name}");
        }
    }

    #[test]
    fn an_adoption_sees_the_fields_people_changed_since_ferry_created_the_twin() {
        let me = user("bot");
        let history = vec![
            entry(Some("bot"), true, &[("System.Title", Some(text("T"))), ("System.State", None)]),
            entry(Some("bot"), false, &[("System.State", Some(text("Active")))]),
            entry(Some("alice"), false, &[("Microsoft.VSTS.Common.Priority", Some(FieldValue::Number(1.0)))]),
        ];
        let f = changed_by_others(&history, &me);
        assert_eq!(f.fields, keys(&["Microsoft.VSTS.Common.Priority"]).into_iter().collect());
        assert!(!f.all && f.touches(&FieldKey::new("Microsoft.VSTS.Common.Priority")));
        assert!(!f.touches(&FieldKey::new("System.Title")));
        let theirs = changed_by_others(&[entry(Some("alice"), true, &[])], &me);
        assert!(theirs.all && theirs.touches(&FieldKey::new("System.Title")), "a person's own entity is all theirs");
        assert_eq!(changed_by_others(&history[..2], &me).fields, BTreeSet::new());
    }
}
