//! Issue comments and their entity properties.
//!
//! Adding, editing or deleting a comment bumps the issue's `updated` and writes no
//! changelog entry (Jira keeps comments out of the changelog; docs/system-apis.md §2.9).

#![allow(clippy::result_large_err)]

use super::handlers::{
    bad_request, error, field_errors, issue_not_found, json_resp, object, parse_json, split_expand, Caller, Params, Q,
    S,
};
use super::store::{valid_adf_doc, Comment, FieldErrors, Inner, Issue, State};
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};

/// Largest entity property value Jira stores, in bytes.
const MAX_PROPERTY_BYTES: usize = 32_768;
const MAX_PROPERTY_KEY: usize = 255;

fn comment_not_found(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, &[&format!("Can not find a comment for the id: {id}.")], FieldErrors::new())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl Inner {
    /// HTML of an ADF document, as `renderedBody` carries it: paragraphs, headings, lists,
    /// text marks, mentions and media (an attachment of `issue` by its media id).
    pub fn adf_html(&self, issue: &Issue, v: &Value) -> String {
        let mut out = String::new();
        self.render_node(issue, v, &mut out);
        out
    }

    fn render_node(&self, issue: &Issue, v: &Value, out: &mut String) {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
        let attrs = v.get("attrs").cloned().unwrap_or(Value::Null);
        let children = |out: &mut String| {
            for c in v.get("content").and_then(Value::as_array).into_iter().flatten() {
                self.render_node(issue, c, out);
            }
        };
        let wrap = |tag: &str, out: &mut String| {
            out.push_str(&format!("<{tag}>"));
            children(out);
            out.push_str(&format!("</{tag}>"));
        };
        match kind {
            "doc" => children(out),
            "paragraph" => wrap("p", out),
            "heading" => {
                let level = attrs.get("level").and_then(Value::as_u64).unwrap_or(1).clamp(1, 6);
                wrap(&format!("h{level}"), out)
            }
            "bulletList" => wrap("ul", out),
            "orderedList" => wrap("ol", out),
            "listItem" => wrap("li", out),
            "blockquote" => wrap("blockquote", out),
            "codeBlock" => {
                out.push_str("<pre><code>");
                children(out);
                out.push_str("</code></pre>");
            }
            "hardBreak" => out.push_str("<br/>"),
            "text" => out.push_str(&self.render_text(v)),
            "mention" => {
                let id = attrs.get("id").and_then(Value::as_str).unwrap_or_default();
                let shown = attrs.get("text").and_then(Value::as_str).unwrap_or(id);
                out.push_str(&format!(
                    "<a href=\"{}/jira/people/{}\" class=\"user-hover\" rel=\"{}\">{}</a>",
                    self.base,
                    escape(id),
                    escape(id),
                    escape(shown)
                ));
            }
            "media" => {
                let id = attrs.get("id").and_then(Value::as_str).unwrap_or_default();
                match issue.attachments.iter().find(|a| a.media_id == id) {
                    Some(a) => out.push_str(&format!(
                        "<span class=\"image-wrap\"><img src=\"{}\" alt=\"{}\"/></span>",
                        self.api(&format!("attachment/content/{}", a.id)),
                        escape(&a.filename)
                    )),
                    None => out.push_str(&format!("<span class=\"error\">Unknown media: {}</span>", escape(id))),
                }
            }
            _ => children(out),
        }
    }

    fn render_text(&self, v: &Value) -> String {
        let mut html = escape(v.get("text").and_then(Value::as_str).unwrap_or_default());
        for m in v.get("marks").and_then(Value::as_array).into_iter().flatten() {
            let tag = match m.get("type").and_then(Value::as_str).unwrap_or_default() {
                "strong" => "b",
                "em" => "em",
                "code" => "code",
                "strike" => "del",
                "underline" => "u",
                "link" => {
                    let href = m.pointer("/attrs/href").and_then(Value::as_str).unwrap_or_default();
                    html = format!("<a href=\"{}\">{html}</a>", escape(href));
                    continue;
                }
                _ => continue,
            };
            html = format!("<{tag}>{html}</{tag}>");
        }
        html
    }

    /// `Comment`; `expand` may hold `renderedBody` and `properties`.
    pub fn comment_json(&self, issue: &Issue, c: &Comment, expand: &[String]) -> Value {
        let user = |id: &str| self.user_by_id(id).map(|u| self.user_json(u)).unwrap_or(Value::Null);
        let mut o = json!({
            "self": self.api(&format!("issue/{}/comment/{}", issue.id, c.id)),
            "id": c.id.to_string(),
            "author": user(&c.author),
            "body": c.body,
            "updateAuthor": user(&c.update_author),
            "created": self.ts(c.created),
            "updated": self.ts(c.updated),
            "jsdPublic": true,
        });
        if let Some(v) = &c.visibility {
            o["visibility"] = v.clone();
        }
        if expand.iter().any(|e| e == "renderedBody") {
            o["renderedBody"] = json!(self.adf_html(issue, &c.body));
        }
        if expand.iter().any(|e| e == "properties") {
            o["properties"] = c.properties.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        }
        o
    }

    /// The issue's `comment` field (a page of every comment).
    pub fn comment_field(&self, issue: &Issue) -> Value {
        let comments: Vec<Value> = issue.comments.iter().map(|c| self.comment_json(issue, c, &[])).collect();
        json!({
            "comments": comments,
            "self": self.api(&format!("issue/{}/comment", issue.id)),
            "maxResults": comments.len(),
            "total": comments.len(),
            "startAt": 0,
        })
    }
}

