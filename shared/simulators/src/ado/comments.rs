//! Work item comments (7.1-preview.4): list, get, add, edit, delete and versions.
//!
//! A comment is a discussion entry. Adding one writes a revision of the work item that
//! sets `System.History` (the comment as HTML) and raises `System.CommentCount`, as a PATCH
//! of `System.History` does. Editing one adds a comment version and leaves the work item's
//! revision alone. Deleting one marks it deleted and writes a revision that lowers
//! `System.CommentCount` (docs/system-apis.md §3.8).

use super::api::{bad_request, not_found, parse_id, parse_num, require_content_type};
use super::model::{fmt_date, identity_ref, CommentRec, CommentText, Item, Snapshot, Store, UpdateRec};
use super::patch::{self, Target};
use super::{Call, Inner, Reply};
use crate::common::SimUser;
use serde_json::{json, Map, Value};

/// Most comments one list page holds.
const MAX_TOP: usize = 200;

/// What a comment rendering includes (`$expand`).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Expand {
    text: bool,
    rendered: bool,
}

fn parse_expand(call: &Call) -> Result<Expand, Reply> {
    Ok(match call.params.get("$expand").map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("none") | Some("reactions") => Expand { text: true, rendered: false },
        Some("renderedtext") | Some("all") => Expand { text: true, rendered: true },
        Some("renderedtextonly") => Expand { text: false, rendered: true },
        Some(other) => {
            return Err(bad_request(format!(
                "The $expand value '{other}' is not valid; use none, reactions, renderedText, renderedTextOnly or all."
            )))
        }
    })
}

fn parse_format(call: &Call) -> Result<Option<&'static str>, Reply> {
    match call.params.get("format").map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Ok(None),
        Some("html") => Ok(Some("html")),
        Some("markdown") => Ok(Some("markdown")),
        Some(other) => Err(bad_request(format!("The format '{other}' is not valid; use markdown or html."))),
    }
}

fn flag(call: &Call, name: &str) -> Result<bool, Reply> {
    match call.params.get(name) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(bad_request(format!("The value '{v}' of query parameter {name} is not a boolean."))),
    }
}

fn comment_not_found(id: u64, cid: u64) -> Reply {
    Reply::error(
        404,
        "WorkItemCommentNotFoundException",
        format!("TF401214: Comment {cid} of work item {id} does not exist."),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The GUIDs a comment mentions: `data-vss-mention="version:2.0,{guid}"` in HTML,
/// `@<guid>` in markdown.
pub(crate) fn mentioned_ids(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |id: &str| {
        let id = id.trim().trim_matches(['{', '}']).to_ascii_lowercase();
        if uuid::Uuid::parse_str(&id).is_ok() && !out.contains(&id) {
            out.push(id);
        }
    };
    for chunk in text.split("data-vss-mention=\"").skip(1) {
        let value = chunk.split('"').next().unwrap_or_default();
        if let Some((_, id)) = value.split_once(',') {
            push(id);
        }
    }
    for chunk in text.split("@<").skip(1) {
        if let Some((id, _)) = chunk.split_once('>') {
            push(id);
        }
    }
    out
}

/// HTML of a markdown comment: paragraphs, headings, emphasis, code, links, images and
/// `@<guid>` mentions (rendered as the service's mention anchors).
pub(crate) fn markdown_html(inner: &Inner, md: &str) -> String {
    let mut html = String::new();
    for block in md.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        let level = block.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&level) && block[level..].starts_with(' ') {
            html.push_str(&format!("<h{level}>{}</h{level}>", inline(inner, block[level..].trim())));
        } else {
            let lines: Vec<String> = block.lines().map(|l| inline(inner, l.trim_end())).collect();
            html.push_str(&format!("<p>{}</p>", lines.join("<br>")));
        }
    }
    html
}

fn inline(inner: &Inner, text: &str) -> String {
    let mut out = escape(text);
    // Images and links: ![alt](url), [text](url); escaping left brackets and parens alone.
    for image in [true, false] {
        let open = if image { "![" } else { "[" };
        while let Some(start) = out.find(open) {
            let rest = &out[start + open.len()..];
            let Some((label, after)) = rest.split_once("](") else { break };
            let Some((url, tail)) = after.split_once(')') else { break };
            let made = if image {
                format!("<img src=\"{url}\" alt=\"{label}\">")
            } else {
                format!("<a href=\"{url}\">{label}</a>")
            };
            out = format!("{}{made}{tail}", &out[..start]);
        }
    }
    // `_` is left alone: it is common in URLs (`/_apis/`).
    for (mark, tag) in [("**", "strong"), ("`", "code"), ("*", "em")] {
        out = emphasis(&out, mark, tag);
    }
    for id in mentioned_ids(text) {
        let name = inner.seed.users.iter().find(|u| u.id.eq_ignore_ascii_case(&id)).map(|u| u.display_name.clone());
        let anchor = format!(
            "<a href=\"#\" data-vss-mention=\"version:2.0,{id}\">@{}</a>",
            escape(name.as_deref().unwrap_or(&id))
        );
        out = out.replace(&format!("@&lt;{id}&gt;"), &anchor);
    }
    out
}

