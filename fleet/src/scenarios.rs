//! The scenarios of issue 16, each a function of the profile. The
//! assertions live in `check`, shared by `fleet/tests` and `make fleet`.

use crate::run::{Durations, RunResult, RunSpec, StopWhen, Wave};

/// `short` is the CI profile (inside `make test`); `full` is `make fleet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Short,
    Full,
}

/// The policies compared in scenarios 2, 3, 6 and 7. `chart` renders the
/// environment's values as they are (its own `autoscaling.mode`).
pub const POLICIES: [&str; 3] = ["keda-sqs", "keda-prometheus", "keda-drain"];

fn wave(pool: &str, at: f64, count: u32, over: f64, durations: Durations) -> Wave {
    Wave { pool: pool.into(), at, count, over, durations }
}

fn spec(scenario: &str, policy: &str, pools: &[&str], waves: Vec<Wave>, until: f64, stop: StopWhen) -> RunSpec {
    RunSpec {
        scenario: scenario.into(),
        policy: policy.into(),
        pools: pools.iter().map(|p| p.to_string()).collect(),
        sets: Vec::new(),
        waves,
        until,
        stop,
        rollout_at: None,
        seed: 16,
    }
}

/// Scenario 1: a lone message on each pool at its idle size (zero where
/// the pool scales to zero) is processed within polling + pod start (+ node).
pub fn s1_lone_message(policy: &str) -> RunSpec {
    let pools = ["media", "notifications", "ai"];
    let waves = pools.iter().map(|p| wave(p, 20.0, 1, 0.0, Durations::Fixed(5.0))).collect();
    spec("1-lone-message", policy, &pools, waves, 420.0, StopWhen::AllDone)
}

/// Scenario 2: a 10× burst on media: 10 × (2 idle pods × 4 slots) × 1.5 jobs each.
pub fn s2_burst(policy: &str, profile: Profile) -> RunSpec {
    let n = if profile == Profile::Short { 80 } else { 120 };
    spec("2-burst", policy, &["media"], vec![wave("media", 10.0, n, 0.0, Durations::Uniform(10.0, 30.0))], 900.0, StopWhen::AllDone)
}

/// Scenario 3: scale-in after a burst while work continues: a burst, then
/// steady arrivals that keep ~24 slots busy, so every scale-in lands on busy pods.
pub fn s3_scale_in(policy: &str, profile: Profile) -> RunSpec {
    let steady = if profile == Profile::Short { 300.0 } else { 600.0 };
    let waves = vec![
        wave("media", 10.0, 80, 0.0, Durations::Uniform(20.0, 60.0)),
        wave("media", 20.0, (steady * 0.6) as u32, steady, Durations::Uniform(20.0, 60.0)),
    ];
    spec("3-scale-in", policy, &["media"], waves, steady + 600.0, StopWhen::AllDone)
}

/// Scenario 4: a rolling update under steady load.
pub fn s4_rollout(policy: &str) -> RunSpec {
    let mut s = spec(
        "4-rollout",
        policy,
        &["media"],
        vec![wave("media", 10.0, 150, 400.0, Durations::Uniform(10.0, 30.0))],
        700.0,
        StopWhen::AllDone,
    );
    s.rollout_at = Some(150.0);
    s
}

/// Scenario 5: the ai pool saturated with long jobs (60–300 s).
pub fn s5_saturated_ai(policy: &str) -> RunSpec {
    spec("5-saturated-ai", policy, &["ai"], vec![wave("ai", 10.0, 30, 20.0, Durations::Uniform(60.0, 300.0))], 2400.0, StopWhen::AllDone)
}

/// Scenario 6: mixed durations in bursts: notifications-like 50 ms jobs
/// and ai-like 30 s jobs on one pool (media's settings).
pub fn s6_mixed(policy: &str) -> RunSpec {
    let mut waves = Vec::new();
    for cycle in 0..3 {
        let at = 10.0 + 240.0 * f64::from(cycle);
        waves.push(wave("media", at, 400, 20.0, Durations::Fixed(0.05)));
        waves.push(wave("media", at + 60.0, 24, 10.0, Durations::Fixed(30.0)));
    }
    spec("6-mixed", policy, &["media"], waves, 1500.0, StopWhen::AllDoneAndSettled)
}

