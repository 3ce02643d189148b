//! Priority queues: one pool consuming several queues on one slot semaphore.
//!
//! Each queue (a *lane*) has one poller; what differs is who gets the
//! pool's free slots. An arbiter task hands them out, one grant at a time:
//!
//! - A lane whose last receive came back short (its queue looked drained)
//!   asks for a **probe**: one slot, enough for a long poll that notices new
//!   messages at once. An idle pool thus holds one slot per lane, and an
//!   empty queue costs one request per long-poll wait, whatever the load —
//!   idle low-priority queues do not multiply the requests per job.
//! - A lane whose last receive came back full (a backlog) asks for a
//!   **batch**: up to 10 slots, as a single-queue poller takes them.
//! - **Weighted**: probes first (they are cheap, and they are how a quiet
//!   queue's new messages are seen), then backlogged lanes by smooth weighted
//!   round robin, so under saturation each lane gets slots in proportion to
//!   its weight (a batch is charged one turn per slot in it), and a lane
//!   nobody else competes with gets them all.
//! - **Strict**: lanes in priority order. A lane gets slots only while no
//!   higher lane is backlogged; a slot freed while a backlogged higher lane's
//!   poller is still receiving is held back for it rather than given away.
//!
//! The grant is decided once a slot is free, on the requests pending at
//! that moment, so a lane that turned backlogged a moment ago is already
//! counted.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::sqs::poller::{FULL_BATCH_WAIT, MAX_BATCH};

/// How a pool with priority queues shares its slots between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriorityMode {
    /// Slots in proportion to the queues' weights while several have a
    /// backlog; a queue alone gets them all.
    #[default]
    Weighted,
    /// The higher queue (by weight) first, always: a lower queue waits while
    /// a higher one has a backlog.
    Strict,
}

/// A lane's poller's request for slots.
#[derive(Debug)]
struct Request {
    lane: usize,
    backlog: bool,
    reply: oneshot::Sender<OwnedSemaphorePermit>,
}

/// A lane's handle on the arbiter.
#[derive(Debug, Clone)]
pub struct Lane {
    index: usize,
    requests: mpsc::UnboundedSender<Request>,
}

impl Lane {
    /// Slots for this lane's next receive: a batch when its queue has a
    /// backlog, otherwise one slot for a probe. `None` once the arbiter
    /// stopped.
    pub(crate) async fn take(&self, backlog: bool) -> Option<OwnedSemaphorePermit> {
        let (reply, granted) = oneshot::channel();
        self.requests.send(Request { lane: self.index, backlog, reply }).ok()?;
        granted.await.ok()
    }
}

/// What to do with a slot just freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    To(usize),
    /// Keep it for this lane: it has a backlog and its turn, but its poller
    /// is still busy with its last receive (it asks again within
    /// milliseconds, or is assumed drained after [`HOLD_MAX`]).
    HoldFor(usize),
    /// Nobody to give it to.
    Nobody,
}

/// The longest a slot is held back for a busy backlogged lane. A receive
/// that found the queue just emptied long-polls; after this the lane counts
/// as drained until it reports again.
pub(crate) const HOLD_MAX: std::time::Duration = std::time::Duration::from_millis(100);

/// Decides grants from the lanes' requests and last reported states.
#[derive(Debug)]
pub(crate) struct Chooser {
    mode: PriorityMode,
    /// Highest priority first.
    weights: Vec<u32>,
    /// Each lane's last reported state (its last receive came back full).
    backlog: Vec<bool>,
    /// Smooth weighted round robin's running credit.
    credit: Vec<i64>,
    /// The lane whose weighted turn was just taken, to charge the batch's
    /// further slots to ([`Chooser::charge`]; the competing lanes are still
    /// those of `backlog`: only the arbiter's loop changes it, in between).
    last_turn: Option<usize>,
}

