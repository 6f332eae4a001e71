//! The end-of-run checks of the conversation and structure, against the simulators'
//! final state and request histories: each person's comment has exactly one copy on
//! the other side carrying its latest text (none once deleted) and none on its own side
//! (an echo); each person's file one copy of its size (none once deleted); each Blocks
//! link a person made is on the other side while it lives and gone once removed, and no
//! link exists that nobody made.

use crate::collab_work::{blocks_type, CollabWork, PersonComment};
use crate::workload::Workload;
use crate::world::{World, BOT};
use anyhow::Result;
use ferry_domain::{Attachment, Comment, EntityId, Relation, Side};
use ferry_sim::RequestRecord;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Default)]
pub struct CollabVerdict {
    pub comments_checked: usize,
    pub files_checked: usize,
    pub links_checked: usize,
    pub duplicate_comments: Vec<String>,
    pub echo_comments: Vec<String>,
    pub lost_comments: Vec<String>,
    /// A copy without the latest edit, or left after its original was deleted.
    pub comments_out_of_step: Vec<String>,
    /// Edits of Azure DevOps comments that no later person revision of the work item
    /// revealed (Azure DevOps writes no revision for a comment edit): not failures.
    pub unrevealed_edits: Vec<String>,
    pub duplicate_attachments: Vec<String>,
    pub lost_attachments: Vec<String>,
    pub attachments_not_removed: Vec<String>,
    pub missing_links: Vec<String>,
    pub links_not_removed: Vec<String>,
    pub unexpected_links: Vec<String>,
    /// For each comment copy out of step, what happened to its pair ([`trail`]): the
    /// original's work item history and both directions' timelines, so a failure can be
    /// read without a rerun.
    pub trails: Vec<String>,
    /// Uploads to Azure DevOps that no work item references (a fault between the upload
    /// and the link that attaches it; the retry uploads again): not failures.
    pub unattached_uploads: usize,
}

impl CollabVerdict {
    pub fn passed(&self) -> bool {
        [
            &self.duplicate_comments,
            &self.echo_comments,
            &self.lost_comments,
            &self.comments_out_of_step,
            &self.duplicate_attachments,
            &self.lost_attachments,
            &self.attachments_not_removed,
            &self.missing_links,
            &self.links_not_removed,
            &self.unexpected_links,
        ]
        .iter()
        .all(|l| l.is_empty())
    }
}

/// What one entity holds at the end.
#[derive(Default)]
struct Held {
    comments: Vec<Comment>,
    files: Vec<Attachment>,
    relations: Vec<Relation>,
}

