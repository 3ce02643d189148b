//! URL → handler. Every page `/x` has its JSON twin `/api/x` built from the
//! same data function; every action is a POST (guarded: operator role,
//! CSRF token, Origin) in both forms.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::actions::{self, Input, PreviewForm, Redriven, ReplayForm, WholeQueueForm};
use crate::auth::{self, Principal};
use crate::data::{self, AuditParams, FilterParams, JobsParams};
use crate::error::ConsoleError;
use crate::state::{AppState, off_thread};
use crate::views::{self, Ctx};

type St = State<Arc<AppState>>;
type Page = Result<Html<String>, ConsoleError>;
type Api<T> = Result<Json<T>, ConsoleError>;

fn ctx(state: &AppState, principal: &Principal) -> Ctx {
    Ctx { principal: principal.clone(), csrf: state.csrf(principal), env: state.config.env.clone() }
}

fn page(markup: maud::Markup) -> Page {
    Ok(Html(markup.into_string()))
}

async fn overview_page(State(s): St, p: Principal) -> Page {
    page(views::overview(&ctx(&s, &p), &off_thread(&s, move |s| async move { data::overview(&s).await }).await?))
}
async fn overview_api(State(s): St) -> Api<data::Overview> {
    Ok(Json(off_thread(&s, move |s| async move { data::overview(&s).await }).await?))
}

async fn jobs_page(State(s): St, p: Principal, Query(q): Query<JobsParams>) -> Page {
    page(views::jobs(&ctx(&s, &p), &off_thread(&s, move |s| async move { data::jobs(&s, q).await }).await?))
}
async fn jobs_api(State(s): St, Query(q): Query<JobsParams>) -> Api<data::JobsData> {
    Ok(Json(off_thread(&s, move |s| async move { data::jobs(&s, q).await }).await?))
}

async fn job_page(State(s): St, p: Principal, Path(id): Path<String>) -> Page {
    page(views::job(&ctx(&s, &p), &off_thread(&s, move |s| async move { data::job(&s, &id).await }).await?))
}
async fn job_api(State(s): St, Path(id): Path<String>) -> Api<data::JobDetail> {
    Ok(Json(off_thread(&s, move |s| async move { data::job(&s, &id).await }).await?))
}

async fn dlq_page(State(s): St, p: Principal) -> Page {
    page(views::dlq_index(&ctx(&s, &p), &off_thread(&s, move |s| async move { data::dlq_index(&s).await }).await?))
}
async fn dlq_api(State(s): St) -> Api<data::DlqIndex> {
    Ok(Json(off_thread(&s, move |s| async move { data::dlq_index(&s).await }).await?))
}

async fn triage_page(State(s): St, p: Principal, Path(dlq): Path<String>) -> Page {
    page(views::triage(&ctx(&s, &p), &off_thread(&s, move |s| async move { data::triage(&s, &dlq).await }).await?))
}
async fn triage_api(State(s): St, Path(dlq): Path<String>) -> Api<data::TriageData> {
    Ok(Json(off_thread(&s, move |s| async move { data::triage(&s, &dlq).await }).await?))
}

async fn browse_page(State(s): St, p: Principal, Path(dlq): Path<String>, Query(q): Query<FilterParams>) -> Page {
    page(views::browse(&ctx(&s, &p), &off_thread(&s, move |s| async move { data::browse(&s, &dlq, q).await }).await?))
}
async fn browse_api(State(s): St, Path(dlq): Path<String>, Query(q): Query<FilterParams>) -> Api<data::BrowseData> {
    Ok(Json(off_thread(&s, move |s| async move { data::browse(&s, &dlq, q).await }).await?))
}

async fn message_page(State(s): St, p: Principal, Path((dlq, id)): Path<(String, String)>) -> Page {
    page(views::message(&ctx(&s, &p), &off_thread(&s, move |s| async move { data::message(&s, &dlq, &id).await }).await?))
}
async fn message_api(State(s): St, Path((dlq, id)): Path<(String, String)>) -> Api<data::MessageDetail> {
    Ok(Json(off_thread(&s, move |s| async move { data::message(&s, &dlq, &id).await }).await?))
}

