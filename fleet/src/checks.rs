//! Which check each scenario gets, and the report's header.

use std::fmt::Write as _;

use crate::run::{Env, RunResult, slos};
use crate::scenarios::{self, Profile};

/// The scenario's assertions on one run.
pub fn check(n: u32, env: &Env, r: &RunResult) -> Result<(), String> {
    match n {
        1 => scenarios::check_s1(r).and_then(|()| scenarios::check_nothing_lost_or_cut(r)),
        2 => {
            let drain =
                slos(env).ok().and_then(|s| s.get("media").and_then(|m| m.get("queue_drain_slo_seconds")).copied()).unwrap_or(300.0);
            scenarios::check_s2(r, drain).and_then(|()| scenarios::check_nothing_lost_or_cut(r))
        }
        5 => scenarios::check_s5(r),
        7 => scenarios::check_s7(r),
        _ => scenarios::check_nothing_lost_or_cut(r),
    }
}

/// The top of docs/FLEET.md: how it was made and the rules, with sources.
pub fn header(env: &Env, profile: Profile, wall_secs: f64) -> String {
    let mut s = String::from(include_str!("../INTRO.md"));
    let _ = writeln!(
        s,
        "\nThis run: profile `{}`, environment `{}`, time scale {} simulated seconds per wall second, {:.0} s wall in all.\n",
        if profile == Profile::Short { "short" } else { "full" },
        env.environment,
        env.scale,
        wall_secs
    );
    s.push_str("## Results\n");
    s
}
