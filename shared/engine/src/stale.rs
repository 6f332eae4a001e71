//! When a snapshot is stale: applying it would write older values back over newer ones.
//! The queue delivers at least once and in any order across message groups, so both the
//! transform and the write check every snapshot against the pair's fingerprints.

use ferry_domain::{EntitySnapshot, Fingerprint};

/// Why `source` must not be applied, if it must not: it was read before Ferry's latest
/// write to it (`source_fp`: mapping it would revert that write), or it is older than
/// the newest snapshot of it already applied to its twin (`target_fp`: a reordered or
/// duplicated delivery).
pub(crate) fn stale_snapshot(
    source: &EntitySnapshot,
    source_fp: Option<&Fingerprint>,
    target_fp: Option<&Fingerprint>,
) -> Option<String> {
    if let Some(written) = source_fp.and_then(|f| f.written_updated).filter(|w| source.updated < *w) {
        return Some(format!(
            "{} was read at {}, before Ferry's write to it at {}",
            source.key,
            source.updated.to_rfc3339(),
            written.to_rfc3339()
        ));
    }
    let applied = target_fp.and_then(|f| f.applied_source_updated)?;
    (source.updated < applied).then(|| {
        format!(
            "{} revision {} ({}) is older than the change already applied ({})",
            source.key,
            source.revision,
            source.updated.to_rfc3339(),
            applied.to_rfc3339()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use ferry_domain::{EntityId, IntegrationId, Side};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + secs, 0).expect("in range")
    }

    fn snapshot(updated: i64) -> EntitySnapshot {
        EntitySnapshot {
            id: EntityId::new("10001"),
            key: "APP-1".into(),
            revision: "7".into(),
            updated: at(updated),
            changed_by: None,
            url: String::new(),
            fields: Default::default(),
        }
    }

    fn fp(written_updated: Option<i64>, applied_source_updated: Option<i64>) -> Fingerprint {
        Fingerprint {
            integration: IntegrationId::parse("i").expect("id"),
            side: Side::Left,
            entity: EntityId::new("10001"),
            values: Default::default(),
            written_revision: None,
            written_updated: written_updated.map(at),
            applied_source_updated: applied_source_updated.map(at),
            create_started: None,
            twin_deleted: None,
            updated_at: at(0),
        }
    }

    #[test]
    fn a_snapshot_older_than_ferrys_write_to_it_or_than_what_its_twin_got_is_stale() {
        // (snapshot updated, the source fingerprint's written_updated, the target
        // fingerprint's applied_source_updated, stale because of)
        let table = [
            (10, None, None, None),
            // Ferry wrote the source after this snapshot was read.
            (10, Some(11), None, Some("before Ferry's write to it")),
            (10, Some(10), None, None),
            (10, Some(9), None, None),
            // The twin already got a newer snapshot of it.
            (10, None, Some(11), Some("older than the change already applied")),
            (10, None, Some(10), None),
            (10, None, Some(9), None),
            // Both: the source's own write is named.
            (10, Some(12), Some(11), Some("before Ferry's write to it")),
            (10, Some(9), Some(11), Some("older than the change already applied")),
            (10, Some(11), Some(9), Some("before Ferry's write to it")),
            (10, Some(9), Some(9), None),
        ];
        for (updated, written, applied, want) in table {
            let (source, target) = (fp(written, None), fp(None, applied));
            let got = stale_snapshot(&snapshot(updated), Some(&source), Some(&target));
            match (want, &got) {
                (None, None) => {}
                (Some(why), Some(detail)) => {
                    assert!(detail.contains(why), "{updated} {written:?} {applied:?}: {detail}");
                    assert!(detail.starts_with("APP-1 "), "names the entity: {detail}");
                }
                _ => panic!("{updated} {written:?} {applied:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn a_snapshot_of_a_pair_without_fingerprints_is_never_stale() {
        assert_eq!(stale_snapshot(&snapshot(10), None, None), None);
    }
}
