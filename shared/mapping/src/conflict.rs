//! Three-way conflicts: a field whose target value changed since the last sync (it no
//! longer equals the last-synced value) while the source changed it too. The engine
//! detects them at write time, when it holds the target's current values; these pure
//! functions say which mapping governs the field and who wins.

use crate::map::governing_mapping;
use chrono::{DateTime, Utc};
use ferry_domain::{ConflictPolicy, Direction, FieldKey, Flow, Integration, Side};

/// The outcome for one conflicting field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Write the source's value over the target's.
    SourceWins,
    /// Leave the target's value; the reverse flow carries it to the source.
    TargetWins,
    /// Write neither; a person decides.
    Flag,
}

/// The conflict policy of the field mapping that writes `target` in `flow`, with the
/// source field it reads. `None` when no both-way mapping writes it (a one-way mapping
/// is authoritative: the source always wins, so there is no conflict to resolve).
pub fn conflict_policy<'a>(
    integration: &'a Integration,
    flow: Flow,
    target: &FieldKey,
) -> Option<(ConflictPolicy, &'a FieldKey)> {
    let m = governing_mapping(integration, flow, target)?;
    if m.direction != Direction::Both {
        return None;
    }
    Some((m.conflict, m.field(flow.source())?))
}

/// Who wins a conflict in `flow`. `winner` is an operator's decision for a replayed
/// flagged conflict and overrides the policy. Last writer compares entity-level
/// `updated` times; a tie goes to the source (the change being synced now).
pub fn resolve(
    policy: ConflictPolicy,
    winner: Option<Side>,
    flow: Flow,
    source_updated: DateTime<Utc>,
    target_updated: DateTime<Utc>,
) -> Resolution {
    let side = match (winner, policy) {
        (Some(side), _) => side,
        (None, ConflictPolicy::Left) => Side::Left,
        (None, ConflictPolicy::Right) => Side::Right,
        (None, ConflictPolicy::Flag) => return Resolution::Flag,
        (None, ConflictPolicy::LastWriter) => {
            if source_updated >= target_updated {
                flow.source()
            } else {
                flow.target()
            }
        }
    };
    if side == flow.source() {
        Resolution::SourceWins
    } else {
        Resolution::TargetWins
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{fm, integration};
    use chrono::TimeZone;

    fn t(min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 10, min, 0).unwrap()
    }

    #[test]
    fn each_policy_picks_its_winner_in_both_flows() {
        use ConflictPolicy::{LastWriter, Left, Right};
        use Resolution::{SourceWins, TargetWins};
        let cases = [
            // (policy, winner override, flow, source updated, target updated, expected)
            (Left, None, Flow::LeftToRight, t(1), t(2), SourceWins),
            (Left, None, Flow::RightToLeft, t(2), t(1), TargetWins),
            (Right, None, Flow::LeftToRight, t(2), t(1), TargetWins),
            (Right, None, Flow::RightToLeft, t(1), t(2), SourceWins),
            (LastWriter, None, Flow::LeftToRight, t(2), t(1), SourceWins),
            (LastWriter, None, Flow::LeftToRight, t(1), t(2), TargetWins),
            (LastWriter, None, Flow::RightToLeft, t(1), t(2), TargetWins),
            (LastWriter, None, Flow::RightToLeft, t(3), t(3), SourceWins),
            (ConflictPolicy::Flag, None, Flow::LeftToRight, t(2), t(1), Resolution::Flag),
            (ConflictPolicy::Flag, Some(Side::Left), Flow::LeftToRight, t(1), t(2), SourceWins),
            (ConflictPolicy::Flag, Some(Side::Left), Flow::RightToLeft, t(2), t(1), TargetWins),
            (Left, Some(Side::Right), Flow::LeftToRight, t(2), t(1), TargetWins),
        ];
        for (policy, winner, flow, s, tg, want) in cases {
            assert_eq!(resolve(policy, winner, flow, s, tg), want, "{policy:?} {winner:?} {flow}");
        }
    }

    #[test]
    fn only_both_way_mappings_have_a_conflict_policy() {
        let mut both = fm("summary", "System.Title");
        both.conflict = ConflictPolicy::Flag;
        let mut one_way = fm("priority", "Microsoft.VSTS.Common.Priority");
        one_way.direction = Direction::LeftToRight;
        let i = integration(vec![both, one_way]);
        let title = FieldKey::new("System.Title");
        assert_eq!(
            conflict_policy(&i, Flow::LeftToRight, &title).map(|(p, s)| (p, s.as_str().to_string())),
            Some((ConflictPolicy::Flag, "summary".to_string()))
        );
        assert_eq!(
            conflict_policy(&i, Flow::RightToLeft, &FieldKey::new("summary")).map(|(p, _)| p),
            Some(ConflictPolicy::Flag)
        );
        assert_eq!(conflict_policy(&i, Flow::LeftToRight, &FieldKey::new("Microsoft.VSTS.Common.Priority")), None);
        assert_eq!(conflict_policy(&i, Flow::LeftToRight, &FieldKey::new("System.Unknown")), None);
    }
}
