//! The console's routes: each reads through the engine and renders a page, or runs the
//! same engine call as the CLI command it stands for and redirects back (POST, then GET).

use super::auth::{cookie, local_path, loopback_host, same_origin, SESSION_COOKIE};
use super::pages::{self, IntegrationView, TimelineView, FAILURES_PAGE};
use super::App;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use ferry_domain::{EntityId, Flow, IntegrationId, Side};
use ferry_engine::EngineError;
use ferry_runtime::commits::{CommitError, Retried};
use ferry_scm::SyncError;
use serde::Deserialize;
use std::sync::Arc;

type Shared = State<Arc<App>>;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(integrations))
        .route("/login", get(login_form).post(login))
        .route("/integrations/:id/:action", post(integration_action))
        .route("/failures", get(failures))
        .route("/failures/:id", get(failure))
        .route("/failures/:id/:action", post(failure_action))
        .route("/timeline", get(timeline))
        .merge(super::new_integration::routes())
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// An error page (the engine's message, escaped).
pub struct PageError(pub StatusCode, pub String);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        (self.0, Html(pages_error(&self.1))).into_response()
    }
}

fn pages_error(message: &str) -> String {
    super::html::page("Error", Some(message), "<p><a href=\"/\">Back to the integrations</a></p>")
}