/// (issue index, comment index) of a comment id anywhere on the site.
fn locate(st: &State, id: &str) -> Option<(usize, usize)> {
    let id: u64 = id.parse().ok()?;
    st.issues.iter().enumerate().find_map(|(i, issue)| issue.comments.iter().position(|c| c.id == id).map(|c| (i, c)))
}

/// A comment of one issue: (issue index, comment index), or the 404 to answer.
fn locate_on(inner: &Inner, st: &State, key: &str, id: &str) -> Result<(usize, usize), Response> {
    let idx = inner.find_issue(st, key).ok_or_else(issue_not_found)?;
    let wanted: u64 = id.parse().map_err(|_| comment_not_found(id))?;
    let c = st.issues[idx].comments.iter().position(|c| c.id == wanted).ok_or_else(|| comment_not_found(id))?;
    Ok((idx, c))
}

/// The writable parts of a comment request: ADF `body`, optional `visibility` and
/// `properties` (`[{key, value}]`).
struct CommentInput {
    body: Value,
    visibility: Option<Value>,
    properties: Vec<(String, Value)>,
}

fn comment_input(body: &Bytes) -> Result<CommentInput, Response> {
    let v = parse_json(body)?;
    let o = object(&v)?;
    let invalid = |msg: &str| field_errors(FieldErrors::from([("comment".to_string(), msg.to_string())]));
    let doc = match o.get("body") {
        None | Some(Value::Null) => return Err(invalid("Comment body can not be empty!")),
        Some(d) if !valid_adf_doc(d) => {
            return Err(invalid("Comment body must be an Atlassian Document (see the Atlassian Document Format)."))
        }
        Some(d) => d.clone(),
    };
    if doc.get("content").and_then(Value::as_array).is_some_and(Vec::is_empty) {
        return Err(invalid("Comment body can not be empty!"));
    }
    let visibility = match o.get("visibility") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(m)) if m.get("type").is_some_and(Value::is_string) => Some(v.clone()),
        Some(_) => return Err(invalid("Visibility must be an object with a 'type' (group or role) and a 'value'.")),
    };
    let mut properties = Vec::new();
    for p in o.get("properties").and_then(Value::as_array).into_iter().flatten() {
        let key = p.get("key").and_then(Value::as_str).filter(|k| !k.is_empty() && k.len() <= MAX_PROPERTY_KEY);
        match (key, p.get("value")) {
            (Some(k), Some(v)) if v.to_string().len() <= MAX_PROPERTY_BYTES => {
                properties.push((k.to_string(), v.clone()))
            }
            _ => {
                return Err(invalid(
                    "Each property needs a key of 1 to 255 characters and a value of at most 32768 bytes.",
                ))
            }
        }
    }
    Ok(CommentInput { body: doc, visibility, properties })
}

