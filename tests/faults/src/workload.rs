//! People at work: several users create and edit bugs on both sides through REST, in
//! rounds, from a seeded generator. The model remembers, per synced pair and field,
//! the last person edit (round, side, value) so the oracle can tell a lost update.

use anyhow::Result;
use ferry_domain::{EntityId, FieldValue, Side, UserRef};
use ferry_runtime::actor::Actor;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::{BTreeMap, HashMap};

/// The fields people edit (a subset of the integration's mappings whose value maps are
/// one-to-one, so "the mapping of the other side's value" is a single value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Title,
    Description,
    Priority,
    Assignee,
    Points,
    State,
}

impl Field {
    pub const ALL: [Field; 6] =
        [Field::Title, Field::Description, Field::Priority, Field::Assignee, Field::Points, Field::State];

    pub fn key(self, side: Side) -> &'static str {
        match (self, side) {
            (Field::Title, Side::Left) => "summary",
            (Field::Title, Side::Right) => "System.Title",
            (Field::Description, Side::Left) => "description",
            (Field::Description, Side::Right) => "System.Description",
            (Field::Priority, Side::Left) => "priority",
            (Field::Priority, Side::Right) => "Microsoft.VSTS.Common.Priority",
            (Field::Assignee, Side::Left) => "assignee",
            (Field::Assignee, Side::Right) => "System.AssignedTo",
            (Field::Points, Side::Left) => "customfield_10052",
            (Field::Points, Side::Right) => "Microsoft.VSTS.Scheduling.StoryPoints",
            (Field::State, Side::Left) => "status",
            (Field::State, Side::Right) => "System.State",
        }
    }
}

pub const PRIORITIES: [&str; 4] = ["Highest", "High", "Medium", "Low"];
/// Jira status ↔ Azure DevOps state (examples/status.csv), without Done/Closed (its
/// transition screen needs a resolution nobody maps back).
const STATES: [(&str, &str); 3] = [("To Do", "New"), ("In Progress", "Active"), ("In Review", "Resolved")];
/// (canonical name, Jira e-mail, Azure DevOps e-mail): users.xlsx maps carol's two addresses.
pub const PEOPLE: [(&str, &str, &str); 3] = [
    ("alice", "alice@acme.test", "alice@acme.test"),
    ("bob", "bob@acme.test", "bob@acme.test"),
    ("carol", "carol@acme.test", "carol.w@acme.test"),
];

/// A person's last edit of one field of a pair.
#[derive(Debug, Clone)]
pub struct Edit {
    pub round: usize,
    pub side: Side,
    /// The value in canonical form (see [`canonical`]).
    pub value: String,
    /// Both sides edited this field in the same round: either value may win.
    pub conflicted: bool,
}

/// A bug filed by a person on `origin`, and its twin once Ferry linked one.
#[derive(Debug, Clone)]
pub struct Pair {
    pub origin: Side,
    pub created_round: usize,
    pub ids: BTreeMap<Side, (EntityId, String)>,
    pub last: BTreeMap<Field, Edit>,
    /// The round each side last edited each field in.
    pub edited: BTreeMap<(Field, Side), usize>,
}

/// One round's person-made change counts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Made {
    pub creates: usize,
    pub updates: usize,
    /// Edits the system refused (e.g. a workflow without a path), or whose values the
    /// fields held already; not counted as changes.
    pub rejected: usize,
}

pub struct People {
    pub jira: Vec<Actor>,
    pub ado: Vec<Actor>,
    /// Jira account id by canonical name.
    pub jira_ids: HashMap<String, String>,
}

pub struct Workload {
    pub pairs: Vec<Pair>,
    token: u64,
    pub conflict_share: f64,
    pub create_share: f64,
}

impl Workload {
    pub fn new(conflict_share: f64, create_share: f64) -> Self {
        Self { pairs: Vec::new(), token: 0, conflict_share, create_share }
    }

    pub fn next_token(&mut self) -> String {
        self.token += 1;
        format!("c{}", self.token)
    }

