//! Paging a read of changes by position, never by offset.
//!
//! `/issues.json` sorted by `updated_on` pages with `offset`; when an issue of an early
//! page is edited during the read it moves to the end, the rest shift back by one and
//! the first issue of the next page is never listed. A read here continues from the
//! last second it listed instead. Redmine shows `updated_on` in whole seconds but sorts
//! by the stored value, which may hold a fraction (SQLite, PostgreSQL) or not (MySQL),
//! so issues within one second are in no order a position could name: a second that a
//! page boundary splits is listed on its own, by id, after the last id listed. An issue
//! edited meanwhile leaves that second for a later one and is listed there; nothing
//! shifts.
//!
//! Redmine reads `updated_on=>=T` as `updated_on > T - 1s` and `><A|B` as
//! `> A - 1s AND <= B`, at whole seconds: with stored fractions a listing from second
//! `S` also holds issues of second `S - 1`, and one within `S` (`><S|S+1`) those of
//! `S - 1` and `S + 1` at their whole second. Listings therefore ask for a little more
//! and keep the issues of the seconds they stand for; an issue of an earlier second was
//! listed before.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};

/// Where a read continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub(super) enum Position {
    /// Issues updated from this second on, listed by `updated_on`.
    From {
        #[serde(with = "chrono::serde::ts_seconds")]
        second: DateTime<Utc>,
    },
    /// Issues updated within this second, listed by id, after `after`.
    Within {
        #[serde(with = "chrono::serde::ts_seconds")]
        second: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
    },
}

/// The `updated_on`, `issue_id` and `sort` conditions of the listing at `position`.
pub(super) fn listing_conditions(position: Position) -> Vec<(String, String)> {
    let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    match position {
        Position::From { second } => {
            vec![("updated_on".into(), format!(">={}", stamp(second))), ("sort".into(), "updated_on:asc,id:asc".into())]
        }
        Position::Within { second, after } => {
            let mut q = vec![
                ("updated_on".into(), format!("><{}|{}", stamp(second), stamp(second + ChronoDuration::seconds(1)))),
                ("sort".into(), "id:asc".into()),
            ];
            if let Some(a) = after {
                q.push(("issue_id".into(), format!(">={}", a + 1)));
            }
            q
        }
    }
}

/// What a listing page at a position yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    /// The listed issues (by their index in the listing) this page takes.
    pub take: Vec<usize>,
    /// Every issue updated before this has been listed (see `ChangePage::through`).
    pub through: Option<DateTime<Utc>>,
    pub next: Next,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// The read is complete.
    Done,
    /// The next page lists from here.
    At(Position),
    /// The page would take nothing and not advance (it was all one second, or all of
    /// the second before): list that second by id now instead.
    WithinNow(DateTime<Utc>),
}

