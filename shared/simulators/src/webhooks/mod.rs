//! Outbound webhooks, as Jira Cloud and Azure DevOps send them: subscriptions
//! registered through each service's API, and an event delivered to every matching
//! subscription when something changes, shaped, signed and authenticated as the real
//! service does (`jira.rs`, `ado.rs`). Delivery faults make the network's habits
//! reproducible: a delivery lost, sent twice, held back, overtaken by the next, or
//! signed with the wrong secret.

pub mod ado;
mod hmac;
pub mod jira;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What the network does to the next deliveries (until changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeliveryFault {
    #[default]
    None,
    /// Never sent.
    Lost,
    /// Sent twice, with the same delivery id (a retry after a lost answer).
    Duplicated,
    /// Sent after this long.
    Delayed(Duration),
    /// Held back until the next delivery has been sent (out of order).
    Reordered,
    /// Signed or authenticated with a wrong secret.
    BadSignature,
}

/// One delivery as sent, for tests: its event, and the status the receiver answered
/// (`None`: lost, or the receiver could not be reached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub event: String,
    pub delivery_id: String,
    pub status: Option<u16>,
}

/// A delivery ready to go: where, with which headers and body.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub url: String,
    pub event: String,
    pub delivery_id: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The delivery machinery one simulator shares between its subscriptions.
#[derive(Clone, Default)]
pub struct Outbox {
    inner: Arc<OutboxInner>,
}

#[derive(Default)]
struct OutboxInner {
    fault: Mutex<DeliveryFault>,
    held: Mutex<Vec<Outgoing>>,
    sent: Mutex<Vec<Sent>>,
    client: reqwest::Client,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Outbox {
    /// Applies `fault` to every later delivery until another is set.
    pub fn set_fault(&self, fault: DeliveryFault) {
        *lock(&self.inner.fault) = fault;
    }

    pub(crate) fn fault(&self) -> DeliveryFault {
        *lock(&self.inner.fault)
    }

    /// Every delivery attempted so far, in the order they were answered.
    pub fn sent(&self) -> Vec<Sent> {
        lock(&self.inner.sent).clone()
    }

    /// Sends `out` in the background under the current fault (a bad signature is
    /// applied by the caller, which knows how the service signs).
    pub(crate) fn deliver(&self, out: Outgoing) {
        let fault = self.fault();
        let copies = match fault {
            DeliveryFault::Lost => {
                lock(&self.inner.sent).push(Sent { event: out.event, delivery_id: out.delivery_id, status: None });
                return;
            }
            DeliveryFault::Reordered => {
                lock(&self.inner.held).push(out);
                return;
            }
            DeliveryFault::Duplicated => 2,
            _ => 1,
        };
        let delay = match fault {
            DeliveryFault::Delayed(d) => d,
            _ => Duration::ZERO,
        };
        // What was held back goes after this one: the two arrive out of order.
        let held: Vec<Outgoing> = std::mem::take(&mut *lock(&self.inner.held));
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            for _ in 0..copies {
                this.post(&out).await;
            }
            for h in &held {
                this.post(h).await;
            }
        });
    }

    async fn post(&self, out: &Outgoing) {
        let mut req = self.inner.client.post(&out.url).timeout(Duration::from_secs(10)).body(out.body.clone());
        for (k, v) in &out.headers {
            req = req.header(k, v);
        }
        let status = req.send().await.ok().map(|r| r.status().as_u16());
        lock(&self.inner.sent).push(Sent { event: out.event.clone(), delivery_id: out.delivery_id.clone(), status });
    }
}
