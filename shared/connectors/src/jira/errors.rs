//! Jira's error answers as Ferry's errors: the message of an `ErrorCollection`, and
//! which refusals mean a required field is missing.

use super::wire::ErrorCollection;
use ferry_domain::{ErrorCategory, PortError};
use serde_json::Value;

/// Jira `ErrorCollection` (`{errorMessages:[…], errors:{field: msg}}`) as one line;
/// `None` when the body is no such collection (the raw text is shown instead).
pub fn error_text(body: &[u8]) -> Option<String> {
    let c: ErrorCollection = serde_json::from_slice(body).ok()?;
    let mut parts = c.error_messages;
    for (field, msg) in c.errors {
        let msg = match msg {
            Value::String(s) => s,
            other => other.to_string(),
        };
        parts.push(format!("{field}: {msg}"));
    }
    if parts.is_empty() {
        c.message
    } else {
        Some(parts.join("; "))
    }
}

/// Refines a 400/422 whose messages say a field is required.
pub fn refine_write_error(e: PortError) -> PortError {
    if e.category == ErrorCategory::InvalidRequest
        && ["required", "must specify"].iter().any(|w| e.message.to_ascii_lowercase().contains(w))
    {
        PortError { category: ErrorCategory::RequiredFieldMissing, ..e }
    } else {
        e
    }
}

/// A response Ferry cannot use, naming the request.
pub fn bad_response(what: &str, detail: impl std::fmt::Display) -> PortError {
    PortError::new(ErrorCategory::BadResponse, format!("jira {what}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_collection_becomes_one_line() {
        let body = br#"{"errorMessages":["Issue does not exist"],"errors":{"resolution":"Resolution is required."},"status":400}"#;
        assert_eq!(error_text(body).as_deref(), Some("Issue does not exist; resolution: Resolution is required."));
        assert_eq!(error_text(br#"{"errors":{"n":3}}"#).as_deref(), Some("n: 3"));
        assert_eq!(error_text(br#"{"message":"Gateway says no"}"#).as_deref(), Some("Gateway says no"));
        assert_eq!(error_text(b"<html>"), None);
        let e = PortError::new(ErrorCategory::InvalidRequest, "x: resolution: Resolution is required.");
        assert_eq!(refine_write_error(e).category, ErrorCategory::RequiredFieldMissing);
        let e = PortError::new(ErrorCategory::InvalidRequest, "x: summary: too long");
        assert_eq!(refine_write_error(e).category, ErrorCategory::InvalidRequest);
    }
}
