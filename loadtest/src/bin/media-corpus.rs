//! `media-corpus <dir>`: writes the deterministic benchmark/test corpus (nothing downloaded).
//!
//! Files: 4 photo-like 12 MP JPEGs (4000×3000, q90, baseline 4:2:0), a progressive 12 MP JPEG,
//! a portrait photo with EXIF orientation 6, the 8 EXIF orientation cases, an RGBA PNG, a
//! lossless WebP, PNG/JPEG/WebP bomb headers, a JPEG truncated at 50 %, a text file named .jpg,
//! a GIF and a 0-byte file. `MANIFEST.tsv` lists each file with its expected outcome (`ok` or
//! the error class), which `media-bench` checks.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use jobfleet_handlers::media::synth;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, photos, size) = match parse(&args) {
        Ok(v) => v,
        Err(msg) => {
            eprintln!("{msg}\nusage: media-corpus <dir> [--photos N] [--size WxH]");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let files = synth::corpus(size.0, size.1, photos);
    let mut manifest = String::from("file\texpect\tbytes\tnote\n");
    for f in &files {
        if let Err(e) = std::fs::write(dir.join(&f.name), &f.bytes) {
            eprintln!("cannot write {}: {e}", f.name);
            return ExitCode::FAILURE;
        }
        manifest.push_str(&format!("{}\t{}\t{}\t{}\n", f.name, f.expect, f.bytes.len(), f.note));
        println!("{:<22} {:>10} bytes  expect {:<18} {}", f.name, f.bytes.len(), f.expect, f.note);
    }
    std::fs::File::create(dir.join("MANIFEST.tsv")).and_then(|mut m| m.write_all(manifest.as_bytes())).expect("write MANIFEST.tsv");
    println!("{} files in {}", files.len(), dir.display());
    ExitCode::SUCCESS
}

fn parse(args: &[String]) -> Result<(PathBuf, usize, (usize, usize)), String> {
    let mut dir = None;
    let (mut photos, mut size) = (4usize, (4000usize, 3000usize));
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--photos" => {
                photos = it.next().and_then(|v| v.parse().ok()).ok_or("--photos needs a number")?;
            }
            "--size" => {
                let v = it.next().ok_or("--size needs WxH")?;
                let (w, h) = v.split_once('x').ok_or("--size needs WxH")?;
                size = (w.parse().map_err(|_| "bad width")?, h.parse().map_err(|_| "bad height")?);
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => dir = Some(PathBuf::from(s)),
        }
    }
    Ok((dir.ok_or("missing <dir>")?, photos.max(1), size))
}
