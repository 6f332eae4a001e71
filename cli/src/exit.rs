//! The exit codes of `ferry`, one meaning each (documented in the README's CLI reference).

use std::process::ExitCode;

/// The command did what it was asked, and found nothing wrong.
pub const OK: u8 = 0;
/// The command failed: a store, queue or system did not answer, or refused.
pub const FAILED: u8 = 1;
/// The command line is wrong (clap's own code for usage errors).
#[allow(dead_code)]
pub const USAGE: u8 = 2;
/// The config is invalid (`validate`, `check`, `apply`): every problem is printed as
/// `FILE:LINE: key.path: message (hint)`.
pub const INVALID_CONFIG: u8 = 3;
/// `ferry status`: a direction is behind its lag threshold, or failures are parked;
/// `ferry activate --since`: the backfill ended with items parked.
pub const UNHEALTHY: u8 = 4;
/// `ferry run --once`: a poll failed (the other directions still ran).
pub const POLL_FAILED: u8 = 5;
/// `ferry activate --since`: the backfill stopped with items neither synced nor parked,
/// and nothing more to do for them (a filter or skip rule keeps them out).
pub const BACKFILL_STALLED: u8 = 6;
/// `ferry activate --since`: Ctrl-C stopped following the backfill (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;

pub fn code(c: u8) -> ExitCode {
    ExitCode::from(c)
}
