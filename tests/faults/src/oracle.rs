//! The end-of-run checks: every entity a person filed has exactly one linked twin, every
//! linked pair holds mapped values on both sides, no person's last edit was lost, and
//! Ferry never wrote in reaction to its own write.

use crate::workload::{canonical, Workload};
use crate::world::{World, BOT};
use anyhow::Result;
use ferry_domain::ports::Connector;
use ferry_domain::{EntityId, EntitySnapshot, FailureRecord, FieldKey, FieldValue, Flow, Side};
use ferry_mapping::{map_change, needed_target_emails, Decision, MappingInput, UserDirectory};
use ferry_sim::Revision;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What the oracle found; every list holds readable findings (at most a few printed).
#[derive(Debug, Default)]
pub struct Verdict {
    pub entities: BTreeMap<Side, usize>,
    pub pairs: usize,
    pub linked: usize,
    pub lost: Vec<String>,
    pub duplicates: Vec<String>,
    pub not_converged: Vec<String>,
    pub lost_updates: Vec<String>,
    pub checked_edits: usize,
    pub ferry_writes: usize,
    pub ferry_creates: usize,
    pub echoes: Vec<String>,
    pub failures: Vec<FailureRecord>,
    pub dead_letters: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.lost.is_empty()
            && self.duplicates.is_empty()
            && self.not_converged.is_empty()
            && self.lost_updates.is_empty()
            && self.echoes.is_empty()
            && self.failures.is_empty()
            && self.dead_letters.is_empty()
    }
}

struct Side2 {
    conn: Arc<dyn Connector>,
    /// By entity id.
    snapshots: HashMap<String, EntitySnapshot>,
    /// By entity id: the history, creation first.
    history: HashMap<String, Vec<Revision>>,
    /// Key -> id.
    ids: HashMap<String, String>,
}

