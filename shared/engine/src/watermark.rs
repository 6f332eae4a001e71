//! How a poll moves a watermark, page by page: where a read starts, which entities of a
//! page are new, what the seen revisions keep, and when a later read must go back over
//! pages that were read too soon after their changes.
//!
//! The model: a source's search may show a change late (index lag), but never later
//! than the integration's overlap window after its `updated`. A page listed at the
//! source's time `as_of` therefore shows every change before `as_of - overlap`; a page
//! whose position came closer to `as_of` than that may have missed some, and the next
//! read starts early enough to list them again ([`page_rescan`]). Everything else is
//! read once: a read continues from its position, never from an offset, and entities
//! sharing an instant across a page boundary are told apart by the seen revisions.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ferry_domain::{ChangePage, EntityId, EntitySnapshot, OutsideRead, ReadState, SeenRevision, Watermark};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A revision read less than this after its `updated` keeps its revision in the seen
/// set: a second edit within the same second (Redmine's precision) would show the same
/// `updated`. Two seconds, for the HTTP `Date` header's own whole seconds.
pub(crate) const FRESH: ChronoDuration = ChronoDuration::seconds(2);
/// At most this many seen revisions stay in a watermark (the newest). A burst of this
/// many changes inside one overlap window is deduplicated exactly; beyond it the oldest
/// fall out, and a re-read of one is enqueued again and dropped downstream (the queue's
/// deduplication id, the transform's stale check). 20,000 entries are about 560 KB of
/// JSON and 130 KB deflated (DynamoDB's item limit is 400 KB).
pub(crate) const SEEN_MAX: usize = 20_000;

/// Which read of a direction a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// The changes the flow syncs (matching its filter, if any).
    Main,
    /// Changes outside the filter, synced for linked entities (filter exit: keep syncing).
    Outside,
}

/// The position and read state of one stream of a watermark.
pub(crate) fn stream_state(mark: &Watermark, stream: Stream) -> (DateTime<Utc>, ReadState) {
    match (stream, &mark.outside) {
        (Stream::Main, _) => (mark.cursor, mark.read.clone()),
        (Stream::Outside, Some(o)) => (o.cursor, o.read.clone()),
        // Not started yet (see [`start_outside`]).
        (Stream::Outside, None) => (mark.cursor, ReadState::default()),
    }
}

/// Starts the outside read of a watermark that has none where the main read stands,
/// going back one overlap as a read near the head does. A poll calls this before it
/// reads any page, so no change the main read passes first is missed.
pub(crate) fn start_outside(mark: &mut Watermark, overlap: ChronoDuration) {
    if mark.outside.is_none() {
        let read = ReadState { resume: None, rescan_from: Some(mark.cursor - overlap), rescanned_at: None };
        mark.outside = Some(OutsideRead { cursor: mark.cursor, read });
    }
}

pub(crate) fn set_stream_state(mark: &mut Watermark, stream: Stream, cursor: DateTime<Utc>, read: ReadState) {
    match stream {
        Stream::Main => {
            mark.cursor = cursor;
            mark.read = read;
        }
        Stream::Outside => mark.outside = Some(OutsideRead { cursor, read }),
    }
}

/// One page of a stream as a poll read and handled it.
pub(crate) struct PageRead<'a> {
    pub stream: Stream,
    /// The stream's cursor before the page.
    pub cursor: DateTime<Utc>,
    /// The stream's read state before the page, its resume token taken.
    pub read: ReadState,
    pub page: &'a ChangePage,
    /// The seen revisions of the entities the page handled ([`seen_entry`]).
    pub handled: Vec<(EntityId, SeenRevision)>,
    pub overlap: ChronoDuration,
    pub now: DateTime<Utc>,
    /// Every stream the poll reads (the seen revisions any of them still needs stay).
    pub streams: &'a [Stream],
}

/// The watermark after a page, once its changes are enqueued: the only place a
/// watermark advances. The stream's cursor moves up to the page's position (never back),
/// the read resumes after the page (or ends with it), the rescan bound takes the
/// earlier of the read's and the page's ([`page_rescan`]), the seen revisions add what
/// the page handled ([`seen_window`]), and the version goes up by one: the store puts
/// the result only over the version it was read at, so of two polls one advances it.
pub(crate) fn after_page(mark: &Watermark, p: PageRead<'_>) -> Watermark {
    let PageRead { stream, cursor, mut read, page, handled, overlap, now, streams } = p;
    let mut next = mark.clone();
    read.resume = page.next.clone();
    read.rescan_from = earliest(read.rescan_from, page_rescan(page.through, page.as_of, overlap));
    set_stream_state(&mut next, stream, page.through.map_or(cursor, |t| t.max(cursor)), read);
    next.last_poll = Some(now);
    next.version = mark.version + 1;
    next.seen = seen_window(&mark.seen, handled, seen_needed_from(&next, streams));
    next
}

