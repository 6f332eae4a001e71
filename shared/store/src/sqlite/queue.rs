//! `Queue`: the `changes` and `writes` FIFO queues in one table.
//!
//! A message is *visible* when `visible_at <= now`; a received message gets a fresh
//! receipt and `visible_at = now + visibility` (in flight). Per group only the earliest
//! message (the head) can be delivered, and only while it is visible, so a group is
//! blocked while its head is in flight or released with a delay, and at most one
//! message per group is delivered per receive.

use super::{commit, duration_micros, immediate, now_micros, Ctx, SqliteStore};
use async_trait::async_trait;
use ferry_domain::ports::{Delivery, OutMessage, PortResult, Queue, QueueName};
use ferry_domain::{ErrorCategory, PortError};
use rusqlite::{params, Transaction};
use std::collections::HashSet;
use std::time::Duration;

struct Head {
    seq: i64,
    message_id: String,
    group_id: String,
    body: String,
    receive_count: i64,
}

fn visible_heads(tx: &Transaction<'_>, queue: &str, now: i64, what: &str) -> PortResult<Vec<Head>> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT m.seq, m.message_id, m.group_id, m.body, m.receive_count
             FROM queue_messages m
             WHERE m.queue = ?1 AND m.visible_at <= ?2
               AND NOT EXISTS (SELECT 1 FROM queue_messages e
                               WHERE e.queue = m.queue AND e.group_id = m.group_id
                                 AND e.seq < m.seq)
             ORDER BY m.seq",
        )
        .ctx(|| what.to_string())?;
    let rows = stmt
        .query_map(params![queue, now], |r| {
            Ok(Head {
                seq: r.get(0)?,
                message_id: r.get(1)?,
                group_id: r.get(2)?,
                body: r.get(3)?,
                receive_count: r.get(4)?,
            })
        })
        .ctx(|| what.to_string())?;
    rows.collect::<rusqlite::Result<Vec<_>>>().ctx(|| what.to_string())
}

fn receive_count(n: i64, what: &str) -> PortResult<u32> {
    u32::try_from(n).map_err(|_| PortError::store(format!("{what}: invalid stored receive count {n}")))
}

fn stale_receipt(queue: QueueName, op: &str, receipt: &str) -> PortError {
    PortError::new(
        ErrorCategory::NotFound,
        format!(
            "{op} on queue {}: receipt {receipt} is stale or unknown (the message was \
             received again, or already deleted)",
            queue.as_str()
        ),
    )
}

#[async_trait]
impl Queue for SqliteStore {
    /// All-or-nothing. A message whose dedup id was sent within the dedup window is
    /// accepted and dropped, even if the first one was already deleted (like SQS).
    async fn send(&self, queue: QueueName, messages: &[OutMessage]) -> PortResult<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let what = format!("send to queue {}", queue.as_str());
        if let Some(m) = messages.iter().find(|m| m.group_id.is_empty() || m.dedup_id.is_empty()) {
            return Err(PortError::new(
                ErrorCategory::BadMessage,
                format!(
                    "{what}: group id and dedup id must not be empty (group {:?}, dedup {:?})",
                    m.group_id, m.dedup_id
                ),
            ));
        }
        let messages = messages.to_vec();
        self.run(move |conn, settings| {
            let window = duration_micros(settings.dedup_window);
            let tx = immediate(conn, &what)?;
            let now = now_micros();
            let q = queue.as_str();
            tx.execute("DELETE FROM queue_dedup WHERE queue = ?1 AND expires_at <= ?2", params![q, now])
                .ctx(|| what.clone())?;
            for m in &messages {
                let fresh = tx
                    .execute(
                        "INSERT OR IGNORE INTO queue_dedup (queue, dedup_id, expires_at)
                         VALUES (?1, ?2, ?3)",
                        params![q, m.dedup_id, now.saturating_add(window)],
                    )
                    .ctx(|| what.clone())?;
                if fresh == 0 {
                    continue;
                }
                tx.execute(
                    "INSERT INTO queue_messages
                     (queue, message_id, group_id, dedup_id, body, sent_at, visible_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    params![q, uuid::Uuid::new_v4().to_string(), m.group_id, m.dedup_id, m.body, now],
                )
                .ctx(|| what.clone())?;
            }
            commit(tx, &what)
        })
        .await
    }

