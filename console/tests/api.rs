//! The console's HTTP surface against real moto and Postgres: roles, CSRF,
//! authentication, the replay flow and its audit rows, job search,
//! redaction, errors and security headers.

mod common;

use common::{TOKEN, TestConsole};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

/// Every state-changing endpoint, HTML and API.
const ACTIONS: &[&str] = &[
    "/dlq/media/replay/preview",
    "/api/dlq/media/replay/preview",
    "/dlq/media/replay",
    "/api/dlq/media/replay",
    "/dlq/media/redrive",
    "/api/dlq/media/redrive",
    "/dlq/media/purge",
    "/api/dlq/media/purge",
    "/replays/1/stop",
    "/api/replays/1/stop",
];

#[tokio::test]
async fn a_viewer_sees_no_action_and_every_action_endpoint_refuses_with_403() {
    let c = TestConsole::start().await;
    c.seed("media.thumbnail", "decode_error", 2, json!({})).await;
    let html = c.get_as("bob", "/dlq/media").await.text().await.expect("page");
    assert!(html.contains("decode_error"), "the viewer reads the triage: {html}");
    assert!(!html.contains("method=\"post\""), "no action form is rendered for a viewer");
    let operator_html = c.get_as("alice", "/dlq/media").await.text().await.expect("page");
    assert!(operator_html.contains("method=\"post\""), "the operator gets the action forms");

    let token = c.csrf("bob").await;
    for path in ACTIONS {
        let r = c
            .http
            .post(c.url(path))
            .header("X-Forwarded-User", "bob")
            .header("X-CSRF-Token", &token)
            .json(&json!({ "confirm": "media", "preview_id": 1 }))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(c.depth(&c.dlq_url).await, 2, "nothing moved");
    assert!(c.audit_rows().await.is_empty(), "nothing was attempted");
}

#[tokio::test]
async fn posts_without_the_users_csrf_token_or_from_another_origin_are_refused() {
    let c = TestConsole::start().await;
    c.seed("media.thumbnail", "decode_error", 3, json!({})).await;
    let purge = c.url("/api/dlq/media/purge");
    let body = json!({ "confirm": "media" });

    let none = c.http.post(&purge).header("X-Forwarded-User", "alice").json(&body).send().await.expect("POST");
    assert_eq!(none.status(), StatusCode::FORBIDDEN);
    assert_eq!(none.json::<Value>().await.expect("json")["error"]["kind"], "csrf");

    let carols = c.csrf("carol").await;
    let wrong_user =
        c.http.post(&purge).header("X-Forwarded-User", "alice").header("X-CSRF-Token", carols).json(&body).send().await.expect("POST");
    assert_eq!(wrong_user.status(), StatusCode::FORBIDDEN, "a token is good for its own user only");

    let token = c.csrf("alice").await;
    let form = c
        .http
        .post(c.url("/dlq/media/purge"))
        .header("X-Forwarded-User", "alice")
        .form(&[("confirm", "media"), ("csrf", "0000")])
        .send()
        .await
        .expect("POST");
    assert_eq!(form.status(), StatusCode::FORBIDDEN, "a wrong form token");

    let cross = c
        .http
        .post(&purge)
        .header("X-Forwarded-User", "alice")
        .header("X-CSRF-Token", &token)
        .header("Origin", "https://evil.example")
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(cross.status(), StatusCode::FORBIDDEN, "another origin");

    assert_eq!(c.depth(&c.dlq_url).await, 3, "nothing was purged");
    assert!(c.audit_rows().await.is_empty());

    // The same request with the token from its own origin goes through.
    let ok = c
        .http
        .post(c.url("/dlq/media/purge"))
        .header("X-Forwarded-User", "alice")
        .header("Origin", &c.base)
        .form(&[("confirm", "media"), ("csrf", token.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(ok.status(), StatusCode::OK, "{}", ok.text().await.unwrap_or_default());
    let rows = c.audit_rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].0.as_str(), rows[0].1.as_str(), rows[0].6.as_str()), ("purge", "alice", "console"));
}

#[tokio::test]
async fn identity_headers_count_only_from_trusted_proxies_and_anonymous_is_off_by_default() {
    let c =
        TestConsole::start_with(&["--auth", "proxy,token", "--token", TOKEN, "--trusted-proxies", "10.0.0.0/8", "--viewers", "*"]).await;
    let spoofed = c.get_as("alice", "/api/overview").await;
    assert_eq!(spoofed.status(), StatusCode::UNAUTHORIZED, "X-Forwarded-User from 127.0.0.1 is not believed");
    let anonymous = c.http.get(c.url("/api/overview")).send().await.expect("GET");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let bad = c.http.get(c.url("/api/overview")).bearer_auth("not-the-token-at-all").send().await.expect("GET");
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let good = c.http.get(c.url("/api/session")).bearer_auth(TOKEN).send().await.expect("GET");
    assert_eq!(good.status(), StatusCode::OK);
    let session: Value = good.json().await.expect("json");
    assert_eq!((session["actor"].as_str(), session["role"].as_str()), (Some("token:local"), Some("operator")));

    let open = TestConsole::start_with(&["--auth", "token", "--token", TOKEN, "--allow-anonymous"]).await;
    let session: Value = open.http.get(open.url("/api/session")).send().await.expect("GET").json().await.expect("json");
    assert_eq!((session["actor"].as_str(), session["role"].as_str()), (Some("anonymous"), Some("viewer")));
}

#[tokio::test]
async fn an_operator_replays_a_group_after_a_dry_run_with_typed_confirmation_and_the_audit_names_them() {
    let c = TestConsole::start().await;
    c.seed("media.thumbnail", "decode_error", 8, json!({ "src": "s3://b/k" })).await;
    c.seed("media.transcode", "timeout", 4, json!({})).await;

    let triage: Value = c.get_as("alice", "/api/dlq/media").await.json().await.expect("triage");
    assert_eq!(triage["groups"][0]["error_class"], "decode_error");
    assert_eq!(triage["groups"][0]["count"], 8);
    assert_eq!(triage["groups"][1]["count"], 4);

    let preview = c.post_json("alice", "/api/dlq/media/replay/preview", json!({ "error_class": "decode_error", "actor": "mallory" })).await;
    assert_eq!(preview.status(), StatusCode::OK);
    let preview: Value = preview.json().await.expect("preview");
    assert_eq!(preview["summary"]["matched"], 8);
    assert_eq!(preview["summary"]["moved"], 0, "a dry run moves nothing");
    assert_eq!(preview["needs_typed_confirmation"], true, "8 > --confirm-above 5");
    assert_eq!(preview["summary"]["groups"][0]["target"], format!("{}-jobfleet-media", c.env));
    assert_eq!(c.depth(&c.dlq_url).await, 12);
    let preview_id = preview["preview_id"].as_i64().expect("id");

    let unconfirmed = c.post_json("alice", "/api/dlq/media/replay", json!({ "preview_id": preview_id })).await;
    assert_eq!(unconfirmed.status(), StatusCode::BAD_REQUEST);
    let wrong = c.post_json("alice", "/api/dlq/media/replay", json!({ "preview_id": preview_id, "confirm": "12" })).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);

    let started = c.post_json("alice", "/api/dlq/media/replay", json!({ "preview_id": preview_id, "confirm": "8", "rate": "100/s" })).await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let audit_id = started.json::<Value>().await.expect("json")["audit_id"].as_i64().expect("id");
    let status = c.wait_finished("alice", audit_id).await;
    assert_eq!(status["record"]["moved"], 8);
    assert_eq!(c.depth(&c.queue_url).await, 8, "the group is back on the pool's queue");
    assert_eq!(c.depth(&c.dlq_url).await, 4, "the other group stays");

    let rows = c.audit_rows().await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0], ("replay".into(), "alice".into(), true, 8, 0, true, "console".into()));
    assert_eq!(rows[1], ("replay".into(), "alice".into(), false, 8, 8, true, "console".into()));

    // A preview is confirmed once only in spirit: it cannot start a replay for another pool.
    let other = c.post_json("alice", "/api/dlq/ai/replay", json!({ "preview_id": preview_id, "confirm": "8" })).await;
    assert_ne!(other.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_running_replay_can_be_stopped_and_its_progress_is_in_the_database() {
    let c = TestConsole::start().await;
    c.seed("media.thumbnail", "decode_error", 5, json!({})).await;
    let preview: Value = c.post_json("alice", "/api/dlq/media/replay/preview", json!({})).await.json().await.expect("preview");
    let id = preview["preview_id"].as_i64().expect("id");
    // One message per second: the stop lands long before the end.
    let started: Value =
        c.post_json("alice", "/api/dlq/media/replay", json!({ "preview_id": id, "rate": "1/s" })).await.json().await.expect("started");
    let audit_id = started["audit_id"].as_i64().expect("id");
    let stop = c.post_json("alice", &format!("/api/replays/{audit_id}/stop"), json!({})).await;
    assert_eq!(stop.status(), StatusCode::OK);
    let status = c.wait_finished("alice", audit_id).await;
    assert_eq!(status["record"]["outcome"], "interrupted");
    assert_eq!(status["record"]["stop_requested_by"], "alice");
    assert!(status["record"]["moved"].as_i64().expect("moved") < 5);
    let again = c.post_json("alice", &format!("/api/replays/{audit_id}/stop"), json!({})).await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "a finished replay cannot be stopped");
}