/// The earliest instant a new read of a stream may have to start at: its cursor, or
/// earlier where pages read too soon must be listed again.
pub(crate) fn read_start(cursor: DateTime<Utc>, read: &ReadState) -> DateTime<Utc> {
    read.rescan_from.map_or(cursor, |r| r.min(cursor))
}

/// Where a new read of a stream starts at `now`, and whether it is a rescan (it goes
/// back to the rescan bound, which it then clears and sets anew from its own pages).
///
/// A scheduled poll always rescans. A poll that answers a webhook's request (`requested`)
/// reads from the cursor, where the change that rang is, unless `rescan_every` has passed
/// since the last rescan: with hooks, polls come every second or so, and rescanning the
/// overlap window each time would re-read every change of the last minutes at each
/// delivery. Nothing is missed: the bound is kept (the pages of the quick reads can only
/// lower it), so the next rescan lists every change the search showed late, and a change
/// the search shows within the overlap is listed by the first rescan after that, whose
/// bound is at most the overlap before the previous rescan's pages.
pub(crate) fn new_read(
    cursor: DateTime<Utc>,
    read: &ReadState,
    requested: bool,
    now: DateTime<Utc>,
    rescan_every: ChronoDuration,
) -> (DateTime<Utc>, bool) {
    let Some(_) = read.rescan_from else { return (cursor, false) };
    let due = !requested || read.rescanned_at.is_none_or(|t| now - t >= rescan_every);
    if due {
        (read_start(cursor, read), true)
    } else {
        (cursor, false)
    }
}

/// The rescan bound a page adds: `as_of - overlap` when the page's position came
/// within the overlap of the source's clock (its search may not have shown every change
/// up to there yet), else none. Without the source's clock, the page is taken to be at
/// the head.
pub(crate) fn page_rescan(
    through: Option<DateTime<Utc>>,
    as_of: Option<DateTime<Utc>>,
    overlap: ChronoDuration,
) -> Option<DateTime<Utc>> {
    let through = through?;
    match as_of {
        Some(now) => (through > now - overlap).then_some(now - overlap),
        None => Some(through - overlap),
    }
}

/// Earlier of two optional bounds.
pub(crate) fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What a poll does with one entity of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Updated at or before the start polling time: never synced.
    BeforeStart,
    /// Before the read's lower bound (the source widened it), or a revision handled
    /// before: not a change.
    Duplicate,
    New,
}

pub(crate) fn classify(
    snapshot: &EntitySnapshot,
    floor: DateTime<Utc>,
    since: DateTime<Utc>,
    seen: Option<&SeenRevision>,
) -> Verdict {
    if snapshot.updated <= floor {
        Verdict::BeforeStart
    } else if snapshot.updated < since || seen.is_some_and(|s| s.covers(&snapshot.revision, snapshot.updated)) {
        Verdict::Duplicate
    } else {
        Verdict::New
    }
}

/// The seen entry of a snapshot the source listed at `as_of`: the revision is kept only
/// while `updated` alone may not name it ([`FRESH`]; always without the source's clock).
pub(crate) fn seen_entry(snapshot: &EntitySnapshot, as_of: Option<DateTime<Utc>>) -> SeenRevision {
    let settled = as_of.is_some_and(|t| t - snapshot.updated >= FRESH);
    SeenRevision { revision: (!settled).then(|| snapshot.revision.clone()), updated: snapshot.updated }
}

/// The seen set a page stores: the old one plus what it handled (a newer read of an
/// entity replaces an older one), without entities updated before `keep_from` (no later
/// read lists them again), and at most [`SEEN_MAX`] of the newest.
pub(crate) fn seen_window(
    old: &BTreeMap<EntityId, SeenRevision>,
    handled: Vec<(EntityId, SeenRevision)>,
    keep_from: DateTime<Utc>,
) -> BTreeMap<EntityId, SeenRevision> {
    let mut seen = old.clone();
    for (e, s) in handled {
        if seen.get(&e).is_none_or(|o| o.updated <= s.updated) {
            seen.insert(e, s);
        }
    }
    seen.retain(|_, s| s.updated >= keep_from);
    if seen.len() > SEEN_MAX {
        let mut newest: Vec<_> = seen.into_iter().collect();
        newest.sort_by(|a, b| b.1.updated.cmp(&a.1.updated).then_with(|| a.0.cmp(&b.0)));
        newest.truncate(SEEN_MAX);
        seen = newest.into_iter().collect();
    }
    seen
}

