//! SDK and S3 errors → `PortError`, classified once here.

use super::signed::AwsRequestError;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use ferry_domain::{ErrorCategory, PortError};

/// The category of an AWS error code (DynamoDB, SQS, Scheduler and S3 spell some
/// alike), falling back on the HTTP status.
pub(crate) fn category_of(code: Option<&str>, status: Option<u16>) -> ErrorCategory {
    let by_code = code.map(|c| {
        // SQS over the query protocol prefixes codes (`AWS.SimpleQueueService.NonExistentQueue`).
        let c = c.rsplit('.').next().unwrap_or(c);
        match c {
            "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "KmsThrottled"
            | "SlowDown" => Some(ErrorCategory::RateLimited),
            "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "MissingAuthenticationToken"
            | "IncompleteSignature"
            | "InvalidSecurity"
            | "InvalidAccessKeyId"
            | "InvalidToken"
            | "TokenRefreshRequired"
            | "RequestTimeTooSkewed" => Some(ErrorCategory::Auth),
            "AccessDeniedException"
            | "AccessDenied"
            | "AllAccessDisabled"
            | "KmsAccessDenied"
            | "KMSAccessDeniedException" => Some(ErrorCategory::Permission),
            "ResourceNotFoundException" | "QueueDoesNotExist" | "NonExistentQueue" => Some(ErrorCategory::Config),
            "ConditionalCheckFailedException"
            | "TransactionConflictException"
            | "ConflictException"
            | "OperationAborted" => Some(ErrorCategory::Conflict),
            "ReceiptHandleIsInvalid" | "InvalidReceiptHandle" | "MessageNotInflight" | "NoSuchKey" => {
                Some(ErrorCategory::NotFound)
            }
            // S3: the bucket is missing or in another region than the one configured.
            "NoSuchBucket"
            | "PermanentRedirect"
            | "AuthorizationHeaderMalformed"
            | "IllegalLocationConstraintException" => Some(ErrorCategory::Config),
            // S3: the connection idled while the request body was on its way.
            "RequestTimeout" => Some(ErrorCategory::Network),
            "InternalServerError"
            | "InternalFailure"
            | "InternalError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "InternalServerException"
            | "TemporaryRedirect" => Some(ErrorCategory::Server),
            "ValidationException"
            | "InvalidParameterValue"
            | "InvalidParameterValueException"
            | "MissingParameter"
            | "InvalidAttributeValue"
            | "InvalidBatchEntryId"
            | "BatchEntryIdsNotDistinct"
            | "TooManyEntriesInBatchRequest"
            | "BatchRequestTooLong"
            | "InvalidMessageContents"
            | "ItemCollectionSizeLimitExceededException"
            | "SerializationException" => Some(ErrorCategory::InvalidRequest),
            _ => None,
        }
    });
    match (by_code.flatten(), status) {
        (Some(c), _) => c,
        (None, Some(429)) => ErrorCategory::RateLimited,
        (None, Some(s)) if s >= 500 => ErrorCategory::Server,
        (None, Some(s)) if (400..500).contains(&s) => ErrorCategory::InvalidRequest,
        _ => ErrorCategory::Store,
    }
}

/// `service` and `op` name the call (`DynamoDB PutItem`), `target` the table or queue,
/// `what` the port operation and its key.
pub(crate) fn sdk_error<E>(
    service: &str,
    op: &str,
    target: &str,
    what: &str,
    err: SdkError<E, HttpResponse>,
) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let place = format!("{what}: {service} {op} on {target}");
    let (category, detail) = match &err {
        SdkError::ServiceError(service_err) => {
            let e = service_err.err();
            let status = service_err.raw().status().as_u16();
            let category = category_of(e.code(), Some(status));
            let detail = format!(
                "{} (HTTP {status}): {}",
                e.code().unwrap_or("unknown error"),
                e.message().unwrap_or("no message")
            );
            (category, detail)
        }
        SdkError::TimeoutError(_) => (ErrorCategory::Network, format!("timed out: {}", DisplayErrorContext(&err))),
        SdkError::DispatchFailure(_) => {
            (ErrorCategory::Network, format!("request not delivered: {}", DisplayErrorContext(&err)))
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            let category = if status >= 500 { ErrorCategory::Server } else { ErrorCategory::BadResponse };
            (category, format!("unreadable response (HTTP {status}): {}", DisplayErrorContext(&err)))
        }
        SdkError::ConstructionFailure(_) => (
            ErrorCategory::Config,
            format!("request could not be built (region or credentials missing?): {}", DisplayErrorContext(&err)),
        ),
        _ => (ErrorCategory::Store, DisplayErrorContext(&err).to_string()),
    };
    let hint = match category {
        ErrorCategory::Config => " (check the FERRY_* resource names and the region)",
        _ => "",
    };
    PortError::new(category, format!("{place}: {detail}{hint}")).with_source(err)
}

/// An S3 request's failure, worded like [`sdk_error`]'s: `op` names the call
/// (`GetObject`), `bucket` and `key` the object, `what` the port operation and its key.
pub(crate) fn s3_error(op: &str, bucket: &str, key: &str, what: &str, err: AwsRequestError) -> PortError {
    let category = err.category();
    let hint = match category {
        ErrorCategory::Config => " (check FERRY_PAYLOAD_BUCKET and the region)",
        _ => "",
    };
    PortError::new(category, format!("{what}: S3 {op} on {bucket}/{key}: {err}{hint}")).with_source(err)
}

/// A record that cannot be decoded or a required attribute that is missing.
pub(crate) fn corrupt(table: &str, key: &str, problem: impl std::fmt::Display) -> PortError {
    PortError::store(format!("corrupt item in table `{table}` at key {key}: {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_and_statuses_map_to_categories() {
        let table = [
            (Some("ProvisionedThroughputExceededException"), Some(400), ErrorCategory::RateLimited),
            (Some("ThrottlingException"), Some(400), ErrorCategory::RateLimited),
            (Some("RequestThrottled"), Some(403), ErrorCategory::RateLimited),
            (Some("ConditionalCheckFailedException"), Some(400), ErrorCategory::Conflict),
            (Some("ResourceNotFoundException"), Some(400), ErrorCategory::Config),
            (Some("AWS.SimpleQueueService.NonExistentQueue"), Some(400), ErrorCategory::Config),
            (Some("QueueDoesNotExist"), Some(400), ErrorCategory::Config),
            (Some("AccessDeniedException"), Some(400), ErrorCategory::Permission),
            (Some("UnrecognizedClientException"), Some(400), ErrorCategory::Auth),
            (Some("ReceiptHandleIsInvalid"), Some(400), ErrorCategory::NotFound),
            (Some("ValidationException"), Some(400), ErrorCategory::InvalidRequest),
            (Some("InternalServerError"), Some(500), ErrorCategory::Server),
            (Some("SomethingNew"), Some(503), ErrorCategory::Server),
            (Some("SomethingNew"), Some(429), ErrorCategory::RateLimited),
            (Some("SomethingNew"), Some(404), ErrorCategory::InvalidRequest),
            (None, None, ErrorCategory::Store),
        ];
        for (code, status, want) in table {
            assert_eq!(category_of(code, status), want, "{code:?} {status:?}");
        }
    }

    #[test]
    fn transient_categories_are_retryable_and_configuration_is_not() {
        assert!(category_of(Some("ThrottlingException"), None).is_retryable());
        assert!(category_of(None, Some(500)).is_retryable());
        assert!(!category_of(Some("ResourceNotFoundException"), None).is_retryable());
        assert!(!category_of(Some("ValidationException"), None).is_retryable());
    }
}
