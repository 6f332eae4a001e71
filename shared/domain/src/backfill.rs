//! A backfill (`ferry activate ID --since DATE`): its plan, counted before anything is
//! done, and the record of an accepted plan that the store keeps, so the backfill can be
//! followed (and resumed after a crash) against the total it was accepted with.

use crate::{EntityId, EntityRef, FieldKey, Flow, IntegrationId, Side};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How existing pairs are recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum PairBy {
    /// The integration's remote-id fields (`remote.left_id_field`, `right_id_field`).
    RemoteId,
    /// This field of one side holds the other side's key or id.
    Field { side: Side, field: FieldKey },
    /// The same title on both sides, unique within each side's items.
    Title,
}

/// One entity a plan counts, on its side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedItem {
    pub side: Side,
    pub id: EntityId,
    pub key: String,
}

/// An entity with more than one possible twin: neither paired nor created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ambiguous {
    pub side: Side,
    pub key: String,
    pub candidates: Vec<String>,
}

/// What a backfill would do, counted before it is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillPlan {
    pub since: DateTime<Utc>,
    /// Entities with no twin: each is created on the other side by the sync.
    pub to_create: Vec<PlannedItem>,
    /// Pairs found, not linked yet.
    pub to_pair: Vec<(EntityRef, EntityRef)>,
    /// Pairs linked already (by an earlier run, or an earlier backfill), of which one
    /// side at least changed since `since`.
    pub already_paired: usize,
    pub ambiguous: Vec<Ambiguous>,
}

/// An accepted plan, as the store keeps it: one per integration, the latest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillRecord {
    pub integration: IntegrationId,
    pub pair_by: PairBy,
    pub accepted_at: DateTime<Utc>,
    /// When the integration was activated from `plan.since`; `None` while the process
    /// that accepted the plan had not got that far (a resume activates it).
    pub activated_at: Option<DateTime<Utc>>,
    pub plan: BackfillPlan,
}

/// One item a backfill's progress follows: done once a link holds `entity` on `side`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Followed<'a> {
    pub side: Side,
    pub entity: &'a EntityId,
    pub key: &'a str,
    /// `true` for an entity to create, `false` for a pair the backfill links.
    pub create: bool,
}

impl Followed<'_> {
    /// The flow whose failure parks it: the one from its side.
    pub fn flow(&self) -> Flow {
        Flow::from_source(self.side)
    }
}

impl BackfillRecord {
    /// Whether this is the backfill `activate --since since --pair-by pair_by` asks for.
    pub fn is_for(&self, since: DateTime<Utc>, pair_by: &PairBy) -> bool {
        self.plan.since == since && &self.pair_by == pair_by
    }

    /// The items whose progress is followed: each entity to create, then each pair's
    /// left entity. The ambiguous ones are neither paired nor created, so not followed.
    pub fn followed(&self) -> Vec<Followed<'_>> {
        let created =
            self.plan.to_create.iter().map(|p| Followed { side: p.side, entity: &p.id, key: &p.key, create: true });
        let paired = self.plan.to_pair.iter().map(|(l, _)| Followed {
            side: Side::Left,
            entity: &l.id,
            key: &l.key,
            create: false,
        });
        created.chain(paired).collect()
    }

    /// How many items the backfill follows ([`BackfillRecord::followed`]).
    pub fn total(&self) -> usize {
        self.plan.to_create.len() + self.plan.to_pair.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(id: &str, key: &str) -> EntityRef {
        EntityRef {
            id: EntityId::new(id),
            key: key.into(),
            url: String::new(),
            revision: "1".into(),
            updated: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_record_follows_each_entity_to_create_and_each_pairs_left_entity_and_survives_json() {
        let since = DateTime::<Utc>::UNIX_EPOCH;
        let record = BackfillRecord {
            integration: IntegrationId::parse("app-bugs").unwrap(),
            pair_by: PairBy::Field { side: Side::Right, field: FieldKey::new("Custom.JiraKey") },
            accepted_at: since,
            activated_at: None,
            plan: BackfillPlan {
                since,
                to_create: vec![
                    PlannedItem { side: Side::Left, id: EntityId::new("10001"), key: "APP-1".into() },
                    PlannedItem { side: Side::Right, id: EntityId::new("7"), key: "7".into() },
                ],
                to_pair: vec![(entity("10002", "APP-2"), entity("8", "8"))],
                already_paired: 3,
                ambiguous: vec![Ambiguous { side: Side::Left, key: "APP-9".into(), candidates: vec!["9".into()] }],
            },
        };
        let followed: Vec<(Side, &str, bool, Flow)> =
            record.followed().iter().map(|f| (f.side, f.entity.as_str(), f.create, f.flow())).collect();
        assert_eq!(
            followed,
            vec![
                (Side::Left, "10001", true, Flow::LeftToRight),
                (Side::Right, "7", true, Flow::RightToLeft),
                (Side::Left, "10002", false, Flow::LeftToRight),
            ]
        );
        assert_eq!(record.total(), 3);
        assert!(record.is_for(since, &record.pair_by.clone()));
        assert!(!record.is_for(since, &PairBy::Title));
        assert!(!record.is_for(since + chrono::Duration::days(1), &record.pair_by.clone()));
        let back: BackfillRecord = serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
        assert_eq!(back, record);
    }
}
