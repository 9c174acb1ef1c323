//! The figure issue 22 asks for: after a fault on the leader, how long a
//! client of each surviving node waits for its first acknowledged write
//! among those it sent after the fault. A write already in flight when the
//! fault struck does not count: a client stuck on it is exactly the stall
//! being measured.

use crate::history::{History, Outcome};
use core::time::Duration;

/// What was done to the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `kill -9`, then a restart on the same data.
    Kill,
    /// `SIGSTOP`, then `SIGCONT`.
    Pause,
}

/// One fault injected on the leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What was done.
    pub kind: FaultKind,
    /// The node (the leader when the fault struck).
    pub victim: u64,
    /// When the signal was sent, in history time (ns).
    pub at: u64,
    /// When the victim was restarted or resumed, in history time (ns).
    pub restored: u64,
    /// End of the fault's window (the next fault, or the end of the run):
    /// only writes sent before it count.
    pub until: u64,
}

/// How long one surviving node's clients waited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeStall {
    /// The node.
    pub node: u64,
    /// From the fault to the first acknowledgement of a write sent to the
    /// node after it; `None` if no such write was acknowledged.
    pub stall: Option<Duration>,
}

/// One fault's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultStall {
    /// The fault.
    pub fault: Fault,
    /// Every surviving node, in node order.
    pub nodes: Vec<NodeStall>,
}

impl FaultStall {
    /// The worst-served surviving node's stall; `None` if some surviving
    /// node never acknowledged a write sent after the fault.
    pub fn worst(&self) -> Option<Duration> {
        self.nodes.iter().try_fold(Duration::ZERO, |w, n| Some(w.max(n.stall?)))
    }
}

/// Measures `fault` on `history`: `node_of` names the node a client sent
/// to (`None` for clients that are not writers), `nodes` lists the cluster.
pub fn measure(history: &History, node_of: impl Fn(u64) -> Option<u64>, nodes: &[u64], fault: &Fault) -> FaultStall {
    let survivors = nodes.iter().copied().filter(|n| *n != fault.victim);
    let nodes = survivors
        .map(|node| {
            let first = history
                .ops
                .iter()
                .filter(|o| !o.op.is_read() && matches!(o.outcome, Outcome::Ok(_)))
                .filter(|o| o.invoke >= fault.at && o.invoke < fault.until && node_of(o.client) == Some(node))
                .map(|o| o.complete)
                .min();
            NodeStall { node, stall: first.map(|t| Duration::from_nanos(t - fault.at)) }
        })
        .collect();
    FaultStall { fault: fault.clone(), nodes }
}

/// Median and maximum over faults, against the election timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Faults measured.
    pub faults: usize,
    /// Median of the per-fault figures (the mean of the middle two for an
    /// even count); `None` if it falls on a fault never recovered from.
    pub median: Option<Duration>,
    /// Maximum; `None` if some fault was never recovered from.
    pub max: Option<Duration>,
    /// The system's election timeout.
    pub election_timeout: Duration,
}

/// Issue 22's bounds, in election timeouts.
pub const MEDIAN_BOUND: f64 = 1.5;
/// See [`MEDIAN_BOUND`].
pub const MAX_BOUND: f64 = 3.0;

impl Summary {
    /// Summarises `stalls`.
    pub fn of(stalls: &[FaultStall], election_timeout: Duration) -> Summary {
        let mut worst: Vec<Duration> = stalls.iter().map(|s| s.worst().unwrap_or(Duration::MAX)).collect();
        worst.sort();
        let known = |d: Duration| (d != Duration::MAX).then_some(d);
        let median = match worst.len() {
            0 => None,
            n if n % 2 == 1 => known(worst[n / 2]),
            n => known(worst[n / 2 - 1]).zip(known(worst[n / 2])).map(|(a, b)| (a + b) / 2),
        };
        let max = worst.last().copied().and_then(known);
        Summary { faults: stalls.len(), median, max, election_timeout }
    }

    /// `d` in election timeouts.
    pub fn ratio(&self, d: Duration) -> f64 {
        d.as_secs_f64() / self.election_timeout.as_secs_f64()
    }

