//! Issue attachments: multipart upload (with Jira's XSRF header rule and size limit),
//! metadata, deletion, and the content download with its redirect to the media service.
//!
//! Every attachment has a media id (a Media Services file id, a UUID). ADF `media` nodes
//! refer to files by it, and the only REST place that reveals it is the `Location` of the
//! content download's 303: `{base}/media/file/{mediaId}/binary?token=…` (docs/system-apis.md
//! §2.12). The simulator serves that URL itself, authenticated by its token only, as the
//! media service is.

#![allow(clippy::result_large_err)]

use super::handlers::{error, issue_not_found, json_resp, Caller, Params, Q, S};
use super::store::{Attachment, ChangeItem, FieldErrors, Inner};
use crate::multipart;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};
use std::sync::Arc;

/// Most files one upload request may carry (Jira's documented limit).
const MAX_FILES_PER_REQUEST: usize = 60;

fn attachment_not_found(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, &[&format!("The attachment with id '{id}' does not exist.")], FieldErrors::new())
}

fn disabled() -> Response {
    error(StatusCode::FORBIDDEN, &["Attachments are disabled."], FieldErrors::new())
}

/// The type a file is served with: the part's own type, else one from the extension.
fn mime_type(part_type: Option<&str>, filename: &str) -> String {
    if let Some(t) = part_type.map(str::trim).filter(|t| !t.is_empty() && !t.starts_with("application/octet-stream")) {
        return t.split(';').next().unwrap_or(t).trim().to_string();
    }
    let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "zip" => "application/zip",
        "html" | "htm" => "text/html",
        _ => "application/octet-stream",
    }
    .to_string()
}

impl Inner {
    /// `Attachment` (upload answer, issue `attachment` field).
    pub fn attachment_json(&self, a: &Attachment) -> Value {
        json!({
            "self": self.api(&format!("attachment/{}", a.id)),
            "id": a.id.to_string(),
            "filename": a.filename,
            "author": self.user_by_id(&a.author).map(|u| self.user_json(u)).unwrap_or(Value::Null),
            "created": self.ts(a.created),
            "size": a.data.len(),
            "mimeType": a.mime_type,
            "content": self.api(&format!("attachment/content/{}", a.id)),
        })
    }

    /// The media id of an attachment, by attachment id.
    pub fn media_id_of(&self, attachment_id: &str) -> Option<String> {
        let st = self.lock();
        let id: u64 = attachment_id.parse().ok()?;
        st.issues.iter().flat_map(|i| &i.attachments).find(|a| a.id == id).map(|a| a.media_id.clone())
    }

    fn media_url(&self, a: &Attachment) -> String {
        let name: String = url_encode(&a.filename);
        format!(
            "{}/media/file/{}/binary?token={}&client=ferry-sim&collection=&dl=true&max-age=2592000&name={name}",
            self.base, a.media_id, a.media_token
        )
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// (issue index, attachment index) of an attachment id.
fn locate(st: &super::store::State, id: &str) -> Option<(usize, usize)> {
    let id: u64 = id.parse().ok()?;
    st.issues
        .iter()
        .enumerate()
        .find_map(|(i, issue)| issue.attachments.iter().position(|a| a.id == id).map(|a| (i, a)))
}

/// The files of a Jira upload request, or the answer that refuses it.
fn uploaded_files<'a>(
    inner: &Inner,
    headers: &HeaderMap,
    body: &'a [u8],
) -> Result<Vec<multipart::Part<'a>>, Response> {
    let token = headers.get("x-atlassian-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !token.eq_ignore_ascii_case("no-check") && !token.eq_ignore_ascii_case("nocheck") {
        // Jira's XSRF protection answers in plain text, not an ErrorCollection.
        return Err((StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], "XSRF check failed")
            .into_response());
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(boundary) = multipart::boundary(content_type) else {
        let msg = format!("The request's Content-Type '{content_type}' is not multipart/form-data with a boundary.");
        return Err(error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &[&msg], FieldErrors::new()));
    };
    let parts = multipart::parse(body, &boundary).map_err(|e| {
        error(StatusCode::BAD_REQUEST, &[&format!("The multipart body is malformed: {e}.")], FieldErrors::new())
    })?;
    let files: Vec<multipart::Part> =
        parts.into_iter().filter(|p| p.name.as_deref() == Some("file") && p.filename.is_some()).collect();
    if files.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            &["No file was attached: send the file in a part named 'file'."],
            FieldErrors::new(),
        ));
    }
    if files.len() > MAX_FILES_PER_REQUEST {
        let msg = format!("At most {MAX_FILES_PER_REQUEST} files can be uploaded in one request.");
        return Err(error(StatusCode::PAYLOAD_TOO_LARGE, &[&msg], FieldErrors::new()));
    }
    let limit = inner.seed.attachment_upload_limit;
    if files.iter().any(|f| f.data.len() as u64 > limit) {
        // The wording of the upload library Jira runs on (commons-fileupload).
        let msg = format!("The field file exceeds its maximum permitted size of {limit} bytes.");
        return Err(error(StatusCode::PAYLOAD_TOO_LARGE, &[&msg], FieldErrors::new()));
    }
    Ok(files)
}

