//! Issue comments as Ferry's neutral comments (`ferry_domain::collab`): ADF bodies in
//! neutral HTML (mentions and inline images included, [`crate::adf`]), Ferry's origin mark
//! kept as the comment property `ferry.origin` = `{"origin": "…"}`, and a permalink.
//!
//! - read: `GET /issue/{id}?fields=attachment` (the key for permalinks, the attachments
//!   media nodes refer to), then `GET /issue/{id}/comment?orderBy=created&expand=properties`
//!   page by page (`startAt`, `maxResults`, `total`), oldest first;
//! - add: `POST /issue/{id}/comment` with the property in the same request, so a comment
//!   never exists without its mark; edit: `PUT /issue/{id}/comment/{cid}`; delete:
//!   `DELETE /issue/{id}/comment/{cid}` (one already gone is not an error).

use super::collab_wire::{self as wire, bad_response, time, Property};
use super::media::MediaTable;
use super::JiraConnector;
use crate::adf;
use ferry_domain::ports::{Connector, PortResult};
use ferry_domain::{Comment, CommentWrite, EntityId, ErrorCategory, PortError};
use reqwest::Method;
use serde_json::{json, Value};

/// The comment property that holds Ferry's origin mark.
const ORIGIN_PROPERTY: &str = "ferry.origin";
/// Comments per page (Jira's default and maximum for this read).
const PAGE: usize = 100;
/// Guard against a server that never ends a read: Jira Cloud keeps at most 5,000 comments
/// an issue.
const MAX_PAGES: usize = 200;
/// Reads of the whole list before giving up on comments that keep changing under it.
const READ_ATTEMPTS: usize = 3;

/// How a read of the pages ended.
enum Read {
    Whole(Vec<wire::Comment>),
    /// The list changed between pages (a comment added or deleted): read it again.
    Moved,
}

impl JiraConnector {
    pub(super) async fn read_comments(&self, id: &EntityId) -> PortResult<Vec<Comment>> {
        let files = self.issue_files(id).await?;
        let raw = self.all_comments(id).await?;
        let docs: Vec<&Value> = raw.iter().map(|c| &c.body).collect();
        let media = self.media_for_reading(&files, &docs).await?;
        let mut out = Vec::with_capacity(raw.len());
        for c in raw {
            out.push(self.neutral_comment(&files.key, c, &media).await?);
        }
        Ok(out)
    }

    /// Every comment of the issue, oldest first. Pages overlap by one comment: if it is not
    /// the one the previous page ended with, or the total moved, the list changed between
    /// pages and is read again (an offset read would otherwise skip a comment, which would
    /// look deleted).
    async fn all_comments(&self, id: &EntityId) -> PortResult<Vec<wire::Comment>> {
        for _ in 0..READ_ATTEMPTS {
            if let Read::Whole(all) = self.comment_pages(id).await? {
                return Ok(all);
            }
        }
        Err(PortError::new(
            ErrorCategory::Server,
            format!("jira GET issue/{id}/comment: the comments changed during each of {READ_ATTEMPTS} reads"),
        ))
    }

    async fn comment_pages(&self, id: &EntityId) -> PortResult<Read> {
        let what = format!("GET issue/{id}/comment");
        let mut all: Vec<wire::Comment> = Vec::new();
        let mut total = None;
        for _ in 0..MAX_PAGES {
            let start = all.len().saturating_sub(1);
            let url = self.api(
                &["issue", id.as_str(), "comment"],
                &[
                    ("startAt", start.to_string()),
                    ("maxResults", PAGE.to_string()),
                    ("orderBy", "created".into()),
                    ("expand", "properties".into()),
                ],
            )?;
            let page: wire::CommentPage = self.http.send(Method::GET, url, None, None).await?.json(&what)?;
            if *total.get_or_insert(page.total) != page.total {
                return Ok(Read::Moved);
            }
            let mut comments = page.comments.into_iter();
            if let Some(last) = all.last() {
                match comments.next() {
                    Some(c) if c.id == last.id => {}
                    _ => return Ok(Read::Moved),
                }
            }
            let before = all.len();
            all.extend(comments);
            if all.len() as u64 >= page.total {
                return Ok(Read::Whole(all));
            }
            if all.len() == before {
                return Err(bad_response(
                    &what,
                    format!("the page at {start} ended the list at {before} of {} comments", page.total),
                ));
            }
        }
        Err(bad_response(&what, format!("more than {MAX_PAGES} pages")))
    }

    /// A Jira comment of issue `key` as Ferry's.
    async fn neutral_comment(&self, key: &str, c: wire::Comment, media: &MediaTable) -> PortResult<Comment> {
        let what = format!("GET issue/{key}/comment");
        let body = adf::adf_to_html_with(&c.body, media)
            .map_err(|e| bad_response(&what, format!("comment {}: the body: {e}", c.id.0)))?;
        let origin = match &c.properties {
            Some(props) => origin_of(props),
            None => self.origin_property(&c).await?,
        };
        Ok(Comment {
            url: format!("{}/browse/{key}?focusedCommentId={}", self.browse_base, c.id.0),
            author: c.author.as_ref().and_then(wire::User::to_ref),
            created: time(&c.created, &what, "created")?,
            updated: time(&c.updated, &what, "updated")?,
            body,
            origin,
            id: c.id.0,
        })
    }

