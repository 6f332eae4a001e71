//! The I/O around the collaboration decisions: after a write step has brought a linked
//! pair's fields in line, it reads both sides' attachments, comments and relations,
//! applies what `attachments`, `comments` and `relations` decide, and stores the pair's
//! record ([`ferry_domain::CollabState`]) on the condition of the version it read.
//!
//! Everything here is idempotent: a retry after a crash at any point finds the copies it
//! made (by their pairs, by the origin mark a comment carries, by the integration user a
//! copy was written as) and makes nothing twice.

use super::comments::{attributed, origin_mark, plan_comments, CommentAction, CommentView};
use super::far_end::{far_ends, intend_far_end, record_far_end, FarEnd};
use super::leftovers::{abandoned_copies, crash_leftover, Leftover};
use super::markup::{mention_ids, rewrite, Mentioned, Pictured};
use super::peers::routes;
use super::relation_intents::{abandoned, intent_of, without_unconfirmed};
use super::relations::{other_base_after, plan_relations, RelationMap};
use super::transfer::copy_attachment;
use crate::crash::CrashPoint;
use crate::engine::Engine;
use crate::failures::Parkable;
use chrono::{DateTime, Utc};
use ferry_domain::collab::ORIGIN_FRAGMENT;
use ferry_domain::ports::Connector;
use ferry_domain::{
    text_digest, Attachment, AttachmentPair, AttachmentRule, CollabState, Comment, CommentPair, CommentWrite,
    CopyIntent, EntityId, ErrorCategory, Flow, Integration, IntegrationRecord, PortError, Relation, RelationIntent,
    Scope, Side, UserRef,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Reads of a far end's record before a conflicting write fails the sync (its message
/// is retried).
const FAR_END_ATTEMPTS: u32 = 5;

/// The pair's record as last read or written, and its version (`None`: none yet).
struct Stored {
    state: CollabState,
    version: Option<u64>,
}

/// One linked pair, seen from one flow.
pub(crate) struct PairInFlow<'a> {
    pub record: &'a IntegrationRecord,
    pub flow: Flow,
    /// The source entity (the flow's source side).
    pub source: &'a EntityId,
    /// Its linked peer on the target side.
    pub target: &'a EntityId,
}

impl PairInFlow<'_> {
    fn left(&self) -> &EntityId {
        match self.flow.source() {
            Side::Left => self.source,
            Side::Right => self.target,
        }
    }
}

/// What one collaboration sync changed on the target.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CollabReport {
    pub comments_posted: usize,
    pub comments_edited: usize,
    pub comments_deleted: usize,
    pub attachments_copied: usize,
    /// Over `max_size`: a link was written instead of a copy.
    pub attachments_linked: usize,
    pub attachments_deleted: usize,
    pub bytes_copied: u64,
    pub relations_added: usize,
    pub relations_removed: usize,
    /// Related entities not synced yet: the relation is made when they are.
    pub pending: usize,
}

impl CollabReport {
    pub fn is_empty(&self) -> bool {
        *self == CollabReport::default()
    }
}

/// One side's connector, scope and entity.
struct End {
    conn: Arc<dyn Connector>,
    scope: Scope,
    id: EntityId,
    side: Side,
}

impl Engine {
    /// Syncs what the integration's `collaboration` carries in `pair.flow` (nothing when
    /// it carries nothing).
    pub(crate) async fn sync_collaboration(&self, pair: PairInFlow<'_>) -> Result<CollabReport, Parkable> {
        let c = &pair.record.integration.collaboration;
        let mut report = CollabReport::default();
        if !c.any(pair.flow) {
            return Ok(report);
        }
        let id = &pair.record.integration.id;
        let mut stored = match self.state.get_collab(id, pair.left()).await? {
            Some((state, v)) => Stored { state, version: Some(v) },
            None => Stored { state: CollabState::default(), version: None },
        };
        let mut state = stored.state.clone();
        let src = self.end(pair.record, pair.flow.source(), pair.source).await?;
        let tgt = self.end(pair.record, pair.flow.target(), pair.target).await?;
        let floor = self.state.get_watermark(id, pair.flow).await?.map(|w| w.floor).unwrap_or(DateTime::<Utc>::MIN_UTC);
        // Attachments first: inline images of the comments then find their copies.
        if let Some(rule) = c.attachments.filter(|a| a.direction.allows(pair.flow)) {
            self.sync_attachments(&pair, &src, &tgt, rule, floor, &mut stored, &mut state, &mut report).await?;
        }
        if c.comments.is_some_and(|d| d.allows(pair.flow)) {
            self.sync_comments(&pair, &src, &tgt, floor, &mut state, &mut report).await?;
        }
        if c.hierarchy.is_some_and(|d| d.allows(pair.flow)) || !c.links.is_empty() {
            self.sync_relations(&pair, &src, &tgt, &mut stored, &mut state, &mut report).await?;
        }
        self.store_collab(&pair, &state, &mut stored).await?;
        Ok(report)
    }

