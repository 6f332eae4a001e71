//! Webhooks: Jira admin webhooks and Azure DevOps service hooks as signals to poll.
//!
//! A delivery is never data. It is authenticated ([`verify`]), named by its delivery id
//! for replay defence ([`notice`]), and mapped to the integration directions whose
//! source it concerns ([`route`]); those directions are then polled, and the poll
//! reads the truth from the system. Everything here is pure: the runtimes do the I/O.

pub mod config;
pub mod notice;
pub mod route;
pub mod subscription;
pub mod tally;
pub mod verify;

pub use config::{HookBasic, HookConfig, HookHeader};
pub use notice::{notice, Notice};
pub use route::directions_for;
pub use subscription::HookSubscription;
pub use tally::{outcome_name, HookTally, ACCEPTED};
pub use verify::{verify, HookRequest, HookSecret};

use crate::names::named_enum;
use std::time::Duration;

/// How long a delivery id is remembered: a delivery seen again within this window is
/// a replay and is refused. Jira retries a failed delivery for a few minutes and Azure
/// DevOps for hours at most; a replay older than a day only triggers one more poll,
/// which reads nothing new.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 3600);

named_enum! {
    /// Why a webhook delivery was refused: the reason code counted and logged.
    pub enum Rejection("webhook rejection") {
        /// The signature or credentials are missing, malformed or wrong.
        BadSignature = "bad_signature",
        /// The hook has no secret configured, or it could not be resolved.
        MissingSecret = "missing_secret",
        /// The URL names no system with webhooks configured.
        UnknownHook = "unknown_hook",
        /// The payload's project is the source of no active integration direction.
        UnknownIntegration = "unknown_integration",
        /// The delivery id was seen within the replay window.
        Replay = "replay",
        /// An authentic delivery Ferry cannot read: no delivery id or no project.
        BadPayload = "bad_payload",
    }
}

impl Rejection {
    /// The HTTP status to answer: 401 for anything not proven authentic, 200 for an
    /// authentic delivery Ferry ignores (a non-2xx would only make the service retry,
    /// or disable the subscription).
    pub fn status(self) -> u16 {
        match self {
            Rejection::BadSignature | Rejection::MissingSecret | Rejection::UnknownHook => 401,
            Rejection::UnknownIntegration | Rejection::Replay | Rejection::BadPayload => 200,
        }
    }
}

impl std::error::Error for Rejection {}
