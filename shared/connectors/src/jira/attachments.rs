//! Issue attachments: listed from the issue's `attachment` field, downloaded and uploaded
//! a chunk at a time (never a whole file in memory), deleted by id.
//!
//! - list: `GET /issue/{id}?fields=attachment`;
//! - download: `GET /attachment/content/{id}?redirect=false`, the bytes from Jira itself
//!   (the default 303 sends them from the media service's host, which an allow-list of the
//!   site's host would refuse; a redirect sent anyway is followed);
//! - upload: `POST /issue/{id}/attachments`, `multipart/form-data` with one part `file`
//!   and `X-Atlassian-Token: no-check`, answered by an array of one `Attachment`;
//! - delete: `DELETE /attachment/{id}` (one already gone is not an error).

use super::collab_wire::{self as wire, bad_response, time, IssueFiles};
use super::JiraConnector;
use crate::http::RawBody;
use crate::transfer::{self, Framed};
use ferry_domain::ports::PortResult;
use ferry_domain::{Attachment, ByteSink, ByteSource, EntityId, ErrorCategory, PortError};
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Method;

impl JiraConnector {
    /// The issue's key and attachments (`GET /issue/{id}?fields=attachment`).
    pub(super) async fn issue_files(&self, id: &EntityId) -> PortResult<IssueFiles> {
        let url = self.api(&["issue", id.as_str()], &[("fields", "attachment".into())])?;
        self.http.send(Method::GET, url, None, None).await?.json(&format!("GET issue/{id} (attachment)"))
    }

    pub(super) async fn list_attachments(&self, id: &EntityId) -> PortResult<Vec<Attachment>> {
        let files = self.issue_files(id).await?;
        let what = format!("GET issue/{} (attachment)", files.key);
        files.fields.attachment.iter().map(|a| neutral(a, &what)).collect()
    }

    /// Streams the bytes of `a` into `sink`; the count must be the size Jira reports.
    pub(super) async fn download_attachment(&self, a: &Attachment, sink: &mut dyn ByteSink) -> PortResult<u64> {
        let url = self.api(&["attachment", "content", &a.id], &[("redirect", "false".into())])?;
        let what = format!("jira GET attachment/content/{} ({})", a.id, a.name);
        let timeout = self.http.transfer_timeout(a.size);
        let empty = RawBody::Bytes(Default::default());
        let resp = self.http.send_raw(Method::GET, url, HeaderMap::new(), empty, timeout).await?;
        let mut sink = Capped { sink, limit: a.size, written: 0, what: &what };
        let written = transfer::download(resp, &mut sink, &what).await?;
        if written != a.size {
            return Err(PortError::new(
                ErrorCategory::Network,
                format!("{what}: the download ended after {written} of {} bytes", a.size),
            ));
        }
        Ok(written)
    }

    /// Attaches `size` bytes of `source` to issue `id` as `name`, streamed as the one
    /// `file` part of a multipart body of known length.
    pub(super) async fn upload_attachment(
        &self,
        id: &EntityId,
        name: &str,
        size: u64,
        source: &mut dyn ByteSource,
    ) -> PortResult<Attachment> {
        let what = format!("POST issue/{id}/attachments ({name})");
        let boundary = boundary();
        let (head, tail) = multipart_frame(&boundary, name);
        let mut body = Framed::new(head, source, size, tail);
        let len = body.total_len();
        let mut headers = HeaderMap::new();
        headers.insert("x-atlassian-token", HeaderValue::from_static("no-check"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
        let content_type = format!("multipart/form-data; boundary={boundary}");
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(&content_type).map_err(|e| bad_response(&what, e))?);
        let url = self.api(&["issue", id.as_str(), "attachments"], &[])?;
        let timeout = self.http.transfer_timeout(size);
        let sent = transfer::stream_body(&mut body, len, |b| {
            self.http.send_raw_read(Method::POST, url, headers, RawBody::Stream(Some(b)), timeout)
        })
        .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if is_too_large(&e) => return Err(self.refused_upload(e, name, size).await),
            // The source's own failure (a wrong length) names the file it was to give.
            Err(e) if e.category == ErrorCategory::BadMessage => {
                return Err(PortError { message: format!("uploading {name} ({size} bytes): {}", e.message), ..e })
            }
            Err(e) => return Err(e),
        };
        let made: Vec<wire::Attachment> = resp.json(&what).map_err(PortError::after_applied)?;
        match made.as_slice() {
            [one] => neutral(one, &what).map_err(PortError::after_applied),
            other => {
                Err(bad_response(&what, format!("{} attachments in the answer to one file", other.len()))
                    .after_applied())
            }
        }
    }

