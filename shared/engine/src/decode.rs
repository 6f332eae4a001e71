//! Reading a handler's message: the body is JSON of the queue's message type, at the
//! schema version this build writes ([`MESSAGE_SCHEMA`]). A body that is not is a bad
//! message (the runtime dead-letters it); one rule for both queues.

use crate::error::HandleError;
use ferry_domain::{ChangeEvent, WriteCommand, MESSAGE_SCHEMA};
use serde::de::DeserializeOwned;

/// A queue message type.
pub(crate) trait Message: DeserializeOwned {
    /// What the message is called in errors.
    const WHAT: &'static str;
    fn schema(&self) -> u32;
}

impl Message for ChangeEvent {
    const WHAT: &'static str = "change event";
    fn schema(&self) -> u32 {
        self.schema
    }
}

impl Message for WriteCommand {
    const WHAT: &'static str = "write command";
    fn schema(&self) -> u32 {
        self.schema
    }
}

/// The message `body` holds, or a bad-message error saying what is wrong with it.
pub(crate) fn decode<M: Message>(body: &str) -> Result<M, HandleError> {
    let message: M = serde_json::from_str(body)
        .map_err(|e| HandleError::BadMessage(format!("{} is not valid JSON: {e}", M::WHAT)))?;
    if message.schema() != MESSAGE_SCHEMA {
        return Err(HandleError::BadMessage(format!("{} schema {} is not supported", M::WHAT, message.schema())));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(r: Result<impl std::fmt::Debug, HandleError>) -> String {
        match r {
            Err(HandleError::BadMessage(m)) => m,
            other => panic!("expected a bad message, got {other:?}"),
        }
    }

    #[test]
    fn a_body_that_is_not_json_or_of_another_schema_is_a_bad_message_naming_the_type() {
        assert!(bad(decode::<ChangeEvent>("{not json")).starts_with("change event is not valid JSON"));
        assert!(bad(decode::<WriteCommand>("[]")).starts_with("write command is not valid JSON"));
        let mut command = serde_json::to_value(crate::testkit::command(
            ferry_domain::Flow::LeftToRight,
            crate::testkit::snapshot("7", &[]),
            &[],
        ))
        .expect("serialises");
        command["schema"] = serde_json::json!(MESSAGE_SCHEMA + 1);
        let m = bad(decode::<WriteCommand>(&command.to_string()));
        assert_eq!(m, format!("write command schema {} is not supported", MESSAGE_SCHEMA + 1));
        command["schema"] = serde_json::json!(MESSAGE_SCHEMA);
        assert!(decode::<WriteCommand>(&command.to_string()).is_ok());
    }
}
