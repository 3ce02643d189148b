//! A pod: one real `worker run` process with the pod's configuration,
//! probed for readiness over HTTP like the kubelet, terminated like the
//! kubelet (SIGTERM, then SIGKILL after terminationGracePeriodSeconds).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::spec::Probe;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a node (Karpenter provisioning).
    Pending,
    /// The process runs.
    Running,
    /// SIGTERM sent; SIGKILL at `kill_at`.
    Terminating,
    /// Exited (or never started and deleted).
    Gone,
}

#[derive(Debug)]
pub struct Pod {
    pub id: u32,
    pub revision: u32,
    pub created_at: f64,
    pub phase: Phase,
    pub node: Option<usize>,
    pub started_at: Option<f64>,
    pub ready: bool,
    pub ready_since: Option<f64>,
    /// Ever ready, and whether readiness was ever lost after that while not draining.
    pub lost_readiness_while_running: bool,
    pub admin_port: u16,
    pub term_at: Option<f64>,
    pub kill_at: Option<f64>,
    pub killed: bool,
    pub gone_at: Option<f64>,
    child: Option<Child>,
    successes: u32,
    failures: u32,
    next_probe_at: f64,
}

impl Pod {
    pub fn new(id: u32, revision: u32, now: f64) -> Self {
        Self {
            id,
            revision,
            created_at: now,
            phase: Phase::Pending,
            node: None,
            started_at: None,
            ready: false,
            ready_since: None,
            lost_readiness_while_running: false,
            admin_port: 0,
            term_at: None,
            kill_at: None,
            killed: false,
            gone_at: None,
            child: None,
            successes: 0,
            failures: 0,
            next_probe_at: 0.0,
        }
    }

    /// Counts toward the ReplicaSet's replicas (not terminating, not gone).
    pub fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Pending | Phase::Running)
    }

    /// Starts the worker process (the container starts once the node is there).
    pub fn start(
        &mut self,
        now: f64,
        binary: &Path,
        args: &[String],
        env: &BTreeMap<String, String>,
        log: &Path,
        probe: &Probe,
    ) -> Result<()> {
        let port = free_port()?;
        let mut env = env.clone();
        env.insert("JOBFLEET_ADMIN_ADDR".into(), format!("127.0.0.1:{port}"));
        let log_file = std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
        let err_file = log_file.try_clone()?;
        let child = Command::new(binary)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(err_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {}", binary.display()))?;
        self.child = Some(child);
        self.admin_port = port;
        self.phase = Phase::Running;
        self.started_at = Some(now);
        self.next_probe_at = now + probe.initial_delay_secs;
        Ok(())
    }

    fn pid(&self) -> Option<Pid> {
        self.child.as_ref().and_then(Child::id).map(|id| Pid::from_raw(id as i32))
    }

    /// Kubelet termination: SIGTERM now, SIGKILL after the grace period.
    pub fn terminate(&mut self, now: f64, grace_secs: f64) {
        match self.phase {
            Phase::Pending => {
                self.phase = Phase::Gone;
                self.gone_at = Some(now);
            }
            Phase::Running => {
                if let Some(pid) = self.pid() {
                    let _ = kill(pid, Signal::SIGTERM);
                }
                self.phase = Phase::Terminating;
                self.term_at = Some(now);
                self.kill_at = Some(now + grace_secs);
                // The endpoints controller removes a terminating pod at once.
                self.ready = false;
            }
            Phase::Terminating | Phase::Gone => {}
        }
    }

    /// Reaps an exited process and sends SIGKILL when the grace period is over.
    pub fn tick(&mut self, now: f64) {
        if !matches!(self.phase, Phase::Running | Phase::Terminating) {
            return;
        }
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(_)) = child.try_wait()
        {
            self.phase = Phase::Gone;
            self.gone_at = Some(now);
            self.ready = false;
            return;
        }
        if self.phase == Phase::Terminating
            && let Some(at) = self.kill_at
            && now >= at
            && !self.killed
        {
            if let Some(pid) = self.pid() {
                let _ = kill(pid, Signal::SIGKILL);
            }
            self.killed = true;
        }
    }

    /// Whether a readiness probe is due now.
    pub fn probe_due(&self, now: f64) -> bool {
        self.phase == Phase::Running && now >= self.next_probe_at
    }

    /// Folds in one probe result (successThreshold / failureThreshold).
    pub fn probed(&mut self, now: f64, ok: bool, probe: &Probe) {
        self.next_probe_at = now + probe.period_secs;
        if self.phase != Phase::Running {
            return;
        }
        if ok {
            self.successes += 1;
            self.failures = 0;
            if !self.ready && self.successes >= probe.success_threshold.max(1) {
                self.ready = true;
                self.ready_since = Some(now);
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            if self.ready && self.failures >= probe.failure_threshold.max(1) {
                self.ready = false;
                self.ready_since = None;
                self.lost_readiness_while_running = true;
            }
        }
    }

    /// Kills the process at once (end of a run).
    pub async fn kill_now(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
        self.phase = Phase::Gone;
    }
}

/// One readiness probe: GET /readyz within the probe's timeout (wall).
pub async fn probe_ready(http: &reqwest::Client, port: u16, timeout: Duration) -> bool {
    match http.get(format!("http://127.0.0.1:{port}/readyz")).timeout(timeout).send().await {
        Ok(r) => r.status().is_success(),
        Err(_) => false,
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr()?.port())
}
