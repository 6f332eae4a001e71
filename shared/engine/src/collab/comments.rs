//! Which comments a write step posts, edits or deletes on the target: one rule, from
//! the comments of both sides and the pairs Ferry recorded.
//!
//! A comment pair joins a person's comment (the original) and Ferry's copy of it on the
//! other side. The original rules: its edits and its deletion reach the copy; a copy is
//! never copied back (that is the echo of comments), and a person's comment is never
//! taken for a copy — a copy is known by its pair, or by the origin mark Ferry left on it
//! when a crash came between posting it and recording the pair.

use chrono::{DateTime, Utc};
use ferry_domain::{text_digest, Comment, CommentPair, Side};

/// What to do on the target for one comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentAction {
    /// Post a copy of the source comment `source` (its id).
    Post { source: String },
    /// A copy with the source comment's origin mark is on the target already (a crash
    /// came after posting it): record the pair, post nothing.
    Adopt { source: String, target: String },
    /// The source comment was edited: write its body over the copy `target`.
    Edit { source: String, target: String },
    /// The source comment is gone: delete the copy `target`, and the pair.
    Delete { target: String },
    /// The copy `target` is gone from the target (someone deleted it): drop the pair and
    /// leave the original alone.
    Forget { target: String },
}

/// The origin mark of a copy of `comment` (see [`ferry_domain::CommentWrite::origin`]):
/// names the integration, the source side, the source entity and the comment.
pub fn origin_mark(integration: &str, side: Side, entity: &str, comment: &str) -> String {
    format!("ferry:{integration}:{}:{entity}:{comment}", side.as_str())
}

/// The comments of one flow: `source` and `target` as read now, `pairs` as recorded,
/// `start` the flow's start polling time (older comments are not copied), `mark` the
/// origin mark of a source comment id, `by_ferry` whether a comment is Ferry's (its
/// origin mark, or written by the integration user: people do not work under Ferry's
/// account, so an unpaired comment of that user is a copy whose pair was not recorded).
pub struct CommentView<'a> {
    pub source_side: Side,
    pub source: &'a [Comment],
    pub target: &'a [Comment],
    pub pairs: &'a [CommentPair],
    pub start: DateTime<Utc>,
    pub mark: &'a (dyn Fn(&str) -> String + Sync),
    pub by_ferry: &'a (dyn Fn(&Comment) -> bool + Sync),
}

/// The actions that bring the target's comments in line with the source's, in order:
/// deletions and forgets first, then edits, then posts oldest first. The origin mark of a
/// comment ends with the comment's id ([`origin_mark`]): the mark of `""` is the prefix
/// every copy of this flow's source entity carries.
pub fn plan_comments(v: &CommentView<'_>) -> Vec<CommentAction> {
    let src = v.source_side;
    let tgt = src.other();
    let mut out = Vec::new();
    for p in v.pairs.iter().filter(|p| p.original == src) {
        let copy_exists = v.target.iter().any(|c| c.id == p.id(tgt));
        match v.source.iter().find(|c| c.id == p.id(src)) {
            None if copy_exists => out.push(CommentAction::Delete { target: p.id(tgt).to_string() }),
            None => out.push(CommentAction::Forget { target: p.id(tgt).to_string() }),
            Some(_) if !copy_exists => out.push(CommentAction::Forget { target: p.id(tgt).to_string() }),
            Some(c) if text_digest(&c.body) != p.digest => {
                out.push(CommentAction::Edit { source: c.id.clone(), target: p.id(tgt).to_string() })
            }
            Some(_) => {}
        }
    }
    // A copy whose pair a crash lost and whose original is gone since: only its mark
    // (this flow's source entity, a comment it no longer holds) ties it to the original.
    for t in v.target.iter().filter(|t| !v.pairs.iter().any(|p| p.id(tgt) == t.id)) {
        let gone = |m: &String| !v.source.iter().any(|c| (v.mark)(&c.id) == *m);
        if t.origin.as_ref().is_some_and(|m| m.starts_with(&(v.mark)("")) && gone(m)) {
            out.push(CommentAction::Delete { target: t.id.clone() });
        }
    }
    let mut fresh: Vec<&Comment> = v
        .source
        .iter()
        .filter(|c| !v.pairs.iter().any(|p| p.id(src) == c.id))
        .filter(|c| !(v.by_ferry)(c))
        .filter(|c| c.created >= v.start)
        .collect();
    fresh.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    for c in fresh {
        let mark = (v.mark)(&c.id);
        match v.target.iter().find(|t| t.origin.as_deref() == Some(mark.as_str())) {
            Some(t) => out.push(CommentAction::Adopt { source: c.id.clone(), target: t.id.clone() }),
            None => out.push(CommentAction::Post { source: c.id.clone() }),
        }
    }
    out
}

