//! Issue attachments (docs/system-apis.md, Redmine).
//!
//! - List: `include=attachments` of the issue.
//! - Download: `GET /attachments/download/{id}` under the configured Redmine root (not
//!   the `content_url` the server built from the request's host), written to the sink
//!   as it arrives.
//! - Upload: `POST /uploads.json?filename=…` with `application/octet-stream` and a body
//!   streamed from the source, hashed on the way; Redmine answers `{"upload": {"id",
//!   "token"}}`, the token being `{id}.{SHA-256 of the file}`, which must equal the hash
//!   of what was sent. Then `PUT /issues/{id}.json` with `uploads: [{token, filename}]`
//!   (Redmine fills the content type from the name), and the issue is read again: the
//!   attachment must be there with the size sent. A file over the instance's
//!   "Maximum attachment size" is refused with 422 ("exceeds the maximum allowed file
//!   size (BYTES)"): a permanent error naming the file and the limit.
//! - Delete: `DELETE /attachments/{id}.json` of an attachment of this issue (a 404: gone).

use super::wire::{self, AttachmentDto, UploadEnvelope};
use super::{err, issue_id, RedmineConnector};
use crate::http::RawBody;
use crate::transfer;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_domain::ports::PortResult;
use ferry_domain::{Attachment, ByteSink, ByteSource, EntityId, ErrorCategory, PortError, Scope};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

/// A source that hashes what it gives.
struct Hashing<'a> {
    inner: &'a mut dyn ByteSource,
    hash: Sha256,
}

#[async_trait]
impl ByteSource for Hashing<'_> {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PortError> {
        let piece = self.inner.next_chunk().await?;
        if let Some(p) = &piece {
            self.hash.update(p);
        }
        Ok(piece)
    }
}

impl RedmineConnector {
    fn attachment_of(&self, a: &AttachmentDto) -> Attachment {
        let download = self.url(&format!("attachments/download/{}", a.id), &[]).map(|u| u.to_string());
        Attachment {
            id: a.id.to_string(),
            name: a.filename.clone(),
            size: a.filesize,
            mime_type: a.content_type.clone().filter(|t| !t.is_empty()),
            author: a.author.as_ref().map(|u| wire::user_ref(u, None)),
            // A date left out reads as the epoch (older than any start).
            created: a.created_on.as_deref().and_then(wire::parse_time).unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            url: a.content_url.clone().or(download.ok()).unwrap_or_default(),
        }
    }

    pub(super) async fn list_attachments(&self, _scope: &Scope, id: &EntityId) -> PortResult<Vec<Attachment>> {
        let issue = self.must_read_collab(issue_id(id)?).await?;
        Ok(issue.attachments.iter().map(|a| self.attachment_of(a)).collect())
    }

    pub(super) async fn download_file(&self, attachment: &Attachment, sink: &mut dyn ByteSink) -> PortResult<u64> {
        let aid = attachment_number(&attachment.id)?;
        let url = self.url(&format!("attachments/download/{aid}"), &[])?;
        let timeout = self.http.transfer_timeout(attachment.size);
        let resp = self.http.send_raw(Method::GET, url, HeaderMap::new(), RawBody::Bytes(Default::default()), timeout);
        let what = format!("{}: attachment {} ({aid})", self.system, attachment.name);
        transfer::download(resp.await?, sink, &what).await
    }

    pub(super) async fn upload_file(
        &self,
        _scope: &Scope,
        id: &EntityId,
        name: &str,
        size: u64,
        source: &mut dyn ByteSource,
    ) -> PortResult<Attachment> {
        let id = issue_id(id)?;
        let name = if name.trim().is_empty() { "attachment" } else { name };
        let url = self.url("uploads.json", &[("filename", name)])?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
        let timeout = self.http.transfer_timeout(size);
        let mut hashing = Hashing { inner: source, hash: Sha256::new() };
        let resp = transfer::stream_body(&mut hashing, size, |body| {
            self.http.send_raw_read(Method::POST, url, headers, RawBody::Stream(Some(body)), timeout)
        })
        .await
        .map_err(|e| refusal(name, size, e))?;
        let upload: UploadEnvelope = resp.json("Redmine upload")?;
        let sent = hex(&hashing.hash.finalize());
        check_token(&upload.upload.token, &sent, name)?;
        let mut body = serde_json::Map::new();
        body.insert("uploads".into(), json!([{ "token": upload.upload.token, "filename": name }]));
        self.put_issue(id, body).await.map_err(|e| refusal(name, size, e))?;
        // Attached from here on, whatever the read answers.
        let issue = self.must_read_collab(id).await.map_err(PortError::after_applied)?;
        let made = match upload.upload.id {
            Some(aid) => issue.attachments.iter().find(|a| a.id == aid),
            None => issue.attachments.iter().filter(|a| a.filename == name && a.filesize == size).max_by_key(|a| a.id),
        };
        let made = made.ok_or_else(|| {
            err(
                ErrorCategory::BadResponse,
                format!("Redmine issue {id} does not list the file {name} it was just given"),
            )
            .after_applied()
        })?;
        if made.filesize != size {
            return Err(err(
                ErrorCategory::BadResponse,
                format!("Redmine keeps {name} as {} bytes, {size} were sent", made.filesize),
            )
            .after_applied());
        }
        Ok(self.attachment_of(made))
    }

