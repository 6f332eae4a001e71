//! The mapping rules (see the crate documentation for the numbered list).

use crate::echo::echo;
use crate::users::normalise;
use crate::value::{describe, key_str, same_value, scalar_str, scalar_value, text_to_html};
use crate::{Decision, MappingInput, MappingOutput, SkipReason};
use ferry_domain::{
    EntitySnapshot, ErrorCategory, FieldChange, FieldKey, FieldMapping, FieldValue, FilterExit, Flow, Integration,
    MappingKind, Scalar, Side, UnmatchedUser, UserRef, ValueTable,
};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// How one field mapping takes part in one flow.
#[derive(Clone, Copy)]
enum Plan<'a> {
    Field { source: &'a FieldKey, target: &'a FieldKey },
    Constant { value: &'a Scalar, target: &'a FieldKey },
}

impl<'a> Plan<'a> {
    fn target(&self) -> &'a FieldKey {
        match *self {
            Plan::Field { target, .. } | Plan::Constant { target, .. } => target,
        }
    }
    fn label(&self) -> Label<'a> {
        match *self {
            Plan::Field { source, target } => Label { source: Some(source), target },
            Plan::Constant { target, .. } => Label { source: None, target },
        }
    }
}

/// Rule 3.
fn plan(m: &FieldMapping, flow: Flow) -> Option<Plan<'_>> {
    if !m.direction.allows(flow) {
        return None;
    }
    let target = m.field(flow.target())?;
    match m.field(flow.source()) {
        Some(source) => Some(Plan::Field { source, target }),
        None => {
            m.constant.as_ref().or_else(|| m.default_for(flow.target())).map(|value| Plan::Constant { value, target })
        }
    }
}

/// `summary -> System.Title`, built only when a note or failure needs it.
#[derive(Clone, Copy)]
struct Label<'a> {
    source: Option<&'a FieldKey>,
    target: &'a FieldKey,
}

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            Some(s) => write!(f, "{s} -> {}", self.target),
            None => write!(f, "constant -> {}", self.target),
        }
    }
}

/// The mapping that writes `target` in `flow` (rule 3: the first in configuration order).
pub(crate) fn governing_mapping<'a>(
    integration: &'a Integration,
    flow: Flow,
    target: &FieldKey,
) -> Option<&'a FieldMapping> {
    integration.fields.iter().find(|m| plan(m, flow).is_some_and(|p| p.target() == target))
}

/// The source field the mapping that writes `target` in `flow` reads (`None` for a
/// constant or no mapping).
pub fn source_field<'a>(integration: &'a Integration, flow: Flow, target: &FieldKey) -> Option<&'a FieldKey> {
    match governing_mapping(integration, flow, target).and_then(|m| plan(m, flow))? {
        Plan::Field { source, .. } => Some(source),
        Plan::Constant { .. } => None,
    }
}

/// The kind of the mapping that writes `target` in `flow`.
pub fn mapping_kind(integration: &Integration, flow: Flow, target: &FieldKey) -> Option<MappingKind> {
    governing_mapping(integration, flow, target).map(|m| m.kind)
}

/// Source fields the mapping reads for this flow (what the connector must fetch), in
/// configuration order, without duplicates.
pub fn source_fields(integration: &Integration, flow: Flow) -> Vec<FieldKey> {
    let mut out: Vec<FieldKey> = Vec::new();
    for m in &integration.fields {
        if let Some(Plan::Field { source, .. }) = plan(m, flow) {
            if !out.contains(source) {
                out.push(source.clone());
            }
        }
    }
    out
}

/// The source entity's current values of every field the REVERSE flow maps into it
/// (both-ways field mappings; constants excluded), keyed by field key.
///
/// After a successful write of `flow`, the engine may merge these into the source entity's
/// fingerprint: they are in sync with the target now, so when the target's side comes
/// back through the reverse flow, the mapping finds them unchanged (no ping-pong write),
/// and a later clear on the target side is recognised as a clear (rule 5).
pub fn synced_source_values(
    integration: &Integration,
    flow: Flow,
    source: &EntitySnapshot,
) -> BTreeMap<String, FieldValue> {
    let mut out = BTreeMap::new();
    for m in &integration.fields {
        // Both directions must apply: the flow reads the field, the reverse writes it.
        if plan(m, flow).is_none() {
            continue;
        }
        if let Some(Plan::Field { target, .. }) = plan(m, flow.reverse()) {
            if let Some(v) = source.field(target).filter(|v| !v.is_null()) {
                out.entry(target.as_str().to_owned()).or_insert_with(|| v.clone());
            }
        }
    }
    out
}

/// The baseline of one side of a pair that already mirrored each other when it was
/// linked (paired by `activate --since`): every field of `side` a flow reads from it or
/// writes into it, as the side holds it now, an explicit empty value included. From this
/// baseline on, only a later change of a side travels (rule 11 finds the rest unchanged at
/// the source, and rule 10 finds the target's own value as the last one written); values
/// the two sides held differently before the pairing stay until a person edits one. A
/// field the side did not return (rule 12) is left out: its value is unknown.
pub fn paired_values(integration: &Integration, side: Side, entity: &EntitySnapshot) -> BTreeMap<String, FieldValue> {
    let fields = paired_fields(integration, side);
    fields.iter().filter_map(|k| Some((k.as_str().to_owned(), entity.field(k)?.fingerprint_form()))).collect()
}

/// The fields of `side` a flow reads from it or writes into it (what [`paired_values`]
/// needs read), in configuration order, without duplicates.
pub fn paired_fields(integration: &Integration, side: Side) -> Vec<FieldKey> {
    let (from, into) = (Flow::from_source(side), Flow::from_source(side).reverse());
    let mut out: Vec<FieldKey> = Vec::new();
    for m in &integration.fields {
        let read = match plan(m, from) {
            Some(Plan::Field { source, .. }) => Some(source),
            _ => None,
        };
        for key in read.into_iter().chain(plan(m, into).map(|p| p.target())) {
            if !out.contains(key) {
                out.push(key.clone());
            }
        }
    }
    out
}

