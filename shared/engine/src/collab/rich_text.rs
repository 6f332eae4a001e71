//! Mentions and inline images inside rich-text field values (a description), written
//! the way comments are: the write step rewrites the source's people and attachments to
//! the target's ([`super::markup`]) before it compares the values with the target's, so a
//! description whose images and mentions are in step compares equal, and the target's
//! fingerprint records what was written.
//!
//! An image whose attachment has no copy (attachments not synced this way, over
//! `max_size`, or not copied yet) becomes a link to the source file. A new entity's files
//! are copied by the collaboration sync that follows the field write: after it, the
//! values are rewritten with the new copies and, where that changes what was written, the
//! field is written once more ([`Engine::complete_rich_text`]).

use super::markup::{image_ids, mention_ids, rewrite, Mentioned, Pictured};
use super::sync::image_copies;
use crate::batch::Batch;
use crate::engine::Engine;
use crate::failures::Parkable;
use crate::update_plan::UpdatePlan;
use crate::write::{TargetWrite, WriteCtx};
use chrono::Utc;
use ferry_domain::{CollabState, EntityId, FieldChange, FieldValue, IntegrationRecord, Side, WriteCommand};
use std::collections::HashMap;

/// What the rich-text values of one write command need to show their mentions and
/// inline images on the target.
pub(crate) struct TargetMarkup {
    /// Source person id → the target's side of the mention.
    people: HashMap<String, Mentioned>,
    /// Source attachment id → where its file can be seen, for an image without a copy.
    files: HashMap<String, String>,
    /// Where an image whose attachment is gone points: the source entity.
    entity_url: String,
}

/// The rich-text values of `cmd` (changes and mapped values).
fn rich_texts(cmd: &WriteCommand) -> impl Iterator<Item = &str> {
    let changed = cmd.changes.iter().map(|c| &c.value);
    changed.chain(cmd.mapped.values()).filter_map(|v| match v {
        FieldValue::RichText(h) => Some(h.as_str()),
        _ => None,
    })
}

impl TargetMarkup {
    /// `v` for the target: its mentions through `people`, its images through `copies`
    /// (source attachment id → copy), else a link to the file.
    fn value(&self, v: &FieldValue, copies: &HashMap<String, Pictured>) -> FieldValue {
        let FieldValue::RichText(html) = v else { return v.clone() };
        let person = |id: &str| self.people.get(id).cloned().unwrap_or(Mentioned::Text);
        let image = |id: &str| {
            copies.get(id).cloned().unwrap_or_else(|| {
                Pictured::Link(self.files.get(id).cloned().unwrap_or_else(|| self.entity_url.clone()))
            })
        };
        FieldValue::RichText(rewrite(html, &person, &image))
    }

    /// `cmd` with every rich-text value rewritten for the target.
    pub(crate) fn command(&self, cmd: &WriteCommand, copies: &HashMap<String, Pictured>) -> WriteCommand {
        let changes =
            cmd.changes.iter().map(|c| FieldChange { field: c.field.clone(), value: self.value(&c.value, copies) });
        let mapped = cmd.mapped.iter().map(|(k, v)| (k.clone(), self.value(v, copies)));
        WriteCommand { changes: changes.collect(), mapped: mapped.collect(), ..cmd.clone() }
    }
}

/// The sent changes whose value differs in `again` (the command rewritten with newer
/// copies), with their new value.
pub(crate) fn changed_since(sent: &[FieldChange], again: &WriteCommand) -> Vec<FieldChange> {
    sent.iter()
        .filter_map(|c| {
            let now = again.mapped.get(&c.field)?;
            (*now != c.value).then(|| FieldChange { field: c.field.clone(), value: now.clone() })
        })
        .collect()
}