/// Each `mark … mark` pair becomes `<tag>…</tag>`; an unpaired mark stays as it is.
fn emphasis(text: &str, mark: &str, tag: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find(mark) {
        let after = &rest[open + mark.len()..];
        match after.find(mark) {
            Some(close) if close > 0 => {
                out.push_str(&rest[..open]);
                out.push_str(&format!("<{tag}>{}</{tag}>", &after[..close]));
                rest = &after[close + mark.len()..];
            }
            _ => break,
        }
    }
    out.push_str(rest);
    out
}

fn rendered(inner: &Inner, t: &CommentText) -> String {
    if t.format == "markdown" {
        markdown_html(inner, &t.text)
    } else {
        t.text.clone()
    }
}

fn user_ref(inner: &Inner, id: &str) -> Value {
    inner.seed.users.iter().find(|u| u.id == id).map(|u| identity_ref(&inner.base, u)).unwrap_or(Value::Null)
}

fn comment_url(inner: &Inner, item: &Item, cid: u64) -> String {
    format!("{}/{}/_apis/wit/workItems/{}/comments/{cid}", inner.base, item.project_id, item.id)
}

/// `Comment`.
fn comment_json(inner: &Inner, item: &Item, c: &CommentRec, expand: Expand) -> Value {
    let first = &c.versions[0];
    let cur = c.current();
    let mut o = Map::new();
    o.insert("workItemId".into(), json!(item.id));
    o.insert("id".into(), json!(c.id));
    o.insert("version".into(), json!(c.versions.len()));
    if expand.text {
        o.insert("text".into(), json!(cur.text));
    }
    if expand.rendered {
        o.insert("renderedText".into(), json!(rendered(inner, cur)));
    }
    o.insert("format".into(), json!(cur.format));
    o.insert("createdBy".into(), user_ref(inner, &first.by_user));
    o.insert("createdDate".into(), json!(fmt_date(first.at)));
    o.insert("modifiedBy".into(), user_ref(inner, &cur.by_user));
    o.insert("modifiedDate".into(), json!(fmt_date(cur.at)));
    o.insert("isDeleted".into(), json!(cur.deleted));
    let mentions: Vec<Value> = mentioned_ids(&cur.text)
        .into_iter()
        .map(|g| json!({"artifactId": g, "artifactType": "Person", "commentId": c.id, "targetId": g}))
        .collect();
    if !mentions.is_empty() {
        o.insert("mentions".into(), Value::Array(mentions));
    }
    o.insert("url".into(), json!(comment_url(inner, item, c.id)));
    Value::Object(o)
}

fn find_item<'a>(store: &'a Store, call: &Call, id: u64) -> Result<&'a Item, Reply> {
    let item = store.items.get(&id).ok_or_else(|| not_found(id))?;
    if call.project.is_some_and(|p| p.id != item.project_id) {
        return Err(not_found(id));
    }
    Ok(item)
}

fn parse_cid(cid: &str) -> Result<u64, Reply> {
    cid.parse().map_err(|_| bad_request(format!("The comment id '{cid}' is not valid.")))
}

/// `GET …/comments` (`CommentList`): newest first unless `order=asc`; `ids` reads those
/// comments only (the batch variant).
pub(crate) fn list(inner: &Inner, call: &Call, id: &str) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let id = parse_id(id)?;
        let top = parse_num(call, "$top")?.unwrap_or(MAX_TOP).min(MAX_TOP);
        let skip: usize = match call.params.get("continuationToken") {
            None | Some("") => 0,
            Some(t) => t.parse().map_err(|_| bad_request(format!("The continuationToken '{t}' is not valid.")))?,
        };
        let ascending = match call.params.get("order").map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("desc") => false,
            Some("asc") => true,
            Some(other) => return Err(bad_request(format!("The order '{other}' is not valid; use asc or desc."))),
        };
        let (expand, deleted) = (parse_expand(call)?, flag(call, "includeDeleted")?);
        let wanted: Option<Vec<u64>> = match call.params.get("ids") {
            None => None,
            Some(s) => Some(s.split(',').map(|x| parse_cid(x.trim())).collect::<Result<_, _>>()?),
        };
        let store = inner.store();
        let item = find_item(&store, call, id)?;
        let mut all: Vec<Value> = item
            .comments
            .iter()
            .filter(|c| deleted || !c.is_deleted())
            .filter(|c| match &wanted {
                None => true,
                Some(w) => w.contains(&c.id),
            })
            .map(|c| comment_json(inner, item, c, expand))
            .collect();
        if !ascending {
            all.reverse();
        }
        let total = all.len();
        let page: Vec<Value> = all.into_iter().skip(skip).take(top).collect();
        let mut out = json!({"totalCount": total, "count": page.len(), "comments": page});
        if skip + top < total {
            let next = (skip + top).to_string();
            out["continuationToken"] = json!(next);
            out["nextPage"] = json!(format!(
                "{}/{}/_apis/wit/workItems/{id}/comments?continuationToken={next}&api-version=7.1-preview.4",
                inner.base, item.project_id
            ));
        }
        Ok(Reply::ok(out))
    };
    run().unwrap_or_else(|e| e)
}