/// E-mails (in the TARGET system) the mapping of this snapshot will look up: each source
/// user's e-mail after the integration's user-table override, plus the default users and
/// user constants of user mappings for this flow. Lower-cased, deduplicated, sorted.
pub fn needed_target_emails(integration: &Integration, flow: Flow, source: &EntitySnapshot) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |email: &str| {
        let e = normalise(email);
        if !e.is_empty() {
            out.push(e.into_owned());
        }
    };
    for m in &integration.fields {
        if m.kind != MappingKind::User {
            continue;
        }
        match plan(m, flow) {
            Some(Plan::Field { source: key, .. }) => {
                if let Some(email) = source.field(key).and_then(source_email) {
                    push(integration.users.lookup(flow, email).unwrap_or(email));
                }
                if let Some(d) = m.default_for(flow.target()) {
                    push(&scalar_str(d));
                }
            }
            Some(Plan::Constant { value, .. }) => push(&scalar_str(value)),
            None => {}
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The e-mail of a user mapping's source value: a user's (unless hidden), or a text or
/// option value taken as an e-mail.
fn source_email(v: &FieldValue) -> Option<&str> {
    let e = match v {
        FieldValue::User(u) => u.email.as_deref()?,
        FieldValue::Text(s) | FieldValue::Option(s) => s.as_str(),
        _ => return None,
    };
    (!e.trim().is_empty()).then_some(e)
}

struct Failure {
    category: ErrorCategory,
    message: String,
}

/// `Ok(None)`: leave the target field as it is.
type Eval = Result<Option<FieldValue>, Failure>;

struct Mapper<'i, 'a> {
    input: &'i MappingInput<'a>,
    create: bool,
    /// The target fingerprint's values; `None` on create.
    prior: Option<&'a BTreeMap<String, FieldValue>>,
    notes: Vec<String>,
}

/// Applies the rules to one change. Never panics, whatever the snapshot holds.
pub fn map_change(input: &MappingInput) -> MappingOutput {
    let flow = input.flow;
    let src = input.source;
    let integration = input.integration;

    if !input.matches_filter && (!input.linked || integration.filter_exit == FilterExit::StopSyncing) {
        let detail = if input.linked {
            format!("{} no longer matches the {flow} filter and filter_exit is stop_syncing", src.key)
        } else {
            format!("{} does not match the {flow} filter and is not linked", src.key)
        };
        return skip(SkipReason::Filtered, detail, Vec::new());
    }

    if let Some(detail) = echo(input) {
        return skip(SkipReason::Echo, detail, Vec::new());
    }

    let fields = &integration.fields;
    if !fields.iter().any(|m| plan(m, flow).is_some()) {
        let detail = format!("no field mapping travels {flow}");
        return skip(SkipReason::NoMappedFields, detail, Vec::new());
    }

    let create = !input.linked;
    let mut mapper = Mapper {
        input,
        create,
        prior: if create { None } else { input.target_fingerprint.map(|f| &f.values) },
        notes: Vec::new(),
    };
    let id_field = integration.remote.id_field(flow.target());
    let mut changes = Vec::new();
    let mut mapped = BTreeMap::new();
    let mut failures: Vec<Failure> = Vec::new();
    let mut missing: Vec<FieldKey> = Vec::new();

    for (i, m) in fields.iter().enumerate() {
        let Some(p) = plan(m, flow) else { continue };
        let target = p.target();
        if id_field == Some(target) {
            mapper.notes.push(format!("{}: ignored, the field receives the remote id", p.label()));
            continue;
        }
        if fields[..i].iter().any(|e| plan(e, flow).is_some_and(|q| q.target() == target)) {
            mapper.notes.push(format!("{}: ignored, an earlier mapping writes {target}", p.label()));
            continue;
        }
        if let Plan::Field { source, .. } = p {
            if input.source.field(source).is_none() {
                if !missing.contains(source) {
                    missing.push(source.clone());
                }
                continue;
            }
            if !create && unchanged_at_source(input, source) {
                continue;
            }
        }
        match mapper.eval(m, p) {
            Ok(Some(v)) => mapper.record(target, v, &mut changes, &mut mapped),
            Ok(None) => {}
            Err(f) => failures.push(f),
        }
    }
    if let Some(target) = id_field {
        mapper.record(target, FieldValue::Text(src.key.clone()), &mut changes, &mut mapped);
    }

    let notes = mapper.notes;
    if let Some(first) = failures.first() {
        let category = first.category;
        let message = if failures.len() == 1 {
            failures.pop().map(|f| f.message).unwrap_or_default()
        } else {
            failures.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("; ")
        };
        return MappingOutput { decision: Decision::Fail { category, message }, notes, missing };
    }
    if !create && changes.is_empty() {
        let detail = format!("{}: no mapped field differs from what Ferry last wrote", src.key);
        return MappingOutput { missing, ..skip(SkipReason::Unchanged, detail, notes) };
    }
    MappingOutput { decision: Decision::Write { create, changes, mapped }, notes, missing }
}

/// Rule 11: a source field that still holds the value it had at the last sync (the
/// source-side fingerprint) did not change here; whatever the target holds now came from
/// the other side or a person there, so it is not written back. This also keeps a lossy
/// round trip (HTML through Jira's ADF) from echoing.
fn unchanged_at_source(input: &MappingInput, source: &FieldKey) -> bool {
    let Some(base) = input.source_fingerprint.and_then(|fp| fp.values.get(source.as_str())) else {
        return false;
    };
    same_value(input.source.field(source).unwrap_or(&FieldValue::Null), base)
}

fn skip(reason: SkipReason, detail: String, notes: Vec<String>) -> MappingOutput {
    MappingOutput { decision: Decision::Skip { reason, detail }, notes, missing: Vec::new() }
}

impl<'i, 'a> Mapper<'i, 'a> {
    fn flow(&self) -> Flow {
        self.input.flow
    }

    fn target_side(&self) -> Side {
        self.input.flow.target()
    }

    /// Rule 10: keep `v` as the field's next fingerprint value, and write it when it differs.
    fn record(
        &self,
        target: &FieldKey,
        v: FieldValue,
        changes: &mut Vec<FieldChange>,
        mapped: &mut BTreeMap<FieldKey, FieldValue>,
    ) {
        let write = if self.create {
            !v.is_null()
        } else {
            match self.prior.and_then(|p| p.get(target.as_str())) {
                Some(old) => !same_value(old, &v),
                None => !v.is_null(),
            }
        };
        if write {
            changes.push(FieldChange { field: target.clone(), value: v.clone() });
        }
        mapped.insert(target.clone(), v);
    }

    fn eval(&mut self, m: &FieldMapping, p: Plan<'_>) -> Eval {
        match p {
            Plan::Constant { value, .. } => self.scalar(m, value, p.label()).map(Some),
            Plan::Field { source, target } => match self.input.source.field(source) {
                Some(v) if !v.is_null() => self.present(m, v, p.label()),
                Some(_) => self.empty(m, target, p.label()),
                // Rule 12: the caller leaves a missing field out before evaluating it.
                None => Ok(None),
            },
        }
    }

    /// A default or constant as the target value (rules 5 and 6).
    fn scalar(&self, m: &FieldMapping, s: &Scalar, label: Label<'_>) -> Result<FieldValue, Failure> {
        if m.kind == MappingKind::User {
            let email = scalar_str(s);
            return match self.input.users.get(&email) {
                Some(u) => Ok(FieldValue::User(u.clone())),
                None => Err(Failure {
                    category: ErrorCategory::UserNotFound,
                    message: format!(
                        "{label}: the mapping's default user {email} was not found in the {} system; \
                         check the e-mail of the default",
                        self.target_side().as_str()
                    ),
                }),
            };
        }
        Ok(scalar_value(m.kind, m.values.is_some(), s))
    }

    /// Rule 5: the source value is empty.
    fn empty(&self, m: &FieldMapping, target: &FieldKey, label: Label<'_>) -> Eval {
        let wrote_before = self.prior.and_then(|p| p.get(target.as_str())).is_some_and(|v| !v.is_null());
        match m.default_for(self.target_side()) {
            Some(d) if self.create || wrote_before => self.scalar(m, d, label).map(Some),
            Some(_) => Ok(None),
            None if wrote_before => Ok(Some(FieldValue::Null)),
            None => Ok(None),
        }
    }

    fn present(&mut self, m: &FieldMapping, v: &FieldValue, label: Label<'_>) -> Eval {
        match m.kind {
            MappingKind::User => self.user(m, v, label),
            MappingKind::RichText => Ok(Some(FieldValue::RichText(match v {
                FieldValue::RichText(s) => s.clone(),
                other => text_to_html(&key_str(other).unwrap_or_default()),
            }))),
            MappingKind::Value | MappingKind::Status => match &m.values {
                Some(table) => self.via_table(m, table, v, label),
                None if m.kind == MappingKind::Status => {
                    Ok(Some(FieldValue::Option(key_str(v).unwrap_or_default().into_owned())))
                }
                None => Ok(Some(v.clone())),
            },
        }
    }

    /// Rule 4 with a value table.
    fn via_table(&mut self, m: &FieldMapping, table: &ValueTable, v: &FieldValue, label: Label<'_>) -> Eval {
        let flow = self.flow();
        let default = m.default_for(self.target_side());
        if let FieldValue::List(items) = v {
            let mut out: Vec<String> = Vec::with_capacity(items.len());
            for item in items {
                let mapped: Cow<'_, str> = match (table.lookup(flow, item), default) {
                    (Some(hit), _) => Cow::Borrowed(hit),
                    (None, Some(d)) => {
                        self.notes.push(format!(
                            "{label}: list item {item:?} has no row in value table {}, wrote the default {}",
                            origin(table),
                            describe_scalar(d)
                        ));
                        scalar_str(d)
                    }
                    (None, None) => {
                        return Err(self.missing(label, table, &format!("{item:?}")));
                    }
                };
                if !out.iter().any(|o| o.as_str() == mapped.as_ref()) {
                    out.push(mapped.into_owned());
                }
            }
            return Ok(Some(FieldValue::List(out)));
        }
        let key = key_str(v).unwrap_or_default();
        match (table.lookup(flow, &key), default) {
            (Some(hit), _) => Ok(Some(FieldValue::Option(hit.to_owned()))),
            (None, Some(d)) => {
                self.notes.push(format!(
                    "{label}: value {} has no row in value table {}, wrote the default {}",
                    describe(v),
                    origin(table),
                    describe_scalar(d)
                ));
                self.scalar(m, d, label).map(Some)
            }
            (None, None) => Err(self.missing(label, table, &describe(v))),
        }
    }

    fn missing(&self, label: Label<'_>, table: &ValueTable, value: &str) -> Failure {
        let column = self.flow().source().as_str();
        let default_key = match self.target_side() {
            Side::Left => "default_left",
            Side::Right => "default_right",
        };
        Failure {
            category: ErrorCategory::MappingValueMissing,
            message: format!(
                "{label}: value {value} has no row in value table {} ({column} column); \
                 add a row for {value} or set {default_key} on the mapping",
                origin(table)
            ),
        }
    }

    /// Rule 7 for a present source value.
    fn user(&mut self, m: &FieldMapping, v: &FieldValue, label: Label<'_>) -> Eval {
        let flow = self.flow();
        let email = source_email(v);
        let looked_up = email.map(|e| self.input.integration.users.lookup(flow, e).unwrap_or(e));
        if let Some(u) = looked_up.and_then(|e| self.input.users.get(e)) {
            return Ok(Some(FieldValue::User(u.clone())));
        }
        let who = describe_source_user(v, email, looked_up);
        match m.unmatched {
            UnmatchedUser::Fail => Err(Failure {
                category: ErrorCategory::UserNotFound,
                message: format!(
                    "{label}: user {who} has no match in the {} system (unmatched: fail); \
                     add the user to the user table or set unmatched to default or skip",
                    self.target_side().as_str()
                ),
            }),
            UnmatchedUser::Skip => {
                self.notes.push(format!("{label}: {who} has no match in the target, skipped (unmatched: skip)"));
                Ok(None)
            }
            UnmatchedUser::Default => match m.default_for(self.target_side()) {
                Some(d) => {
                    self.notes.push(format!(
                        "{label}: {who} has no match in the target, wrote the default user {} (unmatched: default)",
                        scalar_str(d)
                    ));
                    self.scalar(m, d, label).map(Some)
                }
                None => {
                    self.notes.push(format!(
                        "{label}: {who} has no match in the target and the mapping has no default user, \
                         skipped (unmatched: default)"
                    ));
                    Ok(None)
                }
            },
        }
    }
}

fn origin(table: &ValueTable) -> &str {
    if table.origin.is_empty() {
        "inline"
    } else {
        &table.origin
    }
}

fn describe_scalar(s: &Scalar) -> String {
    format!("{:?}", scalar_str(s))
}

/// `Erin Example <erin@acme.test>`, with the user-table override when one applied.
fn describe_source_user(v: &FieldValue, email: Option<&str>, looked_up: Option<&str>) -> String {
    let name = match v {
        FieldValue::User(UserRef { display_name: Some(n), .. }) if !n.is_empty() => Some(n.as_str()),
        _ => None,
    };
    let mut s = match (name, email) {
        (Some(n), Some(e)) => format!("{n} <{e}>"),
        (None, Some(e)) => e.to_owned(),
        (Some(n), None) => format!("{n} (e-mail hidden)"),
        (None, None) => match v {
            FieldValue::User(u) => format!("{} (e-mail hidden)", u.id),
            other => describe(other),
        },
    };
    if let (Some(e), Some(t)) = (email, looked_up) {
        if e != t {
            s.push_str(&format!(" (user table: {t})"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use ferry_domain::{Direction, RemoteRefs};

    fn l2r(left: &str, right: &str) -> FieldMapping {
        FieldMapping { direction: Direction::LeftToRight, ..fm(left, right) }
    }

    #[test]
    fn a_paired_side_is_its_own_baseline_so_only_later_edits_travel() {
        let mut i = integration(vec![fm("summary", "System.Title"), fm("labels", "System.Tags")]);
        i.fields.push(l2r("priority", "Priority"));
        i.fields.push(FieldMapping { direction: Direction::RightToLeft, ..fm("components", "Area") });
        // (side, what the side holds, the baseline recorded)
        type Values<'a> = Vec<(&'a str, FieldValue)>;
        let table: [(Side, Values, Values); 4] = [
            // Every field a flow reads from or writes into the side; explicit empties kept.
            (
                Side::Right,
                vec![("System.Title", text("Crash")), ("System.Tags", FieldValue::Null), ("Priority", text("2"))],
                vec![("System.Title", text("Crash")), ("System.Tags", FieldValue::Null), ("Priority", text("2"))],
            ),
            // A field the side did not return is unknown, not empty; one no flow maps is not kept.
            (
                Side::Right,
                vec![("System.Title", text("Crash")), ("Other", text("x"))],
                vec![("System.Title", text("Crash"))],
            ),
            // Read by one flow (priority) or written by the other (components): both kept.
            (
                Side::Left,
                vec![
                    ("priority", text("High")),
                    ("components", FieldValue::List(vec![])),
                    ("labels", FieldValue::Null),
                ],
                vec![
                    ("priority", text("High")),
                    ("components", FieldValue::List(vec![])),
                    ("labels", FieldValue::Null),
                ],
            ),
            (Side::Left, vec![], vec![]),
        ];
        for (side, holds, want) in table {
            let got = paired_values(&i, side, &snapshot(holds.clone()));
            let want: BTreeMap<String, FieldValue> =
                want.into_iter().map(|(k, v)| (k.to_string(), v.fingerprint_form())).collect();
            assert_eq!(got, want, "{side:?} holding {holds:?}");
        }
    }

    #[test]
    fn after_a_pairing_the_empty_values_of_one_side_do_not_travel_until_edited() {
        let i = integration(vec![fm("summary", "System.Title"), fm("labels", "System.Tags")]);
        let jira = snapshot(vec![("summary", text("Crash")), ("labels", FieldValue::List(vec!["backfill".into()]))]);
        let ado = |tags: FieldValue| snapshot(vec![("System.Title", text("Crash")), ("System.Tags", tags)]);
        let jira_fp = fingerprint(Side::Left, paired_values(&i, Side::Left, &jira));
        let ado_fp = fingerprint(Side::Right, paired_values(&i, Side::Right, &ado(FieldValue::Null)));
        let mut c = Case::new(i.clone(), ado(FieldValue::Null)).flow(Flow::RightToLeft);
        c.linked = true;
        c.source_fingerprint = Some(ado_fp.clone());
        c.target_fingerprint = Some(jira_fp.clone());
        assert_eq!(expect_skip(&c.run()).0, SkipReason::Unchanged, "nothing was edited: nothing travels");
        // A person tags the twin: that edit, and only it, travels.
        let mut c = Case::new(i, ado(FieldValue::List(vec!["ui".into()]))).flow(Flow::RightToLeft);
        c.linked = true;
        c.source_fingerprint = Some(ado_fp);
        c.target_fingerprint = Some(jira_fp);
        assert_eq!(expect_write(&c.run()).changed_fields(), vec!["labels"]);
    }

    fn priority() -> FieldMapping {
        FieldMapping {
            values: Some(table(&[("Highest", "1"), ("High", "2"), ("Medium", "3")])),
            ..fm("priority", "Priority")
        }
    }

    fn assignee(unmatched: UnmatchedUser, default_right: Option<&str>) -> FieldMapping {
        FieldMapping {
            kind: MappingKind::User,
            unmatched,
            default_right: default_right.map(stext),
            ..fm("assignee", "System.AssignedTo")
        }
    }

    fn erin() -> UserRef {
        user("acc-erin", Some("erin@acme.test"), Some("Erin Example"))
    }

    fn ado_erin() -> UserRef {
        user("vsid-erin", Some("erin@acme.test"), Some("Erin"))
    }

    fn ado_triage() -> UserRef {
        user("vsid-triage", Some("triage@acme.test"), Some("Triage"))
    }

    // Rule 1: filter.

    #[test]
    fn unlinked_entity_outside_the_filter_is_skipped_as_filtered() {
        let mut c = Case::new(integration(vec![fm("summary", "System.Title")]), snapshot(vec![("summary", text("a"))]));
        c.matches_filter = false;
        let (reason, detail) = expect_skip(&c.run());
        assert_eq!(reason, SkipReason::Filtered);
        assert!(detail.contains("APP-1") && detail.contains("not linked"), "{detail}");
    }

    #[test]
    fn linked_entity_outside_the_filter_keeps_syncing_under_keep_syncing() {
        let mut c = Case::new(integration(vec![fm("summary", "System.Title")]), snapshot(vec![("summary", text("b"))]))
            .update(vec![("System.Title", text("a"))]);
        c.matches_filter = false;
        let w = expect_write(&c.run());
        assert_eq!(w.change("System.Title"), Some(&text("b")));
    }

    #[test]
    fn linked_entity_outside_the_filter_is_skipped_under_stop_syncing() {
        let mut c = Case::new(integration(vec![fm("summary", "System.Title")]), snapshot(vec![("summary", text("b"))]))
            .update(vec![("System.Title", text("a"))]);
        c.integration.filter_exit = FilterExit::StopSyncing;
        c.matches_filter = false;
        let (reason, detail) = expect_skip(&c.run());
        assert_eq!(reason, SkipReason::Filtered);
        assert!(detail.contains("stop_syncing"), "{detail}");
    }

    // Rule 11: unchanged at the source.

    #[test]
    fn a_field_unchanged_at_the_source_since_the_last_sync_is_not_written_back() {
        // The target holds a normalised form of what Ferry wrote (a lossy round trip):
        // the source still holds what it held at the last sync, so nothing is written.
        let i = integration(vec![fm("summary", "System.Title"), fm("labels", "System.Tags")]);
        let mut c = Case::new(i, snapshot(vec![("summary", text("<p>a</p>")), ("labels", text("x"))]))
            .update(vec![("System.Title", text("<p>a</p>\n")), ("System.Tags", text("x"))]);
        c.source_fingerprint =
            Some(fingerprint(Side::Left, values(vec![("summary", text("<p>a</p>")), ("labels", text("x"))])));
        assert_eq!(expect_skip(&c.run()).0, SkipReason::Unchanged);

        // A field that did change at the source is written; the unchanged one is not.
        c.source = snapshot(vec![("summary", text("<p>a</p>")), ("labels", text("y"))]);
        let w = expect_write(&c.run());
        assert_eq!(w.changed_fields(), vec!["System.Tags"]);
    }

    // Rule 2: echo.

    fn echo_case(changed_by: &str, written_revision: &str) -> Case {
        let mut c = Case::new(integration(vec![fm("summary", "System.Title")]), snapshot(vec![("summary", text("b"))]))
            .update(vec![("System.Title", text("a"))]);
        c.source.changed_by = Some(user(changed_by, None, None));
        c.integration_user = Some(user("ferry-bot", Some("ferry@acme.test"), None));
        let mut sfp = fingerprint(Side::Left, values(vec![]));
        sfp.written_revision = Some(written_revision.into());
        c.source_fingerprint = Some(sfp);
        c
    }

    #[test]
    fn integration_users_change_at_ferrys_written_revision_is_an_echo() {
        let (reason, detail) = expect_skip(&echo_case("ferry-bot", "7").run());
        assert_eq!(reason, SkipReason::Echo);
        assert!(detail.contains("revision 7"), "{detail}");
    }

    #[test]
    fn integration_users_change_at_another_revision_maps_normally() {
        let w = expect_write(&echo_case("ferry-bot", "6").run());
        assert_eq!(w.changed_fields(), vec!["System.Title"]);
    }

    #[test]
    fn integration_users_change_at_another_revision_with_nothing_new_is_unchanged() {
        let mut c = echo_case("ferry-bot", "6");
        c.source.fields.insert(key("summary"), text("a"));
        assert_eq!(expect_skip(&c.run()).0, SkipReason::Unchanged);
    }

    #[test]
    fn an_integration_user_known_only_by_email_is_recognised_case_insensitively() {
        let mut c = echo_case("ferry-bot", "7");
        c.source.changed_by = Some(user("acc-77", Some("Ferry@Acme.test"), None));
        c.integration_user = Some(user("", Some("ferry@acme.test"), None));
        assert_eq!(expect_skip(&c.run()).0, SkipReason::Echo);
        c.integration_user = Some(user("", None, None));
        c.source.changed_by = Some(user("", None, None));
        expect_write(&c.run());
    }

    #[test]
    fn an_unlinked_entity_last_changed_by_ferry_is_an_interrupted_creates_twin_and_not_created_back() {
        let mut c = Case::new(integration(vec![fm("summary", "System.Title")]), snapshot(vec![("summary", text("b"))]));
        c.source.changed_by = Some(user("ferry-bot", None, None));
        c.integration_user = Some(user("ferry-bot", Some("ferry@acme.test"), None));
        let (reason, detail) = expect_skip(&c.run());
        assert_eq!(reason, SkipReason::Echo);
        assert!(detail.contains("no link yet"), "{detail}");
        // A person's later edit of it is a person's entity to sync.
        c.source.changed_by = Some(user("alice", None, None));
        assert!(expect_write(&c.run()).changed_fields().contains(&"System.Title"));
    }

    #[test]
    fn a_persons_change_at_the_written_revision_is_not_an_echo() {
        let w = expect_write(&echo_case("person-1", "7").run());
        assert_eq!(w.changed_fields(), vec!["System.Title"]);
    }

    #[test]
    fn no_integration_user_configured_means_no_echo_by_changed_by() {
        let mut c = echo_case("ferry-bot", "7");
        c.integration_user = None;
        expect_write(&c.run());
    }

    // Rule 3: applicability.

    #[test]
    fn mappings_travel_only_in_their_direction() {
        let i = integration(vec![
            l2r("summary", "System.Title"),
            FieldMapping { direction: Direction::RightToLeft, ..fm("labels", "System.Tags") },
            fm("description", "System.Description"),
        ]);
        let src = snapshot(vec![
            ("summary", text("s")),
            ("labels", FieldValue::List(vec!["x".into()])),
            ("description", text("d")),
        ]);
        let w = expect_write(&Case::new(i.clone(), src).run());
        assert_eq!(w.changed_fields(), vec!["System.Title", "System.Description"]);

        let back = snapshot(vec![
            ("System.Title", text("s")),
            ("System.Tags", FieldValue::List(vec!["x".into()])),
            ("System.Description", text("d")),
        ]);
        let w = expect_write(&Case::new(i, back).flow(Flow::RightToLeft).run());
        assert_eq!(w.changed_fields(), vec!["labels", "description"]);
    }

    #[test]
    fn a_constant_with_none_on_the_left_flows_only_to_the_right() {
        let constant = FieldMapping { left: None, constant: Some(stext("Jira")), ..fm("unused", "Custom.Origin") };
        let i = integration(vec![constant, fm("summary", "System.Title")]);
        let w = expect_write(&Case::new(i.clone(), snapshot(vec![("summary", text("s"))])).run());
        assert_eq!(w.change("Custom.Origin"), Some(&text("Jira")));

        let back = snapshot(vec![("System.Title", text("s")), ("Custom.Origin", text("x"))]);
        let w = expect_write(&Case::new(i.clone(), back).flow(Flow::RightToLeft).run());
        assert_eq!(w.changed_fields(), vec!["summary"]);
        assert_eq!(source_fields(&i, Flow::RightToLeft), vec![key("System.Title")]);
    }

    #[test]
    fn no_mapping_in_the_flow_skips_with_no_mapped_fields() {
        let i = integration(vec![l2r("summary", "System.Title")]);
        let c = Case::new(i, snapshot(vec![("System.Title", text("s"))])).flow(Flow::RightToLeft);
        let (reason, detail) = expect_skip(&c.run());
        assert_eq!(reason, SkipReason::NoMappedFields);
        assert!(detail.contains("right_to_left"), "{detail}");
    }

    #[test]
    fn a_mapping_without_a_target_field_and_no_constant_does_not_apply() {
        let i = integration(vec![FieldMapping { right: None, ..fm("summary", "x") }]);
        let (reason, _) = expect_skip(&Case::new(i, snapshot(vec![("summary", text("s"))])).run());
        assert_eq!(reason, SkipReason::NoMappedFields);
    }

    #[test]
    fn source_fields_lists_the_flows_source_side_once_in_order() {
        let i = integration(vec![
            fm("summary", "System.Title"),
            l2r("summary", "Custom.Summary"),
            FieldMapping { direction: Direction::RightToLeft, ..fm("labels", "System.Tags") },
            priority(),
        ]);
        assert_eq!(source_fields(&i, Flow::LeftToRight), vec![key("summary"), key("priority")]);
        assert_eq!(
            source_fields(&i, Flow::RightToLeft),
            vec![key("System.Title"), key("System.Tags"), key("Priority")]
        );
    }

    #[test]
    fn two_mappings_into_one_field_the_first_wins_with_a_note() {
        let i = integration(vec![fm("summary", "System.Title"), l2r("customfield_1", "System.Title")]);
        let out = Case::new(i, snapshot(vec![("summary", text("a")), ("customfield_1", text("b"))])).run();
        let w = expect_write(&out);
        assert_eq!(w.changes, vec![("System.Title".to_string(), text("a"))]);
        assert!(out.notes.iter().any(|n| n.contains("customfield_1 -> System.Title: ignored")), "{:?}", out.notes);
    }

    #[test]
    fn a_mapping_into_the_remote_id_field_is_ignored_with_a_note() {
        let mut i = integration(vec![fm("summary", "System.Title"), fm("customfield_9", "Custom.JiraKey")]);
        i.remote = RemoteRefs { right_id_field: Some(key("Custom.JiraKey")), ..Default::default() };
        let out = Case::new(i, snapshot(vec![("summary", text("a")), ("customfield_9", text("zzz"))])).run();
        let w = expect_write(&out);
        assert_eq!(w.change("Custom.JiraKey"), Some(&text("APP-1")));
        assert!(out.notes.iter().any(|n| n.contains("remote id")), "{:?}", out.notes);
    }

    // Rule 4: values and value tables.

    #[test]
    fn values_of_every_kind_are_copied_as_they_are() {
        let when = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 2, 3, 4, 5, 6).unwrap();
        let cases = vec![
            ("text", text("Login fails")),
            ("number", FieldValue::Number(3.5)),
            ("option", opt("Bug")),
            ("list", FieldValue::List(vec!["a".into(), "b".into()])),
            ("datetime", FieldValue::DateTime(when)),
            ("bool", FieldValue::Bool(false)),
            ("rich text", FieldValue::RichText("<p>x</p>".into())),
        ];
        for (name, v) in cases {
            let c = Case::new(integration(vec![fm("f", "g")]), snapshot(vec![("f", v.clone())]));
            let w = expect_write(&c.run());
            assert_eq!(w.change("g"), Some(&v), "{name}");
            assert_eq!(w.mapped.get("g"), Some(&v), "{name}");
        }
    }

    #[test]
    fn a_value_table_maps_in_the_flows_orientation() {
        let cases = vec![
            (Flow::LeftToRight, "priority", opt("High"), "Priority", opt("2")),
            (Flow::LeftToRight, "priority", text("Highest"), "Priority", opt("1")),
            (Flow::RightToLeft, "Priority", opt("3"), "priority", opt("Medium")),
            // Numbers key on their integral form: 2.0 looks up "2".
            (Flow::RightToLeft, "Priority", FieldValue::Number(2.0), "priority", opt("High")),
        ];
        for (flow, src, v, target, want) in cases {
            let c = Case::new(integration(vec![priority()]), snapshot(vec![(src, v.clone())])).flow(flow);
            let w = expect_write(&c.run());
            assert_eq!(w.change(target), Some(&want), "{flow} {v:?}");
        }
    }

    #[test]
    fn the_first_row_wins_when_a_value_repeats() {
        let m = FieldMapping { values: Some(table(&[("High", "2"), ("Major", "2")])), ..fm("priority", "Priority") };
        let c = Case::new(integration(vec![m]), snapshot(vec![("Priority", opt("2"))])).flow(Flow::RightToLeft);
        assert_eq!(expect_write(&c.run()).change("priority"), Some(&opt("High")));
    }

    #[test]
    fn a_value_without_a_row_takes_the_default_with_a_note() {
        let m = FieldMapping { default_right: Some(Scalar::Number(3.0)), ..priority() };
        let out = Case::new(integration(vec![m]), snapshot(vec![("priority", opt("Blocker"))])).run();
        assert_eq!(expect_write(&out).change("Priority"), Some(&opt("3")));
        assert!(out.notes.iter().any(|n| n.contains("\"Blocker\"") && n.contains("default")), "{:?}", out.notes);
    }

    #[test]
    fn a_value_without_a_row_takes_the_default_on_an_update_too() {
        let m = FieldMapping { default_right: Some(stext("3")), ..priority() };
        let c = Case::new(integration(vec![m]), snapshot(vec![("priority", opt("Blocker"))]))
            .update(vec![("Priority", opt("1"))]);
        assert_eq!(expect_write(&c.run()).change("Priority"), Some(&opt("3")));
    }

    #[test]
    fn a_value_without_a_row_and_no_default_fails_naming_value_fields_and_table() {
        let c = Case::new(integration(vec![priority()]), snapshot(vec![("priority", opt("Blocker"))]));
        let (category, message) = expect_fail(&c.run());
        assert_eq!(category, ErrorCategory::MappingValueMissing);
        for part in ["\"Blocker\"", "priority -> Priority", "priorities.xlsx#Priority", "add a row", "default_right"] {
            assert!(message.contains(part), "missing {part:?} in {message}");
        }
        let back =
            Case::new(integration(vec![priority()]), snapshot(vec![("Priority", opt("9"))])).flow(Flow::RightToLeft);
        let (_, message) = expect_fail(&back.run());
        assert!(message.contains("default_left") && message.contains("right column"), "{message}");
    }

    #[test]
    fn list_values_map_element_wise_without_duplicates() {
        let m = FieldMapping {
            values: Some(table(&[("ui", "frontend"), ("css", "frontend"), ("db", "backend")])),
            ..fm("labels", "System.Tags")
        };
        let src = snapshot(vec![("labels", FieldValue::List(vec!["ui".into(), "db".into(), "css".into()]))]);
        let w = expect_write(&Case::new(integration(vec![m]), src).run());
        assert_eq!(w.change("System.Tags"), Some(&FieldValue::List(vec!["frontend".into(), "backend".into()])));
    }

    #[test]
    fn a_list_item_without_a_row_uses_the_default_or_fails() {
        let m = FieldMapping { values: Some(table(&[("ui", "frontend")])), ..fm("labels", "System.Tags") };
        let src = snapshot(vec![("labels", FieldValue::List(vec!["ui".into(), "misc".into()]))]);
        let (category, message) = expect_fail(&Case::new(integration(vec![m.clone()]), src.clone()).run());
        assert_eq!(category, ErrorCategory::MappingValueMissing);
        assert!(message.contains("\"misc\""), "{message}");

        let with_default = FieldMapping { default_right: Some(stext("other")), ..m };
        let out = Case::new(integration(vec![with_default]), src).run();
        assert_eq!(
            expect_write(&out).change("System.Tags"),
            Some(&FieldValue::List(vec!["frontend".into(), "other".into()]))
        );
        assert_eq!(out.notes.len(), 1, "{:?}", out.notes);
    }

    #[test]
    fn every_failing_field_is_named_with_the_first_category() {
        let i = integration(vec![priority(), assignee(UnmatchedUser::Fail, None), fm("summary", "System.Title")]);
        let src = snapshot(vec![
            ("priority", opt("Blocker")),
            ("assignee", FieldValue::User(erin())),
            ("summary", text("s")),
        ]);
        let (category, message) = expect_fail(&Case::new(i, src).run());
        assert_eq!(category, ErrorCategory::MappingValueMissing);
        assert!(message.contains("Blocker") && message.contains("erin@acme.test"), "{message}");
    }

    // Rule 5: defaults and clears.

    #[test]
    fn an_empty_source_writes_the_default_on_create() {
        let m = FieldMapping { default_right: Some(stext("Untitled")), ..fm("summary", "System.Title") };
        for (name, fields) in [
            ("null", vec![("summary", FieldValue::Null)]),
            ("empty list", vec![("summary", FieldValue::List(vec![]))]),
            ("empty text", vec![("summary", text(""))]),
        ] {
            let w = expect_write(&Case::new(integration(vec![m.clone()]), snapshot(fields)).run());
            assert_eq!(w.change("System.Title"), Some(&text("Untitled")), "{name}");
        }
    }

    #[test]
    fn a_default_is_written_on_update_only_when_ferry_wrote_a_real_value_before() {
        let m = FieldMapping { default_right: Some(stext("Untitled")), ..fm("summary", "System.Title") };
        let other = fm("description", "System.Description");
        // (case, prior fingerprint of the field, expected change of System.Title)
        let cases: Vec<(&str, Option<FieldValue>, Option<FieldValue>)> = vec![
            ("source cleared after Ferry wrote a value", Some(text("Login fails")), Some(text("Untitled"))),
            ("Ferry never wrote the field", None, None),
            ("Ferry wrote null before", Some(FieldValue::Null), None),
            ("Ferry already wrote the default", Some(text("Untitled")), None),
        ];
        for (name, prior, want) in cases {
            let mut fp = vec![("System.Description", text("old"))];
            if let Some(p) = prior {
                fp.push(("System.Title", p));
            }
            let src = snapshot(vec![("description", text("new")), ("summary", text(""))]);
            let c = Case::new(integration(vec![m.clone(), other.clone()]), src).update(fp);
            let w = expect_write(&c.run());
            assert_eq!(w.change("System.Title"), want.as_ref(), "{name}");
        }
    }

    #[test]
    fn a_default_never_replaces_a_real_source_value() {
        let m = FieldMapping { default_right: Some(stext("Untitled")), ..fm("summary", "System.Title") };
        let w = expect_write(&Case::new(integration(vec![m.clone()]), snapshot(vec![("summary", text("Real"))])).run());
        assert_eq!(w.change("System.Title"), Some(&text("Real")));
        let c = Case::new(integration(vec![m]), snapshot(vec![("summary", text("Real"))]))
            .update(vec![("System.Title", text("Untitled"))]);
        assert_eq!(expect_write(&c.run()).change("System.Title"), Some(&text("Real")));
    }

    #[test]
    fn a_cleared_source_without_default_writes_null_only_after_ferry_wrote_a_value() {
        let i = integration(vec![fm("summary", "System.Title"), fm("description", "System.Description")]);
        let src = snapshot(vec![("description", text("new")), ("summary", FieldValue::Null)]);
        let c = Case::new(i.clone(), src.clone())
            .update(vec![("System.Title", text("old")), ("System.Description", text("d"))]);
        let w = expect_write(&c.run());
        assert_eq!(w.change("System.Title"), Some(&FieldValue::Null));
        assert_eq!(w.mapped.get("System.Title"), Some(&FieldValue::Null));

        let c = Case::new(i.clone(), src.clone()).update(vec![("System.Description", text("d"))]);
        let w = expect_write(&c.run());
        assert_eq!(w.change("System.Title"), None);
        assert!(!w.mapped.contains_key("System.Title"));

        let w = expect_write(&Case::new(i, src).run());
        assert_eq!(w.change("System.Title"), None, "a create never writes null");
    }

    #[test]
    fn defaults_take_the_kind_of_the_mapping() {
        let cases = vec![
            (
                "plain value",
                FieldMapping { default_right: Some(Scalar::Number(5.0)), ..fm("f", "g") },
                FieldValue::Number(5.0),
            ),
            ("bool", FieldMapping { default_right: Some(Scalar::Bool(true)), ..fm("f", "g") }, FieldValue::Bool(true)),
            ("value with table", FieldMapping { default_right: Some(Scalar::Number(3.0)), ..priority() }, opt("3")),
            (
                "status",
                FieldMapping { kind: MappingKind::Status, default_right: Some(stext("New")), ..fm("f", "g") },
                opt("New"),
            ),
            (
                "rich text",
                FieldMapping { kind: MappingKind::RichText, default_right: Some(stext("n/a")), ..fm("f", "g") },
                FieldValue::RichText("<p>n/a</p>".into()),
            ),
        ];
        for (name, m, want) in cases {
            let target = m.right.clone().unwrap();
            let source = m.left.clone().unwrap();
            let empty = snapshot(vec![(source.as_str(), FieldValue::Null)]);
            let w = expect_write(&Case::new(integration(vec![m]), empty).run());
            assert_eq!(w.change(target.as_str()), Some(&want), "{name}");
        }
    }

    #[test]
    fn defaults_apply_per_target_side() {
        let m = FieldMapping { default_left: Some(stext("left default")), ..fm("summary", "System.Title") };
        let i = integration(vec![m, fm("description", "System.Description")]);
        let src = snapshot(vec![("description", text("d")), ("summary", FieldValue::Null)]);
        let w = expect_write(&Case::new(i.clone(), src).run());
        assert_eq!(w.change("System.Title"), None, "no default_right");
        let src = snapshot(vec![("System.Description", text("d")), ("System.Title", FieldValue::Null)]);
        let w = expect_write(&Case::new(i, src).flow(Flow::RightToLeft).run());
        assert_eq!(w.change("summary"), Some(&text("left default")));
    }

    // Rule 6: constants.

    #[test]
    fn a_constant_is_written_on_create_and_then_only_when_it_differs() {
        let constant = FieldMapping { left: None, constant: Some(stext("Jira")), ..fm("unused", "Custom.Origin") };
        let i = integration(vec![constant, fm("summary", "System.Title")]);
        let src = snapshot(vec![("summary", text("s2"))]);
        let w = expect_write(&Case::new(i.clone(), src.clone()).run());
        assert_eq!(w.change("Custom.Origin"), Some(&text("Jira")));

        let c = Case::new(i.clone(), src.clone())
            .update(vec![("Custom.Origin", text("Jira")), ("System.Title", text("s1"))]);
        let w = expect_write(&c.run());
        assert_eq!(w.changed_fields(), vec!["System.Title"]);
        assert_eq!(w.mapped.get("Custom.Origin"), Some(&text("Jira")));

        let c = Case::new(i, src).update(vec![("System.Title", text("s2"))]);
        let w = expect_write(&c.run());
        assert_eq!(w.changed_fields(), vec!["Custom.Origin"], "a fingerprint without it writes it once");
    }

    #[test]
    fn a_none_source_without_constant_writes_the_target_default() {
        let m = FieldMapping { right: None, default_left: Some(Scalar::Number(1.0)), ..fm("customfield_7", "unused") };
        let i = integration(vec![m]);
        let w = expect_write(&Case::new(i, snapshot(vec![])).flow(Flow::RightToLeft).run());
        assert_eq!(w.change("customfield_7"), Some(&FieldValue::Number(1.0)));
    }

    #[test]
    fn a_user_constant_is_resolved_in_the_directory() {
        let m = FieldMapping {
            left: None,
            kind: MappingKind::User,
            constant: Some(stext("Triage@Acme.test")),
            ..fm("unused", "System.AssignedTo")
        };
        let i = integration(vec![m]);
        let w = expect_write(&Case::new(i.clone(), snapshot(vec![])).with_user("triage@acme.test", ado_triage()).run());
        assert_eq!(w.change("System.AssignedTo"), Some(&FieldValue::User(ado_triage())));
        let (category, _) = expect_fail(&Case::new(i, snapshot(vec![])).run());
        assert_eq!(category, ErrorCategory::UserNotFound);
    }

    // Rule 7: users.

    #[test]
    fn a_user_matches_by_email_ignoring_case() {
        let src = snapshot(vec![("assignee", FieldValue::User(user("acc", Some("Erin@ACME.test"), None)))]);
        let c = Case::new(integration(vec![assignee(UnmatchedUser::Fail, None)]), src)
            .with_user("erin@acme.test", ado_erin());
        let out = c.run();
        assert_eq!(expect_write(&out).change("System.AssignedTo"), Some(&FieldValue::User(ado_erin())));
        assert!(out.notes.is_empty());
    }

    #[test]
    fn the_user_table_overrides_the_email_in_either_orientation() {
        let mut i = integration(vec![assignee(UnmatchedUser::Fail, None)]);
        i.users.rows = vec![("erin@jira.acme.test".into(), "erin@acme.test".into())];
        let jira_erin = user("acc", Some("erin@jira.acme.test"), None);
        let c = Case::new(i.clone(), snapshot(vec![("assignee", FieldValue::User(jira_erin.clone()))]))
            .with_user("erin@acme.test", ado_erin());
        assert_eq!(expect_write(&c.run()).change("System.AssignedTo"), Some(&FieldValue::User(ado_erin())));

        let c = Case::new(i, snapshot(vec![("System.AssignedTo", FieldValue::User(ado_erin()))]))
            .flow(Flow::RightToLeft)
            .with_user("erin@jira.acme.test", jira_erin.clone());
        assert_eq!(expect_write(&c.run()).change("assignee"), Some(&FieldValue::User(jira_erin)));
    }

    #[test]
    fn a_text_value_of_a_user_mapping_is_taken_as_an_email() {
        let c = Case::new(
            integration(vec![assignee(UnmatchedUser::Fail, None)]),
            snapshot(vec![("assignee", text("erin@acme.test"))]),
        )
        .with_user("erin@acme.test", ado_erin());
        assert_eq!(expect_write(&c.run()).change("System.AssignedTo"), Some(&FieldValue::User(ado_erin())));
    }

    fn unmatched_case(policy: UnmatchedUser, default: Option<&str>, source_user: UserRef) -> Case {
        let i = integration(vec![assignee(policy, default), fm("summary", "System.Title")]);
        Case::new(i, snapshot(vec![("assignee", FieldValue::User(source_user)), ("summary", text("s"))]))
            .with_user("triage@acme.test", ado_triage())
    }

    #[test]
    fn an_unmatched_user_under_default_gets_the_default_user_with_a_note() {
        let out = unmatched_case(UnmatchedUser::Default, Some("triage@acme.test"), erin()).run();
        assert_eq!(expect_write(&out).change("System.AssignedTo"), Some(&FieldValue::User(ado_triage())));
        assert!(
            out.notes.iter().any(|n| n.contains("erin@acme.test") && n.contains("triage@acme.test")),
            "{:?}",
            out.notes
        );
    }

    #[test]
    fn an_unmatched_user_under_default_without_a_default_is_left_unset_with_a_note() {
        let out = unmatched_case(UnmatchedUser::Default, None, erin()).run();
        let w = expect_write(&out);
        assert_eq!(w.changed_fields(), vec!["System.Title"]);
        assert!(!w.mapped.contains_key("System.AssignedTo"));
        assert!(out.notes.iter().any(|n| n.contains("no default user")), "{:?}", out.notes);
    }

    #[test]
    fn a_default_user_missing_from_the_target_fails_with_user_not_found() {
        let out = unmatched_case(UnmatchedUser::Default, Some("nobody@acme.test"), erin()).run();
        let (category, message) = expect_fail(&out);
        assert_eq!(category, ErrorCategory::UserNotFound);
        assert!(message.contains("nobody@acme.test") && message.contains("System.AssignedTo"), "{message}");
    }

    #[test]
    fn an_unmatched_user_under_skip_is_left_unset_and_the_rest_is_written() {
        let out = unmatched_case(UnmatchedUser::Skip, Some("triage@acme.test"), erin()).run();
        let w = expect_write(&out);
        assert_eq!(w.changed_fields(), vec!["System.Title"]);
        assert_eq!(
            out.notes,
            vec!["assignee -> System.AssignedTo: Erin Example <erin@acme.test> has no match in the target, skipped (unmatched: skip)".to_string()]
        );
    }

    #[test]
    fn an_unmatched_user_under_fail_fails_naming_the_user_and_field() {
        let (category, message) =
            expect_fail(&unmatched_case(UnmatchedUser::Fail, Some("triage@acme.test"), erin()).run());
        assert_eq!(category, ErrorCategory::UserNotFound);
        for part in ["Erin Example", "erin@acme.test", "assignee -> System.AssignedTo", "unmatched: fail"] {
            assert!(message.contains(part), "missing {part:?} in {message}");
        }
    }

    #[test]
    fn a_hidden_email_counts_as_unmatched() {
        let hidden = user("acc-x", None, Some("Xavier"));
        let out = unmatched_case(UnmatchedUser::Skip, None, hidden.clone()).run();
        assert!(out.notes.iter().any(|n| n.contains("Xavier (e-mail hidden)")), "{:?}", out.notes);
        let (category, message) = expect_fail(&unmatched_case(UnmatchedUser::Fail, None, hidden).run());
        assert_eq!(category, ErrorCategory::UserNotFound);
        assert!(message.contains("Xavier"), "{message}");
    }

    #[test]
    fn an_unmatched_user_message_shows_the_user_table_override() {
        let mut c = unmatched_case(UnmatchedUser::Fail, None, erin());
        c.integration.users.rows = vec![("erin@acme.test".into(), "erin.e@acme.test".into())];
        let (_, message) = expect_fail(&c.run());
        assert!(message.contains("user table: erin.e@acme.test"), "{message}");
    }

    #[test]
    fn a_cleared_source_user_unassigns_only_after_ferry_assigned() {
        let i = integration(vec![assignee(UnmatchedUser::Default, None), fm("summary", "System.Title")]);
        let src = snapshot(vec![("assignee", FieldValue::Null), ("summary", text("new"))]);
        let c = Case::new(i.clone(), src.clone())
            .update(vec![("System.AssignedTo", FieldValue::User(ado_erin())), ("System.Title", text("old"))]);
        assert_eq!(expect_write(&c.run()).change("System.AssignedTo"), Some(&FieldValue::Null));

        let c = Case::new(i, src).update(vec![("System.Title", text("old"))]);
        assert_eq!(expect_write(&c.run()).change("System.AssignedTo"), None);
    }

    #[test]
    fn a_cleared_source_user_gets_the_default_user_per_the_default_rule() {
        let i = integration(vec![assignee(UnmatchedUser::Default, Some("triage@acme.test"))]);
        let src = snapshot(vec![("assignee", FieldValue::Null)]);
        let c = Case::new(i.clone(), src.clone()).with_user("triage@acme.test", ado_triage());
        assert_eq!(expect_write(&c.run()).change("System.AssignedTo"), Some(&FieldValue::User(ado_triage())));
        let c = Case::new(i, src)
            .with_user("triage@acme.test", ado_triage())
            .update(vec![("System.AssignedTo", FieldValue::User(ado_erin()))]);
        assert_eq!(expect_write(&c.run()).change("System.AssignedTo"), Some(&FieldValue::User(ado_triage())));
    }

    #[test]
    fn the_same_user_compares_by_id_and_is_unchanged() {
        let src = snapshot(vec![("assignee", FieldValue::User(erin()))]);
        let mut stale = ado_erin();
        stale.display_name = Some("Erin (old name)".into());
        let c = Case::new(integration(vec![assignee(UnmatchedUser::Fail, None)]), src)
            .with_user("erin@acme.test", ado_erin())
            .update(vec![("System.AssignedTo", FieldValue::User(stale))]);
        assert_eq!(expect_skip(&c.run()).0, SkipReason::Unchanged);
    }

    #[test]
    fn needed_target_emails_are_overridden_lowercased_and_unique() {
        let mut i = integration(vec![
            assignee(UnmatchedUser::Default, Some("Triage@Acme.test")),
            FieldMapping { kind: MappingKind::User, ..fm("reporter", "Custom.Reporter") },
            FieldMapping {
                kind: MappingKind::User,
                direction: Direction::RightToLeft,
                ..fm("watcher", "Custom.Watcher")
            },
            FieldMapping {
                left: None,
                kind: MappingKind::User,
                constant: Some(stext("bot@acme.test")),
                ..fm("unused", "Custom.Owner")
            },
            fm("summary", "System.Title"),
        ]);
        i.users.rows = vec![("pat@jira.acme.test".into(), "Pat@acme.test".into())];
        let src = snapshot(vec![
            ("assignee", FieldValue::User(user("a", Some("pat@JIRA.acme.test"), None))),
            ("reporter", FieldValue::User(user("b", Some("pat@acme.test"), None))),
            ("watcher", FieldValue::User(user("c", Some("w@acme.test"), None))),
            ("summary", text("not@an.email.field")),
        ]);
        assert_eq!(
            needed_target_emails(&i, Flow::LeftToRight, &src),
            vec!["bot@acme.test", "pat@acme.test", "triage@acme.test"]
        );
        let hidden = snapshot(vec![("assignee", FieldValue::User(user("a", None, None)))]);
        assert_eq!(needed_target_emails(&i, Flow::LeftToRight, &hidden), vec!["bot@acme.test", "triage@acme.test"]);
    }

    // Rule 8: rich text and status.

    #[test]
    fn rich_text_mappings_escape_plain_text_and_pass_html() {
        let m = FieldMapping { kind: MappingKind::RichText, ..fm("description", "System.Description") };
        let cases = vec![
            (text("a < b & c\nnext"), FieldValue::RichText("<p>a &lt; b &amp; c<br>next</p>".into())),
            (FieldValue::RichText("<p><b>bold</b></p>".into()), FieldValue::RichText("<p><b>bold</b></p>".into())),
            (opt("High"), FieldValue::RichText("<p>High</p>".into())),
        ];
        for (v, want) in cases {
            let w = expect_write(
                &Case::new(integration(vec![m.clone()]), snapshot(vec![("description", v.clone())])).run(),
            );
            assert_eq!(w.change("System.Description"), Some(&want), "{v:?}");
        }
    }

    #[test]
    fn a_status_mapping_writes_an_option_with_or_without_a_table() {
        let plain = FieldMapping { kind: MappingKind::Status, ..fm("status", "System.State") };
        let w = expect_write(&Case::new(integration(vec![plain]), snapshot(vec![("status", text("Done"))])).run());
        assert_eq!(w.change("System.State"), Some(&opt("Done")));

        let tabled = FieldMapping {
            kind: MappingKind::Status,
            values: Some(table(&[("To Do", "New"), ("In Progress", "Active"), ("Done", "Closed")])),
            ..fm("status", "System.State")
        };
        let w = expect_write(
            &Case::new(integration(vec![tabled.clone()]), snapshot(vec![("status", opt("In Progress"))])).run(),
        );
        assert_eq!(w.change("System.State"), Some(&opt("Active")));
        let (category, _) =
            expect_fail(&Case::new(integration(vec![tabled]), snapshot(vec![("status", opt("Blocked"))])).run());
        assert_eq!(category, ErrorCategory::MappingValueMissing);
    }

    // Rule 9: remote id.

    fn with_remote_id() -> Integration {
        let mut i = integration(vec![fm("summary", "System.Title")]);
        i.remote = RemoteRefs {
            right_id_field: Some(key("Custom.JiraKey")),
            left_id_field: Some(key("customfield_10050")),
            ..Default::default()
        };
        i
    }

    #[test]
    fn the_remote_id_is_written_on_create() {
        let w = expect_write(&Case::new(with_remote_id(), snapshot(vec![("summary", text("s"))])).run());
        assert!(w.create);
        assert_eq!(w.changed_fields(), vec!["System.Title", "Custom.JiraKey"]);
        assert_eq!(w.change("Custom.JiraKey"), Some(&text("APP-1")));
    }

    #[test]
    fn the_remote_id_is_written_on_update_only_when_the_fingerprint_lacks_it() {
        let src = snapshot(vec![("summary", text("s"))]);
        let c = Case::new(with_remote_id(), src.clone()).update(vec![("System.Title", text("s"))]);
        let w = expect_write(&c.run());
        assert!(!w.create);
        assert_eq!(w.changed_fields(), vec!["Custom.JiraKey"]);

        let c = Case::new(with_remote_id(), src)
            .update(vec![("System.Title", text("s")), ("Custom.JiraKey", text("APP-1"))]);
        assert_eq!(expect_skip(&c.run()).0, SkipReason::Unchanged);
    }

    #[test]
    fn the_remote_id_goes_to_the_flows_target_side() {
        let mut src = snapshot(vec![("System.Title", text("s"))]);
        src.key = "42".into();
        let w = expect_write(&Case::new(with_remote_id(), src).flow(Flow::RightToLeft).run());
        assert_eq!(w.change("customfield_10050"), Some(&text("42")));
    }

    // Rule 10: unchanged.

    #[test]
    fn an_update_writes_only_the_fields_that_differ() {
        let i = integration(vec![fm("summary", "System.Title"), fm("description", "System.Description"), priority()]);
        let src = snapshot(vec![("summary", text("same")), ("description", text("new")), ("priority", opt("High"))]);
        let c = Case::new(i, src).update(vec![
            ("System.Title", text("same")),
            ("System.Description", text("old")),
            ("Priority", FieldValue::Number(2.0)),
        ]);
        let w = expect_write(&c.run());
        assert!(!w.create);
        assert_eq!(w.changed_fields(), vec!["System.Description"]);
        assert_eq!(w.mapped.len(), 3, "mapped holds every mapped field: {:?}", w.mapped);
    }

    #[test]
    fn equal_values_across_kinds_are_unchanged() {
        let cases: Vec<(&str, FieldValue, FieldValue)> = vec![
            ("text vs option", text("High"), opt("High")),
            ("integral numbers", FieldValue::Number(2.0), FieldValue::Number(2.0)),
            ("number vs its text", FieldValue::Number(2.0), text("2")),
        ];
        for (name, source, prior) in cases {
            let c =
                Case::new(integration(vec![fm("f", "g")]), snapshot(vec![("f", source)])).update(vec![("g", prior)]);
            assert_eq!(expect_skip(&c.run()).0, SkipReason::Unchanged, "{name}");
        }
    }

    #[test]
    fn nothing_differing_skips_as_unchanged_with_a_detail() {
        let c = Case::new(integration(vec![fm("summary", "System.Title")]), snapshot(vec![("summary", text("s"))]))
            .update(vec![("System.Title", text("s"))]);
        let (reason, detail) = expect_skip(&c.run());
        assert_eq!(reason, SkipReason::Unchanged);
        assert!(detail.contains("APP-1"), "{detail}");
    }

    #[test]
    fn a_linked_entity_without_a_fingerprint_writes_every_mapped_value() {
        let mut c = Case::new(integration(vec![fm("summary", "System.Title")]), snapshot(vec![("summary", text("s"))]));
        c.linked = true;
        let w = expect_write(&c.run());
        assert!(!w.create);
        assert_eq!(w.changed_fields(), vec!["System.Title"]);
    }

    #[test]
    fn a_create_writes_every_non_empty_value_and_ignores_a_stale_fingerprint() {
        let i = integration(vec![fm("summary", "System.Title"), fm("description", "System.Description")]);
        let mut c = Case::new(i, snapshot(vec![("summary", text("s")), ("description", text(""))]));
        c.target_fingerprint = Some(fingerprint(Side::Right, values(vec![("System.Title", text("s"))])));
        let w = expect_write(&c.run());
        assert!(w.create);
        assert_eq!(w.changes, vec![("System.Title".to_string(), text("s"))]);
    }

    #[test]
    fn skip_reasons_have_stable_names() {
        let cases = [
            (SkipReason::Filtered, "filtered"),
            (SkipReason::Echo, "echo"),
            (SkipReason::Unchanged, "unchanged"),
            (SkipReason::NoMappedFields, "no_mapped_fields"),
        ];
        for (r, s) in cases {
            assert_eq!(r.as_str(), s);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{s}\""));
        }
    }

    // Reverse flow after a write.

    #[test]
    fn synced_source_values_make_the_reverse_flow_see_no_change() {
        let both_ways = vec![
            fm("summary", "System.Title"),
            priority(),
            assignee(UnmatchedUser::Fail, None),
            l2r("description", "System.Description"),
            FieldMapping { left: None, constant: Some(stext("Jira")), ..fm("unused", "Custom.Origin") },
        ];
        let i = integration(both_ways);
        let jira = snapshot(vec![
            ("summary", text("Login fails")),
            ("priority", opt("High")),
            ("assignee", FieldValue::User(erin())),
            ("description", text("only left to right")),
        ]);
        let synced = synced_source_values(&i, Flow::LeftToRight, &jira);
        assert_eq!(synced.keys().map(String::as_str).collect::<Vec<_>>(), vec!["assignee", "priority", "summary"]);

        let c = Case::new(i.clone(), jira).with_user("erin@acme.test", ado_erin());
        let w = expect_write(&c.run());
        // The target as the ADO connector reads it back after the write.
        let mut ado = snapshot(vec![]);
        ado.fields = w.mapped;
        ado.key = "42".into();
        let mut back = Case::new(i, ado).flow(Flow::RightToLeft).with_user("erin@acme.test", erin());
        back.linked = true;
        back.target_fingerprint = Some(fingerprint(Side::Left, synced));
        assert_eq!(expect_skip(&back.run()).0, SkipReason::Unchanged);
    }

    // Rule 12: missing is not empty.

    #[test]
    fn a_missing_source_field_leaves_the_target_alone_and_the_rest_syncs() {
        let i = integration(vec![fm("summary", "System.Title"), fm("description", "System.Description")]);
        // Jira stopped returning `summary` (a field-context change); the description changed.
        let src = snapshot(vec![("description", text("new"))]);
        let c = Case::new(i, src).update(vec![("System.Title", text("kept")), ("System.Description", text("old"))]);
        let out = c.run();
        let w = expect_write(&out);
        assert_eq!(w.changed_fields(), vec!["System.Description"]);
        assert!(!w.mapped.contains_key("System.Title"), "the fingerprint keeps its last value: {:?}", w.mapped);
        assert_eq!(out.missing, vec![key("summary")]);
    }

    #[test]
    fn an_explicit_null_clears_where_a_missing_field_does_not() {
        let i = integration(vec![fm("summary", "System.Title")]);
        let prior = vec![("System.Title", text("kept"))];
        let cleared = Case::new(i.clone(), snapshot(vec![("summary", FieldValue::Null)])).update(prior.clone()).run();
        assert_eq!(expect_write(&cleared).change("System.Title"), Some(&FieldValue::Null));
        assert!(cleared.missing.is_empty());
        let missing = Case::new(i, snapshot(vec![])).update(prior).run();
        assert_eq!(expect_skip(&missing).0, SkipReason::Unchanged);
        assert_eq!(missing.missing, vec![key("summary")]);
    }

    #[test]
    fn a_missing_source_field_gets_no_default_even_on_create() {
        let m = FieldMapping { default_right: Some(stext("Untitled")), ..fm("summary", "System.Title") };
        let i = integration(vec![m, fm("description", "System.Description")]);
        let out = Case::new(i, snapshot(vec![("description", text("d"))])).run();
        let w = expect_write(&out);
        assert_eq!(w.changed_fields(), vec!["System.Description"]);
        assert_eq!(out.missing, vec![key("summary")]);
    }

    #[test]
    fn a_missing_user_field_is_not_an_unassignment() {
        let i = integration(vec![
            assignee(UnmatchedUser::Default, Some("triage@acme.test")),
            fm("description", "System.Description"),
        ]);
        let c = Case::new(i, snapshot(vec![("description", text("new"))]))
            .with_user("triage@acme.test", ado_triage())
            .update(vec![("System.AssignedTo", FieldValue::User(ado_erin())), ("System.Description", text("old"))]);
        let out = c.run();
        assert_eq!(expect_write(&out).changed_fields(), vec!["System.Description"]);
        assert_eq!(out.missing, vec![key("assignee")]);
    }

    #[test]
    fn constants_and_the_remote_id_are_never_missing() {
        let constant = FieldMapping { left: None, constant: Some(stext("Jira")), ..fm("unused", "Custom.Origin") };
        let mut i = integration(vec![constant, fm("summary", "System.Title")]);
        i.remote.right_id_field = Some(key("Custom.JiraKey"));
        let out = Case::new(i, snapshot(vec![])).run();
        let w = expect_write(&out);
        assert_eq!(w.changed_fields(), vec!["Custom.Origin", "Custom.JiraKey"]);
        assert_eq!(out.missing, vec![key("summary")]);
    }
}
