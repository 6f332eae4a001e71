//! Work item comments (api-version 7.1-preview.4, docs/system-apis.md §3.8).
//!
//! - Read: `GET …/workItems/{id}/comments?$top=200&order=asc&$expand=renderedText`, every
//!   page by `continuationToken`; deleted comments are left out. A comment's body is its
//!   HTML (`text` of an html comment, `renderedText` of a markdown one) in neutral form
//!   ([`super::markup`]).
//! - Write: `POST …/comments?format=html` / `PATCH …/comments/{cid}?format=html` with
//!   `{"text": html}`; `DELETE …/comments/{cid}` (a 404: gone already).
//! - Azure DevOps keeps no property on a comment, so `origin` is never read back: the
//!   engine knows Ferry's copies by their pairs, their author (the integration user) and
//!   their attribution link.
//! - `url`: the work item's web page; Azure DevOps documents no address of one comment.

use super::markup;
use super::snapshot::work_item_id;
use super::wire::{identity_ref, parse_time};
use super::AdoConnector;
use ferry_domain::ports::PortResult;
use ferry_domain::{Comment, CommentWrite, EntityId, ErrorCategory, PortError, Scope};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

const COMMENTS_VERSION: &str = "7.1-preview.4";
/// Most comments one page holds.
const PAGE: &str = "200";
/// Guard against a server whose continuation never ends.
const MAX_PAGES: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentDto {
    /// `commentId` in the older examples.
    #[serde(alias = "commentId")]
    id: u64,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    rendered_text: Option<String>,
    /// `markdown` or `html` (0 / 1 where the enum is sent as a number).
    #[serde(default)]
    format: Option<Value>,
    #[serde(default)]
    created_by: Option<Value>,
    #[serde(default)]
    created_date: Option<String>,
    #[serde(default)]
    modified_date: Option<String>,
    #[serde(default)]
    is_deleted: bool,
}

impl CommentDto {
    fn is_markdown(&self) -> bool {
        match &self.format {
            Some(Value::String(s)) => s.eq_ignore_ascii_case("markdown"),
            Some(Value::Number(n)) => n.as_u64() == Some(0),
            _ => false,
        }
    }

