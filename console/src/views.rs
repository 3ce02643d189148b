//! The HTML pages (maud: compile-checked, every interpolation escaped).
//! No inline script or style anywhere (the CSP forbids both): behaviour is
//! in /static/console.js, looks in /static/console.css, and every page
//! reads fine without them. Action forms are rendered for operators only.

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::{CSRF_FIELD, Principal};
use crate::data::{
    AuditPage, BrowseData, DlqIndex, JobDetail, JobsData, MessageDetail, Overview, PoolOverview, PreviewData, ReplayStatus, TriageData,
};
use crate::error::ConsoleError;
use jobfleet_ops::ledger::{HourBucket, STATUSES};

/// What every page needs about the request.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub principal: Principal,
    pub csrf: String,
    pub env: String,
}

pub fn qs(pairs: &[(&str, Option<&str>)]) -> String {
    let present: Vec<(&str, &str)> = pairs.iter().filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (*k, v))).collect();
    if present.is_empty() { String::new() } else { format!("?{}", serde_urlencoded::to_string(present).unwrap_or_default()) }
}

fn when(at: Option<OffsetDateTime>) -> Markup {
    match at {
        Some(t) => {
            let text = t.replace_nanosecond(0).unwrap_or(t).format(&Rfc3339).unwrap_or_default();
            html! { time datetime=(text) { (text.replace('T', " ").trim_end_matches('Z')) " UTC" } }
        }
        None => html! { "–" },
    }
}

pub fn age(secs: Option<i64>) -> String {
    match secs {
        None => "–".into(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7_200 => format!("{}m", s / 60),
        Some(s) if s < 172_800 => format!("{}h{:02}m", s / 3_600, (s % 3_600) / 60),
        Some(s) => format!("{}d", s / 86_400),
    }
}

fn count(n: Option<u64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_else(|| "missing".into())
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("–")
}

fn layout(ctx: &Ctx, title: &str, refresh_secs: Option<u32>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(ctx.csrf);
                @if let Some(secs) = refresh_secs { meta http-equiv="refresh" content=(secs); }
                title { (title) " · jobfleet console (" (ctx.env) ")" }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    nav aria-label="Main" {
                        span.brand { "jobfleet · " (ctx.env) }
                        a href="/" { "Overview" }
                        a href="/jobs" { "Jobs" }
                        a href="/dlq" { "Dead letters" }
                        a href="/audit" { "Audit" }
                    }
                    p.who { (ctx.principal.actor) " · " span.role { (ctx.principal.role.as_str()) } }
                }
                main id="main" { h1 { (title) } (body) }
            }
        }
    }
}

/// An error page; needs no context, so it also serves failed authentication.
pub fn error_page(e: &ConsoleError) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (e.title()) " · jobfleet console" } link rel="stylesheet" href="/static/console.css"; }
            body {
                main id="main" {
                    h1 { (e.title()) }
                    div.error role="alert" {
                        p { strong { "What failed: " } (e.message) }
                        @if let Some(hint) = &e.hint { p { strong { "What to do: " } (hint) } }
                    }
                    p { a href="/" { "Back to the overview" } }
                }
            }
        }
    }
}

fn csrf_field(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(ctx.csrf); }
}

