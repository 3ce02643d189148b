//! The console's state-changing actions: replay preview (a dry run),
//! replay (of exactly what a preview showed, confirmed), stop, redrive and
//! purge. Each calls `jobfleet_ops::service` — the same engine and audit
//! rows as the CLI — with the authenticated user as the actor.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use jobfleet_ops::audit::{self, Origin};
use jobfleet_ops::filter::{Filter, parse_rate};
use jobfleet_ops::queues;
use jobfleet_ops::replay::Quiet;
use jobfleet_ops::service::{self, DlqKey, Purged, RedriveStart, ReplayRequest, StartedReplay};

use crate::auth::{CSRF_FIELD, Principal};
use crate::data::{self, FilterParams, PreviewData};
use crate::error::ConsoleError;
use crate::state::AppState;

/// How long a preview can be confirmed.
const PREVIEW_VALID: time::Duration = time::Duration::hours(1);

/// A form (urlencoded; repeated `ids` collected) or a JSON body. The CSRF
/// token was checked by the guard before this runs.
#[derive(Debug)]
pub struct Input<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Input<T> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("application/json"));
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|_| ConsoleError::too_large(0))?;
        let value = if json {
            if bytes.is_empty() {
                json!({})
            } else {
                serde_json::from_slice(&bytes).map_err(|e| ConsoleError::bad_request(format!("the JSON body is not valid: {e}"), None))?
            }
        } else {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&bytes).map_err(|_| ConsoleError::bad_request("the form could not be read", None))?;
            let mut map = serde_json::Map::new();
            for (key, value) in pairs {
                if key == CSRF_FIELD || value.trim().is_empty() {
                    continue;
                }
                if key == "ids" {
                    if let Value::Array(ids) = map.entry("ids").or_insert_with(|| Value::Array(Vec::new())) {
                        ids.push(Value::String(value));
                    }
                } else {
                    map.insert(key, Value::String(value));
                }
            }
            Value::Object(map)
        };
        serde_json::from_value(value).map(Input).map_err(|e| ConsoleError::bad_request(format!("the request is not valid: {e}"), None))
    }
}

/// An integer given as a number (JSON) or text (a form).
fn int<'de, D: Deserializer<'de>, T: std::str::FromStr + TryFrom<i64>>(d: D) -> Result<T, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64().and_then(|n| T::try_from(n).ok()).ok_or_else(|| serde::de::Error::custom("not an integer in range")),
        Value::String(s) => s.trim().parse().map_err(|_| serde::de::Error::custom(format!("{s:?} is not an integer"))),
        _ => Err(serde::de::Error::custom("expected an integer")),
    }
}

fn opt_int<'de, D: Deserializer<'de>, T: std::str::FromStr + TryFrom<i64>>(d: D) -> Result<Option<T>, D::Error> {
    int(d).map(Some)
}

/// A text given as a string or a number.
fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Null => Ok(None),
        _ => Err(serde::de::Error::custom("expected text")),
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PreviewForm {
    #[serde(rename = "type")]
    pub job_type: Option<String>,
    pub error_class: Option<String>,
    pub since: Option<String>,
    #[serde(default)]
    pub ids: Vec<String>,
    /// Messages per second: `20`, `20/s`, `600/m`.
    #[serde(default, deserialize_with = "opt_text")]
    pub rate: Option<String>,
    /// `selection` (the ids) or `filter` (everything matching, ids ignored).
    pub scope: Option<String>,
}

fn rate_of(text: Option<&str>) -> Result<Option<f64>, ConsoleError> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(parse_rate)
        .transpose()
        .map_err(|e| ConsoleError::bad_request(e.replace("--rate", "rate"), Some("e.g. 20, 20/s or 600/m")))
}