    /// The pair holding entity `id` on `side`: as the entity a person filed, or (with
    /// `twin_of`, the id the link names on the other side) as its twin.
    pub fn pair_of(&self, side: Side, id: &EntityId, twin_of: Option<&EntityId>) -> Option<usize> {
        self.pairs.iter().position(|p| {
            p.ids.get(&side).is_some_and(|(i, _)| i == id)
                || (p.origin == side.other() && twin_of.is_some_and(|t| &p.ids[&p.origin].0 == t))
        })
    }

    /// The pair whose person-filed entity has `key`.
    pub fn pair_by_origin_key(&self, key: &str) -> Option<usize> {
        self.pairs.iter().position(|p| p.ids.get(&p.origin).is_some_and(|(_, k)| k == key))
    }

    /// Remembers a person's edit made outside the workload (during Ferry's work): `value`
    /// in canonical form. It is concurrent (either value may win) when the other side
    /// edited the field in this round or the last.
    pub fn record_edit(&mut self, pair: usize, round: usize, side: Side, field: Field, value: String) {
        let p = &mut self.pairs[pair];
        // A later round's edit of the field is the last one (this one may be merged late).
        if p.last.get(&field).is_some_and(|e| e.round > round) {
            return;
        }
        let conflicted = p.edited.get(&(field, side.other())).is_some_and(|r| r + 1 >= round);
        p.edited.insert((field, side), round);
        p.last.insert(field, Edit { round, side, value, conflicted });
    }

    /// Makes `n` person changes (creates and updates, both sides).
    pub async fn round(&mut self, round: usize, n: usize, people: &People, rng: &mut StdRng) -> Result<Made> {
        let mut made = Made::default();
        for _ in 0..n {
            let create = self.pairs.is_empty() || round == 0 || rng.gen_bool(self.create_share);
            if create {
                let side = if rng.gen_bool(0.5) { Side::Left } else { Side::Right };
                self.create(round, side, people, rng).await?;
                made.creates += 1;
                continue;
            }
            let p = rng.gen_range(0..self.pairs.len());
            let pair = &self.pairs[p];
            let side = if pair.ids.len() == 2 && rng.gen_bool(0.5) { pair.origin.other() } else { pair.origin };
            let mut fields: Vec<Field> = Field::ALL.to_vec();
            fields.shuffle(rng);
            fields.truncate(rng.gen_range(1..=3));
            let mut chosen = Vec::new();
            let mut conflicted = Vec::new();
            for f in fields {
                // The other side's edit of this round or the last may not have reached
                // this side yet (search lag, a crashed poll): editing now is concurrent.
                let concurrent = pair.edited.get(&(f, side.other())).is_some_and(|r| r + 1 >= round);
                if concurrent {
                    if rng.gen_bool(self.conflict_share) {
                        conflicted.push(f);
                    } else {
                        continue;
                    }
                }
                chosen.push(f);
            }
            if chosen.is_empty() {
                continue;
            }
            if self.update(round, p, side, &chosen, &conflicted, people, rng).await? {
                made.updates += 1;
            } else {
                made.rejected += 1;
            }
        }
        Ok(made)
    }

