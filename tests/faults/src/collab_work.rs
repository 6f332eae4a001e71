//! People at work on the conversation and structure around the bugs: they post, edit
//! and delete comments, upload small files and delete some, and add a Blocks link
//! between two bugs and remove some, on both sides, each as the person they are. The
//! model remembers what each person made (and its latest text, or that it is gone) so
//! the collaboration oracle can tell a lost, duplicated or echoed copy.
//!
//! Parents are not part of the workload: the suite's integration syncs one type (Bug),
//! and Jira keeps a parent one hierarchy level above its children (an epic above bugs),
//! so no bug of the integration can be another's parent.

use crate::workload::{People, Workload, PEOPLE};
use crate::world::World;
use anyhow::Result;
use async_trait::async_trait;
use ferry_domain::{ByteSource, CommentWrite, EntityId, PortError, Relation, Side};
use ferry_runtime::actor::Actor;
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::{BTreeSet, HashMap};

/// The link type people use on each side (the integration's `links:` pairs them).
pub fn blocks_type(side: Side) -> &'static str {
    match side {
        Side::Left => "Blocks",
        Side::Right => "System.LinkTypes.Dependency",
    }
}

/// A comment a person posted: `Note k<n> v<version> ...`.
#[derive(Debug, Clone)]
pub struct PersonComment {
    pub pair: usize,
    pub side: Side,
    pub entity: EntityId,
    pub id: String,
    /// Index into [`PEOPLE`]: who posted it (and edits or deletes it).
    pub person: usize,
    pub n: u64,
    pub version: u32,
    pub deleted: bool,
    /// When the last edit was made (Azure DevOps writes no revision for an edit).
    pub edited_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl PersonComment {
    /// The text that names this comment in any version (`Note k12 v`).
    pub fn stem(&self) -> String {
        format!("Note k{} v", self.n)
    }
    pub fn text(&self) -> String {
        format!("Note k{} v{} ", self.n, self.version)
    }
}

/// A file a person uploaded: `f<n>.txt`.
#[derive(Debug, Clone)]
pub struct PersonFile {
    pub pair: usize,
    pub side: Side,
    pub entity: EntityId,
    pub id: String,
    pub person: usize,
    pub name: String,
    pub size: u64,
    pub deleted: bool,
}

/// A Blocks link a person made on `side`: `from` blocks `to` (pair indexes).
#[derive(Debug, Clone)]
pub struct PersonLink {
    pub side: Side,
    pub from: usize,
    pub to: usize,
    pub person: usize,
    pub removed: bool,
}

/// One round's collaboration changes.
#[derive(Debug, Default, Clone, Copy)]
pub struct CollabMade {
    pub comments_posted: usize,
    pub comments_edited: usize,
    pub comments_deleted: usize,
    pub files_uploaded: usize,
    pub files_deleted: usize,
    pub links_added: usize,
    pub links_removed: usize,
}

impl CollabMade {
    pub fn total(&self) -> usize {
        self.comments_posted
            + self.comments_edited
            + self.comments_deleted
            + self.files_uploaded
            + self.files_deleted
            + self.links_added
            + self.links_removed
    }

    pub fn add(&mut self, o: &CollabMade) {
        self.comments_posted += o.comments_posted;
        self.comments_edited += o.comments_edited;
        self.comments_deleted += o.comments_deleted;
        self.files_uploaded += o.files_uploaded;
        self.files_deleted += o.files_deleted;
        self.links_added += o.links_added;
        self.links_removed += o.links_removed;
    }
}

#[derive(Default)]
pub struct CollabWork {
    pub comments: Vec<PersonComment>,
    pub files: Vec<PersonFile>,
    pub links: Vec<PersonLink>,
    /// Unordered pairs of pairs a link was ever made between: never linked again, so a
    /// removal still on its way cannot meet a new link of the same two bugs.
    linked: BTreeSet<(usize, usize)>,
    /// The twin of each pair Ferry linked so far (pair index → the twin's id).
    twins: HashMap<usize, EntityId>,
    next: u64,
}

/// What a person does next.
#[derive(Clone, Copy)]
enum Act {
    Post,
    Edit,
    DeleteComment,
    Upload,
    DeleteFile,
    Link,
    Unlink,
}

/// (action, weight): mostly new comments and files, some edits and deletions.
const ACTS: [(Act, u32); 7] = [
    (Act::Post, 30),
    (Act::Edit, 15),
    (Act::DeleteComment, 8),
    (Act::Upload, 20),
    (Act::DeleteFile, 7),
    (Act::Link, 14),
    (Act::Unlink, 6),
];

impl CollabWork {
    /// Learns the twins Ferry linked since the last round, so people work on both sides.
    pub async fn learn_twins(&mut self, world: &World, work: &Workload) -> Result<()> {
        for (i, pair) in work.pairs.iter().enumerate() {
            if self.twins.contains_key(&i) {
                continue;
            }
            let origin = &pair.ids[&pair.origin].0;
            if let Some(link) = world.state.get_link(world.id(), pair.origin, origin).await? {
                self.twins.insert(i, link.side(pair.origin.other()).id.clone());
            }
        }
        Ok(())
    }

