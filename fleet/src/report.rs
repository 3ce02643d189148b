//! docs/FLEET.md and its SVG charts, from the runs.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::run::RunResult;

/// One scenario's runs and the verdict of its checks.
#[derive(Debug, Clone)]
pub struct ScenarioOutcome {
    pub title: String,
    pub runs: Vec<RunResult>,
    pub checks: Vec<(String, Result<(), String>)>,
}

const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// Pods (solid) and backlog (dashed, right axis) over time, one colour per policy.
pub fn svg(outcome: &ScenarioOutcome) -> String {
    let (w, h, left, right, top, bottom) = (760.0, 320.0, 60.0, 60.0, 30.0, 40.0);
    let samples = || outcome.runs.iter().flat_map(|r| r.pools.iter().flat_map(|p| p.timeline.iter()));
    let t_max = samples().map(|s| s.t).fold(1.0, f64::max);
    let pods_max = samples().map(|s| f64::from(s.pods)).fold(1.0, f64::max).ceil();
    let backlog_max = samples().map(|s| (s.visible + s.in_flight) as f64).fold(1.0, f64::max);
    let x = |t: f64| left + (w - left - right) * t / t_max;
    let y_pods = |v: f64| h - bottom - (h - top - bottom) * v / pods_max;
    let y_backlog = |v: f64| h - bottom - (h - top - bottom) * v / backlog_max;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        s,
        r#"<rect width="{w}" height="{h}" fill="white"/><text x="{left}" y="18" font-size="13">{} — pods (solid, left) and queued + in-flight messages (dashed, right)</text>"#,
        outcome.title
    );
    let _ = write!(s, r#"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>"#, h - bottom, w - right, h - bottom);
    let _ = write!(
        s,
        r#"<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/><line x1="{}" y1="{top}" x2="{}" y2="{}" stroke="black"/>"#,
        h - bottom,
        w - right,
        w - right,
        h - bottom
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="middle">{:.0} s</text>"#, x(t_max * f), h - bottom + 15.0, t_max * f);
        let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="end">{:.0}</text>"#, left - 5.0, y_pods(pods_max * f) + 4.0, pods_max * f);
        let _ = write!(s, r#"<text x="{}" y="{}">{:.0}</text>"#, w - right + 5.0, y_backlog(backlog_max * f) + 4.0, backlog_max * f);
    }
    for (i, run) in outcome.runs.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        for pool in &run.pools {
            let pods: Vec<String> = pool.timeline.iter().map(|p| format!("{:.1},{:.1}", x(p.t), y_pods(f64::from(p.pods)))).collect();
            let backlog: Vec<String> =
                pool.timeline.iter().map(|p| format!("{:.1},{:.1}", x(p.t), y_backlog((p.visible + p.in_flight) as f64))).collect();
            let _ = write!(s, r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#, pods.join(" "));
            let _ = write!(
                s,
                r#"<polyline fill="none" stroke="{color}" stroke-width="1" stroke-dasharray="4 3" points="{}"/>"#,
                backlog.join(" ")
            );
        }
        let label = if run.pools.len() > 1 {
            format!("{} ({})", run.spec.policy, run.pools.iter().map(|p| p.pool.as_str()).collect::<Vec<_>>().join(", "))
        } else {
            run.spec.policy.clone()
        };
        let _ = write!(
            s,
            r#"<rect x="{}" y="{}" width="12" height="3" fill="{color}"/><text x="{}" y="{}">{label}</text>"#,
            left + 10.0,
            top + 8.0 + 14.0 * i as f64,
            left + 26.0,
            top + 12.0 + 14.0 * i as f64
        );
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "never".into())
}

/// The results table of one scenario.
pub fn table(outcome: &ScenarioOutcome) -> String {
    let mut s = String::from(
        "| policy | pool | jobs | pod-minutes | peak pods | cut | lost | unfinished at horizon | dead-lettered | p50 wait (s) | p99 wait (s) | SLO misses | first job from idle (s) | drained after (s) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &outcome.runs {
        for p in &r.pools {
            let start = r.spec.waves.iter().filter(|w| w.pool == p.pool).map(|w| w.at).fold(f64::INFINITY, f64::min);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {} (> {:.0} s) | {} | {} |",
                r.spec.policy,
                p.pool,
                p.jobs,
                p.stats.pod_seconds / 60.0,
                p.stats.peak_pods,
                p.cut,
                p.lost,
                p.unfinished,
                p.dead_lettered,
                p.quantile(0.5),
                p.quantile(0.99),
                p.slo_misses,
                p.slo_secs,
                fmt_opt(p.first_job_secs),
                fmt_opt(p.drained_at.map(|t| t - start)),
            );
        }
    }
    s
}

/// Writes docs/FLEET.md (and docs/fleet/*.svg) from the outcomes.
pub fn write(repo: &Path, outcomes: &[ScenarioOutcome], header: &str, footer: &str) -> Result<()> {
    let dir = repo.join("docs/fleet");
    std::fs::create_dir_all(&dir)?;
    let mut md = String::from(header);
    for o in outcomes {
        let _ = writeln!(md, "\n### {}\n", o.title);
        md.push_str(&table(o));
        for (name, verdict) in &o.checks {
            let _ = writeln!(
                md,
                "\n- check `{name}`: {}",
                match verdict {
                    Ok(()) => "**pass**".to_owned(),
                    Err(e) => format!("**FAIL** — {e}"),
                }
            );
        }
        let slug: String = o.title.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        let slug = slug.split('-').filter(|p| !p.is_empty()).take(4).collect::<Vec<_>>().join("-");
        std::fs::write(dir.join(format!("{slug}.svg")), svg(o))?;
        let _ = writeln!(md, "\n![{}](fleet/{slug}.svg)", o.title);
    }
    md.push_str(footer);
    std::fs::write(repo.join("docs/FLEET.md"), md)?;
    Ok(())
}
