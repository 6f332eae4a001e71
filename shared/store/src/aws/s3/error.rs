//! What can go wrong in an S3 request, and S3's error document read into it. The
//! category of each (retried or not) is decided by [`category_of`], the one table of
//! AWS error codes.

use super::super::error::category_of;
use ferry_domain::ErrorCategory;

/// An S3 request that did not succeed. No variant holds a credential or a signature.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum S3Error {
    /// S3 answered with an error status; `code` and `message` come from its error
    /// document, `bucket_region` from `x-amz-bucket-region` (sent when the bucket is
    /// in another region than the request was signed for).
    #[error("{}", service_detail(*.status, .code.as_deref(), .message.as_deref(), .bucket_region.as_deref()))]
    Service { status: u16, code: Option<String>, message: Option<String>, bucket_region: Option<String> },
    #[error("timed out: {0}")]
    Timeout(String),
    /// No answer: the connection failed, or it broke while the request or the
    /// response was on the way.
    #[error("request not delivered: {0}")]
    Dispatch(String),
    #[error("loading the AWS credentials failed: {detail}")]
    Credentials { category: ErrorCategory, detail: String },
    /// The request cannot be made as configured (region, endpoint, bucket name, key).
    #[error("request could not be built: {0}")]
    Construction(String),
    #[error("the object is larger than {limit} bytes")]
    TooLarge { limit: u64 },
}

fn service_detail(status: u16, code: Option<&str>, message: Option<&str>, bucket_region: Option<&str>) -> String {
    let mut text = format!("{} (HTTP {status}): {}", code.unwrap_or("unknown error"), message.unwrap_or("no message"));
    if let Some(region) = bucket_region {
        text.push_str(&format!(" (the bucket is in region {region})"));
    }
    text
}

impl S3Error {
    pub fn category(&self) -> ErrorCategory {
        match self {
            S3Error::Service { status, code, .. } => category_of(code.as_deref(), Some(*status)),
            S3Error::Timeout(_) | S3Error::Dispatch(_) => ErrorCategory::Network,
            S3Error::Credentials { category, .. } => *category,
            S3Error::Construction(_) => ErrorCategory::Config,
            S3Error::TooLarge { .. } => ErrorCategory::BadMessage,
        }
    }

    /// Whether another attempt may succeed: what the SDK's standard retry policy
    /// retries (throttling, 5xx, timeouts and broken connections).
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self.category(), ErrorCategory::RateLimited | ErrorCategory::Network | ErrorCategory::Server)
    }

    /// The error of a response with `status` and `body`, S3's XML error document
    /// (`<Error><Code>…</Code><Message>…</Message>…</Error>`) when it is one.
    pub(crate) fn from_response(status: u16, body: &[u8], bucket_region: Option<&str>) -> Self {
        let text = String::from_utf8_lossy(body);
        let (code, message) = match text.trim_start().starts_with('<') {
            true => (element(&text, "Code"), element(&text, "Message").map(|m| shorten(&m, MESSAGE_MAX))),
            false => (None, None),
        };
        S3Error::Service { status, code, message, bucket_region: bucket_region.map(str::to_string) }
    }
}

/// An error message is shown at most this long (S3's are one sentence).
const MESSAGE_MAX: usize = 500;

/// The text of the first `<name>…</name>` element, unescaped.
fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    let value = unescape(xml[start..end].trim());
    (!value.is_empty()).then_some(value)
}

