//! `media-bench --corpus DIR [--iterations N] [--out DIR] [--no-vips]`
//!
//! 1. Checks every corpus file against `MANIFEST.tsv` (expected outcome / error class).
//! 2. Throughput of `make_thumbnails` (1600/640/160, JPEG q82) on the 12 MP `photo-*.jpg` files,
//!    single-threaded, in process: images per CPU-second (= per core) and per wall-second.
//! 3. Peak RSS per job: each file is processed once in a fresh child process (`--job`), and its
//!    `ru_maxrss` is read with `getrusage(RUSAGE_CHILDREN)` in a fresh helper process that has no
//!    other child (includes the process baseline, also reported).
//! 4. The same photos through `vipsthumbnail` (libvips-tools), same sizes and quality
//!    (`--size S -o DIR/%s_S.jpg[Q=82,strip]`, 4:2:0 and no Huffman optimisation by default,
//!    as ours), run in its batch form (one process per size over all files, so process start is
//!    amortised) with `VIPS_CONCURRENCY=1`; CPU time from the children's rusage. Two ways:
//!    each size from the source (the plain use), and chained 1600 → 640 → 160 (each size from
//!    the previous output, the cheapest way to use vips for a set of sizes).
//! 5. Prints a markdown table.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use jobfleet_handlers::media::{Limits, ThumbnailSpec, make_thumbnails};
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeVal;

const SIZES: [u32; 3] = [1600, 640, 160];
const QUALITY: u8 = 82;

