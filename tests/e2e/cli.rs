//! The operator's commands that need no running integration.

use crate::harness::*;
use std::process::Command;

fn ferry() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
    c.current_dir(repo_root());
    c
}

#[tokio::test]
async fn validate_accepts_the_shipped_example() {
    let mut c = ferry();
    c.args(["validate", "examples/ferry.yaml"]);
    let r = run(c).await;
    assert!(r.ok, "{}", r.stderr);
}

#[tokio::test]
async fn validate_reports_file_line_and_key_for_broken_configs() {
    for (file, needle) in [
        ("examples/broken/wrong-key.yaml", ""),
        ("examples/broken/bad-direction.yaml", "direction"),
        ("examples/broken/missing-column.yaml", "column"),
    ] {
        let mut c = ferry();
        c.args(["validate", file]);
        let r = run(c).await;
        assert!(!r.ok, "{file} must be rejected");
        let first = r.stderr.lines().next().unwrap_or("");
        let prefix = format!("{file}:");
        assert!(first.starts_with(&prefix), "{file}: error must start with FILE:LINE: {first}");
        let line: String = first[prefix.len()..].chars().take_while(char::is_ascii_digit).collect();
        assert!(!line.is_empty(), "{file}: no line number in {first}");
        assert!(first.contains(needle), "{file}: {first}");
    }
}

#[tokio::test]
async fn validate_json_prints_one_document_with_the_ids_or_every_error_and_keeps_the_exit_codes() {
    let mut c = ferry();
    c.args(["validate", "examples/ferry.yaml", "--json"]);
    let r = run(c).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["files"], 1);
    assert!(v["systems"].as_array().is_some_and(|s| !s.is_empty()), "{v:#}");
    assert!(v["integrations"].as_array().is_some_and(|i| !i.is_empty()), "{v:#}");
    assert_eq!(v["source_control"], serde_json::json!(["app-repo"]), "{v:#}");
    assert_eq!(v["commit_links"], serde_json::json!(["app-commits"]), "{v:#}");

    let file = "examples/broken/bad-direction.yaml";
    let mut c = ferry();
    c.args(["validate", file, "--json"]);
    let r = run(c).await;
    assert_eq!(r.code, Some(3), "invalid config, as without --json: {}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    assert_eq!(v["ok"], false, "{v:#}");
    let first = &v["errors"][0];
    assert_eq!(first["file"], file, "{v:#}");
    assert!(first["line"].as_u64().is_some_and(|l| l > 0), "{v:#}");
    assert!(first["path"].as_str().is_some_and(|p| p.contains("direction")), "{v:#}");
    assert!(first["message"].as_str().is_some_and(|m| !m.is_empty()), "{v:#}");
}

#[tokio::test]
async fn schema_prints_a_json_schema() {
    let mut c = ferry();
    c.arg("schema");
    let r = run(c).await;
    assert!(r.ok);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("schema is JSON");
    assert!(v["properties"]["integrations"].is_object(), "{v}");
}

#[tokio::test]
async fn demo_json_reports_a_passing_bidirectional_sync() {
    let mut c = ferry();
    c.args(["demo", "--json"]).env("FERRY_LOG", "warn");
    let r = run(c).await;
    assert!(r.ok, "demo failed:\n{}\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("demo --json prints one JSON object");
    assert_eq!(v["ok"], true, "{v:#}");
    assert!(v["elapsed_ms"].as_u64().unwrap_or(u64::MAX) < 60_000);
    assert!(v["checks"].as_array().map_or(0, Vec::len) >= 5);
}

#[tokio::test]
async fn completions_and_the_man_page_come_from_the_binary_and_name_its_commands() {
    let mut c = ferry();
    c.args(["completions", "bash"]);
    let r = run(c).await;
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("complete -F _ferry"), "{}", r.stdout);
    for name in ["validate", "status", "failures", "serve", "completions", "man"] {
        assert!(r.stdout.contains(name), "{name} in the bash completion");
    }

    let mut c = ferry();
    c.arg("man");
    let r = run(c).await;
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.lines().any(|l| l.starts_with(".TH ferry 1")), "a roff title line");
    for name in ["ferry\\-status", "ferry\\-failures", "ferry\\-completions"] {
        assert!(r.stdout.contains(name), "{name} in the man page");
    }

    let mut c = ferry();
    c.args(["completions", "tcsh"]);
    let r = run(c).await;
    assert_eq!(r.code, Some(2), "an unknown shell is a usage error: {}", r.stderr);
}
