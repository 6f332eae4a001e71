//! Work item attachments: simple upload, chunked upload (register, then `PUT` chunks with
//! `Content-Range`), download. A file becomes part of a work item through an
//! `AttachedFile` relation (see relations.rs).

use super::api::{bad_request, parse_bool};
use super::model::AttachmentRec;
use super::{Call, Inner, Reply};
use chrono::Utc;
use serde_json::json;

pub(crate) fn not_found(what: &str) -> Reply {
    Reply::error(
        404,
        "AttachmentNotFoundException",
        format!("TF401001: The attachment '{what}' does not exist or its upload is not complete."),
    )
}

fn too_large(inner: &Inner) -> Reply {
    // The service's wording (the limit in MB with three decimals).
    let mb = inner.seed.attachment_max_bytes as f64 / (1024.0 * 1024.0);
    Reply::error(
        400,
        "VssServiceException",
        format!("TF237082: The file you are trying to upload exceeds the supported file upload size ({mb:.3} MB(s)). Instead of uploading the file, add the file to version control or to the team project web site, and then link the file to the work item."),
    )
}

fn require_octet_stream(call: &Call) -> Result<(), Reply> {
    super::api::require_content_type(call, "application/octet-stream")
}

fn reference(inner: &Inner, a: &AttachmentRec) -> serde_json::Value {
    let name = a.name.replace('%', "%25").replace(' ', "%20").replace('&', "%26").replace('#', "%23");
    json!({"id": a.id, "url": format!("{}/_apis/wit/attachments/{}?fileName={name}", inner.base, a.id)})
}

/// `POST …/_apis/wit/attachments?fileName=&uploadType=Simple|Chunked`: 201 with an
/// `AttachmentReference`. A simple upload carries the whole file; a chunked one registers
/// the file and its chunks follow with `PUT`.
pub(crate) fn create(inner: &Inner, call: &Call) -> Reply {
    let run = || -> Result<Reply, Reply> {
        require_octet_stream(call)?;
        let name = call.params.get("fileName").map(str::trim).filter(|n| !n.is_empty()).unwrap_or("attachment");
        let chunked = match call.params.get("uploadType").map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("simple") => false,
            Some("chunked") => true,
            Some(other) => {
                return Err(bad_request(format!("The uploadType '{other}' is not valid; use Simple or Chunked.")))
            }
        };
        let size = call.body.len() as u64;
        if !chunked && size > inner.seed.simple_upload_max_bytes {
            return Err(Reply::error(
                413,
                "VssRequestEntityTooLargeException",
                format!(
                    "The request body of {size} bytes exceeds the simple upload limit of {} bytes: upload the file in chunks (uploadType=Chunked).",
                    inner.seed.simple_upload_max_bytes
                ),
            ));
        }
        if size > inner.seed.attachment_max_bytes {
            return Err(too_large(inner));
        }
        let mut store = inner.store();
        let rec = AttachmentRec {
            id: uuid::Uuid::new_v4().to_string(),
            file_id: store.next_file_id,
            name: name.to_string(),
            data: if chunked { Vec::new() } else { call.body.to_vec() },
            chunked,
            expected: None,
            created: Utc::now(),
        };
        store.next_file_id += 1;
        let out = reference(inner, &rec);
        store.attachments.insert(rec.id.clone(), rec);
        Ok(Reply::ok(out).status(201))
    };
    run().unwrap_or_else(|e| e)
}

/// `bytes first-last/total` of a `Content-Range` header.
fn content_range(call: &Call) -> Result<(u64, u64, u64), Reply> {
    let bad = || bad_request("The Content-Range header must read 'bytes first-last/total' for a chunk upload.");
    let raw = call.headers.get("content-range").and_then(|v| v.to_str().ok()).ok_or_else(bad)?;
    let spec = raw.trim().strip_prefix("bytes").ok_or_else(bad)?.trim();
    let (range, total) = spec.split_once('/').ok_or_else(bad)?;
    let (a, b) = range.split_once('-').ok_or_else(bad)?;
    let parse = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let (first, last, total) = (parse(a)?, parse(b)?, parse(total)?);
    if first > last || last >= total {
        return Err(bad());
    }
    Ok((first, last, total))
}

/// `PUT …/_apis/wit/attachments/{id}` with `Content-Range`: appends a chunk of a chunked
/// upload (chunks in order); 201 with the `AttachmentReference`.
pub(crate) fn upload_chunk(inner: &Inner, call: &Call, id: &str) -> Reply {
    let run = || -> Result<Reply, Reply> {
        require_octet_stream(call)?;
        let (first, last, total) = content_range(call)?;
        if total > inner.seed.attachment_max_bytes {
            return Err(too_large(inner));
        }
        let key = id.to_ascii_lowercase();
        let mut store = inner.store();
        let a = store.attachments.get_mut(&key).filter(|a| a.chunked && !a.complete()).ok_or_else(|| not_found(id))?;
        let received = a.data.len() as u64;
        if first != received || last - first + 1 != call.body.len() as u64 || a.expected.is_some_and(|e| e != total) {
            return Err(bad_request(format!(
                "The chunk bytes {first}-{last}/{total} ({} bytes sent) does not continue the upload, which has {received} bytes.",
                call.body.len()
            )));
        }
        a.expected = Some(total);
        a.data.extend_from_slice(call.body);
        let out = reference(inner, a);
        Ok(Reply::ok(out).status(201))
    };
    run().unwrap_or_else(|e| e)
}

/// `GET …/_apis/wit/attachments/{id}?fileName=&download=`: the bytes, served as
/// `application/octet-stream` (as an attachment with `download=true`, inline otherwise).
pub(crate) fn download(inner: &Inner, call: &Call, id: &str) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let download = parse_bool(call, "download")?;
        let store = inner.store();
        let a =
            store.attachments.get(&id.to_ascii_lowercase()).filter(|a| a.complete()).ok_or_else(|| not_found(id))?;
        let name = call.params.get("fileName").filter(|n| !n.is_empty()).unwrap_or(&a.name);
        let disposition = if download { "attachment" } else { "inline" };
        let encoded: String = name
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        Ok(Reply::file("application/octet-stream", a.data.clone())
            .header("content-disposition", format!("{disposition}; filename*=UTF-8''{encoded}")))
    };
    run().unwrap_or_else(|e| e)
}