    pub(super) async fn detach_file(&self, _scope: &Scope, id: &EntityId, attachment_id: &str) -> PortResult<()> {
        let aid = attachment_number(attachment_id)?;
        let Some(issue) = self.read_collab(issue_id(id)?).await? else { return Ok(()) };
        if !issue.attachments.iter().any(|a| a.id == aid) {
            return Ok(());
        }
        let url = self.url(&format!("attachments/{aid}.json"), &[])?;
        match self.http.send(Method::DELETE, url, None, None).await {
            Err(e) if e.category == ErrorCategory::NotFound => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

/// An attachment id as the API takes it (a number).
fn attachment_number(id: &str) -> PortResult<u64> {
    id.trim().parse().map_err(|_| err(ErrorCategory::InvalidRequest, format!("{id:?} is not a Redmine attachment id")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An upload token is `{id}.{digest}`; the digest Redmine computed must be the hash of
/// the bytes sent. A token without a digest (an older Redmine) is taken as it is.
fn check_token(token: &str, sent_sha256: &str, name: &str) -> PortResult<()> {
    match token.split_once('.').map(|(_, d)| d) {
        Some(d) if d.len() == 64 && !d.eq_ignore_ascii_case(sent_sha256) => Err(err(
            ErrorCategory::BadResponse,
            format!("Redmine stored {name} with SHA-256 {d}, but the bytes sent hash to {sent_sha256}"),
        )),
        _ => Ok(()),
    }
}

/// An upload's refusal in words that name the file and the limit it hit.
fn refusal(name: &str, size: u64, e: PortError) -> PortError {
    const TOO_BIG: &str = "exceeds the maximum allowed file size (";
    let message = match e.message.split_once(TOO_BIG).and_then(|(_, r)| r.split_once(')')) {
        Some((limit, _)) => format!(
            "{name} ({size} bytes) is over Redmine's maximum attachment size of {limit} bytes \
             (Administration > Settings > Files): Redmine refused it ({})",
            e.message
        ),
        None => format!("uploading {name} ({size} bytes): {}", e.message),
    };
    PortError { message, ..e }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_refusal_names_the_file_and_the_limit() {
        let server = "redmine POST /uploads.json: HTTP 422: This file cannot be uploaded because it exceeds the maximum allowed file size (5242880)";
        let e = refusal("big.bin", 6_000_000, PortError::new(ErrorCategory::InvalidRequest, server));
        assert_eq!(e.category, ErrorCategory::InvalidRequest);
        assert!(!e.is_retryable());
        assert!(
            e.message.starts_with("big.bin (6000000 bytes) is over Redmine's maximum attachment size of 5242880 bytes"),
            "{}",
            e.message
        );
        let e = refusal("x.png", 10, PortError::new(ErrorCategory::Network, "timed out"));
        assert_eq!((e.category, e.message.as_str()), (ErrorCategory::Network, "uploading x.png (10 bytes): timed out"));
    }

    #[test]
    fn an_upload_token_whose_digest_differs_from_the_bytes_sent_is_refused() {
        let sha = "7df49fc1ca7f18e9cc712c9f16eb3cbb5c46838d2fe6ff0e2b90449fc956fbee";
        assert!(check_token(&format!("1.{sha}"), sha, "a").is_ok());
        let other = "0".repeat(64);
        let e = check_token(&format!("1.{other}"), sha, "a.bin").expect_err("differs");
        assert!(e.message.contains("a.bin") && e.message.contains(sha), "{}", e.message);
        assert!(check_token("1", sha, "a").is_ok(), "no digest to compare");
    }
}