pub async fn check(world: &World, work: &mut Workload, jira_ids: &HashMap<String, String>) -> Result<Verdict> {
    let mut v = Verdict::default();
    let integration = &world.integration;
    let id = world.id();

    let mut sides: BTreeMap<Side, Side2> = BTreeMap::new();
    for side in [Side::Left, Side::Right] {
        let conn = world.reader(side).await?;
        let scope = world.scope(side);
        let mut fields = side_fields(integration, side);
        if let Some(f) = integration.remote.id_field(side) {
            fields.push(f.clone());
        }
        let keys: Vec<String> = match side {
            Side::Left => world.jira.issue_keys(&scope.project),
            Side::Right => world.ado.work_item_ids(&scope.project).iter().map(u64::to_string).collect(),
        };
        let mut s =
            Side2 { conn: conn.clone(), snapshots: HashMap::new(), history: HashMap::new(), ids: HashMap::new() };
        for key in keys {
            let Some(snap) = conn.get(&scope, &EntityId::new(key.clone()), &fields).await? else { continue };
            let history = match side {
                Side::Left => world.jira.history(&key),
                Side::Right => key.parse().ok().and_then(|n| world.ado.history(n)),
            }
            .unwrap_or_default();
            s.ids.insert(snap.key.clone(), snap.id.as_str().to_string());
            s.history.insert(snap.id.as_str().to_string(), history);
            s.snapshots.insert(snap.id.as_str().to_string(), snap);
        }
        v.entities.insert(side, s.snapshots.len());
        sides.insert(side, s);
    }

    // Duplicates: Ferry-created entities carry their source's key in the remote-id
    // field; two with the same source are one too many.
    for side in [Side::Left, Side::Right] {
        let s = &sides[&side];
        let Some(field) = integration.remote.id_field(side) else { continue };
        let mut by_source: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (eid, snap) in &s.snapshots {
            let by_ferry = s.history.get(eid).and_then(|h| h.first()).is_some_and(|r| r.author == BOT);
            if !by_ferry {
                continue;
            }
            v.ferry_creates += 1;
            let source = snap.field(field).and_then(FieldValue::key_string).unwrap_or_else(|| "(none)".into());
            by_source.entry(source).or_default().push(snap.key.clone());
        }
        for (source, keys) in by_source.into_iter().filter(|(_, k)| k.len() > 1) {
            v.duplicates.push(format!(
                "{} holds {} entities for {source}: {}",
                side.as_str(),
                keys.len(),
                keys.join(", ")
            ));
        }
    }

    // Lost entities, links.
    for pair in work.pairs.iter_mut() {
        v.pairs += 1;
        let (origin_id, origin_key) = pair.ids[&pair.origin].clone();
        let link = world.state.get_link(id, pair.origin, &origin_id).await?;
        let Some(link) = link else {
            v.lost.push(format!(
                "{origin_key} ({}, round {}) has no linked twin",
                pair.origin.as_str(),
                pair.created_round
            ));
            continue;
        };
        let twin = link.side(pair.origin.other()).clone();
        if !sides[&pair.origin.other()].snapshots.contains_key(twin.id.as_str()) {
            v.lost.push(format!("{origin_key} is linked to {}, which does not exist", twin.key));
            continue;
        }
        pair.ids.insert(pair.origin.other(), (twin.id.clone(), twin.key.clone()));
        v.linked += 1;
    }

    // Entities that are neither a person's nor the linked twin of one: one too many.
    for side in [Side::Left, Side::Right] {
        let known: std::collections::HashSet<&str> =
            work.pairs.iter().filter_map(|p| p.ids.get(&side)).map(|(i, _)| i.as_str()).collect();
        let field = integration.remote.id_field(side);
        let mut extra: Vec<&EntitySnapshot> =
            sides[&side].snapshots.values().filter(|s| !known.contains(s.id.as_str())).collect();
        extra.sort_by_key(|s| s.updated);
        for snap in extra {
            let first = sides[&side].history.get(snap.id.as_str()).and_then(|h| h.first());
            let remote = field.and_then(|f| snap.field(f)).and_then(FieldValue::key_string).unwrap_or_default();
            v.duplicates.push(format!(
                "{} {} belongs to no pair: created by {} at {}, remote id {remote:?}",
                side.as_str(),
                snap.key,
                first.map_or("?", |r| r.author.as_str()),
                first.map_or("?".into(), |r| r.at.format("%H:%M:%S%.3f").to_string()),
            ));
        }
    }

    // Convergence: each linked pair's values on one side are the mapping of the other's.
    let mut directories: BTreeMap<Side, UserDirectory> = BTreeMap::new();
    let mut looked_up: BTreeMap<Side, HashMap<String, bool>> = BTreeMap::new();
    for pair in work.pairs.iter().filter(|p| p.ids.len() == 2) {
        for flow in [Flow::LeftToRight, Flow::RightToLeft] {
            let (src, dst) = (flow.source(), flow.target());
            let Some(source) = sides[&src].snapshots.get(pair.ids[&src].0.as_str()) else { continue };
            let Some(target) = sides[&dst].snapshots.get(pair.ids[&dst].0.as_str()) else { continue };
            let dir = directories.entry(dst).or_default();
            let seen = looked_up.entry(dst).or_default();
            for email in needed_target_emails(integration, flow, source) {
                if seen.insert(email.to_ascii_lowercase(), true).is_none() {
                    if let Some(u) = sides[&dst].conn.find_user_by_email(&email).await? {
                        dir.insert(&email, u);
                    }
                }
            }
            let out = map_change(&MappingInput {
                integration,
                flow,
                source,
                users: dir,
                source_integration_user: None,
                source_fingerprint: None,
                target_fingerprint: None,
                linked: true,
                matches_filter: true,
            });
            match out.decision {
                Decision::Write { mapped, .. } => {
                    for (field, want) in mapped {
                        let got = target.field(&field).cloned().unwrap_or(FieldValue::Null);
                        if !same(&got, &want) {
                            v.not_converged.push(format!(
                                "{} {field}: {} holds {}, the mapping of {} gives {}",
                                flow.as_str(),
                                target.key,
                                short(&got),
                                source.key,
                                short(&want)
                            ));
                        }
                    }
                }
                Decision::Fail { message, .. } => {
                    v.not_converged.push(format!("{} {}: the mapping fails: {message}", flow.as_str(), source.key))
                }
                Decision::Skip { .. } => {}
            }
        }
    }

    // Lost updates: a person's last edit of a field, not concurrent with one on the
    // other side, is what both sides hold at the end.
    for pair in work.pairs.iter().filter(|p| p.ids.len() == 2) {
        for (f, edit) in pair.last.iter().filter(|(_, e)| !e.conflicted) {
            v.checked_edits += 1;
            for side in [Side::Left, Side::Right] {
                let (eid, key) = &pair.ids[&side];
                let snap = sides[&side].snapshots.get(eid.as_str());
                let got = canonical(*f, side, snap.and_then(|s| s.field(&FieldKey::new(f.key(side)))), jira_ids);
                if got.as_deref() != Some(edit.value.as_str()) {
                    let story_of = |s: Side| {
                        let (id, key) = &pair.ids[&s];
                        format!("{key}: {}", story(sides[&s].history.get(id.as_str()).map_or(&[][..], Vec::as_slice)))
                    };
                    v.lost_updates.push(format!(
                        "{key} {:?}: {} (round {}, on {}) edited it to {:?}, {} holds {:?}; {}; {}",
                        f,
                        if edit.side == side { "a person here" } else { "a person on the other side" },
                        edit.round,
                        edit.side.as_str(),
                        edit.value,
                        side.as_str(),
                        got,
                        story_of(Side::Left),
                        story_of(Side::Right)
                    ));
                }
            }
        }
    }

    // Echo writes: a Ferry write of mapped fields to an entity with no person change of
    // its twin since Ferry's previous write to that entity.
    let mapped_keys: BTreeMap<Side, Vec<String>> = [Side::Left, Side::Right]
        .into_iter()
        .map(|side| (side, side_fields(integration, side).iter().map(|k| k.as_str().to_string()).collect()))
        .collect();
    let touches = |side: Side, r: &Revision| r.created || r.fields.iter().any(|f| mapped_keys[&side].contains(f));
    for pair in work.pairs.iter().filter(|p| p.ids.len() == 2) {
        for side in [Side::Left, Side::Right] {
            let (eid, key) = &pair.ids[&side];
            let (tid, _) = &pair.ids[&side.other()];
            let own = sides[&side].history.get(eid.as_str()).cloned().unwrap_or_default();
            let twin = sides[&side.other()].history.get(tid.as_str()).cloned().unwrap_or_default();
            let histories = Histories {
                own: &own,
                twin: &twin,
                own_touch: &|r| touches(side, r),
                twin_touch: &|r| touches(side.other(), r),
                remote_id: integration.remote.id_field(side.other()).map(|f| f.as_str()),
            };
            let (writes, echoes) = unexplained_writes(&histories);
            v.ferry_writes += writes;
            for (r, previous) in echoes {
                v.echoes.push(format!(
                    "{key} written at {} ({}) with no person change of its twin {} since Ferry's write at {}; \
                     {key}: {}; {}: {}",
                    r.at.format("%H:%M:%S%.3f"),
                    r.fields.join(","),
                    pair.ids[&side.other()].1,
                    previous.map_or("-".into(), |p| p.format("%H:%M:%S%.3f").to_string()),
                    story(&own),
                    pair.ids[&side.other()].1,
                    story(&twin),
                ));
            }
        }
    }

    v.failures = world.state.list_failures(Some(id)).await?;
    v.dead_letters = world
        .dead_letters()
        .await?
        .into_iter()
        .filter(|(_, body)| body.contains(id.as_str()))
        .map(|(q, body)| format!("{}: {}", q.as_str(), body.chars().take(200).collect::<String>()))
        .collect();
    Ok(v)
}