    /// The comment's HTML: an html comment's text, a markdown comment's rendering.
    fn html(&self) -> String {
        let (first, second) =
            if self.is_markdown() { (&self.rendered_text, &None) } else { (&self.text, &self.rendered_text) };
        match first.as_ref().or(second.as_ref()) {
            Some(h) => h.clone(),
            // A markdown comment read without its rendering: its source as text.
            None => ferry_domain::html::text_to_html_paragraph(self.text.as_deref().unwrap_or_default()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentList {
    comments: Vec<CommentDto>,
    #[serde(default)]
    continuation_token: Option<String>,
}

impl AdoConnector {
    /// `{base}{project}/_apis/wit/workItems/{id}/comments[/{cid}]?…&api-version=7.1-preview.4`.
    fn comments_url(&self, project: &str, wid: u64, cid: Option<&str>, query: &[(&str, &str)]) -> PortResult<Url> {
        let mut url = self.base.clone();
        let wid = wid.to_string();
        {
            let mut path = url.path_segments_mut().map_err(|_| {
                PortError::new(ErrorCategory::Config, format!("{}: base URL cannot hold a path", self.system))
            })?;
            path.pop_if_empty().extend([project, "_apis", "wit", "workItems", &wid, "comments"]);
            if let Some(c) = cid {
                path.push(c);
            }
        }
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
            q.append_pair("api-version", COMMENTS_VERSION);
        }
        Ok(url)
    }

    fn to_comment(&self, project: &str, wid: u64, c: CommentDto) -> PortResult<Comment> {
        let created = c.created_date.as_deref().and_then(parse_time).ok_or_else(|| {
            PortError::new(
                ErrorCategory::BadResponse,
                format!("comment {} of work item {wid} has no readable createdDate", c.id),
            )
        })?;
        Ok(Comment {
            id: c.id.to_string(),
            author: c.created_by.as_ref().and_then(identity_ref),
            created,
            updated: c.modified_date.as_deref().and_then(parse_time).unwrap_or(created),
            body: markup::to_neutral(&c.html(), &self.base),
            url: self.entity_url(project, wid),
            origin: None,
        })
    }

    pub(super) async fn list_comments(&self, scope: &Scope, id: &EntityId) -> PortResult<Vec<Comment>> {
        let (project, wid) = (scope.project.as_str(), work_item_id(id)?);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("$top", PAGE), ("order", "asc"), ("$expand", "renderedText")];
            if let Some(t) = &token {
                query.push(("continuationToken", t));
            }
            let url = self.comments_url(project, wid, None, &query)?;
            let page: CommentList = self.get_json(url, "ADO comments").await?;
            for c in page.comments.into_iter().filter(|c| !c.is_deleted) {
                out.push(self.to_comment(project, wid, c)?);
            }
            match page.continuation_token.filter(|t| !t.is_empty()) {
                None => return Ok(out),
                Some(next) if Some(&next) == token.as_ref() => {
                    return Err(PortError::new(
                        ErrorCategory::BadResponse,
                        format!("the comments of work item {wid}: the continuation token did not advance"),
                    ))
                }
                next => token = next,
            }
        }
        Err(PortError::new(
            ErrorCategory::BadResponse,
            format!("the comments of work item {wid} ran over {MAX_PAGES} pages"),
        ))
    }

    /// `POST` (no `cid`) or `PATCH` of a comment's HTML.
    async fn write_comment(
        &self,
        scope: &Scope,
        id: &EntityId,
        cid: Option<&str>,
        comment: &CommentWrite,
    ) -> PortResult<Comment> {
        let (project, wid) = (scope.project.as_str(), work_item_id(id)?);
        let text = markup::from_neutral(&comment.body, &self.base, project);
        if text.trim().is_empty() {
            return Err(PortError::new(
                ErrorCategory::InvalidRequest,
                format!("a comment on work item {wid} would be empty: Azure DevOps takes no empty comment"),
            ));
        }
        let method = if cid.is_some() { Method::PATCH } else { Method::POST };
        let url = self.comments_url(project, wid, cid, &[("format", "html")])?;
        let made: CommentDto = self.send_json(method, url, &json!({ "text": text }), None, "ADO comment").await?;
        self.to_comment(project, wid, made)
    }

    pub(super) async fn post_comment(
        &self,
        scope: &Scope,
        id: &EntityId,
        comment: &CommentWrite,
    ) -> PortResult<Comment> {
        self.write_comment(scope, id, None, comment).await
    }

    pub(super) async fn put_comment(
        &self,
        scope: &Scope,
        id: &EntityId,
        comment_id: &str,
        comment: &CommentWrite,
    ) -> PortResult<Comment> {
        self.write_comment(scope, id, Some(&comment_number(comment_id)?), comment).await
    }

    pub(super) async fn remove_comment(&self, scope: &Scope, id: &EntityId, comment_id: &str) -> PortResult<()> {
        let (project, wid) = (scope.project.as_str(), work_item_id(id)?);
        let url = self.comments_url(project, wid, Some(&comment_number(comment_id)?), &[])?;
        match self.http.send(Method::DELETE, url, None, None).await {
            Ok(_) => Ok(()),
            // The comment or its work item is gone already.
            Err(e) if e.category == ErrorCategory::NotFound && !e.message.contains("TF200016") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A comment id as the API takes it (a number).
fn comment_number(comment_id: &str) -> PortResult<String> {
    let n: u64 = comment_id.trim().parse().map_err(|_| {
        PortError::new(ErrorCategory::InvalidRequest, format!("{comment_id:?} is not an Azure DevOps comment id"))
    })?;
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dto(format: Value, text: Option<&str>, rendered: Option<&str>) -> CommentDto {
        CommentDto {
            id: 1,
            text: text.map(str::to_string),
            rendered_text: rendered.map(str::to_string),
            format: Some(format),
            created_by: None,
            created_date: None,
            modified_date: None,
            is_deleted: false,
        }
    }

    #[test]
    fn the_html_of_a_comment_is_its_text_or_its_rendering_by_format() {
        let cases = [
            ("html: the text as written", dto(json!("html"), Some("<p>a</p>"), Some("<p>r</p>")), "<p>a</p>"),
            ("html without text: the rendering", dto(json!("html"), None, Some("<p>r</p>")), "<p>r</p>"),
            (
                "markdown: the rendering",
                dto(json!("markdown"), Some("**a**"), Some("<p><strong>a</strong></p>")),
                "<p><strong>a</strong></p>",
            ),
            ("markdown as the enum's number", dto(json!(0), Some("**a**"), Some("<p>r</p>")), "<p>r</p>"),
            (
                "markdown without a rendering: its source as text",
                dto(json!("markdown"), Some("a < b"), None),
                "<p>a &lt; b</p>",
            ),
        ];
        for (what, c, want) in cases {
            assert_eq!(c.html(), want, "{what}");
        }
    }

    #[test]
    fn comment_ids_are_numbers() {
        assert_eq!(comment_number(" 42 ").expect("a number"), "42");
        assert_eq!(comment_number("../1").expect_err("refused").category, ErrorCategory::InvalidRequest);
    }
}