/// Plans a page from its listing: `listed` holds each listed issue's (id, `updated_on`)
/// in the listing's order, of at most `limit`.
pub(super) fn plan(position: Position, listed: &[(u64, DateTime<Utc>)], limit: usize) -> Plan {
    let full = listed.len() >= limit;
    match position {
        Position::From { second } => {
            // Issues of earlier seconds were listed before (see the module docs).
            let kept: Vec<usize> = (0..listed.len()).filter(|i| listed[*i].1 >= second).collect();
            if !full {
                let through = kept.last().map(|i| listed[*i].1);
                return Plan { take: kept, through, next: Next::Done };
            }
            let last = listed.last().map_or(second, |l| l.1);
            if last < second {
                return Plan { take: vec![], through: None, next: Next::WithinNow(second) };
            }
            // The last second may go on past the page: take what came before it.
            let take: Vec<usize> = kept.into_iter().filter(|i| listed[*i].1 < last).collect();
            if take.is_empty() {
                return Plan { take, through: None, next: Next::WithinNow(last) };
            }
            Plan { take, through: Some(last), next: Next::At(Position::Within { second: last, after: None }) }
        }
        Position::Within { second, .. } => {
            let take: Vec<usize> = (0..listed.len()).filter(|i| listed[*i].1 == second).collect();
            if full {
                // Every id up to the last listed one is passed, whichever second it had.
                let after = listed.last().map(|l| l.0);
                Plan { take, through: Some(second), next: Next::At(Position::Within { second, after }) }
            } else {
                let next_second = second + ChronoDuration::seconds(1);
                Plan { take, through: Some(next_second), next: Next::At(Position::From { second: next_second }) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + secs, 0).expect("in range")
    }

    #[test]
    fn listings_continue_from_a_second_or_by_id_within_one() {
        let from = listing_conditions(Position::From { second: at(0) });
        assert_eq!(
            from,
            vec![
                ("updated_on".to_string(), ">=2026-11-18T11:06:40Z".to_string()),
                ("sort".to_string(), "updated_on:asc,id:asc".to_string())
            ]
        );
        let within = listing_conditions(Position::Within { second: at(0), after: Some(41) });
        assert_eq!(
            within,
            vec![
                ("updated_on".to_string(), "><2026-11-18T11:06:40Z|2026-11-18T11:06:41Z".to_string()),
                ("sort".to_string(), "id:asc".to_string()),
                ("issue_id".to_string(), ">=42".to_string()),
            ]
        );
        assert!(!listing_conditions(Position::Within { second: at(0), after: None })
            .iter()
            .any(|(k, _)| k == "issue_id"));
    }

    #[test]
    fn a_page_boundary_inside_a_second_lists_that_second_by_id() {
        let from = Position::From { second: at(1) };
        // (listed, limit, plan)
        let cases = [
            (vec![(5, at(1)), (3, at(2))], 3, Plan { take: vec![0, 1], through: Some(at(2)), next: Next::Done }),
            (vec![], 3, Plan { take: vec![], through: None, next: Next::Done }),
            (
                vec![(5, at(1)), (3, at(2)), (4, at(2))],
                3,
                Plan {
                    take: vec![0],
                    through: Some(at(2)),
                    next: Next::At(Position::Within { second: at(2), after: None }),
                },
            ),
            (vec![(5, at(2)), (3, at(2))], 2, Plan { take: vec![], through: None, next: Next::WithinNow(at(2)) }),
            // Redmine's `>=` also lists the second before: those were listed already.
            (vec![(9, at(0)), (5, at(1))], 3, Plan { take: vec![1], through: Some(at(1)), next: Next::Done }),
            (vec![(9, at(0)), (8, at(0))], 3, Plan { take: vec![], through: None, next: Next::Done }),
            (vec![(9, at(0)), (8, at(0))], 2, Plan { take: vec![], through: None, next: Next::WithinNow(at(1)) }),
        ];
        for (listed, limit, want) in cases {
            assert_eq!(plan(from, &listed, limit), want, "{listed:?}");
        }
    }

    #[test]
    fn a_second_listed_by_id_ends_where_its_page_is_short_and_keeps_only_its_own_issues() {
        let within = Position::Within { second: at(2), after: None };
        assert_eq!(
            plan(within, &[(3, at(2)), (9, at(2))], 2),
            Plan {
                take: vec![0, 1],
                through: Some(at(2)),
                next: Next::At(Position::Within { second: at(2), after: Some(9) })
            }
        );
        assert_eq!(
            plan(within, &[(11, at(2))], 2),
            Plan { take: vec![0], through: Some(at(3)), next: Next::At(Position::From { second: at(3) }) }
        );
        // Neighbouring seconds come with the listing; the id position passes them too.
        assert_eq!(
            plan(within, &[(4, at(1)), (6, at(3))], 2),
            Plan {
                take: vec![],
                through: Some(at(2)),
                next: Next::At(Position::Within { second: at(2), after: Some(6) })
            }
        );
    }

    #[test]
    fn positions_round_trip_as_small_json() {
        let p = Position::Within { second: at(2), after: Some(9) };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"at":"within","second":1795000002,"after":9}"#);
        assert_eq!(serde_json::from_str::<Position>(&json).unwrap(), p);
    }
}
