//! A deterministic model of a pool under autoscaling, for comparing scaling
//! policies on the same traffic.
//!
//! Fluid model, one-second steps. Arrivals join one FIFO queue; each ready
//! pod completes up to `per_pod_rate` jobs per second. Every
//! `eval_interval_secs` the policy turns queue metrics into a desired pod
//! count, as KEDA + the HPA would:
//!
//! - **queue depth** (KEDA's SQS scaler): `ceil((visible + in_flight) / target_per_pod)`
//! - **backlog seconds** (`jobfleet_queue_backlog_seconds`):
//!   `ceil(avg over pods(visible / pod_rate) / target_drain_secs)`, where a
//!   pod's rate is its recent completion rate (EWMA over evaluations,
//!   floored at `min_rate_per_sec`), exactly what the worker exports.
//!
//! Scale-up adds pods that start consuming `pod_start_secs` later (they are
//! billed while starting); scale-down takes the highest desired count of the
//! last `scale_down_window_secs` (the HPA's stabilization window) and removes
//! starting pods first. Nothing is random: the same inputs give the same
//! outputs.

use serde::{Deserialize, Serialize};

/// Arrivals per second, one entry per simulated second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub name: String,
    pub rates: Vec<f64>,
    /// Second at which the load peak ends (the burst trace), for drain time.
    pub peak_end: Option<usize>,
    /// Second at which the load peak starts.
    pub peak_start: Option<usize>,
}

impl Trace {
    pub fn steady(rate: f64, secs: usize) -> Self {
        Self { name: "steady".into(), rates: vec![rate; secs], peak_end: None, peak_start: None }
    }

    /// `base` throughout, `base × factor` from `start` for `len` seconds.
    pub fn burst(base: f64, factor: f64, start: usize, len: usize, secs: usize) -> Self {
        let rates = (0..secs).map(|t| if (start..start + len).contains(&t) { base * factor } else { base }).collect();
        Self { name: format!("{factor}x burst"), rates, peak_end: Some(start + len), peak_start: Some(start) }
    }

