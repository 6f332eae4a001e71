//! The price table (`bench/prices.toml`): flat `key = value` lines, `#` comments.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Prices {
    pub date: String,
    pub source: String,
    pub lambda_arm64_gb_second: f64,
    pub lambda_request: f64,
    pub sqs_fifo_request: f64,
    pub dynamodb_write_unit: f64,
    pub dynamodb_read_unit: f64,
    pub scheduler_invocation: f64,
}

/// What the dollar figures of a benchmark are computed with (both modes take them).
#[derive(clap::Args, Debug, Clone)]
pub struct CostArgs {
    /// Lambda memory size the cost is computed for (the template's FunctionMemory).
    #[arg(long, default_value_t = 256)]
    pub memory_mb: u32,
    /// The price table.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/prices.toml"))]
    pub prices: std::path::PathBuf,
}

impl CostArgs {
    /// The price table `--prices` names, read and parsed.
    pub fn load_prices(&self) -> Result<Prices> {
        let path = &self.prices;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Prices::parse(&text).with_context(|| format!("price table {}", path.display()))
    }
}

impl Prices {
    pub fn parse(text: &str) -> Result<Prices> {
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line.split_once('=').ok_or_else(|| anyhow!("line {}: expected `key = value`", n + 1))?;
            let v = v.trim();
            let v = match v.strip_prefix('"') {
                Some(rest) => rest.strip_suffix('"').ok_or_else(|| anyhow!("line {}: unterminated string", n + 1))?,
                None => v.split('#').next().unwrap_or("").trim(),
            };
            values.insert(k.trim().to_string(), v.to_string());
        }
        let text_of = |k: &str| values.get(k).cloned().ok_or_else(|| anyhow!("price table has no `{k}`"));
        let num = |k: &str| -> Result<f64> {
            let v = text_of(k)?;
            let x: f64 = v.parse().with_context(|| format!("`{k}` = {v:?} is not a number"))?;
            if !(x.is_finite() && x >= 0.0) {
                bail!("`{k}` must be a non-negative price, got {v}");
            }
            Ok(x)
        };
        Ok(Prices {
            date: text_of("date")?,
            source: text_of("source")?,
            lambda_arm64_gb_second: num("lambda_arm64_gb_second")?,
            lambda_request: num("lambda_request")?,
            sqs_fifo_request: num("sqs_fifo_request")?,
            dynamodb_write_unit: num("dynamodb_write_unit")?,
            dynamodb_read_unit: num("dynamodb_read_unit")?,
            scheduler_invocation: num("scheduler_invocation")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_price_table_parses_with_a_date() {
        let p = Prices::parse(include_str!("../prices.toml")).unwrap();
        assert_eq!(p.date, "2024-11-15");
        assert!(p.lambda_arm64_gb_second > 0.0 && p.sqs_fifo_request > 0.0);
    }

    #[test]
    fn a_missing_price_is_named() {
        let e = Prices::parse("date = \"x\"\nsource = \"y\"\n").unwrap_err().to_string();
        assert!(e.contains("lambda_arm64_gb_second"), "{e}");
    }

    #[test]
    fn a_negative_price_is_refused() {
        let mut t = include_str!("../prices.toml").replace("lambda_request = 0.0000002", "lambda_request = -1");
        t.push('\n');
        assert!(Prices::parse(&t).unwrap_err().to_string().contains("lambda_request"));
    }
}
