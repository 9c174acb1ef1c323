//! Prints, as Markdown, how many keys each placement moves when one of ten
//! nodes leaves or an eleventh joins, and its max/mean load over 1M keys.
//! Deterministic: the keys come from a fixed seed.

use maglev::ConsistentHasher;
use synod_bench::*;
use synod_core::hash::Locate;

const KEYS: usize = 1_000_000;
const N: u64 = 10;

fn row(name: &str, remove: f64, add: f64, quality: f64) {
    println!(
        "| {name} | {:.2}% ({:.2}× ideal) | {:.2}% ({:.2}× ideal) | {quality:.3} |",
        remove * 100.0,
        remove * N as f64,
        add * 100.0,
        add * (N + 1) as f64
    );
}

fn at(p: &dyn Locate) -> impl Fn(u64) -> u64 + '_ {
    move |k| p.locate(&k.to_le_bytes()).get()
}

fn primary(t: &synod_core::hash::Topology) -> impl Fn(u64) -> u64 + '_ {
    move |k| t.preference_list(&k.to_le_bytes(), 3).map(|l| l.primary().get()).unwrap_or(0)
}

fn r(ring: &consistent_hash_ring::Ring<u64>) -> impl Fn(u64) -> u64 + '_ {
    move |k| *ring.get(k)
}

fn m(table: &maglev::Maglev<u64>) -> impl Fn(u64) -> u64 + '_ {
    move |k| *table.get(&k).unwrap_or(&0)
}

fn main() {
    let keys = keys(KEYS, 2026);
    println!("| placement | one of 10 leaves | an 11th joins | max/mean load, 10 nodes, 1M keys |");
    println!("|---|---|---|---|");
    let (nine, ten, eleven) = (synod_placements(N - 1), synod_placements(N), synod_placements(N + 1));
    for ((name, a), (b, c)) in ten.iter().zip(nine.iter().map(|p| &p.1).zip(eleven.iter().map(|p| &p.1))) {
        let ten = at(a.as_ref());
        // Nodes 1..=9 are 1..=10 without node 10: for jump, that is the
        // only removal it supports (the last bucket).
        let remove = moved(&keys, &ten, &at(b.as_ref()));
        let add = moved(&keys, &ten, &at(c.as_ref()));
        row(name, remove, add, max_over_mean(keys.iter().map(|&k| ten(k)), N as usize));
    }
    let diff = |x: &[u64], y: &[u64]| x.iter().zip(y).filter(|(a, b)| a != b).count() as f64 / KEYS as f64;
    for (percent, name) in [(125, "synod BoundedLoad (c = 1.25)"), (105, "synod BoundedLoad (c = 1.05)")] {
        let (b9, b10, b11) = (
            bounded_owners(N - 1, percent, &keys),
            bounded_owners(N, percent, &keys),
            bounded_owners(N + 1, percent, &keys),
        );
        row(name, diff(&b10, &b9), diff(&b10, &b11), max_over_mean(b10.iter(), N as usize));
    }
    let (t9, t10, t11) = (topology(N - 1), topology(N), topology(N + 1));
    let p10 = primary(&t10);
    row(
        "synod Topology (primary of 3, 3 zones)",
        moved(&keys, &p10, &primary(&t9)),
        moved(&keys, &p10, &primary(&t11)),
        max_over_mean(keys.iter().map(|&k| p10(k)), N as usize),
    );
    let (r9, r10, r11) = (peers::ring(N - 1), peers::ring(N), peers::ring(N + 1));
    row(
        "consistent_hash_ring 0.8 (160 vnodes)",
        moved(&keys, &r(&r10), &r(&r9)),
        moved(&keys, &r(&r10), &r(&r11)),
        max_over_mean(keys.iter().map(|&k| r(&r10)(k)), N as usize),
    );
    let j = |n: u64| move |k: u64| u64::from(jump_consistent_hash::hash(k, n as usize));
    row(
        "jump-consistent-hash 0.1",
        moved(&keys, &j(N), &j(N - 1)),
        moved(&keys, &j(N), &j(N + 1)),
        max_over_mean(keys.iter().map(|&k| j(N)(k)), N as usize),
    );
    let (m9, m10, m11) = (peers::maglev(N - 1), peers::maglev(N), peers::maglev(N + 1));
    row(
        "maglev 0.2 (M = 65537)",
        moved(&keys, &m(&m10), &m(&m9)),
        moved(&keys, &m(&m10), &m(&m11)),
        max_over_mean(keys.iter().map(|&k| m(&m10)(k)), N as usize),
    );
}