impl From<EngineError> for PageError {
    fn from(e: EngineError) -> Self {
        let status = match e {
            EngineError::UnknownFailure(_) | EngineError::UnknownIntegration(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        PageError(status, e.to_string())
    }
}

impl From<ferry_domain::PortError> for PageError {
    fn from(e: ferry_domain::PortError) -> Self {
        PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<CommitError> for PageError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Engine(e) => e.into(),
            // What the link is or holds stands in the way (no sides to choose, a commit or
            // item it no longer has).
            CommitError::Sync(SyncError::Config(..)) => PageError(StatusCode::CONFLICT, e.to_string()),
            // The repository or a target system refused or failed.
            CommitError::Sync(_) | CommitError::Port(_) => PageError(StatusCode::BAD_GATEWAY, e.to_string()),
            CommitError::NotACommitLink(_) | CommitError::Busy(_) => PageError(StatusCode::CONFLICT, e.to_string()),
        }
    }
}

fn bad_request(message: impl Into<String>) -> PageError {
    PageError(StatusCode::BAD_REQUEST, message.into())
}

/// The rules of `auth`'s module docs, before any route.
async fn guard(State(app): Shared, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
    if !app.auth.required() && !loopback_host(&host) {
        return (StatusCode::MISDIRECTED_REQUEST, "this console answers only to a loopback host name").into_response();
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| app.auth.token_matches(t));
    if req.method() == Method::POST && !bearer {
        let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
        let referer = headers.get(header::REFERER).and_then(|h| h.to_str().ok());
        if !same_origin(&host, origin, referer) {
            return (StatusCode::FORBIDDEN, "this action must come from a page of this console").into_response();
        }
    }
    let signed_in = bearer
        || headers
            .get(header::COOKIE)
            .and_then(|h| h.to_str().ok())
            .and_then(|c| cookie(c, SESSION_COOKIE))
            .is_some_and(|s| app.auth.session_valid(s));
    if app.auth.required() && !signed_in && req.uri().path() != "/login" {
        return Redirect::to("/login").into_response();
    }
    next.run(req).await
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login_form() -> Html<String> {
    Html(pages::login(false))
}

async fn login(State(app): Shared, Form(form): Form<LoginForm>) -> Response {
    if !app.auth.token_matches(&form.token) {
        return (StatusCode::UNAUTHORIZED, Html(pages::login(true))).into_response();
    }
    let session = app.auth.open_session();
    let cookie = format!("{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// Every POST form: the form token and where to come back to.
#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    #[serde(default)]
    back: String,
}

impl ActionForm {
    fn check(&self, app: &App) -> Result<(), PageError> {
        if app.auth.form_token_matches(&self.csrf) {
            Ok(())
        } else {
            Err(PageError(StatusCode::FORBIDDEN, "the form is out of date: reload the page and try again".into()))
        }
    }
    /// Back to the page the action came from, with a note of what it did.
    fn done(&self, fallback: &str, note: &str) -> Redirect {
        let back = local_path(&self.back, fallback);
        let sep = if back.contains('?') { '&' } else { '?' };
        Redirect::to(&format!("{back}{sep}note={}", super::html::url_part(note)))
    }
}

#[derive(Deserialize)]
struct Note {
    note: Option<String>,
}

async fn integrations(State(app): Shared, Query(q): Query<Note>) -> Result<Html<String>, PageError> {
    let now = Utc::now();
    let engine = &app.engine;
    let failures = engine.state().failure_counts().await?;
    let views: Vec<IntegrationView> = engine
        .status_with_pace(&failures, now)
        .await?
        .into_iter()
        .map(|(status, pace)| IntegrationView { status, pace })
        .collect();
    Ok(Html(pages::integrations(&views, &app.auth.form_token, q.note.as_deref(), now)))
}

async fn integration_action(
    State(app): Shared,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Redirect, PageError> {
    form.check(&app)?;
    let iid = IntegrationId::parse(&id).map_err(|e| bad_request(e.to_string()))?;
    let note = match action.as_str() {
        // The same engine calls as `ferry activate` / `ferry deactivate`.
        "activate" => {
            let report = app.engine.activate(&iid, Utc::now()).await?;
            let starts: Vec<String> =
                report.starts.iter().map(|s| format!("{} from {}", s.flow, super::html::time(Some(s.at)))).collect();
            format!("{id} activated ({})", starts.join(", "))
        }
        "deactivate" => {
            let changed = app.engine.deactivate(&iid, Utc::now()).await?;
            format!("{id}: {}", if changed { "deactivated" } else { "was not active" })
        }
        other => return Err(bad_request(format!("unknown action {other:?}"))),
    };
    Ok(form.done("/", &note))
}

#[derive(Deserialize)]
struct FailuresQuery {
    integration: Option<String>,
    #[serde(default)]
    page: usize,
    note: Option<String>,
}

async fn failures(State(app): Shared, Query(q): Query<FailuresQuery>) -> Result<Html<String>, PageError> {
    let filter = match q.integration.as_deref().filter(|i| !i.is_empty()) {
        Some(i) => Some(IntegrationId::parse(i).map_err(|e| bad_request(e.to_string()))?),
        None => None,
    };
    let state = app.engine.state();
    let (mut shown, mut total) =
        state.failure_page(filter.as_ref(), q.page.saturating_mul(FAILURES_PAGE), FAILURES_PAGE).await?;
    let last_page = (total as usize).saturating_sub(1) / FAILURES_PAGE;
    let page_no = q.page.min(last_page);
    if page_no != q.page {
        // Past the end (failures were retried or discarded meanwhile): the last page.
        (shown, total) = state.failure_page(filter.as_ref(), page_no * FAILURES_PAGE, FAILURES_PAGE).await?;
    }
    let integration = filter.as_ref().map(|i| i.as_str());
    Ok(Html(pages::failures(&shown, total as usize, page_no, integration, &app.auth.form_token, q.note.as_deref())))
}

async fn failure(State(app): Shared, Path(id): Path<String>, Query(q): Query<Note>) -> Result<Html<String>, PageError> {
    let f = app.engine.state().get_failure(&id).await?.ok_or(EngineError::UnknownFailure(id))?;
    Ok(Html(pages::failure(&f, &app.auth.form_token, q.note.as_deref())))
}

async fn failure_action(
    State(app): Shared,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Redirect, PageError> {
    form.check(&app)?;
    // The same calls as `ferry failures retry [--winner]` and `ferry failures discard`.
    let retried = |f: ferry_domain::FailureRecord| format!("{} {}", f.integration, f.entity_key);
    let winner = match action.as_str() {
        "left-wins" => Some(Side::Left),
        "right-wins" => Some(Side::Right),
        _ => None,
    };
    let (what, did) = match action.as_str() {
        // A mention a commit link reported is written again now, not queued.
        "retry" | "left-wins" | "right-wins" => match app.commits.retry(&id, winner).await? {
            Some(Retried::Written(f)) => (retried(f), "written".to_string()),
            Some(Retried::FailedAgain(f)) => {
                let did = format!("failed again: {}", f.cause);
                (retried(f), did)
            }
            None => {
                let did = match winner {
                    None => "queued again",
                    Some(Side::Left) => "queued again, left wins",
                    Some(Side::Right) => "queued again, right wins",
                };
                (retried(app.engine.retry_failure_with(&id, winner).await?), did.to_string())
            }
        },
        "discard" => (app.engine.discard_failure(&id).await?.describe(), "discarded".to_string()),
        other => return Err(bad_request(format!("unknown action {other:?}"))),
    };
    Ok(form.done("/failures", &format!("{what}: {did}")))
}

#[derive(Deserialize)]
struct TimelineQuery {
    integration: String,
    side: String,
    entity: String,
    note: Option<String>,
}

/// Steps shown per entity and direction.
const TIMELINE_STEPS: usize = 200;

async fn timeline(State(app): Shared, Query(q): Query<TimelineQuery>) -> Result<Html<String>, PageError> {
    let iid = IntegrationId::parse(q.integration.trim()).map_err(|e| bad_request(e.to_string()))?;
    let side = match q.side.as_str() {
        "left" => Side::Left,
        "right" => Side::Right,
        other => return Err(bad_request(format!("{other:?} is not a side: use left or right"))),
    };
    let entity = EntityId::new(q.entity.trim());
    let state = app.engine.state();
    let twin = state.get_link(&iid, side, &entity).await?.map(|l| l.side(side.other()).id.clone());
    let mut steps = state.entity_activity(&iid, Flow::from_source(side), &entity, TIMELINE_STEPS).await?;
    let mut failures = Vec::new();
    for flow in Flow::BOTH {
        let (who, flow_entity) = if flow.source() == side { (true, Some(&entity)) } else { (false, twin.as_ref()) };
        let Some(e) = flow_entity else { continue };
        if !who {
            steps.extend(state.entity_activity(&iid, flow, e, TIMELINE_STEPS).await?);
        }
        failures.extend(state.failure_for_entity(&iid, flow, e).await?);
    }
    steps.sort_by_key(|s| s.at);
    let view = TimelineView {
        aws: app.aws,
        integration: iid.as_str(),
        side,
        entity: entity.as_str(),
        twin: twin.map(|t| t.to_string()),
        steps,
        failures,
    };
    Ok(Html(pages::timeline(&view, q.note.as_deref())))
}