    pub(crate) async fn create(&mut self, round: usize, side: Side, people: &People, rng: &mut StdRng) -> Result<()> {
        let tok = self.next_token();
        let person = PEOPLE[rng.gen_range(0..PEOPLE.len())].0;
        let mut values = vec![
            (Field::Title, title(&tok)),
            (Field::Description, description(&tok)),
            (Field::Priority, PRIORITIES[rng.gen_range(0..4)].to_string()),
            (Field::Assignee, person.to_string()),
            (Field::Points, rng.gen_range(1..14).to_string()),
        ];
        let actor = pick(side, people, rng);
        let fields: Vec<(&str, FieldValue)> =
            values.iter().map(|(f, v)| (f.key(side), to_value(*f, side, v, people))).collect();
        let r = actor.create(fields).await?;
        // New bugs start in To Do / New on both sides.
        values.push((Field::State, "New".into()));
        let edited = values.iter().map(|(f, _)| ((*f, side), round)).collect();
        let last = values
            .into_iter()
            .map(|(f, v)| {
                let value = match f {
                    Field::Title | Field::Description => tok.clone(),
                    _ => v,
                };
                (f, Edit { round, side, value, conflicted: false })
            })
            .collect();
        self.pairs.push(Pair {
            origin: side,
            created_round: round,
            ids: BTreeMap::from([(side, (r.id, r.key))]),
            last,
            edited,
        });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn update(
        &mut self,
        round: usize,
        p: usize,
        side: Side,
        fields: &[Field],
        conflicted: &[Field],
        people: &People,
        rng: &mut StdRng,
    ) -> Result<bool> {
        let Some((id, _)) = self.pairs[p].ids.get(&side).cloned() else { return Ok(false) };
        let tok = self.next_token();
        let mut edits = Vec::new();
        for f in fields {
            let v = match f {
                Field::Title | Field::Description => tok.clone(),
                Field::Priority => PRIORITIES[rng.gen_range(0..4)].to_string(),
                Field::Assignee => PEOPLE[rng.gen_range(0..PEOPLE.len())].0.to_string(),
                Field::Points => rng.gen_range(1..14).to_string(),
                Field::State => STATES[rng.gen_range(0..STATES.len())].1.to_string(),
            };
            edits.push((*f, v));
        }
        let actor = pick(side, people, rng);
        // A value the field holds already changes nothing: the system records no change
        // (no history entry, no new revision), so no sync can see it; it is not an edit.
        if let Some(now) = actor.get(&id).await? {
            edits.retain(|(f, v)| {
                now.field(&ferry_domain::FieldKey::new(f.key(side)))
                    .is_none_or(|held| !ferry_mapping::same_value(held, &to_value(*f, side, v, people)))
            });
        }
        // A status change goes alone: a workflow refusal must not hide other fields' fate.
        let (state, plain): (Vec<_>, Vec<_>) = edits.into_iter().partition(|(f, _)| *f == Field::State);
        let mut applied = Vec::new();
        if !plain.is_empty() {
            let fields: Vec<(&str, FieldValue)> = plain
                .iter()
                .map(|(f, v)| {
                    let written = match f {
                        Field::Title => title(v),
                        Field::Description => description(v),
                        _ => v.clone(),
                    };
                    (f.key(side), to_value(*f, side, &written, people))
                })
                .collect();
            actor.update(&id, fields).await?;
            applied.extend(plain);
        }
        for (f, v) in state {
            match actor.update(&id, vec![(f.key(side), to_value(f, side, &v, people))]).await {
                Ok(_) => applied.push((f, v)),
                Err(e) => tracing::info!("a person's status change was refused: {e}"),
            }
        }
        let pair = &mut self.pairs[p];
        for (f, v) in &applied {
            pair.edited.insert((*f, side), round);
            pair.last.insert(*f, Edit { round, side, value: v.clone(), conflicted: conflicted.contains(f) });
        }
        Ok(!applied.is_empty())
    }
}

fn pick<'a>(side: Side, people: &'a People, rng: &mut StdRng) -> &'a Actor {
    let list = if side == Side::Left { &people.jira } else { &people.ado };
    &list[rng.gen_range(0..list.len())]
}

pub fn title(tok: &str) -> String {
    format!("Checkout fails for guest users [{tok}]")
}

fn description(tok: &str) -> String {
    format!(
        "<p>Steps for <strong>{tok}z</strong>: add to cart, pay as a <em>guest</em>.</p>\
         <ul><li>Chrome 120</li><li>Firefox 121</li></ul>"
    )
}

/// The value a person writes for `f` on `side` (`v` is canonical, titles and
/// descriptions already rendered).
pub fn to_value(f: Field, side: Side, v: &str, people: &People) -> FieldValue {
    match (f, side) {
        (Field::Title, _) => FieldValue::Text(v.into()),
        (Field::Description, _) => FieldValue::RichText(v.into()),
        (Field::Priority, Side::Left) => FieldValue::Option(v.into()),
        (Field::Priority, Side::Right) => {
            FieldValue::Number(PRIORITIES.iter().position(|p| *p == v).map_or(3.0, |i| (i + 1) as f64))
        }
        (Field::Assignee, Side::Left) => FieldValue::User(UserRef {
            id: people.jira_ids.get(v).cloned().unwrap_or_default(),
            email: None,
            display_name: None,
        }),
        (Field::Assignee, Side::Right) => FieldValue::User(UserRef {
            id: String::new(),
            email: PEOPLE.iter().find(|p| p.0 == v).map(|p| p.2.to_string()),
            display_name: None,
        }),
        (Field::Points, _) => FieldValue::Number(v.parse().unwrap_or(1.0)),
        (Field::State, Side::Left) => {
            FieldValue::Option(STATES.iter().find(|s| s.1 == v).map_or("To Do", |s| s.0).to_string())
        }
        (Field::State, Side::Right) => FieldValue::Text(v.into()),
    }
}