/// Scenario 7: scale from zero on ai with a GPU node delay of minutes; back to zero after the cooldown.
pub fn s7_ai_from_zero(policy: &str) -> RunSpec {
    spec(
        "7-ai-from-zero",
        policy,
        &["ai"],
        vec![wave("ai", 10.0, 6, 0.0, Durations::Uniform(60.0, 120.0))],
        2400.0,
        StopWhen::AllDoneAndSettled,
    )
}

/// A failed expectation, with what was seen.
pub type Check = Result<(), String>;

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Check {
    if ok { Ok(()) } else { Err(what()) }
}

/// Scenario 1: every pool's lone job starts within polling + HPA sync +
/// node provisioning (when the pool had no node) + 30 s of pod start.
pub fn check_s1(r: &RunResult) -> Check {
    for p in &r.pools {
        let bound = p.polling_secs + 15.0 + p.cold_node_secs + 30.0;
        match p.first_job_secs {
            Some(t) => ensure(t <= bound, || format!("{}: the lone message waited {t:.0} s (bound {bound:.0} s)", p.pool))?,
            None => {
                return Err(format!(
                    "{}: the lone message was never processed in {:.0} s (pool stayed at {} replicas)",
                    p.pool, r.ended_at, p.final_replicas
                ));
            }
        }
    }
    Ok(())
}

/// No job lost, none cut, none left in the queue at the horizon (every run).
pub fn check_nothing_lost_or_cut(r: &RunResult) -> Check {
    for p in &r.pools {
        ensure(p.lost == 0, || format!("{} ({}): {} of {} jobs lost", p.pool, r.spec.policy, p.lost, p.jobs))?;
        ensure(p.unfinished == 0, || {
            format!(
                "{} ({}): {} of {} jobs still queued at the {:.0} s horizon (not lost: the pool drained too slowly)",
                p.pool, r.spec.policy, p.unfinished, p.jobs, r.ended_at
            )
        })?;
        ensure(p.cut == 0, || {
            format!("{} ({}): {} jobs cut mid-run by scale-in ({} pods SIGKILLed)", p.pool, r.spec.policy, p.cut, p.stats.sigkilled)
        })?;
    }
    Ok(())
}

/// Scenario 2: the burst drains within the pool's drain objective.
pub fn check_s2(r: &RunResult, drain_slo: f64) -> Check {
    let p = &r.pools[0];
    let start = r.spec.waves[0].at;
    match p.drained_at {
        Some(t) => ensure(t - start <= drain_slo, || format!("the burst took {:.0} s to drain (objective {drain_slo:.0} s)", t - start)),
        None => Err("the burst never drained".into()),
    }
}

/// Scenario 5: pods stay Ready while saturated, nothing cut.
pub fn check_s5(r: &RunResult) -> Check {
    let p = &r.pools[0];
    ensure(p.stats.lost_readiness == 0, || format!("{} pods lost readiness while busy", p.stats.lost_readiness))?;
    check_nothing_lost_or_cut(r)
}

/// Scenario 7: nothing dead-lettered or retried, and back to zero (to the
/// minimum for a mode that cannot scale to zero).
pub fn check_s7(r: &RunResult) -> Check {
    let p = &r.pools[0];
    ensure(p.dead_lettered == 0, || format!("{} jobs dead-lettered", p.dead_lettered))?;
    check_nothing_lost_or_cut(r)?;
    // A mode that cannot scale to zero (keda-prometheus: the chart keeps minReplicas >= 1) must
    // return to its minimum instead.
    ensure(p.final_replicas == p.min_replicas, || {
        format!("the pool did not return to {} (at {} replicas after {:.0} s)", p.min_replicas, p.final_replicas, r.ended_at)
    })
}