    /// Entities whose relations waited for `entity` (on `side` of `record`), which is
    /// now linked: their relations are synced now. They may wait in any active integration
    /// between the same two systems ([`super::peers`]): a child of another entity type
    /// than its parent waits in its own integration for a parent another one links.
    pub(crate) async fn resolve_pending(
        &self,
        record: &IntegrationRecord,
        side: Side,
        entity: &EntityId,
    ) -> Result<usize, Parkable> {
        let all = self.all_records().await?;
        let others: Vec<Integration> = all
            .iter()
            .filter(|r| r.active && r.integration.id != record.integration.id)
            .map(|r| r.integration.clone())
            .collect();
        let mut resolved = 0;
        // Nothing waits in an integration that syncs no relations: it is not asked.
        let routes = routes(&record.integration, side, &others).into_iter().filter(|r| syncs_relations(r.integration));
        for route in routes {
            let own = route.integration.id == record.integration.id;
            let found = all.iter().find(|r| !own && r.integration.id == route.integration.id);
            let waiting_in = found.unwrap_or(record);
            resolved += self.resolve_pending_in(waiting_in, route.side, entity).await?;
        }
        Ok(resolved)
    }

    /// [`Engine::resolve_pending`] within one integration, `entity` being on its `side`.
    async fn resolve_pending_in(
        &self,
        record: &IntegrationRecord,
        side: Side,
        entity: &EntityId,
    ) -> Result<usize, Parkable> {
        let id = &record.integration.id;
        let waiting = self.state.pending(id, side, entity).await?;
        let mut resolved = 0;
        for w in &waiting {
            if let Some(link) = self.state.get_link(id, side, w).await? {
                let peer = link.side(side.other()).id.clone();
                let pair = PairInFlow { record, flow: Flow::from_source(side), source: w, target: &peer };
                self.sync_collaboration(pair).await?;
                resolved += 1;
            }
            self.state.remove_pending(id, side, entity, w).await?;
        }
        Ok(resolved)
    }

    /// The peers on the target side of the far ends of `relations` (on the source side of
    /// `pair`) that some integration links ([`super::peers`] says which wins).
    async fn relation_peers(
        &self,
        pair: &PairInFlow<'_>,
        relations: &[Relation],
    ) -> Result<BTreeMap<EntityId, EntityId>, PortError> {
        let own = &pair.record.integration;
        let source_side = pair.flow.source();
        let mut peers = BTreeMap::new();
        let mut all: Option<Vec<Integration>> = None;
        for r in relations {
            let other = relation_other(r);
            if peers.contains_key(other) {
                continue;
            }
            if let Some(link) = self.state.get_link(&own.id, source_side, other).await? {
                peers.insert(other.clone(), link.side(source_side.other()).id.clone());
                continue;
            }
            if all.is_none() {
                let records = self.all_records().await?;
                all = Some(records.into_iter().map(|r| r.integration).filter(|i| i.id != own.id).collect());
            }
            let candidates = all.as_deref().unwrap_or_default();
            // The first route is this integration, asked above.
            for route in routes(own, source_side, candidates).into_iter().skip(1) {
                if let Some(link) = self.state.get_link(&route.integration.id, route.side, other).await? {
                    peers.insert(other.clone(), link.side(route.side.other()).id.clone());
                    break;
                }
            }
        }
        Ok(peers)
    }

    async fn end(&self, record: &IntegrationRecord, side: Side, id: &EntityId) -> Result<End, PortError> {
        let (conn, scope) = self.side_connector(record, side).await?;
        Ok(End { conn, scope, id: id.clone(), side })
    }

