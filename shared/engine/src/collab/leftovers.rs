//! What a crash between a file's copy and the store of its pair leaves on the target, and
//! what it means: a write step that uploaded a copy and crashed before recording the pair
//! finds, on its retry, an unpaired file on the target that is the other half of a source
//! file — or, when a person deleted the original in between, of nothing at all.

use ferry_domain::{Attachment, CopyIntent, Side};

/// An unpaired file on the target that is `a`'s other half, a crash having lost their pair.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Leftover {
    /// Ferry's copy of `a` (by the integration user, or by someone the system does not
    /// name: Azure DevOps tells no attachment's author): taken as the copy.
    CopyOfSource(String),
    /// `a` itself is Ferry's copy (its author unknown) of this person's file: paired the
    /// other way round, nothing copied back.
    OriginalOfSource(String),
}

/// The rule for a source file that has no pair: a target file of the same name and size
/// that has none either is its copy or its original (one write step copied it and
/// crashed before recording the pair); `None`: `a` is new and is copied.
pub(crate) fn crash_leftover(a: &Attachment, unpaired: &[&Attachment], ferry: &str) -> Option<Leftover> {
    let same = unpaired.iter().filter(|t| t.name == a.name && t.size == a.size);
    let mut by_person = None;
    for t in same {
        match &t.author {
            None => return Some(Leftover::CopyOfSource(t.id.clone())),
            Some(u) if u.id == ferry => return Some(Leftover::CopyOfSource(t.id.clone())),
            Some(_) => by_person = by_person.or(Some(t.id.clone())),
        }
    }
    by_person.filter(|_| a.author.is_none()).map(Leftover::OriginalOfSource)
}

/// The copies a crash left whose original a person deleted before the retry: for each of
/// `side`'s intents whose original is no longer in `source`, the unpaired target file that
/// is its copy (same name and size, by the integration user `ferry` or by an author the
/// system does not name), or `None` when the upload never reached the target. A person's
/// file of the same name is never taken for it; each file answers one intent.
pub(crate) fn abandoned_copies(
    intents: &[CopyIntent],
    side: Side,
    source: &[Attachment],
    unpaired: &[&Attachment],
    ferry: &str,
) -> Vec<(CopyIntent, Option<String>)> {
    let mut taken: Vec<&str> = Vec::new();
    intents
        .iter()
        .filter(|i| i.original == side && !source.iter().any(|a| a.id == i.id))
        .map(|i| {
            let copy = unpaired.iter().find(|t| {
                t.name == i.name
                    && t.size == i.size
                    && t.author.as_ref().is_none_or(|u| u.id == ferry)
                    && !taken.contains(&t.id.as_str())
            });
            if let Some(t) = copy {
                taken.push(&t.id);
            }
            (i.clone(), copy.map(|t| t.id.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use ferry_domain::UserRef;

    fn file(id: &str, name: &str, author: Option<&str>) -> Attachment {
        Attachment {
            id: id.into(),
            name: name.into(),
            size: 10,
            mime_type: None,
            author: author.map(|a| UserRef { id: a.into(), email: None, display_name: None }),
            created: DateTime::<Utc>::MIN_UTC,
            url: String::new(),
        }
    }

    #[test]
    fn an_unpaired_file_of_the_same_name_and_size_on_the_target_is_a_crashed_copys_other_half() {
        use Leftover::*;
        let (person, unknown) = (Some("alice"), None);
        // (source file's author, target files (id, name, author), expected)
        type Row<'a> = (Option<&'a str>, &'a [(&'a str, &'a str, Option<&'a str>)], Option<Leftover>);
        let table: [Row; 7] = [
            (person, &[], None),
            (person, &[("t1", "a.txt", Some("bot"))], Some(CopyOfSource("t1".into()))),
            // Azure DevOps names no author: a same-named file there is taken as the copy.
            (person, &[("t1", "a.txt", unknown)], Some(CopyOfSource("t1".into()))),
            // Another name is another file.
            (person, &[("t1", "b.txt", Some("bot"))], None),
            // A person's file of the same name on the target, the source's author named:
            // two people's files, both synced.
            (person, &[("t1", "a.txt", Some("bob"))], None),
            // The source file names no author and the target holds a person's file of the
            // same name and size: the source file is Ferry's copy of it.
            (unknown, &[("t1", "a.txt", Some("bob"))], Some(OriginalOfSource("t1".into()))),
            (unknown, &[("t1", "a.txt", Some("bob")), ("t2", "a.txt", Some("bot"))], Some(CopyOfSource("t2".into()))),
        ];
        for (author, target, want) in table {
            let files: Vec<Attachment> = target.iter().map(|(id, n, a)| file(id, n, *a)).collect();
            let refs: Vec<&Attachment> = files.iter().collect();
            assert_eq!(crash_leftover(&file("s1", "a.txt", author), &refs, "bot"), want, "{author:?} {target:?}");
        }
    }

    #[test]
    fn a_copy_whose_original_is_gone_is_found_by_its_intent_and_a_persons_file_is_kept() {
        let intent =
            |id: &str, name: &str| CopyIntent { original: Side::Right, id: id.into(), name: name.into(), size: 10 };
        let of_left = CopyIntent { original: Side::Left, ..intent("s9", "a.txt") };
        // (intents, source file ids still there, unpaired target files (id, name, author), expected)
        type Row<'a> = (
            Vec<CopyIntent>,
            &'a [&'a str],
            &'a [(&'a str, &'a str, Option<&'a str>)],
            Vec<(&'a str, Option<&'a str>)>,
        );
        let table: Vec<Row> = vec![
            (vec![], &[], &[("t1", "a.txt", Some("bot"))], vec![]),
            // The original is still there: the copy loop pairs the leftover.
            (vec![intent("s1", "a.txt")], &["s1"], &[("t1", "a.txt", Some("bot"))], vec![]),
            (vec![intent("s1", "a.txt")], &[], &[("t1", "a.txt", Some("bot"))], vec![("s1", Some("t1"))]),
            // Azure DevOps names no author: the intent says the file is Ferry's.
            (vec![intent("s1", "a.txt")], &[], &[("t1", "a.txt", None)], vec![("s1", Some("t1"))]),
            // The upload never reached the target.
            (vec![intent("s1", "a.txt")], &[], &[("t1", "b.txt", Some("bot"))], vec![("s1", None)]),
            // A person's file of the same name and size is theirs.
            (vec![intent("s1", "a.txt")], &[], &[("t1", "a.txt", Some("bob"))], vec![("s1", None)]),
            // Two intents of the same name: one file each.
            (
                vec![intent("s1", "a.txt"), intent("s2", "a.txt")],
                &[],
                &[("t1", "a.txt", Some("bot"))],
                vec![("s1", Some("t1")), ("s2", None)],
            ),
            // The other direction's intents are the other direction's.
            (vec![of_left], &[], &[("t1", "a.txt", Some("bot"))], vec![]),
        ];
        for (intents, there, target, want) in table {
            let source: Vec<Attachment> = there.iter().map(|id| file(id, "a.txt", Some("alice"))).collect();
            let files: Vec<Attachment> = target.iter().map(|(id, n, a)| file(id, n, *a)).collect();
            let refs: Vec<&Attachment> = files.iter().collect();
            let got = abandoned_copies(&intents, Side::Right, &source, &refs, "bot");
            let got: Vec<(&str, Option<&str>)> = got.iter().map(|(i, c)| (i.id.as_str(), c.as_deref())).collect();
            assert_eq!(got, want, "{intents:?} {there:?} {target:?}");
        }
    }
}
