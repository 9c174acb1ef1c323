//! Client handles: futures that resolve when a command is applied (or a
//! query answered), or fail with a typed error.

use super::driver::Command;
use super::{Life, NodeStatus};
use crate::client::{ClientError, RequestOp};
use crate::runtime::Runtime;
use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::future::{Either, select};
use std::sync::Arc;
use synod_core::id::NodeId;
use synod_core::replica::MemberStep;
use synod_core::time::Duration;

/// A handle to a running node; cheap to clone and share.
#[derive(Clone)]
pub struct NodeHandle {
    id: NodeId,
    tx: mpsc::Sender<Command>,
    runtime: Arc<dyn Runtime>,
    timeout: Duration,
    life: Arc<Life>,
}

impl core::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NodeHandle").field("id", &self.id).finish_non_exhaustive()
    }
}

impl NodeHandle {
    pub(super) fn new(
        id: NodeId,
        tx: mpsc::Sender<Command>,
        runtime: Arc<dyn Runtime>,
        timeout: Duration,
        life: Arc<Life>,
    ) -> Self {
        NodeHandle { id, tx, runtime, timeout, life }
    }

    /// Why the node stopped, if a fatal error stopped it (storage failed
    /// for good, or a snapshot would not restore). A stopped node answers
    /// nothing; its front end should say why, and its process should exit
    /// so a supervisor restarts it.
    pub fn failure(&self) -> Option<String> {
        self.life.failure()
    }

    /// Completes when the node has stopped, after a fatal error or a
    /// shutdown.
    pub fn stopped(&self) -> crate::signal::Wait {
        self.life.stopped()
    }

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Applies a service command through the log (forwarded to the leader
    /// if need be) and returns the service's reply.
    pub async fn propose(&self, command: Bytes) -> Result<Bytes, ClientError> {
        self.ask(|reply| Command::Propose(command, reply)).await?
    }

    /// Answers a read-only query linearizably.
    pub async fn query(&self, query: Bytes) -> Result<Bytes, ClientError> {
        self.ask(|reply| Command::Query(query, reply)).await?
    }

    /// Answers a read-only query linearizably from this node's own state:
    /// the leader only confirms the index to wait for, so a follower takes
    /// the work of the read off the leader (Raft thesis §6.4).
    pub async fn follower_query(&self, query: Bytes) -> Result<Bytes, ClientError> {
        self.ask(|reply| Command::FollowerQuery(query, reply)).await?
    }

    /// A backup of the service as this node has applied it, once it has
    /// applied everything committed before the call (as a linearizable
    /// read): the bytes of a [`crate::backup`] file, checksummed, naming
    /// the index, term and configuration it covers.
    pub async fn backup(&self) -> Result<Bytes, ClientError> {
        self.ask(Command::Backup).await?
    }

    /// The node's status.
    pub async fn status(&self) -> Result<NodeStatus, ClientError> {
        self.ask(Command::Status).await
    }

    /// Asks the leader (through this node) to hand leadership to `to`;
    /// returns once the leader has started the transfer (thesis §3.10),
    /// which completes within an election timeout or is abandoned.
    pub async fn transfer_leader(&self, to: NodeId) -> Result<(), ClientError> {
        self.ask(|reply| Command::Request(RequestOp::TransferLeader(to), reply)).await?.map(drop)
    }

    /// Takes a membership step (through this node, at the leader);
    /// returns once the new configuration is in force, its joint phase
    /// left. Repeating a step that took effect is harmless.
    pub async fn member_step(&self, step: MemberStep) -> Result<(), ClientError> {
        self.ask(|reply| Command::Request(RequestOp::Member(step), reply)).await?.map(drop)
    }

    /// Stops the node; pending requests fail with `ShuttingDown`.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.clone().try_send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, ClientError> {
        let (tx, rx) = oneshot::channel();
        let mut sender = self.tx.clone();
        match sender.try_send(make(tx)) {
            Ok(()) => {}
            Err(e) if e.is_full() => return Err(ClientError::Busy),
            Err(_) => return Err(ClientError::ShuttingDown),
        }
        let deadline = self.runtime.now() + self.timeout;
        match select(rx, self.runtime.sleep_until(deadline)).await {
            Either::Left((Ok(v), _)) => Ok(v),
            Either::Left((Err(_), _)) => Err(ClientError::ShuttingDown),
            Either::Right(_) => Err(ClientError::Timeout),
        }
    }
}
