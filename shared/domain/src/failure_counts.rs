//! Parked failures counted per integration, direction and category: what an overview
//! (the console's integrations page, `ferry status`) needs without reading every record.

use crate::error::ErrorCategory;
use crate::failure_listing::ListedFailure;
use crate::ids::IntegrationId;
use crate::message::FailureRecord;
use crate::model::Flow;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureCount {
    pub integration: IntegrationId,
    pub flow: Flow,
    pub category: ErrorCategory,
    pub count: u64,
    /// The earliest `first_failed_at` among them: how long the oldest has waited.
    pub oldest: DateTime<Utc>,
}

/// The counts of `records`, ordered by integration, direction and category.
pub fn count_failures(records: &[FailureRecord]) -> Vec<FailureCount> {
    count(records.iter().map(|f| (&f.integration, f.flow, f.category, f.first_failed_at)))
}

/// The counts of a listing, its unreadable failures included: under the category the
/// store kept outside the record, else [`ErrorCategory::Store`] (the store cannot read
/// it); failed when the store knows, else at the Unix epoch: an unknown age counts as
/// the oldest, never as new.
/// An unreadable failure whose integration or direction the store does not know cannot
/// be counted anywhere; the listing still shows it.
pub fn count_listed(listing: &[ListedFailure]) -> Vec<FailureCount> {
    count(listing.iter().filter_map(|entry| match entry {
        Ok(f) => Some((&f.integration, f.flow, f.category, f.first_failed_at)),
        Err(u) => Some((
            u.integration.as_ref()?,
            u.flow?,
            u.category.unwrap_or(ErrorCategory::Store),
            u.first_failed_at.unwrap_or(DateTime::UNIX_EPOCH),
        )),
    }))
}

fn count<'a>(
    failures: impl Iterator<Item = (&'a IntegrationId, Flow, ErrorCategory, DateTime<Utc>)>,
) -> Vec<FailureCount> {
    let mut by: BTreeMap<(&str, &str, &str), FailureCount> = BTreeMap::new();
    for (integration, flow, category, first_failed_at) in failures {
        let key = (integration.as_str(), flow.as_str(), category.as_str());
        by.entry(key)
            .and_modify(|c| {
                c.count += 1;
                c.oldest = c.oldest.min(first_failed_at);
            })
            .or_insert_with(|| FailureCount {
                integration: integration.clone(),
                flow,
                category,
                count: 1,
                oldest: first_failed_at,
            });
    }
    by.into_values().collect()
}

/// Of `counts`, those of one integration's direction: how many, and the oldest.
pub fn open_in(counts: &[FailureCount], integration: &IntegrationId, flow: Flow) -> (u64, Option<DateTime<Utc>>) {
    let mine = counts.iter().filter(|c| &c.integration == integration && c.flow == flow);
    mine.fold((0, None), |(n, oldest), c| {
        (n + c.count, Some(oldest.map_or(c.oldest, |o: DateTime<Utc>| o.min(c.oldest))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{ChangeEvent, MESSAGE_SCHEMA};
    use crate::model::EntitySnapshot;
    use crate::EntityId;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).single().expect("valid date") + chrono::Duration::seconds(s)
    }

    fn failure(i: &str, flow: Flow, category: ErrorCategory, first: i64) -> FailureRecord {
        let integration = IntegrationId::parse(i).expect("valid id");
        let snapshot = EntitySnapshot {
            id: EntityId::new("1"),
            key: "APP-1".into(),
            revision: "1".into(),
            updated: t(first),
            changed_by: None,
            url: String::new(),
            fields: Default::default(),
        };
        FailureRecord {
            id: format!("{i}-{first}"),
            integration: integration.clone(),
            flow,
            entity: snapshot.id.clone(),
            entity_key: snapshot.key.clone(),
            category,
            cause: String::new(),
            input: ChangeEvent {
                schema: MESSAGE_SCHEMA,
                integration,
                flow,
                snapshot,
                matches_filter: true,
                polled_at: t(first),
                replay: None,
                winner: None,
            },
            mapping_output: None,
            attempts: 1,
            first_failed_at: t(first),
            last_failed_at: t(first),
        }
    }

    #[test]
    fn failures_count_per_integration_direction_and_category_with_the_oldest() {
        use ErrorCategory::*;
        use Flow::*;
        let records = [
            failure("a", LeftToRight, InvalidRequest, 30),
            failure("a", LeftToRight, InvalidRequest, 10),
            failure("a", LeftToRight, FieldConflict, 5),
            failure("a", RightToLeft, InvalidRequest, 1),
            failure("b", LeftToRight, InvalidRequest, 2),
        ];
        let counts = count_failures(&records);
        let shown: Vec<_> =
            counts.iter().map(|c| (c.integration.as_str(), c.flow, c.category, c.count, c.oldest)).collect();
        assert_eq!(
            shown,
            vec![
                ("a", LeftToRight, FieldConflict, 1, t(5)),
                ("a", LeftToRight, InvalidRequest, 2, t(10)),
                ("a", RightToLeft, InvalidRequest, 1, t(1)),
                ("b", LeftToRight, InvalidRequest, 1, t(2)),
            ]
        );
        let a = IntegrationId::parse("a").expect("valid id");
        assert_eq!(open_in(&counts, &a, LeftToRight), (3, Some(t(5))), "every category of the direction");
        assert_eq!(open_in(&counts, &a, RightToLeft), (1, Some(t(1))));
        assert_eq!(open_in(&counts, &IntegrationId::parse("c").expect("valid id"), LeftToRight), (0, None));
    }

    #[test]
    fn unreadable_failures_count_under_their_kept_category_else_store_and_as_oldest_when_undated() {
        use crate::UnreadableFailure;
        let a = IntegrationId::parse("a").expect("valid id");
        let unreadable = |category, first_failed_at, flow| {
            Err(UnreadableFailure {
                id: "u".into(),
                integration: Some(a.clone()),
                flow,
                entity: None,
                category,
                first_failed_at,
                reason: "gone".into(),
            })
        };
        let listing = [
            Ok(failure("a", Flow::LeftToRight, ErrorCategory::InvalidRequest, 10)),
            unreadable(Some(ErrorCategory::InvalidRequest), Some(t(3)), Some(Flow::LeftToRight)),
            unreadable(None, None, Some(Flow::LeftToRight)),
            unreadable(None, Some(t(1)), None),
        ];
        let shown: Vec<_> = count_listed(&listing).iter().map(|c| (c.category, c.count, c.oldest)).collect();
        assert_eq!(
            shown,
            vec![(ErrorCategory::InvalidRequest, 2, t(3)), (ErrorCategory::Store, 1, DateTime::UNIX_EPOCH)],
            "one without a direction is counted nowhere"
        );
    }
}
