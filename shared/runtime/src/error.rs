//! What can stop a runtime from being built from its settings. Each error says what was
//! being done and keeps its cause as [`std::error::Error::source`], so a report (the
//! CLI's `{:#}`, a Lambda's failed cold start) shows the whole chain.

use crate::aws::SdkEnvError;
use ferry_connectors::http::AllowedHostsError;
use ferry_domain::PortError;
use std::fmt;
use std::path::PathBuf;

/// The runtime crate's error.
#[derive(thiserror::Error)]
pub enum RuntimeError {
    #[error("loading the AWS SDK configuration")]
    SdkConfig(#[from] SdkEnvError),
    #[error("reading the FERRY_* settings")]
    AwsNames(#[source] PortError),
    #[error("poll schedules are half configured: set {} as well (or none of {})", missing.join(", "), all.join(", "))]
    HalfConfiguredSchedules { missing: Vec<&'static str>, all: &'static [&'static str] },
    #[error("building the AWS HTTP client")]
    AwsHttpClient(#[source] reqwest::Error),
    #[error(transparent)]
    AllowedHosts(#[from] AllowedHostsError),
    #[error("opening the embedded store {}", path.display())]
    OpenStore {
        path: PathBuf,
        #[source]
        source: PortError,
    },
    #[error("{var}={value:?} is not a duration: give one such as 30s, 90s or 2m")]
    NotADuration { var: &'static str, value: String },
    #[error("FERRY_POLL_FUNCTION_ARN: {0}")]
    PollFunction(String),
    #[error("{var}={value:?} is neither on nor off")]
    NotASwitch { var: &'static str, value: String },
}

/// The message and its causes, one a line: what a binary's `main` prints when it returns
/// this error (a Lambda's cold start failure shows in its log this way).
impl fmt::Debug for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_domain::ErrorCategory;

    #[test]
    fn a_runtime_error_keeps_its_cause_as_the_source() {
        let e = RuntimeError::AwsNames(PortError::new(ErrorCategory::Config, "FERRY_STATE_TABLE is not set"));
        assert_eq!(e.to_string(), "reading the FERRY_* settings");
        let cause = std::error::Error::source(&e).expect("the cause is kept").to_string();
        assert!(cause.contains("FERRY_STATE_TABLE is not set"), "{cause}");
    }

    #[test]
    fn its_debug_form_lists_the_whole_chain() {
        let inner = std::io::Error::other("disk full");
        let e = RuntimeError::OpenStore {
            path: "/tmp/ferry.sqlite".into(),
            source: PortError::new(ErrorCategory::Store, "cannot write").with_source(inner),
        };
        let text = format!("{e:?}");
        assert!(text.starts_with("opening the embedded store /tmp/ferry.sqlite"), "{text}");
        assert!(text.contains("caused by: store: cannot write"), "{text}");
        assert!(text.contains("caused by: disk full"), "{text}");
    }
}
