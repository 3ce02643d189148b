//! What the harness reads from a rendered pool (`helm template` of
//! charts/worker): the Deployment, its ConfigMap, the ScaledObject (or HPA)
//! and the PDB. Nothing here is restated by hand: a value file change
//! reaches the simulation through the chart.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

/// A rendered pool release.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    pub pool: String,
    pub deployment: DeploymentSpec,
    pub autoscaler: Autoscaler,
    pub pdb_max_unavailable: Option<u32>,
    /// Files the pod mounts from ConfigMaps: (mount path/file name, content).
    pub config_files: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct DeploymentSpec {
    /// `spec.replicas` (absent when an autoscaler owns it).
    pub replicas: Option<u32>,
    pub args: Vec<String>,
    /// Plain environment of the worker container: ConfigMap `envFrom` then
    /// `env` values. Secret references are listed in `secret_env`.
    pub env: BTreeMap<String, String>,
    pub secret_env: Vec<String>,
    pub termination_grace_secs: f64,
    pub readiness: Probe,
    pub max_surge: IntOrPercent,
    pub max_unavailable: IntOrPercent,
    /// Resource requests (cpu in cores, GPUs) for node packing.
    pub cpu_request: f64,
    pub gpus: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub period_secs: f64,
    pub timeout_secs: f64,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub initial_delay_secs: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IntOrPercent {
    Int(u32),
    Percent(f64),
}

impl IntOrPercent {
    /// Kubernetes rounds surge up and unavailability down
    /// (intstr.GetScaledValueFromIntOrPercent).
    pub fn scaled(self, replicas: u32, round_up: bool) -> u32 {
        match self {
            IntOrPercent::Int(n) => n,
            IntOrPercent::Percent(p) => {
                let v = f64::from(replicas) * p / 100.0;
                (if round_up { v.ceil() } else { v.floor() }) as u32
            }
        }
    }
}

#[derive(Debug, Clone)]
pub enum Autoscaler {
    Keda(ScaledObjectSpec),
    None,
}

#[derive(Debug, Clone)]
pub struct ScaledObjectSpec {
    pub polling_secs: f64,
    pub cooldown_secs: f64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub behavior: Behavior,
    pub trigger: Trigger,
}

#[derive(Debug, Clone)]
pub enum Trigger {
    /// KEDA `aws-sqs-queue`.
    Sqs { queue_length: f64, activation: f64, on_in_flight: bool, on_delayed: bool },
    /// KEDA `prometheus` on the chart's backlog query (AverageValue).
    Prometheus { threshold: f64, activation: f64, query: String, scrape_interval_secs: f64 },
    /// KEDA `external` (the fleet service): metadata passed as is.
    External { metadata: BTreeMap<String, String> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Behavior {
    pub up: Rules,
    pub down: Rules,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub window_secs: f64,
    pub select: Select,
    pub policies: Vec<Policy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    Max,
    Min,
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub percent: bool,
    pub value: f64,
    pub period_secs: f64,
}

impl Behavior {
    /// The HPA's defaults when `behavior` is absent (k8s.io/api autoscaling/v2
    /// defaults: scale up by max(100 %, 4 pods) per 15 s, no up window;
    /// scale down 100 % per 15 s after a 300 s window).
    pub fn kubernetes_default() -> Self {
        Behavior {
            up: Rules {
                window_secs: 0.0,
                select: Select::Max,
                policies: vec![
                    Policy { percent: true, value: 100.0, period_secs: 15.0 },
                    Policy { percent: false, value: 4.0, period_secs: 15.0 },
                ],
            },
            down: Rules {
                window_secs: 300.0,
                select: Select::Max,
                policies: vec![Policy { percent: true, value: 100.0, period_secs: 15.0 }],
            },
        }
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn int_or_percent(v: &Value, default: IntOrPercent) -> IntOrPercent {
    match v {
        Value::Number(n) => IntOrPercent::Int(n.as_u64().unwrap_or(0) as u32),
        Value::String(s) if s.ends_with('%') => IntOrPercent::Percent(s.trim_end_matches('%').parse().unwrap_or(0.0)),
        Value::String(s) => s.parse().map(IntOrPercent::Int).unwrap_or(default),
        _ => default,
    }
}

/// Kubernetes CPU quantity in cores ("250m", "2").
fn cpu(v: &Value) -> f64 {
    match text(v) {
        Some(s) if s.ends_with('m') => s.trim_end_matches('m').parse::<f64>().unwrap_or(0.0) / 1000.0,
        Some(s) => s.parse().unwrap_or(0.0),
        None => 0.0,
    }
}

fn rules(v: Option<&Value>, default: &Rules) -> Rules {
    let Some(v) = v else { return default.clone() };
    let select = match v.get("selectPolicy").and_then(Value::as_str) {
        Some("Min") => Select::Min,
        Some("Disabled") => Select::Disabled,
        Some(_) => Select::Max,
        None => default.select,
    };
    let policies = match v.get("policies").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .map(|p| Policy {
                percent: p.get("type").and_then(Value::as_str) == Some("Percent"),
                value: p.get("value").and_then(num).unwrap_or(0.0),
                period_secs: p.get("periodSeconds").and_then(num).unwrap_or(15.0),
            })
            .collect(),
        None => default.policies.clone(),
    };
    Rules { window_secs: v.get("stabilizationWindowSeconds").and_then(num).unwrap_or(default.window_secs), select, policies }
}

fn probe(v: Option<&Value>) -> Probe {
    let get = |k: &str, d: f64| v.and_then(|p| p.get(k)).and_then(num).unwrap_or(d);
    Probe {
        period_secs: get("periodSeconds", 10.0),
        timeout_secs: get("timeoutSeconds", 1.0),
        failure_threshold: get("failureThreshold", 3.0) as u32,
        success_threshold: get("successThreshold", 1.0) as u32,
        initial_delay_secs: get("initialDelaySeconds", 0.0),
    }
}

fn of_kind<'a>(objects: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    objects.iter().filter(move |o| o.get("kind").and_then(Value::as_str) == Some(kind))
}

impl PoolSpec {
    /// Reads a rendered release (the JSON list `fleet/render.py` prints).
    pub fn from_rendered(objects: &[Value]) -> Result<Self> {
        let of_kind = |kind: &'static str| of_kind(objects, kind);
        let deployment = of_kind("Deployment").next().ok_or_else(|| anyhow!("no Deployment rendered"))?;
        let config_maps: BTreeMap<String, &Value> =
            of_kind("ConfigMap").filter_map(|c| Some((c.pointer("/metadata/name")?.as_str()?.to_owned(), c))).collect();
        let pod = deployment.pointer("/spec/template/spec").ok_or_else(|| anyhow!("Deployment has no pod template"))?;
        let container = pod.pointer("/containers/0").ok_or_else(|| anyhow!("Deployment has no container"))?;
        let mut env = BTreeMap::new();
        for from in container.get("envFrom").and_then(Value::as_array).into_iter().flatten() {
            if let Some(name) = from.pointer("/configMapRef/name").and_then(Value::as_str) {
                let cm = config_maps.get(name).ok_or_else(|| anyhow!("envFrom ConfigMap {name} is not rendered"))?;
                for (k, v) in cm.get("data").and_then(Value::as_object).into_iter().flatten() {
                    env.insert(k.clone(), text(v).unwrap_or_default());
                }
            }
        }
        let mut secret_env = Vec::new();
        for e in container.get("env").and_then(Value::as_array).into_iter().flatten() {
            let name = e.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            if let Some(v) = e.get("value") {
                env.insert(name, text(v).unwrap_or_default());
            } else if let Some(key) = e.pointer("/valueFrom/configMapKeyRef") {
                let cm = key.get("name").and_then(Value::as_str).and_then(|n| config_maps.get(n));
                let value = cm.and_then(|c| c.pointer(&format!("/data/{}", key.get("key").and_then(Value::as_str).unwrap_or_default())));
                env.insert(name, value.and_then(text).unwrap_or_default());
            } else {
                secret_env.push(name);
            }
        }
        // ConfigMap volumes: files the pod reads (e.g. a mounted worker TOML).
        let mut config_files = Vec::new();
        let volumes: BTreeMap<String, &Value> = pod
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| Some((v.get("name")?.as_str()?.to_owned(), v)))
            .collect();
        for mount in container.get("volumeMounts").and_then(Value::as_array).into_iter().flatten() {
            let (Some(name), Some(path)) = (mount.get("name").and_then(Value::as_str), mount.get("mountPath").and_then(Value::as_str))
            else {
                continue;
            };
            let Some(cm_name) = volumes.get(name).and_then(|v| v.pointer("/configMap/name")).and_then(Value::as_str) else { continue };
            let cm = config_maps.get(cm_name).ok_or_else(|| anyhow!("volume ConfigMap {cm_name} is not rendered"))?;
            let sub = mount.get("subPath").and_then(Value::as_str);
            for (k, v) in cm.get("data").and_then(Value::as_object).into_iter().flatten() {
                match sub {
                    Some(sub) if sub == k => config_files.push((path.to_owned(), text(v).unwrap_or_default())),
                    Some(_) => {}
                    None => config_files.push((format!("{}/{k}", path.trim_end_matches('/')), text(v).unwrap_or_default())),
                }
            }
        }
        let requests = container.pointer("/resources/requests");
        let gpus = requests
            .and_then(Value::as_object)
            .map(|r| r.iter().filter(|(k, _)| k.contains("gpu") || k.contains("neuron")).filter_map(|(_, v)| num(v)).sum::<f64>())
            .unwrap_or(0.0) as u32;
        let strategy = deployment.pointer("/spec/strategy/rollingUpdate");
        let deployment_spec = DeploymentSpec {
            replicas: deployment.pointer("/spec/replicas").and_then(num).map(|r| r as u32),
            args: container.get("args").and_then(Value::as_array).map(|a| a.iter().filter_map(text).collect()).unwrap_or_default(),
            env,
            secret_env,
            termination_grace_secs: pod.get("terminationGracePeriodSeconds").and_then(num).unwrap_or(30.0),
            readiness: probe(container.get("readinessProbe")),
            max_surge: int_or_percent(strategy.and_then(|s| s.get("maxSurge")).unwrap_or(&Value::Null), IntOrPercent::Percent(25.0)),
            max_unavailable: int_or_percent(
                strategy.and_then(|s| s.get("maxUnavailable")).unwrap_or(&Value::Null),
                IntOrPercent::Percent(25.0),
            ),
            cpu_request: requests.and_then(|r| r.get("cpu")).map(cpu).unwrap_or(0.1),
            gpus,
        };
        let pool = deployment_spec
            .env
            .get("JOBFLEET_POOL")
            .cloned()
            .or_else(|| {
                let args = &deployment_spec.args;
                args.iter().position(|a| a == "--pool").and_then(|i| args.get(i + 1).cloned())
            })
            .ok_or_else(|| anyhow!("the Deployment names no pool (JOBFLEET_POOL or --pool)"))?;
        let scrape_interval_secs = of_kind("ServiceMonitor")
            .next()
            .and_then(|s| s.pointer("/spec/endpoints/0/interval"))
            .and_then(Value::as_str)
            .and_then(|s| s.trim_end_matches('s').parse().ok())
            .unwrap_or(30.0);
        let autoscaler = match of_kind("ScaledObject").next() {
            Some(so) => Autoscaler::Keda(scaled_object(so, scrape_interval_secs)?),
            None if of_kind("HorizontalPodAutoscaler").next().is_some() => {
                bail!("plain CPU HPA mode is not simulated (no CPU model): render a keda-* mode")
            }
            None => Autoscaler::None,
        };
        let pdb_max_unavailable =
            of_kind("PodDisruptionBudget").next().and_then(|p| p.pointer("/spec/maxUnavailable")).and_then(num).map(|v| v as u32);
        Ok(PoolSpec { pool, deployment: deployment_spec, autoscaler, pdb_max_unavailable, config_files })
    }
}

fn scaled_object(so: &Value, scrape_interval_secs: f64) -> Result<ScaledObjectSpec> {
    let spec = so.get("spec").ok_or_else(|| anyhow!("ScaledObject has no spec"))?;
    let default = Behavior::kubernetes_default();
    let behavior = spec.pointer("/advanced/horizontalPodAutoscalerConfig/behavior");
    let behavior = Behavior {
        up: rules(behavior.and_then(|b| b.get("scaleUp")), &default.up),
        down: rules(behavior.and_then(|b| b.get("scaleDown")), &default.down),
    };
    let triggers = spec.get("triggers").and_then(Value::as_array).ok_or_else(|| anyhow!("ScaledObject has no triggers"))?;
    if triggers.len() != 1 {
        bail!("ScaledObject has {} triggers; the harness simulates exactly one", triggers.len());
    }
    let t = &triggers[0];
    let meta = t.get("metadata").cloned().unwrap_or(Value::Null);
    let m = |k: &str| meta.get(k).and_then(num);
    let flag = |k: &str, d: bool| meta.get(k).and_then(text).map(|s| s == "true").unwrap_or(d);
    let trigger = match t.get("type").and_then(Value::as_str) {
        // KEDA aws-sqs-queue defaults: queueLength 5, activation 0, scaleOnInFlight true, scaleOnDelayed false.
        Some("aws-sqs-queue") => Trigger::Sqs {
            queue_length: m("queueLength").unwrap_or(5.0),
            activation: m("activationQueueLength").unwrap_or(0.0),
            on_in_flight: flag("scaleOnInFlight", true),
            on_delayed: flag("scaleOnDelayed", false),
        },
        Some("prometheus") => Trigger::Prometheus {
            threshold: m("threshold").context("prometheus trigger without threshold")?,
            activation: m("activationThreshold").unwrap_or(0.0),
            query: meta.get("query").and_then(Value::as_str).unwrap_or_default().to_owned(),
            scrape_interval_secs,
        },
        Some("external") => Trigger::External {
            metadata: meta.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), text(v).unwrap_or_default())).collect(),
        },
        other => bail!("trigger type {other:?} is not simulated"),
    };
    Ok(ScaledObjectSpec {
        // KEDA defaults: pollingInterval 30, cooldownPeriod 300, minReplicaCount 0, maxReplicaCount 100.
        polling_secs: spec.get("pollingInterval").and_then(num).unwrap_or(30.0),
        cooldown_secs: spec.get("cooldownPeriod").and_then(num).unwrap_or(300.0),
        min_replicas: spec.get("minReplicaCount").and_then(num).unwrap_or(0.0) as u32,
        max_replicas: spec.get("maxReplicaCount").and_then(num).unwrap_or(100.0) as u32,
        behavior,
        trigger,
    })
}
