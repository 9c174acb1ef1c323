//! The shared scenario suite over TCP on smol.

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use synod_core::id::NodeId;
use synod_net::runtime::Runtime;
use synod_net::store::{LogStore, MemStore};
use synod_net::stream::StreamConfig;
use synod_smol::{SmolRuntime, TcpListener};
use synod_tests::scenarios::{self, Deploy, Wired};

struct Smol {
    rt: Arc<SmolRuntime>,
    stores: Mutex<BTreeMap<NodeId, MemStore>>,
}

#[async_trait]
impl Deploy for Smol {
    fn name(&self) -> &'static str {
        "smol"
    }

    fn runtime(&self) -> Arc<dyn Runtime> {
        self.rt.clone()
    }

    async fn reserve(&self, port: u16) -> std::io::Result<(Box<dyn core::any::Any + Send>, String)> {
        let (l, addr) = synod_smol::bind(&format!("127.0.0.1:{port}")).await?;
        Ok((Box::new(l), addr.to_string()))
    }

    fn wire(&self, id: NodeId, peers: BTreeMap<NodeId, String>, ep: Box<dyn core::any::Any + Send>) -> Wired {
        let listener = *ep.downcast::<TcpListener>().expect("a smol listener");
        let mut cfg = StreamConfig::new(id, "scenario", peers);
        cfg.backoff_max = synod_core::time::Duration::from_millis(200);
        let t = synod_smol::tcp_transport(cfg, listener, self.rt.clone());
        let blocker = t.clone();
        Wired { transport: t, block: Box::new(move |peers| blocker.block(peers)) }
    }

    fn store(&self, id: NodeId) -> Box<dyn LogStore> {
        let mut s = self.stores.lock().unwrap();
        Box::new(s.entry(id).or_default().clone())
    }
}

#[test]
fn scenarios_over_smol_tcp() {
    let rt = SmolRuntime::with_threads(2).unwrap();
    let d = Smol { rt, stores: Mutex::new(BTreeMap::new()) };
    smol::block_on(scenarios::run_all(&d));
}
