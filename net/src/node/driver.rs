//! The driver: I/O around a [`Machine`]. It feeds the machine what
//! arrives (frames, client commands, storage reports, the time) and
//! carries out what the machine asks (writes, frames, replies). Every
//! decision is the machine's.

use super::machine::{Machine, NodeOutput};
use super::requests::Ticket;
use super::storage::{Job, Report};
use super::{Life, NodeStatus};
use crate::client::{ClientError, ClientReply, Refusal, RequestOp};
use crate::codec::Frame;
use crate::runtime::Runtime;
use crate::transport::Transport;
use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::future::{Fuse, FusedFuture};
use futures::{FutureExt, StreamExt, pin_mut, select_biased};
use std::collections::HashMap;
use std::sync::Arc;
use synod_core::replica::{Event, LogReadError, LogReadFailed};
use synod_core::service::Service;
use synod_core::time::Duration;

/// What handles send the driver.
pub(crate) enum Command {
    Propose(Bytes, oneshot::Sender<Result<Bytes, ClientError>>),
    Query(Bytes, oneshot::Sender<Result<Bytes, ClientError>>),
    /// A linearizable query served from this node's own state.
    FollowerQuery(Bytes, oneshot::Sender<Result<Bytes, ClientError>>),
    /// A backup of the service, consistent as a linearizable read.
    Backup(oneshot::Sender<Result<Bytes, ClientError>>),
    Status(oneshot::Sender<NodeStatus>),
    /// A membership step or a leadership transfer.
    Request(RequestOp, oneshot::Sender<Result<Bytes, ClientError>>),
    Shutdown(oneshot::Sender<()>),
}

/// Inputs handled per wake-up before outputs are carried out, so that
/// many proposals share one append and one sync without starving timers.
const BATCH: usize = 512;

/// The driver wakes at least this often, so a stuck timer cannot wedge
/// the node.
const MAX_SLEEP: Duration = Duration::from_secs(1);

pub(super) struct Driver {
    machine: Machine<Box<dyn Service + Send>>,
    transport: Arc<dyn Transport>,
    runtime: Arc<dyn Runtime>,
    jobs: mpsc::UnboundedSender<Job>,
    /// Where each local request's answer goes.
    waiting: HashMap<Ticket, oneshot::Sender<Result<Bytes, ClientError>>>,
    next_ticket: u64,
    out: NodeOutput,
    stopping: Option<oneshot::Sender<()>>,
    life: Arc<Life>,
    /// The node was to follow the configuration with its transport's
    /// peers, and the transport cannot: membership steps are refused, as
    /// the node could not reach the members they add.
    peers_fixed: bool,
}

