//! The proposer: two phases per ballot, retried above the highest ballot
//! seen after a randomized backoff.

use super::message::Message;
use crate::id::{Ballot, NodeId};
use crate::rand::Rng;
use crate::time::{Duration, Instant};
use alloc::vec::Vec;
use bytes::Bytes;

/// Where the proposer is in its current attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not trying: nothing to propose, or the value is chosen.
    Idle,
    /// Waiting out a randomized backoff before the next ballot.
    Backoff,
    /// Phase 1: collecting promises for `ballot`.
    Preparing {
        /// The ballot.
        ballot: Ballot,
        /// Promises so far: acceptor and what it had accepted.
        promises: Vec<(NodeId, Option<(Ballot, Bytes)>)>,
    },
    /// Phase 2: collecting acceptances of `value` in `ballot`.
    Accepting {
        /// The ballot.
        ballot: Ballot,
        /// The value asked for.
        value: Bytes,
        /// Acceptors that accepted it.
        accepted: Vec<NodeId>,
    },
}

/// How long a proposer waits: for an answer to a round, and between
/// rounds (randomized, growing with each failed attempt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// An attempt that has not reached a quorum by then is abandoned.
    pub round_timeout: Duration,
    /// The first backoff is drawn from `[backoff, 2 * backoff)`.
    pub backoff: Duration,
    /// Backoffs double per failed attempt up to this.
    pub max_backoff: Duration,
}

/// A proposer's rules (PMS §2.2). It never reuses a ballot: each attempt
/// goes above every ballot it has seen, starting from a floor the caller
/// recovers from stable storage (PMS §2.5: a proposer must remember the
/// highest ballot it tried).
#[derive(Clone, Debug)]
pub struct Proposer {
    id: NodeId,
    acceptors: Vec<NodeId>,
    timing: Timing,
    rng: Rng,
    /// Its own value, used if no acceptor reports an accepted one.
    value: Option<Bytes>,
    /// The highest ballot seen anywhere, ours included.
    floor: Ballot,
    phase: Phase,
    attempts: u32,
    deadline: Option<Instant>,
    chosen: Option<Bytes>,
}

impl Proposer {
    /// A proposer `id` over `acceptors` whose ballots will exceed `floor`.
    pub fn new(id: NodeId, acceptors: Vec<NodeId>, floor: Ballot, timing: Timing, seed: u64) -> Self {
        Proposer {
            id,
            acceptors,
            timing,
            rng: Rng::with_seed(seed),
            value: None,
            floor,
            phase: Phase::Idle,
            attempts: 0,
            deadline: None,
            chosen: None,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Its own value, if it has one.
    pub fn value(&self) -> Option<&Bytes> {
        self.value.as_ref()
    }

    /// The highest ballot it has seen.
    pub fn floor(&self) -> Ballot {
        self.floor
    }

    /// When [`Proposer::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn quorum(&self) -> usize {
        self.acceptors.len() / 2 + 1
    }

    /// Starts proposing `value` (replacing any earlier value of ours), or,
    /// with `None`, starts rounds that only learn what was chosen. The
    /// first ballot is prepared at once; messages go to `out`.
    pub fn start(&mut self, now: Instant, value: Option<Bytes>, out: &mut Vec<(NodeId, Message)>) {
        if self.chosen.is_some() {
            return;
        }
        if value.is_some() {
            self.value = value;
        }
        if matches!(self.phase, Phase::Idle) {
            self.prepare(now, out);
        }
    }

    /// Phase 1a with a fresh ballot above everything seen.
    fn prepare(&mut self, now: Instant, out: &mut Vec<(NodeId, Message)>) {
        let ballot = Ballot::above(self.floor, self.id);
        self.floor = ballot;
        self.phase = Phase::Preparing { ballot, promises: Vec::new() };
        self.deadline = Some(now + self.timing.round_timeout);
        out.extend(self.acceptors.iter().map(|a| (*a, Message::Prepare { ballot })));
    }

    /// Gives up the current ballot and waits a randomized, growing time:
    /// duelling proposers drift apart instead of pre-empting each other
    /// forever (PMS §2.4: progress needs a distinguished proposer; random
    /// backoff picks one with high probability).
    fn back_off(&mut self, now: Instant) {
        self.attempts = self.attempts.saturating_add(1);
        let base = self.timing.backoff;
        let grown = base.saturating_mul(1 << self.attempts.min(16)).min(self.timing.max_backoff).max(base);
        let wait = self.rng.duration(base, grown.saturating_add(base));
        self.phase = Phase::Backoff;
        self.deadline = Some(now + wait);
    }

    /// Raises the floor to a ballot seen elsewhere.
    pub fn observe(&mut self, ballot: Ballot) {
        self.floor = self.floor.max(ballot);
    }

    /// Phase 1b answer. Returns nothing; the accept requests of phase 2a
    /// go to `out` once a quorum has promised.
    pub fn handle_promise(
        &mut self,
        now: Instant,
        from: NodeId,
        ballot: Ballot,
        accepted: Option<(Ballot, Bytes)>,
        out: &mut Vec<(NodeId, Message)>,
    ) {
        let quorum = self.quorum();
        let Phase::Preparing { ballot: mine, promises } = &mut self.phase else { return };
        if ballot != *mine || promises.iter().any(|(a, _)| *a == from) {
            return;
        }
        promises.push((from, accepted));
        if promises.len() < quorum {
            return;
        }
        // PMS §2.2 P2c: propose the value of the highest-numbered proposal
        // any promiser accepted, or our own if none did.
        let ballot = *mine;
        let reported = promises.iter().filter_map(|(_, a)| a.as_ref()).max_by_key(|(b, _)| *b).map(|(_, v)| v.clone());
        let Some(value) = reported.or_else(|| self.value.clone()) else {
            // A learning round found nothing accepted: nothing to choose yet.
            self.back_off(now);
            return;
        };
        self.phase = Phase::Accepting { ballot, value: value.clone(), accepted: Vec::new() };
        self.deadline = Some(now + self.timing.round_timeout);
        out.extend(self.acceptors.iter().map(|a| (*a, Message::Accept { ballot, value: value.clone() })));
    }

    /// Phase 2b answer; returns the value if it is now chosen.
    pub fn handle_accepted(&mut self, from: NodeId, ballot: Ballot) -> Option<Bytes> {
        let quorum = self.quorum();
        let Phase::Accepting { ballot: mine, value, accepted } = &mut self.phase else { return None };
        if ballot != *mine || accepted.contains(&from) {
            return None;
        }
        accepted.push(from);
        if accepted.len() < quorum {
            return None;
        }
        let value = value.clone();
        self.learn(value.clone());
        Some(value)
    }

    /// A refusal: retry above `promised` after a backoff (PTP §2.2: a
    /// priest who learns of a higher ballot abandons his own).
    pub fn handle_nack(&mut self, now: Instant, ballot: Ballot, promised: Ballot) {
        self.observe(promised);
        let current = match &self.phase {
            Phase::Preparing { ballot: b, .. } | Phase::Accepting { ballot: b, .. } => *b,
            Phase::Idle | Phase::Backoff => return,
        };
        if ballot == current && promised > current {
            self.back_off(now);
        }
    }

    /// Time passed: an attempt without a quorum is abandoned, a backoff
    /// that ran out starts the next ballot.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<(NodeId, Message)>) {
        let Some(deadline) = self.deadline else { return };
        if now < deadline {
            return;
        }
        match self.phase {
            Phase::Idle => self.deadline = None,
            // Only a started, unfinished proposer backs off: `learn`
            // leaves every phase for `Idle`, so a back-off always retries.
            Phase::Backoff => self.prepare(now, out),
            Phase::Preparing { .. } | Phase::Accepting { .. } => self.back_off(now),
        }
    }