async fn preview_page(State(s): St, p: Principal, Path(dlq): Path<String>, Input(form): Input<PreviewForm>) -> Page {
    page(views::preview(&ctx(&s, &p), &off_thread(&s, move |s| async move { actions::preview(&s, &p, &dlq, form).await }).await?))
}
async fn preview_api(State(s): St, p: Principal, Path(dlq): Path<String>, Input(form): Input<PreviewForm>) -> Api<data::PreviewData> {
    Ok(Json(off_thread(&s, move |s| async move { actions::preview(&s, &p, &dlq, form).await }).await?))
}

async fn replay_page(
    State(s): St,
    p: Principal,
    Path(dlq): Path<String>,
    Input(form): Input<ReplayForm>,
) -> Result<Redirect, ConsoleError> {
    let id = off_thread(&s, move |s| async move { actions::replay(&s, &p, &dlq, form).await }).await?;
    Ok(Redirect::to(&format!("/replays/{id}")))
}
async fn replay_api(State(s): St, p: Principal, Path(dlq): Path<String>, Input(form): Input<ReplayForm>) -> Result<Response, ConsoleError> {
    let id = off_thread(&s, move |s| async move { actions::replay(&s, &p, &dlq, form).await }).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "audit_id": id, "status": format!("/api/replays/{id}") }))).into_response())
}

async fn status_page(State(s): St, p: Principal, Path(id): Path<i64>) -> Page {
    page(views::replay_status(&ctx(&s, &p), &off_thread(&s, move |s| async move { data::replay_status(&s, id).await }).await?))
}
async fn status_api(State(s): St, Path(id): Path<i64>) -> Api<data::ReplayStatus> {
    Ok(Json(off_thread(&s, move |s| async move { data::replay_status(&s, id).await }).await?))
}

async fn stop_page(State(s): St, p: Principal, Path(id): Path<i64>) -> Result<Redirect, ConsoleError> {
    off_thread(&s, move |s| async move { actions::stop(&s, &p, id).await }).await?;
    Ok(Redirect::to(&format!("/replays/{id}")))
}
async fn stop_api(State(s): St, p: Principal, Path(id): Path<i64>) -> Api<serde_json::Value> {
    off_thread(&s, move |s| async move { actions::stop(&s, &p, id).await }).await?;
    Ok(Json(json!({ "audit_id": id, "stop_requested": true })))
}

async fn redrive_page(
    State(s): St,
    p: Principal,
    Path(dlq): Path<String>,
    Input(form): Input<WholeQueueForm>,
) -> Result<Response, ConsoleError> {
    let (who, name) = (p.clone(), dlq.clone());
    Ok(match off_thread(&s, move |s| async move { actions::redrive(&s, &who, &name, form).await }).await? {
        Redriven::FilteredReplay { audit_id } => Redirect::to(&format!("/replays/{audit_id}")).into_response(),
        Redriven::MessageMoveTask { audit_id, task_handle, approximate_count } => {
            let lines =
                [format!("SQS is moving ≈{approximate_count} message(s) back to the queue of the {dlq} DLQ (move task {task_handle}).")];
            Html(views::done(&ctx(&s, &p), "Redrive started", &lines, audit_id).into_string()).into_response()
        }
    })
}
async fn redrive_api(
    State(s): St,
    p: Principal,
    Path(dlq): Path<String>,
    Input(form): Input<WholeQueueForm>,
) -> Result<Response, ConsoleError> {
    Ok((StatusCode::ACCEPTED, Json(off_thread(&s, move |s| async move { actions::redrive(&s, &p, &dlq, form).await }).await?))
        .into_response())
}