struct Args {
    corpus: PathBuf,
    iterations: usize,
    out: Option<PathBuf>,
    vips: bool,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("--job") => return job(&argv[1..]),
        Some("--baseline") => return ExitCode::SUCCESS,
        Some("--measure") => return measure(&argv[1..]),
        _ => {}
    }
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\nusage: media-bench --corpus DIR [--iterations N] [--out DIR] [--no-vips]");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("media-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut a = Args { corpus: PathBuf::new(), iterations: 3, out: None, vips: true };
    let mut it = argv.iter();
    while let Some(s) = it.next() {
        match s.as_str() {
            "--corpus" => a.corpus = it.next().ok_or("--corpus needs a dir")?.into(),
            "--iterations" => a.iterations = it.next().and_then(|v| v.parse().ok()).ok_or("--iterations needs N")?,
            "--out" => a.out = Some(it.next().ok_or("--out needs a dir")?.into()),
            "--no-vips" => a.vips = false,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.corpus.as_os_str().is_empty() {
        return Err("--corpus is required".into());
    }
    a.iterations = a.iterations.max(1);
    Ok(a)
}

/// Child mode: one job in a fresh process, so the parent can read its peak RSS.
fn job(argv: &[String]) -> ExitCode {
    let Some(file) = argv.first() else { return ExitCode::from(2) };
    let input = std::fs::read(file).expect("read input");
    let spec = ThumbnailSpec { variants: SIZES.to_vec(), quality: QUALITY, ..Default::default() };
    match make_thumbnails(&input, &spec, &Limits::default()) {
        Ok(v) => {
            if let Some(dir) = argv.get(1) {
                write_variants(Path::new(dir), file, &v);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{file}: {} ({e})", e.class());
            ExitCode::from(3)
        }
    }
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn write_variants(dir: &Path, file: &str, variants: &[jobfleet_handlers::media::Variant]) {
    let stem = stem(Path::new(file));
    for v in variants {
        std::fs::write(dir.join(format!("{stem}_{}.jpg", v.longest_side)), &v.bytes).expect("write output");
    }
}

#[derive(Default, Clone, Copy)]
struct Usage {
    cpu: Duration,
    max_rss_kib: u64,
}

fn rusage(who: UsageWho) -> Usage {
    getrusage(who).map(|ru| usage_of(&ru)).unwrap_or_default()
}

fn usage_of(ru: &nix::sys::resource::Usage) -> Usage {
    let tv = |t: TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    Usage { cpu: tv(ru.user_time()) + tv(ru.system_time()), max_rss_kib: ru.max_rss() as u64 }
}

/// Runs `cmd` to completion and returns (success, its rusage). Only called in the `--measure`
/// helper, which has no other child, so `RUSAGE_CHILDREN` is exactly this child's (what
/// `wait4` would report, without unsafe code).
fn spawn_wait(cmd: &mut Command) -> Result<(bool, Usage), String> {
    let status = cmd.stdout(Stdio::null()).status().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let ru = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| format!("getrusage: {e}"))?;
    Ok((status.success(), usage_of(&ru)))
}

/// Helper mode: `--measure PROGRAM ARGS…` runs the program and prints `ok|fail CPU_NS MAXRSS_KIB`.
///
/// Why a helper: Linux carries the *parent's* RSS high-water mark into a child's `ru_maxrss`
/// across fork+exec, so children spawned straight from the benchmark (which itself has decoded
/// 12 MP images) would all report ≥ the benchmark's own peak. This small, fresh process has a
/// ~2 MiB high-water mark, so what it reads for its child is the child's real peak.
fn measure(argv: &[String]) -> ExitCode {
    let Some((prog, rest)) = argv.split_first() else { return ExitCode::from(2) };
    match spawn_wait(Command::new(prog).args(rest)) {
        Ok((ok, u)) => {
            println!("{} {} {}", if ok { "ok" } else { "fail" }, u.cpu.as_nanos(), u.max_rss_kib);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a child through the `--measure` helper: (success, the child's CPU time and peak RSS).
fn run_child(cmd: &mut Command) -> Result<(bool, Usage), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut helper = Command::new(exe);
    helper.arg("--measure").arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => helper.env(k, v),
            None => helper.env_remove(k),
        };
    }
    let out = helper.stderr(Stdio::inherit()).output().map_err(|e| format!("--measure: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.split_whitespace().collect();
    let [status, cpu_ns, rss] = f[..] else { return Err(format!("--measure said {text:?}")) };
    let cpu = Duration::from_nanos(cpu_ns.parse().map_err(|_| "bad cpu")?);
    Ok((status == "ok", Usage { cpu, max_rss_kib: rss.parse().map_err(|_| "bad rss")? }))
}

struct Row {
    name: String,
    images: usize,
    cpu: Duration,
    wall: Duration,
    rss_kib: u64,
}

impl Row {
    fn per_core(&self) -> f64 {
        self.images as f64 / self.cpu.as_secs_f64()
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn run(args: &Args) -> Result<bool, String> {
    let manifest = std::fs::read_to_string(args.corpus.join("MANIFEST.tsv"))
        .map_err(|e| format!("{}/MANIFEST.tsv: {e} (run media-corpus first)", args.corpus.display()))?;
    let entries: Vec<(String, String)> = manifest
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect();
    let tmp;
    let out = match &args.out {
        Some(d) => d.clone(),
        None => {
            tmp = std::env::temp_dir().join(format!("media-bench-{}", std::process::id()));
            tmp.clone()
        }
    };
    for sub in ["ours", "vips", "vips-chained"] {
        std::fs::create_dir_all(out.join(sub)).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let spec = ThumbnailSpec { variants: SIZES.to_vec(), quality: QUALITY, ..Default::default() };
    let limits = Limits::default();
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    println!("## media-bench\n");
    println!("- CPU: {cpu_model} ({} logical cores)", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    println!("- corpus: {} ({} files), outputs: {}", args.corpus.display(), entries.len(), out.display());

    // 1. Expected outcomes.
    let mut all_ok = true;
    println!("\n### Corpus outcomes\n\n| file | expected | got | |\n|---|---|---|---|");
    for (name, expect) in &entries {
        let bytes = std::fs::read(args.corpus.join(name)).map_err(|e| format!("{name}: {e}"))?;
        let got = match make_thumbnails(&bytes, &spec, &limits) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.class().to_string(),
        };
        let pass = &got == expect;
        all_ok &= pass;
        println!("| {name} | {expect} | {got} | {} |", if pass { "✓" } else { "✗ MISMATCH" });
    }

    let mut photos: Vec<PathBuf> =
        entries.iter().filter(|(n, e)| n.starts_with("photo-") && e == "ok").map(|(n, _)| args.corpus.join(n)).collect();
    photos.sort();
    if photos.is_empty() {
        return Err("no photo-*.jpg in the corpus".into());
    }
    let n_images = photos.len() * args.iterations;

    // 2. Ours, in process, one thread. One untimed warm-up pass (page cache, lazy init).
    for p in &photos {
        make_thumbnails(&std::fs::read(p).map_err(|e| e.to_string())?, &spec, &limits).map_err(|e| e.to_string())?;
    }
    let (u0, t0) = (rusage(UsageWho::RUSAGE_SELF), Instant::now());
    let mut out_bytes = [0u64; 3];
    for _ in 0..args.iterations {
        for p in &photos {
            let input = std::fs::read(p).map_err(|e| e.to_string())?;
            let v = make_thumbnails(&input, &spec, &limits).map_err(|e| e.to_string())?;
            write_variants(&out.join("ours"), &p.to_string_lossy(), &v);
            for (i, v) in v.iter().enumerate() {
                out_bytes[i] += v.bytes.len() as u64;
            }
        }
    }
    let ours_wall = t0.elapsed();
    let ours_cpu = rusage(UsageWho::RUSAGE_SELF).cpu - u0.cpu;

    // 3. Peak RSS per job, each in a fresh process.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (_, baseline) = run_child(Command::new(&exe).arg("--baseline"))?;
    let mut job_rss = Vec::new();
    for (name, expect) in entries.iter().filter(|(_, e)| e == "ok") {
        let _ = expect;
        let (ok, u) = run_child(Command::new(&exe).arg("--job").arg(args.corpus.join(name)))?;
        if !ok {
            return Err(format!("--job {name} failed"));
        }
        job_rss.push((name.clone(), u.max_rss_kib));
    }
    let photo_rss = job_rss.iter().filter(|(n, _)| n.starts_with("photo-")).map(|(_, r)| *r).max().unwrap_or(0);
    let mut rows = vec![Row {
        name: "ours: media::make_thumbnails (1 thread)".into(),
        images: n_images,
        cpu: ours_cpu,
        wall: ours_wall,
        rss_kib: photo_rss,
    }];

    // 4. vipsthumbnail.
    let mut vips_version = String::new();
    let mut vips_bytes = [0u64; 3];
    if args.vips {
        let v = Command::new("vipsthumbnail").arg("--vips-version").output();
        match v {
            Ok(o) if o.status.success() => vips_version = String::from_utf8_lossy(&o.stdout).trim().to_string(),
            _ => {
                println!("\n(vipsthumbnail not found: install Debian package libvips-tools)");
            }
        }
    }
    let mut notes = Vec::new();
    if !vips_version.is_empty() {
        let run_vips = |program: &str, argv: Vec<String>| -> Result<Usage, String> {
            let mut cmd = Command::new(program);
            cmd.env("VIPS_CONCURRENCY", "1").args(&argv);
            let (ok, u) = run_child(&mut cmd)?;
            if !ok {
                return Err(format!("{program} {argv:?} failed"));
            }
            Ok(u)
        };
        let thumbnail = |size: u32, inputs: &[PathBuf], dir: &Path| -> Result<Usage, String> {
            let mut argv = vec![
                "--size".to_string(),
                size.to_string(),
                "-o".to_string(),
                format!("{}/%s_{size}.jpg[Q={QUALITY},strip]", dir.display()),
            ];
            argv.extend(inputs.iter().map(|p| p.display().to_string()));
            run_vips("vipsthumbnail", argv)
        };
        // Warm-up (shared libraries, page cache).
        thumbnail(160, &photos[..1], &out.join("vips"))?;
        // Per-job peak RSS, measured as for ours: one image, one process, each size; max.
        let mut vips_job_rss = 0;
        for size in SIZES {
            vips_job_rss = vips_job_rss.max(thumbnail(size, &photos[..1], &out.join("vips"))?.max_rss_kib);
        }

        // a) vipsthumbnail batch form, every size from the source (the plain use).
        let (t, mut cpu, mut batch_rss) = (Instant::now(), Duration::ZERO, 0);
        for _ in 0..args.iterations {
            for size in SIZES {
                let u = thumbnail(size, &photos, &out.join("vips"))?;
                cpu += u.cpu;
                batch_rss = batch_rss.max(u.max_rss_kib);
            }
        }
        rows.push(Row {
            name: format!("vipsthumbnail {vips_version}, batch, each size from the source"),
            images: n_images,
            cpu,
            wall: t.elapsed(),
            rss_kib: vips_job_rss,
        });

        // b) chained: 1600 from the source, 640 from the 1600 output, 160 from the 640.
        let dir = out.join("vips-chained");
        let (t, mut cpu) = (Instant::now(), Duration::ZERO);
        for _ in 0..args.iterations {
            let mut inputs = photos.clone();
            for size in SIZES {
                let u = thumbnail(size, &inputs, &dir)?;
                cpu += u.cpu;
                batch_rss = batch_rss.max(u.max_rss_kib);
                // vipsthumbnail names each output after its input's stem.
                inputs = inputs.iter().map(|p| dir.join(format!("{}_{size}.jpg", stem(p)))).collect();
            }
        }
        rows.push(Row {
            name: format!("vipsthumbnail {vips_version}, batch, chained 1600→640→160"),
            images: n_images,
            cpu,
            wall: t.elapsed(),
            rss_kib: vips_job_rss,
        });
        notes.push(format!(
            "vipsthumbnail batch processes (4 images each) peaked at {}; the RSS column is one image per process, like ours.",
            mib(batch_rss)
        ));

        // c) Our algorithm in vips: the same shrink-on-load as ours (vipsthumbnail only
        //    shrinks on load when ≥ 2× margin is left, so it decodes 4000×3000 in full for
        //    1600 px) followed by Lanczos3 `vips resize`. The vips CLI has no batch form, so
        //    it runs one process per image and size; their start-up CPU (measured on
        //    `vips --version`) is subtracted.
        let vips_cli = run_vips("vips", vec!["--version".into()]).is_ok();
        if vips_cli {
            let runs = 10;
            let mut startup = Duration::ZERO;
            for _ in 0..runs {
                startup += run_vips("vips", vec!["--version".into()])?.cpu;
            }
            let startup = startup / runs;
            let (t, mut cpu, mut procs, mut rss) = (Instant::now(), Duration::ZERO, 0u32, 0u64);
            let dir = out.join("vips-resize");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            for _ in 0..args.iterations {
                for p in &photos {
                    let hdr = jobfleet_handlers::media::probe(&std::fs::read(p).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
                    let longest = hdr.width.max(hdr.height) as f64;
                    for size in SIZES {
                        let denom = [8u32, 4, 2].into_iter().find(|&d| (longest / d as f64).ceil() >= size as f64 * 1.25).unwrap_or(1);
                        let scale = size as f64 / (longest / denom as f64).ceil();
                        let stem = stem(p);
                        let argv = vec![
                            "resize".to_string(),
                            format!("{}[shrink={denom}]", p.display()),
                            format!("{}/{stem}_{size}.jpg[Q={QUALITY},strip]", dir.display()),
                            format!("{scale}"),
                        ];
                        let u = run_vips("vips", argv)?;
                        cpu += u.cpu;
                        rss = rss.max(u.max_rss_kib);
                        procs += 1;
                    }
                }
            }
            let wall = t.elapsed();
            rows.push(Row {
                name: format!("vips {vips_version} CLI, our shrink-on-load + Lanczos3 resize, start-up subtracted"),
                images: n_images,
                cpu: cpu.saturating_sub(startup * procs),
                wall: wall.saturating_sub(startup * procs),
                rss_kib: rss,
            });
            notes.push(format!(
                "`vips resize` row: {procs} processes; {:.1} ms CPU start-up each (mean of {runs} `vips --version`) subtracted from CPU and wall.",
                startup.as_secs_f64() * 1000.0
            ));
        }
        for (i, size) in SIZES.iter().enumerate() {
            for p in &photos {
                let stem = stem(p);
                vips_bytes[i] += std::fs::metadata(out.join("vips").join(format!("{stem}_{size}.jpg"))).map(|m| m.len()).unwrap_or(0);
            }
        }
    }

    // 5. Report.
    let ours = rows[0].per_core();
    println!(
        "\n### Throughput: {} × 12 MP JPEG ({} files × {} iterations) → {:?} px JPEG q{QUALITY}\n",
        n_images,
        photos.len(),
        args.iterations,
        SIZES
    );
    println!("| pipeline | images | CPU s | wall s | images/s/core | ours ÷ this | peak RSS / job |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2}× | {} |",
            r.name,
            r.images,
            r.cpu.as_secs_f64(),
            r.wall.as_secs_f64(),
            r.per_core(),
            ours / r.per_core(),
            mib(r.rss_kib)
        );
    }
    println!("\nPeak RSS per job (fresh process each; process baseline {}):\n", mib(baseline.max_rss_kib));
    println!("| file | peak RSS |\n|---|---:|");
    for (name, kib) in &job_rss {
        println!("| {name} | {} |", mib(*kib));
    }
    let n_out = (photos.len() * args.iterations) as u64;
    println!("\nMean output bytes per variant (ours vs vipsthumbnail, same Q):\n");
    println!("| size | ours | vips |\n|---:|---:|---:|");
    for (i, size) in SIZES.iter().enumerate() {
        let v = if vips_bytes[i] > 0 { format!("{}", vips_bytes[i] / photos.len() as u64) } else { "-".into() };
        println!("| {size} | {} | {v} |", out_bytes[i] / n_out);
    }
    for n in &notes {
        println!("\nNote: {n}");
    }
    let budget_ok = photo_rss <= 64 * 1024;
    println!(
        "\nGoals: ≥ 2.5× vipsthumbnail per core (each size from source): {}; peak RSS ≤ 64 MiB per 12 MP job: {} ({})",
        rows.get(1).map(|v| format!("{:.2}×", ours / v.per_core())).unwrap_or("n/a".into()),
        if budget_ok { "yes" } else { "NO" },
        mib(photo_rss)
    );
    if args.out.is_none() {
        let _ = std::fs::remove_dir_all(&out);
    }
    Ok(all_ok && budget_ok)
}
