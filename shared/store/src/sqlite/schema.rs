//! Schema and migrations, tracked in `schema_version`.

use super::{commit, immediate, Ctx};
use ferry_domain::ports::PortResult;
use ferry_domain::PortError;
use rusqlite::{Connection, OptionalExtension};

/// Migration `i` brings the schema from version `i` to `i + 1`. Append only.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE systems (
    id   TEXT PRIMARY KEY NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE integrations (
    id      TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    body    TEXT NOT NULL
);
CREATE TABLE watermarks (
    integration TEXT NOT NULL,
    flow        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (integration, flow)
);
CREATE TABLE seen (
    integration TEXT NOT NULL,
    side        TEXT NOT NULL,
    entity      TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (integration, side, entity)
);
CREATE TABLE links (
    integration TEXT NOT NULL,
    left_id     TEXT NOT NULL,
    right_id    TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (integration, left_id),
    UNIQUE (integration, right_id)
);
CREATE TABLE fingerprints (
    integration TEXT NOT NULL,
    side        TEXT NOT NULL,
    entity      TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (integration, side, entity)
);
CREATE TABLE failures (
    id              TEXT PRIMARY KEY NOT NULL,
    integration     TEXT NOT NULL,
    flow            TEXT NOT NULL,
    entity          TEXT NOT NULL,
    first_failed_at TEXT NOT NULL,
    body            TEXT NOT NULL,
    UNIQUE (integration, flow, entity)
);
CREATE INDEX failures_by_time ON failures (first_failed_at, id);
CREATE INDEX failures_by_integration_time ON failures (integration, first_failed_at, id);
CREATE TABLE counters (
    integration TEXT NOT NULL,
    flow        TEXT NOT NULL,
    counter     TEXT NOT NULL,
    value       INTEGER NOT NULL,
    PRIMARY KEY (integration, flow, counter)
);
CREATE TABLE queue_messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT NOT NULL,
    message_id    TEXT NOT NULL UNIQUE,
    group_id      TEXT NOT NULL,
    dedup_id      TEXT NOT NULL,
    body          TEXT NOT NULL,
    sent_at       INTEGER NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT UNIQUE
);
CREATE INDEX queue_messages_by_group ON queue_messages (queue, group_id, seq);
CREATE INDEX queue_messages_by_visibility ON queue_messages (queue, visible_at);
CREATE TABLE queue_dedup (
    queue      TEXT NOT NULL,
    dedup_id   TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (queue, dedup_id)
);
CREATE TABLE queue_dead_letters (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT NOT NULL,
    message_id    TEXT NOT NULL UNIQUE,
    group_id      TEXT NOT NULL,
    dedup_id      TEXT NOT NULL,
    body          TEXT NOT NULL,
    sent_at       INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    dead_at       INTEGER NOT NULL
);
CREATE INDEX queue_dead_letters_by_queue ON queue_dead_letters (queue, seq);
"#,
    r#"
CREATE TABLE leases (
    integration TEXT NOT NULL,
    flow        TEXT NOT NULL,
    owner       TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (integration, flow)
);
"#,
    // A watermark holds its polls' seen revisions: the per-entity table goes.
    r#"
DROP TABLE seen;
"#,
    // A linked pair's fingerprints are written conditionally on this version.
    r#"
CREATE TABLE pair_versions (
    integration TEXT NOT NULL,
    left_id     TEXT NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (integration, left_id)
);
"#,
    // Each linked pair's collaboration record (comment and attachment pairs, relation
    // bases), and the relations waiting for an entity that is not synced yet.
    r#"
CREATE TABLE collab (
    integration TEXT NOT NULL,
    left_id     TEXT NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (integration, left_id)
);
CREATE TABLE pending_relations (
    integration TEXT NOT NULL,
    side        TEXT NOT NULL,
    awaited     TEXT NOT NULL,
    waiting     TEXT NOT NULL,
    PRIMARY KEY (integration, side, awaited, waiting)
) WITHOUT ROWID;
"#, // Webhooks: the delivery ids seen (replay defence) and the polls they asked for.
    r#"
