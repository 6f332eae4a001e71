//! What can go wrong in a request of Ferry's own AWS clients (S3, SSM, Secrets Manager).
//! The category of each (retried or not) is decided by [`category_of`], the one table
//! of AWS error codes; each service reads its error documents into
//! [`AwsRequestError::Service`] itself (S3's are XML, the JSON services' JSON).

use super::super::error::category_of;
use ferry_domain::ErrorCategory;

/// A request that did not succeed. No variant holds a credential or a signature.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AwsRequestError {
    /// The service answered with an error status; `code` and `message` come from its
    /// error document, `bucket_region` from S3's `x-amz-bucket-region` (sent when the
    /// bucket is in another region than the request was signed for).
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
    /// A successful response longer than the caller accepts.
    #[error("the response is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// A successful response the client cannot read (not the JSON it expects).
    #[error("unreadable response: {0}")]
    BadResponse(String),
}

fn service_detail(status: u16, code: Option<&str>, message: Option<&str>, bucket_region: Option<&str>) -> String {
    let mut text = format!("{} (HTTP {status}): {}", code.unwrap_or("unknown error"), message.unwrap_or("no message"));
    if let Some(region) = bucket_region {
        text.push_str(&format!(" (the bucket is in region {region})"));
    }
    text
}

impl AwsRequestError {
    pub fn category(&self) -> ErrorCategory {
        match self {
            Self::Service { status, code, .. } => category_of(code.as_deref(), Some(*status)),
            Self::Timeout(_) | Self::Dispatch(_) => ErrorCategory::Network,
            Self::Credentials { category, .. } => *category,
            Self::Construction(_) => ErrorCategory::Config,
            Self::TooLarge { .. } => ErrorCategory::BadMessage,
            Self::BadResponse(_) => ErrorCategory::BadResponse,
        }
    }

    /// Whether another attempt may succeed: what the SDK's standard retry policy
    /// retries (throttling, 5xx, timeouts and broken connections).
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self.category(), ErrorCategory::RateLimited | ErrorCategory::Network | ErrorCategory::Server)
    }
}

/// An error message is shown at most this long (AWS's are one sentence).
pub(crate) const MESSAGE_MAX: usize = 500;

/// `text` cut to `max` characters, with an ellipsis when it was longer.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
