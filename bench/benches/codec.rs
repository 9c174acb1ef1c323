//! Frame encode/decode throughput of the wire codec.
//! `cargo bench -p synod-bench --bench codec -- --warm-up-time 1 --measurement-time 3`

use bytes::{Bytes, BytesMut};
use core::hint::black_box;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use synod_core::id::{LogIndex, NodeId, Term};
use synod_core::raft::{Append, Body, Heartbeat, Message, SnapshotChunk};
use synod_core::replica::{self, Entry, Membership, SnapshotMeta};
use synod_net::codec::{Frame, FrameCodec};

fn raft(body: Body) -> Frame {
    Frame::Replica(replica::Message::Raft(Message { term: Term(7), body }))
}

fn frames() -> Vec<(&'static str, Frame)> {
    let payload = Bytes::from(vec![7u8; 128]);
    let entries = (1..=64).map(|i| Entry::command(LogIndex(1000 + i), Term(7), payload.clone())).collect::<Vec<_>>();
    let append =
        raft(Body::Append(Append { prev_index: LogIndex(1000), prev_term: Term(7), entries, commit: LogIndex(990) }));
    let heartbeat = raft(Body::Heartbeat(Heartbeat { commit: LogIndex(990), read_round: 42 }));
    let chunk = raft(Body::Snapshot(SnapshotChunk {
        meta: SnapshotMeta {
            index: LogIndex(5000),
            term: Term(6),
            membership: Membership::voters_only([NodeId(1), NodeId(2), NodeId(3)]).expect("voters"),
        },
        offset: 0,
        data: Bytes::from(vec![1u8; 1 << 20]),
        done: false,
    }));
    vec![("append_64x128B", append), ("heartbeat", heartbeat), ("snapshot_chunk_1MiB", chunk)]
}

fn codec(c: &mut Criterion) {
    let codec = FrameCodec::default();
    for (name, frame) in frames() {
        let mut encoded = BytesMut::new();
        codec.encode(&frame, &mut encoded).expect("encodes");
        let len = encoded.len();
        let mut g = c.benchmark_group(format!("codec/{name}"));
        g.throughput(Throughput::Bytes(len as u64));
        let mut buf = BytesMut::with_capacity(len);
        g.bench_function("encode", |b| {
            b.iter(|| {
                buf.clear();
                codec.encode(black_box(&frame), &mut buf).expect("encodes");
            })
        });
        let frozen = encoded.clone().freeze();
        // The receive buffer is prepared outside the timing: decoding
        // slices payloads out of it rather than copying them.
        g.bench_function("decode", |b| {
            b.iter_batched(
                || BytesMut::from(&frozen[..]),
                |mut input| black_box(codec.decode(&mut input).expect("decodes")),
                BatchSize::LargeInput,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
