//! The simulation: a rendered pool's Deployment (ReplicaSet rules, rolling
//! updates), its autoscaler (KEDA + HPA, [`crate::control_loops`]), node
//! provisioning ([`crate::nodes`]) and real worker processes
//! ([`crate::pod`]), on a virtual clock: `scale` simulated seconds pass per
//! wall second. Everything the worker does (polls, job durations, drain,
//! heartbeats) runs on the wall clock with its seconds divided by `scale`.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use jobfleet_control::proto::external_scaler_client::ExternalScalerClient;
use jobfleet_control::proto::{GetMetricsRequest, ScaledObjectRef};
use tonic::transport::Channel;

use crate::control_loops::{HPA_SYNC_SECS, Hpa, Keda};
use crate::nodes::{NodePoolModel, Nodes};
use crate::pod::{Phase, Pod, probe_ready};
use crate::spec::{Autoscaler, PoolSpec, Trigger};

/// The virtual clock.
#[derive(Debug, Clone)]
pub struct Clock {
    pub scale: f64,
    t0: Instant,
}

impl Clock {
    pub fn new(scale: f64) -> Self {
        Self { scale, t0: Instant::now() }
    }

    /// Simulated seconds since the start.
    pub fn now(&self) -> f64 {
        self.t0.elapsed().as_secs_f64() * self.scale
    }

    pub fn wall(&self, sim_secs: f64) -> Duration {
        Duration::from_secs_f64((sim_secs / self.scale).max(0.0))
    }

    pub async fn sleep(&self, sim_secs: f64) {
        tokio::time::sleep(self.wall(sim_secs)).await;
    }
}

/// Shared by every pool of a run.
#[derive(Debug, Clone)]
pub struct World {
    pub clock: Clock,
    pub sqs: Client,
    pub http: reqwest::Client,
    pub binary: PathBuf,
    pub log_dir: PathBuf,
}

/// Queue counts of the main queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

pub async fn depth(sqs: &Client, url: &str) -> Result<Depth> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .context("GetQueueAttributes")?;
    let attrs = out.attributes.unwrap_or_default();
    let get = |n: QueueAttributeName| attrs.get(&n).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(Depth {
        visible: get(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        delayed: get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    })
}

/// One point of the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t: f64,
    /// Pods with a process (running or terminating).
    pub pods: u32,
    pub ready: u32,
    pub replicas: u32,
    pub visible: u64,
    pub in_flight: u64,
}

/// What happened to pods over a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodStats {
    pub pod_seconds: f64,
    pub peak_pods: u32,
    pub started: u32,
    pub sigkilled: u32,
    pub lost_readiness: u32,
    pub nodes_launched: u32,
}

/// The drain-time scaler as KEDA reaches it.
#[derive(Debug, Clone)]
pub struct External {
    pub client: ExternalScalerClient<Channel>,
    /// The trigger metadata with its seconds converted to wall seconds.
    pub metadata: BTreeMap<String, String>,
}

/// One pool's Deployment under its autoscaler.
#[derive(Debug)]
pub struct Deployment {
    pub spec: PoolSpec,
    pub queue_url: String,
    pub pod_env: BTreeMap<String, String>,
    pub pods: Vec<Pod>,
    pub replicas: u32,
    pub revision: u32,
    pub timeline: Vec<Sample>,
    nodes: Nodes,
    keda: Option<Keda>,
    hpa: Option<Hpa>,
    external: Option<External>,
    next_poll: f64,
    next_hpa: f64,
    next_sample: f64,
    prom_cache: Option<(f64, f64)>,
    next_pod_id: u32,
}

impl Deployment {
    pub fn new(
        spec: PoolSpec,
        queue_url: String,
        pod_env: BTreeMap<String, String>,
        node_model: NodePoolModel,
        external: Option<External>,
    ) -> Result<Self> {
        let (keda, hpa, replicas) = match &spec.autoscaler {
            Autoscaler::Keda(so) => (Some(Keda::new(so)), Some(Hpa::new(so)), so.min_replicas),
            Autoscaler::None => (None, None, spec.deployment.replicas.unwrap_or(1)),
        };
        if let Autoscaler::Keda(so) = &spec.autoscaler
            && matches!(so.trigger, Trigger::External { .. })
            && external.is_none()
        {
            bail!("pool {}: an external trigger needs the fleet service", spec.pool);
        }
        let slots = node_model.slots(spec.deployment.cpu_request, spec.deployment.gpus);
        Ok(Self {
            nodes: Nodes::new(node_model, slots, replicas),
            spec,
            queue_url,
            pod_env,
            pods: Vec::new(),
            replicas,
            revision: 1,
            timeline: Vec::new(),
            keda,
            hpa,
            external,
            next_poll: 0.0,
            next_hpa: HPA_SYNC_SECS,
            next_sample: 0.0,
            prom_cache: None,
            next_pod_id: 0,
        })
    }

