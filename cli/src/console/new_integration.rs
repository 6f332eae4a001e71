//! The "new integration" flow, the seed product's walk on top of `init` and `check`:
//! systems (the ones applied to the store) → projects → entity types (read from the
//! systems) → the fields and value maps `init` proposes, with its gaps, editable as the
//! YAML and status table they are → `check` against the live systems, findings at
//! FILE:LINE → save: the files to download and commit (the YAML stays the source of
//! truth), and optionally apply and activate.

use super::handlers::PageError;
use super::new_pages::{self, Draft, Walk};
use super::App;
use crate::init::{self, SideFacts};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use ferry_config::{ConfigSet, Target};
use ferry_domain::ports::Connector;
use ferry_domain::{IntegrationId, SystemId};
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

type Shared = State<Arc<App>>;

/// Saved proposals kept for download at once; the oldest is forgotten first.
const KEPT: usize = 50;

/// Saved proposals, by a random key (their download links).
#[derive(Default)]
pub struct Saved(Mutex<VecDeque<(String, Draft)>>);

impl Saved {
    fn keep(&self, draft: Draft) -> String {
        let key = super::auth::random_token();
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back((key.clone(), draft));
        key
    }
    fn get(&self, key: &str) -> Option<Draft> {
        let kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter().find(|(k, _)| k == key).map(|(_, d)| d.clone())
    }
}

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/new", get(systems))
        .route("/new/projects", get(projects))
        .route("/new/types", get(types))
        .route("/new/fields", get(fields))
        .route("/new/check", post(check))
        .route("/new/save", post(save))
        .route("/new/saved/:key/:file", get(download))
}

fn bad_gateway(e: impl std::fmt::Display) -> PageError {
    PageError(StatusCode::BAD_GATEWAY, e.to_string())
}