/// The earliest instant a later read of any stream of `mark` may start at: seen
/// revisions before it are never needed again.
pub(crate) fn seen_needed_from(mark: &Watermark, streams: &[Stream]) -> DateTime<Utc> {
    streams
        .iter()
        .map(|s| {
            let (cursor, read) = stream_state(mark, *s);
            read_start(cursor, &read)
        })
        .min()
        .unwrap_or(mark.cursor)
}

/// A poll's time budget, spent page by page: another page starts only if it would end
/// within the budget at the pace of the slowest page so far.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    started: Instant,
    limit: Duration,
    slowest: Duration,
}

impl Budget {
    pub(crate) fn new(started: Instant, limit: Duration) -> Self {
        Self { started, limit, slowest: Duration::ZERO }
    }
    pub(crate) fn page_took(&mut self, d: Duration) {
        self.slowest = self.slowest.max(d);
    }
    pub(crate) fn allows_page(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) + self.slowest <= self.limit
    }
}

/// A poll's budget and lease for a requested budget: the budget stays within four
/// fifths of the longest lease a poll may hold (so the lease outlives the work), and the
/// lease lasts the budget and half again, so a poll that dies blocks its direction for
/// little longer than it would have run.
pub(crate) fn budget_and_lease(requested: Duration, max_lease: Duration) -> (Duration, Duration) {
    let budget = requested.min(max_lease * 4 / 5);
    let lease = max_lease.min(budget + budget / 2 + Duration::from_secs(1));
    (budget, lease)
}

