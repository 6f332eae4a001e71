//! When a failing message is parked instead of tried again.
//!
//! An integration allows `max_attempts` deliveries of a message that fails transiently;
//! the queue moves a message to its dead-letter queue after `max_receives` deliveries,
//! where no failure record shows it to `ferry failures list`. So the last attempt is the
//! earlier of the two: a transient failure then is parked, never dead-lettered.

/// How many deliveries a message that keeps failing transiently gets before it is
/// parked: the integration's `max_attempts`, cut to the queue's receive limit.
pub fn effective_attempts(max_attempts: u32, max_receives: Option<u32>) -> u32 {
    max_receives.map_or(max_attempts, |r| max_attempts.min(r)).max(1)
}

/// Whether delivery number `receive_count` is a message's last attempt.
pub fn last_attempt(receive_count: u32, max_attempts: u32, max_receives: Option<u32>) -> bool {
    receive_count >= effective_attempts(max_attempts, max_receives)
}

/// What `apply` tells about an integration whose `max_attempts` the queue cuts short.
pub fn attempts_note(integration: &str, max_attempts: u32, max_receives: Option<u32>) -> Option<String> {
    let limit = max_receives?;
    (max_attempts > limit).then(|| {
        format!(
            "{integration}: max_attempts is {max_attempts}, but the queues move a message to the dead-letter queue \
             after {limit} deliveries; a transient failure is parked as a failure record on delivery {limit}. Raise \
             the queues' receive limit (template parameter MaxReceives / FERRY_MAX_RECEIVES) to allow more attempts"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_attempt_is_the_earlier_of_max_attempts_and_the_queues_receive_limit() {
        // (receive count, max_attempts, max_receives, last attempt?)
        let table = [
            (1, 5, Some(5), false),
            (4, 5, Some(5), false),
            (5, 5, Some(5), true),
            (5, 100, Some(5), true),
            (4, 100, Some(5), false),
            (3, 3, Some(5), true),
            (2, 3, Some(5), false),
            (6, 5, Some(5), true),
            (99, 100, None, false),
            (100, 100, None, true),
            (1, 0, Some(5), true),
            (1, 5, Some(0), true),
        ];
        for (count, max_attempts, max_receives, want) in table {
            assert_eq!(
                last_attempt(count, max_attempts, max_receives),
                want,
                "{count} {max_attempts} {max_receives:?}"
            );
        }
    }

    #[test]
    fn apply_notes_only_a_max_attempts_the_queue_cuts_short() {
        let note = attempts_note("app-bugs", 10, Some(5)).expect("cut short");
        assert!(note.contains("app-bugs") && note.contains("10") && note.contains("delivery 5"), "{note}");
        assert_eq!(attempts_note("app-bugs", 5, Some(5)), None);
        assert_eq!(attempts_note("app-bugs", 3, Some(5)), None);
        assert_eq!(attempts_note("app-bugs", 100, None), None, "a queue without dead-lettering");
    }
}