/// `GET …/comments/{commentId}`; a deleted comment only with `includeDeleted=true`.
pub(crate) fn get(inner: &Inner, call: &Call, id: &str, cid: &str) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let (id, cid) = (parse_id(id)?, parse_cid(cid)?);
        let (expand, deleted) = (parse_expand(call)?, flag(call, "includeDeleted")?);
        let store = inner.store();
        let item = find_item(&store, call, id)?;
        let c = item.comments.iter().find(|c| c.id == cid && (deleted || !c.is_deleted()));
        c.map(|c| Reply::ok(comment_json(inner, item, c, expand))).ok_or_else(|| comment_not_found(id, cid))
    };
    run().unwrap_or_else(|e| e)
}

fn comment_text(call: &Call) -> Result<String, Reply> {
    require_content_type(call, "application/json")?;
    let body: Value = serde_json::from_slice(call.body)
        .map_err(|e| bad_request(format!("The request body is not valid JSON: {e}.")))?;
    body.get("text")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| bad_request("Value cannot be null or empty. Parameter name: request.Text"))
}

/// `POST …/comments[?format=markdown|html]`: a new revision with `System.History`.
pub(crate) fn add(inner: &Inner, call: &Call, id: &str) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let id = parse_id(id)?;
        let format = parse_format(call)?.unwrap_or("html");
        let text = comment_text(call)?;
        let first = CommentText {
            text: text.clone(),
            format: format.into(),
            by_user: call.user.id.clone(),
            at: chrono::Utc::now(),
            deleted: false,
        };
        let history = rendered(inner, &first);
        let mut store = inner.store();
        find_item(&store, call, id)?;
        let ops = json!([{"op": "add", "path": "/fields/System.History", "value": history}]);
        patch::apply(inner, &mut store, call.user, Target::Update { id }, &ops, false, None)?;
        let item = store.items.get_mut(&id).ok_or_else(|| not_found(id))?;
        let c = item.comments.last_mut().ok_or_else(|| not_found(id))?;
        c.versions[0].text = text;
        c.versions[0].format = format.into();
        let (item, c) = (&*item, item.comments.last().ok_or_else(|| not_found(id))?);
        Ok(Reply::ok(comment_json(inner, item, c, Expand { text: true, rendered: true })))
    };
    run().unwrap_or_else(|e| e)
}

/// `PATCH …/comments/{commentId}[?format=…]`: a new version of the text; the work item
/// keeps its revision.
pub(crate) fn update(inner: &Inner, call: &Call, id: &str, cid: &str) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let (id, cid) = (parse_id(id)?, parse_cid(cid)?);
        let format = parse_format(call)?;
        let text = comment_text(call)?;
        let mut store = inner.store();
        find_item(&store, call, id)?;
        let at = store.next_ts();
        let item = store.items.get_mut(&id).ok_or_else(|| not_found(id))?;
        let c = item
            .comments
            .iter_mut()
            .find(|c| c.id == cid && !c.is_deleted())
            .ok_or_else(|| comment_not_found(id, cid))?;
        let format = format.map(str::to_string).unwrap_or_else(|| c.current().format.clone());
        c.versions.push(CommentText { text, format, by_user: call.user.id.clone(), at, deleted: false });
        let item = store.items.get(&id).ok_or_else(|| not_found(id))?;
        let c = item.comments.iter().find(|c| c.id == cid).ok_or_else(|| comment_not_found(id, cid))?;
        Ok(Reply::ok(comment_json(inner, item, c, Expand { text: true, rendered: true })))
    };
    run().unwrap_or_else(|e| e)
}

