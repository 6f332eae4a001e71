//! The pace of a backfill and the time it has left, from the counts read off the store
//! over time (not from what this process did: on AWS the functions do the work). The
//! estimate follows the last minute's pace, and says nothing until it has seen enough
//! items settle to tell: the first items of a backfill come slower (the first poll
//! reads everything before the first write) and a guess from them would mislead.

use std::collections::VecDeque;
use std::time::Duration;

/// The estimate follows the pace over this window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// No pace before the samples span this long...
pub const MIN_SPAN: Duration = Duration::from_secs(5);
/// ... and at least this many items settled over them.
pub const MIN_SETTLED: usize = 3;

/// What can be said of the time left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Estimate {
    /// Not enough seen yet (or nothing settled over the last minute) to tell.
    Estimating,
    /// At the pace of the window: items per second, and the time left for the rest.
    Left { per_sec: f64, left: Duration },
}

/// Samples of (time since the start, items settled: done or parked).
#[derive(Debug, Clone, Default)]
pub struct Pace {
    samples: VecDeque<(Duration, usize)>,
}

impl Pace {
    /// Adds a sample; samples older than the window are dropped, but for the newest of
    /// them, which marks the window's start.
    pub fn observe(&mut self, at: Duration, settled: usize) {
        self.samples.push_back((at, settled));
        while self.samples.len() > 2 && at.saturating_sub(self.samples[1].0) >= WINDOW {
            self.samples.pop_front();
        }
    }

    /// The time left for `remaining` items at the window's pace.
    pub fn estimate(&self, remaining: usize) -> Estimate {
        let (Some(&(t0, s0)), Some(&(t1, s1))) = (self.samples.front(), self.samples.back()) else {
            return Estimate::Estimating;
        };
        let span = t1.saturating_sub(t0);
        let settled = s1.saturating_sub(s0);
        if span < MIN_SPAN || settled < MIN_SETTLED {
            return Estimate::Estimating;
        }
        let per_sec = settled as f64 / span.as_secs_f64();
        Estimate::Left { per_sec, left: Duration::from_secs_f64(remaining as f64 / per_sec) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_estimate_waits_for_a_pace_then_follows_the_last_minute() {
        // (case, samples (seconds, settled), remaining, expected: None = estimating, else (per sec, seconds left))
        type Case = (&'static str, Vec<(u64, usize)>, usize, Option<(f64, u64)>);
        let table: Vec<Case> = vec![
            ("no sample", vec![], 100, None),
            ("one sample", vec![(0, 0)], 100, None),
            ("a pace, but over less than the minimum span", vec![(0, 0), (4, 40)], 100, None),
            ("items settled, but fewer than the minimum", vec![(0, 10), (20, 12)], 100, None),
            ("a steady pace", vec![(0, 0), (2, 4), (4, 8), (10, 20)], 100, Some((2.0, 50))),
            ("pairs linked before the start are not pace", vec![(0, 37), (10, 57)], 40, Some((2.0, 20))),
            (
                "only the last minute counts: a slow start is forgotten",
                vec![(0, 0), (60, 6), (90, 66), (120, 126)],
                120,
                Some((2.0, 60)),
            ),
            ("nothing settled over the last minute", vec![(0, 0), (30, 50), (100, 50), (160, 50)], 10, None),
        ];
        for (case, samples, remaining, want) in table {
            let mut pace = Pace::default();
            for (t, n) in &samples {
                pace.observe(secs(*t), *n);
            }
            let got = match pace.estimate(remaining) {
                Estimate::Estimating => None,
                Estimate::Left { per_sec, left } => Some((per_sec, left.as_secs())),
            };
            assert_eq!(got, want, "{case}");
        }
    }
}