    #[allow(clippy::too_many_arguments)]
    async fn sync_attachments(
        &self,
        pair: &PairInFlow<'_>,
        src: &End,
        tgt: &End,
        rule: AttachmentRule,
        floor: DateTime<Utc>,
        stored: &mut Stored,
        state: &mut CollabState,
        report: &mut CollabReport,
    ) -> Result<(), Parkable> {
        let source = src.conn.attachments(&src.scope, &src.id).await?;
        let target = tgt.conn.attachments(&tgt.scope, &tgt.id).await?;
        let ferry =
            self.integration_user(&pair.record.integration.endpoint(tgt.side).system, tgt.conn.as_ref()).await?;
        let source_ferry =
            self.integration_user(&pair.record.integration.endpoint(src.side).system, src.conn.as_ref()).await?;
        self.drop_deleted_attachments(src, tgt, &source, &target, state, report).await?;
        let on = |side: Side| -> HashSet<String> {
            state.attachments.iter().filter_map(|p| attachment_ids(p, side).0.into()).collect()
        };
        let (source_paired, mut taken): (HashSet<String>, HashSet<String>) = {
            let theirs: HashSet<String> =
                state.attachments.iter().filter_map(|p| attachment_ids(p, src.side).1).collect();
            (on(src.side), on(tgt.side).into_iter().chain(theirs).collect())
        };
        let unpaired: Vec<&Attachment> = target.iter().filter(|t| !taken.contains(&t.id)).collect();
        for (_, copy) in abandoned_copies(&state.copying, src.side, &source, &unpaired, &ferry.id) {
            if let Some(copy) = copy {
                tgt.conn.delete_attachment(&tgt.scope, &tgt.id, &copy).await?;
                taken.insert(copy);
                report.attachments_deleted += 1;
            }
        }
        // The rest of this side's intents are settled below: a leftover copy is paired by
        // its name and size, and a copy that never arrived is uploaded again.
        state.copying.retain(|i| i.original != src.side);
        let mut fresh: Vec<&Attachment> = source
            .iter()
            .filter(|a| !source_paired.contains(&a.id) && a.created >= floor)
            .filter(|a| a.author.as_ref().is_none_or(|u| u.id != source_ferry.id))
            .collect();
        fresh.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        for a in fresh {
            let unpaired: Vec<&Attachment> = target.iter().filter(|t| !taken.contains(&t.id)).collect();
            let copy = match crash_leftover(a, &unpaired, &ferry.id) {
                Some(Leftover::CopyOfSource(t)) => Some(t),
                Some(Leftover::OriginalOfSource(t)) => {
                    taken.insert(t.clone());
                    state.attachments.push(AttachmentPair { original: tgt.side, id: t, copy: Some(a.id.clone()) });
                    continue;
                }
                None if a.size > rule.max_size => {
                    self.link_instead(src, tgt, a, rule.max_size).await?;
                    report.attachments_linked += 1;
                    None
                }
                None => {
                    let intent =
                        CopyIntent { original: src.side, id: a.id.clone(), name: a.name.clone(), size: a.size };
                    state.copying.push(intent);
                    self.store_collab(pair, state, stored).await?;
                    let copied = copy_attachment(
                        src.conn.as_ref(),
                        &src.scope,
                        &src.id,
                        a,
                        tgt.conn.as_ref(),
                        &tgt.scope,
                        &tgt.id,
                    )
                    .await?;
                    report.attachments_copied += 1;
                    report.bytes_copied += copied.size;
                    self.crash_point(CrashPoint::CollabAfterAttachment)?;
                    state.copying.retain(|i| !(i.original == src.side && i.id == a.id));
                    Some(copied.id)
                }
            };
            if let Some(c) = &copy {
                taken.insert(c.clone());
            }
            state.attachments.push(attachment_pair(src.side, a.id.clone(), copy));
        }
        Ok(())
    }

    /// Writes `state` as the pair's record if it differs from what is stored, on the
    /// condition of the stored version.
    async fn store_collab(
        &self,
        pair: &PairInFlow<'_>,
        state: &CollabState,
        stored: &mut Stored,
    ) -> Result<(), Parkable> {
        if *state == stored.state {
            return Ok(());
        }
        let id = &pair.record.integration.id;
        self.state.put_collab(id, pair.left(), state, stored.version).await?;
        stored.version = Some(stored.version.map_or(1, |v| v + 1));
        stored.state = state.clone();
        Ok(())
    }

