//! When each change of a burst landed: the writes the simulators answered Ferry
//! (`crate::latency::stamps`), indexed by every string their bodies carry, so thousands
//! of changes are matched in one pass instead of one scan of every write per change.
//! A change lands with Ferry's first answered write on the other side that carries its
//! title, or the title of a later change of the same entity (a poll reads the current
//! state: edits between two polls land together, as the later one).

use crate::latency::stamps::{Stamp, Stamps};
use crate::workload::Made;
use ferry_domain::Flow;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One simulator's writes by `user`, by each string value of their bodies: when the
/// first one carrying it was answered.
#[derive(Default)]
pub struct Written {
    first: HashMap<String, Instant>,
    /// Stamps read so far (they only ever grow).
    seen: usize,
}

impl Written {
    /// Indexes the writes `stamps` recorded since the last call; only `user`'s count.
    pub fn catch_up(&mut self, stamps: &Stamps, user: &str) {
        let new = stamps.since(self.seen);
        self.seen += new.len();
        self.add(&new, user);
    }

    fn add(&mut self, new: &[Stamp], user: &str) {
        for s in new.iter().filter(|s| s.user.eq_ignore_ascii_case(user)) {
            if let Ok(body) = serde_json::from_str::<Value>(&s.body) {
                strings(&body, &mut |text| {
                    self.first.entry(text.to_string()).or_insert(s.at);
                });
            }
        }
    }

    pub fn first(&self, text: &str) -> Option<Instant> {
        self.first.get(text).copied()
    }
}

fn strings(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|i| strings(i, f)),
        Value::Object(map) => map.values().for_each(|i| strings(i, f)),
        _ => {}
    }
}

/// Each change's latency (`None`: not landed), from when the person's write returned to
/// the first write of Ferry's on the target (`into_ado` for left to right, `into_jira`
/// for right to left) that carries its title or a later one of the same entity.
pub fn latencies(made: &[Made], into_jira: &Written, into_ado: &Written) -> Vec<Option<Duration>> {
    let mut out = vec![None; made.len()];
    // Per entity, from its last change back: the earliest landing of this or any later title.
    let mut earliest: HashMap<(Flow, &str), Option<Instant>> = HashMap::new();
    for (i, m) in made.iter().enumerate().rev() {
        let target = match m.flow {
            Flow::LeftToRight => into_ado,
            Flow::RightToLeft => into_jira,
        };
        let slot = earliest.entry((m.flow, m.source_key.as_str())).or_insert(None);
        *slot = match (*slot, target.first(&m.title)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        out[i] = slot.map(|t| t.saturating_duration_since(m.at));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(at: Instant, user: &str, body: &str) -> Stamp {
        Stamp { at, user: user.into(), body: body.into() }
    }

    fn made(flow: Flow, key: &str, title: &str, at: Instant) -> Made {
        Made { flow, source_key: key.into(), at, title: title.into() }
    }

    #[test]
    fn a_change_lands_with_the_first_bot_write_carrying_its_title_or_a_later_one_of_its_entity() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let bot = "ferry-bot@acme.test";
        let ado = [
            stamp(ms(50), "bob@acme.test", r#"[{"op":"add","value":"Bug #1"}]"#),
            stamp(ms(100), bot, r#"[{"op":"add","path":"/fields/System.Title","value":"Bug #12"}]"#),
            stamp(ms(400), bot, r#"[{"op":"add","value":"Bug #1 (edited)"}]"#),
            stamp(ms(900), bot, r#"[{"op":"add","value":"Bug #1"}]"#),
        ];
        let jira = [stamp(ms(300), bot, r#"{"fields":{"summary":"Slow #3","labels":["x"]}}"#)];
        let (mut into_ado, mut into_jira) = (Written::default(), Written::default());
        into_ado.add(&ado[..2], bot);
        into_ado.add(&ado[2..], bot);
        into_jira.add(&jira, bot);
        let changes = [
            made(Flow::LeftToRight, "APP-1", "Bug #1", ms(10)),
            made(Flow::LeftToRight, "APP-12", "Bug #12", ms(20)),
            made(Flow::RightToLeft, "3", "Slow #3", ms(30)),
            made(Flow::LeftToRight, "APP-1", "Bug #1 (edited)", ms(40)),
            made(Flow::RightToLeft, "4", "Slow #4", ms(60)),
        ];
        let got = latencies(&changes, &into_jira, &into_ado);
        let d = |n| Some(Duration::from_millis(n));
        // APP-1's first change landed with its edit's write (400 ms), before its own title came (900 ms);
        // "#1" is not taken for "#12", nor the person's own write for Ferry's.
        assert_eq!(got, [d(390), d(80), d(270), d(360), None]);
    }
}