/// XML's five predefined entities and numeric character references.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let decoded = after.find(';').and_then(|semi| {
            let c = match &after[1..semi] {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                n if n.starts_with("#x") => u32::from_str_radix(&n[2..], 16).ok().and_then(char::from_u32),
                n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &after[len..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_SUCH_KEY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>messages/a &amp; b.json</Key><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;

    fn service(status: u16, body: &str, region: Option<&str>) -> S3Error {
        S3Error::from_response(status, body.as_bytes(), region)
    }

    #[test]
    fn error_documents_are_read_into_code_and_message() {
        let e = service(404, NO_SUCH_KEY, None);
        assert_eq!(e.to_string(), "NoSuchKey (HTTP 404): The specified key does not exist.");
        let escaped = "<Error><Code>InvalidArgument</Code><Message>a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#x27; &bogus;</Message></Error>";
        assert_eq!(service(400, escaped, None).to_string(), "InvalidArgument (HTTP 400): a <b> & \"c\" 'd' &bogus;");
        let table = [
            ("", "unknown error (HTTP 503): no message"),
            ("<html><body>Bad gateway</body></html>", "unknown error (HTTP 503): no message"),
            ("Service Unavailable", "unknown error (HTTP 503): no message"),
            ("<Error><Code>SlowDown</Code></Error>", "SlowDown (HTTP 503): no message"),
            ("<Error><Code>SlowDown</Code><Message>", "SlowDown (HTTP 503): no message"),
        ];
        for (body, want) in table {
            assert_eq!(service(503, body, None).to_string(), want, "{body:?}");
        }
        let long = format!("<Error><Code>X</Code><Message>{}</Message></Error>", "é".repeat(900));
        let S3Error::Service { message: Some(m), .. } = service(400, &long, None) else { panic!("no message") };
        assert_eq!(m.chars().count(), MESSAGE_MAX + 1, "cut with an ellipsis");
    }

    #[test]
    fn a_bucket_in_another_region_is_named() {
        let body = "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message></Error>";
        let e = service(301, body, Some("eu-central-1"));
        assert!(e.to_string().ends_with("(the bucket is in region eu-central-1)"), "{e}");
        assert_eq!(e.category(), ErrorCategory::Config);
        assert!(!e.is_transient());
    }

    #[test]
    fn each_failure_has_a_category_and_only_transient_ones_are_retried() {
        let table: Vec<(S3Error, ErrorCategory, bool)> = vec![
            (service(404, NO_SUCH_KEY, None), ErrorCategory::NotFound, false),
            (service(404, "<Error><Code>NoSuchBucket</Code></Error>", None), ErrorCategory::Config, false),
            (service(403, "<Error><Code>AccessDenied</Code></Error>", None), ErrorCategory::Permission, false),
            (service(403, "<Error><Code>InvalidAccessKeyId</Code></Error>", None), ErrorCategory::Auth, false),
            (service(403, "<Error><Code>SignatureDoesNotMatch</Code></Error>", None), ErrorCategory::Auth, false),
            (service(400, "<Error><Code>ExpiredToken</Code></Error>", None), ErrorCategory::Auth, false),
            (service(403, "<Error><Code>RequestTimeTooSkewed</Code></Error>", None), ErrorCategory::Auth, false),
            (
                service(400, "<Error><Code>AuthorizationHeaderMalformed</Code></Error>", None),
                ErrorCategory::Config,
                false,
            ),
            (service(400, "<Error><Code>EntityTooLarge</Code></Error>", None), ErrorCategory::InvalidRequest, false),
            (
                service(400, "<Error><Code>XAmzContentSHA256Mismatch</Code></Error>", None),
                ErrorCategory::InvalidRequest,
                false,
            ),
            (service(400, "<Error><Code>RequestTimeout</Code></Error>", None), ErrorCategory::Network, true),
            (service(503, "<Error><Code>SlowDown</Code></Error>", None), ErrorCategory::RateLimited, true),
            (service(500, "<Error><Code>InternalError</Code></Error>", None), ErrorCategory::Server, true),
            (service(503, "", None), ErrorCategory::Server, true),
            (service(409, "<Error><Code>OperationAborted</Code></Error>", None), ErrorCategory::Conflict, false),
            (service(307, "<Error><Code>TemporaryRedirect</Code></Error>", None), ErrorCategory::Server, true),
            (service(418, "", None), ErrorCategory::InvalidRequest, false),
            (S3Error::Timeout("after 3 s".into()), ErrorCategory::Network, true),
            (S3Error::Dispatch("connection refused".into()), ErrorCategory::Network, true),
            (S3Error::Construction("no region".into()), ErrorCategory::Config, false),
            (S3Error::TooLarge { limit: 1 }, ErrorCategory::BadMessage, false),
            (S3Error::Credentials { category: ErrorCategory::Auth, detail: "x".into() }, ErrorCategory::Auth, false),
        ];
        for (e, category, transient) in table {
            assert_eq!((e.category(), e.is_transient()), (category, transient), "{e}");
        }
    }
}