/// `DELETE …/comments/{commentId}`: 200 without a body; the comment is kept as deleted
/// and a revision lowers `System.CommentCount`.
pub(crate) fn delete(inner: &Inner, call: &Call, id: &str, cid: &str) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let (id, cid) = (parse_id(id)?, parse_cid(cid)?);
        let mut store = inner.store();
        find_item(&store, call, id)?;
        let at = store.next_ts();
        let item = store.items.get_mut(&id).ok_or_else(|| not_found(id))?;
        let c = item
            .comments
            .iter_mut()
            .find(|c| c.id == cid && !c.is_deleted())
            .ok_or_else(|| comment_not_found(id, cid))?;
        let last = c.current().clone();
        c.versions.push(CommentText { by_user: call.user.id.clone(), at, deleted: true, ..last });
        let count = item.comments.iter().filter(|c| !c.is_deleted()).count();
        count_revision(inner, item, call.user, count, at);
        Ok(Reply::empty(200))
    };
    run().unwrap_or_else(|e| e)
}

/// A revision whose only change is `System.CommentCount` (with the change bookkeeping).
fn count_revision(inner: &Inner, item: &mut Item, user: &SimUser, count: usize, at: chrono::DateTime<chrono::Utc>) {
    let old = item.current().clone();
    let mut fields = old.fields.clone();
    fields.remove("System.History");
    let me = identity_ref(&inner.base, user);
    let mut diff = Map::new();
    let mut set = |k: &str, v: Value| {
        let previous = old.fields.get(k).cloned();
        if previous.as_ref() != Some(&v) {
            let mut change = json!({ "newValue": v });
            if let Some(p) = previous {
                change["oldValue"] = p;
            }
            diff.insert(k.to_string(), change);
            fields.insert(k.to_string(), v);
        }
    };
    set("System.CommentCount", json!(count));
    set("System.ChangedDate", json!(fmt_date(at)));
    set("System.ChangedBy", me);
    let rev = old.rev + 1;
    diff.insert("System.Rev".into(), json!({"oldValue": old.rev, "newValue": rev}));
    item.revisions.push(Snapshot { rev, fields, relations: old.relations, changed: at });
    item.updates.push(UpdateRec { rev, by_user: user.id.clone(), fields: diff, relations: None, at });
}

/// `GET …/comments/{commentId}/versions[/{version}]` (`CommentVersion`).
pub(crate) fn versions(inner: &Inner, call: &Call, id: &str, cid: &str, number: Option<&str>) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let (id, cid) = (parse_id(id)?, parse_cid(cid)?);
        let store = inner.store();
        let item = find_item(&store, call, id)?;
        let c = item.comments.iter().find(|c| c.id == cid).ok_or_else(|| comment_not_found(id, cid))?;
        let first = &c.versions[0];
        let one = |n: usize, v: &CommentText| {
            json!({
                "id": c.id, "version": n, "text": v.text, "renderedText": rendered(inner, v),
                "createdBy": user_ref(inner, &first.by_user), "createdDate": fmt_date(first.at),
                "modifiedBy": user_ref(inner, &v.by_user), "modifiedDate": fmt_date(v.at), "isDeleted": v.deleted,
                "url": format!("{}/versions/{n}", comment_url(inner, item, c.id)),
            })
        };
        match number {
            None => Ok(Reply::list(c.versions.iter().enumerate().map(|(i, v)| one(i + 1, v)).collect())),
            Some(n) => {
                let n: usize = n.parse().map_err(|_| bad_request(format!("The version '{n}' is not valid.")))?;
                let v = n.checked_sub(1).and_then(|i| c.versions.get(i));
                v.map(|v| Reply::ok(one(n, v))).ok_or_else(|| comment_not_found(id, cid))
            }
        }
    };
    run().unwrap_or_else(|e| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emphasis_marks_pair_up_and_an_unpaired_one_stays() {
        assert_eq!(emphasis("**a** and **b**", "**", "strong"), "<strong>a</strong> and <strong>b</strong>");
        assert_eq!(emphasis("2 * 3 = 6", "*", "em"), "2 * 3 = 6");
        assert_eq!(emphasis("*x* then *", "*", "em"), "<em>x</em> then *");
        assert_eq!(emphasis("``", "`", "code"), "``");
    }

    #[test]
    fn mentions_are_read_from_html_anchors_and_markdown() {
        let g = "8c2a0000-0000-4000-8000-000000000002";
        let html = format!("<div><a href=\"#\" data-vss-mention=\"version:2.0,{g}\">@Alice Jones</a> look</div>");
        assert_eq!(mentioned_ids(&html), vec![g.to_string()]);
        assert_eq!(mentioned_ids(&format!("hi @<{}> and @<{g}>", g.to_uppercase())), vec![g.to_string()]);
        assert!(mentioned_ids("mail me @ home <b>x</b>").is_empty());
    }
}
