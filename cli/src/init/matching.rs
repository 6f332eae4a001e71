//! The rules `ferry init` proposes a mapping by: which fields of the two sides are the
//! same thing, which values of a choice field correspond, which people are the same
//! person. Pure functions over what discovery found; the gaps they leave are reported,
//! never guessed.

use ferry_domain::{FieldInfo, FieldType, UserRef};
use std::collections::BTreeSet;

/// What the config's field mapping says about the values (`type:` in the YAML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingKind {
    Plain,
    RichText,
    Status,
    User,
}

/// Two fields proposed as one.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldPair {
    pub left: FieldInfo,
    pub right: FieldInfo,
    pub kind: MappingKind,
    /// Why they were paired: `"same concept"` or `"same name and type"`.
    pub because: &'static str,
}

/// The same thing under each system's own key: title, description, priority, status,
/// assignee, labels (Jira, Azure DevOps, Redmine keys).
const CONCEPTS: &[(&str, &[&str], MappingKind)] = &[
    ("title", &["summary", "System.Title", "subject"], MappingKind::Plain),
    ("description", &["description", "System.Description"], MappingKind::RichText),
    ("priority", &["priority", "Microsoft.VSTS.Common.Priority"], MappingKind::Plain),
    ("status", &["status", "System.State"], MappingKind::Status),
    ("assignee", &["assignee", "System.AssignedTo", "assigned_to"], MappingKind::User),
    ("labels", &["labels", "System.Tags"], MappingKind::Plain),
];

fn concept(key: &str) -> Option<(&'static str, MappingKind)> {
    CONCEPTS.iter().find(|(_, keys, _)| keys.contains(&key)).map(|(name, _, kind)| (*name, *kind))
}

/// A name compared as people read it: case, spaces and punctuation ignored.
pub fn normalized(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Whether a value of one type can be written into the other without a conversion.
fn compatible(a: FieldType, b: FieldType) -> bool {
    use FieldType::*;
    match (a, b) {
        (Other, _) | (_, Other) => false,
        (Text, RichText) | (RichText, Text) => true,
        _ => a == b,
    }
}

/// The proposed pairs: first the fields that are the same concept on both sides (by
/// key), then fields of the same name and a compatible type. A field read-only on both
/// sides, or already paired, is not paired again.
pub fn match_fields(left: &[FieldInfo], right: &[FieldInfo]) -> Vec<FieldPair> {
    let mut out: Vec<FieldPair> = Vec::new();
    let writable_somewhere = |l: &FieldInfo, r: &FieldInfo| !(l.read_only && r.read_only);
    for l in left {
        let Some((name, kind)) = concept(l.key.as_str()) else { continue };
        let found = right.iter().find(|r| concept(r.key.as_str()).map(|c| c.0) == Some(name));
        if let Some(r) = found.filter(|r| writable_somewhere(l, r)) {
            let kind = match kind {
                // Rich text only where both sides hold markup.
                MappingKind::RichText
                    if !(l.field_type == FieldType::RichText && r.field_type == FieldType::RichText) =>
                {
                    MappingKind::Plain
                }
                k => k,
            };
            out.push(FieldPair { left: l.clone(), right: r.clone(), kind, because: "same concept" });
        }
    }
    let used = |out: &[FieldPair], key: &str, left_side: bool| {
        out.iter().any(|p| if left_side { p.left.key.as_str() == key } else { p.right.key.as_str() == key })
    };
    for l in left {
        if used(&out, l.key.as_str(), true) || concept(l.key.as_str()).is_some() || l.read_only {
            continue;
        }
        let found = right.iter().find(|r| {
            !r.read_only
                && concept(r.key.as_str()).is_none()
                && !used(&out, r.key.as_str(), false)
                && normalized(&r.name) == normalized(&l.name)
                && compatible(l.field_type, r.field_type)
        });
        if let Some(r) = found {
            let kind = if l.field_type == FieldType::User { MappingKind::User } else { MappingKind::Plain };
            out.push(FieldPair { left: l.clone(), right: r.clone(), kind, because: "same name and type" });
        }
    }
    out
}

/// A value table proposed from two lists of allowed values: rows where the names
/// match, and the values of each side left without a match (the gaps).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValueTable {
    pub rows: Vec<(String, String)>,
    pub left_unmatched: Vec<String>,
    pub right_unmatched: Vec<String>,
}

