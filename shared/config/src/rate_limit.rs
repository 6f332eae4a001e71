//! `rate_limit:` of a system: `off`, or the pace of a token bucket
//! (`ferry_domain::rate_limit`).

use crate::decode::{describe, Ctx, Obj};
use crate::format;
use crate::yaml::{Kind, Node, Value};
use ferry_domain::{RateLimit, RateLimitSetting};

const HINT: &str = "e.g. rate_limit: { per_second: 10, burst: 20 }, or rate_limit: off";

/// Decodes `rate_limit:` (reporting what is wrong; `None` then).
pub fn decode(ctx: &mut Ctx, node: &Node, path: &str) -> Option<RateLimitSetting> {
    if let Kind::Scalar { .. } = node.kind {
        if let Some(Value::Str("off")) = node.scalar() {
            return Some(RateLimitSetting::Off);
        }
        ctx.error(
            node.pos,
            path,
            format!("expected off or {{ per_second, burst }}, found {}", describe(node)),
            Some(HINT.into()),
        );
        return None;
    }
    let obj = Obj::new(ctx, node, path, &format::RATE_LIMIT)?;
    let per_second = obj.get("per_second").and_then(|n| {
        let value = match n.scalar() {
            Some(Value::Int(i)) => Some(i as f64),
            Some(Value::Float(f)) => Some(f),
            _ => None,
        };
        match value.filter(|v| v.is_finite() && *v > 0.0 && *v <= 10_000.0) {
            Some(v) => Some(v),
            None => {
                ctx.error(
                    n.pos,
                    &obj.path_of("per_second"),
                    format!("expected a number above 0 and at most 10000, found {}", describe(n)),
                    Some("requests a second: per_second: 10, or 0.5 for one every two seconds".into()),
                );
                None
            }
        }
    });
    let burst = match obj.get("burst") {
        None => Ok(None),
        Some(n) => match n.scalar() {
            Some(Value::Int(i)) if (1..=100_000).contains(&i) => Ok(Some(i as u32)),
            _ => {
                ctx.error(
                    n.pos,
                    &obj.path_of("burst"),
                    format!("expected a whole number from 1 to 100000, found {}", describe(n)),
                    Some("requests that may go at once: burst: 20".into()),
                );
                Err(())
            }
        },
    };
    let per_second = per_second?;
    let burst = burst.ok()?.unwrap_or_else(|| RateLimit::default_burst(per_second));
    Some(RateLimitSetting::Limit(RateLimit { per_second, burst }))
}