#[tokio::test]
async fn payloads_are_redacted_in_message_detail() {
    let c = TestConsole::start().await;
    let seeded = c
        .seed(
            "notify.email",
            "smtp_refused",
            1,
            json!({ "to": "jane@example.com", "subject": "Hello", "auth": { "api_key": "sk-live-1" } }),
        )
        .await;
    let message_id = &seeded[0].1;
    for path in [format!("/api/dlq/media/messages/{message_id}"), format!("/dlq/media/messages/{message_id}")] {
        let text = c.get_as("bob", &path).await.text().await.expect("body");
        assert!(text.contains("[redacted]") && text.contains("Hello"), "{text}");
        assert!(!text.contains("jane@example.com") && !text.contains("sk-live-1"), "{path}: {text}");
    }
}

#[tokio::test]
async fn jobs_search_filters_and_pages_newest_first() {
    let c = TestConsole::start().await;
    let prefix = format!("t{}", &Uuid::new_v4().simple().to_string()[..8]);
    for i in 0..25i64 {
        let status = if i % 5 == 0 { "dead" } else { "succeeded" };
        let class = (status == "dead").then_some("boom");
        sqlx::query(
            "INSERT INTO jobs (id, job_type, pool, status, attempts, idempotency_key, updated_at, last_error_class) \
             VALUES ($1, $2, 'media', $3, 1, $4, now() - make_interval(secs => $5), $6)",
        )
        .bind(Uuid::now_v7())
        .bind(format!("{prefix}.job"))
        .bind(status)
        .bind(format!("{prefix}-key-{i}"))
        .bind(i as f64)
        .bind(class)
        .execute(&c.db)
        .await
        .expect("insert");
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/api/jobs?type={prefix}.&limit=10");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let page: Value = c.get_as("bob", &path).await.json().await.expect("page");
        let jobs = page["jobs"].as_array().expect("jobs").clone();
        seen.extend(jobs.iter().map(|j| j["idempotency_key"].as_str().expect("key").to_owned()));
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("{prefix}-key-{i}")).collect();
    assert_eq!(seen, expected, "every job once, newest first");

    let dead: Value = c.get_as("bob", &format!("/api/jobs?type={prefix}&status=dead&error_class=boom")).await.json().await.expect("page");
    assert_eq!(dead["jobs"].as_array().expect("jobs").len(), 5);
    let one: Value = c.get_as("bob", &format!("/api/jobs?key={prefix}-key-7")).await.json().await.expect("page");
    assert_eq!(one["jobs"].as_array().expect("jobs").len(), 1);
    let bad = c.get_as("bob", "/api/jobs?status=exploded").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let html = c.get_as("bob", &format!("/jobs?type={prefix}.&limit=10")).await.text().await.expect("html");
    assert!(html.contains("Older jobs"), "the HTML page links the next page");
}