/// `POST /issue/{key}/attachments` (multipart, part `file`): 200 with `[Attachment]`.
pub(super) async fn upload(
    axum::extract::State(inner): S,
    Extension(Caller(me)): Extension<Caller>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !inner.seed.attachments_enabled {
        return disabled();
    }
    let files = match uploaded_files(&inner, &headers, &body) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let mut st = inner.lock();
    let Some(idx) = inner.find_issue(&st, &key) else {
        return issue_not_found();
    };
    let limit = inner.seed.issue_limits.attachments;
    if st.issues[idx].attachments.len() + files.len() > limit {
        let msg = format!("The issue has reached the limit of {limit} attachments.");
        return error(StatusCode::PAYLOAD_TOO_LARGE, &[&msg], FieldErrors::new());
    }
    let at = st.tick();
    let mut made = Vec::new();
    let mut items = Vec::new();
    for f in files {
        let id = st.next_attachment_id;
        st.next_attachment_id += 1;
        let filename = f.filename.clone().unwrap_or_default();
        let a = Attachment {
            id,
            mime_type: mime_type(f.content_type.as_deref(), &filename),
            filename: filename.clone(),
            author: me.id.clone(),
            created: at,
            data: Arc::from(f.data),
            media_id: uuid::Uuid::new_v4().to_string(),
            media_token: uuid::Uuid::new_v4().simple().to_string(),
        };
        items.push(attachment_item(Some((id, filename)), None));
        made.push(inner.attachment_json(&a));
        st.issues[idx].attachments.push(a);
    }
    st.record_at(idx, &me.id, at, items);
    json_resp(StatusCode::OK, Value::Array(made))
}

/// The changelog item of an attachment added (`to`) or removed (`from`): id and file name.
fn attachment_item(added: Option<(u64, String)>, removed: Option<(u64, String)>) -> ChangeItem {
    ChangeItem {
        field: "Attachment".into(),
        field_id: "attachment".into(),
        wire_field_id: true,
        fieldtype: "jira",
        from: removed.as_ref().map(|(id, _)| id.to_string()),
        from_string: removed.map(|(_, n)| n),
        to: added.as_ref().map(|(id, _)| id.to_string()),
        to_string: added.map(|(_, n)| n),
    }
}

/// `GET /attachment/{id}` (`AttachmentMetadata`: the id is a number here).
pub(super) async fn metadata(axum::extract::State(inner): S, Path(id): Path<String>) -> Response {
    if !inner.seed.attachments_enabled {
        return attachment_not_found(&id);
    }
    let st = inner.lock();
    let Some((i, a)) = locate(&st, &id) else {
        return attachment_not_found(&id);
    };
    let mut v = inner.attachment_json(&st.issues[i].attachments[a]);
    v["id"] = json!(st.issues[i].attachments[a].id);
    json_resp(StatusCode::OK, v)
}

