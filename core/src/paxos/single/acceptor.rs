//! The acceptor: the only role whose memory makes Paxos safe.

use super::message::Message;
use crate::id::Ballot;
use bytes::Bytes;

/// What an acceptor must keep across crashes: "an acceptor must remember
/// this information even if it fails and then restarts" (PMS §2.3).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AcceptorState {
    /// The highest ballot it promised (or accepted in): it ignores lower ones.
    pub promised: Ballot,
    /// The value it accepted last, with the ballot it was accepted in.
    pub accepted: Option<(Ballot, Bytes)>,
}

/// An acceptor's rules (PMS §2.2, phases 1b and 2b). Pure: it answers each
/// request with a reply and may change its [`AcceptorState`]; the caller
/// must make the changed state durable before sending the reply.
#[derive(Clone, Debug, Default)]
pub struct Acceptor {
    state: AcceptorState,
}

impl Acceptor {
    /// An acceptor that recovered `state` from storage.
    pub fn new(state: AcceptorState) -> Self {
        Acceptor { state }
    }

    /// Its state, including changes not yet durable.
    pub fn state(&self) -> &AcceptorState {
        &self.state
    }

    /// Phase 1b: promise never to accept below `ballot`, and report the
    /// last value accepted (PMS §2.2 P1a). Re-promising the current ballot
    /// is idempotent, so a duplicated prepare gets the same answer.
    pub fn handle_prepare(&mut self, ballot: Ballot) -> Message {
        if ballot < self.state.promised {
            return Message::Nack { ballot, promised: self.state.promised };
        }
        self.state.promised = ballot;
        Message::Promise { ballot, accepted: self.state.accepted.clone() }
    }

    /// Phase 2b: accept unless a higher ballot was promised (PMS §2.2 P1a).
    pub fn handle_accept(&mut self, ballot: Ballot, value: Bytes) -> Message {
        if ballot < self.state.promised {
            return Message::Nack { ballot, promised: self.state.promised };
        }
        self.state.promised = ballot;
        self.state.accepted = Some((ballot, value.clone()));
        Message::Accepted { ballot, value }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeId;

    fn b(round: u64, node: u64) -> Ballot {
        Ballot::new(round, NodeId(node))
    }

    #[test]
    fn promises_report_the_last_accepted_value_and_refuse_lower_ballots() {
        let mut a = Acceptor::default();
        assert_eq!(a.handle_prepare(b(1, 1)), Message::Promise { ballot: b(1, 1), accepted: None });
        let v = Bytes::from_static(b"v");
        assert_eq!(a.handle_accept(b(1, 1), v.clone()), Message::Accepted { ballot: b(1, 1), value: v.clone() });
        assert_eq!(
            a.handle_prepare(b(2, 2)),
            Message::Promise { ballot: b(2, 2), accepted: Some((b(1, 1), v.clone())) }
        );
        assert_eq!(a.handle_prepare(b(1, 3)), Message::Nack { ballot: b(1, 3), promised: b(2, 2) });
        assert_eq!(
            a.handle_accept(b(1, 1), Bytes::from_static(b"w")),
            Message::Nack { ballot: b(1, 1), promised: b(2, 2) }
        );
        assert_eq!(a.state().accepted, Some((b(1, 1), v)), "a refused accept changes nothing");
    }

    #[test]
    fn the_current_ballot_is_re_promised_and_accepted() {
        let mut a = Acceptor::default();
        a.handle_prepare(b(3, 1));
        assert!(matches!(a.handle_prepare(b(3, 1)), Message::Promise { .. }));
        assert!(matches!(a.handle_accept(b(3, 1), Bytes::new()), Message::Accepted { .. }));
        // Accepting in a higher ballot than promised is allowed (it was
        // never promised away) and raises the promise.
        assert!(matches!(a.handle_accept(b(4, 2), Bytes::new()), Message::Accepted { .. }));
        assert_eq!(a.state().promised, b(4, 2));
    }
}