    /// True if the median is at most 1.5 and the maximum at most 3
    /// election timeouts.
    pub fn holds(&self) -> bool {
        self.faults > 0
            && self.median.is_some_and(|m| self.ratio(m) <= MEDIAN_BOUND)
            && self.max.is_some_and(|m| self.ratio(m) <= MAX_BOUND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, Ret};

    const S: u64 = 1_000_000_000;

    fn write(h: &mut History, client: u64, sent: u64, acked: Option<u64>) {
        let id = h.invoke(client, Op::Set(client, 1), sent);
        match acked {
            Some(t) => h.complete(id, t, Outcome::Ok(Ret::Done)),
            None => h.complete(id, u64::MAX, Outcome::Unknown),
        }
    }

    fn fault(victim: u64) -> Fault {
        Fault { kind: FaultKind::Kill, victim, at: 10 * S, restored: 12 * S, until: 20 * S }
    }

    // Clients 1, 2, 3 talk to nodes 1, 2, 3.
    fn node_of(c: u64) -> Option<u64> {
        (1..=3).contains(&c).then_some(c)
    }

    /// The canary: a follower whose client hangs on a write it sent before
    /// the fault until a 5 s timeout is measured at 5 s, and the bounds fail.
    #[test]
    fn a_follower_stuck_until_the_client_timeout_is_caught() {
        let mut h = History::default();
        write(&mut h, 2, 9 * S, Some(9 * S + 1000));
        // In flight at the fault, acknowledged late: does not count.
        write(&mut h, 2, 10 * S - 5, Some(11 * S));
        write(&mut h, 3, 10 * S - 5, None);
        write(&mut h, 3, 15 * S, Some(15 * S + 2000));
        write(&mut h, 2, 11 * S, Some(11 * S + S / 2));
        let m = measure(&h, node_of, &[1, 2, 3], &fault(1));
        let stalls: Vec<_> = m.nodes.iter().map(|n| (n.node, n.stall)).collect();
        assert_eq!(stalls, [(2, Some(Duration::from_millis(1500))), (3, Some(Duration::from_nanos(5 * S + 2000)))]);
        assert_eq!(m.worst(), Some(Duration::from_nanos(5 * S + 2000)));
        let s = Summary::of(&[m], Duration::from_millis(500));
        assert!(!s.holds());
    }

    #[test]
    fn reads_failures_and_the_victims_clients_do_not_count() {
        let mut h = History::default();
        write(&mut h, 1, 10 * S, Some(10 * S + 1));
        let r = h.invoke(2, Op::Get(2), 10 * S);
        h.complete(r, 10 * S + 1, Outcome::Ok(Ret::Value(None)));
        let f = h.invoke(3, Op::Set(3, 1), 10 * S);
        h.complete(f, 10 * S + 1, Outcome::Failed);
        let m = measure(&h, node_of, &[1, 2, 3], &fault(1));
        assert_eq!(m.nodes, [NodeStall { node: 2, stall: None }, NodeStall { node: 3, stall: None }]);
        assert_eq!(m.worst(), None);
    }

    #[test]
    fn a_write_sent_after_the_window_does_not_count() {
        let mut h = History::default();
        write(&mut h, 2, 20 * S, Some(20 * S + 1));
        write(&mut h, 3, 10 * S, Some(10 * S + 1));
        let m = measure(&h, node_of, &[1, 2, 3], &fault(1));
        assert_eq!(m.nodes[0].stall, None);
    }

    #[test]
    fn median_of_an_even_count_is_the_mean_of_the_middle_two_and_bounds_hold() {
        let mk = |ms: u64| FaultStall {
            fault: fault(1),
            nodes: vec![NodeStall { node: 2, stall: Some(Duration::from_millis(ms)) }],
        };
        let s = Summary::of(&[mk(400), mk(1400), mk(600), mk(700)], Duration::from_millis(500));
        assert_eq!(s.median, Some(Duration::from_millis(650)));
        assert_eq!(s.max, Some(Duration::from_millis(1400)));
        assert!(s.holds());
        let never = FaultStall { fault: fault(1), nodes: vec![NodeStall { node: 2, stall: None }] };
        let s = Summary::of(&[mk(400), never], Duration::from_millis(500));
        assert_eq!((s.median, s.max), (None, None));
        assert!(!s.holds());
    }
}