/// `DELETE /attachment/{id}`: 204; the issue's changelog records the removal.
pub(super) async fn delete(
    axum::extract::State(inner): S,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if !inner.seed.attachments_enabled {
        return attachment_not_found(&id);
    }
    let mut st = inner.lock();
    let Some((i, a)) = locate(&st, &id) else {
        return attachment_not_found(&id);
    };
    let gone = st.issues[i].attachments.remove(a);
    let at = st.tick();
    st.record_at(i, &me.id, at, vec![attachment_item(None, Some((gone.id, gone.filename)))]);
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /attachment/meta` (`AttachmentSettings`).
pub(super) async fn settings(axum::extract::State(inner): S) -> Response {
    json_resp(
        StatusCode::OK,
        json!({"enabled": inner.seed.attachments_enabled, "uploadLimit": inner.seed.attachment_upload_limit}),
    )
}

/// A `Range: bytes=…` header against a body of `len` bytes: `Ok(None)` for the whole body.
fn byte_range(headers: &HeaderMap, len: usize) -> Result<Option<(usize, usize)>, StatusCode> {
    let Some(raw) = headers.get(header::RANGE) else { return Ok(None) };
    let spec = raw.to_str().ok().and_then(|r| r.trim().strip_prefix("bytes=")).ok_or(StatusCode::BAD_REQUEST)?;
    if spec.contains(',') {
        return Err(StatusCode::BAD_REQUEST);
    }
    let (a, b) = spec.split_once('-').ok_or(StatusCode::BAD_REQUEST)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: usize = suffix.parse().map_err(|_| StatusCode::BAD_REQUEST)?;
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        (s, "") => (s.parse().map_err(|_| StatusCode::BAD_REQUEST)?, len.saturating_sub(1)),
        (s, e) => {
            let s: usize = s.parse().map_err(|_| StatusCode::BAD_REQUEST)?;
            let e: usize = e.parse().map_err(|_| StatusCode::BAD_REQUEST)?;
            (s, e.min(len.saturating_sub(1)))
        }
    };
    if len == 0 || start >= len || start > end {
        return Err(StatusCode::RANGE_NOT_SATISFIABLE);
    }
    Ok(Some((start, end)))
}

/// The bytes of an attachment, whole or the requested range (206).
fn file_response(a: &Attachment, headers: &HeaderMap) -> Response {
    let len = a.data.len();
    let (status, body, range) = match byte_range(headers, len) {
        Ok(None) => (StatusCode::OK, Bytes::copy_from_slice(&a.data), None),
        Ok(Some((s, e))) => {
            (StatusCode::PARTIAL_CONTENT, Bytes::copy_from_slice(&a.data[s..=e]), Some(format!("bytes {s}-{e}/{len}")))
        }
        Err(StatusCode::RANGE_NOT_SATISFIABLE) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
        Err(s) => return error(s, &["The Range header is malformed."], FieldErrors::new()),
    };
    let mut r = (status, Body::from(body)).into_response();
    let h = r.headers_mut();
    let mut put = |name: header::HeaderName, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(name, v);
        }
    };
    put(header::CONTENT_TYPE, a.mime_type.clone());
    put(header::CONTENT_DISPOSITION, format!("attachment; filename*=UTF-8''{}", url_encode(&a.filename)));
    put(header::ACCEPT_RANGES, "bytes".into());
    if let Some(cr) = range {
        put(header::CONTENT_RANGE, cr);
    }
    r
}

/// `GET /attachment/content/{id}?redirect=`: 303 to the media URL (default), or the bytes
/// themselves with `redirect=false` (200, or 206 for a `Range`).
pub(super) async fn content(
    axum::extract::State(inner): S,
    Path(id): Path<String>,
    axum::extract::Query(q): Q,
    headers: HeaderMap,
) -> Response {
    let p = Params(q);
    let redirect = match p.get("redirect") {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            let msg = format!("The value '{other}' for parameter 'redirect' is not a valid boolean.");
            return error(StatusCode::BAD_REQUEST, &[&msg], FieldErrors::new());
        }
    };
    if !inner.seed.attachments_enabled {
        return attachment_not_found(&id);
    }
    let st = inner.lock();
    let Some((i, a)) = locate(&st, &id) else {
        return attachment_not_found(&id);
    };
    let a = &st.issues[i].attachments[a];
    if !redirect {
        return file_response(a, &headers);
    }
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&inner.media_url(a)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `GET /media/file/{mediaId}/binary?token=…`: the media service's download, authorised by
/// the token of the redirect that led here (no basic auth).
pub(super) async fn media(
    axum::extract::State(inner): axum::extract::State<Arc<Inner>>,
    Path(media_id): Path<String>,
    axum::extract::Query(q): Q,
    headers: HeaderMap,
) -> Response {
    let p = Params(q);
    let st = inner.lock();
    let found = st.issues.iter().flat_map(|i| &i.attachments).find(|a| a.media_id == media_id);
    match found {
        Some(a) if p.get("token") == Some(a.media_token.as_str()) => file_response(a, &headers),
        Some(_) => (StatusCode::UNAUTHORIZED, "The media token is missing or invalid.").into_response(),
        None => (StatusCode::NOT_FOUND, "No such media file.").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_typed_by_their_part_or_else_their_extension() {
        assert_eq!(mime_type(Some("image/png"), "x.bin"), "image/png");
        assert_eq!(mime_type(Some("application/octet-stream"), "shot.PNG"), "image/png");
        assert_eq!(mime_type(None, "report.pdf"), "application/pdf");
        assert_eq!(mime_type(Some("text/plain; charset=utf-8"), "a.txt"), "text/plain");
        assert_eq!(mime_type(None, "noext"), "application/octet-stream");
    }

    #[test]
    fn ranges_are_read_as_http_byte_ranges() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::RANGE, v.parse().expect("header"));
            m
        };
        assert_eq!(byte_range(&HeaderMap::new(), 10), Ok(None));
        assert_eq!(byte_range(&h("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(byte_range(&h("bytes=4-"), 10), Ok(Some((4, 9))));
        assert_eq!(byte_range(&h("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(byte_range(&h("bytes=5-99"), 10), Ok(Some((5, 9))));
        assert_eq!(byte_range(&h("bytes=10-"), 10), Err(StatusCode::RANGE_NOT_SATISFIABLE));
        assert_eq!(byte_range(&h("items=1-2"), 10), Err(StatusCode::BAD_REQUEST));
        assert_eq!(byte_range(&h("bytes=1-2,4-5"), 10), Err(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn media_urls_encode_the_file_name() {
        assert_eq!(url_encode("a b/ü.png"), "a%20b%2F%C3%BC.png");
    }
}