    /// The origin mark of a comment read without its properties expanded: only a comment
    /// of the integration user can be Ferry's (`GET /comment/{id}/properties/ferry.origin`).
    async fn origin_property(&self, c: &wire::Comment) -> PortResult<Option<String>> {
        let me = Connector::integration_user(self).await?;
        if c.author.as_ref().and_then(|a| a.account_id.as_deref()) != Some(me.id.as_str()) {
            return Ok(None);
        }
        let url = self.api(&["comment", &c.id.0, "properties", ORIGIN_PROPERTY], &[])?;
        let what = format!("GET comment/{}/properties/{ORIGIN_PROPERTY}", c.id.0);
        match self.http.send(Method::GET, url, None, None).await {
            Ok(r) => Ok(origin_of(&[r.json::<Property>(&what)?])),
            Err(e) if e.category == ErrorCategory::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn post_comment(&self, id: &EntityId, w: &CommentWrite) -> PortResult<Comment> {
        let files = self.issue_files(id).await?;
        let media = self.media_for_writing(&files, &w.body).await?;
        let url = self.api(&["issue", id.as_str(), "comment"], &[("expand", "properties".into())])?;
        let body = comment_body(&w.body, &w.origin, &media);
        let resp = self.http.send(Method::POST, url, Some(&body), None).await?;
        // The comment exists from here on, whatever the next steps answer.
        let c: wire::Comment = resp.json(&format!("POST issue/{id}/comment")).map_err(PortError::after_applied)?;
        self.neutral_comment(&files.key, c, &media).await.map_err(PortError::after_applied)
    }

    pub(super) async fn put_comment(&self, id: &EntityId, comment_id: &str, w: &CommentWrite) -> PortResult<Comment> {
        let files = self.issue_files(id).await?;
        let media = self.media_for_writing(&files, &w.body).await?;
        let url = self.api(&["issue", id.as_str(), "comment", comment_id], &[("expand", "properties".into())])?;
        let body = comment_body(&w.body, &w.origin, &media);
        let resp = self.http.send(Method::PUT, url, Some(&body), None).await?;
        let c: wire::Comment =
            resp.json(&format!("PUT issue/{id}/comment/{comment_id}")).map_err(PortError::after_applied)?;
        self.neutral_comment(&files.key, c, &media).await.map_err(PortError::after_applied)
    }

    pub(super) async fn remove_comment(&self, id: &EntityId, comment_id: &str) -> PortResult<()> {
        let url = self.api(&["issue", id.as_str(), "comment", comment_id], &[])?;
        match self.http.send(Method::DELETE, url, None, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.category == ErrorCategory::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The body of a comment write: ADF, and the origin mark as a property. An empty origin
/// is no mark (a person's comment): no property is written.
fn comment_body(html: &str, origin: &str, media: &MediaTable) -> Value {
    let mut body = json!({ "body": adf::html_to_adf_with(html, media) });
    if !origin.is_empty() {
        body["properties"] = json!([{"key": ORIGIN_PROPERTY, "value": {"origin": origin}}]);
    }
    body
}

/// The origin mark among a comment's properties.
fn origin_of(props: &[Property]) -> Option<String> {
    let p = props.iter().find(|p| p.key == ORIGIN_PROPERTY)?;
    match p.value.get("origin").and_then(Value::as_str) {
        Some("") => None,
        Some(o) => Some(o.to_string()),
        None => {
            tracing::warn!(value = %p.value, "a comment's {ORIGIN_PROPERTY} property holds no origin; read as a person's");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(key: &str, value: Value) -> Property {
        Property { key: key.into(), value }
    }

    #[test]
    fn an_empty_origin_writes_no_property_and_a_mark_writes_one() {
        let media = MediaTable::empty();
        let person = comment_body("<p>hi</p>", "", &media);
        assert_eq!(person.get("properties"), None, "{person}");
        assert_eq!(person["body"]["type"], "doc");
        let ferry = comment_body("<p>hi</p>", "ferry:i:left:1:2", &media);
        assert_eq!(ferry["properties"], json!([{"key": ORIGIN_PROPERTY, "value": {"origin": "ferry:i:left:1:2"}}]));
    }

    #[test]
    fn the_origin_is_read_from_its_property_only() {
        assert_eq!(
            origin_of(&[prop("x", json!(1)), prop(ORIGIN_PROPERTY, json!({"origin": "ferry:i:left:1:2"}))]).as_deref(),
            Some("ferry:i:left:1:2")
        );
        assert_eq!(origin_of(&[prop("other", json!({"origin": "x"}))]), None);
        assert_eq!(origin_of(&[prop(ORIGIN_PROPERTY, json!("bare"))]), None);
        assert_eq!(origin_of(&[prop(ORIGIN_PROPERTY, json!({"origin": ""}))]), None);
        assert_eq!(origin_of(&[]), None);
    }
}
