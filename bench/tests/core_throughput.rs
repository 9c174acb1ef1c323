//! Every cluster the core benchmark drives commits exactly the entries it
//! was asked to, with the window respected, at 3 and 5 replicas.

use synod_bench::throughput::args::{Implementation, parse};
use synod_bench::throughput::{Workload, elect};

const ALL: [Implementation; 5] = [
    Implementation::SynodRaft,
    Implementation::SynodMultiPaxos,
    Implementation::RaftRs,
    Implementation::Omni(1),
    Implementation::Omni(64),
];

#[test]
fn every_implementation_commits_the_whole_workload() {
    for replicas in [3, 5] {
        for imp in ALL {
            // A window that is not a multiple of the batch size, and an
            // entry count that is not a multiple of the window.
            let w = Workload { replicas, payload: 100, entries: 2_500, window: 100 };
            let mut cluster = elect(imp, &w);
            assert_eq!(cluster.run(&w), w.entries, "{} with {replicas} replicas", imp.name());
            // A second run on the same cluster goes on from where the first ended.
            assert_eq!(cluster.run(&w), w.entries, "{} again", imp.name());
        }
    }
}

#[test]
fn options_parse_and_names_round_trip() {
    let args = ["core-throughput", "--replicas", "5", "--payload", "1024", "--only", "synod-raft,omnipaxos-batch256"];
    let o = parse(args.iter().map(|s| s.to_string()), 10).unwrap();
    assert_eq!(o.workload, Workload { replicas: 5, payload: 1024, entries: 10, window: 1024 });
    assert_eq!(o.implementations, vec![Implementation::SynodRaft, Implementation::Omni(256)]);
    for imp in ALL {
        assert_eq!(Implementation::parse(&imp.name()), Some(imp));
    }
    assert!(parse(["x", "--only", "etcd"].iter().map(|s| s.to_string()), 1).is_err());
    assert!(parse(["x", "--window", "0"].iter().map(|s| s.to_string()), 1).is_err());
}
