//! Lookup and build times of synod-core's placements, balancers and failure
//! detector next to the peer crates, in one run:
//! `cargo bench -p synod-bench --bench placement -- --warm-up-time 1 --measurement-time 3`.
//!
//! Lookups cycle through 1024 keys from a fixed seed; each iteration is one
//! lookup of a u64 key with each crate's own default key hash (synod: XXH3
//! over the key's 8 bytes; consistent_hash_ring: FNV; maglev: SipHash).

use core::convert::Infallible;
use core::future::Future;
use core::hint::black_box;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use maglev::ConsistentHasher;
use synod_bench::{VNODES, keys, nodes, peers, topology, unit};
use synod_core::balance::{
    Balancer, LeastConnections, Outcome, PeakEwma, PeakEwmaConfig, PowerOfTwo, RoundRobin, SmoothWeighted,
};
use synod_core::detect::{PhiAccrual, PhiConfig};
use synod_core::hash::{BoundedLoad, JumpHash, Locate, Maglev, Rendezvous, Ring, jump_bucket};
use synod_core::id::NodeId;
use synod_core::rand::Rng;
use synod_core::time::Instant;
use tower::Service;
use weighted_rs::Weight;

const N: u64 = 10;

/// Runs `f` on the next of 1024 fixed keys each iteration.
fn cycle(keys: &[u64]) -> impl FnMut() -> u64 + '_ {
    let mut i = 0;
    move || {
        i = (i + 1) & 1023;
        keys[i]
    }
}

fn lookups(c: &mut Criterion) {
    let ks = keys(1024, 1);
    let mut g = c.benchmark_group("lookup");

    let ring = Ring::new(&unit(N), VNODES).unwrap();
    let peer_ring = peers::ring(N);
    let mut k = cycle(&ks);
    g.bench_function("ring 10x160/synod", |b| b.iter(|| ring.locate(&black_box(k()).to_le_bytes())));
    g.bench_function("ring 10x160/consistent_hash_ring", |b| b.iter(|| *peer_ring.get(black_box(k()))));

    let ten = core::num::NonZeroU32::new(N as u32).unwrap();
    g.bench_function("jump 10, key given/synod", |b| b.iter(|| jump_bucket(black_box(k()), ten)));
    g.bench_function("jump 10, key given/jump-consistent-hash", |b| {
        b.iter(|| jump_consistent_hash::hash(black_box(k()), N as usize))
    });
    g.bench_function("jump 10, key given/jumpch", |b| b.iter(|| jumpch::hash(black_box(k()), N as u32)));
    let jump = JumpHash::new(&nodes(N)).unwrap();
    g.bench_function("jump 10, key hashed/synod", |b| b.iter(|| jump.locate(&black_box(k()).to_le_bytes())));

    let maglev = Maglev::new(&nodes(N), 65_537).unwrap();
    let peer_maglev = peers::maglev(N);
    g.bench_function("maglev 10, M=65537/synod", |b| b.iter(|| maglev.locate(&black_box(k()).to_le_bytes())));
    g.bench_function("maglev 10, M=65537/maglev", |b| b.iter(|| *peer_maglev.get(&black_box(k())).unwrap()));

    let hrw = Rendezvous::new(&unit(N)).unwrap();
    let weighted: Vec<(NodeId, u32)> = nodes(N).into_iter().zip(1..).collect();
    let whrw = Rendezvous::new(&weighted).unwrap();
    g.bench_function("rendezvous 10/synod", |b| b.iter(|| hrw.locate(&black_box(k()).to_le_bytes())));
    g.bench_function("rendezvous 10 weighted/synod", |b| b.iter(|| whrw.locate(&black_box(k()).to_le_bytes())));

    let mut bounded = BoundedLoad::new(Ring::new(&unit(N), VNODES).unwrap(), 125).unwrap();
    for key in &ks {
        bounded.assign(&key.to_le_bytes());
    }
    g.bench_function("bounded 10x160 assign+release/synod", |b| {
        b.iter(|| {
            let node = bounded.assign(&black_box(k()).to_le_bytes());
            bounded.release(node).unwrap();
            node
        })
    });
    let topo = topology(N);
    g.bench_function("preference list 3 of 10, 3 zones/synod", |b| {
        b.iter(|| topo.preference_list(&black_box(k()).to_le_bytes(), 3).unwrap())
    });
    g.finish();
}

fn builds(c: &mut Criterion) {
    let mut g = c.benchmark_group("build");
    g.bench_function("ring 10x160/synod", |b| b.iter(|| Ring::new(black_box(&unit(N)), VNODES).unwrap()));
    g.bench_function("ring 10x160/consistent_hash_ring", |b| b.iter(|| peers::ring(black_box(N))));
    g.bench_function("maglev 10, M=65537/synod", |b| b.iter(|| Maglev::new(black_box(&nodes(N)), 65_537).unwrap()));
    g.bench_function("maglev 10, M=65537/maglev", |b| b.iter(|| peers::maglev(black_box(N))));
    g.finish();
}

/// One pick and its report, as a client does per request.
fn pick_report(b: &mut dyn Balancer, rng: &mut Rng, now: &mut Instant) -> NodeId {
    *now += Duration::from_micros(10);
    let node = b.pick(*now, rng).unwrap();
    b.report(node, *now, Outcome::success(Duration::from_micros(100 + node.get() * 10)));
    node
}

