//! An in-memory network for tests: every endpoint in one process, links
//! that can be cut, bounded queues like a real transport.

use crate::codec::Frame;
use crate::queue::{BoundedQueue, QueueError};
use crate::sync::{Arc, Mutex, lock};
use crate::transport::{LostPeers, SendError, Transport};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use synod_core::id::NodeId;

struct Hub {
    inboxes: BTreeMap<NodeId, BoundedQueue<(NodeId, Frame)>>,
    /// Each endpoint's notices of peers whose connections ended.
    lost: BTreeMap<NodeId, LostPeers>,
    cut: BTreeSet<(NodeId, NodeId)>,
}

/// The network all in-memory endpoints share.
#[derive(Clone)]
pub struct MemNetwork {
    hub: Arc<Mutex<Hub>>,
    cap: usize,
}

impl MemNetwork {
    /// A network whose inboxes hold at most `cap` frames each.
    pub fn new(cap: usize) -> Self {
        MemNetwork {
            hub: Arc::new(Mutex::new(Hub { inboxes: BTreeMap::new(), lost: BTreeMap::new(), cut: BTreeSet::new() })),
            cap,
        }
    }

    /// The endpoint of node `id` (replacing any earlier one, as a restarted
    /// process would).
    pub fn endpoint(&self, id: NodeId) -> MemTransport {
        let inbox = BoundedQueue::new(self.cap);
        let lost = LostPeers::new();
        let old = {
            let mut h = lock(&self.hub);
            if let Some(old) = h.lost.insert(id, lost.clone()) {
                old.close();
            }
            h.inboxes.insert(id, inbox.clone())
        };
        if let Some(old) = old {
            old.close();
            self.connections_ended(id);
        }
        MemTransport { id, net: self.clone(), inbox, lost, buffered: Mutex::new(VecDeque::new()) }
    }

    /// Every peer of `id` sees its connection to `id` end, as when the
    /// process of `id` stops or dies.
    fn connections_ended(&self, id: NodeId) {
        for (peer, lost) in &lock(&self.hub).lost {
            if *peer != id {
                lost.report(id);
            }
        }
    }

    /// Drops everything between `a` and `b`, both ways.
    pub fn cut(&self, a: NodeId, b: NodeId) {
        let mut h = lock(&self.hub);
        h.cut.insert((a, b));
        h.cut.insert((b, a));
    }

    /// Cuts `id` off from everyone.
    pub fn isolate(&self, id: NodeId) {
        let ids: Vec<NodeId> = lock(&self.hub).inboxes.keys().copied().collect();
        for other in ids {
            if other != id {
                self.cut(id, other);
            }
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        lock(&self.hub).cut.clear();
    }
}

/// One node's endpoint.
pub struct MemTransport {
    id: NodeId,
    net: MemNetwork,
    inbox: BoundedQueue<(NodeId, Frame)>,
    lost: LostPeers,
    buffered: Mutex<VecDeque<(NodeId, Frame)>>,
}

#[async_trait]
impl Transport for MemTransport {
    fn send(&self, to: NodeId, frame: Frame) -> Result<(), SendError> {
        let inbox = {
            let h = lock(&self.net.hub);
            if h.cut.contains(&(self.id, to)) {
                return Ok(()); // lost on the wire
            }
            h.inboxes.get(&to).cloned().ok_or(SendError::UnknownPeer(to))?
        };
        match inbox.push((self.id, frame)) {
            Ok(()) | Err(QueueError::Closed) => Ok(()),
            Err(QueueError::Full) => Err(SendError::Busy(to)),
        }
    }

    async fn recv(&self) -> Option<(NodeId, Frame)> {
        loop {
            {
                if let Some(f) = lock(&self.buffered).pop_front() {
                    return Some(f);
                }
            }
            let mut got = Vec::new();
            if !self.inbox.pop_all(&mut got).await {
                return None;
            }
            // A link cut after queueing still loses the frame.
            let cut = lock(&self.net.hub).cut.clone();
            got.retain(|(from, _)| !cut.contains(&(*from, self.id)));
            lock(&self.buffered).extend(got);
        }
    }

    async fn lost(&self) -> Option<NodeId> {
        self.lost.next().await
    }

    /// Every endpoint of the network is reachable by id: addresses mean
    /// nothing here.
    fn set_peers(&self, _peers: &BTreeMap<NodeId, String>) -> Result<(), crate::transport::PeersError> {
        Ok(())
    }

    fn close(&self) {
        self.inbox.close();
        self.lost.close();
        self.net.connections_ended(self.id);
    }
}
