//! The text of a proposal: the integration's YAML (gaps as `GAP:` comments, so the file
//! stays valid while they are open) and the status table's CSV (gaps in columns of their
//! own, which the table reader ignores: a row whose two chosen cells are empty is skipped).

use super::matching::{MappingKind, UserMatch, ValueTable};
use super::{Proposed, SideFacts};
use ferry_domain::{FieldInfo, UserRef};
use std::fmt::Write;

/// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

pub(super) fn person(u: &UserRef) -> String {
    match (&u.display_name, &u.email) {
        (Some(n), Some(e)) => format!("{n} <{e}>"),
        (None, Some(e)) => e.clone(),
        (Some(n), None) => format!("{n} (no e-mail)"),
        (None, None) => format!("{} (no e-mail)", u.id),
    }
}

pub(super) fn yaml(
    id: &str,
    left: &SideFacts,
    right: &SideFacts,
    fields: &[Proposed],
    users: &UserMatch,
    required: &[(&'static str, FieldInfo)],
    status_file: &str,
) -> String {
    let mut y = String::new();
    let end = |s: &SideFacts| {
        format!("{{ system: {}, project: {}, type: {} }}", q(&s.system), q(&s.project), q(&s.entity_type))
    };
    let _ = writeln!(y, "# Proposed by `ferry init` from what both systems offer. This file is the source of");
    let _ = writeln!(y, "# truth: edit it, close each `GAP:`, run `ferry check`, then commit it.");
    let _ = writeln!(y, "integrations:");
    let _ = writeln!(y, "  - id: {}", q(id));
    let _ = writeln!(y, "    left: {}", end(left));
    let _ = writeln!(y, "    right: {}", end(right));
    let _ = writeln!(y, "    # GAP: no remote-id fields. Create a text field on each side for the twin's key, then:");
    let _ = writeln!(y, "    # remote: {{ left_id_field: ..., right_id_field: ..., links: both }}");
    let _ =
        writeln!(y, "    # Users match by e-mail: {} matched. Put the others in a users: table.", users.matched.len());
    for (side, list) in [("left", &users.left_unmatched), ("right", &users.right_unmatched)] {
        for u in list.iter() {
            let _ = writeln!(y, "    # GAP: {side} user without a match: {}", person(u));
        }
    }
    for (side, f) in required {
        let _ = writeln!(
            y,
            "    # GAP: required on create in the {side} system, nothing fills it: {} ({}); map it or give it a constant",
            f.key, f.name
        );
    }
    let _ = writeln!(y, "    fields:");
    for f in fields {
        field(&mut y, f, status_file);
    }
    y
}

fn field(y: &mut String, f: &Proposed, status_file: &str) {
    let (l, r) = (&f.pair.left, &f.pair.right);
    let kind = match f.pair.kind {
        MappingKind::Plain => "",
        MappingKind::RichText => ", type: rich_text",
        MappingKind::Status => ", type: status",
        MappingKind::User => ", type: user",
    };
    let head = format!("{{ left: {}, right: {}{kind} }}", q(l.key.as_str()), q(r.key.as_str()));
    let names = format!("{} ⇄ {} ({})", l.name, r.name, f.pair.because);
    let Some(t) = &f.values else {
        let _ = writeln!(y, "      - {head}  # {names}");
        return;
    };
    let gaps = |y: &mut String, prefix: &str| {
        if !t.left_unmatched.is_empty() {
            let _ = writeln!(y, "{prefix}# GAP: left values without a match: {}", t.left_unmatched.join(", "));
        }
        if !t.right_unmatched.is_empty() {
            let _ = writeln!(y, "{prefix}# GAP: right values without a match: {}", t.right_unmatched.join(", "));
        }
    };
    if t.rows.is_empty() {
        // An empty table is refused by validate: the mapping waits, commented out.
        let _ = writeln!(y, "      # GAP: {names}: no value matches by name; fill the value table, then uncomment:");
        let _ = writeln!(y, "      # - left: {}", q(l.key.as_str()));
        let _ = writeln!(y, "      #   right: {}", q(r.key.as_str()));
        if !kind.is_empty() {
            let _ = writeln!(y, "      #   type: {}", kind.trim_start_matches(", type: "));
        }
        if f.pair.kind == MappingKind::Status {
            let _ = writeln!(
                y,
                "      #   values: {{ csv: {{ file: {}, left_column: left, right_column: right }} }}",
                q(status_file)
            );
        } else {
            let _ = writeln!(y, "      #   values: {{ inline: {{ LEFT_VALUE: RIGHT_VALUE }} }}");
        }
        gaps(y, "      ");
        return;
    }
    let _ = writeln!(y, "      - left: {}  # {names}", q(l.key.as_str()));
    let _ = writeln!(y, "        right: {}", q(r.key.as_str()));
    if !kind.is_empty() {
        let _ = writeln!(y, "        type: {}", kind.trim_start_matches(", type: "));
    }
    let _ = writeln!(y, "        values:");
    if f.pair.kind == MappingKind::Status {
        let _ = writeln!(y, "          csv: {{ file: {}, left_column: left, right_column: right }}", q(status_file));
    } else {
        let rows: Vec<String> = t.rows.iter().map(|(a, b)| format!("{}: {}", q(a), q(b))).collect();
        let _ = writeln!(y, "          inline: {{ {} }}", rows.join(", "));
    }
    gaps(y, "        ");
}

fn cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The status table: matched rows, then each unmatched state in its side's gap column.
pub(super) fn status_csv(t: &ValueTable) -> String {
    let mut out = String::from("left,right,left_gap,right_gap\n");
    for (l, r) in &t.rows {
        let _ = writeln!(out, "{},{},,", cell(l), cell(r));
    }
    for l in &t.left_unmatched {
        let _ = writeln!(out, ",,{},", cell(l));
    }
    for r in &t.right_unmatched {
        let _ = writeln!(out, ",,,{}", cell(r));
    }
    out
}