impl Chooser {
    pub(crate) fn new(mode: PriorityMode, weights: Vec<u32>) -> Self {
        let n = weights.len();
        Self { mode, weights, backlog: vec![false; n], credit: vec![0; n], last_turn: None }
    }

    /// A lane held for did not ask within [`HOLD_MAX`].
    pub(crate) fn assume_drained(&mut self, lane: usize) {
        self.backlog[lane] = false;
    }

    /// `pending[i]`: lane `i` waits for slots, having said whether it has a
    /// backlog.
    pub(crate) fn choose(&mut self, pending: &[Option<bool>]) -> Grant {
        for (lane, asked) in pending.iter().enumerate() {
            if let Some(backlog) = asked {
                self.backlog[lane] = *backlog;
            }
        }
        let waiting_for = |lane: usize| if pending[lane].is_some() { Grant::To(lane) } else { Grant::HoldFor(lane) };
        match self.mode {
            PriorityMode::Strict => {
                let first = pending.iter().zip(&self.backlog).position(|(asked, backlog)| asked.is_some() || *backlog);
                first.map_or(Grant::Nobody, waiting_for)
            }
            PriorityMode::Weighted => {
                if let Some(probe) = pending.iter().position(|asked| *asked == Some(false)) {
                    return Grant::To(probe);
                }
                // Every backlogged lane competes, asking or still receiving:
                // a lane's receive takes time, and skipping it then would
                // hand its turns to the others.
                let (competing, total) = self.competing();
                let mut credit = self.credit.clone();
                let mut best: Option<usize> = None;
                for &lane in &competing {
                    credit[lane] += i64::from(self.weights[lane]);
                    if best.is_none_or(|b| credit[lane] > credit[b]) {
                        best = Some(lane);
                    }
                }
                let Some(best) = best else { return Grant::Nobody };
                let grant = waiting_for(best);
                if grant == Grant::To(best) {
                    // The turn is spent only when it is taken.
                    credit[best] -= total;
                    self.credit = credit;
                    self.last_turn = Some(best);
                }
                grant
            }
        }
    }

    /// The backlogged lanes, which compete for weighted turns, and their
    /// total weight.
    fn competing(&self) -> (Vec<usize>, i64) {
        let competing: Vec<usize> = (0..self.backlog.len()).filter(|&lane| self.backlog[lane]).collect();
        let total = competing.iter().map(|&lane| i64::from(self.weights[lane])).sum();
        (competing, total)
    }

    /// The turn just granted to `lane` came to `slots` slots (a batch):
    /// each slot past the first counts as one more turn of the round robin,
    /// so weights share *slots*, not grants. Counting grants would favour
    /// the heavier lane twice: its turns come more often, so its poller is
    /// more often still receiving when its turn comes, the slots freed
    /// meanwhile are held for it, and its batches are the bigger ones (the
    /// low queue got 14–19 % of job starts at 4:1 instead of 20 %). Probes
    /// are not charged: one slot, and only for a lane that looked drained.
    pub(crate) fn charge(&mut self, lane: usize, slots: usize) {
        if self.last_turn.take() != Some(lane) || slots <= 1 {
            return;
        }
        let (competing, total) = self.competing();
        let extra = slots as i64 - 1;
        for &other in &competing {
            self.credit[other] += i64::from(self.weights[other]) * extra;
        }
        self.credit[lane] -= total * extra;
    }
}

/// Starts the arbiter; returns one [`Lane`] per weight, in the same
/// (priority) order.
pub(crate) fn start(
    capacity: Arc<Semaphore>,
    mode: PriorityMode,
    weights: Vec<u32>,
    full_batch: u32,
    stop: CancellationToken,
) -> Vec<Lane> {
    let (tx, rx) = mpsc::unbounded_channel();
    let lanes = (0..weights.len()).map(|index| Lane { index, requests: tx.clone() }).collect();
    tokio::spawn(run(capacity, Chooser::new(mode, weights), full_batch, rx, stop));
    lanes
}