/// `work`'s pairs must carry both ids of every linked pair (as [`crate::oracle::check`]
/// leaves them).
pub async fn check(world: &World, work: &Workload, collab: &CollabWork) -> Result<CollabVerdict> {
    let mut v = CollabVerdict::default();
    let linked: Vec<usize> = (0..work.pairs.len()).filter(|p| work.pairs[*p].ids.len() == 2).collect();
    let mut held: BTreeMap<(Side, EntityId), Held> = BTreeMap::new();
    for side in [Side::Left, Side::Right] {
        let r = world.reader(side).await?;
        let scope = world.scope(side);
        for p in &linked {
            let id = work.pairs[*p].ids[&side].0.clone();
            let h = Held {
                comments: r.comments(&scope, &id).await?,
                files: r.attachments(&scope, &id).await?,
                relations: r.relations(&scope, &id).await?,
            };
            held.insert((side, id), h);
        }
    }
    let entity = |p: usize, side: Side| work.pairs[p].ids.get(&side).map(|(id, key)| (id.clone(), key.clone()));
    let is_linked = |p: usize| work.pairs[p].ids.len() == 2;

    for c in collab.comments.iter().filter(|c| is_linked(c.pair)) {
        v.comments_checked += 1;
        let before = v.comments_out_of_step.len();
        check_comment(world, c, &held, &entity, &mut v);
        if v.comments_out_of_step.len() > before {
            if let (Some((own, _)), Some((twin, _))) = (entity(c.pair, c.side), entity(c.pair, c.side.other())) {
                v.trails.extend(trail(world, c, &own, &twin).await);
            }
        }
    }
    for f in collab.files.iter().filter(|f| is_linked(f.pair)) {
        v.files_checked += 1;
        let (Some((twin, twin_key)), Some((own, own_key))) = (entity(f.pair, f.side.other()), entity(f.pair, f.side))
        else {
            continue;
        };
        let copies: Vec<&Attachment> =
            held[&(f.side.other(), twin)].files.iter().filter(|a| a.name == f.name).collect();
        let back = held[&(f.side, own)].files.iter().filter(|a| a.name == f.name && a.id != f.id).count();
        let what = format!("{} on {} {own_key} ({} bytes)", f.name, f.side.as_str(), f.size);
        match (f.deleted, copies.len()) {
            (false, 0) => v.lost_attachments.push(format!("{what}: no copy on {twin_key}")),
            (false, 1) if copies[0].size != f.size => {
                v.lost_attachments.push(format!("{what}: the copy on {twin_key} holds {} bytes", copies[0].size))
            }
            (false, 1) | (true, 0) => {}
            (false, n) => v.duplicate_attachments.push(format!("{what}: {n} copies on {twin_key}")),
            (true, n) => v.attachments_not_removed.push(format!("{what}, deleted: {n} copies left on {twin_key}")),
        }
        if back > 0 {
            v.duplicate_attachments.push(format!("{what}: copied back to its own side {back} times"));
        }
    }
    check_links(work, collab, &held, &mut v);
    // Comments people made outside the model (a person's PATCH of `System.History` on
    // Azure DevOps is a comment too): they count among the comments Ferry copies.
    let bots: BTreeMap<Side, Option<String>> = BTreeMap::from([
        (Side::Left, world.jira.user(BOT).map(|u| u.id)),
        (Side::Right, world.ado.user(BOT).map(|u| u.id)),
    ]);
    let modelled: BTreeSet<(Side, &str, &str)> =
        collab.comments.iter().map(|c| (c.side, c.entity.as_str(), c.id.as_str())).collect();
    let mut others: HashMap<(Side, String), usize> = HashMap::new();
    for ((side, id), h) in &held {
        let n = h
            .comments
            .iter()
            .filter(|c| c.author.as_ref().map(|a| &a.id) != bots[side].as_ref())
            .filter(|c| !modelled.contains(&(*side, id.as_str(), c.id.as_str())))
            .count();
        others.insert((*side, id.as_str().to_ascii_lowercase()), n);
    }
    check_histories(world, work, collab, &others, &mut v);
    Ok(v)
}

fn check_comment(
    world: &World,
    c: &PersonComment,
    held: &BTreeMap<(Side, EntityId), Held>,
    entity: &dyn Fn(usize, Side) -> Option<(EntityId, String)>,
    v: &mut CollabVerdict,
) {
    let (Some((twin, twin_key)), Some((own, own_key))) = (entity(c.pair, c.side.other()), entity(c.pair, c.side))
    else {
        return;
    };
    let stem = c.stem();
    let copies: Vec<&Comment> =
        held[&(c.side.other(), twin)].comments.iter().filter(|x| x.body.contains(&stem)).collect();
    let echoes =
        held[&(c.side, own.clone())].comments.iter().filter(|x| x.body.contains(&stem) && x.id != c.id).count();
    let what = format!("comment {} ({}) on {} {own_key}", c.id, c.text().trim(), c.side.as_str());
    if echoes > 0 {
        v.echo_comments.push(format!("{what}: {echoes} copies of it on its own side"));
    }
    match (c.deleted, copies.len()) {
        (false, 0) => v.lost_comments.push(format!("{what}: no copy on {twin_key}")),
        (false, 1) if !copies[0].body.contains(&c.text()) => {
            let revealed = c.side == Side::Left || person_revision_after(world, &own, c.edited_at);
            let line = format!("{what}: the copy on {twin_key} reads {:?}", excerpt(&copies[0].body, &stem));
            if revealed {
                v.comments_out_of_step.push(line);
            } else {
                v.unrevealed_edits.push(line);
            }
        }
        (false, 1) | (true, 0) => {}
        (false, n) => v.duplicate_comments.push(format!("{what}: {n} copies on {twin_key}")),
        (true, n) => v.comments_out_of_step.push(format!("{what}, deleted: {n} copies left on {twin_key}")),
    }
}