/// The budget of a poll that must end by a deadline `remaining` from now (a Lambda
/// invocation's): a fifth of it, at least two seconds, stays in reserve for the page
/// that is running when the budget ends and for the reply.
pub fn budget_before_deadline(remaining: Duration) -> Duration {
    remaining.saturating_sub((remaining / 5).max(Duration::from_secs(2)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + secs, 0).expect("in range")
    }

    fn rev(r: Option<&str>, secs: i64) -> SeenRevision {
        SeenRevision { revision: r.map(str::to_string), updated: at(secs) }
    }

    fn snap(id: &str, revision: &str, secs: i64) -> EntitySnapshot {
        EntitySnapshot {
            id: EntityId::new(id),
            key: id.into(),
            revision: revision.into(),
            updated: at(secs),
            changed_by: None,
            url: String::new(),
            fields: BTreeMap::new(),
        }
    }

    #[test]
    fn a_page_moves_the_cursor_forward_only_resumes_after_itself_and_bumps_the_version() {
        use ferry_domain::ReadToken;
        let overlap = ChronoDuration::seconds(120);
        let mark = Watermark { cursor: at(500), version: 7, ..Watermark::starting_at(at(0)) };
        let page = |through: Option<i64>, as_of: i64, next: Option<&str>| ChangePage {
            snapshots: Vec::new(),
            unchanged: 0,
            through: through.map(at),
            as_of: Some(at(as_of)),
            next: next.map(|n| ReadToken(n.into())),
        };
        // (page, cursor after, resume after, rescan bound after)
        let table = [
            (page(Some(600), 5000, Some("p2")), at(600), Some("p2"), None),
            (page(Some(400), 5000, None), at(500), None, None),
            (page(None, 5000, None), at(500), None, None),
            (page(Some(4950), 5000, None), at(4950), None, Some(at(4880))),
        ];
        for (p, cursor, resume, rescan) in table {
            let read = PageRead {
                stream: Stream::Main,
                cursor: mark.cursor,
                read: ReadState::default(),
                page: &p,
                handled: vec![(EntityId::new("7"), rev(Some("r1"), 4990))],
                overlap,
                now: at(5001),
                streams: &[Stream::Main],
            };
            let next = after_page(&mark, read);
            let through = p.through;
            assert_eq!(next.cursor, cursor, "page through {through:?}");
            assert_eq!(next.read.resume.as_ref().map(|t| t.0.as_str()), resume, "page through {through:?}");
            assert_eq!(next.read.rescan_from, rescan, "page through {through:?}");
            assert_eq!((next.version, next.last_poll), (8, Some(at(5001))));
            assert!(next.seen.contains_key(&EntityId::new("7")), "the handled revision is remembered");
        }
    }

    #[test]
    fn entities_of_a_page_are_new_duplicates_or_before_the_start() {
        use Verdict::*;
        let floor = at(0);
        let since = at(100);
        // (snapshot at, seen entry, verdict)
        let cases = [
            (0, None, BeforeStart),
            (99, None, Duplicate),
            (100, None, New),
            (150, Some(rev(None, 150)), Duplicate),
            (150, Some(rev(None, 149)), New),
            (150, Some(rev(None, 151)), Duplicate),
            (150, Some(rev(Some("r1"), 150)), Duplicate),
            (150, Some(rev(Some("r0"), 150)), New),
        ];
        for (secs, seen, want) in cases {
            let s = snap("7", "r1", secs);
            assert_eq!(classify(&s, floor, since, seen.as_ref()), want, "at {secs}, seen {seen:?}");
        }
    }

    #[test]
    fn a_revision_read_soon_after_its_update_keeps_its_revision_until_a_later_read() {
        let s = snap("7", "2026-11-26T10:00:05Z#31", 5);
        assert_eq!(seen_entry(&s, Some(at(6))), rev(Some("2026-11-26T10:00:05Z#31"), 5), "read a second later");
        assert_eq!(seen_entry(&s, None), rev(Some("2026-11-26T10:00:05Z#31"), 5), "the source's clock unknown");
        assert_eq!(seen_entry(&s, Some(at(7))), rev(None, 5));
        // A listing may skip the full read only for a settled entry.
        assert!(rev(None, 5).covers_listed(at(5)));
        assert!(!rev(Some("x"), 5).covers_listed(at(5)), "a second edit in that second looks the same");
        assert!(rev(Some("x"), 6).covers_listed(at(5)));
        assert!(!rev(None, 5).covers_listed(at(6)));
    }

    #[test]
    fn the_rescan_bound_covers_pages_read_within_the_overlap_of_their_changes() {
        let overlap = ChronoDuration::seconds(120);
        assert_eq!(page_rescan(Some(at(1000)), Some(at(1010)), overlap), Some(at(890)), "at the head");
        assert_eq!(page_rescan(Some(at(100)), Some(at(1010)), overlap), None, "deep in a backlog");
        assert_eq!(page_rescan(Some(at(890)), Some(at(1010)), overlap), None, "exactly one overlap behind");
        assert_eq!(page_rescan(None, Some(at(1010)), overlap), None, "a page that listed nothing");
        assert_eq!(page_rescan(Some(at(100)), None, overlap), Some(at(-20)), "the source's clock unknown");
        assert_eq!(earliest(Some(at(5)), Some(at(3))), Some(at(3)));
        assert_eq!(earliest(None, Some(at(3))), Some(at(3)));
        assert_eq!(earliest(None, None), None);
    }

    #[test]
    fn a_new_read_starts_at_the_cursor_or_earlier_at_the_rescan_bound() {
        let idle = ReadState::default();
        assert_eq!(read_start(at(50), &idle), at(50));
        let rescan = ReadState { resume: None, rescan_from: Some(at(20)), rescanned_at: None };
        assert_eq!(read_start(at(50), &rescan), at(20));
        let later = ReadState { resume: None, rescan_from: Some(at(70)), rescanned_at: None };
        assert_eq!(read_start(at(50), &later), at(50), "never after the cursor");
    }

    #[test]
    fn a_requested_poll_reads_from_the_cursor_until_a_rescan_is_due_and_a_scheduled_one_always_rescans() {
        let every = ChronoDuration::seconds(30);
        let state = |bound: Option<i64>, rescanned: Option<i64>| ReadState {
            resume: None,
            rescan_from: bound.map(at),
            rescanned_at: rescanned.map(at),
        };
        // (case, read state, requested, now, start, rescan)
        let cases = [
            ("nothing to rescan", state(None, Some(90)), true, 100, at(500), false),
            ("nothing to rescan, scheduled", state(None, None), false, 100, at(500), false),
            ("scheduled rescans at once", state(Some(380), Some(99)), false, 100, at(380), true),
            ("requested, rescanned 10 s ago", state(Some(380), Some(90)), true, 100, at(500), false),
            ("requested, rescanned 30 s ago", state(Some(380), Some(70)), true, 100, at(380), true),
            ("requested, never rescanned", state(Some(380), None), true, 100, at(380), true),
            ("a bound after the cursor starts at the cursor", state(Some(600), None), false, 100, at(500), true),
        ];
        for (case, read, requested, now, start, rescan) in cases {
            assert_eq!(new_read(at(500), &read, requested, at(now), every), (start, rescan), "{case}");
        }
        let always = ChronoDuration::zero();
        assert_eq!(new_read(at(500), &state(Some(380), Some(100)), true, at(100), always), (at(380), true));
    }

    #[test]
    fn the_seen_window_keeps_the_newest_revision_and_drops_what_no_read_lists_again() {
        let old = BTreeMap::from([
            (EntityId::new("1"), rev(Some("a"), 10)),
            (EntityId::new("2"), rev(Some("b"), 50)),
            (EntityId::new("3"), rev(None, 60)),
        ]);
        let handled = vec![
            (EntityId::new("2"), rev(None, 70)),
            // An older read of 3 (a lagging search) does not replace the newer one.
            (EntityId::new("3"), rev(Some("c0"), 55)),
            (EntityId::new("4"), rev(Some("d"), 80)),
        ];
        let seen = seen_window(&old, handled, at(20));
        assert_eq!(
            seen,
            BTreeMap::from([
                (EntityId::new("2"), rev(None, 70)),
                (EntityId::new("3"), rev(None, 60)),
                (EntityId::new("4"), rev(Some("d"), 80)),
            ]),
            "1 was updated before the window"
        );
    }

    #[test]
    fn the_seen_window_keeps_at_most_its_cap_of_the_newest() {
        let handled: Vec<_> = (0..SEEN_MAX as i64 + 5).map(|i| (EntityId::new(format!("{i}")), rev(None, i))).collect();
        let seen = seen_window(&BTreeMap::new(), handled, at(0));
        assert_eq!(seen.len(), SEEN_MAX);
        assert!(seen.values().all(|s| s.updated >= at(5)), "the five oldest fell out");
    }

    #[test]
    fn a_burst_of_five_thousand_tied_changes_fits_the_seen_set() {
        let handled: Vec<_> = (0..5000).map(|i| (EntityId::new(format!("{}", 10_000 + i)), rev(None, 7))).collect();
        let seen = seen_window(&BTreeMap::new(), handled, at(7));
        assert_eq!(seen.len(), 5000);
        let json = serde_json::to_string(&seen).expect("encodes");
        assert!(json.len() < 150_000, "{} bytes of JSON", json.len());
    }

    #[test]
    fn seen_revisions_are_needed_from_the_earliest_start_of_any_stream() {
        let mut mark = Watermark::starting_at(at(0));
        mark.cursor = at(100);
        mark.read.rescan_from = Some(at(80));
        assert_eq!(seen_needed_from(&mark, &[Stream::Main]), at(80));
        mark.outside = Some(OutsideRead { cursor: at(60), read: ReadState::default() });
        assert_eq!(seen_needed_from(&mark, &[Stream::Main, Stream::Outside]), at(60));
        let mut fresh = Watermark { outside: None, ..mark.clone() };
        start_outside(&mut fresh, ChronoDuration::seconds(30));
        let (cursor, read) = stream_state(&fresh, Stream::Outside);
        assert_eq!((cursor, read_start(cursor, &read)), (at(100), at(70)), "an outside read starts one overlap back");
        start_outside(&mut mark, ChronoDuration::seconds(30));
        assert_eq!(stream_state(&mark, Stream::Outside).0, at(60), "a started one is kept");
    }

    #[test]
    fn the_budget_admits_a_page_only_if_it_ends_in_time_at_the_slowest_pace() {
        let t0 = Instant::now();
        let mut b = Budget::new(t0, Duration::from_secs(10));
        assert!(b.allows_page(t0));
        b.page_took(Duration::from_secs(3));
        assert!(b.allows_page(t0 + Duration::from_secs(7)));
        assert!(!b.allows_page(t0 + Duration::from_millis(7001)));
        b.page_took(Duration::from_secs(1));
        assert!(!b.allows_page(t0 + Duration::from_millis(7001)), "the slowest page sets the pace");
    }

    #[test]
    fn the_lease_outlives_the_budget_and_a_dead_poll_blocks_little_longer() {
        let s = Duration::from_secs;
        assert_eq!(budget_and_lease(s(30), s(300)), (s(30), s(46)));
        assert_eq!(budget_and_lease(s(600), s(300)), (s(240), s(300)));
        assert_eq!(budget_and_lease(s(30), s(2)), (Duration::from_millis(1600), s(2)));
        assert_eq!(budget_before_deadline(s(30)), s(24));
        assert_eq!(budget_before_deadline(s(5)), s(3));
        assert_eq!(budget_before_deadline(s(1)), Duration::ZERO);
    }
}
