//! Renders the scenario results into docs/RELIABILITY.md (the section
//! between the generated markers; the prose around it is kept).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reliability::report::{load_all, render, results_dir, splice};

#[derive(Debug, Parser)]
#[command(about = "Write the reliability suite's results into the report")]
struct Args {
    /// Directory of scenario results (default: target/reliability).
    #[arg(long)]
    results: Option<PathBuf>,
    /// The document to update.
    #[arg(long, default_value = "docs/RELIABILITY.md")]
    output: PathBuf,
    /// Scenarios that must be present; missing ones fail the run.
    #[arg(long, value_delimiter = ',')]
    expect: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let dir = args.results.unwrap_or_else(results_dir);
    let reports = match load_all(&dir) {
        Ok(reports) => reports,
        Err(e) => {
            eprintln!("error: cannot read results from {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    let missing: Vec<&String> = args.expect.iter().filter(|name| !reports.iter().any(|r| &r.scenario == *name)).collect();
    if !missing.is_empty() {
        eprintln!("error: no results for {missing:?} in {}", dir.display());
        return ExitCode::FAILURE;
    }
    let document = std::fs::read_to_string(&args.output).unwrap_or_else(|_| "# Reliability\n".to_owned());
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let updated = splice(&document, &render(&reports, &now));
    if let Err(e) = std::fs::write(&args.output, updated) {
        eprintln!("error: cannot write {}: {e}", args.output.display());
        return ExitCode::FAILURE;
    }
    let bad: Vec<&str> = reports.iter().filter(|r| !r.tally.clean()).map(|r| r.scenario.as_str()).collect();
    println!("{} scenarios written to {}", reports.len(), args.output.display());
    if bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: lost or duplicated effects in {bad:?}");
        ExitCode::FAILURE
    }
}
