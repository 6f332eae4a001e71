//! Which attachment an ADF media node shows, and the media node that shows an attachment.
//!
//! ADF names a file by its media id (a Media Services file id), not its attachment id. The
//! only place the REST API tells the one from the other is the `Location` of the content
//! download's redirect, `…/file/{mediaId}/binary?token=…` (docs/system-apis.md §2.12).
//! Ferry asks it once per attachment (`GET /attachment/content/{id}`, not following the
//! redirect) and keeps the answer for the connector's life: an attachment's media id
//! never changes.
//!
//! - Reading: a `file` node is the issue's attachment with its media id (the attachments
//!   named like the node's `alt` are asked first), else the one attachment whose file name
//!   is the node's `alt`; an `external` node whose URL is an attachment's content URL is
//!   that attachment. Anything else stays a text label.
//! - Writing: an attachment of the issue becomes a `file` node, as Jira's editor embeds an
//!   image; where Jira serves the bytes without a redirect (no media id to learn), an
//!   `external` node of its content URL, which reads back as the same attachment.

use super::collab_wire::{bad_response, IssueFiles};
use super::JiraConnector;
use crate::adf::{self, Media, MediaRef};
use ferry_domain::ports::PortResult;
use ferry_domain::ErrorCategory;
use reqwest::header::LOCATION;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// How Jira shows an attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shown {
    /// By this media id.
    Media(String),
    /// Its content is served directly: no media id is known.
    Direct,
}

/// What Ferry learned of attachments' media ids (attachment id → how it is shown).
#[derive(Default)]
pub(super) struct MediaIds(Mutex<HashMap<String, Shown>>);

impl MediaIds {
    fn get(&self, id: &str) -> Option<Shown> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }
    fn put(&self, id: &str, shown: Shown) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string(), shown);
    }
}

/// The media of one issue's rich text, both ways ([`adf::Media`]).
pub(super) struct MediaTable {
    /// `{base}/rest/api/3/attachment/content/`: an attachment's content URL without its id.
    content_prefix: String,
    /// The issue's attachments: id → file name.
    names: HashMap<String, String>,
    /// How each attachment asked about so far is shown.
    shown: HashMap<String, Shown>,
    /// Media id → attachment id.
    by_media: HashMap<String, String>,
}

impl MediaTable {
    /// A table of no attachments.
    #[cfg(test)]
    pub(super) fn empty() -> Self {
        Self { content_prefix: String::new(), names: HashMap::new(), shown: HashMap::new(), by_media: HashMap::new() }
    }

    fn new(content_prefix: String, files: &IssueFiles) -> Self {
        let names = files.fields.attachment.iter().map(|a| (a.id.0.clone(), a.filename.clone())).collect();
        Self { content_prefix, names, shown: HashMap::new(), by_media: HashMap::new() }
    }

    fn learn(&mut self, attachment: &str, shown: Shown) {
        if let Shown::Media(m) = &shown {
            self.by_media.insert(m.clone(), attachment.to_string());
        }
        self.shown.insert(attachment.to_string(), shown);
    }

    fn named(&self, id: &str) -> Option<(String, String)> {
        self.names.get(id).map(|n| (id.to_string(), n.clone()))
    }

    /// The one attachment called `name`.
    fn by_name(&self, name: &str) -> Option<(String, String)> {
        let mut hits = self.names.iter().filter(|(_, n)| !name.is_empty() && n.as_str() == name);
        match (hits.next(), hits.next()) {
            (Some((id, n)), None) => Some((id.clone(), n.clone())),
            _ => None,
        }
    }
}

impl Media for MediaTable {
    fn attachment(&self, node: &MediaRef<'_>) -> Option<(String, String)> {
        match node.kind {
            "file" => match self.by_media.get(node.id) {
                Some(id) => self.named(id),
                None => self.by_name(node.alt),
            },
            "external" => self.named(node.url.strip_prefix(self.content_prefix.as_str())?),
            _ => None,
        }
    }

    fn media(&self, id: &str) -> Option<Map<String, Value>> {
        let node = match self.shown.get(id)? {
            Shown::Media(m) => json!({"type": "file", "id": m, "collection": ""}),
            Shown::Direct => json!({"type": "external", "url": format!("{}{id}", self.content_prefix)}),
        };
        node.as_object().cloned()
    }
}

