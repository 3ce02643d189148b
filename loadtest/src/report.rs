//! REPORT.md and the latency chart, from results.json (medians over repeats).

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use crate::results::*;
use crate::stats::median;

fn med<T>(items: &[T], f: impl Fn(&T) -> Option<f64>) -> Option<f64> {
    median(&items.iter().filter_map(f).collect::<Vec<_>>())
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.digits$}"))
}

fn mib(kib: Option<f64>) -> String {
    fmt(kib.map(|k| k / 1024.0), 1)
}

/// Median saturation figures of one consumer over the repeats.
#[derive(Debug, Clone, Default)]
pub struct Sat {
    pub jobs_per_sec: Option<f64>,
    pub cpu_us_per_job: Option<f64>,
    pub cores: Option<f64>,
    pub emulator_cores: Option<f64>,
    pub req_emulator: Option<f64>,
    pub req_metrics: Option<f64>,
    pub idle_rss_kib: Option<f64>,
    pub peak_rss_kib: Option<f64>,
    pub idle_cpu_pct: Option<f64>,
    pub start_secs: Option<f64>,
    pub handled_ok: bool,
    pub time_boxed: bool,
    pub runs: usize,
}

fn sat(runs: &[&Saturation]) -> Sat {
    let r: Vec<Saturation> = runs.iter().map(|s| (*s).clone()).collect();
    Sat {
        jobs_per_sec: med(&r, |s| Some(s.jobs_per_sec)),
        cpu_us_per_job: med(&r, |s| Some(s.cpu_us_per_job)),
        cores: med(&r, |s| Some(s.cores)),
        emulator_cores: med(&r, |s| s.emulator_cores),
        req_emulator: med(&r, |s| Some(s.requests_per_job_emulator)),
        req_metrics: med(&r, |s| s.requests_per_job_metrics),
        idle_rss_kib: med(&r, |s| Some(s.idle_rss_kib as f64)),
        peak_rss_kib: med(&r, |s| Some(s.peak_rss_kib as f64)),
        idle_cpu_pct: med(&r, |s| Some(s.idle_cpu_pct)),
        start_secs: med(&r, |s| Some(s.start_secs)),
        handled_ok: r.iter().all(|s| s.handled >= s.processed),
        time_boxed: r.iter().any(|s| s.time_boxed),
        runs: r.len(),
    }
}

#[derive(Debug)]
pub struct Summary {
    pub ceiling: Option<f64>,
    pub ceiling_emulator_cores: Option<f64>,
    pub by_consumer: Vec<(Consumer, Sat)>,
    pub ours: Sat,
    pub sweep: Vec<(f64, LatencyPoint)>,
    pub peer_points: Vec<(Consumer, LatencyPoint)>,
}

fn median_point(points: &[&LatencyPoint]) -> Option<LatencyPoint> {
    let first = (*points.first()?).clone();
    let lat = |f: fn(&crate::stats::Summary) -> f64| med(points, |p| p.latency_ms.as_ref().map(f));
    let summary = match (lat(|s| s.p50), lat(|s| s.p90), lat(|s| s.p99), lat(|s| s.max)) {
        (Some(p50), Some(p90), Some(p99), Some(max)) => Some(crate::stats::Summary {
            p50,
            p90,
            p99,
            max,
            count: points.iter().filter_map(|p| p.latency_ms.map(|s| s.count)).sum::<usize>() / points.len(),
        }),
        _ => None,
    };
    Some(LatencyPoint {
        offered_per_sec: med(points, |p| Some(p.offered_per_sec)).unwrap_or(first.offered_per_sec),
        achieved_send_per_sec: med(points, |p| Some(p.achieved_send_per_sec)).unwrap_or(0.0),
        jobs: med(points, |p| Some(p.jobs as f64)).unwrap_or(0.0) as u64,
        latency_ms: summary,
        cpu_us_per_job: med(points, |p| Some(p.cpu_us_per_job)).unwrap_or(0.0),
        requests_per_job_emulator: med(points, |p| Some(p.requests_per_job_emulator)).unwrap_or(0.0),
        load_avg: med(points, |p| Some(p.load_avg)).unwrap_or(0.0),
        ..first
    })
}

