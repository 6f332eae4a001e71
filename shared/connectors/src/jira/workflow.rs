//! Walking an issue to a status, hop by hop: read the transitions available at the
//! current status (and learn the workflow's edges from them), take the one
//! `transitions::choose` picks with the values its screen needs, and read again.

use super::errors::refine_write_error;
use super::transitions::{self, Categories, Workflow, MAX_HOPS};
use super::wire::{Issue, Status, Transition, TransitionList};
use super::{lock, JiraConnector};
use ferry_domain::ports::PortResult;
use ferry_domain::{FieldChange, PortError, Scope};
use reqwest::Method;
use serde_json::{json, Value};

impl JiraConnector {
    /// Moves issue `id` to status `target` through up to [`MAX_HOPS`] transitions,
    /// re-reading the available transitions after each hop.
    pub(super) async fn transition_to(
        &self,
        scope: &Scope,
        id: &str,
        target: &str,
        changes: &[FieldChange],
        answered: Option<&Issue>,
    ) -> PortResult<()> {
        // The edit just before answered with the issue, status included: no need to read it.
        let mut current = match answered.map(|i| i.system_field::<Status>("status", "edit issue")).transpose()? {
            Some(Some(status)) => status.name,
            _ => self.current_status(id).await?,
        };
        if current.eq_ignore_ascii_case(target) {
            return Ok(());
        }
        let categories = self.status_categories(scope, target, &current).await?;
        let start = current.clone();
        let mut visited: Vec<String> = Vec::new();
        for _ in 0..MAX_HOPS {
            visited.push(current.to_lowercase());
            let available = self.read_transitions(id).await?;
            let known = self.learn(scope, &current, &available);
            let Some(t) = transitions::choose(&available, target, &visited, &known, &categories) else {
                return Err(transitions::no_path(id, &start, target, &current, &visited));
            };
            self.take(id, t, &current, target, changes).await?;
            current = t.to.name.clone();
            if current.eq_ignore_ascii_case(target) {
                return Ok(());
            }
        }
        Err(transitions::not_reached(id, &start, target, &current))
    }

    async fn current_status(&self, id: &str) -> PortResult<String> {
        let url = self.api(&["issue", id], &[("fields", "status".into())])?;
        let issue: Issue = self.get_json(url, "issue").await?;
        let status: Option<Status> = issue.system_field("status", "issue")?;
        status.map(|s| s.name).ok_or_else(|| super::errors::bad_response("issue", format!("{id} has no `status`")))
    }

    /// The status categories of `scope`'s issue type; unavailable statuses leave the
    /// choice unranked rather than failing the write.
    async fn status_categories(&self, scope: &Scope, target: &str, current: &str) -> PortResult<Categories> {
        match self.project_statuses(&scope.project).await {
            Ok(types) => transitions::categories(&types, scope, target, current),
            Err(e) => {
                tracing::debug!("project statuses unavailable, transitions go unranked: {e}");
                Ok(Categories::new())
            }
        }
    }

    async fn read_transitions(&self, id: &str) -> PortResult<Vec<Transition>> {
        let url = self.api(&["issue", id, "transitions"], &[("expand", "transitions.fields".into())])?;
        let list: TransitionList = self.get_json(url, "transitions").await?;
        Ok(list.transitions)
    }

    /// Records the edges read at `current` and returns the workflow known so far for
    /// the scope's project and issue type.
    fn learn(&self, scope: &Scope, current: &str, available: &[Transition]) -> Workflow {
        let key = (scope.project.clone(), scope.entity_type.to_lowercase());
        let mut workflows = lock(&self.workflows);
        let known = workflows.entry(key).or_default();
        known.learn(current, available);
        known.clone()
    }

    /// Posts transition `t` with the values its screen needs.
    async fn take(
        &self,
        id: &str,
        t: &Transition,
        current: &str,
        target: &str,
        changes: &[FieldChange],
    ) -> PortResult<()> {
        // The catalog only when a change goes on the screen (it is usually read already).
        let metas = match transitions::screen_takes_a_change(t, changes) {
            true => self.field_metas().await.ok(),
            false => None,
        };
        let fields = transitions::screen_values(t, changes, metas)?;
        let mut body = json!({"transition": {"id": t.id.0}});
        if !fields.is_empty() {
            body["fields"] = Value::Object(fields);
        }
        let url = self.api(&["issue", id, "transitions"], &[])?;
        self.send(Method::POST, url, Some(&body)).await.map_err(|e| {
            let e = refine_write_error(e);
            PortError {
                message: format!("transition {} from {current:?} toward {target:?}: {}", t.id.0, e.message),
                ..e
            }
        })?;
        Ok(())
    }
}