#[tokio::test]
async fn errors_say_what_failed_and_pages_carry_the_security_headers() {
    let c = TestConsole::start().await;
    let r = c.get_as("bob", "/").await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).expect("CSP").to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers().get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"));
    assert!(r.headers().get("set-cookie").is_none(), "the console sets no cookie");
    let html = r.text().await.expect("html");
    assert!(!html.contains("<script>") && !html.contains("style="), "no inline script or style");
    assert!(!html.contains(TOKEN), "no secret rendered");

    // The ai pool's queues were not created in this environment.
    let missing = c.get_as("alice", "/api/dlq/ai").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let e: Value = missing.json().await.expect("json");
    assert_eq!(e["error"]["kind"], "queue_missing");
    assert!(e["error"]["hint"].as_str().is_some_and(|h| h.contains("<env>-jobfleet-<pool>")), "{e}");
    let page = c.get_as("alice", "/dlq/ai").await.text().await.expect("html");
    assert!(page.contains("What failed") && page.contains("What to do") && !page.contains("panicked"), "{page}");

    let unknown = c.get_as("alice", "/api/dlq/nosuch").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let too_big = c.post_json("alice", "/api/dlq/media/purge", json!({ "confirm": "x".repeat(40_000) })).await;
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let untyped = c.post_json("alice", "/api/dlq/media/purge", json!({ "confirm": "medi" })).await;
    assert_eq!(untyped.status(), StatusCode::BAD_REQUEST, "purge needs the pool name typed");
}