CREATE TABLE hook_deliveries (
    hook     TEXT NOT NULL,
    delivery TEXT NOT NULL,
    seen_at  INTEGER NOT NULL,
    PRIMARY KEY (hook, delivery)
) WITHOUT ROWID;
CREATE INDEX hook_deliveries_by_time ON hook_deliveries (seen_at);
CREATE TABLE poll_requests (
    integration TEXT NOT NULL,
    flow        TEXT NOT NULL,
    PRIMARY KEY (integration, flow)
) WITHOUT ROWID;
"#,
    // Entities' steps through Ferry (the console's timelines) and each direction's
    // minute buckets of changes read, written and settled (its throughput and lag).
    r#"
CREATE TABLE activity (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT NOT NULL,
    flow        TEXT NOT NULL,
    entity      TEXT NOT NULL,
    at          TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX activity_by_entity ON activity (integration, flow, entity, at);
CREATE TABLE pace (
    integration TEXT NOT NULL,
    flow        TEXT NOT NULL,
    minute      TEXT NOT NULL,
    read        INTEGER NOT NULL,
    written     INTEGER NOT NULL,
    settled     INTEGER NOT NULL,
    PRIMARY KEY (integration, flow, minute)
) WITHOUT ROWID;
-- Failures counted per category without reading their records.
ALTER TABLE failures ADD COLUMN category TEXT NOT NULL DEFAULT '';
UPDATE failures SET category = json_extract(body, '$.category');
CREATE INDEX failures_by_category ON failures (integration, flow, category, first_failed_at);
"#,
    // Each hook's deliveries counted per outcome (accepted, or a refusal's reason).
    r#"
CREATE TABLE hook_tallies (
    hook    TEXT NOT NULL,
    outcome TEXT NOT NULL,
    count   INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (hook, outcome)
) WITHOUT ROWID;
"#,
    // The webhook subscriptions activate registered per integration (JSON list).
    r#"
CREATE TABLE hook_subscriptions (
    integration TEXT PRIMARY KEY,
    body        TEXT NOT NULL
) WITHOUT ROWID;
"#,
    // The backfill each integration last accepted (`activate --since`), as JSON.
    r#"
CREATE TABLE backfills (
    integration TEXT PRIMARY KEY,
    body        TEXT NOT NULL
) WITHOUT ROWID;
"#,
    // Source-control systems and commit integrations (`ferry apply` of `source_control:`
    // and `commit_links:`).
    r#"
CREATE TABLE scm_systems (
    id   TEXT PRIMARY KEY NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE commit_links (
    id      TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    body    TEXT NOT NULL
);
"#,
    // The rate-limit governor's bucket per system (tokens as counted at `at_ms`).
    r#"
CREATE TABLE rate_buckets (
    system TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    at_ms  INTEGER NOT NULL
) WITHOUT ROWID;
"#,
];

/// The schema version this build writes.
pub(crate) const CURRENT: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`CURRENT`] in one transaction; refuses a newer file.
pub(crate) fn migrate(conn: &mut Connection) -> PortResult<()> {
    const WHAT: &str = "schema migration";
    let tx = immediate(conn, WHAT)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .ctx(|| "cannot create table schema_version")?;
    let stored: Option<i64> = tx
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .optional()
        .ctx(|| "cannot read the schema version")?
        .flatten();
    let stored = stored.unwrap_or(0);
    if stored < 0 {
        return Err(PortError::store(format!("schema_version holds an invalid version {stored}")));
    }
    if stored > CURRENT {
        return Err(PortError::store(format!(
            "schema version {stored} is newer than this Ferry supports ({CURRENT}); upgrade Ferry"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(stored as usize) {
        let to = i as i64 + 1;
        tx.execute_batch(sql).ctx(|| format!("migration to schema version {to} failed"))?;
    }
    if stored < CURRENT {
        tx.execute("DELETE FROM schema_version", []).ctx(|| "cannot update the schema version")?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [CURRENT])
            .ctx(|| "cannot update the schema version")?;
    }
    commit(tx, WHAT)
}
