//! EventBridge Scheduler expressions the runner can fire: `rate(N unit)`.

use std::time::Duration;

/// The period of a `rate(...)` expression; `None` for `cron(...)`, `at(...)` or
/// anything malformed (the runner logs and skips those).
pub fn rate_period(expression: &str) -> Option<Duration> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let mut parts = inner.split_whitespace();
    let n: u64 = parts.next()?.parse().ok().filter(|n| *n > 0)?;
    let unit = match parts.next()? {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Duration::from_secs(n * unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_expressions_become_periods_and_others_are_refused() {
        for (expr, want) in [
            ("rate(1 minute)", Some(60)),
            ("rate(5 minutes)", Some(300)),
            (" rate(2 hours) ", Some(7200)),
            ("rate(1 day)", Some(86_400)),
            ("rate(0 minutes)", None),
            ("rate(5 fortnights)", None),
            ("rate(minutes)", None),
            ("rate(1 minute extra)", None),
            ("cron(0/5 * * * ? *)", None),
            ("at(2026-11-26T10:00:00)", None),
        ] {
            assert_eq!(rate_period(expr), want.map(Duration::from_secs), "{expr}");
        }
    }
}
