//! Logging for the Lambda functions: JSON lines on stdout, filtered by `FERRY_LOG`.
//!
//! `FERRY_LOG` takes the `target=level,level` directives of `RUST_LOG`. They are read
//! with [`Targets`] rather than `EnvFilter`: `EnvFilter` links a regex engine with its
//! Unicode tables (about a megabyte per binary) for span and field-value directives
//! (`target[span{field=value}]=level`), which the functions do not need.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub const LOG_VAR: &str = "FERRY_LOG";

/// The filter for a `FERRY_LOG` value: `info` when unset or invalid; empty directives
/// (`"info,"`) are skipped and no directive at all turns logging off, as `EnvFilter`
/// does.
pub fn log_filter(spec: Option<&str>) -> Targets {
    let Some(spec) = spec else { return Targets::new().with_default(LevelFilter::INFO) };
    let directives: Vec<&str> = spec.split(',').filter(|d| !d.is_empty()).collect();
    if directives.is_empty() {
        return Targets::new();
    }
    directives.join(",").parse().unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO))
}

/// Installs the JSON logger as the process's global subscriber (once, at start-up;
/// panics if one is already installed).
pub fn init() {
    let spec = std::env::var(LOG_VAR).ok();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .with_ansi(false)
                .with_writer(std::io::stdout),
        )
        .with(log_filter(spec.as_deref()))
        .init();
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing_subscriber::filter::LevelFilter;

    fn level(spec: Option<&str>, target: &str) -> Option<LevelFilter> {
        let filter = log_filter(spec);
        [LevelFilter::TRACE, LevelFilter::DEBUG, LevelFilter::INFO, LevelFilter::WARN, LevelFilter::ERROR]
            .into_iter()
            .find(|l| l.into_level().is_some_and(|l| filter.would_enable(target, &l)))
    }

    #[test]
    fn directives_filter_by_target_prefix_with_a_default_level() {
        let cases: &[(Option<&str>, &str, Option<LevelFilter>)] = &[
            (None, "ferry_engine", Some(LevelFilter::INFO)),
            (Some("warn"), "ferry_engine", Some(LevelFilter::WARN)),
            (Some("ferry_engine=debug,warn"), "ferry_engine::pipeline", Some(LevelFilter::DEBUG)),
            (Some("ferry_engine=debug,warn"), "aws_config", Some(LevelFilter::WARN)),
            (Some("ferry_engine=debug"), "aws_config", None),
            (Some("ferry_connectors"), "ferry_connectors::jira", Some(LevelFilter::TRACE)),
            (Some("DEBUG,hyper=off"), "hyper::proto", None),
            (Some("DEBUG,hyper=off"), "ferry_store", Some(LevelFilter::DEBUG)),
            (Some("info,"), "ferry_store", Some(LevelFilter::INFO)),
            (Some("a=b=c"), "ferry_store", Some(LevelFilter::INFO)),
            (Some("ferry_store=loud"), "ferry_store", Some(LevelFilter::INFO)),
            (Some(""), "ferry_store", None),
            (Some(","), "ferry_store", None),
        ];
        for (spec, target, want) in cases {
            assert_eq!(level(*spec, target), *want, "FERRY_LOG={spec:?}, target {target}");
        }
    }
}