    /// Originals deleted on the source: their copies go too, and their pairs.
    async fn drop_deleted_attachments(
        &self,
        src: &End,
        tgt: &End,
        source: &[Attachment],
        target: &[Attachment],
        state: &mut CollabState,
        report: &mut CollabReport,
    ) -> Result<(), PortError> {
        let mut kept = Vec::new();
        for p in std::mem::take(&mut state.attachments) {
            let (original, copy) = attachment_ids(&p, src.side);
            let gone = p.original == src.side && !source.iter().any(|a| a.id == original);
            match (gone, copy) {
                (true, Some(copy)) if target.iter().any(|a| a.id == copy) => {
                    tgt.conn.delete_attachment(&tgt.scope, &tgt.id, &copy).await?;
                    report.attachments_deleted += 1;
                }
                (true, _) => {}
                (false, _) => kept.push(p),
            }
        }
        state.attachments = kept;
        Ok(())
    }

    /// Over `max_size`: a comment on the target names the file and links to it.
    async fn link_instead(&self, src: &End, tgt: &End, a: &Attachment, max: u64) -> Result<(), PortError> {
        let mut body = String::from("<p>Attachment <a href=\"");
        ferry_domain::html::escape_html_into(&a.url, &mut body, false);
        body.push_str("\">");
        ferry_domain::html::escape_html_into(&a.name, &mut body, false);
        body.push_str(&format!(
            "</a> ({} bytes) is larger than the {max} bytes Ferry copies: linked, not copied.</p>",
            a.size
        ));
        let origin = format!("ferry-attachment-link:{}:{}:{}", src.side.as_str(), src.id, a.id);
        let comments = tgt.conn.comments(&tgt.scope, &tgt.id).await.unwrap_or_default();
        if comments.iter().any(|c| c.origin.as_deref() == Some(origin.as_str()) || c.body.contains(&origin)) {
            return Ok(());
        }
        body.push_str(&format!("<p><a href=\"{}#{origin}\">source</a></p>", escape_attr(&a.url)));
        tgt.conn.add_comment(&tgt.scope, &tgt.id, &CommentWrite { body, origin }).await?;
        Ok(())
    }

    async fn sync_comments(
        &self,
        pair: &PairInFlow<'_>,
        src: &End,
        tgt: &End,
        floor: DateTime<Utc>,
        state: &mut CollabState,
        report: &mut CollabReport,
    ) -> Result<(), Parkable> {
        let integration = &pair.record.integration;
        let source = src.conn.comments(&src.scope, &src.id).await?;
        let mut target = tgt.conn.comments(&tgt.scope, &tgt.id).await?;
        for c in &mut target {
            if c.origin.is_none() {
                c.origin = origin_in_body(&c.body);
            }
        }
        let source_ferry = self.integration_user(&integration.endpoint(src.side).system, src.conn.as_ref()).await?;
        let mark = |comment: &str| origin_mark(integration.id.as_str(), src.side, src.id.as_str(), comment);
        let by_ferry = |c: &Comment| {
            c.origin.is_some()
                || origin_in_body(&c.body).is_some()
                || c.author.as_ref().is_some_and(|a| a.id == source_ferry.id)
        };
        let view = CommentView {
            source_side: src.side,
            source: &source,
            target: &target,
            pairs: &state.comments,
            start: floor,
            mark: &mark,
            by_ferry: &by_ferry,
        };
        let actions = plan_comments(&view);
        if actions.is_empty() {
            return Ok(());
        }
        let people = self.mentioned_people(pair, src, tgt, &source).await?;
        let images = image_copies(state, src.side);
        let by_id: HashMap<&str, &Comment> = source.iter().map(|c| (c.id.as_str(), c)).collect();
        let body_of = |c: &Comment| {
            let who = c.author.as_ref().and_then(|a| a.display_name.clone().or_else(|| a.email.clone()));
            let rewritten = rewrite(&c.body, &|user| people.get(user).cloned().unwrap_or(Mentioned::Text), &|att| {
                images.get(att).cloned().unwrap_or_else(|| Pictured::Link(c.url.clone()))
            });
            let url = with_origin(&c.url, &mark(&c.id));
            attributed(who.as_deref().unwrap_or("Someone"), c.created, &url, &rewritten)
        };
        self.apply_comment_actions(actions, &by_id, &body_of, &mark, src.side, tgt, state, report).await
    }