/// What happened around comment `c` on `own` and its twin: the comment's times, the
/// work item's history (when `own` is an Azure DevOps one), and the timelines of both
/// directions (each entity as the source of its flow).
async fn trail(world: &World, c: &PersonComment, own: &EntityId, twin: &EntityId) -> Vec<String> {
    let mut out = vec![format!(
        "trail of comment {} on {} {own} (edited at {}):",
        c.id,
        c.side.as_str(),
        c.edited_at.map_or("-".into(), |t| t.format("%H:%M:%S%.3f").to_string())
    )];
    let ado_id = if c.side == Side::Right { own } else { twin };
    if let Some(history) = ado_id.as_str().parse().ok().and_then(|n| world.ado.history(n)) {
        for (i, r) in history.iter().enumerate() {
            let kind = if r.new_revision { "" } else { " (far end of a link: same rev, not polled)" };
            out.push(format!(
                "  ado {ado_id} update {}: {} {} {:?}{kind}",
                i + 1,
                r.at.format("%H:%M:%S%.3f"),
                r.author,
                r.fields
            ));
        }
    }
    for (side, id) in [(c.side, own), (c.side.other(), twin)] {
        let flow = if side == Side::Left { ferry_domain::Flow::LeftToRight } else { ferry_domain::Flow::RightToLeft };
        match world.state.entity_activity(world.id(), flow, id, 200).await {
            Ok(steps) => {
                for s in steps {
                    out.push(format!(
                        "  {} {id}: {} {} (changed {}) {}",
                        flow.as_str(),
                        s.at.format("%H:%M:%S%.3f"),
                        s.kind.as_str(),
                        s.changed.format("%H:%M:%S%.3f"),
                        s.detail
                    ));
                }
            }
            Err(e) => out.push(format!("  {} {id}: timeline unreadable: {e}", flow.as_str())),
        }
    }
    out
}

/// Whether a person made a revision of Azure DevOps work item `id` after `at` (which a
/// poll sees). The update a link made elsewhere gives its far end keeps the revision and
/// `System.ChangedDate`: no poll sees it, so it reveals nothing.
fn person_revision_after(world: &World, id: &EntityId, at: Option<chrono::DateTime<chrono::Utc>>) -> bool {
    let Some(at) = at else { return true };
    let history = id.as_str().parse().ok().and_then(|n| world.ado.history(n)).unwrap_or_default();
    reveals_edit(&history, at)
}

/// Whether `history` holds a person's new revision after `at`.
fn reveals_edit(history: &[ferry_sim::Revision], at: chrono::DateTime<chrono::Utc>) -> bool {
    history.iter().any(|r| r.author != BOT && r.at > at && r.new_revision)
}

fn excerpt(body: &str, stem: &str) -> String {
    body.find(stem).map(|i| body[i..].chars().take(24).collect()).unwrap_or_default()
}

/// Which Blocks link a relation is, as (blocking pair, blocked pair).
fn blocks_between(
    r: &Relation,
    side: Side,
    me: usize,
    pair_of: &HashMap<(Side, EntityId), usize>,
) -> Option<(usize, usize)> {
    let Relation::Link { link_type, outward, other } = r else { return None };
    if link_type != blocks_type(side) {
        return None;
    }
    let o = *pair_of.get(&(side, other.clone()))?;
    Some(if *outward { (me, o) } else { (o, me) })
}