async fn run(
    capacity: Arc<Semaphore>,
    mut chooser: Chooser,
    full_batch: u32,
    mut requests: mpsc::UnboundedReceiver<Request>,
    stop: CancellationToken,
) {
    let mut pending: Vec<Option<Request>> = (0..chooser.weights.len()).map(|_| None).collect();
    let note = |pending: &mut Vec<Option<Request>>, request: Request| {
        let lane = request.lane;
        pending[lane] = Some(request);
    };
    loop {
        // Nothing asked: wait for a request before taking any slot.
        if pending.iter().all(Option::is_none) {
            tokio::select! {
                () = stop.cancelled() => return,
                request = requests.recv() => match request {
                    Some(request) => note(&mut pending, request),
                    None => return,
                },
            }
        }
        let slot = tokio::select! {
            () = stop.cancelled() => return,
            slot = capacity.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
        };
        while let Ok(request) = requests.try_recv() {
            note(&mut pending, request);
        }
        let asked: Vec<Option<bool>> = pending.iter().map(|r| r.as_ref().map(|r| r.backlog)).collect();
        let lane = match chooser.choose(&asked) {
            Grant::To(lane) => lane,
            held => {
                // Back to the pool until someone asks again (the lane held
                // for, most likely), or the hold runs out.
                drop(slot);
                tokio::select! {
                    () = stop.cancelled() => return,
                    request = requests.recv() => match request {
                        Some(request) => note(&mut pending, request),
                        None => return,
                    },
                    () = tokio::time::sleep(HOLD_MAX) => {
                        if let Grant::HoldFor(lane) = held {
                            chooser.assume_drained(lane);
                        }
                    }
                }
                continue;
            }
        };
        let request = pending[lane].take().expect("chosen among the pending");
        let slots = if request.backlog { fill(&capacity, slot, full_batch).await } else { slot };
        chooser.charge(lane, slots.num_permits());
        // A poller gone (stopping) drops the slots with the reply.
        let _ = request.reply.send(slots);
    }
}

