//! How long to wait before trying a failed step again when the failing system gave no
//! `Retry-After`: jittered exponential backoff, one rule for every retry in Ferry (the
//! queue handlers' message retries and the connectors' HTTP retries).
//!
//! Attempt `n` (1 on the first try) waits a random time in the upper half of
//! `base × 2ⁿ`, and never more than `cap`: the delay doubles with each attempt until it
//! reaches the cap, which is the only bound. The random part is the caller's (a number
//! in `[0, 1]`), so the rule itself is a plain function.

use std::time::Duration;

/// A backoff schedule: the delay before attempt `n + 1` after attempt `n` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Half the longest wait after the first attempt (`base × 2¹` is its ceiling).
    pub base: Duration,
    /// Longest wait, whatever the attempt.
    pub cap: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap }
    }

    /// The longest wait after attempt `attempt`: `base × 2^attempt`, at most `cap`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.checked_pow(attempt).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait after attempt `attempt`, placed by `jitter` (0 to 1; out-of-range
    /// values are clamped) between half the ceiling and the ceiling, to the millisecond.
    /// Spreading the waits keeps messages that failed together from retrying together.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        let floor = ceiling / 2;
        let jitter = if jitter.is_nan() { 0.0 } else { jitter.clamp(0.0, 1.0) };
        let spread = ((ceiling - floor) as f64 * jitter).round() as u64;
        Duration::from_millis(floor + spread)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn the_ceiling_doubles_with_each_attempt_until_the_cap() {
        let b = Backoff::new(MS(500), Duration::from_secs(20));
        // (attempt, ceiling)
        let table = [(0, MS(500)), (1, MS(1_000)), (2, MS(2_000)), (5, MS(16_000)), (6, MS(20_000)), (40, MS(20_000))];
        for (attempt, want) in table {
            assert_eq!(b.ceiling(attempt), want, "attempt {attempt}");
        }
    }

    #[test]
    fn huge_attempts_and_bases_saturate_at_the_cap_instead_of_overflowing() {
        let b = Backoff::new(Duration::from_secs(u64::MAX / 2), Duration::from_secs(900));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(900));
        assert_eq!(b.delay(u32::MAX, 1.0), Duration::from_secs(900));
    }

    #[test]
    fn jitter_places_the_delay_between_half_the_ceiling_and_the_ceiling() {
        let b = Backoff::new(MS(200), Duration::from_secs(20));
        // attempt 3: ceiling 1.6 s. (jitter, delay)
        let table = [(0.0, MS(800)), (0.5, MS(1_200)), (1.0, MS(1_600)), (-3.0, MS(800)), (7.0, MS(1_600))];
        for (jitter, want) in table {
            assert_eq!(b.delay(3, jitter), want, "jitter {jitter}");
        }
        assert_eq!(b.delay(3, f64::NAN), MS(800), "NaN counts as no jitter");
    }

    #[test]
    fn every_delay_stays_within_its_attempts_bounds() {
        let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(900));
        for attempt in 0..40 {
            let ceiling = b.ceiling(attempt);
            for jitter in [0.0, 0.13, 0.5, 0.87, 1.0] {
                let d = b.delay(attempt, jitter);
                assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}, jitter {jitter}: {d:?}");
            }
        }
    }

    #[test]
    fn a_zero_base_never_waits() {
        let b = Backoff::new(Duration::ZERO, Duration::from_secs(900));
        assert_eq!(b.delay(4, 1.0), Duration::ZERO);
    }
}