/// A value's name as compared: normalized, without an ordinal prefix (`1 - Critical`,
/// Azure DevOps' severities, reads as `critical`; `1.5` stays a number).
fn value_name(v: &str) -> String {
    let t = v.trim_start();
    let rest = t.trim_start_matches(|c: char| c.is_ascii_digit());
    let unprefixed = match rest.trim_start().strip_prefix(['-', '.', ')']) {
        Some(name) if rest.len() < t.len() && name.starts_with(char::is_whitespace) && !name.trim().is_empty() => name,
        _ => t,
    };
    normalized(unprefixed)
}

pub fn match_values(left: &[String], right: &[String]) -> ValueTable {
    let mut t = ValueTable::default();
    let mut taken = BTreeSet::new();
    for l in dedup(left) {
        let found = right.iter().find(|r| !taken.contains(r.as_str()) && value_name(r) == value_name(&l));
        match found {
            Some(r) => {
                taken.insert(r.as_str());
                t.rows.push((l, r.clone()));
            }
            None => t.left_unmatched.push(l),
        }
    }
    t.right_unmatched = dedup(right).into_iter().filter(|r| !taken.contains(r.as_str())).collect();
    t
}

fn dedup(values: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    values.iter().filter(|v| !v.trim().is_empty() && seen.insert(v.as_str())).cloned().collect()
}

/// People matched by e-mail (exact, case-insensitive), and those with no match on the
/// other side: an address missing, or nobody with it there.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserMatch {
    pub matched: Vec<(UserRef, UserRef)>,
    pub left_unmatched: Vec<UserRef>,
    pub right_unmatched: Vec<UserRef>,
}

pub fn match_users(left: &[UserRef], right: &[UserRef]) -> UserMatch {
    let email = |u: &UserRef| u.email.as_deref().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty());
    let mut m = UserMatch::default();
    let mut taken = BTreeSet::new();
    for l in left {
        let found = email(l).and_then(|e| right.iter().position(|r| email(r).as_deref() == Some(e.as_str())));
        match found {
            Some(i) if taken.insert(i) => m.matched.push((l.clone(), right[i].clone())),
            _ => m.left_unmatched.push(l.clone()),
        }
    }
    m.right_unmatched = right.iter().enumerate().filter(|(i, _)| !taken.contains(i)).map(|(_, r)| r.clone()).collect();
    m
}

/// Fields a create on that side requires that no proposed pair fills: `(side, field)`,
/// side `"left"` or `"right"`. A create from the other side would be refused without a
/// mapping or a constant for them.
pub fn required_unfilled<'a>(
    left: &'a [FieldInfo],
    right: &'a [FieldInfo],
    pairs: &[FieldPair],
) -> Vec<(&'static str, &'a FieldInfo)> {
    let filled = |key: &str, left_side: bool| {
        pairs.iter().any(|p| if left_side { p.left.key.as_str() == key } else { p.right.key.as_str() == key })
    };
    let side = |fields: &'a [FieldInfo], name: &'static str, left_side: bool| {
        fields
            .iter()
            .filter(move |f| f.required && !f.read_only && !filled(f.key.as_str(), left_side))
            // The entity type and project are set by the integration's endpoint itself.
            .filter(|f| !matches!(f.key.as_str(), "issuetype" | "project" | "tracker" | "System.WorkItemType"))
            .map(move |f| (name, f))
    };
    side(left, "left", true).chain(side(right, "right", false)).collect()
}

#[cfg(test)]
mod tests;
