//! The engine-side faults: seeded crashes at the engine's crash points, and a queue that
//! remembers what the pipeline sent so copies can be delivered again (duplicates) or
//! after newer ones (reorders).

use async_trait::async_trait;
use ferry_domain::ports::{Delivery, OutMessage, PortResult, Queue, QueueName};
use ferry_engine::{CrashInjector, CrashPoint};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Crashes each point with its probability, from a seeded generator. A point that has
/// not fired after a few visits fires on the next one, so every point is exercised
/// even in a small run.
pub struct SeededCrashes {
    rng: Mutex<StdRng>,
    on: AtomicBool,
    rates: BTreeMap<CrashPoint, f64>,
    /// Per point: (visits, crashes).
    seen: Mutex<BTreeMap<CrashPoint, (u64, u64)>>,
    /// A point where the next visit crashes, whatever the dice say (a scenario's crash).
    forced: Mutex<Option<CrashPoint>>,
}

/// Visits after which a point that never fired is forced once.
const FORCE_AFTER: u64 = 5;

impl SeededCrashes {
    /// `rate` is the crash probability at a handler's step boundary; polls (few) crash
    /// five times as often, the batch boundary (it fails a whole batch) a quarter as often.
    pub fn new(seed: u64, rate: f64) -> Self {
        let rates = CrashPoint::ALL
            .iter()
            .map(|p| {
                let r = match p {
                    CrashPoint::PollBetweenSends | CrashPoint::PollAfterEnqueue => rate * 5.0,
                    CrashPoint::BatchMiddle => rate / 4.0,
                    _ => rate,
                };
                (*p, r.clamp(0.0, 1.0))
            })
            .collect();
        Self {
            rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0xc4a5_11ed)),
            on: AtomicBool::new(false),
            rates,
            seen: Mutex::new(BTreeMap::new()),
            forced: Mutex::new(None),
        }
    }

    pub fn enabled(&self) -> bool {
        self.on.load(Ordering::SeqCst)
    }

    /// The next visit of `point` crashes (while crashes are enabled).
    pub fn force_next(&self, point: CrashPoint) {
        if let Ok(mut f) = self.forced.lock() {
            *f = Some(point);
        }
    }

    pub fn set_enabled(&self, on: bool) {
        self.on.store(on, Ordering::SeqCst);
    }

    /// Crashes per point (every point listed, zero included).
    pub fn counts(&self) -> BTreeMap<CrashPoint, u64> {
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        CrashPoint::ALL.iter().map(|p| (*p, seen.get(p).map_or(0, |v| v.1))).collect()
    }
}

impl CrashInjector for SeededCrashes {
    fn crash_at(&self, point: CrashPoint) -> bool {
        if !self.on.load(Ordering::SeqCst) {
            return false;
        }
        let Ok(mut seen) = self.seen.lock() else { return false };
        let entry = seen.entry(point).or_insert((0, 0));
        entry.0 += 1;
        let forced = self.forced.lock().map(|mut f| f.take_if(|p| *p == point).is_some()).unwrap_or(false);
        if forced {
            entry.1 += 1;
            return true;
        }
        let rate = self.rates.get(&point).copied().unwrap_or(0.0);
        let roll = self.rng.lock().map(|mut r| r.gen_bool(rate)).unwrap_or(false);
        let crash = roll || (rate > 0.0 && entry.1 == 0 && entry.0 > FORCE_AFTER);
        if crash {
            entry.1 += 1;
        }
        crash
    }
}

/// One message the pipeline sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub queue: QueueName,
    pub message: OutMessage,
}

/// The pipeline's queue, remembering every sent message.
pub struct RecordingQueue {
    inner: Arc<dyn Queue>,
    sent: Mutex<Vec<Sent>>,
}