fn spawn_run(state: &Arc<AppState>, started: StartedReplay) {
    let token = state.shutdown.child_token();
    if let Ok(mut running) = state.running.lock() {
        running.insert(started.audit_id, token.clone());
    }
    let state = Arc::clone(state);
    // A blocking-pool thread drives the replay (see `state::off_thread`).
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        handle.block_on(async move {
        match service::run_replay(&state.sqs, &state.db, &started, &token, &mut Quiet).await {
            Ok(summary) => tracing::info!(audit_id = started.audit_id, moved = summary.counts.moved, outcome = %service::outcome_text(&summary), "console replay ended"),
            Err(e) => tracing::warn!(audit_id = started.audit_id, error = %e, "console replay ended with an error"),
        }
        if let Ok(mut running) = state.running.lock() {
            running.remove(&started.audit_id);
        }
    })
    });
}

pub async fn preview(state: &AppState, principal: &Principal, key: &str, form: PreviewForm) -> Result<PreviewData, ConsoleError> {
    let (key, config) = data::dlq_scope(state, key).await?;
    let ids = match form.scope.as_deref() {
        Some("filter") => Vec::new(),
        Some("selection") if form.ids.is_empty() => {
            return Err(ConsoleError::bad_request(
                "no message selected",
                Some("tick the messages to replay, or replay everything matching the filter"),
            ));
        }
        _ => form.ids.clone(),
    };
    let params = FilterParams { job_type: form.job_type.clone(), error_class: form.error_class.clone(), since: form.since.clone() };
    let filter = params.filter(ids)?;
    let rate = rate_of(form.rate.as_deref())?;
    let request = ReplayRequest {
        pool: key.pool,
        filter: filter.clone(),
        rate_per_sec: rate,
        limit: None,
        dry_run: true,
        visibility_secs: state.settings.visibility_secs,
        extra: json!({ "scope": form.scope }),
    };
    let started = service::begin_replay(&state.sqs, &config, &state.db, request, &principal.actor, Origin::Console).await?;
    let stop = state.shutdown.child_token();
    let mut summary = service::run_replay(&state.sqs, &state.db, &started, &stop, &mut Quiet).await?;
    summary.planned.truncate(100);
    Ok(PreviewData {
        preview_id: started.audit_id,
        pool: key.pool.to_string(),
        dlq_key: key.to_string(),
        dlq: started.dlq_name,
        filter_text: filter.describe(),
        rate: form.rate,
        needs_typed_confirmation: summary.counts.matched > state.settings.confirm_above,
        summary,
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReplayForm {
    /// The audit id of the dry run being confirmed.
    #[serde(deserialize_with = "int")]
    pub preview_id: i64,
    #[serde(default, deserialize_with = "opt_text")]
    pub rate: Option<String>,
    /// The preview's count, typed, when it is above the confirmation threshold.
    #[serde(default, deserialize_with = "opt_text")]
    pub confirm: Option<String>,
}

/// The filter a preview's audit row recorded.
fn recorded_filter(filters: &Value) -> Result<Filter, ConsoleError> {
    let text = |k: &str| filters.get(k).and_then(Value::as_str).map(str::to_owned);
    let since = match text("since") {
        Some(s) => {
            Some(OffsetDateTime::parse(&s, &Rfc3339).map_err(|_| ConsoleError::conflict("the preview's filter cannot be read", None))?)
        }
        None => None,
    };
    let ids = filters
        .get("ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    Ok(Filter { job_type: text("type"), error_class: text("error_class"), since, ids })
}

/// Starts the replay a preview showed; returns its audit id.
pub async fn replay(state: &Arc<AppState>, principal: &Principal, key: &str, form: ReplayForm) -> Result<i64, ConsoleError> {
    let (key, config) = data::dlq_scope(state, key).await?;
    let stale = || {
        ConsoleError::conflict(
            format!("audit #{} is not a replay preview of the {key} DLQ that can be confirmed", form.preview_id),
            Some("run the preview again"),
        )
    };
    let preview = audit::get(&state.db, &state.config.env, form.preview_id).await?.ok_or_else(stale)?;
    let fresh = OffsetDateTime::now_utc() - preview.at < PREVIEW_VALID;
    // The same DLQ, not only the same pool: a preview of a priority
    // queue's DLQ must not start a replay of the pool's own. Named as the
    // preview's audit row named it (the queue its URL ends in).
    let dlq_name = queues::name_in_url(&queues::require_dlq(&state.sqs, &config, key.pool).await?);
    let same_dlq = preview.pool == key.pool.as_str() && preview.queue == dlq_name;
    if preview.action != "replay" || !preview.dry_run || !preview.finished || !same_dlq || !fresh {
        return Err(stale());
    }
    let matched = u64::try_from(preview.matched).unwrap_or(0);
    if matched == 0 {
        return Err(ConsoleError::bad_request("the preview matched no message: nothing to replay", None));
    }
    let typed = form.confirm.as_deref().map(str::trim);
    if matched > state.settings.confirm_above && typed != Some(matched.to_string().as_str()) {
        return Err(ConsoleError::bad_request(
            format!("replaying {matched} messages needs the count typed to confirm"),
            Some("type the number of messages the preview showed into the confirmation field"),
        ));
    }
    let rate = rate_of(form.rate.as_deref())?;
    let request = ReplayRequest {
        pool: key.pool,
        filter: recorded_filter(&preview.filters)?,
        rate_per_sec: rate,
        // Never more than the operator saw and confirmed.
        limit: Some(matched),
        dry_run: false,
        visibility_secs: state.settings.visibility_secs,
        extra: json!({ "preview_id": preview.id, "typed_confirmation": matched > state.settings.confirm_above }),
    };
    let started = service::begin_replay(&state.sqs, &config, &state.db, request, &principal.actor, Origin::Console).await?;
    let id = started.audit_id;
    spawn_run(state, started);
    Ok(id)
}

/// Asks a running replay to stop (here at once; on another replica at its next progress write).
pub async fn stop(state: &AppState, principal: &Principal, id: i64) -> Result<(), ConsoleError> {
    if !audit::request_stop(&state.db, &state.config.env, id, &principal.actor).await? {
        return Err(ConsoleError::conflict(format!("audit #{id} is not running (or a stop was already asked for)"), None));
    }
    if let Some(token) = state.running.lock().ok().and_then(|m| m.get(&id).cloned()) {
        token.cancel();
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize)]
pub struct WholeQueueForm {
    /// The DLQ's key (`media`, `notifications:high`), typed.
    #[serde(default, deserialize_with = "opt_text")]
    pub confirm: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    pub rate: Option<i32>,
}

fn typed_key(form: &WholeQueueForm, key: &DlqKey, action: &str) -> Result<(), ConsoleError> {
    let expected = key.to_string();
    if form.confirm.as_deref().map(str::trim) == Some(expected.as_str()) {
        Ok(())
    } else {
        let what = if key.priority_queue.is_some() { "the pool and queue" } else { "the pool name" };
        Err(ConsoleError::bad_request(format!("{action} needs {what} typed to confirm: {expected}"), Some("type it exactly as shown")))
    }
}

/// What a redrive did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Redriven {
    MessageMoveTask { audit_id: i64, task_handle: String, approximate_count: u64 },
    FilteredReplay { audit_id: i64 },
}

pub async fn redrive(state: &Arc<AppState>, principal: &Principal, key: &str, form: WholeQueueForm) -> Result<Redriven, ConsoleError> {
    let (key, config) = data::dlq_scope(state, key).await?;
    typed_key(&form, &key, "redrive")?;
    let start = service::begin_redrive(
        &state.sqs,
        &config,
        &state.db,
        key.pool,
        form.rate,
        &principal.actor,
        Origin::Console,
        state.settings.visibility_secs,
    )
    .await?;
    Ok(match start {
        RedriveStart::MoveTask { audit_id, task_handle, approximate_count } => {
            Redriven::MessageMoveTask { audit_id, task_handle, approximate_count }
        }
        RedriveStart::Replay(started) => {
            let audit_id = started.audit_id;
            spawn_run(state, *started);
            Redriven::FilteredReplay { audit_id }
        }
    })
}

pub async fn purge(state: &AppState, principal: &Principal, key: &str, form: WholeQueueForm) -> Result<Purged, ConsoleError> {
    let (key, config) = data::dlq_scope(state, key).await?;
    typed_key(&form, &key, "purge")?;
    Ok(service::purge(&state.sqs, &config, &state.db, key.pool, &principal.actor, Origin::Console).await?)
}