/// 24 hourly bars (succeeded up, failed in red on top), oldest left.
fn chart(pool: &str, buckets: &[HourBucket], now: OffsetDateTime) -> Markup {
    let start = now.replace_minute(0).and_then(|t| t.replace_second(0)).and_then(|t| t.replace_nanosecond(0)).unwrap_or(now);
    let mut hours = [(0i64, 0i64); 24];
    for b in buckets {
        let back = (start - b.hour).whole_hours();
        if (0..24).contains(&back) {
            let slot = 23 - back as usize;
            hours[slot].0 += b.succeeded;
            hours[slot].1 += b.failed;
        }
    }
    let max = hours.iter().map(|(s, f)| s + f).max().unwrap_or(0).max(1) as f64;
    let (w, h, bar) = (240.0, 60.0, 10.0);
    let total_ok: i64 = hours.iter().map(|x| x.0).sum();
    let total_failed: i64 = hours.iter().map(|x| x.1).sum();
    html! {
        svg.chart viewBox=(format!("0 0 {w} {h}")) width="240" height="60" role="img"
            aria-label=(format!("{pool}: {total_ok} succeeded and {total_failed} failed in the last 24 hours, per hour")) {
            title { (pool) ": finished jobs per hour, last 24 h" }
            line x1="0" y1=(h) x2=(w) y2=(h) class="axis" {}
            @for (i, (ok, failed)) in hours.iter().enumerate() {
                @let x = i as f64 * bar;
                @let ok_h = (*ok as f64 / max) * (h - 2.0);
                @let failed_h = (*failed as f64 / max) * (h - 2.0);
                @if *ok > 0 { rect.ok x=(format!("{x:.1}")) y=(format!("{:.1}", h - ok_h)) width=(bar - 2.0) height=(format!("{ok_h:.1}")) {} }
                @if *failed > 0 {
                    rect.failed x=(format!("{x:.1}")) y=(format!("{:.1}", h - ok_h - failed_h)) width=(bar - 2.0) height=(format!("{failed_h:.1}")) {}
                }
            }
        }
    }
}

fn rate(p: &PoolOverview, day: bool) -> String {
    let w = if day { &p.last_day } else { &p.last_hour };
    let done = w.succeeded + w.failed;
    if done == 0 { "–".into() } else { format!("{:.1}%", 100.0 * w.failed as f64 / done as f64) }
}

pub fn overview(ctx: &Ctx, o: &Overview) -> Markup {
    let body = html! {
        p.muted { "Queue depths from SQS (approximate), throughput from the ledger. Generated " (when(Some(o.generated_at))) "." }
        div.cards {
            @for p in &o.pools {
                section.card aria-labelledby=(format!("pool-{}", p.pool)) {
                    h2 id=(format!("pool-{}", p.pool)) { (p.pool) }
                    table.kv {
                        tbody {
                            tr { th scope="row" { "Visible" } td { (count(p.queue.visible)) } }
                            tr { th scope="row" { "In flight" } td { (count(p.queue.in_flight)) } }
                            tr { th scope="row" { "Delayed" } td { (count(p.queue.delayed)) } }
                            tr { th scope="row" { "Dead letters" } td { a href=(format!("/dlq/{}", p.pool)) { (count(p.dlq.visible)) } } }
                            @for q in &p.priority_queues {
                                tr {
                                    th scope="row" { "Queue " (q.name) " (weight " (q.weight) ")" }
                                    td { (count(q.queue.visible)) " visible · " (count(q.queue.in_flight)) " in flight · "
                                        a href=(format!("/dlq/{}:{}", p.pool, q.name)) { (count(q.dlq.visible)) " dead" } }
                                }
                            }
                            tr { th scope="row" { "Oldest waiting job" } td { (age(p.oldest_waiting_secs)) } }
                            tr { th scope="row" { "Backlog (drain time)" } td { (p.backlog_secs.map(|s| age(Some(s as i64))).unwrap_or_else(|| "–".into())) } }
                            tr { th scope="row" { "Last hour" } td { (p.last_hour.succeeded) " ok · " (p.last_hour.failed) " failed (" (rate(p, false)) ")" } }
                            tr { th scope="row" { "Last day" } td { (p.last_day.succeeded) " ok · " (p.last_day.failed) " failed (" (rate(p, true)) ")" } }
                        }
                    }
                    (chart(&p.pool, &p.hours, o.generated_at))
                    p.links {
                        a href=(format!("/jobs{}", qs(&[("pool", Some(&p.pool))]))) { "Jobs" } " · "
                        a href=(format!("/jobs{}", qs(&[("pool", Some(&p.pool)), ("status", Some("dead"))]))) { "Dead jobs" } " · "
                        a href=(format!("/dlq/{}", p.pool)) { "DLQ triage" }
                    }
                }
            }
        }
    };
    layout(ctx, "Overview", None, body)
}

