//! A listing of parked failures that a single unreadable record does not sink: each
//! entry is the record, or what the store still knows of a record it cannot read (its
//! payload object is missing, its JSON is corrupt) and why. Operators see every other
//! failure and the bad one by its id, and can discard it.

use crate::error::ErrorCategory;
use crate::ids::{EntityId, IntegrationId};
use crate::message::FailureRecord;
use crate::model::Flow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;

/// A parked failure whose record the store cannot read. The fields besides `id` and
/// `reason` are what the store keeps outside the record (keys, index columns); a store
/// that does not keep one leaves it `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadableFailure {
    pub id: String,
    pub integration: Option<IntegrationId>,
    pub flow: Option<Flow>,
    pub entity: Option<EntityId>,
    pub category: Option<ErrorCategory>,
    pub first_failed_at: Option<DateTime<Utc>>,
    /// What is unreadable and why (the store's error).
    pub reason: String,
}

impl fmt::Display for UnreadableFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failure {}", self.id)?;
        if let Some(i) = &self.integration {
            write!(f, " of {i}")?;
        }
        if let Some(flow) = self.flow {
            write!(f, " {}", flow.as_str())?;
        }
        if let Some(e) = &self.entity {
            write!(f, " entity {e}")?;
        }
        write!(f, " is unreadable: {}", self.reason)
    }
}

/// One entry of a failure listing: the record, or why it cannot be read.
pub type ListedFailure = Result<FailureRecord, UnreadableFailure>;

/// The id of a listed failure, readable or not.
pub fn listed_id(entry: &ListedFailure) -> &str {
    match entry {
        Ok(f) => &f.id,
        Err(u) => &u.id,
    }
}

/// The records of `listing`, or an error naming its first unreadable failure (for
/// callers that need every record whole).
pub fn all_readable(listing: Vec<ListedFailure>) -> Result<Vec<FailureRecord>, UnreadableFailure> {
    listing.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_failure_names_itself_where_it_belongs_and_why() {
        let mut u = UnreadableFailure {
            id: "f-1".into(),
            integration: Some(IntegrationId::parse("app").expect("valid id")),
            flow: Some(Flow::LeftToRight),
            entity: Some(EntityId::new("10001")),
            category: None,
            first_failed_at: None,
            reason: "payload object failures/f-1/x.json is missing".into(),
        };
        assert_eq!(
            u.to_string(),
            "failure f-1 of app left_to_right entity 10001 is unreadable: payload object failures/f-1/x.json is missing"
        );
        (u.integration, u.flow, u.entity) = (None, None, None);
        assert_eq!(u.to_string(), "failure f-1 is unreadable: payload object failures/f-1/x.json is missing");
    }
}