fn order_by(p: &Params) -> Result<bool, Response> {
    match p.get("orderBy").unwrap_or("created") {
        "created" | "+created" => Ok(true),
        "-created" => Ok(false),
        other => Err(bad_request(&format!(
            "Invalid orderBy value '{other}': only 'created' (optionally signed) is supported."
        ))),
    }
}

/// `GET /issue/{key}/comment` (`PageOfComments`).
pub(super) async fn list(
    axum::extract::State(inner): S,
    Path(key): Path<String>,
    axum::extract::Query(q): Q,
) -> Response {
    let p = Params(q);
    let (start, max) = match (p.int("startAt", 0), p.int("maxResults", 100)) {
        (Ok(s), Ok(m)) => (s.max(0) as usize, m.clamp(0, 5000) as usize),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let ascending = match order_by(&p) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let expand = split_expand(p.get("expand").unwrap_or(""));
    let st = inner.lock();
    let Some(idx) = inner.find_issue(&st, &key) else {
        return issue_not_found();
    };
    let issue = &st.issues[idx];
    let mut all: Vec<&Comment> = issue.comments.iter().collect();
    if !ascending {
        all.reverse();
    }
    let page: Vec<Value> = all.iter().skip(start).take(max).map(|c| inner.comment_json(issue, c, &expand)).collect();
    json_resp(StatusCode::OK, json!({"startAt": start, "maxResults": max, "total": all.len(), "comments": page}))
}

/// `POST /issue/{key}/comment`: 201 with the `Comment`.
pub(super) async fn add(
    axum::extract::State(inner): S,
    Extension(Caller(me)): Extension<Caller>,
    Path(key): Path<String>,
    axum::extract::Query(q): Q,
    body: Bytes,
) -> Response {
    let expand = split_expand(Params(q).get("expand").unwrap_or(""));
    let input = match comment_input(&body) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let mut st = inner.lock();
    let Some(idx) = inner.find_issue(&st, &key) else {
        return issue_not_found();
    };
    let limit = inner.seed.issue_limits.comments;
    if st.issues[idx].comments.len() >= limit {
        let msg = format!("The issue has reached the limit of {limit} comments.");
        return error(StatusCode::PAYLOAD_TOO_LARGE, &[&msg], FieldErrors::new());
    }
    let id = st.next_comment_id;
    st.next_comment_id += 1;
    let at = st.touch(idx);
    let c = Comment {
        id,
        author: me.id.clone(),
        update_author: me.id.clone(),
        body: input.body,
        created: at,
        updated: at,
        visibility: input.visibility,
        properties: input.properties.into_iter().collect(),
    };
    let issue = &mut st.issues[idx];
    issue.comments.push(c);
    let out = inner.comment_json(issue, issue.comments.last().expect("just pushed"), &expand);
    json_resp(StatusCode::CREATED, out)
}

/// `GET /issue/{key}/comment/{id}`.
pub(super) async fn get(
    axum::extract::State(inner): S,
    Path((key, id)): Path<(String, String)>,
    axum::extract::Query(q): Q,
) -> Response {
    let expand = split_expand(Params(q).get("expand").unwrap_or(""));
    let st = inner.lock();
    match locate_on(&inner, &st, &key, &id) {
        Ok((i, c)) => json_resp(StatusCode::OK, inner.comment_json(&st.issues[i], &st.issues[i].comments[c], &expand)),
        Err(e) => e,
    }
}

/// `PUT /issue/{key}/comment/{id}`: replaces the body (and visibility, properties).
pub(super) async fn update(
    axum::extract::State(inner): S,
    Extension(Caller(me)): Extension<Caller>,
    Path((key, id)): Path<(String, String)>,
    axum::extract::Query(q): Q,
    body: Bytes,
) -> Response {
    let expand = split_expand(Params(q).get("expand").unwrap_or(""));
    let input = match comment_input(&body) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let mut st = inner.lock();
    let (i, c) = match locate_on(&inner, &st, &key, &id) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let at = st.touch(i);
    let comment = &mut st.issues[i].comments[c];
    comment.body = input.body;
    comment.visibility = input.visibility;
    comment.update_author = me.id.clone();
    comment.updated = at;
    comment.properties.extend(input.properties);
    let issue = &st.issues[i];
    json_resp(StatusCode::OK, inner.comment_json(issue, &issue.comments[c], &expand))
}

/// `DELETE /issue/{key}/comment/{id}`: 204.
pub(super) async fn delete(axum::extract::State(inner): S, Path((key, id)): Path<(String, String)>) -> Response {
    let mut st = inner.lock();
    let (i, c) = match locate_on(&inner, &st, &key, &id) {
        Ok(x) => x,
        Err(e) => return e,
    };
    st.issues[i].comments.remove(c);
    st.touch(i);
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /comment/list` (`IssueCommentListRequestBean` -> `PageBeanComment`).
pub(super) async fn by_ids(axum::extract::State(inner): S, axum::extract::Query(q): Q, body: Bytes) -> Response {
    let expand = split_expand(Params(q).get("expand").unwrap_or(""));
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let ids: Option<Vec<u64>> =
        v.get("ids").and_then(Value::as_array).and_then(|a| a.iter().map(Value::as_u64).collect());
    let Some(mut ids) = ids.filter(|i| !i.is_empty() && i.len() <= 1000) else {
        return bad_request("Between 1 and 1000 comment ids must be provided.");
    };
    ids.sort_unstable();
    ids.dedup();
    let st = inner.lock();
    let values: Vec<Value> = ids
        .iter()
        .filter_map(|id| locate(&st, &id.to_string()))
        .map(|(i, c)| inner.comment_json(&st.issues[i], &st.issues[i].comments[c], &expand))
        .collect();
    json_resp(
        StatusCode::OK,
        json!({"isLast": true, "maxResults": 1000, "startAt": 0, "total": values.len(), "values": values}),
    )
}

/// `GET /comment/{id}/properties` (`PropertyKeys`).
pub(super) async fn property_keys(axum::extract::State(inner): S, Path(id): Path<String>) -> Response {
    let st = inner.lock();
    let Some((i, c)) = locate(&st, &id) else {
        return comment_not_found(&id);
    };
    let keys: Vec<Value> = st.issues[i].comments[c]
        .properties
        .keys()
        .map(|k| json!({"key": k, "self": inner.api(&format!("comment/{id}/properties/{k}"))}))
        .collect();
    json_resp(StatusCode::OK, json!({ "keys": keys }))
}

fn property_not_found(key: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &[&format!("The property with key '{key}' does not exist on comment {id}.")],
        FieldErrors::new(),
    )
}

/// `GET /comment/{id}/properties/{key}` (`EntityProperty`).
pub(super) async fn get_property(axum::extract::State(inner): S, Path((id, key)): Path<(String, String)>) -> Response {
    let st = inner.lock();
    let Some((i, c)) = locate(&st, &id) else {
        return comment_not_found(&id);
    };
    match st.issues[i].comments[c].properties.get(&key) {
        Some(v) => json_resp(StatusCode::OK, json!({"key": key, "value": v})),
        None => property_not_found(&key, &id),
    }
}

/// `PUT /comment/{id}/properties/{key}`: 201 when created, 200 when replaced, no body.
pub(super) async fn set_property(
    axum::extract::State(inner): S,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if key.is_empty() || key.len() > MAX_PROPERTY_KEY {
        return bad_request("The property key must be between 1 and 255 characters long.");
    }
    if body.len() > MAX_PROPERTY_BYTES {
        return bad_request("The property value must not be longer than 32768 bytes.");
    }
    let value = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => v,
        Err(_) => return bad_request("The property value must be a valid, non-empty JSON value."),
    };
    let mut st = inner.lock();
    let Some((i, c)) = locate(&st, &id) else {
        return comment_not_found(&id);
    };
    let existed = st.issues[i].comments[c].properties.insert(key, value).is_some();
    if existed {
        StatusCode::OK.into_response()
    } else {
        StatusCode::CREATED.into_response()
    }
}

/// `DELETE /comment/{id}/properties/{key}`: 204.
pub(super) async fn delete_property(
    axum::extract::State(inner): S,
    Path((id, key)): Path<(String, String)>,
) -> Response {
    let mut st = inner.lock();
    let Some((i, c)) = locate(&st, &id) else {
        return comment_not_found(&id);
    };
    match st.issues[i].comments[c].properties.remove(&key) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => property_not_found(&key, &id),
    }
}