impl Engine {
    /// What `cmd`'s rich-text values need for the target, `None` when they mention
    /// nobody and show no image (then nothing is asked of anyone).
    pub(crate) async fn target_markup(
        &self,
        record: &IntegrationRecord,
        cmd: &WriteCommand,
    ) -> Result<Option<TargetMarkup>, Parkable> {
        let (mut people, mut images) = (Vec::new(), Vec::new());
        for html in rich_texts(cmd) {
            people.extend(mention_ids(html));
            images.extend(image_ids(html));
        }
        if people.is_empty() && images.is_empty() {
            return Ok(None);
        }
        let (src_conn, src_scope) = self.side_connector(record, cmd.flow.source()).await?;
        let (tgt_conn, tgt_scope) = self.side_connector(record, cmd.flow.target()).await?;
        let (from, to) = ((src_conn.as_ref(), &src_scope), (tgt_conn.as_ref(), &tgt_scope));
        let people = self.people_on_target(&record.integration, cmd.flow, from, to, people).await?;
        let files = if images.is_empty() {
            HashMap::new()
        } else {
            let all = src_conn.attachments(&src_scope, &cmd.source.id).await?;
            all.into_iter().filter(|a| images.contains(&a.id)).map(|a| (a.id, a.url)).collect()
        };
        Ok(Some(TargetMarkup { people, files, entity_url: cmd.source.url.clone() }))
    }

    /// The copies of the source's attachments on the target, as the pair's record has
    /// them (`target`: the source's peer, `None` before it exists).
    pub(crate) async fn image_copies_of(
        &self,
        record: &IntegrationRecord,
        cmd: &WriteCommand,
        target: Option<&EntityId>,
    ) -> Result<HashMap<String, Pictured>, Parkable> {
        let left = match (cmd.flow.source(), target) {
            (Side::Left, _) => &cmd.source.id,
            (Side::Right, Some(t)) => t,
            (Side::Right, None) => return Ok(HashMap::new()),
        };
        let state = self.state.get_collab(&record.integration.id, left).await?.map(|(s, _)| s);
        Ok(image_copies(&state.unwrap_or_else(CollabState::default), cmd.flow.source()))
    }

