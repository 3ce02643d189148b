//! The short profile of the fleet harness (part of `make test`): scenario 1
//! (a lone message on every pool at its idle size) and scenario 3 (scale-in
//! after a burst while work continues) on the chart as the prod values
//! render it, with real worker processes against moto and Postgres.
//! Each check fails on the values that caused issue 16 (ai's activation 1;
//! media's queueLength 2 × concurrency with a drain shorter than its jobs).

use fleet::scenarios::{self, Profile};

fn env() -> fleet::run::Env {
    fleet::environment(5.0, "prod").expect("harness environment (charts venv, worker binary)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_a_lone_message_wakes_every_pool() {
    let env = env();
    let result = fleet::run::run(&env, scenarios::s1_lone_message("chart")).await.expect("scenario 1 runs");
    if let Err(e) = fleet::checks::check(1, &env, &result) {
        panic!("scenario 1: {e}\n{}", fleet::report::table(&outcome("1", result)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_scale_in_cuts_no_job() {
    let env = env();
    let result = fleet::run::run(&env, scenarios::s3_scale_in("chart", Profile::Short)).await.expect("scenario 3 runs");
    if let Err(e) = fleet::checks::check(3, &env, &result) {
        panic!("scenario 3: {e}\n{}", fleet::report::table(&outcome("3", result)));
    }
}

fn outcome(title: &str, run: fleet::run::RunResult) -> fleet::report::ScenarioOutcome {
    fleet::report::ScenarioOutcome { title: title.into(), runs: vec![run], checks: Vec::new() }
}
