//! Issue links between two issues of the site: link types, create, read, delete, the
//! issues' `issuelinks` field and the `Link` changelog items on both ends.
//!
//! Direction: `POST /issueLink` with `inwardIssue: A, outwardIssue: B` and type Blocks
//! means "A blocks B". A's `issuelinks` entry then carries `outwardIssue: B` (A shows the
//! type's outward description), B's carries `inwardIssue: A` (docs/system-apis.md §2.13).

#![allow(clippy::result_large_err)]

use super::handlers::{error, json_resp, object, parse_json, Caller, S};
use super::store::{valid_adf_doc, ChangeItem, Comment, FieldErrors, Inner, IssueLink, State};
use super::JiraLinkType;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};

fn linking_disabled() -> Response {
    error(StatusCode::NOT_FOUND, &["Issue linking is currently disabled."], FieldErrors::new())
}

fn link_not_found(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, &[&format!("No issue link with id '{id}' exists.")], FieldErrors::new())
}

impl Inner {
    pub fn link_type_json(&self, t: &JiraLinkType) -> Value {
        json!({
            "id": t.id, "name": t.name, "inward": t.inward, "outward": t.outward,
            "self": self.api(&format!("issueLinkType/{}", t.id)),
        })
    }

    fn link_type(&self, id: &str) -> Option<&JiraLinkType> {
        self.seed.issue_link_types.iter().find(|t| t.id == id)
    }

    /// The issue's `issuelinks`: each link it takes part in, with the issue at the other end.
    pub fn issue_links_json(&self, st: &State, issue: &super::store::Issue) -> Vec<Value> {
        st.issue_links
            .iter()
            .filter(|l| l.source == issue.id || l.dest == issue.id)
            .filter_map(|l| {
                let t = self.link_type(&l.type_id)?;
                let mut o = json!({
                    "id": l.id.to_string(),
                    "self": self.api(&format!("issueLink/{}", l.id)),
                    "type": self.link_type_json(t),
                });
                if l.source == issue.id {
                    o["outwardIssue"] = self.issue_ref(st.issue_by_id(l.dest)?);
                } else {
                    o["inwardIssue"] = self.issue_ref(st.issue_by_id(l.source)?);
                }
                Some(o)
            })
            .collect()
    }
}

/// The `Link` changelog items of a link added (`to`) or removed (`from`), for the source
/// and the destination issue: `This issue blocks APP-2` / `This issue is blocked by APP-1`.
fn link_items(t: &JiraLinkType, source_key: &str, dest_key: &str, added: bool) -> (ChangeItem, ChangeItem) {
    let item = |other: &str, words: &str| {
        let text = format!("This issue {words} {other}");
        let (from, from_string, to, to_string) = if added {
            (None, None, Some(other.to_string()), Some(text))
        } else {
            (Some(other.to_string()), Some(text), None, None)
        };
        ChangeItem {
            field: "Link".into(),
            field_id: "issuelinks".into(),
            wire_field_id: false,
            fieldtype: "jira",
            from,
            from_string,
            to,
            to_string,
        }
    };
    (item(dest_key, &t.outward), item(source_key, &t.inward))
}

/// Records the `Link` items of `link` on both of its issues, by `author`.
fn record_link_change(inner: &Inner, st: &mut State, link: &IssueLink, author: &str, added: bool) {
    let (Some(s), Some(d), Some(t)) =
        (st.index_of(link.source), st.index_of(link.dest), inner.link_type(&link.type_id))
    else {
        return;
    };
    let (on_source, on_dest) = link_items(t, &st.issues[s].key.clone(), &st.issues[d].key.clone(), added);
    let at = st.tick();
    st.record_at(s, author, at, vec![on_source]);
    st.record_at(d, author, at, vec![on_dest]);
}

/// `GET /issueLinkType` (`IssueLinkTypes`).
pub(super) async fn types(axum::extract::State(inner): S) -> Response {
    if !inner.seed.remote_links_enabled {
        return linking_disabled();
    }
    let all: Vec<Value> = inner.seed.issue_link_types.iter().map(|t| inner.link_type_json(t)).collect();
    json_resp(StatusCode::OK, json!({ "issueLinkTypes": all }))
}

/// `GET /issueLinkType/{id}`.
pub(super) async fn link_type(axum::extract::State(inner): S, Path(id): Path<String>) -> Response {
    if !inner.seed.remote_links_enabled {
        return linking_disabled();
    }
    match inner.link_type(&id) {
        Some(t) => json_resp(StatusCode::OK, inner.link_type_json(t)),
        None => {
            error(StatusCode::NOT_FOUND, &[&format!("No issue link type with id '{id}' exists.")], FieldErrors::new())
        }
    }
}

/// The type of a create request: `{"id": …}` or `{"name": …}` (case-insensitive).
fn requested_type<'a>(inner: &'a Inner, v: Option<&Value>) -> Result<&'a JiraLinkType, Response> {
    let types = &inner.seed.issue_link_types;
    let by_id = v.and_then(|t| t.get("id")).and_then(Value::as_str);
    let by_name = v.and_then(|t| t.get("name")).and_then(Value::as_str);
    let found = match (by_id, by_name) {
        (Some(id), _) => types.iter().find(|t| t.id == id),
        (None, Some(n)) => types.iter().find(|t| t.name.eq_ignore_ascii_case(n)),
        (None, None) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                &["The issue link type must be given by 'id' or 'name'."],
                FieldErrors::new(),
            ))
        }
    };
    found.ok_or_else(|| {
        let shown = by_id.or(by_name).unwrap_or_default();
        error(StatusCode::NOT_FOUND, &[&format!("No issue link type with name '{shown}' found.")], FieldErrors::new())
    })
}

