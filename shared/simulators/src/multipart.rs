//! `multipart/form-data` bodies (RFC 7578): what the Jira attachment upload receives and
//! what the traffic capture summarises instead of the raw bytes.

use serde::{Deserialize, Serialize};

/// One part of a multipart body, borrowing its content from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// `name` of the part's `Content-Disposition: form-data`.
    pub name: Option<String>,
    /// `filename` (or RFC 5987 `filename*`) of the part.
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: &'a [u8],
}

/// What the traffic capture keeps of a part: its headers and size, never its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSummary {
    pub name: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub size: u64,
}

impl Part<'_> {
    pub fn summary(&self) -> PartSummary {
        PartSummary {
            name: self.name.clone(),
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size: self.data.len() as u64,
        }
    }
}

/// The `boundary` parameter of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let media = params.next()?.trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.filter_map(|p| p.split_once('=')).find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary")).map(|(_, v)| {
        let v = v.trim();
        v.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(v).to_string()
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let last_start = hay.len() - needle.len();
    let mut i = from;
    while i <= last_start {
        match hay[i..=last_start].iter().position(|b| *b == first) {
            None => return None,
            Some(off) => {
                let at = i + off;
                if &hay[at..at + needle.len()] == needle {
                    return Some(at);
                }
                i = at + 1;
            }
        }
    }
    None
}

/// Splits a multipart body into its parts; an error says what is malformed.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, String> {
    let delimiter = format!("--{boundary}");
    let delim = delimiter.as_bytes();
    let mut at = find(body, delim, 0).ok_or("the body holds no part delimited by the boundary")?;
    let mut parts = Vec::new();
    loop {
        let after = at + delim.len();
        if body[after..].starts_with(b"--") {
            return Ok(parts);
        }
        let headers_start = if body[after..].starts_with(b"\r\n") { after + 2 } else { after };
        let headers_end = find(body, b"\r\n\r\n", headers_start).ok_or("a part's headers are not terminated")?;
        let headers =
            std::str::from_utf8(&body[headers_start..headers_end]).map_err(|_| "a part header is not UTF-8")?;
        let data_start = headers_end + 4;
        let mut close = Vec::with_capacity(delim.len() + 2);
        close.extend_from_slice(b"\r\n");
        close.extend_from_slice(delim);
        let data_end = find(body, &close, data_start).ok_or("the last part is not closed by the boundary")?;
        parts.push(part(headers, &body[data_start..data_end]));
        at = data_end + 2;
    }
}

fn part<'a>(headers: &str, data: &'a [u8]) -> Part<'a> {
    let mut p = Part { name: None, filename: None, content_type: None, data };
    for line in headers.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else { continue };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-type") {
            p.content_type = Some(value.trim().to_string());
        } else if name.eq_ignore_ascii_case("content-disposition") {
            for param in disposition_params(value) {
                match param.0.to_ascii_lowercase().as_str() {
                    "name" => p.name = Some(param.1),
                    "filename" if p.filename.is_none() => p.filename = Some(param.1),
                    "filename*" => p.filename = Some(rfc5987(&param.1)),
                    _ => {}
                }
            }
        }
    }
    p
}

/// `key=value` / `key="quoted value"` parameters after the disposition type.
fn disposition_params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = value;
    // Skip the disposition type (`form-data`).
    match rest.find(';') {
        Some(i) => rest = &rest[i + 1..],
        None => return out,
    }
    loop {
        rest = rest.trim_start_matches([' ', ';']);
        let Some(eq) = rest.find('=') else { return out };
        let key = rest[..eq].trim().to_string();
        rest = &rest[eq + 1..];
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            rest = &quoted[end.min(quoted.len())..];
            v
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            let v = rest[..end].trim().to_string();
            rest = &rest[end..];
            v
        };
        out.push((key, value));
    }
}

/// `UTF-8''na%C3%AFve.txt` -> `naïve.txt`.
fn rfc5987(v: &str) -> String {
    let encoded = v.splitn(3, '\'').nth(2).unwrap_or(v);
    let b = encoded.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (headers, data) in parts {
            b.extend_from_slice(b"--XyZ\r\n");
            b.extend_from_slice(headers.as_bytes());
            b.extend_from_slice(b"\r\n\r\n");
            b.extend_from_slice(data);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"--XyZ--\r\n");
        b
    }

    #[test]
    fn the_boundary_comes_from_a_multipart_form_data_content_type_only() {
        assert_eq!(boundary("multipart/form-data; boundary=XyZ").as_deref(), Some("XyZ"));
        assert_eq!(boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\"").as_deref(), Some("a b"));
        assert_eq!(boundary("application/json; boundary=XyZ"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }

    #[test]
    fn parts_keep_their_names_file_names_types_and_exact_bytes() {
        let binary: &[u8] = b"\x00\x01\r\n--Xy\r\n\xff";
        let b = body(&[
            ("Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".png\"\r\nContent-Type: image/png", binary),
            ("Content-Disposition: form-data; name=file; filename*=UTF-8''na%C3%AFve.txt", b"text"),
            ("Content-Disposition: form-data; name=\"note\"", b""),
        ]);
        let parts = parse(&b, "XyZ").expect("well formed");
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name.as_deref(), Some("file"));
        assert_eq!(parts[0].filename.as_deref(), Some("a \"b\".png"));
        assert_eq!(parts[0].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[0].data, binary);
        assert_eq!(parts[1].filename.as_deref(), Some("naïve.txt"));
        assert_eq!(parts[1].data, b"text");
        assert_eq!((parts[2].filename.clone(), parts[2].data.len()), (None, 0));
        assert_eq!(parts[0].summary().size, binary.len() as u64);
    }

    #[test]
    fn malformed_bodies_are_refused_with_a_reason() {
        assert!(parse(b"no delimiter here", "XyZ").unwrap_err().contains("boundary"));
        assert!(parse(b"--XyZ\r\nContent-Disposition: form-data", "XyZ").unwrap_err().contains("headers"));
        assert!(parse(b"--XyZ\r\nA: b\r\n\r\ndata without end", "XyZ").unwrap_err().contains("not closed"));
        assert_eq!(parse(b"--XyZ--\r\n", "XyZ").expect("empty form"), vec![]);
    }
}