/// Tops `slots` up to a full batch: what is free now, else what frees up
/// within [`FULL_BATCH_WAIT`] (the single-queue poller's rule).
async fn fill(capacity: &Arc<Semaphore>, mut slots: OwnedSemaphorePermit, full_batch: u32) -> OwnedSemaphorePermit {
    let full = full_batch.clamp(1, MAX_BATCH) as usize;
    while slots.num_permits() < full {
        match capacity.clone().try_acquire_owned() {
            Ok(more) => slots.merge(more),
            Err(_) => break,
        }
    }
    let missing = full - slots.num_permits();
    if missing > 0
        && let Ok(Ok(more)) = tokio::time::timeout(FULL_BATCH_WAIT, capacity.clone().acquire_many_owned(missing as u32)).await
    {
        slots.merge(more);
    }
    slots
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Grants to lanes that ask again at once, as saturated pollers do.
    fn shares(chooser: &mut Chooser, asked: &[Option<bool>], grants: usize) -> Vec<usize> {
        let mut got = vec![0; asked.len()];
        for _ in 0..grants {
            if let Grant::To(lane) = chooser.choose(asked) {
                got[lane] += 1;
            }
        }
        got
    }

    #[test]
    fn weighted_lanes_with_a_backlog_share_in_proportion_to_their_weights() {
        let mut chooser = Chooser::new(PriorityMode::Weighted, vec![4, 1]);
        assert_eq!(shares(&mut chooser, &[Some(true), Some(true)], 500), vec![400, 100]);
    }

    #[test]
    fn weighted_lanes_share_slots_not_grants_when_their_batches_differ() {
        // High's batches are of 6 slots (slots freed while its poller was
        // receiving were held for it), low's of 1.
        let mut chooser = Chooser::new(PriorityMode::Weighted, vec![4, 1]);
        let batch = [6, 1];
        let mut slots = [0, 0];
        for _ in 0..1_000 {
            let Grant::To(lane) = chooser.choose(&[Some(true), Some(true)]) else { panic!("both lanes ask") };
            chooser.charge(lane, batch[lane]);
            slots[lane] += batch[lane];
        }
        let low_share = slots[1] as f64 / (slots[0] + slots[1]) as f64;
        assert!((low_share - 0.2).abs() < 0.01, "slots {slots:?}: the low lane's share {low_share:.3}, not 1/5");
    }

    #[test]
    fn a_weighted_lane_alone_gets_every_grant_and_probes_go_first() {
        let mut chooser = Chooser::new(PriorityMode::Weighted, vec![4, 1]);
        assert_eq!(shares(&mut chooser, &[None, Some(true)], 10), vec![0, 10], "the high queue has no backlog");
        assert_eq!(chooser.choose(&[Some(true), Some(false)]), Grant::To(1), "the drained low queue's probe first");
        assert_eq!(chooser.choose(&[Some(false), Some(true)]), Grant::To(0), "the drained high queue's probe first");
    }

    #[test]
    fn a_weighted_lane_still_receiving_keeps_its_turns() {
        let mut chooser = Chooser::new(PriorityMode::Weighted, vec![4, 1]);
        assert_eq!(chooser.choose(&[Some(true), Some(true)]), Grant::To(0));
        // High is receiving (backlogged, not asking): its next turn is held,
        // not given to low; low's own turn comes once in five.
        let mut got = [0, 0];
        for _ in 0..50 {
            match chooser.choose(&[None, Some(true)]) {
                Grant::HoldFor(0) => {
                    assert_eq!(chooser.choose(&[Some(true), Some(true)]), Grant::To(0));
                    got[0] += 1;
                }
                Grant::To(1) => got[1] += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, [40, 10]);
        // Held for too long: high counts as drained, low gets the slots.
        chooser.assume_drained(0);
        assert_eq!(shares(&mut chooser, &[None, Some(true)], 5), vec![0, 5]);
    }

    #[test]
    fn strict_lanes_serve_the_highest_and_hold_slots_for_a_busy_backlogged_one() {
        let mut chooser = Chooser::new(PriorityMode::Strict, vec![4, 1]);
        assert_eq!(shares(&mut chooser, &[Some(true), Some(true)], 100), vec![100, 0], "low waits while high has a backlog");
        assert_eq!(chooser.choose(&[None, Some(true)]), Grant::HoldFor(0), "high is receiving: the slot is held for it");
        // High's receive came back short: it asks for a probe; then low may go.
        assert_eq!(chooser.choose(&[Some(false), Some(true)]), Grant::To(0));
        assert_eq!(chooser.choose(&[None, Some(true)]), Grant::To(1), "high drained and long-polling: low gets the slots");
        assert_eq!(chooser.choose(&[None, None]), Grant::HoldFor(1), "low is receiving, with a backlog");
        chooser.assume_drained(1);
        assert_eq!(chooser.choose(&[None, None]), Grant::Nobody);
    }

    #[tokio::test(start_paused = true)]
    async fn the_arbiter_grants_probes_of_one_slot_and_batches_of_ten() {
        let capacity = Arc::new(Semaphore::new(32));
        let stop = CancellationToken::new();
        let lanes = start(capacity.clone(), PriorityMode::Weighted, vec![2, 1], 10, stop.clone());
        let probe = lanes[0].take(false).await.expect("granted");
        assert_eq!(probe.num_permits(), 1);
        let batch = lanes[1].take(true).await.expect("granted");
        assert_eq!(batch.num_permits(), 10);
        assert_eq!(capacity.available_permits(), 21);
        stop.cancel();
        drop((probe, batch));
        tokio::time::timeout(Duration::from_secs(60), async { while lanes[0].take(false).await.is_some() {} })
            .await
            .expect("a stopped arbiter grants nothing");
    }
}
