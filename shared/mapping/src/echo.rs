//! The echo check (rule 2 of the crate documentation): whether a snapshot is Ferry's own
//! write read back, so it is not synced back to where it came from (no ping-pong).
//!
//! A revision is an echo when the source's integration user made it AND it is the
//! revision Ferry's last write to the entity produced (the source fingerprint's
//! `written_revision`). A revision the integration user made at another revision is not
//! an echo: it maps normally and rule 10 drops the fields that did not change. An
//! unlinked entity whose latest revision Ferry made is the twin of an interrupted create
//! and is skipped as an echo too: the create's retry links it.
//!
//! The polls drop echoes before they are enqueued ([`is_echo`]); the transform skips
//! one that gets through ([`echo`], called by `map_change`).

use crate::users::normalise;
use crate::MappingInput;
use ferry_domain::{EntitySnapshot, Fingerprint, UserRef};

/// Why the input's snapshot is Ferry's own write and not a change to sync, if it is.
pub(crate) fn echo(input: &MappingInput) -> Option<String> {
    let src = input.source;
    let me = input.source_integration_user?;
    if input.source_fingerprint.is_some_and(|fp| is_echo(src, me, fp)) {
        return Some(format!(
            "{} revision {} is Ferry's own write (changed by the integration user)",
            src.key, src.revision
        ));
    }
    // An unlinked entity whose latest revision Ferry made is the twin of a create that
    // was interrupted before its link was stored (a crash, a lost response). The
    // create's retry adopts it through the remote-id search; creating it back on the
    // other side would make a second twin of the original.
    (!input.linked && made_by(src, me)).then(|| {
        format!(
            "{} was made by Ferry and has no link yet: the twin of an interrupted create, which the create's \
             retry links",
            src.key
        )
    })
}

/// `src` is Ferry's own write read back: the integration user made the revision that
/// Ferry's last write to this entity produced (its fingerprint names it).
pub fn is_echo(src: &EntitySnapshot, integration_user: &UserRef, fp: &Fingerprint) -> bool {
    made_by(src, integration_user) && fp.written_revision.as_deref() == Some(src.revision.as_str())
}

/// Whether `user` made the revision `src` shows.
pub fn made_by(src: &EntitySnapshot, user: &UserRef) -> bool {
    src.changed_by.as_ref().is_some_and(|by| same_person(by, user))
}

/// The same person by id, or, when an id is unknown (the integration user is configured by
/// e-mail), by e-mail ignoring case.
pub fn same_person(a: &UserRef, b: &UserRef) -> bool {
    if !a.id.is_empty() && a.id == b.id {
        return true;
    }
    match (a.email.as_deref(), b.email.as_deref()) {
        (Some(x), Some(y)) => !x.trim().is_empty() && normalise(x) == normalise(y),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::user;

    #[test]
    fn the_same_person_is_the_same_id_or_else_the_same_email_ignoring_case() {
        // (a, b, same?)
        let table = [
            (user("u1", None, None), user("u1", Some("x@acme.test"), None), true),
            (user("u1", Some("bot@acme.test"), None), user("u2", Some(" BOT@acme.test"), None), true),
            (user("", Some("bot@acme.test"), None), user("", Some("bot@acme.test"), None), true),
            (user("u1", Some("bot@acme.test"), None), user("u2", Some("alice@acme.test"), None), false),
            (user("", None, None), user("", None, None), false),
            (user("u1", Some(" "), None), user("u2", Some(" "), None), false),
        ];
        for (a, b, same) in table {
            assert_eq!(same_person(&a, &b), same, "{a:?} vs {b:?}");
        }
    }
}
