//! The fleet harness (issue 16): the real `worker` binary run as an
//! autoscaled fleet under the chart's own settings, on a virtual clock.
//! See docs/FLEET.md (written by `make fleet`) for the rules it implements,
//! their upstream sources, and what it does not model.

pub mod checks;
pub mod control_loops;
pub mod nodes;
pub mod pod;
pub mod report;
pub mod run;
pub mod scenarios;
pub mod sim;
pub mod spec;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The repository root (this crate's parent).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Everything a run needs from the machine: the charts venv (installed
/// like scripts/charts-check.sh does), a fresh `worker` binary, the stack.
pub fn environment(scale: f64, environment: &str) -> Result<run::Env> {
    let repo = repo();
    let out = std::process::Command::new("bash").arg(repo.join("scripts/charts-venv.sh")).output().context("run scripts/charts-venv.sh")?;
    if !out.status.success() {
        bail!("scripts/charts-venv.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let python = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    // The worker binary as cargo builds it now: a no-op after `cargo test
    // --workspace`. The whole workspace is selected and one of worker's tests
    // named, so cargo resolves the dependencies' features as the test build
    // did (dev-dependencies included) and reuses it; `-p worker` alone
    // would resolve tokio and others differently and compile the tree again.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--locked", "--workspace", "--bin", "worker", "--test", "cli"])
        .current_dir(&repo)
        .status()
        .context("cargo build --bin worker")?;
    if !status.success() {
        bail!("cargo build --bin worker failed");
    }
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| repo.join("target"));
    let worker = target.join("debug/worker");
    let log_root = target.join("fleet");
    std::fs::create_dir_all(&log_root)?;
    Ok(run::Env {
        repo,
        python,
        worker,
        database_url: std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/jobfleet".into()),
        aws_endpoint: std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into()),
        environment: environment.into(),
        scale,
        log_root,
    })
}