    /// Up to `max` group heads in send order, at most one per group. A head already
    /// received `max_receives` times moves to the dead-letter queue instead, and the
    /// next message of its group is considered in its place.
    async fn receive(&self, queue: QueueName, max: usize, visibility: Duration) -> PortResult<Vec<Delivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let what = format!("receive from queue {}", queue.as_str());
        self.run(move |conn, settings| {
            let max_receives = i64::from(settings.max_receives);
            let tx = immediate(conn, &what)?;
            let now = now_micros();
            let until = now.saturating_add(duration_micros(visibility));
            let q = queue.as_str();
            let mut out = Vec::new();
            let mut groups = HashSet::new();
            'scan: loop {
                for head in visible_heads(&tx, q, now, &what)? {
                    if out.len() >= max {
                        break 'scan;
                    }
                    if groups.contains(&head.group_id) {
                        continue;
                    }
                    if head.receive_count >= max_receives {
                        tx.execute(
                            "INSERT INTO queue_dead_letters
                             (queue, message_id, group_id, dedup_id, body, sent_at,
                              receive_count, dead_at)
                             SELECT queue, message_id, group_id, dedup_id, body, sent_at,
                                    receive_count, ?2
                             FROM queue_messages WHERE seq = ?1",
                            params![head.seq, now],
                        )
                        .ctx(|| what.clone())?;
                        tx.execute("DELETE FROM queue_messages WHERE seq = ?1", [head.seq]).ctx(|| what.clone())?;
                        // The group's next message may now be a head: scan again.
                        continue 'scan;
                    }
                    let receipt = uuid::Uuid::new_v4().to_string();
                    let count = head.receive_count + 1;
                    tx.execute(
                        "UPDATE queue_messages
                         SET receive_count = ?2, receipt = ?3, visible_at = ?4
                         WHERE seq = ?1",
                        params![head.seq, count, receipt, until],
                    )
                    .ctx(|| what.clone())?;
                    groups.insert(head.group_id);
                    out.push(Delivery {
                        message_id: head.message_id,
                        receipt,
                        body: head.body,
                        receive_count: receive_count(count, &what)?,
                        since: None,
                    });
                }
                break;
            }
            commit(tx, &what)?;
            Ok(out)
        })
        .await
    }

    /// Deletes the message holding `receipt`. A receipt is valid until the message is
    /// received again; a stale or unknown receipt fails with `NotFound` and deletes
    /// nothing.
    async fn ack(&self, queue: QueueName, receipt: &str) -> PortResult<()> {
        let receipt = receipt.to_string();
        self.run(move |conn, _| {
            let what = format!("ack on queue {}", queue.as_str());
            let n = conn
                .execute(
                    "DELETE FROM queue_messages WHERE queue = ?1 AND receipt = ?2",
                    params![queue.as_str(), receipt],
                )
                .ctx(|| what)?;
            if n == 0 {
                return Err(stale_receipt(queue, "ack", &receipt));
            }
            Ok(())
        })
        .await
    }

    /// Makes the message visible `delay` from now (its group stays blocked until then).
    /// Stale or unknown receipts fail with `NotFound`.
    async fn release(&self, queue: QueueName, receipt: &str, delay: Duration) -> PortResult<()> {
        let receipt = receipt.to_string();
        self.run(move |conn, _| {
            let what = format!("release on queue {}", queue.as_str());
            let at = now_micros().saturating_add(duration_micros(delay));
            let n = conn
                .execute(
                    "UPDATE queue_messages SET visible_at = ?3 WHERE queue = ?1 AND receipt = ?2",
                    params![queue.as_str(), receipt, at],
                )
                .ctx(|| what)?;
            if n == 0 {
                return Err(stale_receipt(queue, "release", &receipt));
            }
            Ok(())
        })
        .await
    }

    /// In dead-lettering order; `receipt` is empty (delete with the message id).
    async fn dead_letters(&self, queue: QueueName) -> PortResult<Vec<Delivery>> {
        self.run(move |conn, _| {
            let what = format!("dead_letters of queue {}", queue.as_str());
            let mut stmt = conn
                .prepare(
                    "SELECT message_id, body, receive_count, dead_at FROM queue_dead_letters
                     WHERE queue = ?1 ORDER BY seq",
                )
                .ctx(|| what.clone())?;
            let rows = stmt
                .query_map([queue.as_str()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
                })
                .ctx(|| what.clone())?;
            let mut out = Vec::new();
            for row in rows {
                let (message_id, body, count, dead_at) = row.ctx(|| what.clone())?;
                out.push(Delivery {
                    message_id,
                    receipt: String::new(),
                    body,
                    receive_count: receive_count(count, &what)?,
                    since: chrono::DateTime::from_timestamp_micros(dead_at),
                });
            }
            Ok(out)
        })
        .await
    }

    /// Idempotent: deleting an absent dead letter succeeds.
    async fn delete_dead_letter(&self, queue: QueueName, message_id: &str) -> PortResult<()> {
        let message_id = message_id.to_string();
        self.run(move |conn, _| {
            conn.execute(
                "DELETE FROM queue_dead_letters WHERE queue = ?1 AND message_id = ?2",
                params![queue.as_str(), message_id],
            )
            .ctx(|| format!("delete_dead_letter {message_id} on queue {}", queue.as_str()))?;
            Ok(())
        })
        .await
    }

    fn max_receives(&self) -> Option<u32> {
        Some(self.settings().max_receives)
    }

    /// Moves the dead letters back in dead-lettering order, each at the end of its
    /// group with its receive count reset, in one transaction. They bypass the dedup
    /// window: their dedup ids were taken when they were first sent.
    async fn redrive(&self, queue: QueueName) -> PortResult<u64> {
        self.run(move |conn, _| {
            let what = format!("redrive of queue {}", queue.as_str());
            let tx = immediate(conn, &what)?;
            let now = now_micros();
            let moved = tx
                .execute(
                    "INSERT INTO queue_messages
                     (queue, message_id, group_id, dedup_id, body, sent_at, visible_at)
                     SELECT queue, message_id, group_id, dedup_id, body, sent_at, ?2
                     FROM queue_dead_letters WHERE queue = ?1 ORDER BY seq",
                    params![queue.as_str(), now],
                )
                .ctx(|| what.clone())?;
            tx.execute("DELETE FROM queue_dead_letters WHERE queue = ?1", [queue.as_str()]).ctx(|| what.clone())?;
            commit(tx, &what)?;
            super::to_u64(moved as i64, &what)
        })
        .await
    }

    /// Every message not yet acked: visible, in flight, or released with a delay.
    async fn depth(&self, queue: QueueName) -> PortResult<u64> {
        self.run(move |conn, _| {
            let what = format!("depth of queue {}", queue.as_str());
            let n: i64 = conn
                .query_row("SELECT COUNT(*) FROM queue_messages WHERE queue = ?1", [queue.as_str()], |r| r.get(0))
                .ctx(|| what.clone())?;
            super::to_u64(n, &what)
        })
        .await
    }
}