/// A tower `Balance` over ten always-ready services: `poll_ready`, `call`,
/// and the response polled to completion (which ends the load handle).
fn tower_round<S>(lb: &mut S, cx: &mut Context<'_>) -> u64
where
    S: Service<u64, Response = u64>,
    S::Error: core::fmt::Debug,
{
    assert!(matches!(lb.poll_ready(cx), Poll::Ready(Ok(()))));
    match pin!(lb.call(0)).poll(cx) {
        Poll::Ready(Ok(v)) => v,
        other => panic!("{:?}", other.map(|r| r.map(|_| ()))),
    }
}

fn balancers(c: &mut Criterion) {
    let mut g = c.benchmark_group("balance");
    let mut rng = Rng::with_seed(1);
    let mut now = Instant::ZERO;

    let weights: Vec<(NodeId, u32)> = nodes(5).into_iter().zip([5, 1, 3, 2, 4]).collect();
    let mut swrr = SmoothWeighted::new(&weights).unwrap();
    g.bench_function("smooth wrr 5/synod", |b| b.iter(|| swrr.pick(now, &mut rng)));
    let mut peer_swrr = weighted_rs::SmoothWeight::new();
    for (n, w) in &weights {
        peer_swrr.add(n.get(), *w as isize);
    }
    g.bench_function("smooth wrr 5/weighted-rs", |b| b.iter(|| peer_swrr.next()));

    let mut rr = RoundRobin::new(&nodes(N)).unwrap();
    g.bench_function("round robin 10 pick+report/synod", |b| b.iter(|| pick_report(&mut rr, &mut rng, &mut now)));
    let mut lc = LeastConnections::new(&nodes(N)).unwrap();
    g.bench_function("least connections 10 pick+report/synod", |b| b.iter(|| pick_report(&mut lc, &mut rng, &mut now)));

    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let ready = || tower::service_fn(|_: u64| core::future::ready(Ok::<u64, Infallible>(1)));

    let mut p2c = PowerOfTwo::new(&nodes(N)).unwrap();
    g.bench_function("p2c 10 pick+report/synod", |b| b.iter(|| pick_report(&mut p2c, &mut rng, &mut now)));
    let pending: Vec<_> = (0..N)
        .map(|_| tower::load::PendingRequests::new(ready(), tower::load::CompleteOnResponse::default()))
        .collect();
    let mut tower_p2c = tower::balance::p2c::Balance::new(tower::discover::ServiceList::new(pending));
    g.bench_function("p2c 10 pick+report/tower", |b| b.iter(|| tower_round(&mut tower_p2c, &mut cx)));

    let mut ewma = PeakEwma::new(&nodes(N), PeakEwmaConfig::default(), now).unwrap();
    g.bench_function("peak-ewma 10 pick+report/synod", |b| b.iter(|| pick_report(&mut ewma, &mut rng, &mut now)));
    let decay = Duration::from_secs(10).as_nanos() as f64;
    let ewmas: Vec<_> = (0..N)
        .map(|_| {
            tower::load::PeakEwma::new(
                ready(),
                Duration::from_millis(30),
                decay,
                tower::load::CompleteOnResponse::default(),
            )
        })
        .collect();
    let mut tower_ewma = tower::balance::p2c::Balance::new(tower::discover::ServiceList::new(ewmas));
    g.bench_function("peak-ewma 10 pick+report/tower", |b| b.iter(|| tower_round(&mut tower_ewma, &mut cx)));
    g.finish();
}

fn detectors(c: &mut Criterion) {
    let mut g = c.benchmark_group("detect");
    let mut phi = PhiAccrual::new(PhiConfig::default()).unwrap();
    let mut t = Instant::ZERO;
    g.bench_function("phi heartbeat+phi/synod", |b| {
        b.iter(|| {
            t += Duration::from_millis(1000);
            phi.heartbeat(t);
            phi.phi(t + Duration::from_millis(black_box(500)))
        })
    });
    let mut window = phi_detector::PingWindow::new(Duration::from_millis(1000));
    g.bench_function("phi heartbeat+phi/phi-detector", |b| {
        b.iter(|| {
            window.add_ping(Duration::from_millis(1000));
            window.normal_dist().phi(Duration::from_millis(black_box(500)))
        })
    });
    let mut phi = PhiAccrual::new(PhiConfig::default()).unwrap();
    let mut t = Instant::ZERO;
    g.bench_function("phi heartbeat+verdict/synod", |b| {
        b.iter(|| {
            t += Duration::from_millis(1000);
            phi.heartbeat(t);
            phi.is_available(t + Duration::from_millis(black_box(500)))
        })
    });
    let mut window = phi_detector::PingWindow::new(Duration::from_millis(1000));
    g.bench_function("phi heartbeat+verdict/phi-detector", |b| {
        b.iter(|| {
            window.add_ping(Duration::from_millis(1000));
            window.normal_dist().phi(Duration::from_millis(black_box(500))) < 8.0
        })
    });
    g.finish();
}

criterion_group!(benches, lookups, builds, balancers, detectors);
criterion_main!(benches);