    /// A 413 as a permanent error naming the file, its size and the site's limit
    /// (`GET /attachment/meta`, when it answers).
    async fn refused_upload(&self, e: PortError, name: &str, size: u64) -> PortError {
        let limit = match self.api(&["attachment", "meta"], &[]) {
            Ok(url) => match self.http.send(Method::GET, url, None, None).await {
                Ok(r) => {
                    r.json::<serde_json::Value>("GET attachment/meta").ok().and_then(|v| v["uploadLimit"].as_u64())
                }
                Err(_) => None,
            },
            Err(_) => None,
        };
        let limit = match limit {
            Some(l) => format!("; the site accepts files of at most {l} bytes"),
            None => String::new(),
        };
        PortError::new(
            ErrorCategory::InvalidRequest,
            format!("{}: {name} ({size} bytes) was not attached{limit}", e.message),
        )
        .with_nothing_applied(true)
    }

    pub(super) async fn remove_attachment(&self, attachment_id: &str) -> PortResult<()> {
        let url = self.api(&["attachment", attachment_id], &[])?;
        match self.http.send(Method::DELETE, url, None, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.category == ErrorCategory::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A Jira `Attachment` as Ferry's.
fn neutral(a: &wire::Attachment, what: &str) -> PortResult<Attachment> {
    Ok(Attachment {
        id: a.id.0.clone(),
        name: a.filename.clone(),
        size: a.size,
        mime_type: a.mime_type.clone(),
        author: a.author.as_ref().and_then(wire::User::to_ref),
        created: time(&a.created, what, "created")?,
        url: a.content.clone().unwrap_or_default(),
    })
}

/// Whether `e` is a 413: the file is over the site's attachment size limit.
fn is_too_large(e: &PortError) -> bool {
    e.category == ErrorCategory::InvalidRequest && e.message.contains(": HTTP 413")
}

/// A sink that refuses more than `limit` bytes: a download longer than the attachment's
/// size is a bad answer, not a bigger file.
struct Capped<'a> {
    sink: &'a mut dyn ByteSink,
    limit: u64,
    written: u64,
    /// The download, named in the error.
    what: &'a str,
}

#[async_trait::async_trait]
impl ByteSink for Capped<'_> {
    async fn write_chunk(&mut self, chunk: &[u8]) -> PortResult<()> {
        self.written += chunk.len() as u64;
        if self.written > self.limit {
            return Err(PortError::new(
                ErrorCategory::BadResponse,
                format!("{}: more bytes than the {} the attachment has", self.what, self.limit),
            ));
        }
        self.sink.write_chunk(chunk).await
    }
}

/// A multipart boundary: 32 random letters and digits, which a file's bytes will not hold
/// by chance.
fn boundary() -> String {
    let mut rng = rand::thread_rng();
    let tail: String = (0..32).map(|_| rng.sample(rand::distributions::Alphanumeric) as char).collect();
    format!("ferry-{tail}")
}

/// The bytes before and after the file of a one-part `multipart/form-data` body (RFC 7578):
/// the part `file` with its file name (quotes and line breaks percent-encoded, as browsers
/// send them) and a content type from the name's extension.
fn multipart_frame(boundary: &str, name: &str) -> (Vec<u8>, Vec<u8>) {
    let filename = name.replace('"', "%22").replace('\r', "%0D").replace('\n', "%0A");
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {}\r\n\r\n",
        mime_type(name)
    );
    (head.into_bytes(), format!("\r\n--{boundary}--\r\n").into_bytes())
}

/// The content type of a file by its extension, so that Jira shows images as images.
fn mime_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "bmp" => "image/bmp",
        "pdf" => "application/pdf",
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "xml" => "application/xml",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_multipart_frame_names_the_file_part_and_its_type() {
        let (head, tail) = multipart_frame("B", "shot \"1\".PNG");
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"shot %221%22.PNG\"\r\nContent-Type: image/png\r\n\r\n"
        );
        assert_eq!(tail, b"\r\n--B--\r\n");
        let (head, _) = multipart_frame("B", "a\r\nb");
        assert!(String::from_utf8(head)
            .unwrap()
            .contains("filename=\"a%0D%0Ab\"\r\nContent-Type: application/octet-stream"));
    }

    #[test]
    fn boundaries_differ() {
        assert_ne!(boundary(), boundary());
        assert_eq!(boundary().len(), "ferry-".len() + 32);
    }
}