/// A side's value of `f` in the canonical form edits are remembered in: the token of a
/// title or description, the Jira priority name, the person's short name, the number,
/// the Azure DevOps state. `None` when the value says nothing recognisable.
pub fn canonical(f: Field, side: Side, v: Option<&FieldValue>, jira_ids: &HashMap<String, String>) -> Option<String> {
    let v = v?;
    let text = v.key_string()?;
    match f {
        Field::Title => {
            let start = text.rfind("[c")? + 1;
            let end = start + text[start..].find(']')?;
            Some(text[start..end].to_string())
        }
        Field::Description => {
            // The token is written as `c<N>z`; find the one in the text.
            let bytes = text.as_bytes();
            (0..bytes.len()).find_map(|i| {
                if bytes[i] != b'c' {
                    return None;
                }
                let digits: String = text[i + 1..].chars().take_while(char::is_ascii_digit).collect();
                (!digits.is_empty() && text[i + 1 + digits.len()..].starts_with('z')).then(|| format!("c{digits}"))
            })
        }
        Field::Priority => match (side, v) {
            (Side::Right, FieldValue::Number(n)) => {
                PRIORITIES.get((*n as usize).checked_sub(1)?).map(|s| s.to_string())
            }
            _ => Some(text),
        },
        Field::Assignee => match v {
            FieldValue::User(u) => {
                let by_id = jira_ids.iter().find(|(_, id)| **id == u.id).map(|(n, _)| n.clone());
                by_id.or_else(|| {
                    let email = u.email.as_deref()?;
                    PEOPLE
                        .iter()
                        .find(|p| p.1.eq_ignore_ascii_case(email) || p.2.eq_ignore_ascii_case(email))
                        .map(|p| p.0.to_string())
                        .or_else(|| Some(email.to_string()))
                })
            }
            _ => Some(text),
        },
        Field::Points => Some(text),
        Field::State => match side {
            Side::Left => STATES.iter().find(|s| s.0 == text).map(|s| s.1.to_string()).or(Some(text)),
            Side::Right => Some(text),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> HashMap<String, String> {
        HashMap::from([("alice".to_string(), "acc-1".to_string())])
    }

    #[test]
    fn canonical_values_read_tokens_names_and_mapped_lookups() {
        let t = FieldValue::Text(title("c42"));
        assert_eq!(canonical(Field::Title, Side::Left, Some(&t), &ids()).as_deref(), Some("c42"));
        let d = FieldValue::RichText(description("c7"));
        assert_eq!(canonical(Field::Description, Side::Right, Some(&d), &ids()).as_deref(), Some("c7"));
        let p = FieldValue::Number(2.0);
        assert_eq!(canonical(Field::Priority, Side::Right, Some(&p), &ids()).as_deref(), Some("High"));
        let u = FieldValue::User(UserRef { id: "acc-1".into(), email: None, display_name: None });
        assert_eq!(canonical(Field::Assignee, Side::Left, Some(&u), &ids()).as_deref(), Some("alice"));
        let u =
            FieldValue::User(UserRef { id: "x".into(), email: Some("carol.w@acme.test".into()), display_name: None });
        assert_eq!(canonical(Field::Assignee, Side::Right, Some(&u), &ids()).as_deref(), Some("carol"));
        let s = FieldValue::Option("In Review".into());
        assert_eq!(canonical(Field::State, Side::Left, Some(&s), &ids()).as_deref(), Some("Resolved"));
        assert_eq!(canonical(Field::Title, Side::Left, None, &ids()), None);
    }

    #[test]
    fn a_description_token_is_not_confused_with_a_longer_one() {
        let d = FieldValue::RichText(description("c123"));
        assert_eq!(canonical(Field::Description, Side::Left, Some(&d), &ids()).as_deref(), Some("c123"));
    }
}