impl Driver {
    pub fn new(
        machine: Machine<Box<dyn Service + Send>>,
        transport: Arc<dyn Transport>,
        runtime: Arc<dyn Runtime>,
        jobs: mpsc::UnboundedSender<Job>,
        life: Arc<Life>,
    ) -> Self {
        Driver {
            machine,
            transport,
            runtime,
            jobs,
            waiting: HashMap::new(),
            next_ticket: 0,
            out: NodeOutput::default(),
            stopping: None,
            life,
            peers_fixed: false,
        }
    }

    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>, mut acks: mpsc::UnboundedReceiver<Report>) {
        let transport = self.transport.clone();
        let inbound = Fuse::terminated();
        pin_mut!(inbound);
        let lost = Fuse::terminated();
        pin_mut!(lost);
        let mut notices = true; // until the transport says it has no more
        self.carry_out();
        while self.stopping.is_none() && self.machine.failure().is_none() {
            if inbound.is_terminated() {
                inbound.set(transport.recv().fuse());
            }
            if notices && lost.is_terminated() {
                lost.set(transport.lost().fuse());
            }
            let now = self.runtime.now();
            let deadline = self.machine.poll_timeout().map_or(now + MAX_SLEEP, |t| t.min(now + MAX_SLEEP));
            let mut timer = self.runtime.sleep_until(deadline).fuse();
            select_biased! {
                ack = acks.next() => self.on_report(ack),
                frame = inbound => match frame {
                    Some((from, frame)) => self.machine.handle_frame(self.runtime.now(), from, frame),
                    None => break,
                },
                peer = lost => match peer {
                    Some(peer) => self.machine.handle_unreachable(self.runtime.now(), peer),
                    None => notices = false,
                },
                cmd = commands.next() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                _ = timer => {}
            }
            // Take whatever else is ready before carrying out, to batch.
            for _ in 0..BATCH {
                let mut progressed = false;
                if let Ok(ack) = acks.try_recv() {
                    self.on_report(Some(ack));
                    progressed = true;
                }
                if let Ok(cmd) = commands.try_recv() {
                    self.on_command(cmd);
                    progressed = true;
                }
                if !inbound.is_terminated()
                    && let Some(frame) = (&mut inbound).now_or_never()
                {
                    match frame {
                        Some((from, frame)) => self.machine.handle_frame(self.runtime.now(), from, frame),
                        None => break,
                    }
                    inbound.set(transport.recv().fuse());
                    progressed = true;
                }
                if !progressed || self.stopping.is_some() {
                    break;
                }
            }
            self.machine.handle_timeout(self.runtime.now());
            self.carry_out();
        }
        self.shut_down();
    }

    fn on_report(&mut self, report: Option<Report>) {
        match report {
            Some(Report::Durable { id, usage }) => self.machine.handle_persisted(self.runtime.now(), id, usage),
            Some(Report::Read { read, result }) => {
                let now = self.runtime.now();
                let result = result.map_err(|e| {
                    tracing::warn!(node = %self.machine.id(), from = read.from.0, error = %e,
                        "storage could not read entries back for a lagging peer; it will be probed again");
                    LogReadFailed
                });
                if let Err(e) = self.machine.handle_log_read(now, read, result)
                    && e != LogReadError::Failed
                {
                    tracing::warn!(node = %self.machine.id(), from = read.from.0, error = %e,
                        "entries read back from storage were refused");
                }
            }
            Some(Report::Exhausted(e)) => self.machine.handle_disk_full(e),
            Some(Report::Failed(e)) => self.machine.handle_storage_failed(e),
            None => self.machine.fail("storage task ended".into()),
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = self.runtime.now();
        match cmd {
            Command::Propose(c, tx) => {
                let ticket = self.ticket(tx);
                self.machine.handle_propose(now, ticket, c);
            }
            Command::Query(q, tx) => {
                let ticket = self.ticket(tx);
                self.machine.handle_query(now, ticket, q);
            }
            Command::FollowerQuery(q, tx) => {
                let ticket = self.ticket(tx);
                self.machine.handle_follower_query(now, ticket, q);
            }
            Command::Backup(tx) => {
                let ticket = self.ticket(tx);
                self.machine.handle_backup(now, ticket);
            }
            Command::Status(tx) => {
                let mut status = self.machine.status();
                status.traffic = self.transport.traffic();
                let _ = tx.send(status);
            }
            Command::Request(RequestOp::Member(_), tx) if self.peers_fixed => {
                let _ = tx.send(Err(ClientError::Refused(Refusal::Unsupported)));
            }
            Command::Request(op, tx) => {
                let ticket = self.ticket(tx);
                self.machine.handle_request(now, ticket, op);
            }
            Command::Shutdown(tx) => self.stopping = Some(tx),
        }
    }

    fn ticket(&mut self, tx: oneshot::Sender<Result<Bytes, ClientError>>) -> Ticket {
        self.next_ticket += 1;
        let t = Ticket(self.next_ticket);
        self.waiting.insert(t, tx);
        t
    }

    /// Carries out everything the machine asks, until it asks nothing.
    fn carry_out(&mut self) {
        let mut out = core::mem::take(&mut self.out);
        loop {
            self.machine.poll_output(&mut out);
            if out.is_empty() {
                break;
            }
            for p in out.persist.drain(..) {
                if self.jobs.unbounded_send(Job::Persist(p)).is_err() {
                    self.machine.fail("storage task ended".into());
                }
            }
            for read in out.log_reads.drain(..) {
                if self.jobs.unbounded_send(Job::Read(read)).is_err() {
                    self.machine.fail("storage task ended".into());
                }
            }
            let mut unreachable = Vec::new();
            for (to, frame) in out.frames.drain(..) {
                let request = matches!(frame, Frame::Request(_));
                // A full queue drops the message: consensus retransmits,
                // and a reply's requester times out. A request that could
                // not go out is taken back at once.
                if self.transport.send(to, frame).is_err() && request {
                    unreachable.push(to);
                }
            }
            for to in unreachable {
                self.machine.handle_unreachable(self.runtime.now(), to);
            }
            self.complete(&mut out);
            if let Some(peers) = out.peers.take()
                && let Err(e) = self.transport.set_peers(&peers)
            {
                if !self.peers_fixed {
                    tracing::warn!(node = %self.machine.id(), error = %e,
                        "the transport's peers are fixed: membership steps will be refused");
                }
                self.peers_fixed = true;
            }
            for ev in out.events.drain(..) {
                if let Event::RoleChanged { role, term, leader } = ev {
                    tracing::debug!(node = %self.machine.id(), ?role, ?term, ?leader, "role changed");
                }
            }
            out.notes.clear();
        }
        self.out = out;
    }

    fn complete(&mut self, out: &mut NodeOutput) {
        for (ticket, result) in out.replies.drain(..) {
            if let Some(tx) = self.waiting.remove(&ticket) {
                let _ = tx.send(result); // the caller may have given up
            }
        }
    }

    fn shut_down(&mut self) {
        let mut out = core::mem::take(&mut self.out);
        self.machine.shut_down(&mut out);
        for (to, frame) in out.frames.drain(..) {
            if let Frame::Reply(ClientReply { .. }) = frame {
                let _ = self.transport.send(to, frame);
            }
        }
        self.complete(&mut out);
        for (_, tx) in self.waiting.drain() {
            let _ = tx.send(Err(ClientError::ShuttingDown));
        }
        self.transport.close();
        self.life.stop(self.machine.failure().map(str::to_owned));
        if let Some(tx) = self.stopping.take() {
            let _ = tx.send(());
        }
    }
}