    pub fn pool(&self) -> &str {
        &self.spec.pool
    }

    /// Starts a rolling update: a new pod template revision.
    pub fn roll(&mut self) {
        self.revision += 1;
    }

    fn active(&self) -> impl Iterator<Item = &Pod> {
        self.pods.iter().filter(|p| p.is_active())
    }

    /// The autoscaler's metric (total, target per pod) and activity.
    async fn metric(&mut self, world: &World, now: f64) -> Result<(f64, f64, bool)> {
        let Autoscaler::Keda(so) = &self.spec.autoscaler else { return Ok((0.0, 1.0, false)) };
        match &so.trigger {
            Trigger::Sqs { queue_length, activation, on_in_flight, on_delayed } => {
                let d = depth(&world.sqs, &self.queue_url).await?;
                let mut value = d.visible as f64;
                if *on_in_flight {
                    value += d.in_flight as f64;
                }
                if *on_delayed {
                    value += d.delayed as f64;
                }
                // KEDA: active when the value is strictly greater than the activation target.
                Ok((value, *queue_length, value > *activation))
            }
            Trigger::Prometheus { threshold, activation, query, scrape_interval_secs } => {
                let fresh = self.prom_cache.is_some_and(|(at, _)| now - at < *scrape_interval_secs);
                if !fresh {
                    let value = self.scrape_backlog(world, query).await?;
                    self.prom_cache = Some((now, value));
                }
                let value = self.prom_cache.map(|(_, v)| v).unwrap_or(0.0);
                Ok((value, *threshold, value > *activation))
            }
            Trigger::External { .. } => {
                let ext = self.external.as_mut().ok_or_else(|| anyhow!("no fleet service"))?;
                let object = ScaledObjectRef {
                    name: format!("jobfleet-{}", self.spec.pool),
                    namespace: "jobs".into(),
                    scaler_metadata: ext.metadata.clone().into_iter().collect(),
                };
                let active = ext.client.is_active(object.clone()).await.context("IsActive")?.into_inner().result;
                let metrics = ext
                    .client
                    .get_metrics(GetMetricsRequest { scaled_object_ref: Some(object), metric_name: String::new() })
                    .await
                    .context("GetMetrics")?
                    .into_inner();
                let value = metrics.metric_values.first().map(|m| m.metric_value_float).unwrap_or(0.0);
                Ok((value, 1.0, active))
            }
        }
    }