/// The connector of an applied system.
async fn connector(app: &App, system: &str) -> Result<Arc<dyn Connector>, PageError> {
    let id = SystemId::parse(system).map_err(|e| PageError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let cfg = app.engine.config_store().get_system(&id).await?.ok_or_else(|| {
        PageError(StatusCode::NOT_FOUND, format!("system {system:?} is not applied to the store: pick one of the list"))
    })?;
    app.connectors.connector(&cfg).await.map_err(bad_gateway)
}

async fn systems(State(app): Shared, Query(walk): Query<Walk>) -> Result<Html<String>, PageError> {
    let list = app.engine.config_store().list_systems().await?;
    let list: Vec<(String, String)> = list.iter().map(|s| (s.id.to_string(), s.kind.as_str().to_string())).collect();
    Ok(Html(new_pages::systems(&list, &walk)))
}

async fn projects(State(app): Shared, Query(walk): Query<Walk>) -> Result<Html<String>, PageError> {
    let left = connector(&app, &walk.left).await?.projects().await.map_err(bad_gateway)?;
    let right = connector(&app, &walk.right).await?.projects().await.map_err(bad_gateway)?;
    Ok(Html(new_pages::projects(&walk, &left, &right)))
}

async fn types(State(app): Shared, Query(walk): Query<Walk>) -> Result<Html<String>, PageError> {
    let left = connector(&app, &walk.left).await?.entity_types(&walk.left_project).await.map_err(bad_gateway)?;
    let right = connector(&app, &walk.right).await?.entity_types(&walk.right_project).await.map_err(bad_gateway)?;
    Ok(Html(new_pages::types(&walk, &left, &right)))
}

/// Discovers both sides and shows `init`'s proposal.
async fn fields(State(app): Shared, Query(walk): Query<Walk>) -> Result<Html<String>, PageError> {
    let side = |system: String, project: String, entity_type: String| {
        let app = app.clone();
        async move {
            let conn = connector(&app, &system).await?;
            init::discover(conn.as_ref(), &system, &project, &entity_type).await.map_err(bad_gateway)
        }
    };
    let left: SideFacts = side(walk.left.clone(), walk.left_project.clone(), walk.left_type.clone()).await?;
    let right: SideFacts = side(walk.right.clone(), walk.right_project.clone(), walk.right_type.clone()).await?;
    let id = match walk.id.trim() {
        "" => init::cmd::default_id(&left, &right),
        given => given.to_string(),
    };
    IntegrationId::parse(&id).map_err(|e| PageError(StatusCode::BAD_REQUEST, format!("integration id: {e}")))?;
    let status_file = format!("{id}-status.csv");
    let proposal = init::propose(&id, &left, &right, &status_file);
    let draft = Draft {
        id,
        yaml: proposal.yaml.clone(),
        status_file,
        status_csv: proposal.status_csv.clone().unwrap_or_default(),
    };
    Ok(Html(new_pages::fields(&draft, &proposal, &app.auth.form_token)))
}

/// The check and save forms: the draft, the form token, and whether to activate.
#[derive(Deserialize)]
struct DraftForm {
    csrf: String,
    #[serde(flatten)]
    draft: Draft,
    activate: Option<String>,
}

impl DraftForm {
    fn checked(self, app: &App) -> Result<Draft, PageError> {
        if !app.auth.form_token_matches(&self.csrf) {
            return Err(PageError(
                StatusCode::FORBIDDEN,
                "the form is out of date: reload the page and try again".into(),
            ));
        }
        IntegrationId::parse(&self.draft.id).map_err(|e| PageError(StatusCode::BAD_REQUEST, format!("id: {e}")))?;
        if !plain_file_name(&self.draft.status_file) {
            return Err(PageError(StatusCode::BAD_REQUEST, "the status table's name must be a plain file name".into()));
        }
        // A text area posts CRLF line ends; the files keep LF.
        let mut draft = self.draft;
        draft.yaml = draft.yaml.replace("\r\n", "\n");
        draft.status_csv = draft.status_csv.replace("\r\n", "\n");
        Ok(draft)
    }
}

/// A name for a file next to the YAML: letters, digits, `-`, `_` and `.`, not hidden.
fn plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// What `validate` and then `check` say about the draft (`FILE:LINE: ...` lines), and
/// the loaded config when it is valid.
async fn findings(app: &App, draft: &Draft) -> Result<(Vec<String>, Option<ConfigSet>), PageError> {
    let dir = tempfile::tempdir().map_err(|e| PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if !draft.status_csv.trim().is_empty() {
        std::fs::write(dir.path().join(&draft.status_file), &draft.status_csv)
            .map_err(|e| PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    }
    let systems = app.engine.config_store().list_systems().await?;
    let target = if app.aws { Target::Aws } else { Target::Embedded };
    let name = format!("{}.yaml", draft.id);
    match ferry_config::load_str_with_systems(&name, &draft.yaml, dir.path(), target, &systems) {
        Err(errors) => Ok((errors.0.iter().map(ToString::to_string).collect(), None)),
        Ok(set) => {
            let found = crate::check::findings(&set, app.connectors.as_ref()).await;
            Ok((found.iter().map(ToString::to_string).collect(), Some(set)))
        }
    }
}

async fn check(State(app): Shared, Form(form): Form<DraftForm>) -> Result<Html<String>, PageError> {
    let draft = form.checked(&app)?;
    let (found, _) = findings(&app, &draft).await?;
    Ok(Html(new_pages::checked(&draft, &found, &app.auth.form_token, None)))
}

/// Keeps the files for download; with `activate` and nothing found, applies and
/// activates the integration (what `ferry apply` and `ferry activate` do).
async fn save(State(app): Shared, Form(form): Form<DraftForm>) -> Result<Response, PageError> {
    let activate = form.activate.as_deref() == Some("on");
    let draft = form.checked(&app)?;
    let (found, set) = findings(&app, &draft).await?;
    let Some(set) = set else {
        let note = "The files are not a valid config: fix the findings, then save.";
        return Ok(Html(new_pages::checked(&draft, &found, &app.auth.form_token, Some(note))).into_response());
    };
    let outcome = match (activate, found.is_empty()) {
        (false, _) => "Saved. Not applied to the store: apply it with ferry apply when it is committed.".to_string(),
        (true, false) => format!("Saved, not activated: the check has {} finding(s).", found.len()),
        (true, true) => {
            let now = Utc::now();
            let new: Vec<_> = set.integrations.iter().filter(|i| i.id.as_str() == draft.id).cloned().collect();
            app.engine.apply(&set.systems, &new, true, now).await?;
            let id = IntegrationId::parse(&draft.id).map_err(|e| PageError(StatusCode::BAD_REQUEST, e.to_string()))?;
            let report = app.engine.activate(&id, now).await?;
            let starts: Vec<String> = report.starts.iter().map(|s| format!("{} from {}", s.flow, s.at)).collect();
            format!("Saved, applied and activated ({}).", starts.join(", "))
        }
    };
    let key = app.saved.keep(draft.clone());
    Ok(Html(new_pages::saved(&draft, &key, &outcome)).into_response())
}

/// A saved file, as an attachment.
async fn download(State(app): Shared, Path((key, file)): Path<(String, String)>) -> Result<Response, PageError> {
    let missing = || PageError(StatusCode::NOT_FOUND, "no such saved file (the console keeps the last 50)".into());
    let draft = app.saved.get(&key).ok_or_else(missing)?;
    let (text, kind) = if file == format!("{}.yaml", draft.id) {
        (draft.yaml, "application/yaml; charset=utf-8")
    } else if file == draft.status_file && !draft.status_csv.trim().is_empty() {
        (draft.status_csv, "text/csv; charset=utf-8")
    } else {
        return Err(missing());
    };
    let disposition = format!("attachment; filename=\"{file}\"");
    Ok(([(header::CONTENT_TYPE, kind.to_string()), (header::CONTENT_DISPOSITION, disposition)], text).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_table_must_be_a_plain_file_name() {
        for ok in ["bugs-status.csv", "status.csv"] {
            assert!(plain_file_name(ok), "{ok}");
        }
        for bad in ["", "../etc/passwd", "a/b.csv", "a\\b.csv", ".hidden", "a\"b.csv", "a b.csv"] {
            assert!(!plain_file_name(bad), "{bad}");
        }
    }
}