    /// Posts, edits and deletes the copies on the target and keeps the pairs in step.
    #[allow(clippy::too_many_arguments)]
    async fn apply_comment_actions(
        &self,
        actions: Vec<CommentAction>,
        by_id: &HashMap<&str, &Comment>,
        body_of: &(dyn Fn(&Comment) -> String + Sync),
        mark: &(dyn Fn(&str) -> String + Sync),
        source_side: Side,
        tgt: &End,
        state: &mut CollabState,
        report: &mut CollabReport,
    ) -> Result<(), Parkable> {
        for action in actions {
            match action {
                CommentAction::Post { source } | CommentAction::Edit { source, .. }
                    if !by_id.contains_key(source.as_str()) =>
                {
                    return Err(PortError::new(
                        ferry_domain::ErrorCategory::BadResponse,
                        format!("comment {source} vanished while it was read"),
                    )
                    .into());
                }
                CommentAction::Post { source } => {
                    let c = by_id[source.as_str()];
                    let write = CommentWrite { body: body_of(c), origin: mark(&c.id) };
                    let made = tgt.conn.add_comment(&tgt.scope, &tgt.id, &write).await?;
                    state.comments.push(comment_pair(source_side, &c.id, &made.id, &c.body));
                    report.comments_posted += 1;
                    self.crash_point(CrashPoint::CollabAfterComment)?;
                }
                CommentAction::Adopt { source, target } => {
                    let c = by_id[source.as_str()];
                    state.comments.push(comment_pair(source_side, &c.id, &target, &c.body));
                }
                CommentAction::Edit { source, target } => {
                    let c = by_id[source.as_str()];
                    let write = CommentWrite { body: body_of(c), origin: mark(&c.id) };
                    tgt.conn.edit_comment(&tgt.scope, &tgt.id, &target, &write).await?;
                    if let Some(p) = state.comments.iter_mut().find(|p| p.id(tgt.side) == target) {
                        p.digest = text_digest(&c.body);
                    }
                    report.comments_edited += 1;
                    self.crash_point(CrashPoint::CollabAfterComment)?;
                }
                CommentAction::Delete { target } => {
                    tgt.conn.delete_comment(&tgt.scope, &tgt.id, &target).await?;
                    state.comments.retain(|p| p.id(tgt.side) != target);
                    report.comments_deleted += 1;
                    self.crash_point(CrashPoint::CollabAfterComment)?;
                }
                CommentAction::Forget { target } => state.comments.retain(|p| p.id(tgt.side) != target),
            }
        }
        Ok(())
    }

    /// The target's person for each person mentioned in `comments` ([`Engine::people_on_target`]).
    async fn mentioned_people(
        &self,
        pair: &PairInFlow<'_>,
        src: &End,
        tgt: &End,
        comments: &[Comment],
    ) -> Result<HashMap<String, Mentioned>, PortError> {
        let ids: Vec<String> = comments.iter().flat_map(|c| mention_ids(&c.body)).collect();
        let (from, to) = ((src.conn.as_ref(), &src.scope), (tgt.conn.as_ref(), &tgt.scope));
        self.people_on_target(&pair.record.integration, pair.flow, from, to, ids).await
    }