/// The issue of `inwardIssue` / `outwardIssue`: `{"key": …}` or `{"id": …}`.
fn requested_issue(inner: &Inner, st: &State, v: Option<&Value>) -> Result<usize, Response> {
    let wanted = v
        .and_then(|i| i.get("key").or_else(|| i.get("id")))
        .and_then(|x| x.as_str().map(str::to_string).or_else(|| x.as_u64().map(|n| n.to_string())));
    let missing = || error(StatusCode::NOT_FOUND, &["Issue Does Not Exist"], FieldErrors::new());
    let wanted = wanted.ok_or_else(missing)?;
    inner.find_issue(st, &wanted).ok_or_else(missing)
}

/// `POST /issueLink` (`LinkIssueRequestJsonBean`): 201 without a body. A link that exists
/// already is not duplicated (Jira answers 201 all the same); a `comment` goes to the
/// source (`inwardIssue`) issue.
pub(super) async fn create(
    axum::extract::State(inner): S,
    Extension(Caller(me)): Extension<Caller>,
    body: Bytes,
) -> Response {
    if !inner.seed.remote_links_enabled {
        return linking_disabled();
    }
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let o = match object(&v) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let t = match requested_type(&inner, o.get("type")) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let comment_body = match o.get("comment").and_then(|c| c.get("body")) {
        None => None,
        Some(b) if valid_adf_doc(b) => Some(b.clone()),
        Some(_) => {
            let e = FieldErrors::from([(
                "comment".to_string(),
                "The comment body must be an Atlassian Document.".to_string(),
            )]);
            return error(StatusCode::BAD_REQUEST, &[], e);
        }
    };
    let mut st = inner.lock();
    let (source, dest) =
        match (requested_issue(&inner, &st, o.get("inwardIssue")), requested_issue(&inner, &st, o.get("outwardIssue")))
        {
            (Ok(s), Ok(d)) => (s, d),
            (Err(e), _) | (_, Err(e)) => return e,
        };
    if source == dest {
        return error(StatusCode::BAD_REQUEST, &["You cannot link an issue to itself."], FieldErrors::new());
    }
    let (sid, did) = (st.issues[source].id, st.issues[dest].id);
    let exists = st.issue_links.iter().any(|l| l.type_id == t.id && l.source == sid && l.dest == did);
    if !exists {
        let limit = inner.seed.issue_limits.issue_links;
        let count = |id: u64| st.issue_links.iter().filter(|l| l.source == id || l.dest == id).count();
        if count(sid) >= limit || count(did) >= limit {
            let msg = format!("The issue has reached the limit of {limit} issue links.");
            return error(StatusCode::PAYLOAD_TOO_LARGE, &[&msg], FieldErrors::new());
        }
        let link = IssueLink { id: st.next_issue_link_id, type_id: t.id.clone(), source: sid, dest: did };
        st.next_issue_link_id += 1;
        record_link_change(&inner, &mut st, &link, &me.id, true);
        st.issue_links.push(link);
    }
    if let Some(body) = comment_body {
        let id = st.next_comment_id;
        st.next_comment_id += 1;
        let at = st.touch(source);
        let visibility = o.get("comment").and_then(|c| c.get("visibility")).filter(|v| v.is_object()).cloned();
        st.issues[source].comments.push(Comment {
            id,
            author: me.id.clone(),
            update_author: me.id.clone(),
            body,
            created: at,
            updated: at,
            visibility,
            properties: Default::default(),
        });
    }
    StatusCode::CREATED.into_response()
}

/// `GET /issueLink/{id}` (`IssueLink`: `inwardIssue` is the source, as in the request).
pub(super) async fn get(axum::extract::State(inner): S, Path(id): Path<String>) -> Response {
    if !inner.seed.remote_links_enabled {
        return linking_disabled();
    }
    let st = inner.lock();
    let found = id.parse::<u64>().ok().and_then(|n| st.issue_links.iter().find(|l| l.id == n));
    let Some(l) = found else {
        return link_not_found(&id);
    };
    let (Some(t), Some(s), Some(d)) = (inner.link_type(&l.type_id), st.issue_by_id(l.source), st.issue_by_id(l.dest))
    else {
        return link_not_found(&id);
    };
    json_resp(
        StatusCode::OK,
        json!({
            "id": l.id.to_string(),
            "self": inner.api(&format!("issueLink/{}", l.id)),
            "type": inner.link_type_json(t),
            "inwardIssue": inner.issue_ref(s),
            "outwardIssue": inner.issue_ref(d),
        }),
    )
}

/// `DELETE /issueLink/{id}`: 204; both issues' changelogs record the removal.
pub(super) async fn delete(
    axum::extract::State(inner): S,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if !inner.seed.remote_links_enabled {
        return linking_disabled();
    }
    let mut st = inner.lock();
    let Some(pos) = id.parse::<u64>().ok().and_then(|n| st.issue_links.iter().position(|l| l.id == n)) else {
        return link_not_found(&id);
    };
    let link = st.issue_links.remove(pos);
    record_link_change(&inner, &mut st, &link, &me.id, false);
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_items_describe_the_link_from_each_end() {
        let blocks = JiraLinkType::new("10000", "Blocks", "is blocked by", "blocks");
        let (src, dst) = link_items(&blocks, "APP-1", "APP-2", true);
        assert_eq!((src.to.as_deref(), src.to_string.as_deref()), (Some("APP-2"), Some("This issue blocks APP-2")));
        assert_eq!(dst.to_string.as_deref(), Some("This issue is blocked by APP-1"));
        assert!(src.from.is_none() && !src.wire_field_id);
        let (src, _) = link_items(&blocks, "APP-1", "APP-2", false);
        assert_eq!((src.from.as_deref(), src.to.as_deref()), (Some("APP-2"), None));
    }
}