    /// The chart's keda-prometheus query evaluated over the pods'
    /// /metrics, as Prometheus would after a scrape:
    /// `avg(backlog_seconds) + T × sum(jobs_in_flight) / max(pool_concurrency)`.
    async fn scrape_backlog(&self, world: &World, query: &str) -> Result<f64> {
        if !(query.contains("avg(jobfleet_queue_backlog_seconds")
            && query.contains("sum(jobfleet_jobs_in_flight")
            && query.contains("max(jobfleet_pool_concurrency"))
        {
            bail!(
                "pool {}: the keda-prometheus query is not the chart's default; the harness evaluates only that one: {query}",
                self.spec.pool
            );
        }
        let drain: f64 = query
            .split(" * sum(jobfleet_jobs_in_flight")
            .next()
            .and_then(|head| head.rsplit('(').next())
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| anyhow!("cannot read the drain seconds from the query: {query}"))?;
        let mut backlog = Vec::new();
        let mut in_flight = 0.0;
        let mut concurrency: f64 = 0.0;
        for pod in self.pods.iter().filter(|p| matches!(p.phase, Phase::Running | Phase::Terminating)) {
            let Ok(resp) =
                world.http.get(format!("http://127.0.0.1:{}/metrics", pod.admin_port)).timeout(Duration::from_secs(2)).send().await
            else {
                continue;
            };
            let Ok(text) = resp.text().await else { continue };
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let Some((name, value)) = line.rsplit_once(' ') else { continue };
                let Ok(value) = value.parse::<f64>() else { continue };
                if name.starts_with("jobfleet_queue_backlog_seconds") && value.is_finite() {
                    backlog.push(value);
                } else if name.starts_with("jobfleet_jobs_in_flight") {
                    in_flight += value;
                } else if name.starts_with("jobfleet_pool_concurrency") && value > 0.0 {
                    concurrency = concurrency.max(value);
                }
            }
        }
        let avg = if backlog.is_empty() { 0.0 } else { backlog.iter().sum::<f64>() / backlog.len() as f64 };
        let busy = if concurrency > 0.0 { drain * in_flight / concurrency } else { 0.0 };
        Ok(avg + busy)
    }

    /// One tick of every controller; `now` is simulated seconds.
    pub async fn tick(&mut self, world: &World) -> Result<()> {
        let now = world.clock.now();
        // KEDA polling.
        if let (Autoscaler::Keda(so), true) = (&self.spec.autoscaler, now >= self.next_poll) {
            self.next_poll = now + so.polling_secs;
            let (_, _, active) = self.metric(world, now).await?;
            if let Some(keda) = self.keda.as_mut()
                && let Some(r) = keda.poll(now, active, self.replicas)
            {
                self.replicas = r;
            }
        }
        // HPA sync.
        if self.hpa.is_some() && now >= self.next_hpa {
            self.next_hpa = now + HPA_SYNC_SECS;
            if self.replicas > 0 {
                let (value, target, _) = self.metric(world, now).await?;
                let status = self.active().count() as u32;
                if let Some(hpa) = self.hpa.as_mut() {
                    self.replicas = hpa.sync(now, self.replicas, status, value, target);
                }
            }
        }
        self.reconcile_pods(world, now)?;
        self.probe(world, now).await;
        if now >= self.next_sample {
            self.next_sample = now + 5.0;
            let d = depth(&world.sqs, &self.queue_url).await.unwrap_or_default();
            self.timeline.push(Sample {
                t: now,
                pods: self.pods.iter().filter(|p| matches!(p.phase, Phase::Running | Phase::Terminating)).count() as u32,
                ready: self.pods.iter().filter(|p| p.ready).count() as u32,
                replicas: self.replicas,
                visible: d.visible,
                in_flight: d.in_flight,
            });
        }
        Ok(())
    }

    /// ReplicaSet and Deployment rules, node binding, process life.
    fn reconcile_pods(&mut self, world: &World, now: f64) -> Result<()> {
        let grace = self.spec.deployment.termination_grace_secs;
        for pod in &mut self.pods {
            let before = pod.phase;
            pod.tick(now);
            if before != Phase::Gone
                && pod.phase == Phase::Gone
                && let Some(node) = pod.node.take()
            {
                self.nodes.release(node, now);
            }
        }
        let current = self.revision;
        let old_active = self.pods.iter().filter(|p| p.is_active() && p.revision != current).count() as u32;
        let new_active = self.pods.iter().filter(|p| p.is_active() && p.revision == current).count() as u32;
        if old_active == 0 {
            // Steady state: the ReplicaSet's replica count.
            if new_active < self.replicas {
                for _ in new_active..self.replicas {
                    self.create_pod(now);
                }
            } else if new_active > self.replicas {
                let victims = victims(&self.pods, current, (new_active - self.replicas) as usize);
                for i in victims {
                    self.pods[i].terminate(now, grace);
                }
            }
        } else {
            // Rolling update: surge new pods up to replicas + maxSurge, remove old
            // ones while ready pods stay at or above replicas - maxUnavailable.
            let surge = self.spec.deployment.max_surge.scaled(self.replicas, true);
            let unavailable = self.spec.deployment.max_unavailable.scaled(self.replicas, false);
            let total = old_active + new_active;
            let room = (self.replicas + surge).saturating_sub(total).min(self.replicas.saturating_sub(new_active));
            for _ in 0..room {
                self.create_pod(now);
            }
            let ready = self.pods.iter().filter(|p| p.is_active() && p.ready).count() as u32;
            let floor = self.replicas.saturating_sub(unavailable);
            let new_total = new_active + room;
            let excess_total = (old_active + new_total).saturating_sub(self.replicas);
            let can_remove = ready.saturating_sub(floor).min(excess_total).min(old_active) as usize;
            let old_rev = self.pods.iter().find(|p| p.is_active() && p.revision != current).map(|p| p.revision).unwrap_or(0);
            for i in victims(&self.pods, old_rev, can_remove) {
                self.pods[i].terminate(now, grace);
            }
        }
        // Scheduling onto nodes, then the container starts.
        let unbound = self.pods.iter().filter(|p| p.phase == Phase::Pending).count() as u32;
        self.nodes.reconcile(now, unbound);
        let args: Vec<String> = self.spec.deployment.args.clone();
        let probe = self.spec.deployment.readiness;
        for pod in self.pods.iter_mut().filter(|p| p.phase == Phase::Pending) {
            let Some(node) = self.nodes.bind(now) else { break };
            pod.node = Some(node);
            let log = world.log_dir.join(format!("{}-pod{}.log", self.spec.pool, pod.id));
            pod.start(now, &world.binary, &args, &self.pod_env, &log, &probe)?;
        }
        Ok(())
    }

    fn create_pod(&mut self, now: f64) {
        self.next_pod_id += 1;
        self.pods.push(Pod::new(self.next_pod_id, self.revision, now));
    }

    async fn probe(&mut self, world: &World, now: f64) {
        let probe = self.spec.deployment.readiness;
        let timeout = world.clock.wall(probe.timeout_secs).max(Duration::from_millis(50));
        let due: Vec<usize> = self.pods.iter().enumerate().filter(|(_, p)| p.probe_due(now)).map(|(i, _)| i).collect();
        let results = futures_util::future::join_all(due.iter().map(|&i| probe_ready(&world.http, self.pods[i].admin_port, timeout))).await;
        for (i, ok) in due.into_iter().zip(results) {
            self.pods[i].probed(now, ok, &probe);
        }
    }

    /// Pod-seconds, peaks and kills so far.
    pub fn pod_stats(&self, now: f64) -> PodStats {
        PodStats {
            pod_seconds: self.pods.iter().filter_map(|p| Some(p.gone_at.unwrap_or(now) - p.started_at?)).sum(),
            peak_pods: self.timeline.iter().map(|s| s.pods).max().unwrap_or(0),
            started: self.pods.iter().filter(|p| p.started_at.is_some()).count() as u32,
            sigkilled: self.pods.iter().filter(|p| p.killed).count() as u32,
            lost_readiness: self.pods.iter().filter(|p| p.lost_readiness_while_running).count() as u32,
            nodes_launched: self.nodes.launched,
        }
    }

    pub fn node_count(&self) -> usize {
        self.nodes.count()
    }

    /// Ends every process at once (end of the run).
    pub async fn shutdown(&mut self) {
        for pod in &mut self.pods {
            pod.kill_now().await;
        }
    }
}