    /// The target's person for each of the source's people `ids` (as a mention names
    /// them), by e-mail through the integration's user table; one not found is text.
    pub(crate) async fn people_on_target(
        &self,
        integration: &Integration,
        flow: Flow,
        (src_conn, src_scope): (&dyn Connector, &Scope),
        (tgt_conn, _): (&dyn Connector, &Scope),
        ids: Vec<String>,
    ) -> Result<HashMap<String, Mentioned>, PortError> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let people: Vec<UserRef> = src_conn.users(&src_scope.project).await?;
        let target_system = &integration.endpoint(flow.target()).system;
        for id in ids {
            if out.contains_key(&id) {
                continue;
            }
            let email = people.iter().find(|u| u.id == id).and_then(|u| u.email.clone());
            let target_email = email.as_deref().map(|e| integration.users.lookup(flow, e).unwrap_or(e).to_string());
            let found = match target_email {
                Some(e) => self.user_by_email(target_system, tgt_conn, &e).await?,
                None => None,
            };
            let m = match found {
                Some(u) => Mentioned::Person { name: u.display_name.clone().unwrap_or_else(|| u.id.clone()), id: u.id },
                None => Mentioned::Text,
            };
            out.insert(id, m);
        }
        Ok(out)
    }

    async fn sync_relations(
        &self,
        pair: &PairInFlow<'_>,
        src: &End,
        tgt: &End,
        stored: &mut Stored,
        state: &mut CollabState,
        report: &mut CollabReport,
    ) -> Result<(), Parkable> {
        let integration = &pair.record.integration;
        let c = &integration.collaboration;
        let side = src.side;
        let read = src.conn.relations(&src.scope, &src.id).await?;
        let mut target = tgt.conn.relations(&tgt.scope, &tgt.id).await?;
        let intents = state.relating.clone();
        let source = without_unconfirmed(&read, &intents, side);
        let (own_base, other_base) = match side {
            Side::Left => (&state.relations_left, &state.relations_right),
            Side::Right => (&state.relations_right, &state.relations_left),
        };
        // The other base's far ends too: [`other_base_after`] translates its relations
        // to find the ones this sync removed from the target; and the abandoned intents'.
        let ends: Vec<Relation> = source
            .iter()
            .chain(other_base.iter())
            .chain(intents.iter().filter(|i| i.source_side == side).map(|i| &i.in_source_terms))
            .cloned()
            .collect();
        let peers = self.relation_peers(pair, &ends).await?;
        let link_type = |t: &str| c.link_type(pair.flow, t).map(str::to_string);
        let peer = |e: &EntityId| peers.get(e).cloned();
        let map = RelationMap {
            hierarchy: c.hierarchy.is_some_and(|d| d.allows(pair.flow)),
            link_type: &link_type,
            peer: &peer,
        };
        // What a crash left of writes whose source a person removed meanwhile.
        let mut far = Vec::new();
        for (intent, written) in abandoned(&intents, side, &source, &target) {
            if let Some(r) = written {
                tgt.conn.remove_relation(&tgt.scope, &tgt.id, &r).await?;
                target.retain(|t| t != &r);
                report.relations_removed += 1;
            }
            far.extend(far_ends(std::slice::from_ref(&intent.in_source_terms), &[], (&src.id, &tgt.id), &map));
        }
        let plan = plan_relations(&source, own_base, &target, &map);
        for r in &plan.remove {
            tgt.conn.remove_relation(&tgt.scope, &tgt.id, r).await?;
            self.crash_point(CrashPoint::CollabAfterRelation)?;
        }
        if !plan.add.is_empty() {
            self.intend_relations(pair, &plan.add, &source, &map, stored, state).await?;
        }
        for r in &plan.add {
            tgt.conn.add_relation(&tgt.scope, &tgt.id, r).await?;
            self.crash_point(CrashPoint::CollabAfterRelation)?;
        }
        report.relations_added += plan.add.len();
        report.relations_removed += plan.remove.len();
        report.pending += plan.pending.len();
        let mut target_after: Vec<Relation> = target.into_iter().filter(|r| !plan.remove.contains(r)).collect();
        target_after.extend(plan.add.iter().cloned());
        let (own_base, other_base) = match side {
            Side::Left => (&mut state.relations_left, &mut state.relations_right),
            Side::Right => (&mut state.relations_right, &mut state.relations_left),
        };
        let after = other_base_after(other_base, &source, &target_after, &plan.remove, &map);
        far.extend(far_ends(other_base, &after, (&src.id, &tgt.id), &map));
        *other_base = after;
        *own_base = plan.base;
        // This flow's intents are settled: written and recorded in the bases, or removed.
        state.relating.retain(|i| i.source_side != side);
        // Before this pair's record is stored: a retry after a crash in between finds
        // the same change in its bases and records the far ends again.
        self.update_far_ends(pair, &far, record_far_end).await?;
        for awaited in &plan.pending {
            self.state.add_pending(&integration.id, side, awaited, &src.id).await?;
        }
        Ok(())
    }

    /// Stores the intents of writing `added` to the target (in this pair's record, and in
    /// the records of the pairs at the far ends of its links) before they are written.
    async fn intend_relations(
        &self,
        pair: &PairInFlow<'_>,
        added: &[Relation],
        source: &[Relation],
        map: &RelationMap<'_>,
        stored: &mut Stored,
        state: &mut CollabState,
    ) -> Result<(), Parkable> {
        let side = pair.flow.source();
        let intents: Vec<RelationIntent> = added.iter().filter_map(|r| intent_of(r, source, side, map)).collect();
        let far: Vec<FarEnd> = intents
            .iter()
            .flat_map(|i| far_ends(&[], std::slice::from_ref(&i.in_source_terms), (pair.source, pair.target), map))
            .collect();
        for i in intents {
            if !state.relating.contains(&i) {
                state.relating.push(i);
            }
        }
        self.store_collab(pair, state, stored).await?;
        self.update_far_ends(pair, &far, intend_far_end).await
    }

    /// Applies `change` to the record of the pair of each of `far` in this integration
    /// ([`super::far_end`]), on the condition of the version read, reading again when
    /// another write came first. A far end another integration links is left to that
    /// integration's own syncs.
    async fn update_far_ends(
        &self,
        pair: &PairInFlow<'_>,
        far: &[FarEnd],
        change: fn(&mut CollabState, Side, &FarEnd) -> bool,
    ) -> Result<(), Parkable> {
        let id = &pair.record.integration.id;
        let side = pair.flow.source();
        for f in far {
            if self.state.get_link(id, side, &f.source).await?.is_none() {
                continue;
            }
            let left = match side {
                Side::Left => &f.source,
                Side::Right => &f.target,
            };
            let mut attempt = 0;
            loop {
                let (mut state, version) = match self.state.get_collab(id, left).await? {
                    Some((s, v)) => (s, Some(v)),
                    None => (CollabState::default(), None),
                };
                if !change(&mut state, side, f) {
                    break;
                }
                match self.state.put_collab(id, left, &state, version).await {
                    Ok(()) => break,
                    Err(e) if e.category == ErrorCategory::Conflict && attempt < FAR_END_ATTEMPTS => attempt += 1,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }
}

/// Whether `i` syncs parents or links in either direction.
fn syncs_relations(i: &Integration) -> bool {
    i.collaboration.hierarchy.is_some() || !i.collaboration.links.is_empty()
}

fn relation_other(r: &Relation) -> &EntityId {
    match r {
        Relation::Parent { parent } => parent,
        Relation::Link { other, .. } => other,
    }
}

/// (this side's id, the other side's id) of an attachment pair, as seen from `side`.
fn attachment_ids(p: &AttachmentPair, side: Side) -> (String, Option<String>) {
    if p.original == side {
        (p.id.clone(), p.copy.clone())
    } else {
        (p.copy.clone().unwrap_or_default(), Some(p.id.clone()))
    }
}

fn attachment_pair(original: Side, id: String, copy: Option<String>) -> AttachmentPair {
    AttachmentPair { original, id, copy }
}

fn comment_pair(source_side: Side, source: &str, target: &str, body: &str) -> CommentPair {
    let (left, right) = match source_side {
        Side::Left => (source.to_string(), target.to_string()),
        Side::Right => (target.to_string(), source.to_string()),
    };
    CommentPair { left, right, original: source_side, digest: text_digest(body) }
}

/// Source attachment id → its copy on the other side, for inline images.
pub(crate) fn image_copies(state: &CollabState, source_side: Side) -> HashMap<String, Pictured> {
    state
        .attachments
        .iter()
        .filter_map(|p| {
            let (mine, theirs) = attachment_ids(p, source_side);
            theirs.map(|t| (mine, Pictured::Attachment(t)))
        })
        .collect()
}

fn with_origin(url: &str, mark: &str) -> String {
    let base = url.split('#').next().unwrap_or(url);
    format!("{base}#{ORIGIN_FRAGMENT}{mark}")
}

fn origin_in_body(body: &str) -> Option<String> {
    let at = body.find(ORIGIN_FRAGMENT)? + ORIGIN_FRAGMENT.len();
    let rest = &body[at..];
    let end = rest.find(['"', '\'', '<', ' ', '&']).unwrap_or(rest.len());
    Some(rest[..end].to_string()).filter(|m| !m.is_empty())
}

fn escape_attr(s: &str) -> String {
    let mut out = String::new();
    ferry_domain::html::escape_html_into(s, &mut out, false);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_mark_survives_in_the_attribution_link_and_is_found_again() {
        let mark = origin_mark("app-bugs", Side::Left, "APP-1", "10001");
        let url = with_origin("https://acme.atlassian.net/browse/APP-1?focusedCommentId=10001#old", &mark);
        let body = attributed("Alice", DateTime::<Utc>::MIN_UTC, &url, "<p>x</p>");
        assert_eq!(origin_in_body(&body).as_deref(), Some(mark.as_str()));
        assert_eq!(origin_in_body("<p>a person's comment</p>"), None);
    }
}