/// The media id in the `Location` of a content download's redirect
/// (`https://api.media.atlassian.com/file/{mediaId}/binary?token=…`).
fn media_id_in(location: &url::Url) -> Option<String> {
    let segs: Vec<&str> = location.path_segments()?.collect();
    segs.windows(3).find(|w| w[0] == "file" && w[2] == "binary" && !w[1].is_empty()).map(|w| w[1].to_string())
}

impl JiraConnector {
    fn content_prefix(&self) -> PortResult<String> {
        Ok(format!("{}/", self.api(&["attachment", "content"], &[])?))
    }

    /// How attachment `id` is shown, asked of Jira the first time; `None`: it is gone.
    async fn shown(&self, id: &str) -> PortResult<Option<Shown>> {
        if let Some(s) = self.media.get(id) {
            return Ok(Some(s));
        }
        let url = self.api(&["attachment", "content", id], &[])?;
        let what = format!("GET attachment/content/{id}");
        let timeout = self.http.transfer_timeout(0);
        let resp = match self.http.open_unredirected(url.clone(), timeout).await {
            Ok(r) => r,
            Err(e) if e.category == ErrorCategory::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let shown = if resp.status().is_redirection() {
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .ok_or_else(|| bad_response(&what, "a redirect without a readable Location"))?;
            // The Location's query holds a download token: only its path is ever shown.
            let media = media_id_in(&location).ok_or_else(|| {
                bad_response(
                    &what,
                    format!("the redirect to {} names no media file (…/file/ID/binary)", location.path()),
                )
            })?;
            Shown::Media(media)
        } else {
            // The bytes themselves: not read (the response is dropped unread).
            Shown::Direct
        };
        self.media.put(id, shown.clone());
        Ok(Some(shown))
    }

    /// The media of `docs` (ADF bodies of issue `files`), resolved among its attachments.
    pub(super) async fn media_for_reading(&self, files: &IssueFiles, docs: &[&Value]) -> PortResult<MediaTable> {
        let mut table = MediaTable::new(self.content_prefix()?, files);
        for a in &files.fields.attachment {
            if let Some(s) = self.media.get(&a.id.0) {
                table.learn(&a.id.0, s);
            }
        }
        let wanted: Vec<(String, String)> = docs
            .iter()
            .flat_map(|d| adf::media_refs(d))
            .filter(|r| r.kind == "file" && !r.id.is_empty())
            .map(|r| (r.id.to_string(), r.alt.to_string()))
            .collect();
        for (media, alt) in wanted {
            if table.by_media.contains_key(&media) {
                continue;
            }
            // The attachments called like the node first: usually the one.
            let mut order: Vec<&str> = files.fields.attachment.iter().map(|a| a.id.0.as_str()).collect();
            order.sort_by_key(|id| table.names.get(*id).map(String::as_str) != Some(alt.as_str()));
            for id in order {
                if table.shown.contains_key(id) {
                    continue;
                }
                if let Some(s) = self.shown(id).await? {
                    table.learn(id, s);
                }
                if table.by_media.contains_key(&media) {
                    break;
                }
            }
        }
        Ok(table)
    }

    /// The media of the inline images of `html`, to be written to issue `files`.
    pub(super) async fn media_for_writing(&self, files: &IssueFiles, html: &str) -> PortResult<MediaTable> {
        let mut table = MediaTable::new(self.content_prefix()?, files);
        for id in adf::inline_image_ids(html) {
            if !table.names.contains_key(&id) {
                // Not an attachment of this issue: the image stays a label.
                continue;
            }
            if let Some(s) = self.shown(&id).await? {
                table.learn(&id, s);
            }
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_media_id_is_read_from_the_redirect_path() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        let cases = [
            ("https://api.media.atlassian.com/file/5f1c-9a/binary?token=t&client=c", Some("5f1c-9a")),
            ("http://127.0.0.1:9/media/file/abc/binary?token=t", Some("abc")),
            ("https://api.media.atlassian.com/file/abc/image", None),
            ("https://x.test/secure/attachment/10001/a.png", None),
        ];
        for (loc, want) in cases {
            assert_eq!(media_id_in(&u(loc)).as_deref(), want, "{loc}");
        }
    }
}
