use super::*;

fn it(key: &str, title: &str, names: Option<&str>) -> Item {
    Item {
        entity: EntityRef {
            id: EntityId::new(format!("id-{key}")),
            key: key.into(),
            url: String::new(),
            revision: "1".into(),
            updated: DateTime::<Utc>::UNIX_EPOCH,
        },
        title: Some(title.into()),
        names: names.map(Into::into),
    }
}

fn keys(left: &[Item], right: &[Item], pairs: &[(usize, usize)]) -> Vec<(String, String)> {
    pairs.iter().map(|&(i, j)| (left[i].entity.key.clone(), right[j].entity.key.clone())).collect()
}

#[test]
fn pairs_are_found_by_remote_id_either_way_or_by_exact_title_and_doubtful_ones_are_ambiguous() {
    let remote = PairBy::RemoteId;
    // (case, by, left, right, pairs, ambiguous keys)
    type Case<'a> = (&'a str, &'a PairBy, Vec<Item>, Vec<Item>, Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let table: Vec<Case> = vec![
        (
            "the right side's remote id names the left key",
            &remote,
            vec![it("APP-1", "a", None), it("APP-2", "b", None)],
            vec![it("7", "x", Some("APP-1"))],
            vec![("APP-1", "7")],
            vec![],
        ),
        (
            "the left side's remote id names the right id",
            &remote,
            vec![it("APP-1", "a", Some("id-7"))],
            vec![it("7", "x", None)],
            vec![("APP-1", "7")],
            vec![],
        ),
        (
            "two right entities naming one left key: neither is paired",
            &remote,
            vec![it("APP-1", "a", None)],
            vec![it("7", "x", Some("APP-1")), it("8", "y", Some("APP-1"))],
            vec![],
            vec!["APP-1", "7", "8"],
        ),
        (
            "titles pair when exactly equal, surrounding blanks aside",
            &PairBy::Title,
            vec![it("APP-1", "Login fails ", None), it("APP-2", "login fails", None)],
            vec![it("7", "Login fails", None)],
            vec![("APP-1", "7")],
            vec![],
        ),
        (
            "a title found twice on one side is ambiguous",
            &PairBy::Title,
            vec![it("APP-1", "Crash", None), it("APP-2", "Crash", None)],
            vec![it("7", "Crash", None)],
            vec![],
            vec!["APP-1", "APP-2", "7"],
        ),
        (
            "titles are not compared when pairing by remote id",
            &remote,
            vec![it("APP-1", "Crash", None)],
            vec![it("7", "Crash", None)],
            vec![],
            vec![],
        ),
    ];
    for (case, by, left, right, want_pairs, want_ambiguous) in table {
        let (pairs, ambiguous) = pair_items(&left, &right, by);
        let want: Vec<(String, String)> = want_pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(keys(&left, &right, &pairs), want, "{case}");
        let amb: Vec<&str> = ambiguous.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(amb, want_ambiguous, "{case}");
    }
}

#[test]
fn an_unpaired_entity_is_created_only_if_it_changed_since_and_its_side_is_synced_from() {
    let at = |secs: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(secs);
    let item = |key: &str, updated: i64| {
        let mut i = it(key, "x", None);
        i.entity.updated = at(updated);
        i
    };
    let (left, right) = (vec![item("APP-1", 100), item("APP-2", 10)], vec![item("7", 100)]);
    let planned = |side: Side, key: &str| PlannedItem { side, id: EntityId::new(format!("id-{key}")), key: key.into() };
    let both = [Flow::LeftToRight, Flow::RightToLeft];
    // (case, entity, flows, created)
    let table: [(&str, PlannedItem, &[Flow], bool); 5] = [
        ("changed since, both ways", planned(Side::Left, "APP-1"), &both, true),
        ("pulled in by a remote id, unchanged since", planned(Side::Left, "APP-2"), &both, false),
        ("a right entity, both ways", planned(Side::Right, "7"), &both, true),
        ("a right entity, left to right only", planned(Side::Right, "7"), &[Flow::LeftToRight], false),
        ("not among the items read", planned(Side::Left, "APP-3"), &both, false),
    ];
    for (case, p, flows, want) in table {
        assert_eq!(synced_by_backfill(&p, [&left, &right], at(50), flows), want, "{case}");
    }
}