pub fn summarize(results: &Results) -> Summary {
    let reps = &results.repeats;
    let ceiling = median(&reps.iter().map(|r| r.ceiling.msgs_per_sec).filter(|v| *v > 0.0).collect::<Vec<_>>());
    let ceiling_emulator_cores = median(&reps.iter().filter_map(|r| r.ceiling.emulator_cores).collect::<Vec<_>>());
    let by_consumer: Vec<(Consumer, Sat)> = Consumer::ALL
        .iter()
        .map(|&c| (c, sat(&reps.iter().flat_map(|r| r.saturation.iter()).filter(|s| s.consumer == Some(c)).collect::<Vec<_>>())))
        .filter(|(_, s)| s.runs > 0)
        .collect();
    let ours = by_consumer.iter().find(|(c, _)| *c == Consumer::Jobfleet).map(|(_, s)| s.clone()).unwrap_or_default();
    let mut fractions: Vec<f64> = reps.iter().flat_map(|r| r.sweep.iter().map(|p| p.load_fraction)).collect();
    fractions.sort_by(f64::total_cmp);
    fractions.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    let sweep = fractions
        .iter()
        .filter_map(|&f| {
            let pts: Vec<&LatencyPoint> = reps.iter().flat_map(|r| r.sweep.iter()).filter(|p| (p.load_fraction - f).abs() < 1e-9).collect();
            Some((f, median_point(&pts)?))
        })
        .collect();
    let peer_points = Consumer::ALL
        .iter()
        .filter_map(|&c| {
            let pts: Vec<&LatencyPoint> = reps.iter().flat_map(|r| r.peer_latency.iter()).filter(|p| p.consumer == Some(c)).collect();
            Some((c, median_point(&pts)?))
        })
        .collect();
    Summary { ceiling, ceiling_emulator_cores, by_consumer, ours, sweep, peer_points }
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "✅ met",
        Some(false) => "❌ missed",
        None => "— not measured",
    }
}

