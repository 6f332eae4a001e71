//! Per-process caches of slow-changing remote facts (integration users, users by
//! e-mail), so a burst of changes costs one lookup per person, not one per change.

use ferry_domain::UserRef;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<V: Clone> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }
    pub fn get(&self, key: &str) -> Option<V> {
        let map = self.entries.lock().ok()?;
        map.get(key).filter(|(t, _)| t.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }
    pub fn put(&self, key: String, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut map) = self.entries.lock() {
            map.insert(key, (Instant::now(), value));
        }
    }
}

pub type UserCache = TtlCache<Option<UserRef>>;