fn check_links(work: &Workload, collab: &CollabWork, held: &BTreeMap<(Side, EntityId), Held>, v: &mut CollabVerdict) {
    let mut pair_of: HashMap<(Side, EntityId), usize> = HashMap::new();
    for (p, pair) in work.pairs.iter().enumerate() {
        for (side, (id, _)) in &pair.ids {
            pair_of.insert((*side, id.clone()), p);
        }
    }
    // Every Blocks link each side holds, as (blocking, blocked) pairs.
    let mut now: BTreeMap<Side, BTreeSet<(usize, usize)>> = BTreeMap::new();
    for ((side, id), h) in held {
        let Some(me) = pair_of.get(&(*side, id.clone())) else { continue };
        for r in &h.relations {
            if let Some(l) = blocks_between(r, *side, *me, &pair_of) {
                now.entry(*side).or_default().insert(l);
            }
        }
    }
    let key = |p: usize, side: Side| work.pairs[p].ids.get(&side).map_or("?".to_string(), |(_, k)| k.clone());
    let mut made: BTreeSet<(usize, usize)> = BTreeSet::new();
    for l in &collab.links {
        made.insert((l.from, l.to));
        if work.pairs[l.from].ids.len() < 2 || work.pairs[l.to].ids.len() < 2 {
            continue;
        }
        v.links_checked += 1;
        let what = format!("{} blocks {} (made on {})", key(l.from, l.side), key(l.to, l.side), l.side.as_str());
        for side in [l.side, l.side.other()] {
            let there = now.get(&side).is_some_and(|s| s.contains(&(l.from, l.to)));
            let at = format!("{} {} → {}", side.as_str(), key(l.from, side), key(l.to, side));
            match (l.removed, there) {
                (false, false) => v.missing_links.push(format!("{what}: missing on {at}")),
                (true, true) => v.links_not_removed.push(format!("{what}, removed: still on {at}")),
                _ => {}
            }
        }
    }
    for (side, links) in &now {
        for (from, to) in links.iter().filter(|l| !made.contains(l)) {
            v.unexpected_links.push(format!(
                "{} {} blocks {}: no person made this link",
                side.as_str(),
                key(*from, *side),
                key(*to, *side)
            ));
        }
    }
}

/// Ferry's successful requests to `sim`: (method, lower-cased path).
fn bot_calls(requests: &[RequestRecord]) -> Vec<(String, String)> {
    requests
        .iter()
        .filter(|r| r.user.as_deref() == Some(BOT) && r.status < 300)
        .map(|r| (r.method.clone(), r.path.to_ascii_lowercase()))
        .collect()
}

/// The entity id or key a path names after `segment` (`…/issue/APP-1/comment`).
fn named_after<'a>(path: &'a str, segment: &str) -> Option<&'a str> {
    let mut parts = path.split('/');
    parts.by_ref().find(|p| *p == segment)?;
    parts.next()
}

/// From the request logs: Ferry never posted more copies of comments (or uploaded more
/// files) to an entity than people made on its twin; a copy posted twice and deleted
/// again is a duplicate the final state no longer shows.
fn check_histories(
    world: &World,
    work: &Workload,
    collab: &CollabWork,
    others: &HashMap<(Side, String), usize>,
    v: &mut CollabVerdict,
) {
    // Person comments and files per (side, entity) they were made on.
    let mut comments: HashMap<(Side, String), usize> = others.clone();
    let mut files: HashMap<(Side, String), usize> = HashMap::new();
    for c in &collab.comments {
        *comments.entry((c.side, c.entity.as_str().to_ascii_lowercase())).or_default() += 1;
    }
    for f in &collab.files {
        *files.entry((f.side, f.entity.as_str().to_ascii_lowercase())).or_default() += 1;
    }
    // Target (side, id or key) → the twin's (side, id).
    let mut twin_of: HashMap<(Side, String), (Side, String)> = HashMap::new();
    for pair in work.pairs.iter().filter(|p| p.ids.len() == 2) {
        for side in [Side::Left, Side::Right] {
            let (id, key) = &pair.ids[&side];
            let twin = (side.other(), pair.ids[&side.other()].0.as_str().to_ascii_lowercase());
            twin_of.insert((side, id.as_str().to_ascii_lowercase()), twin.clone());
            twin_of.insert((side, key.to_ascii_lowercase()), twin);
        }
    }
    let mut posted: BTreeMap<(Side, &str, String), usize> = BTreeMap::new();
    for (side, calls) in
        [(Side::Left, bot_calls(&world.jira.requests())), (Side::Right, bot_calls(&world.ado.requests()))]
    {
        for (_, path) in calls.iter().filter(|(m, _)| m == "POST") {
            let (what, entity) = match side {
                Side::Left if path.ends_with("/comment") => ("comments", named_after(path, "issue")),
                Side::Left if path.ends_with("/attachments") => ("files", named_after(path, "issue")),
                Side::Right if path.ends_with("/comments") => ("comments", named_after(path, "workitems")),
                Side::Right if path.ends_with("/wit/attachments") => {
                    // Not per work item: counted against every file people made on Jira.
                    *posted.entry((side, "files", "*".into())).or_default() += 1;
                    continue;
                }
                _ => continue,
            };
            if let Some(e) = entity {
                *posted.entry((side, what, e.to_string())).or_default() += 1;
            }
        }
    }
    for ((side, what, entity), n) in posted {
        let made = if entity == "*" {
            collab.files.iter().filter(|f| f.side == side.other()).count()
        } else {
            let Some(twin) = twin_of.get(&(side, entity.clone())) else { continue };
            let table = if what == "comments" { &comments } else { &files };
            table.get(twin).copied().unwrap_or(0)
        };
        if n <= made {
            continue;
        }
        let line = format!("Ferry posted {n} {what} to {} {entity}; people made {made} on its twin", side.as_str());
        match (what, entity.as_str()) {
            ("comments", _) => v.duplicate_comments.push(line),
            (_, "*") => v.unattached_uploads = n - made,
            _ => v.duplicate_attachments.push(line),
        }
    }
}

