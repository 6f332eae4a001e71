//! S3's XML error document read into an [`AwsRequestError`].

use super::super::signed::error::{shorten, MESSAGE_MAX};
use super::super::signed::AwsRequestError;

impl AwsRequestError {
    /// The error of a response with `status` and `body`, S3's XML error document
    /// (`<Error><Code>…</Code><Message>…</Message>…</Error>`) when it is one.
    pub(crate) fn from_s3_response(status: u16, body: &[u8], bucket_region: Option<&str>) -> Self {
        let text = String::from_utf8_lossy(body);
        let (code, message) = match text.trim_start().starts_with('<') {
            true => (element(&text, "Code"), element(&text, "Message").map(|m| shorten(&m, MESSAGE_MAX))),
            false => (None, None),
        };
        AwsRequestError::Service { status, code, message, bucket_region: bucket_region.map(str::to_string) }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_domain::ErrorCategory;

    const NO_SUCH_KEY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>messages/a &amp; b.json</Key><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;

    fn service(status: u16, body: &str, region: Option<&str>) -> AwsRequestError {
        AwsRequestError::from_s3_response(status, body.as_bytes(), region)
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
        let AwsRequestError::Service { message: Some(m), .. } = service(400, &long, None) else { panic!("no message") };
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
        let table: Vec<(AwsRequestError, ErrorCategory, bool)> = vec![
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
            (AwsRequestError::Timeout("after 3 s".into()), ErrorCategory::Network, true),
            (AwsRequestError::Dispatch("connection refused".into()), ErrorCategory::Network, true),
            (AwsRequestError::Construction("no region".into()), ErrorCategory::Config, false),
            (AwsRequestError::TooLarge { limit: 1 }, ErrorCategory::BadMessage, false),
            (
                AwsRequestError::Credentials { category: ErrorCategory::Auth, detail: "x".into() },
                ErrorCategory::Auth,
                false,
            ),
        ];
        for (e, category, transient) in table {
            assert_eq!((e.category(), e.is_transient()), (category, transient), "{e}");
        }
    }
}