    /// Pair `p`'s entity on `side`, if it exists (as far as this model knows).
    fn entity(&self, work: &Workload, p: usize, side: Side) -> Option<EntityId> {
        let pair = &work.pairs[p];
        if pair.origin == side {
            Some(pair.ids[&side].0.clone())
        } else {
            self.twins.get(&p).cloned()
        }
    }

    /// Makes up to `n` collaboration changes on the pairs of `work`.
    pub async fn round(&mut self, n: usize, work: &Workload, people: &People, rng: &mut StdRng) -> Result<CollabMade> {
        let mut made = CollabMade::default();
        if work.pairs.is_empty() {
            return Ok(made);
        }
        let total: u32 = ACTS.iter().map(|a| a.1).sum();
        for _ in 0..n {
            let mut roll = rng.gen_range(0..total);
            let mut act = Act::Post;
            for (a, w) in ACTS {
                if roll < w {
                    act = a;
                    break;
                }
                roll -= w;
            }
            match act {
                Act::Post => made.comments_posted += usize::from(self.post(work, people, rng).await?),
                Act::Edit => made.comments_edited += usize::from(self.edit(people, rng).await?),
                Act::DeleteComment => made.comments_deleted += usize::from(self.delete_comment(people, rng).await?),
                Act::Upload => made.files_uploaded += usize::from(self.upload(work, people, rng).await?),
                Act::DeleteFile => made.files_deleted += usize::from(self.delete_file(people, rng).await?),
                Act::Link => made.links_added += usize::from(self.link(work, people, rng).await?),
                Act::Unlink => made.links_removed += usize::from(self.unlink(work, people, rng).await?),
            }
        }
        Ok(made)
    }

    /// A pair and one of its sides that exists (the twin side only once linked).
    fn pick_entity(&self, work: &Workload, rng: &mut StdRng) -> (usize, Side, EntityId) {
        let p = rng.gen_range(0..work.pairs.len());
        let origin = work.pairs[p].origin;
        let side = if self.twins.contains_key(&p) && rng.gen_bool(0.5) { origin.other() } else { origin };
        let id = self.entity(work, p, side).unwrap_or_else(|| work.pairs[p].ids[&origin].0.clone());
        (p, side, id)
    }

    async fn post(&mut self, work: &Workload, people: &People, rng: &mut StdRng) -> Result<bool> {
        let (pair, side, entity) = self.pick_entity(work, rng);
        let person = rng.gen_range(0..PEOPLE.len());
        self.next += 1;
        let mut c = PersonComment {
            pair,
            side,
            entity,
            id: String::new(),
            person,
            n: self.next,
            version: 1,
            deleted: false,
            edited_at: None,
        };
        let a = actor(people, side, person);
        let made = a.conn.add_comment(&a.scope, &c.entity, &said(&c)).await?;
        c.id = made.id;
        self.comments.push(c);
        Ok(true)
    }

    async fn edit(&mut self, people: &People, rng: &mut StdRng) -> Result<bool> {
        let Some(i) = pick_live(&self.comments, |c| !c.deleted, rng) else { return Ok(false) };
        let c = &mut self.comments[i];
        c.version += 1;
        let a = actor(people, c.side, c.person);
        a.conn.edit_comment(&a.scope, &c.entity, &c.id, &said(c)).await?;
        c.edited_at = Some(chrono::Utc::now());
        Ok(true)
    }

    async fn delete_comment(&mut self, people: &People, rng: &mut StdRng) -> Result<bool> {
        let Some(i) = pick_live(&self.comments, |c| !c.deleted, rng) else { return Ok(false) };
        let c = &mut self.comments[i];
        let a = actor(people, c.side, c.person);
        a.conn.delete_comment(&a.scope, &c.entity, &c.id).await?;
        c.deleted = true;
        Ok(true)
    }

