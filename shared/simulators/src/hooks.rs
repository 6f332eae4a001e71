//! Test hooks: code that runs once when a matching request arrives, before the simulator
//! handles it or after it did (before it answers). Tests use them to interleave another
//! actor with one of Ferry's requests — a person's edit in the middle of Ferry's write,
//! another handler's work between two of Ferry's steps — at an exact point instead of
//! by timing. Observers see every matching request instead (a benchmark stamps when
//! each write was answered). Not part of the emulated API: nothing changes while no
//! hook or observer is armed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// Whether a hook runs before the simulator handles the matched request or after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookWhen {
    /// Before the request is handled (and before a fault switch answers it, so a hook
    /// may arm one for this very request).
    Before,
    /// After the request was handled, before its answer is sent.
    After,
}

/// What a hook sees of the request it matched.
#[derive(Debug, Clone)]
pub struct HookRequest {
    pub method: String,
    pub path: String,
    /// E-mail of the authenticated user, if any.
    pub user: Option<String>,
    /// The JSON body, if it had one.
    pub body: Option<serde_json::Value>,
    /// The status of the answer, for a hook run after the request (`None` before).
    pub status: Option<u16>,
}

impl HookRequest {
    /// `method` matches (case-insensitively), the path ends with `suffix` (case
    /// too), and the caller is `user` (an e-mail).
    pub fn is(&self, method: &str, suffix: &str, user: &str) -> bool {
        self.method.eq_ignore_ascii_case(method)
            && self.path.to_ascii_lowercase().ends_with(&suffix.to_ascii_lowercase())
            && self.user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(user))
    }
}

pub type HookFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Run = Box<dyn FnOnce(HookRequest) -> HookFuture + Send>;
type Matcher = Box<dyn Fn(&HookRequest) -> bool + Send + Sync>;
type Observer = Box<dyn Fn(&HookRequest) + Send + Sync>;

struct Hook {
    when: HookWhen,
    matches: Matcher,
    run: Run,
}

/// The armed hooks of one simulator.
#[derive(Default)]
pub struct Hooks {
    pending: Mutex<Vec<Hook>>,
    observers: Mutex<Vec<(HookWhen, Observer)>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").field("pending", &self.pending()).finish()
    }
}

impl Hooks {
    /// Arms a hook: `run` runs once, at `when`, for the first request `matches` accepts.
    /// The request waits for it to finish (it may call the simulator itself).
    pub fn once<M, R, F>(&self, when: HookWhen, matches: M, run: R)
    where
        M: Fn(&HookRequest) -> bool + Send + Sync + 'static,
        R: FnOnce(HookRequest) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let run: Run = Box::new(move |req| Box::pin(run(req)));
        self.lock().push(Hook { when, matches: Box::new(matches), run });
    }

    /// Calls `observe` at `when` for every request from now on, until [`Hooks::clear`].
    /// It runs while the request waits, so it must be quick (record, don't act).
    pub fn observe<F>(&self, when: HookWhen, observe: F)
    where
        F: Fn(&HookRequest) + Send + Sync + 'static,
    {
        self.observers().push((when, Box::new(observe)));
    }

    /// Hooks armed and not fired yet.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    /// Whether a request must be shown to the hooks: one is pending or observing.
    pub(crate) fn armed(&self) -> bool {
        self.pending() > 0 || !self.observers().is_empty()
    }

    /// Disarms every hook and observer.
    pub fn clear(&self) {
        self.lock().clear();
        self.observers().clear();
    }

    /// Shows `req` to the observers of `when`, then runs (and disarms) the first hook of
    /// `when` that matches it, if any.
    pub(crate) async fn fire(&self, when: HookWhen, req: &HookRequest) {
        for (_, observe) in self.observers().iter().filter(|(w, _)| *w == when) {
            observe(req);
        }
        let hook = {
            let mut pending = self.lock();
            let i = pending.iter().position(|h| h.when == when && (h.matches)(req));
            i.map(|i| pending.remove(i))
        };
        if let Some(h) = hook {
            (h.run)(req.clone()).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Hook>> {
        // A hook that panicked leaves the list as it was: keep using it.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn observers(&self) -> std::sync::MutexGuard<'_, Vec<(HookWhen, Observer)>> {
        self.observers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    fn req(method: &str, path: &str) -> HookRequest {
        HookRequest {
            method: method.into(),
            path: path.into(),
            user: Some("bot@acme.test".into()),
            body: None,
            status: None,
        }
    }

    #[tokio::test]
    async fn a_hook_fires_once_for_the_first_matching_request_at_its_moment() {
        let hooks = Hooks::default();
        let fired = Arc::new(AtomicU32::new(0));
        let f = fired.clone();
        hooks.once(
            HookWhen::After,
            |r| r.is("PUT", "/issue/APP-1", "BOT@acme.test"),
            move |_| async move {
                f.fetch_add(1, Ordering::SeqCst);
            },
        );
        hooks.fire(HookWhen::Before, &req("PUT", "/rest/api/3/issue/APP-1")).await;
        hooks.fire(HookWhen::After, &req("GET", "/rest/api/3/issue/APP-1")).await;
        assert_eq!((fired.load(Ordering::SeqCst), hooks.pending()), (0, 1), "another moment or request");
        hooks.fire(HookWhen::After, &req("PUT", "/rest/api/3/issue/APP-1")).await;
        hooks.fire(HookWhen::After, &req("PUT", "/rest/api/3/issue/APP-1")).await;
        assert_eq!((fired.load(Ordering::SeqCst), hooks.pending()), (1, 0), "once");
    }

    #[tokio::test]
    async fn an_observer_sees_every_request_at_its_moment_until_cleared() {
        let hooks = Hooks::default();
        assert!(!hooks.armed());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        hooks.observe(HookWhen::After, move |r| s.lock().unwrap().push((r.method.clone(), r.status)));
        assert!(hooks.armed(), "an observer needs the requests shown to it");
        hooks.fire(HookWhen::Before, &req("PUT", "/rest/api/3/issue/APP-1")).await;
        let answered = |m: &str| HookRequest { status: Some(204), ..req(m, "/rest/api/3/issue/APP-1") };
        hooks.fire(HookWhen::After, &answered("PUT")).await;
        hooks.fire(HookWhen::After, &answered("POST")).await;
        assert_eq!(
            *seen.lock().unwrap(),
            vec![("PUT".to_string(), Some(204)), ("POST".to_string(), Some(204))],
            "both answered requests, not the one before handling"
        );
        hooks.clear();
        hooks.fire(HookWhen::After, &answered("PUT")).await;
        assert_eq!(seen.lock().unwrap().len(), 2);
        assert!(!hooks.armed());
    }
}
