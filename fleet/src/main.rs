//! `fleet`: runs the scenarios and writes docs/FLEET.md (`make fleet`).
//!
//!     cargo run -p fleet -- --profile full                       # every scenario, every policy
//!     cargo run -p fleet -- --profile short --no-report          # what `make test` checks

use std::process::ExitCode;

use clap::Parser;
use fleet::report::{self, ScenarioOutcome};
use fleet::scenarios::{self, POLICIES, Profile};

#[derive(Debug, Parser)]
struct Args {
    /// `short` (CI: scenarios 1 and 3 as deployed) or `full` (all seven, policies compared).
    #[arg(long, default_value = "full")]
    profile: String,
    /// Simulated seconds per wall second.
    #[arg(long, default_value_t = 5.0)]
    scale: f64,
    /// Environment whose values files are rendered (deploy/environments/<env>/).
    #[arg(long, default_value = "prod")]
    env: String,
    /// Only these scenarios (numbers), e.g. `--only 1,3`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<u32>,
    /// Do not rewrite docs/FLEET.md.
    #[arg(long)]
    no_report: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let profile = match args.profile.as_str() {
        "short" => Profile::Short,
        "full" => Profile::Full,
        other => anyhow::bail!("--profile: {other:?} is not short or full"),
    };
    let env = fleet::environment(args.scale, &args.env)?;
    let wall = std::time::Instant::now();
    let want = |n: u32| args.only.is_empty() || args.only.contains(&n);
    let mut outcomes = Vec::new();
    let compare: Vec<&str> = if profile == Profile::Short { vec!["chart"] } else { POLICIES.to_vec() };
    for n in 1..=7u32 {
        if !want(n) || (profile == Profile::Short && !matches!(n, 1 | 3)) {
            continue;
        }
        let policies: Vec<&str> = match n {
            2 | 3 | 6 | 7 => compare.clone(),
            _ => vec!["chart"],
        };
        let mut outcome = ScenarioOutcome { title: String::new(), runs: Vec::new(), checks: Vec::new() };
        for policy in policies {
            let spec = match n {
                1 => scenarios::s1_lone_message(policy),
                2 => scenarios::s2_burst(policy, profile),
                3 => scenarios::s3_scale_in(policy, profile),
                4 => scenarios::s4_rollout(policy),
                5 => scenarios::s5_saturated_ai(policy),
                6 => scenarios::s6_mixed(policy),
                _ => scenarios::s7_ai_from_zero(policy),
            };
            outcome.title = title(n);
            eprintln!("fleet: scenario {} under {policy} ...", spec.scenario);
            let result = fleet::run::run(&env, spec).await?;
            let verdict = fleet::checks::check(n, &env, &result);
            eprintln!(
                "fleet:   {:.0} s simulated in {:.0} s: {}",
                result.ended_at,
                result.wall_secs,
                match &verdict {
                    Ok(()) => "pass".to_owned(),
                    Err(e) => format!("FAIL: {e}"),
                }
            );
            eprintln!("{}", report::table(&ScenarioOutcome { title: String::new(), runs: vec![result.clone()], checks: Vec::new() }));
            outcome.checks.push((format!("{} / {policy}", check_name(n)), verdict));
            outcome.runs.push(result);
        }
        outcomes.push(outcome);
    }
    let passed = outcomes.iter().all(|o| o.checks.iter().all(|(_, v)| v.is_ok()));
    eprintln!("fleet: {} scenarios in {:.0} s wall", outcomes.len(), wall.elapsed().as_secs_f64());
    if !args.no_report {
        let header = fleet::checks::header(&env, profile, wall.elapsed().as_secs_f64());
        report::write(&env.repo, &outcomes, &header, concat!(include_str!("../EVIDENCE.md"), include_str!("../LIMITS.md")))?;
    }
    Ok(passed)
}

fn title(n: u32) -> String {
    match n {
        1 => "Scenario 1: a lone message on each pool at its idle size",
        2 => "Scenario 2: a 10x burst on media",
        3 => "Scenario 3: scale-in after a burst while work continues",
        4 => "Scenario 4: a rolling update under steady load",
        5 => "Scenario 5: the ai pool saturated with long jobs",
        6 => "Scenario 6: mixed durations in bursts",
        _ => "Scenario 7: ai from zero and back",
    }
    .to_owned()
}

fn check_name(n: u32) -> &'static str {
    match n {
        1 => "lone message processed within polling + start",
        2 => "burst drained within the drain objective, nothing lost or cut",
        3 => "0 jobs cut, 0 lost",
        4 => "0 lost, 0 cut during the rollout",
        5 => "pods stay Ready, nothing cut",
        6 => "0 lost, 0 cut",
        _ => "nothing dead-lettered or cut, back to zero",
    }
}
