//! The replicated-log interface that every consensus protocol implements.
//!
//! A [`Replica`] is a pure state machine: it never reads a clock, a socket,
//! a file or a global random generator. Its caller (a node driver, the
//! simulator, a test, an embedded event loop) feeds it inputs and carries
//! its outputs out. Raft ([`crate::raft::Raft`]), Multi-Paxos
//! ([`crate::paxos::multi::MultiPaxos`]) and the single-node log
//! ([`crate::solo::Solo`]) implement it; services and drivers are written
//! against the trait and run on any of them unchanged.
//!
//! # Call order
//!
//! 1. Build the replica from what storage recovered ([`Recovered`]).
//! 2. Loop:
//!    - feed inputs as they arrive: [`Replica::handle_message`] for peer
//!      messages, [`Replica::propose`] / [`Replica::read`] for client
//!      commands, and [`Replica::handle_timeout`] once the time given by
//!      [`Replica::poll_timeout`] has passed (calling it early is harmless);
//!    - drain outputs with [`Replica::poll_output`] until it yields an empty
//!      [`Output`], acting on each batch in field order:
//!      1. write `persist` to storage, make it durable, then call
//!         [`Replica::handle_persisted`] with its id — several batches may
//!         share one sync (group commit);
//!      2. send `messages` (they never depend on writes not yet reported
//!         durable — the replica holds such messages back until then);
//!      3. restore the service from `restore`, then apply `committed`;
//!      4. answer `reads` once the service has applied up to their index;
//!      5. read back the entries each of `log_reads` asks for and answer
//!         with [`Replica::handle_log_read`] (only asked for when the
//!         replica keeps a tail of its log in memory: `retained_entries`);
//!    - sleep until the next input or `poll_timeout`.
//!
//! Nothing is lost if the caller crashes at any point: committed entries
//! are only ever handed out once durable here, and every reply that
//! depends on a write waits for that write to be reported.
//!
//! # A drive loop
//!
//! ```
//! use bytes::Bytes;
//! use synod_core::id::{LogIndex, NodeId};
//! use synod_core::replica::{Output, Recovered, Replica, ReadId};
//! use synod_core::solo::Solo;
//! use synod_core::time::Instant;
//!
//! let mut replica = Solo::new(NodeId(1), Recovered::default()).unwrap();
//! let mut stored = Recovered::default(); // stands in for a disk
//! let mut applied = Vec::new();          // stands in for a service
//! let mut out = Output::default();
//! let now = Instant::ZERO;
//!
//! let proposal = replica.propose(now, Bytes::from_static(b"set x 1")).unwrap();
//! replica.read(now, ReadId(7)).unwrap();
//! loop {
//!     replica.poll_output(&mut out);
//!     if out.is_empty() {
//!         break;
//!     }
//!     if let Some(write) = out.persist.take() {
//!         stored.entries.extend(write.entries.iter().cloned());
//!         if let Some(hs) = write.hard_state {
//!             stored.hard_state = hs;
//!         }
//!         // ... fsync here ...
//!         replica.handle_persisted(now, write.id);
//!     }
//!     for env in out.messages.drain(..) {
//!         let _ = env; // a one-node log has no peers
//!     }
//!     for entry in out.committed.drain(..) {
//!         applied.push(entry);
//!     }
//!     for read in out.reads.drain(..) {
//!         assert_eq!(read.result, Ok(LogIndex(0)));
//!     }
//!     out.clear();
//! }
//! assert_eq!(applied.last().map(|e| (e.index, e.term)), Some((proposal.index, proposal.term)));
//! ```

pub(crate) mod durability;
pub(crate) mod engine;
mod entry;
mod error;
pub(crate) mod limits;
pub(crate) mod log;
mod membership;
mod message;
pub(crate) mod outbox;
mod output;
pub(crate) mod progress;
pub(crate) mod read_back;
pub(crate) mod reads;
mod reconfigure;
pub(crate) mod snapshot_transfer;

pub use entry::{Entry, EntryKind, HardState, Persist, PersistId, Recovered, Snapshot, SnapshotMeta};
pub(crate) use entry::{check_recovered, held_range};
pub use error::{
    CompactError, ConfigError, MAX_TERM_JUMP, MessageError, NewError, ProposeError, ReadError, RecoverError,
    TransferError, check_term_jump,
};
pub use membership::{MAX_ADDRESS_LEN, Membership, MembershipChange, MembershipError, VoteResult};
pub use message::Message;
pub use output::{Envelope, Event, Output, PeerStatus, Proposal, ReadId, ReadState, Role, Status};
pub use read_back::{LogRead, LogReadError, LogReadFailed};
pub use reads::ReadMode;
pub use reconfigure::{MemberStep, StepError};
pub use snapshot_transfer::{SnapshotChunk, SnapshotResponse};