/// The ReplicaSet's deletion order among active pods of `revision`
/// (controller.ActivePodsWithRanks): unscheduled before scheduled, not
/// ready before ready, ready for less time before longer, newer before
/// older. Load plays no part.
fn victims(pods: &[Pod], revision: u32, n: usize) -> Vec<usize> {
    let mut candidates: Vec<usize> =
        pods.iter().enumerate().filter(|(_, p)| p.is_active() && p.revision == revision).map(|(i, _)| i).collect();
    candidates.sort_by(|&a, &b| {
        let key = |p: &Pod| {
            (
                p.node.is_some(),
                p.ready,
                Reverse(p.ready_since.map(|t| (t * 1000.0) as i64).unwrap_or(i64::MAX)),
                Reverse((p.created_at * 1000.0) as i64),
                Reverse(p.id),
            )
        };
        key(&pods[a]).cmp(&key(&pods[b]))
    });
    candidates.truncate(n);
    candidates
}

/// Runs every deployment's controllers until `done` says so or `until`
/// (simulated seconds) passes; `on_tick` drives the workload.
pub async fn run_until<F>(world: &World, deployments: &mut [Deployment], until: f64, mut step: F) -> Result<()>
where
    F: AsyncFnMut(f64, &mut [Deployment]) -> Result<bool>,
{
    let tick = 0.5;
    loop {
        let now = world.clock.now();
        for d in deployments.iter_mut() {
            d.tick(world).await.with_context(|| format!("pool {}", d.pool()))?;
        }
        if step(now, deployments).await? || now >= until {
            return Ok(());
        }
        world.clock.sleep(tick).await;
    }
}

pub type SharedWorld = Arc<World>;