pub fn jobs(ctx: &Ctx, d: &JobsData) -> Markup {
    let f = &d.params;
    let body = html! {
        form.filters method="get" action="/jobs" {
            label { "Status " select name="status" {
                option value="" { "any" }
                @for s in STATUSES { option value=(s) selected[f.status.as_deref() == Some(s)] { (s) } }
            } }
            label { "Pool " select name="pool" {
                option value="" { "any" }
                @for p in &d.pools { option value=(p) selected[f.pool.as_deref() == Some(p.as_str())] { (p) } }
            } }
            label { "Type prefix " input type="text" name="type" value=[f.job_type.as_deref()] placeholder="media."; }
            label { "Error class " input type="text" name="error_class" value=[f.error_class.as_deref()]; }
            label { "Updated from " input type="text" name="from" value=[f.from.as_deref()] placeholder="2h or 2026-12-05T09:00"; }
            label { "to " input type="text" name="to" value=[f.to.as_deref()] placeholder="RFC 3339"; }
            label { "Job id " input type="text" name="id" value=[f.id.as_deref()]; }
            label { "Idempotency key " input type="text" name="key" value=[f.key.as_deref()]; }
            button type="submit" { "Search" }
        }
        @if d.page.jobs.is_empty() { p { "No job matches." } } @else {
            table.list {
                caption { "Newest first" }
                thead { tr { th scope="col" { "Job" } th scope="col" { "Type" } th scope="col" { "Pool" } th scope="col" { "Status" }
                    th scope="col" { "Attempts" } th scope="col" { "Updated" } th scope="col" { "Last error" } } }
                tbody {
                    @for j in &d.page.jobs {
                        tr {
                            td { a.mono href=(format!("/jobs/{}", j.id)) { (j.id) } }
                            td { (j.job_type) } td { (j.pool) } td { span class=(format!("status {}", j.status)) { (j.status) } }
                            td.num { (j.attempts) } td { (when(Some(j.updated_at))) }
                            td { (j.last_error_class.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &d.page.next {
            p { a rel="next" href=(format!("/jobs{}", qs(&[("status", f.status.as_deref()), ("pool", f.pool.as_deref()), ("type", f.job_type.as_deref()),
                ("error_class", f.error_class.as_deref()), ("from", f.from.as_deref()), ("to", f.to.as_deref()), ("id", f.id.as_deref()),
                ("key", f.key.as_deref()), ("after", Some(next))]))) { "Older jobs →" } }
        }
    };
    layout(ctx, "Jobs", None, body)
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

pub fn job(ctx: &Ctx, d: &JobDetail) -> Markup {
    let j = &d.job;
    let dlq_key = d.dlq_key.as_deref().unwrap_or(&j.pool);
    let body = html! {
        table.kv {
            tbody {
                tr { th scope="row" { "Id" } td.mono { (j.id) } }
                tr { th scope="row" { "Type" } td { (j.job_type) } }
                tr { th scope="row" { "Pool" } td { (j.pool) } }
                tr { th scope="row" { "Status" } td { span class=(format!("status {}", j.status)) { (j.status) } } }
                tr { th scope="row" { "Attempts" } td { (j.attempts) " (duplicate deliveries: " (j.duplicate_deliveries) ")" } }
                tr { th scope="row" { "Idempotency key" } td.mono { (j.idempotency_key) } }
                tr { th scope="row" { "Enqueued" } td { (when(j.enqueued_at)) } }
                tr { th scope="row" { "Started" } td { (when(j.started_at)) } }
                tr { th scope="row" { "Finished" } td { (when(j.finished_at)) } }
                tr { th scope="row" { "Updated" } td { (when(Some(j.updated_at))) } }
                tr { th scope="row" { "Last error" } td { (opt(&j.last_error_class)) ": " (opt(&j.last_error_message)) } }
                tr { th scope="row" { "In the DLQ now" } td {
                    @match (&d.dlq_message, d.dlq_checked) {
                        (Some(m), _) => { "yes — " a href=(format!("/dlq/{}/messages/{}", dlq_key, m.message_id)) { "message " (m.message_id) } " in " (dlq_key) }
                        (None, true) => { "no" }
                        (None, false) => { "not checked (only failed and dead jobs are looked up)" }
                    }
                } }
            }
        }
        @if let Some(result) = &j.result { h2 { "Result" } pre { (pretty(result)) } }
        h2 { "Envelope" }
        @match &d.envelope {
            Some(envelope) => { pre.payload { (pretty(envelope)) } p.muted { "Fields named in JOBFLEET_CONSOLE_REDACT are shown as [redacted]." } }
            None => { p { "Not stored: the ledger keeps states, not payloads. Jobs enqueued through the outbox, and jobs in the DLQ, show theirs." } }
        }
        @if let (Some(m), true) = (&d.dlq_message, ctx.principal.is_operator()) {
            h2 { "Actions" }
            form method="post" action=(format!("/dlq/{dlq_key}/replay/preview")) {
                (csrf_field(ctx))
                input type="hidden" name="ids" value=(m.message_id);
                button type="submit" { "Preview a replay of this job" }
            }
        }
    };
    layout(ctx, &format!("Job {}", j.id), None, body)
}

pub fn dlq_index(ctx: &Ctx, d: &DlqIndex) -> Markup {
    let body = html! {
        table.list {
            thead { tr { th scope="col" { "Pool" } th scope="col" { "Dead-letter queue" } th scope="col" { "Visible" } th scope="col" { "In flight" } } }
            tbody {
                @for p in &d.pools {
                    tr {
                        td { a href=(format!("/dlq/{}", p.pool)) { (p.pool) } }
                        td.mono { (p.dlq.name) } td.num { (count(p.dlq.visible)) } td.num { (count(p.dlq.in_flight)) }
                    }
                    @for q in &p.priority_queues {
                        tr {
                            td { a href=(format!("/dlq/{}:{}", p.pool, q.name)) { (p.pool) ":" (q.name) } }
                            td.mono { (q.dlq.name) } td.num { (count(q.dlq.visible)) } td.num { (count(q.dlq.in_flight)) }
                        }
                    }
                }
            }
        }
    };
    layout(ctx, "Dead letters", None, body)
}

fn filter_inputs(job_type: Option<&str>, error_class: Option<&str>, since: Option<&str>) -> Markup {
    html! {
        label { "Type " input type="text" name="type" value=[job_type] placeholder="media.* or exact"; }
        label { "Error class " input type="text" name="error_class" value=[error_class]; }
        label { "Failed since " input type="text" name="since" value=[since] placeholder="2h or RFC 3339"; }
    }
}

pub fn triage(ctx: &Ctx, d: &TriageData) -> Markup {
    let t = &d.triage;
    // `pool`, or `pool:queue` for a priority queue's DLQ.
    let key = &d.dlq_key;
    let what = if key.contains(':') { "the pool and queue" } else { "the pool name" };
    let body = html! {
        p { "Queue " span.mono { (t.queue) } ": ≈" (count(t.approximate_visible)) " visible. Peeked " (t.scanned) " message(s)"
            @if t.truncated { " (a sample: the counts below are of the first " (t.scanned) ")" } "." }
        @if t.groups.is_empty() { p { "The dead-letter queue is empty." } } @else {
            table.list {
                caption { "By job type × error class" }
                thead { tr { th scope="col" { "Type" } th scope="col" { "Error class" } th scope="col" { "Messages" }
                    th scope="col" { "Oldest failure" } th scope="col" { "Newest failure" } th scope="col" { span.sr { "Actions" } } } }
                tbody {
                    @for g in &t.groups {
                        tr {
                            td { (opt(&g.job_type)) } td { (opt(&g.error_class)) } td.num { (g.count) }
                            td { (when(g.oldest_failed_at)) } td { (when(g.newest_failed_at)) }
                            td.actions {
                                a href=(format!("/dlq/{key}/messages{}", qs(&[("type", g.job_type.as_deref()), ("error_class", g.error_class.as_deref())]))) { "Browse" }
                                @if ctx.principal.is_operator() {
                                    form.inline method="post" action=(format!("/dlq/{key}/replay/preview")) {
                                        (csrf_field(ctx))
                                        @if let Some(t) = &g.job_type { input type="hidden" name="type" value=(t); }
                                        @if let Some(c) = &g.error_class { input type="hidden" name="error_class" value=(c); }
                                        button type="submit" { "Preview replay" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Filter" }
        form.filters method="get" action=(format!("/dlq/{key}/messages")) {
            (filter_inputs(None, None, None))
            button type="submit" { "Browse matching messages" }
        }
        @if ctx.principal.is_operator() {
            h2 { "Whole queue" }
            div.danger {
                form method="post" action=(format!("/dlq/{key}/redrive")) {
                    (csrf_field(ctx))
                    p { "Redrive moves " strong { "every" } " message back to " span.mono { (d.queue_name) } "." }
                    label { "Type " (what) " (" (key) ") to confirm " input type="text" name="confirm" autocomplete="off" required data-must-equal=(key); }
                    label { "Rate (messages/s, optional) " input type="number" name="rate" min="1" max="500"; }
                    button type="submit" { "Redrive all" }
                }
                form method="post" action=(format!("/dlq/{key}/purge")) {
                    (csrf_field(ctx))
                    p { "Purge " strong { "deletes every message" } " of " span.mono { (t.queue) } " for good." }
                    label { "Type " (what) " (" (key) ") to confirm " input type="text" name="confirm" autocomplete="off" required data-must-equal=(key); }
                    button.destructive type="submit" { "Purge" }
                }
            }
        }
    };
    layout(ctx, &format!("Dead letters · {key}"), None, body)
}

pub fn browse(ctx: &Ctx, d: &BrowseData) -> Markup {
    let key = &d.dlq_key;
    let f = &d.params;
    // A FIFO or fair pool's dead letters carry their group (order, or
    // tenant), and a replay keeps it: the operator sees which groups a
    // selection touches.
    let grouped = d.messages.iter().any(|m| m.group_id.is_some());
    let body = html! {
        form.filters method="get" action=(format!("/dlq/{key}/messages")) {
            (filter_inputs(f.job_type.as_deref(), f.error_class.as_deref(), f.since.as_deref()))
            button type="submit" { "Filter" }
        }
        p { (d.messages.len()) " message(s) match" @if d.truncated { " (first " (d.messages.len()) " shown)" } "." }
        form method="post" action=(format!("/dlq/{key}/replay/preview")) {
            (csrf_field(ctx))
            @if let Some(v) = &f.job_type { input type="hidden" name="type" value=(v); }
            @if let Some(v) = &f.error_class { input type="hidden" name="error_class" value=(v); }
            @if let Some(v) = &f.since { input type="hidden" name="since" value=(v); }
            table.list {
                thead { tr {
                    @if ctx.principal.is_operator() { th scope="col" { span.sr { "Select" } } }
                    th scope="col" { "Message" } th scope="col" { "Job" }
                    @if grouped { th scope="col" { "Message group" } }
                    th scope="col" { "Type" } th scope="col" { "Error class" }
                    th scope="col" { "Error" } th scope="col" { "Attempts" } th scope="col" { "Failed" } } }
                tbody {
                    @for m in &d.messages {
                        tr {
                            @if ctx.principal.is_operator() {
                                td { input type="checkbox" name="ids" value=(m.message_id) aria-label=(format!("select {}", m.message_id)); }
                            }
                            td { a.mono href=(format!("/dlq/{key}/messages/{}", m.message_id)) { (m.message_id.get(..8).unwrap_or(&m.message_id)) "…" } }
                            td { @if let Some(id) = m.job_id { a.mono href=(format!("/jobs/{id}")) { (id) } } @else { "–" } }
                            @if grouped { td.mono { (opt(&m.group_id)) } }
                            td { (opt(&m.job_type)) } td { (opt(&m.error_class)) } td { (opt(&m.error_message)) }
                            td.num { (m.attempts.map(|a| a.to_string()).unwrap_or_default()) } td { (when(m.failed_at)) }
                        }
                    }
                }
            }
            @if ctx.principal.is_operator() && !d.messages.is_empty() {
                p.buttons {
                    button type="submit" name="scope" value="selection" { "Preview replay of the selection" }
                    " "
                    button type="submit" name="scope" value="filter" { "Preview replay of everything matching the filter" }
                }
            }
        }
    };
    layout(ctx, &format!("Dead letters · {key} · messages"), None, body)
}

pub fn message(ctx: &Ctx, d: &MessageDetail) -> Markup {
    let m = &d.message;
    let body = html! {
        table.kv { tbody {
            tr { th scope="row" { "Message id" } td.mono { (m.message_id) } }
            tr { th scope="row" { "Job" } td { @if let Some(id) = m.job_id { a.mono href=(format!("/jobs/{id}")) { (id) } } @else { "–" } } }
            tr { th scope="row" { "Type" } td { (opt(&m.job_type)) } }
            tr { th scope="row" { "Error class" } td { (opt(&m.error_class)) } }
            tr { th scope="row" { "Error" } td { (opt(&m.error_message)) } }
            tr { th scope="row" { "Attempts" } td { (m.attempts.map(|a| a.to_string()).unwrap_or_default()) } }
            tr { th scope="row" { "Replayed before" } td { (m.replay_count) " time(s)" } }
            tr { th scope="row" { "Failed at" } td { (when(m.failed_at)) } }
            tr { th scope="row" { "Source queue" } td.mono { (opt(&m.source_queue)) } }
            @if let Some(group) = &m.group_id {
                tr { th scope="row" { "Message group" } td { span.mono { (group) } " (a replay keeps it: a FIFO pool's order, a fair pool's tenant)" } }
            }
            @if let Some(e) = &m.decode_error { tr { th scope="row" { "Not a valid envelope" } td { (e) } } }
        } }
        h2 { "Body" }
        pre.payload { (d.body) }
        p.muted { "Fields named in JOBFLEET_CONSOLE_REDACT are shown as [redacted]." }
        @if ctx.principal.is_operator() {
            form method="post" action=(format!("/dlq/{}/replay/preview", d.dlq_key)) {
                (csrf_field(ctx))
                input type="hidden" name="ids" value=(m.message_id);
                button type="submit" { "Preview a replay of this message" }
            }
        }
    };
    layout(ctx, "Dead letter", None, body)
}

pub fn preview(ctx: &Ctx, d: &PreviewData) -> Markup {
    let s = &d.summary;
    let body = html! {
        p { strong { "Dry run — nothing was moved." } " Filter: " span.mono { (d.filter_text) } ". Audit #" (d.preview_id) "." }
        p { (s.counts.matched) " of " (s.counts.scanned) " message(s) in " span.mono { (d.dlq) } " would move." }
        @if !s.groups.is_empty() {
            table.list {
                caption { "What would move, and where" }
                thead { tr { th scope="col" { "Type" } th scope="col" { "Error class" } th scope="col" { "Target queue" } th scope="col" { "Messages" } } }
                tbody { @for g in &s.groups { tr { td { (opt(&g.job_type)) } td { (opt(&g.error_class)) } td.mono { (g.target) } td.num { (g.count) } } } }
            }
        }
        @if let Some(e) = &s.error { div.error role="alert" { p { "The dry run stopped early: " (e) } } }
        @if s.counts.matched > 0 {
            h2 { "Replay" }
            form method="post" action=(format!("/dlq/{}/replay", d.dlq_key)) {
                (csrf_field(ctx))
                input type="hidden" name="preview_id" value=(d.preview_id);
                label { "Rate (messages/s; empty for as fast as SQS allows) " input type="text" name="rate" value=[d.rate.as_deref()] placeholder="e.g. 20/s"; }
                @if d.needs_typed_confirmation {
                    label { "This moves " (s.counts.matched) " messages: type " strong { (s.counts.matched) } " to confirm "
                        input type="text" name="confirm" autocomplete="off" required data-must-equal=(s.counts.matched); }
                }
                p { "At most " (s.counts.matched) " message(s) (the preview's count) are moved." }
                button type="submit" { "Replay " (s.counts.matched) " message(s)" }
            }
        } @else { p { "Nothing to replay." } }
        p { a href=(format!("/dlq/{}", d.dlq_key)) { "Back to the triage" } }
    };
    layout(ctx, &format!("Replay preview · {}", d.dlq_key), None, body)
}

pub fn replay_status(ctx: &Ctx, d: &ReplayStatus) -> Markup {
    let r = &d.record;
    let refresh = (!r.finished && d.running_here).then_some(2);
    let state = if r.finished {
        format!("finished: {}", r.outcome.as_deref().unwrap_or(""))
    } else if r.stop_requested_at.is_some() {
        "stopping after the current batch".to_owned()
    } else if d.running_here {
        "running".to_owned()
    } else {
        "unfinished and not running in this console (stopped with its process?)".to_owned()
    };
    let body = html! {
        p id="replay-state" data-finished=(r.finished) { "State: " strong { (state) } }
        table.kv { tbody {
            tr { th scope="row" { "Action" } td { (r.action) @if r.dry_run { " (dry run)" } } }
            tr { th scope="row" { "Queue" } td.mono { (r.queue) } }
            tr { th scope="row" { "By" } td { (r.actor) " from the " (r.origin) } }
            tr { th scope="row" { "Started" } td { (when(Some(r.at))) } }
            tr { th scope="row" { "Matched" } td id="replay-matched" { (r.matched) } }
            tr { th scope="row" { "Moved" } td id="replay-moved" { (r.moved) } }
            tr { th scope="row" { "Skipped" } td { (r.skipped) } }
            tr { th scope="row" { "Failed" } td { (r.failed) } }
            tr { th scope="row" { "Filters" } td.mono { (r.filters) } }
            @if let Some(by) = &r.stop_requested_by { tr { th scope="row" { "Stop asked by" } td { (by) } } }
        } }
        @if !r.finished && r.stop_requested_at.is_none() && ctx.principal.is_operator() {
            form method="post" action=(format!("/replays/{}/stop", r.id)) {
                (csrf_field(ctx))
                button.destructive type="submit" { "Stop this replay" }
            }
        }
        p { a href="/audit" { "Audit trail" }
            @if let Some(key) = &d.dlq_key { " · " a href=(format!("/dlq/{key}")) { "Triage of " (key) } } }
    };
    layout(ctx, &format!("Replay #{}", r.id), refresh, body)
}

pub fn audit(ctx: &Ctx, d: &AuditPage) -> Markup {
    let body = html! {
        @if d.rows.is_empty() { p { "No action recorded yet." } } @else {
            table.list {
                thead { tr { th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "Actor" } th scope="col" { "From" } th scope="col" { "Action" }
                    th scope="col" { "Pool" } th scope="col" { "Queue" } th scope="col" { "Filters" } th scope="col" { "Matched" } th scope="col" { "Moved" } th scope="col" { "Failed" }
                    th scope="col" { "Outcome" } } }
                tbody {
                    @for r in &d.rows {
                        tr {
                            td { a href=(format!("/replays/{}", r.id)) { (r.id) } } td { (when(Some(r.at))) } td { (r.actor) } td { (r.origin) }
                            td { (r.action) @if r.dry_run { " (dry run)" } } td { (r.pool) } td.mono.small { (r.queue) } td.mono.small { (r.filters) }
                            td.num { (r.matched) } td.num { (r.moved) } td.num { (r.failed) }
                            td { @if r.finished { (r.outcome.as_deref().unwrap_or("")) } @else { em { "running or interrupted" } } }
                        }
                    }
                }
            }
        }
        @if let Some(before) = d.next_before { p { a rel="next" href=(format!("/audit?before={before}")) { "Older →" } } }
    };
    layout(ctx, "Audit trail", None, body)
}

/// A confirmation page after an action that ends at once (purge, a redrive
/// SQS runs itself).
pub fn done(ctx: &Ctx, title: &str, lines: &[String], audit_id: i64) -> Markup {
    let body = html! {
        div.ok role="status" { @for l in lines { p { (l) } } }
        p { "Recorded as " a href=(format!("/replays/{audit_id}")) { "audit #" (audit_id) } "." }
    };
    layout(ctx, title, None, body)
}
