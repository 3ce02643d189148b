//! CPU time and memory of a process and its descendants, from /proc.
//!
//! CPU is `utime + stime` of every live process in the tree plus
//! `cutime + cstime` of the root (children it has already reaped), in clock
//! ticks from `/proc/<pid>/stat`. Memory is `VmRSS` (now) and `VmHWM` (peak)
//! from `/proc/<pid>/status`, summed over the tree (shared pages of forked
//! children are counted once per process, as `ps` does).

use std::collections::HashMap;
use std::fs;

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we run on).
pub fn clock_ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .unwrap_or(100.0)
}

/// Fields of `/proc/<pid>/stat` after the command name: (ppid, utime, stime, cutime, cstime).
pub fn parse_stat(text: &str) -> Option<(u32, u64, u64, u64, u64)> {
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); ppid is field 4, utime 14, stime 15, cutime 16, cstime 17.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some((field(4)? as u32, field(14)?, field(15)?, field(16)?, field(17)?))
}

fn read_stat(pid: u32) -> Option<(u32, u64, u64, u64, u64)> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The pid and all its live descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if let Some((ppid, ..)) = read_stat(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = children.get(&out[i]) {
            out.extend(kids.iter().copied());
        }
        i += 1;
    }
    out
}

/// CPU seconds used so far by the tree under each root.
pub fn cpu_seconds(roots: &[u32], ticks_per_sec: f64) -> f64 {
    let mut ticks = 0u64;
    for &root in roots {
        for pid in tree(root) {
            if let Some((_, utime, stime, cutime, cstime)) = read_stat(pid) {
                ticks += utime + stime;
                if pid == root {
                    ticks += cutime + cstime;
                }
            }
        }
    }
    ticks as f64 / ticks_per_sec
}

/// `VmRSS` and `VmHWM` (KiB) from a `/proc/<pid>/status` text.
pub fn parse_status_memory(text: &str) -> (u64, u64) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// (current RSS, peak RSS) in KiB, summed over the trees.
pub fn memory_kib(roots: &[u32]) -> (u64, u64) {
    let (mut rss, mut hwm) = (0, 0);
    for &root in roots {
        for pid in tree(root) {
            if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) {
                let (r, h) = parse_status_memory(&text);
                rss += r;
                hwm += h;
            }
        }
    }
    (rss, hwm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_spaces_and_parens_in_the_name() {
        let line = "4242 (my (odd) worker) S 17 4242 4242 0 -1 4194560 1000 0 0 0 250 75 3 4 20 0 9 0 123 456 789";
        assert_eq!(parse_stat(line), Some((17, 250, 75, 3, 4)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_memory_fields() {
        let text = "Name:\tworker\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n";
        assert_eq!(parse_status_memory(text), (10240, 20480));
    }

    #[test]
    fn this_process_is_measurable() {
        let me = std::process::id();
        assert!(tree(me).contains(&me));
        let (rss, hwm) = memory_kib(&[me]);
        assert!(rss > 0 && hwm >= rss, "{rss} {hwm}");
        assert!(cpu_seconds(&[me], clock_ticks_per_sec()) >= 0.0);
    }
}