/// A priority queue's DLQ is its own page (`/dlq/media:urgent`): triage,
/// replay and purge act on it and its queue only, its audit rows name it,
/// and a preview of it cannot be confirmed against the pool's own DLQ.
#[tokio::test]
async fn a_priority_queues_dead_letters_are_triaged_replayed_and_purged_on_their_own_dlq() {
    let (c, urgent_url, urgent_dlq_url) = TestConsole::start_with_priority_queue("urgent").await;
    let urgent_dlq = format!("{}-jobfleet-media-urgent-dlq", c.env);
    c.seed("media.thumbnail", "decode_error", 2, json!({})).await;
    // As SQS's redrive policy leaves them: without a `source_queue`, so the
    // replay's default target (the DLQ's own queue) decides where they go.
    c.seed_into(&urgent_dlq_url, "", "media.thumbnail", "timeout", 3, json!({})).await;

    let index: Value = c.get_as("bob", "/api/dlq").await.json().await.expect("index");
    let media = index["pools"].as_array().and_then(|pools| pools.iter().find(|p| p["pool"] == "media")).expect("media").clone();
    let urgent = &media["priority_queues"][0];
    assert_eq!((urgent["name"].as_str(), urgent["dlq"]["visible"].as_u64()), (Some("urgent"), Some(3)), "{index}");
    let page = c.get_as("bob", "/dlq").await.text().await.expect("html");
    assert!(page.contains(r#"href="/dlq/media:urgent""#), "the index links the priority queue's DLQ: {page}");

    let triage: Value = c.get_as("bob", "/api/dlq/media:urgent").await.json().await.expect("triage");
    assert_eq!((triage["dlq_key"].as_str(), triage["queue"].as_str()), (Some("media:urgent"), Some(urgent_dlq.as_str())), "{triage}");
    assert_eq!((triage["groups"][0]["error_class"].as_str(), triage["groups"][0]["count"].as_u64()), (Some("timeout"), Some(3)));
    let unknown = c.get_as("bob", "/api/dlq/media:nope").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let e: Value = unknown.json().await.expect("json");
    assert!(e["error"]["hint"].as_str().is_some_and(|h| h.contains("urgent")), "the hint names the pool's priority queues: {e}");

    let preview: Value = c.post_json("alice", "/api/dlq/media:urgent/replay/preview", json!({})).await.json().await.expect("preview");
    assert_eq!(preview["summary"]["matched"], 3, "{preview}");
    assert_eq!(preview["summary"]["groups"][0]["target"], format!("{}-jobfleet-media-urgent", c.env));
    let preview_id = preview["preview_id"].as_i64().expect("id");
    let elsewhere = c.post_json("alice", "/api/dlq/media/replay", json!({ "preview_id": preview_id })).await;
    assert_eq!(elsewhere.status(), StatusCode::CONFLICT, "a preview of media:urgent cannot replay the media DLQ");

    let started = c.post_json("alice", "/api/dlq/media:urgent/replay", json!({ "preview_id": preview_id })).await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let audit_id = started.json::<Value>().await.expect("json")["audit_id"].as_i64().expect("id");
    let status = c.wait_finished("alice", audit_id).await;
    assert_eq!((status["record"]["moved"].as_i64(), status["record"]["queue"].as_str()), (Some(3), Some(urgent_dlq.as_str())));
    assert_eq!(status["dlq_key"], "media:urgent", "the status page links back to the DLQ replayed");
    assert_eq!(c.depth(&urgent_url).await, 3, "back on the priority queue");
    assert_eq!((c.depth(&urgent_dlq_url).await, c.depth(&c.dlq_url).await, c.depth(&c.queue_url).await), (0, 2, 0));

    // A dead job's page finds its message in whichever of the pool's DLQs holds it.
    let (job_id, message_id) = c.seed_into(&urgent_dlq_url, "", "media.thumbnail", "timeout", 1, json!({})).await.remove(0);
    sqlx::query(
        "INSERT INTO jobs (id, job_type, pool, status, attempts, idempotency_key, updated_at) \
         VALUES ($1, 'media.thumbnail', 'media', 'dead', 3, $2, now())",
    )
    .bind(job_id)
    .bind(format!("{job_id}-key"))
    .execute(&c.db)
    .await
    .expect("insert");
    let job: Value = c.get_as("bob", &format!("/api/jobs/{job_id}")).await.json().await.expect("job");
    assert_eq!(
        (job["dlq_key"].as_str(), job["dlq_message"]["message_id"].as_str()),
        (Some("media:urgent"), Some(message_id.as_str())),
        "{job}"
    );
    let page = c.get_as("alice", &format!("/jobs/{job_id}")).await.text().await.expect("html");
    assert!(page.contains(r#"action="/dlq/media:urgent/replay/preview""#), "the job's replay button previews its own DLQ: {page}");

    let pool_name_only = c.post_json("alice", "/api/dlq/media:urgent/purge", json!({ "confirm": "media" })).await;
    assert_eq!(pool_name_only.status(), StatusCode::BAD_REQUEST, "purging a priority queue's DLQ needs pool:queue typed");
    let purged = c.post_json("alice", "/api/dlq/media:urgent/purge", json!({ "confirm": "media:urgent" })).await;
    assert_eq!(purged.status(), StatusCode::OK);
    assert_eq!(purged.json::<Value>().await.expect("json")["queue"], urgent_dlq.as_str(), "the purge names the queue it emptied");
    assert_eq!(c.depth(&c.dlq_url).await, 2, "the pool's own DLQ is untouched");
    let queues: Vec<(String,)> =
        sqlx::query_as("SELECT queue FROM dlq_audit WHERE env = $1 ORDER BY id").bind(&c.env).fetch_all(&c.db).await.expect("audit");
    assert!(queues.iter().all(|(q,)| *q == urgent_dlq), "every audit row names the priority queue's DLQ: {queues:?}");
}

/// A FIFO pool's dead letters show their message group, on the list and on
/// the message's page, and a replay from the console puts each back into
/// its group. A standard pool's list has no group column.
#[tokio::test]
async fn a_fifo_pools_dead_letters_show_their_group_and_replay_into_it() {
    let c = TestConsole::start_fifo().await;
    let seeded = c.seed_grouped("order-42", "media.thumbnail", "decode_error", 2, json!({})).await;
    c.seed_grouped("order-7", "media.thumbnail", "decode_error", 1, json!({})).await;

    let list = c.get_as("bob", "/dlq/media/messages").await.text().await.expect("html");
    assert!(list.contains(r#"<th scope="col">Message group</th>"#), "the list has a group column: {list}");
    assert!(list.contains("order-42") && list.contains("order-7"), "the list names each message's group: {list}");
    let (_, message_id) = &seeded[0];
    let page = c.get_as("bob", &format!("/dlq/media/messages/{message_id}")).await.text().await.expect("html");
    assert!(page.contains("Message group") && page.contains("order-42"), "the message's page names its group: {page}");

    let preview: Value = c.post_json("alice", "/api/dlq/media/replay/preview", json!({})).await.json().await.expect("preview");
    assert_eq!(preview["summary"]["matched"], 3, "{preview}");
    let preview_id = preview["preview_id"].as_i64().expect("id");
    let started = c.post_json("alice", "/api/dlq/media/replay", json!({ "preview_id": preview_id })).await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let audit_id = started.json::<Value>().await.expect("json")["audit_id"].as_i64().expect("id");
    let status = c.wait_finished("alice", audit_id).await;
    assert_eq!(status["record"]["moved"].as_i64(), Some(3), "{status}");
    let received = c
        .sqs
        .receive_message()
        .queue_url(&c.queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
        .send()
        .await
        .expect("receive");
    let mut groups: Vec<String> = received
        .messages()
        .iter()
        .filter_map(|m| m.attributes()?.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId).cloned())
        .collect();
    groups.sort();
    // A FIFO receive returns a group's messages in order, one or several:
    // which groups arrived is what matters here, not how many of each.
    groups.dedup();
    assert_eq!(groups, ["order-42", "order-7"], "replayed into their groups");

    let standard = TestConsole::start().await;
    standard.seed("media.thumbnail", "decode_error", 1, json!({})).await;
    let list = standard.get_as("bob", "/dlq/media/messages").await.text().await.expect("html");
    assert!(!list.contains("Message group"), "a standard pool's list has no group column: {list}");
}