/// The body of a copy: who wrote the original and when, then the original's body.
pub fn attributed(author: &str, when: DateTime<Utc>, url: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 160);
    out.push_str("<p><em>");
    ferry_domain::html::escape_html_into(author, &mut out, false);
    out.push_str(" wrote on ");
    out.push_str(&when.format("%Y-%m-%d %H:%M UTC").to_string());
    if !url.is_empty() {
        out.push_str(" (<a href=\"");
        ferry_domain::html::escape_html_into(url, &mut out, false);
        out.push_str("\">original</a>)");
    }
    out.push_str(":</em></p>");
    out.push_str(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(m: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + m * 60, 0).expect("in range")
    }

    fn comment(id: &str, minute: i64, body: &str, origin: Option<&str>) -> Comment {
        Comment {
            id: id.into(),
            author: None,
            created: at(minute),
            updated: at(minute),
            body: body.into(),
            url: String::new(),
            origin: origin.map(str::to_string),
        }
    }

    fn pair(left: &str, right: &str, original: Side, body: &str) -> CommentPair {
        CommentPair { left: left.into(), right: right.into(), original, digest: text_digest(body) }
    }

    fn mark(id: &str) -> String {
        origin_mark("i", Side::Left, "APP-1", id)
    }

    fn plan(source: &[Comment], target: &[Comment], pairs: &[CommentPair]) -> Vec<CommentAction> {
        let by_ferry = |c: &Comment| c.origin.is_some() || c.author.as_ref().is_some_and(|a| a.id == "bot");
        plan_comments(&CommentView {
            source_side: Side::Left,
            source,
            target,
            pairs,
            start: at(10),
            mark: &mark,
            by_ferry: &by_ferry,
        })
    }

    #[test]
    fn a_new_comment_is_posted_and_one_from_before_the_start_is_not() {
        let source = [comment("1", 5, "old", None), comment("3", 12, "b", None), comment("2", 11, "a", None)];
        assert_eq!(
            plan(&source, &[], &[]),
            [CommentAction::Post { source: "2".into() }, CommentAction::Post { source: "3".into() }],
            "oldest first; the comment older than the start stays behind"
        );
    }

    #[test]
    fn a_copy_posted_before_a_crash_is_adopted_by_its_mark_not_posted_again() {
        let source = [comment("1", 11, "a", None)];
        let target = [comment("900", 12, "copy", Some(&mark("1")))];
        assert_eq!(plan(&source, &target, &[]), [CommentAction::Adopt { source: "1".into(), target: "900".into() }]);
    }

    #[test]
    fn ferrys_copies_on_the_source_are_never_copied_back() {
        // 7 is the copy of the right side's comment 50 (its pair says so); 8 carries a
        // mark of another flow (the pair was not recorded yet).
        let source = [comment("7", 11, "copy", None), comment("8", 12, "copy", Some("ferry:i:right:5:51"))];
        let pairs = [pair("7", "50", Side::Right, "x")];
        assert_eq!(plan(&source, &[comment("50", 11, "x", None)], &pairs), []);
    }

    #[test]
    fn an_unpaired_comment_of_the_integration_user_is_ferrys_not_a_persons() {
        let mut c = comment("9", 11, "copy whose pair was lost", None);
        c.author = Some(ferry_domain::UserRef { id: "bot".into(), email: None, display_name: None });
        assert_eq!(plan(&[c], &[], &[]), []);
    }

    #[test]
    fn an_edited_original_rewrites_its_copy_and_an_unchanged_one_does_nothing() {
        let source = [comment("1", 11, "edited", None), comment("2", 12, "same", None)];
        let target = [comment("900", 11, "copy", None), comment("901", 12, "copy", None)];
        let pairs = [pair("1", "900", Side::Left, "first"), pair("2", "901", Side::Left, "same")];
        assert_eq!(plan(&source, &target, &pairs), [CommentAction::Edit { source: "1".into(), target: "900".into() }]);
    }

    #[test]
    fn a_deleted_original_deletes_its_copy_and_a_deleted_copy_is_only_forgotten() {
        let target = [comment("900", 11, "copy", None)];
        let pairs = [pair("1", "900", Side::Left, "a"), pair("2", "901", Side::Left, "b")];
        let source = [comment("2", 12, "b", None)];
        assert_eq!(
            plan(&source, &target, &pairs),
            [CommentAction::Delete { target: "900".into() }, CommentAction::Forget { target: "901".into() }],
            "1 was deleted by its author; 901 (the copy of 2) was deleted on the target"
        );
    }

    #[test]
    fn a_copy_whose_original_was_deleted_before_its_pair_was_recorded_is_deleted() {
        // 900 was posted, the write crashed before recording the pair, then the person
        // deleted comment 1: only the mark ties the copy to it. 901 is a copy of a
        // comment that still exists (adopted), 902 one of another entity's comment.
        let target = [
            comment("900", 11, "copy", Some(&mark("1"))),
            comment("901", 12, "copy", Some(&mark("2"))),
            comment("902", 12, "copy", Some(&origin_mark("i", Side::Left, "APP-2", "1"))),
        ];
        let source = [comment("2", 12, "b", None)];
        assert_eq!(
            plan(&source, &target, &[]),
            [
                CommentAction::Delete { target: "900".into() },
                CommentAction::Adopt { source: "2".into(), target: "901".into() }
            ]
        );
    }

    #[test]
    fn pairs_of_the_other_direction_are_left_to_it() {
        let pairs = [pair("7", "50", Side::Right, "x")];
        assert_eq!(plan(&[], &[], &pairs), [], "the right side's original is not this flow's to delete");
    }

    #[test]
    fn a_copy_names_its_author_time_and_original() {
        let html = attributed("Alice <Jones>", at(0), "https://x.test/c?a=1&b=2", "<p>Hi</p>");
        assert_eq!(
            html,
            "<p><em>Alice &lt;Jones&gt; wrote on 2026-11-18 11:06 UTC (<a href=\"https://x.test/c?a=1&amp;b=2\">original</a>):</em></p><p>Hi</p>"
        );
    }
}
