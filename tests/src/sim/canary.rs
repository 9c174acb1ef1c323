//! Deliberately broken replicas that the simulator must catch: the
//! checker's own teeth are tested (STYLE habit 10). Never used outside
//! test campaigns.

use bytes::Bytes;
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::replica::{
    CompactError, MembershipChange, Message, MessageError, Output, PeerStatus, PersistId, Proposal, ProposeError,
    ReadError, ReadId, Replica, Status, TransferError,
};
use synod_core::time::Instant;

/// Tells the replica its writes are durable the moment they are handed
/// out, before the disk has synced them — the classic "ack before fsync"
/// bug. A crash then loses writes the cluster counted on.
pub struct EagerAck(pub Box<dyn Replica + Send>);

impl Replica for EagerAck {
    fn id(&self) -> NodeId {
        self.0.id()
    }
    fn propose(&mut self, now: Instant, data: Bytes) -> Result<Proposal, ProposeError> {
        self.0.propose(now, data)
    }
    fn read(&mut self, now: Instant, id: ReadId) -> Result<(), ReadError> {
        self.0.read(now, id)
    }
    fn handle_message(&mut self, now: Instant, from: NodeId, msg: Message) -> Result<(), MessageError> {
        self.0.handle_message(now, from, msg)
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn poll_output(&mut self, out: &mut Output) {
        self.0.poll_output(out);
        if let Some(p) = &out.persist {
            // The lie: "durable" before the caller has even written it.
            self.0.handle_persisted(Instant::ZERO, p.id);
        }
    }
    fn has_output(&self) -> bool {
        self.0.has_output()
    }
    fn handle_persisted(&mut self, now: Instant, id: PersistId) {
        self.0.handle_persisted(now, id)
    }
    fn compact(&mut self, now: Instant, index: LogIndex, data: Bytes) -> Result<(), CompactError> {
        self.0.compact(now, index, data)
    }
    fn change_membership(&mut self, now: Instant, change: MembershipChange) -> Result<Proposal, ProposeError> {
        self.0.change_membership(now, change)
    }
    fn transfer_leader(&mut self, now: Instant, to: NodeId) -> Result<(), TransferError> {
        self.0.transfer_leader(now, to)
    }
    fn status(&self) -> Status {
        self.0.status()
    }
    fn peer_status(&self, out: &mut Vec<PeerStatus>) {
        self.0.peer_status(out)
    }
    fn entry_term(&self, index: LogIndex) -> Option<Term> {
        self.0.entry_term(index)
    }
    fn entry(&self, index: LogIndex) -> Option<synod_core::replica::Entry> {
        self.0.entry(index)
    }
}