async fn purge_page(State(s): St, p: Principal, Path(dlq): Path<String>, Input(form): Input<WholeQueueForm>) -> Page {
    let who = p.clone();
    let purged = off_thread(&s, move |s| async move { actions::purge(&s, &who, &dlq, form).await }).await?;
    let lines = [format!("Purged ≈{} message(s) from {} (SQS finishes deleting within 60 s).", purged.approximate_count, purged.queue)];
    page(views::done(&ctx(&s, &p), "Purged", &lines, purged.audit_id))
}
async fn purge_api(
    State(s): St,
    p: Principal,
    Path(dlq): Path<String>,
    Input(form): Input<WholeQueueForm>,
) -> Api<jobfleet_ops::service::Purged> {
    Ok(Json(off_thread(&s, move |s| async move { actions::purge(&s, &p, &dlq, form).await }).await?))
}

async fn audit_page(State(s): St, p: Principal, Query(q): Query<AuditParams>) -> Page {
    page(views::audit(&ctx(&s, &p), &off_thread(&s, move |s| async move { data::audit_page(&s, q).await }).await?))
}
async fn audit_api(State(s): St, Query(q): Query<AuditParams>) -> Api<data::AuditPage> {
    Ok(Json(off_thread(&s, move |s| async move { data::audit_page(&s, q).await }).await?))
}

/// Who the caller is, and the CSRF token API clients send as X-CSRF-Token.
async fn session_api(State(s): St, p: Principal) -> Json<serde_json::Value> {
    Json(json!({ "actor": p.actor, "role": p.role, "via": p.via, "csrf_token": s.csrf(&p) }))
}

async fn healthz() -> &'static str {
    "ok"
}

const CSS: &str = include_str!("../assets/console.css");
const JS: &str = include_str!("../assets/console.js");

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")], CSS).into_response()
}
async fn js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")], JS).into_response()
}

/// The Content-Security-Policy: own scripts and styles only, no inline
/// code, no framing, forms post only here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(request: axum::extract::Request, next: middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    response
}

async fn not_found() -> ConsoleError {
    ConsoleError::not_found("no such page")
}

pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.settings.max_body_bytes;
    Router::new()
        .route("/", get(overview_page))
        .route("/api/overview", get(overview_api))
        .route("/jobs", get(jobs_page))
        .route("/api/jobs", get(jobs_api))
        .route("/jobs/{id}", get(job_page))
        .route("/api/jobs/{id}", get(job_api))
        .route("/dlq", get(dlq_page))
        .route("/api/dlq", get(dlq_api))
        .route("/dlq/{dlq}", get(triage_page))
        .route("/api/dlq/{dlq}", get(triage_api))
        .route("/dlq/{dlq}/messages", get(browse_page))
        .route("/api/dlq/{dlq}/messages", get(browse_api))
        .route("/dlq/{dlq}/messages/{id}", get(message_page))
        .route("/api/dlq/{dlq}/messages/{id}", get(message_api))
        .route("/dlq/{dlq}/replay/preview", post(preview_page))
        .route("/api/dlq/{dlq}/replay/preview", post(preview_api))
        .route("/dlq/{dlq}/replay", post(replay_page))
        .route("/api/dlq/{dlq}/replay", post(replay_api))
        .route("/dlq/{dlq}/redrive", post(redrive_page))
        .route("/api/dlq/{dlq}/redrive", post(redrive_api))
        .route("/dlq/{dlq}/purge", post(purge_page))
        .route("/api/dlq/{dlq}/purge", post(purge_api))
        .route("/replays/{id}", get(status_page))
        .route("/api/replays/{id}", get(status_api))
        .route("/replays/{id}/stop", post(stop_page))
        .route("/api/replays/{id}/stop", post(stop_api))
        .route("/audit", get(audit_page))
        .route("/api/audit", get(audit_api))
        .route("/api/session", get(session_api))
        .route("/healthz", get(healthz))
        .route("/static/console.css", get(css))
        .route("/static/console.js", get(js))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), auth::guard))
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
