//! The workload: people create and edit bugs on both sides through the REST APIs, in
//! rounds; after each round the pipeline polls both directions and drains.
//!
//! Of N changes, half are creates (a quarter filed in Jira, a quarter in Azure DevOps)
//! and half are updates of those bugs on the side they were filed: title, rich-text
//! description, priority (value map), assignee (user table), and on every second
//! Azure DevOps update the state (a Jira workflow transition in the target).

use anyhow::Result;
use ferry_domain::{EntityId, FieldValue, Flow, UserRef};
use ferry_runtime::actor::Actor;
use std::time::Instant;

/// One change a person made, and when the source had it.
pub struct Made {
    pub flow: Flow,
    pub source_key: String,
    pub at: Instant,
    /// The title the change set: unique to the change, so the target write that carries
    /// it can be recognised by its body.
    pub title: String,
}

pub struct Workload {
    pub total: usize,
    done: usize,
    /// Bugs filed so far, with their side, for later updates.
    filed: Vec<(Flow, EntityId, String)>,
    updated: usize,
    jira_assignees: Vec<String>,
}

const JIRA_PRIORITIES: [&str; 4] = ["Highest", "High", "Medium", "Low"];
const ADO_ASSIGNEES: [&str; 3] = ["alice@acme.test", "bob@acme.test", "carol.w@acme.test"];

impl Workload {
    /// `jira_assignees`: Jira account ids people assign bugs to.
    pub fn new(total: usize, jira_assignees: Vec<String>) -> Self {
        Self { total, done: 0, filed: Vec::new(), updated: 0, jira_assignees }
    }

    pub fn finished(&self) -> bool {
        self.done >= self.total
    }

    /// Every create is made: the rounds from now on are updates only.
    pub fn updating(&self) -> bool {
        self.filed.len() >= self.creates()
    }

    fn creates(&self) -> usize {
        self.total.div_ceil(2)
    }

    /// Makes up to `n` changes; creates come first, then updates of the filed bugs.
    pub async fn round(&mut self, n: usize, jira: &Actor, ado: &Actor) -> Result<Vec<Made>> {
        let mut made = Vec::with_capacity(n);
        let mut i = 0;
        while i < n && !self.finished() {
            let seq = self.done;
            let m = if self.filed.len() < self.creates() {
                self.create(seq, jira, ado).await?
            } else {
                self.update(seq, jira, ado).await?
            };
            made.push(m);
            self.done += 1;
            i += 1;
        }
        Ok(made)
    }

    async fn create(&mut self, seq: usize, jira: &Actor, ado: &Actor) -> Result<Made> {
        let k = self.filed.len();
        let (flow, r, title) = if k & 1 == 0 {
            let assignee = &self.jira_assignees[k % self.jira_assignees.len()];
            let title = format!("Checkout fails for guest users #{seq}");
            let r = jira
                .create(vec![
                    ("summary", FieldValue::Text(title.clone())),
                    ("description", FieldValue::RichText(rich(seq, "Steps"))),
                    ("priority", FieldValue::Option(JIRA_PRIORITIES[k % 4].into())),
                    ("assignee", FieldValue::User(UserRef { id: assignee.clone(), email: None, display_name: None })),
                    ("labels", FieldValue::List(vec!["bench".into(), format!("batch{}", seq % 7)])),
                    ("customfield_10052", FieldValue::Number((seq % 8) as f64)),
                ])
                .await?;
            (Flow::LeftToRight, r, title)
        } else {
            let title = format!("Search page is slow #{seq}");
            let r = ado
                .create(vec![
                    ("System.Title", FieldValue::Text(title.clone())),
                    ("System.Description", FieldValue::RichText(rich(seq, "Observed"))),
                    ("Microsoft.VSTS.Common.Priority", FieldValue::Number(((k % 4) + 1) as f64)),
                    ("System.AssignedTo", ado_user(ADO_ASSIGNEES[k % 3])),
                ])
                .await?;
            (Flow::RightToLeft, r, title)
        };
        let at = Instant::now();
        self.filed.push((flow, r.id.clone(), r.key.clone()));
        Ok(Made { flow, source_key: r.key, at, title })
    }

    async fn update(&mut self, seq: usize, jira: &Actor, ado: &Actor) -> Result<Made> {
        let (flow, id, key) = self.filed[self.updated % self.filed.len()].clone();
        let u = self.updated;
        self.updated += 1;
        let title = match flow {
            Flow::LeftToRight => format!("Checkout fails for guest users #{seq} (edited)"),
            Flow::RightToLeft => format!("Search page is slow #{seq} (edited)"),
        };
        match flow {
            Flow::LeftToRight => {
                let assignee = &self.jira_assignees[(u + 1) % self.jira_assignees.len()];
                jira.update(
                    &id,
                    vec![
                        ("summary", FieldValue::Text(title.clone())),
                        ("description", FieldValue::RichText(rich(seq, "Update"))),
                        ("priority", FieldValue::Option(JIRA_PRIORITIES[(u + 1) % 4].into())),
                        (
                            "assignee",
                            FieldValue::User(UserRef { id: assignee.clone(), email: None, display_name: None }),
                        ),
                    ],
                )
                .await?;
            }
            Flow::RightToLeft => {
                let mut fields = vec![
                    ("System.Title", FieldValue::Text(title.clone())),
                    ("System.Description", FieldValue::RichText(rich(seq, "Update"))),
                    ("Microsoft.VSTS.Common.Priority", FieldValue::Number(((u + 1) % 4 + 1) as f64)),
                    ("System.AssignedTo", ado_user(ADO_ASSIGNEES[(u + 1) % 3])),
                ];
                if u % 4 == 1 {
                    fields.push(("System.State", FieldValue::Text("Active".into())));
                }
                ado.update(&id, fields).await?;
            }
        }
        Ok(Made { flow, source_key: key, at: Instant::now(), title })
    }
}

fn ado_user(email: &str) -> FieldValue {
    FieldValue::User(UserRef { id: String::new(), email: Some(email.into()), display_name: None })
}

fn rich(seq: usize, lead: &str) -> String {
    format!(
        "<p>{lead} for change <strong>{seq}</strong>: add to cart, pay as a <em>guest</em>.</p>\
         <ul><li>Chrome 120</li><li>Firefox 121</li></ul><p>See <a href=\"https://status.acme.test/{seq}\">the status page</a>.</p>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_of_the_changes_are_creates_rounded_up() {
        assert_eq!(Workload::new(10, vec!["a".into()]).creates(), 5);
        assert_eq!(Workload::new(7, vec!["a".into()]).creates(), 4);
    }

    #[test]
    fn rich_text_carries_markup_the_converters_must_handle() {
        let r = rich(3, "Steps");
        assert!(r.contains("<strong>3</strong>") && r.contains("<ul>") && r.contains("<a href"));
    }
}
