//! synod as a [`Target`]: the nemesis harness's cluster of real
//! `synod node` processes behind proxies, and its RESP clients.

use super::Target;
use super::writers::Session;
use crate::history::{Key, Op, Outcome, Value};
use crate::nemesis::{self, clients, cluster::Cluster, cluster::Setup};
use core::net::SocketAddr;
use core::time::Duration;

/// The Raft election timeout `synod node` runs with: `cli/src/assemble.rs`
/// sets it (500 ms; followers wait a random time in [1, 2) of it).
pub const RAFT_ELECTION_TIMEOUT: Duration = Duration::from_millis(500);

/// A cluster of `synod node` processes.
pub struct Synod {
    cluster: Cluster,
    protocol: String,
}

impl Synod {
    /// Prepares the cluster (ports, proxies, certificates); starts nothing.
    pub fn new(setup: Setup) -> Result<Synod, String> {
        let protocol = setup.protocol.clone();
        Ok(Synod { cluster: Cluster::new(setup)?, protocol })
    }
}

impl Target for Synod {
    fn name(&self) -> String {
        format!("synod ({})", self.protocol)
    }

    fn members(&self) -> u64 {
        self.cluster.len()
    }

    fn election_timeout(&self) -> Duration {
        // Multi-Paxos runs on the core's defaults (`cli/src/assemble.rs`).
        match self.protocol.as_str() {
            "multi-paxos" => synod_core::paxos::multi::Config::new(synod_core::id::NodeId(1), 0).election_timeout,
            _ => RAFT_ELECTION_TIMEOUT,
        }
    }

    fn increments(&self) -> bool {
        true
    }

    fn start(&mut self, i: u64) -> Result<(), String> {
        self.cluster.start(i)
    }

    fn kill(&mut self, i: u64) {
        self.cluster.kill(i);
    }

    fn pause(&mut self, i: u64, paused: bool) {
        self.cluster.pause(i, paused);
        if paused && let Some(pid) = self.cluster.pid(i) {
            super::wait_stopped(pid);
        }
    }

    fn leader(&self) -> Option<u64> {
        nemesis::leader(&self.cluster)
    }

    fn session(&self, node: u64, timeout: Duration) -> Box<dyn Session> {
        Box::new(Resp { addr: self.cluster.resp(node), timeout, conn: None })
    }

    fn read(&self, key: Key) -> Result<Option<Value>, String> {
        nemesis::read_back(&self.cluster, &format!("k{key}"))
    }
}

/// A RESP connection to one node, reopened after any error.
struct Resp {
    addr: SocketAddr,
    timeout: Duration,
    conn: Option<redis::Connection>,
}

impl Session for Resp {
    fn execute(&mut self, op: &Op) -> Outcome {
        if self.conn.is_none() {
            self.conn = clients::connect_with(self.addr, self.timeout);
        }
        let Some(conn) = self.conn.as_mut() else { return Outcome::Failed };
        match clients::execute(conn, &mut op.clone()) {
            Ok(ret) => Outcome::Ok(ret),
            Err(e) => {
                self.conn = None;
                clients::outcome_of_error(&e)
            }
        }
    }
}
