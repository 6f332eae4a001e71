//! Work item attachments (docs/system-apis.md §3.12): files are uploaded to the
//! project's attachment store, then tied to the work item by an `AttachedFile` relation.
//!
//! - List: the work item's `AttachedFile` relations (`$expand=relations`); the id is the
//!   GUID of the relation's URL (lower case, as inline images name it).
//! - Download: `GET …/_apis/wit/attachments/{id}?download=true`, written to the sink as
//!   it arrives.
//! - Upload: up to the simple-upload limit, one `POST …/attachments?fileName=…&uploadType=Simple`
//!   whose body streams from the source; above it, `uploadType=Chunked` (a `POST` without
//!   a body, then one `PUT …/attachments/{id}` with `Content-Range` per chunk, each chunk
//!   in memory so a failed one is sent again). Then `add /relations/-` of an
//!   `AttachedFile` (no `test /rev`: an addition moves no index).
//! - Delete: `remove /relations/{index}` of that relation (the file stays in the store,
//!   as when a person detaches it in the web UI).

use super::markup;
use super::relations::{attached_file, Edit, Guard, RelationDto};
use super::snapshot::work_item_id;
use super::wire::parse_time;
use super::AdoConnector;
use crate::http::RawBody;
use crate::transfer::{self, Pieces};
use chrono::{DateTime, Utc};
use ferry_domain::ports::PortResult;
use ferry_domain::{Attachment, ByteSink, ByteSource, EntityId, ErrorCategory, PortError, Scope};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

/// Largest file one simple upload takes on Azure DevOps Services: bigger files go in
/// chunks (Attachments - Create: "accounts with higher attachment upload limits
/// (>130MB) … use chunked upload").
pub const SIMPLE_UPLOAD_MAX: u64 = 130 << 20;
/// Bytes per request of a chunked upload, at most.
const CHUNK: u64 = 8 << 20;
const OCTET_STREAM: &str = "application/octet-stream";

/// `AttachmentReference`.
#[derive(Debug, Deserialize)]
struct AttachmentRef {
    id: String,
    url: String,
}

impl AdoConnector {
    /// Uploads files over `bytes` in chunks (an organization or Azure DevOps Server whose
    /// simple uploads take less than [`SIMPLE_UPLOAD_MAX`]); chunks are then at most
    /// `bytes` long too.
    pub fn with_simple_upload_limit(mut self, bytes: u64) -> Self {
        self.simple_upload_max = bytes.max(1);
        self
    }

    /// The attachment an `AttachedFile` relation names. Azure DevOps fills its
    /// attributes; a date it left out reads as the epoch (older than any start).
    fn attachment_of(&self, r: &RelationDto) -> Option<Attachment> {
        let id = attached_file(r, &self.base)?;
        let attr = |k: &str| r.attributes.get(k);
        let date = |k: &str| attr(k).and_then(Value::as_str).and_then(parse_time);
        let size = match attr("resourceSize") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        Some(Attachment {
            name: attr("name").and_then(Value::as_str).unwrap_or(&id).to_string(),
            id,
            size: size.unwrap_or(0),
            mime_type: None,
            author: None,
            created: date("resourceCreatedDate")
                .or_else(|| date("authorizedDate"))
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            url: r.url.clone(),
        })
    }

    pub(super) async fn list_attachments(&self, scope: &Scope, id: &EntityId) -> PortResult<Vec<Attachment>> {
        let wid = work_item_id(id)?;
        let item = self
            .read_relations(&scope.project, wid)
            .await?
            .ok_or_else(|| PortError::new(ErrorCategory::NotFound, format!("work item {wid} not found")))?;
        Ok(item.relations().iter().filter_map(|r| self.attachment_of(r)).collect())
    }

    pub(super) async fn download_file(
        &self,
        scope: &Scope,
        attachment: &Attachment,
        sink: &mut dyn ByteSink,
    ) -> PortResult<u64> {
        let file = file_id(&attachment.id)?;
        let url = self.wit(&scope.project, &["attachments", &file], &[("download", "true")])?;
        let timeout = self.http.transfer_timeout(attachment.size);
        let resp = self.http.send_raw(Method::GET, url, HeaderMap::new(), RawBody::Bytes(Default::default()), timeout);
        let what = format!("{}: attachment {} ({})", self.system, attachment.name, file);
        transfer::download(resp.await?, sink, &what).await
    }

    pub(super) async fn upload_file(
        &self,
        scope: &Scope,
        id: &EntityId,
        name: &str,
        size: u64,
        source: &mut dyn ByteSource,
    ) -> PortResult<Attachment> {
        let (project, wid) = (scope.project.as_str(), work_item_id(id)?);
        let name = if name.trim().is_empty() { "attachment" } else { name };
        let made = if size > self.simple_upload_max {
            self.upload_chunked(project, name, size, source).await
        } else {
            self.upload_simple(project, name, size, source).await
        }
        .map_err(|e| refusal(name, size, e))?;
        let file = file_id(&made.id)?;
        let ops =
            vec![json!({ "op": "add", "path": "/relations/-", "value": { "rel": "AttachedFile", "url": made.url } })];
        let item = self.patch_relations(project, wid, ops).await.map_err(|e| refusal(name, size, e))?;
        let attached = item.relations().iter().find(|r| attached_file(r, &self.base).as_deref() == Some(file.as_str()));
        attached.and_then(|r| self.attachment_of(r)).ok_or_else(|| {
            PortError::new(
                ErrorCategory::BadResponse,
                format!("work item {wid} does not list the file {name} ({file}) it was just given"),
            )
            .after_applied()
        })
    }