    /// A sinusoid between `min` and `max` with the given period (a day, compressed or not).
    pub fn diurnal(min: f64, max: f64, period_secs: usize, secs: usize) -> Self {
        let mid = (min + max) / 2.0;
        let amp = (max - min) / 2.0;
        let rates = (0..secs).map(|t| mid - amp * (2.0 * std::f64::consts::PI * t as f64 / period_secs as f64).cos()).collect();
        Self { name: "diurnal".into(), rates, peak_end: None, peak_start: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Policy {
    QueueDepth { target_per_pod: f64 },
    BacklogSeconds { target_drain_secs: f64 },
}

impl Policy {
    pub fn name(&self) -> String {
        match self {
            Policy::QueueDepth { target_per_pod } => format!("queue depth (target {target_per_pod:.0} msgs/pod)"),
            Policy::BacklogSeconds { target_drain_secs } => format!("backlog seconds (target {target_drain_secs:.0} s)"),
        }
    }
}

/// KEDA-style desired pods from queue depth.
pub fn desired_queue_depth(visible: f64, in_flight: f64, target_per_pod: f64) -> u32 {
    ((visible + in_flight) / target_per_pod).ceil().max(0.0) as u32
}

/// Desired pods from the pods' backlog-seconds gauges.
pub fn desired_backlog_seconds(per_pod_backlog_secs: &[f64], target_drain_secs: f64) -> u32 {
    if per_pod_backlog_secs.is_empty() {
        return 0;
    }
    let avg = per_pod_backlog_secs.iter().sum::<f64>() / per_pod_backlog_secs.len() as f64;
    (avg / target_drain_secs).ceil().max(0.0) as u32
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Jobs per second one pod completes when it has work (measured).
    pub per_pod_rate: f64,
    /// From the scaling decision to the pod consuming (measured start, plus
    /// whatever scheduling the scenario assumes).
    pub pod_start_secs: f64,
    /// Messages one pod holds received at once (its concurrency).
    pub concurrency: f64,
    pub min_pods: u32,
    pub max_pods: u32,
    pub eval_interval_secs: usize,
    pub scale_down_window_secs: usize,
    pub min_rate_per_sec: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub trace: String,
    pub policy: String,
    pub pod_minutes: f64,
    pub peak_pods: u32,
    pub max_backlog: f64,
    /// Longest time a job waited in the queue (FIFO).
    pub max_wait_secs: f64,
    /// Seconds from the end of the peak until the backlog is back to what it
    /// was before the peak (burst trace only).
    pub burst_drain_secs: Option<f64>,
    /// Seconds from the end of the trace (arrivals stop) until the queue is empty.
    pub end_drain_secs: Option<f64>,
    pub arrived: f64,
    pub completed: f64,
    pub final_backlog: f64,
    /// Pods (ready + starting) at each second of the trace.
    pub pods: Vec<u32>,
    /// Backlog at each second of the trace.
    pub backlog: Vec<f64>,
}

/// How long the queue may keep draining after the trace before we give up.
const MAX_END_DRAIN_SECS: usize = 4 * 3600;

pub fn simulate(trace: &Trace, policy: Policy, p: &Params) -> Outcome {
    let mut ready: u32 = p.min_pods;
    let mut starting: Vec<f64> = Vec::new(); // ready_at (seconds)
    let mut backlog = 0.0f64;
    let mut pod_seconds = 0.0f64;
    let mut peak_pods = ready;
    let mut max_backlog = 0.0f64;
    let mut history: Vec<(usize, u32)> = Vec::new(); // (second, desired)
    let mut pod_rate_ewma = 0.0f64;
    let mut completed_since_eval = 0.0f64;
    let mut ready_seconds_since_eval = 0.0f64;
    let (mut arrived, mut completed) = (0.0f64, 0.0f64);
    // FIFO wait: cumulative arrivals per second, and a pointer into them.
    let mut cumulative_arrivals: Vec<f64> = Vec::new();
    let mut oldest = 0usize;
    let mut max_wait = 0.0f64;
    let mut pods_series = Vec::with_capacity(trace.rates.len());
    let mut backlog_series = Vec::with_capacity(trace.rates.len());
    let mut burst_drain = None;
    let mut end_drain = None;
    let baseline_backlog = trace.peak_start.map(|_| f64::NAN);
    let mut baseline = baseline_backlog;

    let horizon = trace.rates.len() + MAX_END_DRAIN_SECS;
    for t in 0..horizon {
        let in_trace = t < trace.rates.len();
        if !in_trace && backlog < 1.0 {
            end_drain = Some((t - trace.rates.len()) as f64);
            break;
        }
        // Pods whose start finished become ready.
        let before = starting.len();
        starting.retain(|&at| at > t as f64);
        ready += (before - starting.len()) as u32;

        let rate = if in_trace { trace.rates[t] } else { 0.0 };
        backlog += rate;
        arrived += rate;
        cumulative_arrivals.push(arrived);
        let done = backlog.min(f64::from(ready) * p.per_pod_rate);
        backlog -= done;
        completed += done;
        completed_since_eval += done;
        ready_seconds_since_eval += f64::from(ready);

        // Oldest job still queued arrived in the first second whose
        // cumulative arrivals exceed what has completed.
        while oldest < cumulative_arrivals.len() && cumulative_arrivals[oldest] <= completed + 1e-9 {
            oldest += 1;
        }
        if oldest < cumulative_arrivals.len() {
            max_wait = max_wait.max((t - oldest) as f64);
        }

        if Some(t) == trace.peak_start {
            baseline = Some(backlog);
        }
        if let (Some(end), Some(base)) = (trace.peak_end, baseline)
            && t >= end
            && burst_drain.is_none()
            && backlog <= base * 1.1 + trace.rates.get(end).copied().unwrap_or(0.0)
        {
            burst_drain = Some((t - end) as f64);
        }

        if t % p.eval_interval_secs.max(1) == 0 {
            let interval = ready_seconds_since_eval.max(1e-9);
            let pod_rate_now = completed_since_eval / interval;
            pod_rate_ewma = if pod_rate_ewma == 0.0 { pod_rate_now } else { 0.5 * pod_rate_ewma + 0.5 * pod_rate_now };
            completed_since_eval = 0.0;
            ready_seconds_since_eval = 0.0;

            let in_flight = backlog.min(f64::from(ready) * p.concurrency);
            let visible = backlog - in_flight;
            let desired = match policy {
                Policy::QueueDepth { target_per_pod } => desired_queue_depth(visible, in_flight, target_per_pod),
                Policy::BacklogSeconds { target_drain_secs } => {
                    let per_pod = visible / pod_rate_ewma.max(p.min_rate_per_sec);
                    desired_backlog_seconds(&vec![per_pod; ready.max(1) as usize], target_drain_secs)
                }
            }
            .clamp(p.min_pods, p.max_pods);
            history.push((t, desired));
            history.retain(|&(at, _)| at + p.scale_down_window_secs >= t);
            let current = ready + starting.len() as u32;
            let target = if desired >= current { desired } else { history.iter().map(|&(_, d)| d).max().unwrap_or(desired).min(current) };
            if target > current {
                for _ in current..target {
                    starting.push(t as f64 + p.pod_start_secs);
                }
            } else if target < current {
                let mut remove = current - target;
                while remove > 0 && starting.pop().is_some() {
                    remove -= 1;
                }
                ready -= remove.min(ready);
            }
        }

        let pods = ready + starting.len() as u32;
        peak_pods = peak_pods.max(pods);
        max_backlog = max_backlog.max(backlog);
        if in_trace {
            pod_seconds += f64::from(pods);
            pods_series.push(pods);
            backlog_series.push(backlog);
        }
    }

    Outcome {
        trace: trace.name.clone(),
        policy: policy.name(),
        pod_minutes: pod_seconds / 60.0,
        peak_pods,
        max_backlog,
        max_wait_secs: max_wait,
        burst_drain_secs: burst_drain,
        end_drain_secs: end_drain,
        arrived,
        completed,
        final_backlog: backlog,
        pods: pods_series,
        backlog: backlog_series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            per_pod_rate: 100.0,
            pod_start_secs: 10.0,
            concurrency: 16.0,
            min_pods: 1,
            max_pods: 50,
            eval_interval_secs: 15,
            scale_down_window_secs: 300,
            min_rate_per_sec: 1.0,
        }
    }

    const DEPTH: Policy = Policy::QueueDepth { target_per_pod: 100.0 };
    const BACKLOG: Policy = Policy::BacklogSeconds { target_drain_secs: 10.0 };

    #[test]
    fn policy_formulas() {
        assert_eq!(desired_queue_depth(250.0, 50.0, 100.0), 3);
        assert_eq!(desired_queue_depth(0.0, 0.0, 100.0), 0);
        assert_eq!(desired_queue_depth(100.0, 0.0, 100.0), 1);
        assert_eq!(desired_backlog_seconds(&[100.0, 100.0], 20.0), 5);
        assert_eq!(desired_backlog_seconds(&[30.0, 10.0], 10.0), 2);
        assert_eq!(desired_backlog_seconds(&[], 10.0), 0);
    }

    #[test]
    fn light_steady_load_stays_at_min_pods() {
        for policy in [DEPTH, BACKLOG] {
            let out = simulate(&Trace::steady(50.0, 600), policy, &params());
            assert_eq!(out.peak_pods, 1, "{policy:?}");
            assert!((out.pod_minutes - 10.0).abs() < 1e-9, "{}", out.pod_minutes);
            assert!(out.max_wait_secs <= 1.0);
        }
    }

    #[test]
    fn jobs_are_conserved() {
        let trace = Trace::burst(150.0, 10.0, 300, 120, 1200);
        for policy in [DEPTH, BACKLOG] {
            let out = simulate(&trace, policy, &params());
            assert!((out.arrived - trace.rates.iter().sum::<f64>()).abs() < 1e-6);
            assert!((out.completed + out.final_backlog - out.arrived).abs() < 1e-6, "{out:?}");
            assert!(out.end_drain_secs.is_some(), "queue never emptied under {policy:?}");
        }
    }

    #[test]
    fn a_burst_scales_out_then_drains_and_slower_starts_drain_later() {
        // The burst starts well after the start-up transient (one pod, a
        // backlog while more start) and its scale-down window have passed,
        // so both runs meet it from the same steady state.
        let trace = Trace::burst(150.0, 10.0, 900, 120, 2400);
        for policy in [DEPTH, BACKLOG] {
            let fast = simulate(&trace, policy, &Params { pod_start_secs: 5.0, ..params() });
            let slow = simulate(&trace, policy, &Params { pod_start_secs: 90.0, ..params() });
            let before_burst = fast.pods[899];
            assert!(fast.peak_pods >= 10, "{policy:?}: peak {} (needs 15 pods for 1500/s)", fast.peak_pods);
            assert!(fast.peak_pods > before_burst);
            eprintln!(
                "{policy:?} fast peak {} maxb {} wait {} drain {:?} | slow peak {} maxb {} wait {} drain {:?}",
                fast.peak_pods,
                fast.max_backlog,
                fast.max_wait_secs,
                fast.burst_drain_secs,
                slow.peak_pods,
                slow.max_backlog,
                slow.max_wait_secs,
                slow.burst_drain_secs
            );
            let (f, s) = (fast.burst_drain_secs.expect("fast drains"), slow.burst_drain_secs.expect("slow drains"));
            assert!(s >= f, "{policy:?}: slow start drained in {s}s, fast in {f}s");
            assert!(slow.max_backlog > fast.max_backlog);
            assert!(slow.max_wait_secs > fast.max_wait_secs);
        }
    }

    #[test]
    fn scale_down_waits_for_the_stabilization_window() {
        let trace = Trace::burst(50.0, 20.0, 60, 60, 1200);
        let out = simulate(&trace, DEPTH, &params());
        let drained_at = 120 + out.burst_drain_secs.expect("drains") as usize;
        // Still scaled out for most of the window after the backlog is gone…
        assert!(out.pods[drained_at + 200] > 1, "{:?}", &out.pods[drained_at..drained_at + 210]);
        // …and back at the minimum well after it.
        assert_eq!(out.pods[1199], 1);
    }

    #[test]
    fn max_pods_is_respected_and_results_are_deterministic() {
        let trace = Trace::diurnal(50.0, 2000.0, 3600, 7200);
        let p = Params { max_pods: 8, ..params() };
        let a = simulate(&trace, BACKLOG, &p);
        let b = simulate(&trace, BACKLOG, &p);
        assert_eq!(a, b);
        assert!(a.peak_pods <= 8);
        assert!(a.pods.iter().all(|&n| n <= 8));
    }

    #[test]
    fn diurnal_trace_spans_min_to_max() {
        let t = Trace::diurnal(10.0, 110.0, 100, 100);
        assert!((t.rates[0] - 10.0).abs() < 1e-9);
        assert!((t.rates[50] - 110.0).abs() < 1e-9);
    }
}