    async fn upload(&mut self, work: &Workload, people: &People, rng: &mut StdRng) -> Result<bool> {
        let (pair, side, entity) = self.pick_entity(work, rng);
        let person = rng.gen_range(0..PEOPLE.len());
        self.next += 1;
        let name = format!("f{}.txt", self.next);
        let size = rng.gen_range(64..4096u64);
        let a = actor(people, side, person);
        let mut bytes = Bytes { left: size, state: self.next };
        let made = a.conn.upload(&a.scope, &entity, &name, size, &mut bytes).await?;
        self.files.push(PersonFile { pair, side, entity, id: made.id, person, name, size, deleted: false });
        Ok(true)
    }

    async fn delete_file(&mut self, people: &People, rng: &mut StdRng) -> Result<bool> {
        let Some(i) = pick_live(&self.files, |f| !f.deleted, rng) else { return Ok(false) };
        let f = &mut self.files[i];
        let a = actor(people, f.side, f.person);
        a.conn.delete_attachment(&a.scope, &f.entity, &f.id).await?;
        f.deleted = true;
        Ok(true)
    }

    /// A Blocks link between two bugs that both exist on the side it is made on.
    async fn link(&mut self, work: &Workload, people: &People, rng: &mut StdRng) -> Result<bool> {
        let side = if rng.gen_bool(0.5) { Side::Left } else { Side::Right };
        let on_side: Vec<(usize, EntityId)> =
            (0..work.pairs.len()).filter_map(|p| Some((p, self.entity(work, p, side)?))).collect();
        if on_side.len() < 2 {
            return Ok(false);
        }
        for _ in 0..10 {
            let (from, from_id) = &on_side[rng.gen_range(0..on_side.len())];
            let (to, to_id) = &on_side[rng.gen_range(0..on_side.len())];
            let (from, to) = (*from, *to);
            if from == to || self.linked.contains(&(from.min(to), from.max(to))) {
                continue;
            }
            let person = rng.gen_range(0..PEOPLE.len());
            let a = actor(people, side, person);
            a.conn.add_relation(&a.scope, from_id, &blocks(side, to_id)).await?;
            self.linked.insert((from.min(to), from.max(to)));
            self.links.push(PersonLink { side, from, to, person, removed: false });
            return Ok(true);
        }
        Ok(false)
    }

    async fn unlink(&mut self, work: &Workload, people: &People, rng: &mut StdRng) -> Result<bool> {
        let Some(i) = pick_live(&self.links, |l| !l.removed, rng) else { return Ok(false) };
        let l = &self.links[i];
        let (Some(from), Some(to)) = (self.entity(work, l.from, l.side), self.entity(work, l.to, l.side)) else {
            return Ok(false);
        };
        let a = actor(people, l.side, l.person);
        a.conn.remove_relation(&a.scope, &from, &blocks(l.side, &to)).await?;
        self.links[i].removed = true;
        Ok(true)
    }
}

fn blocks(side: Side, other: &EntityId) -> Relation {
    Relation::Link { link_type: blocks_type(side).into(), outward: true, other: other.clone() }
}

fn said(c: &PersonComment) -> CommentWrite {
    CommentWrite { body: format!("<p>{}from {}</p>", c.text(), PEOPLE[c.person].0), origin: String::new() }
}

fn actor(people: &People, side: Side, person: usize) -> &Actor {
    match side {
        Side::Left => &people.jira[person],
        Side::Right => &people.ado[person],
    }
}

fn pick_live<T>(items: &[T], live: impl Fn(&T) -> bool, rng: &mut StdRng) -> Option<usize> {
    let candidates: Vec<usize> = (0..items.len()).filter(|i| live(&items[*i])).collect();
    (!candidates.is_empty()).then(|| candidates[rng.gen_range(0..candidates.len())])
}

/// A small file's bytes from a seeded generator.
struct Bytes {
    left: u64,
    state: u64,
}

#[async_trait]
impl ByteSource for Bytes {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PortError> {
        if self.left == 0 {
            return Ok(None);
        }
        let n = self.left.min(16 * 1024) as usize;
        let chunk = (0..n)
            .map(|_| {
                self.state = self.state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (self.state >> 56) as u8
            })
            .collect();
        self.left -= n as u64;
        Ok(Some(chunk))
    }
}
