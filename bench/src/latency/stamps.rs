//! When each write was answered, as the simulators saw it: an observer on each
//! simulator records every successful write (method, caller, body, instant) just before
//! the answer goes out; a change's latency is from its person's write being answered to
//! the first answered write of Ferry's on the other side that carries the change's
//! title, or the title of a later change of the same entity (a poll reads the current
//! state: two edits between polls land together, as the later one).

use ferry_sim::hooks::{HookRequest, HookWhen};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One write a simulator answered with success.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub at: Instant,
    pub user: String,
    /// The request's JSON body, serialized.
    pub body: String,
}

/// The writes one simulator answered, in the order it answered them.
#[derive(Clone, Default)]
pub struct Stamps(Arc<Mutex<Vec<Stamp>>>);

impl Stamps {
    /// Records the successful writes `hooks` (a simulator's) sees from now on.
    pub fn watch(hooks: &ferry_sim::hooks::Hooks) -> Stamps {
        let stamps = Stamps::default();
        let log = stamps.clone();
        hooks.observe(HookWhen::After, move |r: &HookRequest| {
            let ok = r.status.is_some_and(|s| (200..300).contains(&s));
            if ok && !r.method.eq_ignore_ascii_case("GET") {
                let body = r.body.as_ref().map(|b| b.to_string()).unwrap_or_default();
                let stamp = Stamp { at: Instant::now(), user: r.user.clone().unwrap_or_default(), body };
                log.0.lock().unwrap_or_else(|p| p.into_inner()).push(stamp);
            }
        });
        stamps
    }

    pub fn snapshot(&self) -> Vec<Stamp> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The writes after the first `from` (a reader that keeps up copies only what is new).
    pub fn since(&self, from: usize) -> Vec<Stamp> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().skip(from).cloned().collect()
    }
}

/// The title as it appears in a JSON body (quoted), so `#1` does not match `#12`.
fn marker(title: &str) -> String {
    serde_json::Value::String(title.to_string()).to_string()
}

/// When `user` first wrote one of `titles` (at or after `since`, if given), among `stamps`.
pub fn first_write(stamps: &[Stamp], user: &str, titles: &[&str], since: Option<Instant>) -> Option<Instant> {
    let markers: Vec<String> = titles.iter().map(|t| marker(t)).collect();
    stamps
        .iter()
        .find(|s| {
            since.is_none_or(|t| s.at >= t)
                && s.user.eq_ignore_ascii_case(user)
                && markers.iter().any(|m| s.body.contains(m))
        })
        .map(|s| s.at)
}

/// A change's latency: from the person's write of `titles[0]` on the source being
/// answered to Ferry's first write on the target being answered that carries it or a
/// later title of the same entity (`titles[1..]`); `None` while it has not landed.
pub fn latency(
    source: &[Stamp],
    person: &str,
    target: &[Stamp],
    bot: &str,
    titles: &[&str],
    made_by: Instant,
) -> Option<Duration> {
    // The person's write was answered before the workload saw it return (`made_by`).
    let edited = first_write(source, person, titles.get(..1)?, None).filter(|t| *t <= made_by)?;
    first_write(target, bot, titles, Some(edited)).map(|t| t - edited)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(at: Instant, user: &str, body: &str) -> Stamp {
        Stamp { at, user: user.into(), body: body.into() }
    }

    #[test]
    fn a_change_lands_with_the_first_bot_write_on_the_target_that_carries_its_title() {
        let t0 = Instant::now();
        let s = |ms| t0 + Duration::from_millis(ms);
        let source = vec![
            stamp(s(0), "alice@acme.test", r#"{"fields":{"summary":"Bug #12"}}"#),
            stamp(s(5), "alice@acme.test", r#"{"fields":{"summary":"Bug #1"}}"#),
        ];
        let target = vec![
            // Another change whose title starts the same.
            stamp(s(100), "ferry-bot@acme.test", r#"[{"op":"add","value":"Bug #12"}]"#),
            // The person's own write on the other side is not Ferry's.
            stamp(s(200), "bob@acme.test", r#"[{"op":"add","value":"Bug #1"}]"#),
            stamp(s(900), "ferry-bot@acme.test", r#"[{"op":"add","value":"Bug #1"}]"#),
            stamp(s(1500), "ferry-bot@acme.test", r#"[{"op":"add","value":"Bug #1"}]"#),
        ];
        let (person, bot) = ("alice@acme.test", "ferry-bot@acme.test");
        assert_eq!(latency(&source, person, &target, bot, &["Bug #1"], s(6)), Some(Duration::from_millis(895)));
        assert_eq!(latency(&source, person, &target, bot, &["Bug #12"], s(6)), Some(Duration::from_millis(100)));
        assert_eq!(latency(&source, person, &target, bot, &["Bug #2"], s(6)), None, "never edited");
        assert_eq!(latency(&source, person, &target[..2], bot, &["Bug #1"], s(6)), None, "not landed yet");
    }

    #[test]
    fn a_change_overtaken_by_a_later_edit_lands_with_the_write_of_the_later_state() {
        let t0 = Instant::now();
        let s = |ms| t0 + Duration::from_millis(ms);
        let source = vec![
            stamp(s(0), "alice@acme.test", r#"{"summary":"Bug #1"}"#),
            stamp(s(300), "alice@acme.test", r#"{"summary":"Bug #1 (edited)"}"#),
        ];
        // One poll after both edits: the target gets the edited title only.
        let target = vec![stamp(s(2000), "ferry-bot@acme.test", r#"{"summary":"Bug #1 (edited)"}"#)];
        let (person, bot) = ("alice@acme.test", "ferry-bot@acme.test");
        assert_eq!(latency(&source, person, &target, bot, &["Bug #1"], s(1)), None, "its own title never written");
        assert_eq!(
            latency(&source, person, &target, bot, &["Bug #1", "Bug #1 (edited)"], s(1)),
            Some(Duration::from_millis(2000))
        );
    }

    #[test]
    fn a_bot_write_answered_before_the_edit_does_not_count() {
        let t0 = Instant::now();
        let source = vec![stamp(t0 + Duration::from_millis(50), "bob@acme.test", r#"{"v":"T"}"#)];
        let target = vec![stamp(t0, "ferry-bot@acme.test", r#"{"v":"T"}"#)];
        let made_by = t0 + Duration::from_millis(60);
        assert_eq!(latency(&source, "bob@acme.test", &target, "ferry-bot@acme.test", &["T"], made_by), None);
    }
}