    /// After the collaboration sync: the rich-text fields written with an image that
    /// has a copy only now are written once more, showing the copy, unless a person
    /// changed the field in between (theirs then syncs back). The target's fingerprint
    /// records the new value; the revision is not taken for a pure echo, since the
    /// copies made revisions of their own in between.
    pub(crate) async fn complete_rich_text(
        &self,
        ctx: &WriteCtx<'_>,
        source_cmd: &WriteCommand,
        markup: &TargetMarkup,
        written: &TargetWrite,
        batch: &Batch,
    ) -> Result<(), Parkable> {
        let (cmd, record) = (ctx.cmd, ctx.record);
        let target_id = &written.target.id;
        let copies = self.image_copies_of(record, source_cmd, Some(target_id)).await?;
        let again = markup.command(source_cmd, &copies);
        let mut changes = changed_since(written.sent(cmd), &again);
        if changes.is_empty() {
            return Ok(());
        }
        let (conn, scope) = (ctx.target_conn.as_ref(), &ctx.target_scope);
        let Some(current) = conn.get(scope, target_id, &ctx.read_fields).await? else {
            return Ok(());
        };
        let side = cmd.flow.target();
        let recorded = self.batch_fingerprint(batch, &record.integration.id, side, target_id).await?;
        changes.retain(|c| {
            let was = recorded.as_ref().and_then(|fp| fp.values.get(c.field.as_str()));
            matches!((current.field(&c.field), was), (Some(now), Some(was)) if ferry_mapping::same_value(now, was))
        });
        if changes.is_empty() {
            return Ok(());
        }
        let answer = conn.update(scope, target_id, &changes, Some(&current.revision), &ctx.read_fields).await?;
        let target = answer.target.clone();
        let mut mapped = cmd.mapped.clone();
        mapped.extend(changes.iter().map(|c| (c.field.clone(), c.value.clone())));
        let completed = WriteCommand { changes: changes.clone(), mapped, ..cmd.clone() };
        let ctx = WriteCtx {
            record,
            cmd: &completed,
            target_conn: ctx.target_conn.clone(),
            target_scope: ctx.target_scope.clone(),
            read_fields: ctx.read_fields.clone(),
        };
        let plan = UpdatePlan { send: changes, target_was_clean: false, ..UpdatePlan::create() };
        let from = Some(current.revision);
        let w = TargetWrite { target, created: false, plan, from, adoption: None, answer: Some(answer) };
        self.record_fingerprints(&ctx, &w, &Default::default(), false, Utc::now(), batch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{command, rich, snapshot, text};
    use ferry_domain::{FieldKey, Flow};

    fn markup() -> TargetMarkup {
        TargetMarkup {
            people: [("acc-alice".to_string(), Mentioned::Person { id: "g-alice".into(), name: "Alice Jones".into() })]
                .into(),
            files: [("10002".to_string(), "https://jira.test/attachment/10002".to_string())].into(),
            entity_url: "https://jira.test/browse/APP-1".into(),
        }
    }

    #[test]
    fn rich_text_values_show_the_targets_people_and_copies_and_links_where_there_is_no_copy() {
        let copies: HashMap<String, Pictured> = [("10001".to_string(), Pictured::Attachment("g-1".into()))].into();
        let cases = [
            (
                "a mapped person and a copied image",
                r#"<p><span data-ferry-mention="acc-alice">@Alice</span><img src="ferry-attachment:10001" alt="a.png"></p>"#,
                r#"<p><span data-ferry-mention="g-alice">@Alice Jones</span><img src="ferry-attachment:g-1" alt="a.png"></p>"#,
            ),
            ("an unmapped person is text", r#"<span data-ferry-mention="acc-x">@Erin</span>"#, "@Erin"),
            (
                "an image not copied links to its file",
                r#"<img src="ferry-attachment:10002" alt="b.png">"#,
                r#"<a href="https://jira.test/attachment/10002">b.png</a>"#,
            ),
            (
                "an image of a file gone links to the entity",
                r#"<img src="ferry-attachment:10009" alt="c.png">"#,
                r#"<a href="https://jira.test/browse/APP-1">c.png</a>"#,
            ),
        ];
        for (what, html, want) in cases {
            let cmd = command(Flow::LeftToRight, snapshot("APP-1", &[]), &[("System.Description", rich(html))]);
            let out = markup().command(&cmd, &copies);
            assert_eq!(out.mapped[&FieldKey::new("System.Description")], rich(want), "{what}");
        }
        let cmd = command(Flow::LeftToRight, snapshot("APP-1", &[]), &[("System.Title", text("<img src=\"x\">"))]);
        assert_eq!(markup().command(&cmd, &copies).mapped, cmd.mapped, "only rich text is rewritten");
    }

    #[test]
    fn a_field_is_written_again_only_when_a_new_copy_changes_it() {
        let linked = rich(r#"<a href="https://jira.test/attachment/10002">b.png</a>"#);
        let shown = rich(r#"<img src="ferry-attachment:g-2" alt="b.png">"#);
        let again = command(
            Flow::LeftToRight,
            snapshot("APP-1", &[]),
            &[("System.Description", shown.clone()), ("System.Title", text("Crash"))],
        );
        let sent = |v: &FieldValue| {
            vec![
                FieldChange { field: FieldKey::new("System.Description"), value: v.clone() },
                FieldChange { field: FieldKey::new("System.Title"), value: text("Crash") },
            ]
        };
        let changed = changed_since(&sent(&linked), &again);
        assert_eq!(changed, vec![FieldChange { field: FieldKey::new("System.Description"), value: shown.clone() }]);
        assert!(changed_since(&sent(&shown), &again).is_empty(), "in step already");
        assert!(changed_since(&[], &again).is_empty(), "nothing was sent");
    }
}