impl RecordingQueue {
    pub fn new(inner: Arc<dyn Queue>) -> Self {
        Self { inner, sent: Mutex::new(Vec::new()) }
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Sends a copy of an earlier message under a fresh deduplication id (a producer
    /// retry after the queue's deduplication window, or a redelivery).
    pub async fn resend(&self, s: &Sent) -> PortResult<()> {
        let copy = OutMessage {
            group_id: s.message.group_id.clone(),
            dedup_id: uuid::Uuid::new_v4().simple().to_string(),
            body: s.message.body.clone(),
        };
        self.inner.send(s.queue, &[copy]).await
    }
}

#[async_trait]
impl Queue for RecordingQueue {
    async fn send(&self, queue: QueueName, messages: &[OutMessage]) -> PortResult<()> {
        self.inner.send(queue, messages).await?;
        if let Ok(mut sent) = self.sent.lock() {
            sent.extend(messages.iter().map(|m| Sent { queue, message: m.clone() }));
        }
        Ok(())
    }
    async fn receive(&self, queue: QueueName, max: usize, visibility: Duration) -> PortResult<Vec<Delivery>> {
        self.inner.receive(queue, max, visibility).await
    }
    async fn ack(&self, queue: QueueName, receipt: &str) -> PortResult<()> {
        self.inner.ack(queue, receipt).await
    }
    async fn release(&self, queue: QueueName, receipt: &str, delay: Duration) -> PortResult<()> {
        self.inner.release(queue, receipt, delay).await
    }
    async fn dead_letters(&self, queue: QueueName) -> PortResult<Vec<Delivery>> {
        self.inner.dead_letters(queue).await
    }
    async fn delete_dead_letter(&self, queue: QueueName, message_id: &str) -> PortResult<()> {
        self.inner.delete_dead_letter(queue, message_id).await
    }
    async fn depth(&self, queue: QueueName) -> PortResult<u64> {
        self.inner.depth(queue).await
    }
    async fn send_each(
        &self,
        queue: QueueName,
        messages: &[OutMessage],
    ) -> PortResult<ferry_domain::ports::SendResults> {
        let results = self.inner.send_each(queue, messages).await?;
        if let Ok(mut sent) = self.sent.lock() {
            let ok = messages.iter().zip(&results).filter(|(_, r)| r.is_none());
            sent.extend(ok.map(|(m, _)| Sent { queue, message: m.clone() }));
        }
        Ok(results)
    }
    async fn open_body(&self, queue: QueueName, body: &str) -> PortResult<String> {
        self.inner.open_body(queue, body).await
    }
    fn max_receives(&self) -> Option<u32> {
        self.inner.max_receives()
    }
    async fn dead_letter_retention(&self, queue: QueueName) -> PortResult<Option<Duration>> {
        self.inner.dead_letter_retention(queue).await
    }
    async fn redrive(&self, queue: QueueName) -> PortResult<u64> {
        self.inner.redrive(queue).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disabled_injector_never_crashes() {
        let c = SeededCrashes::new(7, 1.0);
        assert!(CrashPoint::ALL.iter().all(|p| !c.crash_at(*p)));
        assert!(c.counts().values().all(|n| *n == 0));
    }

    #[test]
    fn every_point_fires_at_least_once_even_at_a_tiny_rate() {
        let c = SeededCrashes::new(7, 1e-9);
        c.set_enabled(true);
        for p in CrashPoint::ALL {
            let fired = (0..=FORCE_AFTER).map(|_| c.crash_at(p)).filter(|x| *x).count();
            assert_eq!(fired, 1, "{p}");
        }
        assert!(c.counts().values().all(|n| *n == 1));
    }

    #[test]
    fn rate_zero_turns_crashes_off() {
        let c = SeededCrashes::new(7, 0.0);
        c.set_enabled(true);
        assert!((0..100).all(|i| !c.crash_at(CrashPoint::ALL[i % CrashPoint::ALL.len()])));
    }

    #[test]
    fn the_same_seed_crashes_at_the_same_visits() {
        let run = |seed| {
            let c = SeededCrashes::new(seed, 0.3);
            c.set_enabled(true);
            (0..200).map(|i| c.crash_at(CrashPoint::ALL[i % CrashPoint::ALL.len()])).collect::<Vec<_>>()
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }
}
