//! Node capacity per Karpenter NodePool, as a parameter: a pod that fits
//! no ready node waits for a new node (`provision_secs`: seconds for a
//! CPU instance, minutes for a GPU node plus model load); a node empty for
//! `consolidate_after_secs` is removed (Karpenter `consolidateAfter`).
//! Bin-packing is by one resource: GPUs when the pod asks for them, else CPU.

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodePoolModel {
    /// CPU cores of one node (the packing unit for CPU pods).
    pub node_cpus: f64,
    /// GPUs of one node.
    pub node_gpus: u32,
    pub provision_secs: f64,
    pub consolidate_after_secs: f64,
}

impl NodePoolModel {
    /// The `general` NodePool: 8-core nodes, a new one in 45 s.
    pub fn general() -> Self {
        Self { node_cpus: 8.0, node_gpus: 0, provision_secs: 45.0, consolidate_after_secs: 30.0 }
    }

    /// The isolated GPU NodePool: one GPU per node; new node + model load in 4 min.
    pub fn gpu() -> Self {
        Self { node_cpus: 8.0, node_gpus: 1, provision_secs: 240.0, consolidate_after_secs: 30.0 }
    }

    /// Pods of (cpu, gpus) that fit one node.
    pub fn slots(&self, cpu: f64, gpus: u32) -> u32 {
        match self.node_gpus.checked_div(gpus) {
            Some(per_node) => per_node.max(1),
            None => ((self.node_cpus / cpu.max(0.01)).floor() as u32).max(1),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub ready_at: f64,
    pub slots: u32,
    pub used: u32,
    pub empty_since: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Nodes {
    pub model: NodePoolModel,
    pub slots: u32,
    pub nodes: Vec<Option<Node>>,
    pub launched: u32,
}

impl Nodes {
    pub fn new(model: NodePoolModel, slots: u32, warm_pods: u32) -> Self {
        let mut nodes = Self { model, slots, nodes: Vec::new(), launched: 0 };
        let warm = warm_pods.div_ceil(slots.max(1));
        for _ in 0..warm {
            nodes.nodes.push(Some(Node { ready_at: 0.0, slots, used: 0, empty_since: Some(0.0) }));
        }
        nodes
    }

    /// A ready node with a free slot, taken.
    pub fn bind(&mut self, now: f64) -> Option<usize> {
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if let Some(n) = n
                && n.ready_at <= now
                && n.used < n.slots
            {
                n.used += 1;
                n.empty_since = None;
                return Some(i);
            }
        }
        None
    }

    pub fn release(&mut self, index: usize, now: f64) {
        if let Some(Some(n)) = self.nodes.get_mut(index) {
            n.used = n.used.saturating_sub(1);
            if n.used == 0 {
                n.empty_since = Some(now);
            }
        }
    }

    /// Launches nodes for pods no node (ready or coming) has room for,
    /// and removes nodes empty for longer than the consolidation delay.
    pub fn reconcile(&mut self, now: f64, unbound_pods: u32) {
        let coming: u32 = self.nodes.iter().flatten().filter(|n| n.ready_at > now).map(|n| n.slots - n.used).sum();
        let missing = unbound_pods.saturating_sub(coming);
        for _ in 0..missing.div_ceil(self.slots.max(1)) {
            self.nodes.push(Some(Node { ready_at: now + self.model.provision_secs, slots: self.slots, used: 0, empty_since: None }));
            self.launched += 1;
        }
        for slot in &mut self.nodes {
            if let Some(n) = slot
                && n.used == 0
                && n.ready_at <= now
                && n.empty_since.is_some_and(|since| now - since >= self.model.consolidate_after_secs)
            {
                *slot = None;
            }
        }
    }

    pub fn count(&self) -> usize {
        self.nodes.iter().flatten().count()
    }
}