use crate::id::{LogIndex, NodeId, Term};
use crate::time::Instant;
use alloc::vec::Vec;
use bytes::Bytes;

/// A replica of a replicated log. See the [module docs](self) for the call
/// order and a drive loop.
///
/// Every method is deterministic in its inputs and the replica's seed.
/// Nothing a peer sends can make it panic; caller mistakes are typed errors.
pub trait Replica {
    /// This replica's node id.
    fn id(&self) -> NodeId;

    /// Proposes a command. On success the entry will be appended at the
    /// returned position; it committed if the entry later handed out at
    /// that index has the returned term (see [`Proposal`] for Multi-Paxos).
    fn propose(&mut self, now: Instant, data: Bytes) -> Result<Proposal, ProposeError>;

    /// Asks for a linearizable read. The answer comes later in
    /// [`Output::reads`] under the same `id`.
    fn read(&mut self, now: Instant, id: ReadId) -> Result<(), ReadError>;

    /// Feeds a message from peer `from`. An error means the message was
    /// ignored; the replica is unchanged and keeps serving.
    fn handle_message(&mut self, now: Instant, from: NodeId, msg: Message) -> Result<(), MessageError>;

    /// Lets time pass: elections, heartbeats, retries, lease expiry.
    fn handle_timeout(&mut self, now: Instant);

    /// When [`Replica::handle_timeout`] must next be called, if ever.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Moves pending outputs into `out` (appending to its vectors).
    fn poll_output(&mut self, out: &mut Output);

    /// True if [`Replica::poll_output`] would yield something.
    fn has_output(&self) -> bool;

    /// Reports that every [`Persist`] up to and including `id` is durable.
    fn handle_persisted(&mut self, now: Instant, id: PersistId);

    /// Answers a [`LogRead`] from [`Output::log_reads`] with the entries
    /// storage read (or [`LogReadFailed`]), passing the request back. An
    /// answer that no longer fits (the peer moved on, leadership changed)
    /// is dropped; an error means the answer was refused (it was not what
    /// was asked for, or does not match this log) and the peer will be
    /// asked for again.
    fn handle_log_read(
        &mut self,
        now: Instant,
        read: LogRead,
        result: Result<Vec<Entry>, LogReadFailed>,
    ) -> Result<(), LogReadError>;

    /// Hands over a snapshot of the service taken after applying `index`;
    /// the log below it is discarded and the snapshot stored.
    ///
    /// **Compaction is what bounds a replica's log**: every entry above
    /// the last snapshot stays in storage until compacted away, and — by
    /// default — in memory too. A caller that never calls this grows
    /// without limit; call it every so many applied entries or bytes (the
    /// `synod` node does, on `--snapshot-every`). With `retained_entries`
    /// set in the protocol's config, memory keeps only a tail and the
    /// caller serves [`LogRead`]s from storage.
    fn compact(&mut self, now: Instant, index: LogIndex, data: Bytes) -> Result<(), CompactError>;

    /// Proposes a change of voters and learners.
    fn change_membership(&mut self, now: Instant, change: MembershipChange) -> Result<Proposal, ProposeError>;

    /// Hands leadership to `to`.
    fn transfer_leader(&mut self, now: Instant, to: NodeId) -> Result<(), TransferError>;

    /// The replica's view of itself.
    fn status(&self) -> Status;

    /// The leader's view of its peers (empty unless leader).
    fn peer_status(&self, out: &mut Vec<PeerStatus>);

    /// The term of the entry at `index`, if its log has it (or it is the
    /// snapshot's last index) — known also for entries no longer held in
    /// memory (`retained_entries`). For invariant checkers.
    fn entry_term(&self, index: LogIndex) -> Option<Term>;

    /// The entry at `index`, if this replica holds it in memory (not
    /// covered by a snapshot, nor dropped to storage under
    /// `retained_entries`). For invariant checkers that compare values,
    /// not terms.
    fn entry(&self, index: LogIndex) -> Option<Entry> {
        let _ = index;
        None
    }
}
