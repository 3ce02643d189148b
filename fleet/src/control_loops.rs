//! The control loops, implemented from the upstream source (docs/FLEET.md
//! cites each rule): KEDA's scale executor (activation, scale from and to
//! zero, cooldown) and the HPA's replica calculation for an external
//! `AverageValue` metric with tolerance, stabilisation windows and
//! behaviour policies. Times are simulated seconds.

use crate::spec::{Behavior, Rules, ScaledObjectSpec, Select};

/// The HPA's default tolerance (`--horizontal-pod-autoscaler-tolerance`).
pub const HPA_TOLERANCE: f64 = 0.1;
/// The HPA controller's sync period (`--horizontal-pod-autoscaler-sync-period`).
pub const HPA_SYNC_SECS: f64 = 15.0;

/// KEDA's scale executor for one ScaledObject (the 0 ↔ 1 decisions; the
/// HPA does 1 ↔ N).
#[derive(Debug, Clone)]
pub struct Keda {
    pub min_replicas: u32,
    pub cooldown_secs: f64,
    last_active: Option<f64>,
}

impl Keda {
    pub fn new(spec: &ScaledObjectSpec) -> Self {
        Self { min_replicas: spec.min_replicas, cooldown_secs: spec.cooldown_secs, last_active: None }
    }

    /// One polling round (`RequestScale`): returns the new replica count
    /// when KEDA itself changes it.
    pub fn poll(&mut self, now: f64, active: bool, replicas: u32) -> Option<u32> {
        if replicas == 0 && active {
            // scaleFromZero: minReplicaCount if > 0, else 1; the last active time is set.
            self.last_active = Some(now);
            return Some(self.min_replicas.max(1));
        }
        if !active && replicas > 0 && self.min_replicas == 0 {
            // scaleToZero: only once the cooldown has passed since the last active poll
            // (or when there was never one).
            return match self.last_active {
                Some(at) if at + self.cooldown_secs >= now => None,
                _ => Some(0),
            };
        }
        if !active && replicas < self.min_replicas {
            return Some(self.min_replicas);
        }
        if active {
            self.last_active = Some(now);
        }
        None
    }
}

/// The HPA KEDA creates for a ScaledObject: minReplicas = max(minReplicaCount, 1).
#[derive(Debug, Clone)]
pub struct Hpa {
    pub min_replicas: u32,
    pub max_replicas: u32,
    behavior: Behavior,
    /// (time, recommendation) kept for the stabilisation windows.
    recommendations: Vec<(f64, u32)>,
    /// (time, replica change) for the rate policies.
    up_events: Vec<(f64, u32)>,
    down_events: Vec<(f64, u32)>,
}

impl Hpa {
    pub fn new(spec: &ScaledObjectSpec) -> Self {
        Self {
            min_replicas: spec.min_replicas.max(1),
            max_replicas: spec.max_replicas,
            behavior: spec.behavior.clone(),
            recommendations: Vec::new(),
            up_events: Vec::new(),
            down_events: Vec::new(),
        }
    }

    /// One HPA sync for an external metric with an `AverageValue` target.
    /// `spec_replicas` is the scale's spec, `status_replicas` its pods.
    /// Returns the replicas to set (possibly unchanged).
    pub fn sync(&mut self, now: f64, spec_replicas: u32, status_replicas: u32, metric: f64, target_per_pod: f64) -> u32 {
        if spec_replicas == 0 {
            // ScalingDisabled: "scaling is disabled since the replica count of the target is zero".
            return 0;
        }
        let raw = external_per_pod_replicas(status_replicas, metric, target_per_pod);
        self.normalize(now, spec_replicas, raw)
    }

    fn normalize(&mut self, now: f64, current: u32, desired: u32) -> u32 {
        let stabilized = self.stabilize(now, current, desired);
        let limited = self.rate_limit(now, current, stabilized);
        if limited > current {
            self.up_events.push((now, limited - current));
        } else if limited < current {
            self.down_events.push((now, current - limited));
        }
        limited
    }