/// A history in one line: `who@time[fields]`, creation marked `+`.
fn story(h: &[Revision]) -> String {
    h.iter()
        .map(|r| {
            let who = if r.author == BOT { "ferry" } else { r.author.split('@').next().unwrap_or("?") };
            format!("{}{who}@{}[{}]", if r.created { "+" } else { "" }, r.at.format("%M:%S%.3f"), r.fields.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Revisions of one entity by Ferry closer together than this are one write.
const WRITE_SPAN_MS: i64 = 500;

/// Every field of a side the integration maps (to or from it, constants included).
fn side_fields(integration: &ferry_domain::Integration, side: Side) -> Vec<FieldKey> {
    let mut out: Vec<FieldKey> = Vec::new();
    for m in &integration.fields {
        let key = if side == Side::Left { &m.left } else { &m.right };
        if let Some(k) = key.as_ref().filter(|k| !out.contains(k)) {
            out.push(k.clone());
        }
    }
    out
}

/// Values compare as the engine compares them; rich text by its text (the ADF ↔ HTML
/// conversions may render the same content with other markup).
fn same(a: &FieldValue, b: &FieldValue) -> bool {
    match (a, b) {
        (FieldValue::RichText(x), FieldValue::RichText(y)) => plain(x) == plain(y),
        _ => ferry_mapping::same_value(a, b),
    }
}

fn plain(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn short(v: &FieldValue) -> String {
    let s = match v {
        FieldValue::User(u) => u.email.clone().unwrap_or_else(|| u.id.clone()),
        other => other.key_string().unwrap_or_else(|| "null".into()),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// One entity's history and its twin's, as the echo check reads them.
struct Histories<'a> {
    own: &'a [Revision],
    twin: &'a [Revision],
    /// Whether a revision of `own` / `twin` touches a mapped field (or created it).
    own_touch: &'a dyn Fn(&Revision) -> bool,
    twin_touch: &'a dyn Fn(&Revision) -> bool,
    /// The twin's field that receives `own`'s key.
    remote_id: Option<&'a str>,
}

/// Ferry's writes in `own`'s history, each with Ferry's write before it.
type Writes<'a> = Vec<(&'a Revision, Option<chrono::DateTime<chrono::Utc>>)>;

/// Ferry's writes of mapped fields to `own` that no person change of its twin explains
/// (echo writes), each with Ferry's write to `own` before it; and how many of Ferry's
/// writes were checked. A write is explained by a person's change of the twin since
/// Ferry's previous write to `own`. Not checked: the writes of a create Ferry made of
/// `own`, up to its key's write-back ([`create_completed_at`]); the revisions of one
/// write (closer together than [`WRITE_SPAN_MS`]); and Ferry's first write to a
/// person's entity after creating its twin, that create's follow-up (the twin's key and
/// the values its system filled in), which the person's create explains; a person's
/// change of the twin before the follow-up explains the write after it.
fn unexplained_writes<'a>(h: &Histories<'a>) -> (usize, Writes<'a>) {
    let person_changes: Vec<_> = h.twin.iter().filter(|r| r.author != BOT && (h.twin_touch)(r)).map(|r| r.at).collect();
    let create_done = create_completed_at(h.own, h.twin, h.remote_id);
    let twin_created = h.twin.iter().find(|t| t.author == BOT && t.created).map(|t| t.at);
    let (mut writes, mut echoes) = (0, Vec::new());
    let mut previous: Option<chrono::DateTime<chrono::Utc>> = None;
    // Person changes of the twin after this explain Ferry's next write.
    let mut since: Option<chrono::DateTime<chrono::Utc>> = None;
    let mut in_follow_up = false;
    for r in h.own.iter().filter(|r| r.author == BOT && (h.own_touch)(r)) {
        if r.created || create_done.is_some_and(|done| r.at <= done) {
            previous = Some(r.at);
            if r.created {
                // A create carries the twin as its command read it, which may be older
                // than person changes made before the create ran (a create retried after
                // the search settle): only the twin's creation is surely in it.
                since = Some(h.twin.first().map_or(r.at, |t| t.at.min(r.at)));
            }
            continue;
        }
        // One write can be several revisions (a status reached in transition hops); a
        // reaction to a write takes at least a poll, seconds later.
        if previous.is_some_and(|p| r.at - p < chrono::Duration::milliseconds(WRITE_SPAN_MS)) {
            previous = Some(r.at);
            if !in_follow_up {
                since = previous;
            }
            continue;
        }
        writes += 1;
        let create_follow_up = previous.is_none() && twin_created.is_some_and(|c| c <= r.at);
        let reason = create_follow_up || person_changes.iter().any(|t| *t <= r.at && since.is_none_or(|s| *t > s));
        if !reason {
            echoes.push((r, previous));
        }
        previous = Some(r.at);
        // The follow-up carries the twin's key and its system's defaults, not what people
        // changed on the twin since Ferry created it: the reverse direction carries that
        // (an adoption keeps it on the twin), and it explains Ferry's next write.
        in_follow_up = create_follow_up;
        since = if create_follow_up { twin_created } else { previous };
    }
    (writes, echoes)
}

/// When Ferry created `own`, the time its create finished: the create's write-back of
/// `own`'s key (`remote_id`, a field of the twin) to the twin. Ferry's writes to `own` up to
/// then belong to that create: one that failed half-way (a stale revision on Azure DevOps'
/// state step after the work item was made) completes on its retry, seconds later.
fn create_completed_at(
    own: &[Revision],
    twin: &[Revision],
    remote_id: Option<&str>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let created = own.first().filter(|c| c.author == BOT && c.created)?;
    let remote_id = remote_id?;
    twin.iter().find(|t| t.author == BOT && t.at >= created.at && t.fields.iter().any(|f| f == remote_id)).map(|t| t.at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(author: &str, secs: i64, fields: &[&str], created: bool) -> Revision {
        Revision {
            author: author.into(),
            at: chrono::DateTime::from_timestamp(1_795_000_000 + secs, 0).expect("in range"),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            created,
            new_revision: true,
        }
    }

    #[test]
    fn a_ferry_create_lasts_until_its_key_is_written_back_to_the_twin() {
        let own = [rev(BOT, 10, &[], true), rev(BOT, 14, &["System.State"], false)];
        let twin = [
            rev("alice@acme.test", 1, &[], true),
            rev(BOT, 12, &["summary"], false),
            rev(BOT, 15, &["customfield_10050"], false),
        ];
        assert_eq!(create_completed_at(&own, &twin, Some("customfield_10050")), Some(twin[2].at));
        assert_eq!(create_completed_at(&own, &twin, None), None, "no remote id: no write-back to wait for");
        let persons = [rev("bob@acme.test", 10, &[], true)];
        assert_eq!(create_completed_at(&persons, &twin, Some("customfield_10050")), None, "a person's create");
    }

    /// Which of Ferry's writes to a person's entity `APP-1` (created at 0) are echoes, given
    /// its twin Ferry created at 10 and the twin's other revisions.
    fn echoes_of(own_writes: &[(i64, &str)], twin_after_create: &[(&str, i64)]) -> Vec<i64> {
        let mut own = vec![rev("carol@acme.test", 0, &[], true)];
        own.extend(own_writes.iter().map(|(at, f)| rev(BOT, *at, &[f], false)));
        let mut twin = vec![rev(BOT, 10, &[], true)];
        twin.extend(twin_after_create.iter().map(|(who, at)| rev(who, *at, &["System.Title"], false)));
        let h = Histories {
            own: &own,
            twin: &twin,
            own_touch: &|_| true,
            twin_touch: &|_| true,
            remote_id: Some("Custom.JiraKey"),
        };
        let start = chrono::DateTime::from_timestamp(1_795_000_000, 0).expect("in range");
        unexplained_writes(&h).1.into_iter().map(|(r, _)| (r.at - start).num_seconds()).collect()
    }

    #[test]
    fn a_ferry_write_is_an_echo_unless_a_person_changed_the_twin_since_ferrys_last_write() {
        let bob = "bob@acme.test";
        // (Ferry's writes to APP-1 (at, field), the twin's revisions after its create
        // (who, at), the writes that are echoes)
        let follow_up = (20, "customfield_10050");
        type Row<'a> = (&'a [(i64, &'a str)], &'a [(&'a str, i64)], &'a [i64]);
        let table: [Row; 7] = [
            // The create's follow-up is explained by the person's create.
            (&[follow_up], &[], &[]),
            (&[follow_up, (40, "summary")], &[], &[40]),
            (&[follow_up, (40, "summary")], &[(bob, 30)], &[]),
            (&[follow_up, (40, "summary"), (60, "summary")], &[(bob, 30)], &[60]),
            (&[follow_up, (40, "summary"), (60, "summary")], &[(bob, 30), (bob, 50)], &[]),
            // Ferry's own write to the twin explains nothing.
            (&[follow_up, (40, "summary")], &[(BOT, 30)], &[40]),
            // A person's change of the twin before the follow-up, carried by a later write.
            (&[follow_up, (40, "summary")], &[(bob, 11)], &[]),
        ];
        for (writes, twin, want) in table {
            assert_eq!(echoes_of(writes, twin), want, "{writes:?} {twin:?}");
        }
    }

    /// The writes to `own` that are echoes, `own` being the twin Ferry created at 10 (from
    /// a command read earlier) and written again at 30.
    fn echoes_after_ferrys_create(twin: &[Revision]) -> Vec<i64> {
        let own = [rev(BOT, 10, &[], true), rev(BOT, 30, &["System.Title"], false)];
        let h = Histories { own: &own, twin, own_touch: &|_| true, twin_touch: &|_| true, remote_id: None };
        let start = chrono::DateTime::from_timestamp(1_795_000_000, 0).expect("in range");
        unexplained_writes(&h).1.into_iter().map(|(r, _)| (r.at - start).num_seconds()).collect()
    }

    #[test]
    fn a_write_after_ferrys_create_is_explained_by_a_person_change_the_create_may_have_missed() {
        let (alice, bob) = ("alice@acme.test", "bob@acme.test");
        let changed = [rev(alice, 0, &[], true), rev(bob, 9, &["summary"], false)];
        assert_eq!(
            echoes_after_ferrys_create(&changed),
            Vec::<i64>::new(),
            "bob's change at 9 may not be in the create"
        );
        let untouched = [rev(alice, 0, &[], true)];
        assert_eq!(echoes_after_ferrys_create(&untouched), vec![30], "nobody changed the twin: an echo");
    }

    #[test]
    fn rich_text_compares_by_its_text() {
        let a = FieldValue::RichText("<p>Steps <strong>c1z</strong></p><ul><li>Chrome</li></ul>".into());
        let b = FieldValue::RichText("<p>Steps <strong>c1z</strong></p><ul><li><p>Chrome</p></li></ul>".into());
        let c = FieldValue::RichText("<p>Steps <strong>c2z</strong></p><ul><li>Chrome</li></ul>".into());
        assert!(same(&a, &b));
        assert!(!same(&a, &c));
        assert!(same(&FieldValue::Number(2.0), &FieldValue::Number(2.0)));
    }
}