/// The collaboration part of the report, after the field invariants.
pub fn print(v: &CollabVerdict, made: &crate::collab_work::CollabMade) {
    let ok = |n: usize| if n == 0 { "ok" } else { "FAIL" };
    println!(
        "collaboration made by people: comments {} posted, {} edited, {} deleted; files {} uploaded, {} deleted; \
         Blocks links {} added, {} removed",
        made.comments_posted,
        made.comments_edited,
        made.comments_deleted,
        made.files_uploaded,
        made.files_deleted,
        made.links_added,
        made.links_removed
    );
    println!(
        "collaboration checked on linked pairs: {} comments, {} files, {} links",
        v.comments_checked, v.files_checked, v.links_checked
    );
    let list = |name: &str, items: &[String], must_be_zero: bool| {
        println!("{name}: {} {}", items.len(), if must_be_zero { ok(items.len()) } else { "" });
        for i in items.iter().take(10) {
            println!("  {i}");
        }
        if items.len() > 10 {
            println!("  ... and {} more", items.len() - 10);
        }
    };
    list("duplicate comments", &v.duplicate_comments, true);
    list("echo comments", &v.echo_comments, true);
    list("lost comments", &v.lost_comments, true);
    list("comment copies out of step (edit or deletion not carried)", &v.comments_out_of_step, true);
    list(
        "  Azure DevOps comment edits no later revision revealed (not checked: Azure DevOps writes no revision for an edit)",
        &v.unrevealed_edits,
        false,
    );
    for line in &v.trails {
        println!("    {line}");
    }
    list("duplicate attachments", &v.duplicate_attachments, true);
    list("lost attachments", &v.lost_attachments, true);
    list("attachments not removed", &v.attachments_not_removed, true);
    println!("  uploads to Azure DevOps no work item references (retried after a fault): {}", v.unattached_uploads);
    list("missing links", &v.missing_links, true);
    list("links not removed", &v.links_not_removed, true);
    list("links nobody made", &v.unexpected_links, true);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(author: &str, secs: i64, new_revision: bool) -> ferry_sim::Revision {
        ferry_sim::Revision {
            author: author.into(),
            at: chrono::DateTime::from_timestamp(1_795_000_000 + secs, 0).expect("in range"),
            fields: Vec::new(),
            created: false,
            new_revision,
        }
    }

    #[test]
    fn only_a_persons_new_revision_after_the_edit_reveals_it() {
        let edited = chrono::DateTime::from_timestamp(1_795_000_010, 0).expect("in range");
        // (case, history, revealed)
        let cases = [
            ("a person's revision after the edit", vec![update("alice@acme.test", 11, true)], true),
            ("a person's revision before the edit", vec![update("alice@acme.test", 9, true)], false),
            ("Ferry's revision after the edit", vec![update(BOT, 11, true)], false),
            ("the far end of a link made elsewhere", vec![update("alice@acme.test", 11, false)], false),
        ];
        for (case, history, revealed) in cases {
            assert_eq!(reveals_edit(&history, edited), revealed, "{case}");
        }
    }
}