    /// stabilizeRecommendationWithBehaviors: up = min of the up window's
    /// recommendations, down = max of the down window's; the current count
    /// is kept unless both agree on a move.
    fn stabilize(&mut self, now: f64, current: u32, desired: u32) -> u32 {
        let up_cutoff = now - self.behavior.up.window_secs;
        let down_cutoff = now - self.behavior.down.window_secs;
        let mut up = desired;
        let mut down = desired;
        for &(at, rec) in &self.recommendations {
            if at > up_cutoff {
                up = up.min(rec);
            }
            if at > down_cutoff {
                down = down.max(rec);
            }
        }
        let mut recommendation = current;
        if recommendation < up {
            recommendation = up;
        }
        if recommendation > down {
            recommendation = down;
        }
        let keep = self.behavior.up.window_secs.max(self.behavior.down.window_secs);
        self.recommendations.retain(|&(at, _)| at > now - keep);
        self.recommendations.push((now, desired));
        recommendation
    }

    /// convertDesiredReplicasWithBehaviorRate with the min/max clamp.
    fn rate_limit(&self, now: f64, current: u32, desired: u32) -> u32 {
        let (min_allowed, max_allowed) = if desired > current {
            let limit = scale_up_limit(now, current, &self.up_events, &self.down_events, &self.behavior.up).max(current);
            (self.min_replicas, self.max_replicas.min(limit))
        } else if desired < current {
            let limit = scale_down_limit(now, current, &self.up_events, &self.down_events, &self.behavior.down).min(current);
            (self.min_replicas.max(limit), self.max_replicas)
        } else {
            (self.min_replicas, self.max_replicas)
        };
        desired.clamp(min_allowed, max_allowed.max(min_allowed))
    }
}

/// GetExternalPerPodMetricReplicas: the usage ratio against the target
/// per pod for the current pods; within the tolerance nothing changes,
/// else ceil(total ÷ target).
pub fn external_per_pod_replicas(status_replicas: u32, metric: f64, target_per_pod: f64) -> u32 {
    let replicas = status_replicas.max(1);
    let ratio = metric / (target_per_pod * f64::from(replicas));
    if (1.0 - ratio).abs() <= HPA_TOLERANCE {
        return status_replicas;
    }
    (metric / target_per_pod).ceil().max(0.0) as u32
}

fn changes_in(now: f64, period: f64, events: &[(f64, u32)]) -> u32 {
    events.iter().filter(|(at, _)| *at > now - period).map(|(_, n)| n).sum()
}

/// calculateScaleUpLimitWithScalingRules.
fn scale_up_limit(now: f64, current: u32, up: &[(f64, u32)], down: &[(f64, u32)], rules: &Rules) -> u32 {
    if rules.select == Select::Disabled {
        return current;
    }
    let mut result: Option<u32> = None;
    for p in &rules.policies {
        let start = (i64::from(current) - i64::from(changes_in(now, p.period_secs, up)) + i64::from(changes_in(now, p.period_secs, down)))
            .max(0) as f64;
        let proposed = if p.percent { (start * (1.0 + p.value / 100.0)).ceil() } else { start + p.value } as u32;
        result = Some(match (result, rules.select) {
            (None, _) => proposed,
            (Some(r), Select::Min) => r.min(proposed),
            (Some(r), _) => r.max(proposed),
        });
    }
    result.unwrap_or(current)
}