    async fn upload_simple(
        &self,
        project: &str,
        name: &str,
        size: u64,
        source: &mut dyn ByteSource,
    ) -> PortResult<AttachmentRef> {
        let url = self.wit(project, &["attachments"], &[("fileName", name), ("uploadType", "Simple")])?;
        let timeout = self.http.transfer_timeout(size);
        let resp = transfer::stream_body(source, size, |body| {
            let body = RawBody::Stream(Some(body));
            self.http.send_raw_read(Method::POST, url, octet_headers(size), body, timeout)
        })
        .await?;
        resp.json("ADO attachment upload")
    }

    async fn upload_chunked(
        &self,
        project: &str,
        name: &str,
        size: u64,
        source: &mut dyn ByteSource,
    ) -> PortResult<AttachmentRef> {
        let url = self.wit(project, &["attachments"], &[("fileName", name), ("uploadType", "Chunked")])?;
        let timeout = self.http.transfer_timeout(0);
        let empty = RawBody::Bytes(Default::default());
        let resp = self.http.send_raw_read(Method::POST, url, octet_headers(0), empty, timeout).await?;
        let mut made: AttachmentRef = resp.json("ADO chunked upload")?;
        let file = file_id(&made.id)?;
        let chunk = usize::try_from(CHUNK.min(self.simple_upload_max)).unwrap_or(usize::MAX);
        let mut pieces = Pieces::new(source);
        let mut sent = 0u64;
        loop {
            let piece = pieces.next(chunk).await?;
            if piece.is_empty() {
                break;
            }
            let len = piece.len() as u64;
            if sent + len > size {
                return Err(transfer::wrong_length(size, sent + len));
            }
            let mut headers = octet_headers(len);
            let range = format!("bytes {sent}-{}/{size}", sent + len - 1);
            headers.insert("content-range", HeaderValue::from_str(&range).map_err(|e| bad_header(&range, e))?);
            let url = self.wit(project, &["attachments", &file], &[("fileName", name)])?;
            let body = RawBody::Bytes(piece.into());
            let resp =
                self.http.send_raw_read(Method::PUT, url, headers, body, self.http.transfer_timeout(len)).await?;
            made = resp.json("ADO upload chunk")?;
            sent += len;
        }
        if sent != size {
            return Err(transfer::wrong_length(size, sent));
        }
        Ok(made)
    }

    /// Removes the file's `AttachedFile` relation; one already gone is not an error.
    pub(super) async fn detach_file(&self, scope: &Scope, id: &EntityId, attachment_id: &str) -> PortResult<()> {
        let wid = work_item_id(id)?;
        let file = file_id(attachment_id)?;
        let plan = |relations: &[RelationDto]| -> Option<Vec<Value>> {
            let i = relations.iter().position(|r| attached_file(r, &self.base).as_deref() == Some(file.as_str()))?;
            Some(vec![json!({ "op": "remove", "path": format!("/relations/{i}") })])
        };
        match self.edit_relations(&scope.project, wid, &plan, Guard::Removals).await? {
            Edit::Missing | Edit::Unchanged | Edit::Applied => Ok(()),
        }
    }
}

fn octet_headers(len: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    h
}

fn bad_header(value: &str, e: impl std::fmt::Display) -> PortError {
    PortError::new(ErrorCategory::InvalidRequest, format!("header value {value:?}: {e}"))
}

/// An attachment id as the API takes it (a GUID).
fn file_id(id: &str) -> PortResult<String> {
    markup::guid(id).ok_or_else(|| {
        PortError::new(ErrorCategory::InvalidRequest, format!("{id:?} is not an Azure DevOps attachment id"))
    })
}

/// An upload's refusal in words that name the file and the limit it hit (permanent).
fn refusal(name: &str, size: u64, e: PortError) -> PortError {
    let message = if e.message.contains("TF237082") {
        // "… exceeds the supported file upload size (60.000 MB(s)). …"
        let limit = e.message.split_once("upload size (").and_then(|(_, r)| r.split_once("))"));
        let limit = limit.map(|(l, _)| format!(" of {}", l.trim_end_matches("(s").trim())).unwrap_or_default();
        format!("{name} ({size} bytes) is over the organization's attachment size limit{limit}: Azure DevOps refused it ({})", e.message)
    } else if e.message.contains("VS403313") {
        format!("{name} was not attached: the work item holds the most attachments Azure DevOps allows ({})", e.message)
    } else {
        format!("uploading {name} ({size} bytes): {}", e.message)
    };
    PortError { message, ..e }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_file_and_the_limit() {
        let server = "ado POST /acme/App/_apis/wit/attachments: HTTP 400: TF237082: The file you are trying to upload exceeds the supported file upload size (60.000 MB(s)). Instead of uploading the file, add the file to version control.";
        let e = refusal("big.bin", 70_000_000, PortError::new(ErrorCategory::InvalidRequest, server));
        assert_eq!(e.category, ErrorCategory::InvalidRequest);
        assert!(!e.is_retryable());
        assert!(
            e.message.starts_with("big.bin (70000000 bytes) is over the organization's attachment size limit of 60.000 MB: Azure DevOps refused it"),
            "{}",
            e.message
        );
        let e = refusal(
            "x.png",
            10,
            PortError::new(
                ErrorCategory::InvalidRequest,
                "HTTP 400: VS403313: The number of attachments exceeded the limit.",
            ),
        );
        assert!(
            e.message.starts_with("x.png was not attached: the work item holds the most attachments"),
            "{}",
            e.message
        );
        let e = refusal("x.png", 10, PortError::new(ErrorCategory::Network, "timed out"));
        assert_eq!((e.category, e.message.as_str()), (ErrorCategory::Network, "uploading x.png (10 bytes): timed out"));
    }
}