pub fn chart(summary: &Summary, path: &Path) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let pts: Vec<&LatencyPoint> = summary.sweep.iter().map(|(_, p)| p).collect();
    let mut x_max = pts.iter().map(|p| p.offered_per_sec).fold(0.0, f64::max);
    x_max = x_max.max(summary.ceiling.unwrap_or(0.0)).max(summary.peer_points.iter().map(|(_, p)| p.offered_per_sec).fold(0.0, f64::max))
        * 1.08;
    let all: Vec<&LatencyPoint> = pts.iter().copied().chain(summary.peer_points.iter().map(|(_, p)| p)).collect();
    let lat_values: Vec<f64> = all.iter().filter_map(|p| p.latency_ms.map(|s| s.p99.max(s.p50))).collect();
    let y_max = lat_values.iter().copied().fold(1.0, f64::max) * 2.0;
    let y_min = all.iter().filter_map(|p| p.latency_ms.map(|s| s.p50)).fold(y_max, f64::min).max(0.05) / 2.0;
    let mut chart = ChartBuilder::on(&root)
        .caption("Enqueue → handler start latency vs offered load (fauxqs, no-op jobs)", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max.max(1.0), (y_min..y_max).log_scale())
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    chart
        .configure_mesh()
        .x_desc("offered load (jobs/s)")
        .y_desc("latency (ms, log scale)")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    type Pick = fn(&crate::stats::Summary) -> f64;
    let series: [(&str, Pick, RGBColor); 3] = [
        ("jobfleet p50", |s| s.p50, RGBColor(31, 119, 180)),
        ("jobfleet p90", |s| s.p90, RGBColor(44, 160, 44)),
        ("jobfleet p99", |s| s.p99, RGBColor(214, 39, 40)),
    ];
    for (name, f, color) in series {
        let data: Vec<(f64, f64)> = pts.iter().filter_map(|p| Some((p.offered_per_sec, f(&p.latency_ms?)))).collect();
        chart
            .draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(data.iter().map(|&(x, y)| Circle::new((x, y), 3, color.filled()))).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let peer_colors = [RGBColor(148, 103, 189), RGBColor(140, 86, 75), RGBColor(227, 119, 194)];
    for ((consumer, p), color) in summary.peer_points.iter().filter(|(c, _)| *c != Consumer::Jobfleet).zip(peer_colors) {
        if let Some(s) = p.latency_ms {
            chart
                .draw_series([TriangleMarker::new((p.offered_per_sec, s.p99), 7, color.filled())])
                .map_err(|e| anyhow::anyhow!("{e:?}"))?
                .label(format!("{} p99 (at half its capacity)", consumer.label()))
                .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 5, color.filled()));
        }
    }
    for (x, name, color) in [
        (summary.ceiling, "emulator ceiling", RGBColor(90, 90, 90)),
        (summary.ours.jobs_per_sec, "jobfleet saturation", RGBColor(31, 119, 180)),
    ] {
        if let Some(x) = x {
            chart
                .draw_series(LineSeries::new(vec![(x, y_min), (x, y_max)], color.stroke_width(1)))
                .map_err(|e| anyhow::anyhow!("{e:?}"))?
                .label(format!("{name} ({x:.0}/s)"))
                .legend(move |(lx, ly)| PathElement::new(vec![(lx, ly), (lx + 20, ly)], color.stroke_width(1)));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}

pub fn markdown(results: &Results, extra_sections: &[(String, String)]) -> String {
    let s = summarize(results);
    let env = &results.environment;
    let reps = &results.repeats;
    let mut md = String::new();
    let ceiling = s.ceiling;
    let frac = |v: Option<f64>| match (v, ceiling) {
        (Some(v), Some(c)) if c > 0.0 => format!("{:.2}×", v / c),
        _ => "—".into(),
    };
    let _ = writeln!(md, "# jobfleet benchmark report\n");
    let _ = writeln!(
        md,
        "_Generated by `bash loadtest/bench.sh` on {} ({} repeat(s), medians; suite wall time {:.0} s). \
         Do not edit by hand: rerun the suite. How to read it: [docs/benchmarks.md](../docs/benchmarks.md)._\n",
        env.started_at,
        reps.len(),
        env.wall_secs
    );
    let _ = writeln!(
        md,
        "Every figure was measured against the SQS emulator **fauxqs** on 127.0.0.1 in the same run, next to the emulator's own \
         ceiling: a bare SDK loop (send batch 10 → receive 10 → delete batch 10) reached **{} msg/s** (emulator at {} of a core). \
         \"× ceiling\" = consumer throughput ÷ that figure.\n",
        fmt(ceiling, 0),
        fmt(s.ceiling_emulator_cores.map(|c| c * 100.0), 0) + " %"
    );

    // --- Summary table -----------------------------------------------------
    let _ = writeln!(md, "## Summary: jobfleet vs peers (same emulator, same no-op work)\n");
    let _ = writeln!(
        md,
        "| consumer | jobs/s (backlog drain) | × ceiling | CPU µs/job | CPU-s per 10k jobs | cores used | SQS requests/job (emulator) | idle RSS MiB | peak RSS MiB | p99 enqueue→start @ ½ capacity (ms) |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (c, v) in &s.by_consumer {
        let p99 = s.peer_points.iter().find(|(pc, _)| pc == c).and_then(|(_, p)| p.latency_ms.map(|l| l.p99));
        let p99 = if *c == Consumer::Jobfleet {
            s.sweep.iter().find(|(f, _)| (*f - 0.5).abs() < 1e-9).and_then(|(_, p)| p.latency_ms.map(|l| l.p99)).or(p99)
        } else {
            p99
        };
        let _ = writeln!(
            md,
            "| {}{}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.label(),
            if v.handled_ok { "" } else { " ⚠ not all jobs handled" },
            if v.time_boxed { " ⏱" } else { "" },
            fmt(v.jobs_per_sec, 0),
            frac(v.jobs_per_sec),
            fmt(v.cpu_us_per_job, 1),
            fmt(v.cpu_us_per_job.map(|u| u * 1e4 / 1e6), 2),
            fmt(v.cores, 2),
            fmt(v.req_emulator, 3),
            mib(v.idle_rss_kib),
            mib(v.peak_rss_kib),
            fmt(p99, 1),
        );
    }
    if s.by_consumer.iter().any(|(_, v)| v.time_boxed) {
        let _ = writeln!(md, "\n⏱ = the backlog was not drained within the time box; measured on the jobs it did process in that time.");
    }
    let _ = writeln!(md, "\n**Ratios (peer ÷ jobfleet; > 1 means jobfleet is better, except jobs/s where < 1 does):**\n");
    let _ = writeln!(md, "| peer | jobs/s | CPU per job | SQS requests/job | idle RSS | peak RSS |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.1}×", a / b),
        _ => "—".into(),
    };
    for (c, v) in s.by_consumer.iter().filter(|(c, _)| *c != Consumer::Jobfleet) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            c.label(),
            ratio(v.jobs_per_sec, s.ours.jobs_per_sec),
            ratio(v.cpu_us_per_job, s.ours.cpu_us_per_job),
            ratio(v.req_emulator, s.ours.req_emulator),
            ratio(v.idle_rss_kib, s.ours.idle_rss_kib),
            ratio(v.peak_rss_kib, s.ours.peak_rss_kib),
        );
    }

    // --- Goals ----------------------------------------------------------------
    let _ = writeln!(md, "\n## Goals\n");
    let _ = writeln!(md, "| goal | target | measured | verdict |");
    let _ = writeln!(md, "|---|---|---|---|");
    let o = &s.ours;
    let sqsc_cpu = s.by_consumer.iter().find(|(c, _)| *c == Consumer::SqsConsumerMessage).and_then(|(_, v)| v.cpu_us_per_job);
    let p99_half = s.sweep.iter().find(|(f, _)| (*f - 0.5).abs() < 1e-9).and_then(|(_, p)| p.latency_ms.map(|l| l.p99));
    let goals: Vec<(&str, String, String, Option<bool>)> = vec![
        ("worker CPU per no-op job", "≤ 30 µs".into(), format!("{} µs", fmt(o.cpu_us_per_job, 1)), o.cpu_us_per_job.map(|v| v <= 30.0)),
        (
            "CPU per job vs sqs-consumer (per message, its default)",
            "≥ 10× less".into(),
            match (sqsc_cpu, o.cpu_us_per_job) {
                (Some(p), Some(u)) => format!("{:.1}× less", p / u),
                _ => "—".into(),
            },
            sqsc_cpu.zip(o.cpu_us_per_job).map(|(p, u)| p / u >= 10.0),
        ),
        (
            "SQS requests per job at saturation",
            "≤ 0.21".into(),
            format!("{} (emulator) / {} (jobfleet_sqs_requests_total)", fmt(o.req_emulator, 3), fmt(o.req_metrics, 3)),
            o.req_emulator.map(|v| v <= 0.21),
        ),
        (
            "throughput on one worker process vs emulator ceiling",
            "≥ 0.8×".into(),
            format!("{} ({} jobs/s, worker using {} cores)", frac(o.jobs_per_sec), fmt(o.jobs_per_sec, 0), fmt(o.cores, 2)),
            o.jobs_per_sec.zip(ceiling).map(|(v, c)| v / c >= 0.8),
        ),
        ("p99 enqueue→start at 50 % load", "≤ 20 ms".into(), format!("{} ms", fmt(p99_half, 1)), p99_half.map(|v| v <= 20.0)),
        ("idle RSS", "≤ 20 MiB".into(), format!("{} MiB", mib(o.idle_rss_kib)), o.idle_rss_kib.map(|v| v / 1024.0 <= 20.0)),
    ];
    for (goal, target, measured, ok) in goals {
        let _ = writeln!(md, "| {goal} | {target} | {measured} | {} |", verdict(ok));
    }

    // --- Latency sweep ------------------------------------------------------
    let _ = writeln!(md, "\n## Latency vs offered load (jobfleet, one worker)\n");
    let _ = writeln!(md, "![latency vs offered load](latency-vs-load.svg)\n");
    let _ = writeln!(
        md,
        "| offered jobs/s | % of jobfleet saturation | × ceiling | p50 ms | p90 ms | p99 ms | max ms | CPU µs/job | SQS req/job |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (f, p) in &s.sweep {
        let l = p.latency_ms;
        let _ = writeln!(
            md,
            "| {:.0} | {:.0} % | {} | {} | {} | {} | {} | {:.1} | {:.3} |",
            p.offered_per_sec,
            f * 100.0,
            frac(Some(p.offered_per_sec)),
            fmt(l.map(|l| l.p50), 1),
            fmt(l.map(|l| l.p90), 1),
            fmt(l.map(|l| l.p99), 1),
            fmt(l.map(|l| l.max), 1),
            p.cpu_us_per_job,
            p.requests_per_job_emulator
        );
    }
    if !s.peer_points.is_empty() {
        let _ = writeln!(md, "\nPeers at half their own measured capacity:\n");
        let _ = writeln!(md, "| consumer | offered jobs/s | p50 ms | p90 ms | p99 ms | CPU µs/job | SQS req/job |");
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
        for (c, p) in &s.peer_points {
            let l = p.latency_ms;
            let _ = writeln!(
                md,
                "| {} | {:.0} | {} | {} | {} | {:.1} | {:.3} |",
                c.label(),
                p.offered_per_sec,
                fmt(l.map(|l| l.p50), 1),
                fmt(l.map(|l| l.p90), 1),
                fmt(l.map(|l| l.p99), 1),
                p.cpu_us_per_job,
                p.requests_per_job_emulator
            );
        }
    }

    // --- Mixed ----------------------------------------------------------------
    let mixed: Vec<&Saturation> = reps.iter().filter_map(|r| r.mixed.as_ref()).collect();
    if !mixed.is_empty() {
        let m = sat(&mixed);
        let _ = writeln!(
            md,
            "\n**Mixed backlog** ({}): {} jobs/s, {} CPU µs/job, {} SQS requests/job.",
            env.settings.get("mixed scenario").cloned().unwrap_or_default(),
            fmt(m.jobs_per_sec, 0),
            fmt(m.cpu_us_per_job, 1),
            fmt(m.req_emulator, 3)
        );
    }

    // --- Fleet ----------------------------------------------------------------
    let _ = writeln!(md, "\n## Fleet: worker processes on one queue (backlog drain)\n");
    let _ = writeln!(md, "| processes | jobs/s | × 1 process | × ceiling | CPU µs/job | cores used | emulator cores | SQS req/job |");
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut sizes: Vec<usize> = reps.iter().flat_map(|r| r.fleet.iter().map(|f| f.processes)).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut one = None;
    for n in sizes {
        let v = sat(&reps.iter().flat_map(|r| r.fleet.iter()).filter(|f| f.processes == n).collect::<Vec<_>>());
        if n == 1 {
            one = v.jobs_per_sec;
        }
        let _ = writeln!(
            md,
            "| {n} | {} | {} | {} | {} | {} | {} | {} |",
            fmt(v.jobs_per_sec, 0),
            ratio(v.jobs_per_sec, one),
            frac(v.jobs_per_sec),
            fmt(v.cpu_us_per_job, 1),
            fmt(v.cores, 2),
            fmt(v.emulator_cores, 2),
            fmt(v.req_emulator, 3)
        );
    }

    // --- Drain ------------------------------------------------------------
    let drains: Vec<&Drain> = reps.iter().filter_map(|r| r.drain.as_ref()).collect();
    if let Some(d0) = drains.first() {
        let _ = writeln!(
            md,
            "\n## Drain: SIGTERM under load\n\n`diag.sleep {{\"ms\": {}}}` at {:.0} jobs/s; SIGTERM {:.0} s in while the generator keeps sending; then a second worker finishes the queue and the ledger is checked.\n",
            d0.sleep_ms, d0.rate, d0.sigterm_after_secs
        );
        let _ = writeln!(
            md,
            "| run | jobs sent | drain time (s) | exit | started by 1st | abandoned | in flight after exit | visible after exit | unstarted | succeeded | lost | attempts > 1 | redelivered after completion |"
        );
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (i, d) in drains.iter().enumerate() {
            let _ = writeln!(
                md,
                "| {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                i + 1,
                d.jobs_sent,
                d.drain_secs,
                d.exit_code.map_or("killed".into(), |c| c.to_string()),
                d.started_by_first,
                d.abandoned,
                d.in_flight_after_exit,
                d.visible_after_exit,
                d.unstarted_after_exit,
                d.succeeded,
                d.lost,
                d.attempts_over_one,
                d.redelivered_after_completion
            );
        }
        let ok =
            drains.iter().all(|d| d.lost == 0 && d.redelivered_after_completion == 0 && d.attempts_over_one == 0 && d.exit_code == Some(0));
        let _ = writeln!(md, "\nVerdict: {}", if ok { "✅ exit 0, lost = 0, every job ran once." } else { "❌ see the rows above." });
    }

    // Autoscaling is simulated by the fleet harness with the real workers (docs/FLEET.md).

    for (title, body) in extra_sections {
        let _ = writeln!(md, "\n## {title}\n\n{}", body.trim());
    }

    // --- Environment ----------------------------------------------------------
    let _ = writeln!(md, "\n## Environment\n");
    let _ = writeln!(md, "- {} CPU(s): {}; {} MiB RAM; kernel {}", env.cpus, env.cpu_model, env.mem_total_mib, env.kernel);
    let loads: Vec<f64> = reps.iter().flat_map(|r| r.saturation.iter().map(|s| s.load_avg)).collect();
    let _ = writeln!(
        md,
        "- 1-min load average during the backlog runs: median {} (the machine is shared: the emulator, the generator, Postgres and the consumer all run on these cores, and other builds may too)",
        fmt(median(&loads), 2)
    );
    for (k, v) in &env.versions {
        let _ = writeln!(md, "- {k}: {v}");
    }
    let _ = writeln!(md, "\nSettings:\n");
    for (k, v) in &env.settings {
        let _ = writeln!(md, "- {k}: {v}");
    }
    md
}