    /// The value is chosen: stop for good.
    pub fn learn(&mut self, value: Bytes) {
        self.chosen = Some(value);
        self.phase = Phase::Idle;
        self.deadline = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn timing() -> Timing {
        Timing {
            round_timeout: Duration::from_millis(100),
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(200),
        }
    }

    fn proposer(id: u64) -> Proposer {
        Proposer::new(NodeId(id), vec![NodeId(1), NodeId(2), NodeId(3)], Ballot::ZERO, timing(), id)
    }

    fn ballot_of(out: &[(NodeId, Message)]) -> Ballot {
        match &out[0].1 {
            Message::Prepare { ballot } | Message::Accept { ballot, .. } => *ballot,
            m => panic!("unexpected {m:?}"),
        }
    }

    #[test]
    fn the_highest_accepted_value_wins_over_our_own() {
        let mut p = proposer(1);
        let mut out = Vec::new();
        p.start(Instant::ZERO, Some(Bytes::from_static(b"mine")), &mut out);
        let b = ballot_of(&out);
        assert_eq!(out.len(), 3);
        out.clear();
        let old = Ballot::new(1, NodeId(0));
        let older = Ballot::new(0, NodeId(2));
        p.handle_promise(Instant::ZERO, NodeId(2), b, Some((older, Bytes::from_static(b"older"))), &mut out);
        p.handle_promise(Instant::ZERO, NodeId(2), b, None, &mut out);
        assert!(out.is_empty(), "a duplicate promise does not make a quorum");
        p.handle_promise(Instant::ZERO, NodeId(3), b, Some((old, Bytes::from_static(b"old"))), &mut out);
        assert_eq!(out[0].1, Message::Accept { ballot: b, value: Bytes::from_static(b"old") });
        assert_eq!(p.handle_accepted(NodeId(1), b), None);
        assert_eq!(p.handle_accepted(NodeId(1), b), None, "one acceptor counts once");
        assert_eq!(p.handle_accepted(NodeId(3), b), Some(Bytes::from_static(b"old")));
        assert_eq!(p.phase(), &Phase::Idle);
    }

    #[test]
    fn a_nack_backs_off_then_retries_above_the_promised_ballot() {
        let mut p = proposer(1);
        let mut out = Vec::new();
        p.start(Instant::ZERO, Some(Bytes::from_static(b"v")), &mut out);
        let b = ballot_of(&out);
        out.clear();
        let high = Ballot::new(9, NodeId(3));
        p.handle_nack(Instant::ZERO, Ballot::new(1, NodeId(3)), high);
        assert!(matches!(p.phase(), Phase::Preparing { .. }), "a nack for another ballot is ignored");
        p.handle_nack(Instant::ZERO, b, high);
        assert_eq!(p.phase(), &Phase::Backoff);
        let at = p.poll_timeout().unwrap();
        assert!(at >= Instant::ZERO + timing().backoff);
        p.handle_timeout(at, &mut out);
        let retry = ballot_of(&out);
        assert!(retry > high && retry.node == NodeId(1));
    }

    #[test]
    fn learning_the_value_during_a_back_off_stops_the_proposer_for_good() {
        let mut p = proposer(1);
        let mut out = Vec::new();
        p.start(Instant::ZERO, Some(Bytes::from_static(b"v")), &mut out);
        let b = ballot_of(&out);
        out.clear();
        p.handle_nack(Instant::ZERO, b, Ballot::new(9, NodeId(3)));
        assert_eq!(p.phase(), &Phase::Backoff);
        let at = p.poll_timeout().unwrap();
        p.learn(Bytes::from_static(b"theirs"));
        assert_eq!(p.poll_timeout(), None, "nothing left to wait for");
        p.handle_timeout(at, &mut out);
        p.start(at, Some(Bytes::from_static(b"again")), &mut out);
        assert!(out.is_empty(), "a proposer that knows the chosen value sends nothing: {out:?}");
        assert_eq!(p.phase(), &Phase::Idle);
    }

    #[test]
    fn an_unanswered_round_is_abandoned_and_backoffs_grow_but_stay_bounded() {
        let mut p = proposer(2);
        let mut out = Vec::new();
        let mut now = Instant::ZERO;
        p.start(now, Some(Bytes::new()), &mut out);
        let mut last = Ballot::ZERO;
        for _ in 0..40 {
            now = p.poll_timeout().unwrap();
            p.handle_timeout(now, &mut out);
            if let Phase::Preparing { ballot, .. } = p.phase() {
                assert!(*ballot > last, "ballots only grow");
                last = *ballot;
            }
        }
        p.handle_timeout(now, &mut out);
        let deadline = p.poll_timeout().unwrap();
        assert!(deadline - now <= timing().max_backoff + timing().backoff + timing().round_timeout);
    }

    #[test]
    fn five_acceptors_need_three_promises_and_early_timeouts_change_nothing() {
        let five: Vec<NodeId> = (1..=5).map(NodeId).collect();
        let mut p = Proposer::new(NodeId(1), five, Ballot::new(4, NodeId(9)), timing(), 1);
        assert_eq!(p.floor(), Ballot::new(4, NodeId(9)));
        let mut out = Vec::new();
        p.start(Instant::ZERO, Some(Bytes::from_static(b"v")), &mut out);
        assert_eq!(p.value(), Some(&Bytes::from_static(b"v")));
        let b = ballot_of(&out);
        assert_eq!(p.floor(), b);
        out.clear();
        p.handle_timeout(Instant::ZERO + Duration::from_millis(1), &mut out);
        assert!(matches!(p.phase(), Phase::Preparing { .. }), "an early call is harmless");
        p.handle_promise(Instant::ZERO, NodeId(2), b, None, &mut out);
        p.handle_promise(Instant::ZERO, NodeId(3), b, None, &mut out);
        assert!(out.is_empty(), "two of five");
        p.handle_nack(Instant::ZERO, b, b);
        assert!(matches!(p.phase(), Phase::Preparing { .. }), "a nack must name a higher ballot");
        p.handle_promise(Instant::ZERO, NodeId(4), b, None, &mut out);
        assert_eq!(out.len(), 5, "accepts to all five");
    }

    #[test]
    fn backoffs_grow_with_failed_attempts() {
        let longest = |attempts: u32| {
            (0..32u64)
                .map(|seed| {
                    let mut p = Proposer::new(NodeId(1), vec![NodeId(1)], Ballot::ZERO, timing(), seed);
                    p.attempts = attempts;
                    p.back_off(Instant::ZERO);
                    p.poll_timeout().unwrap() - Instant::ZERO
                })
                .max()
                .unwrap()
        };
        assert!(longest(0) < timing().backoff * 3);
        assert!(longest(3) > timing().backoff * 5, "the range doubles per attempt");
        assert!(longest(30) < timing().max_backoff + timing().backoff, "up to the cap");
    }

    #[test]
    fn a_learning_round_that_finds_nothing_backs_off() {
        let mut p = proposer(1);
        let mut out = Vec::new();
        p.start(Instant::ZERO, None, &mut out);
        let b = ballot_of(&out);
        out.clear();
        p.handle_promise(Instant::ZERO, NodeId(1), b, None, &mut out);
        p.handle_promise(Instant::ZERO, NodeId(2), b, None, &mut out);
        assert!(out.is_empty(), "nothing to propose");
        assert_eq!(p.phase(), &Phase::Backoff);
    }
}
