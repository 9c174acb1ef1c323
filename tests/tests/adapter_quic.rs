//! The shared scenario suite over QUIC (quinn, mutual TLS) on tokio.

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use synod_core::id::NodeId;
use synod_net::runtime::Runtime;
use synod_net::store::{LogStore, MemStore};
use synod_quic::certs::{self, Ca};
use synod_quic::{QuicConfig, QuicTransport};
use synod_tests::scenarios::{self, Deploy, Wired};
use synod_tokio::TokioRuntime;

struct Quic {
    rt: Arc<TokioRuntime>,
    ca: Ca,
    stores: Mutex<BTreeMap<NodeId, MemStore>>,
}

#[async_trait]
impl Deploy for Quic {
    fn name(&self) -> &'static str {
        "quic"
    }

    fn runtime(&self) -> Arc<dyn Runtime> {
        self.rt.clone()
    }

    async fn reserve(&self, port: u16) -> std::io::Result<(Box<dyn core::any::Any + Send>, String)> {
        let socket = std::net::UdpSocket::bind(("127.0.0.1", port))?;
        let addr = socket.local_addr()?;
        Ok((Box::new(socket), addr.to_string()))
    }

    fn wire(&self, id: NodeId, peers: BTreeMap<NodeId, String>, ep: Box<dyn core::any::Any + Send>) -> Wired {
        let socket = *ep.downcast::<std::net::UdpSocket>().expect("a UDP socket");
        let mut cfg = QuicConfig::new(id, "scenario", peers);
        cfg.backoff_max = synod_core::time::Duration::from_millis(200);
        let node = self.ca.issue_node(id).expect("node certificate");
        let t = QuicTransport::start(cfg, &node, socket).expect("QUIC transport starts");
        let blocker = t.clone();
        Wired { transport: t, block: Box::new(move |peers| blocker.block(peers)) }
    }

    fn store(&self, id: NodeId) -> Box<dyn LogStore> {
        let mut s = self.stores.lock().unwrap();
        Box::new(s.entry(id).or_default().clone())
    }
}

#[test]
fn scenarios_over_quic() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let ca = certs::new_cluster_ca("scenario").expect("cluster CA");
        let d = Quic { rt: TokioRuntime::current(), ca, stores: Mutex::new(BTreeMap::new()) };
        scenarios::run_all(&d).await;
    });
}