/// calculateScaleDownLimitWithBehaviors.
fn scale_down_limit(now: f64, current: u32, up: &[(f64, u32)], down: &[(f64, u32)], rules: &Rules) -> u32 {
    if rules.select == Select::Disabled {
        return current;
    }
    let mut result: Option<u32> = None;
    for p in &rules.policies {
        let start = (i64::from(current) + i64::from(changes_in(now, p.period_secs, down)) - i64::from(changes_in(now, p.period_secs, up)))
            .max(0) as f64;
        let proposed = if p.percent { (start * (1.0 - p.value / 100.0)).trunc() } else { start - p.value }.max(0.0) as u32;
        result = Some(match (result, rules.select) {
            (None, _) => proposed,
            // Min selects the policy allowing the least change: the highest floor.
            (Some(r), Select::Min) => r.max(proposed),
            (Some(r), _) => r.min(proposed),
        });
    }
    result.unwrap_or(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Policy, Trigger};

    fn spec(min: u32, max: u32, behavior: Behavior) -> ScaledObjectSpec {
        ScaledObjectSpec {
            polling_secs: 15.0,
            cooldown_secs: 300.0,
            min_replicas: min,
            max_replicas: max,
            behavior,
            trigger: Trigger::Sqs { queue_length: 5.0, activation: 0.0, on_in_flight: true, on_delayed: false },
        }
    }

    fn chart_behavior() -> Behavior {
        Behavior {
            up: Rules { window_secs: 0.0, select: Select::Max, policies: vec![Policy { percent: false, value: 10.0, period_secs: 30.0 }] },
            down: Rules {
                window_secs: 300.0,
                select: Select::Min,
                policies: vec![Policy { percent: true, value: 25.0, period_secs: 60.0 }],
            },
        }
    }

    #[test]
    fn keda_wakes_from_zero_and_cools_down_after_the_cooldown() {
        let mut k = Keda::new(&spec(0, 10, chart_behavior()));
        assert_eq!(k.poll(0.0, false, 0), None);
        assert_eq!(k.poll(15.0, true, 0), Some(1));
        assert_eq!(k.poll(30.0, true, 1), None);
        assert_eq!(k.poll(45.0, false, 1), None, "cooling down");
        assert_eq!(k.poll(330.0, false, 1), None, "30 + 300 is not yet past");
        assert_eq!(k.poll(345.0, false, 1), Some(0));
    }

    #[test]
    fn tolerance_keeps_the_count_within_ten_percent() {
        assert_eq!(external_per_pod_replicas(10, 105.0, 10.0), 10);
        assert_eq!(external_per_pod_replicas(10, 115.0, 10.0), 12);
        assert_eq!(external_per_pod_replicas(4, 9.0, 8.0), 2, "in-flight 9 on queueLength 8 halves 4 pods");
    }

    #[test]
    fn scale_down_waits_for_the_window_then_follows_the_percent_policy() {
        let mut h = Hpa::new(&spec(1, 40, chart_behavior()));
        assert_eq!(h.sync(0.0, 4, 4, 160.0, 8.0), 14, "up by at most 10 pods per 30 s");
        assert_eq!(h.sync(15.0, 14, 14, 160.0, 8.0), 14, "the period's 10 pods are spent");
        assert_eq!(h.sync(30.0, 14, 14, 160.0, 8.0), 20);
        // The queue empties: the window still holds 20.
        assert_eq!(h.sync(45.0, 20, 20, 0.0, 8.0), 20);
        assert_eq!(h.sync(300.0, 20, 20, 0.0, 8.0), 20);
        // Past 345 s only low recommendations remain: 25 % per 60 s.
        assert_eq!(h.sync(345.0, 20, 20, 0.0, 8.0), 15);
        assert_eq!(h.sync(360.0, 15, 15, 0.0, 8.0), 15, "the period's budget is spent");
        assert_eq!(h.sync(406.0, 15, 15, 0.0, 8.0), 11);
    }

    #[test]
    fn default_behaviour_allows_doubling_or_four_pods() {
        let mut h = Hpa::new(&spec(1, 100, Behavior::kubernetes_default()));
        assert_eq!(h.sync(0.0, 1, 1, 100.0, 1.0), 5, "max(100 %, 4 pods) from 1");
        assert_eq!(h.sync(10.0, 5, 5, 100.0, 1.0), 5, "the period's growth is spent");
        assert_eq!(h.sync(15.0, 5, 5, 100.0, 1.0), 10, "a change exactly one period ago is outside it");
    }
}
