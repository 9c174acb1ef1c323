//! A bare-metal-style consumer of synod-core: no std, its own allocator
//! and panic handler. Building it proves the core and all its
//! dependencies are `no_std`.
#![no_std]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicUsize, Ordering};

use synod_core::id::LogIndex;
use synod_core::id::NodeId;
use synod_core::raft::{Config, Raft};
use synod_core::replica::{Membership, Output, Recovered, Replica};
use synod_core::service::{self, Command, Op, Service, Store};
use synod_core::solo::Solo;
use synod_core::time::Instant;

const ARENA: usize = 1 << 20;

/// A bump allocator over a static arena, as an embedded target might use.
struct Bump {
    arena: UnsafeCell<[u8; ARENA]>,
    next: AtomicUsize,
}

// SAFETY: allocation only hands out disjoint ranges, claimed atomically.
unsafe impl Sync for Bump {}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut cur = self.next.load(Ordering::Relaxed);
        loop {
            let start = (cur + layout.align() - 1) & !(layout.align() - 1);
            let end = start + layout.size();
            if end > ARENA {
                return core::ptr::null_mut();
            }
            match self.next.compare_exchange(cur, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return unsafe { (self.arena.get() as *mut u8).add(start) },
                Err(actual) => cur = actual,
            }
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOC: Bump = Bump { arena: UnsafeCell::new([0; ARENA]), next: AtomicUsize::new(0) };

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

/// Drives a one-node Raft and a Solo log through a proposal; returns the
/// number of committed entries seen (for a C caller).
#[unsafe(no_mangle)]
pub extern "C" fn synod_smoke() -> usize {
    let voters = match Membership::voters_only([NodeId(1)]) {
        Ok(m) => m,
        Err(_) => return 0,
    };
    let Ok(mut raft) = Raft::new(Config::new(NodeId(1), 1), Instant::ZERO, Recovered::default(), voters) else {
        return 0;
    };
    let Ok(mut solo) = Solo::new(NodeId(1), Recovered::default()) else { return 0 };
    let mut out = Output::default();
    let mut committed = 0;
    let mut now = Instant::ZERO;
    for _ in 0..10 {
        now = now.saturating_add(core::time::Duration::from_secs(1));
        raft.handle_timeout(now);
        let _ = raft.propose(now, bytes::Bytes::from_static(b"x"));
        let _ = solo.propose(now, bytes::Bytes::from_static(b"y"));
        for r in [&mut raft as &mut dyn Replica, &mut solo] {
            r.poll_output(&mut out);
            if let Some(p) = out.persist.take() {
                r.handle_persisted(now, p.id);
            }
            committed += out.committed.len();
            out.clear();
        }
    }
    committed
}

/// Runs the replicated store through a lease, a lock, ticks and a snapshot
/// restore; returns 1 if the lock went with the lease (for a C caller).
#[unsafe(no_mangle)]
pub extern "C" fn synod_store_smoke() -> usize {
    let mut store = Store::new(service::Config::default());
    let mut index = 0;
    let mut apply = |store: &mut Store, cmd: bytes::Bytes| {
        index += 1;
        store.apply(LogIndex(index), &cmd)
    };
    let ttl = core::time::Duration::from_secs(1);
    apply(&mut store, Command::new(Op::LeaseGrant { ttl }).encode());
    let lease = synod_core::lease::LeaseId(1);
    apply(&mut store, Command::new(Op::Acquire { lock: bytes::Bytes::from_static(b"L"), lease }).encode());
    let mut restored = Store::new(service::Config::default());
    if restored.restore(&store.snapshot()).is_err() {
        return 0;
    }
    for s in 1..=3 {
        apply(&mut restored, Store::tick(Instant::from_millis(s * 1_000)));
    }
    usize::from(restored.locks().is_empty() && !store.locks().is_empty())
}

/// Places a key with every hash, runs a balancer and a phi detector: the
/// float maths (libm) and the key hash (xxh3) must link without std.
#[unsafe(no_mangle)]
pub extern "C" fn synod_placement_smoke() -> u64 {
    use synod_core::balance::{Balancer, Outcome, PeakEwma, PeakEwmaConfig};
    use synod_core::detect::{PhiAccrual, PhiConfig};
    use synod_core::hash::{Locate, Maglev, Rendezvous, Ring};
    let nodes = [NodeId(1), NodeId(2), NodeId(3)];
    let weighted = [(NodeId(1), 1), (NodeId(2), 2), (NodeId(3), 3)];
    let (Ok(ring), Ok(hrw), Ok(maglev)) =
        (Ring::new(&weighted, 10), Rendezvous::new(&weighted), Maglev::new(&nodes, 13))
    else {
        return 0;
    };
    let mut sum = ring.locate(b"k").get() + hrw.locate(b"k").get() + maglev.locate(b"k").get();
    let Ok(mut lb) = PeakEwma::new(&nodes, PeakEwmaConfig::default(), Instant::ZERO) else { return 0 };
    let mut rng = synod_core::rand::Rng::with_seed(1);
    if let Some(n) = lb.pick(Instant::ZERO, &mut rng) {
        lb.report(n, Instant::from_millis(3), Outcome::success(core::time::Duration::from_millis(3)));
        sum += n.get();
    }
    let Ok(mut phi) = PhiAccrual::new(PhiConfig::default()) else { return 0 };
    phi.heartbeat(Instant::ZERO);
    sum + u64::from(phi.is_available(Instant::from_millis(500)))
}

/// Decides a value with a one-node single-decree Paxos and runs a one-node
/// Multi-Paxos through a proposal; returns 1 if both decided (for a C caller).
#[unsafe(no_mangle)]
pub extern "C" fn synod_paxos_smoke() -> usize {
    use synod_core::paxos::{multi, single};
    let cfg = single::Config::new(NodeId(1), alloc::vec![NodeId(1)], 7);
    let Ok(mut decree) = single::Decree::new(cfg, Instant::ZERO, single::Durable::default()) else { return 0 };
    if decree.propose(Instant::ZERO, bytes::Bytes::from_static(b"v")).is_err() {
        return 0;
    }
    let mut out = single::Output::default();
    for _ in 0..4 {
        decree.poll_output(&mut out);
        if let Some(w) = out.write.take() {
            decree.handle_persisted(Instant::ZERO, w.id);
        }
        out.messages.clear();
    }
    let Ok(voters) = Membership::voters_only([NodeId(1)]) else { return 0 };
    let Ok(mut px) =
        multi::MultiPaxos::new(multi::Config::new(NodeId(1), 1), Instant::ZERO, Recovered::default(), voters)
    else {
        return 0;
    };
    let mut out = Output::default();
    let mut committed = 0;
    let mut now = Instant::ZERO;
    for _ in 0..10 {
        now = now.saturating_add(core::time::Duration::from_secs(1));
        px.handle_timeout(now);
        let _ = px.propose(now, bytes::Bytes::from_static(b"x"));
        px.poll_output(&mut out);
        if let Some(p) = out.persist.take() {
            px.handle_persisted(now, p.id);
        }
        committed += out.committed.len();
        out.clear();
    }
    usize::from(decree.chosen().is_some() && committed > 0)
}
