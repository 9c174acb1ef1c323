//! A canary per simulator invariant (issue 22, STYLE habit 10): for every
//! property the simulator checks, a fault planted for it must be reported
//! under that property's name, on Raft and, where the property applies,
//! on Multi-Paxos. Each campaign runs short seeds from 0 until the fault
//! is caught, and every violation seen on the way must name the same
//! property: a planted fault trips its own check, not a neighbour's.

use synod_tests::sim::{self, Canary, Protocol, SimConfig};

/// Seeds a campaign may run before its canary counts as missed.
const SEEDS: u64 = 400;

/// As `sim_campaign.rs`'s short runs.
fn short(protocol: Protocol) -> SimConfig {
    let mut c = SimConfig::new(protocol);
    c.fault_time = core::time::Duration::from_millis(1500);
    c.liveness_time = core::time::Duration::from_millis(1500);
    c
}

/// The property `canary` must trip on `protocol`. Exhaustive: a new
/// canary does not compile until it names its property here.
fn property(canary: Canary, protocol: Protocol) -> &'static str {
    match canary {
        Canary::FalseLeader if protocol.log_matching() => "one leader per term",
        // A ballot names its owner: two leaders of one ballot means one
        // of them leads in a ballot that is not its own.
        Canary::FalseLeader => "leaders own their ballot",
        Canary::BlindVotes => "leader completeness",
        Canary::CorruptApply => "state-machine safety",
        Canary::CorruptWrite => "log matching",
        Canary::SnapshotHole => "storage contract",
        Canary::LaggingSnapshot => "snapshot agreement",
        Canary::DuplicateApply => "apply in order",
        Canary::CommitStepsBack => "commit index never goes back",
        Canary::TruncatedSnapshot => "a correct node keeps running",
        Canary::EarlyLeaseExpiry => "no early lease expiry",
        Canary::StaleLockTable => "lock held under a live lease",
        Canary::ReusedToken => "fencing tokens increase",
        Canary::StaleReads | Canary::PlainRetries | Canary::TornTransactions => "linearizable history",
        Canary::Mute => "liveness",
        Canary::SkipJoint => "leader completeness",
        Canary::OneConfigPhase1 => "leader completeness",
        Canary::CorruptReadBack if protocol.log_matching() => "log matching",
        Canary::CorruptReadBack => "state-machine safety",
    }
}

/// Other properties `canary` may trip first on some seeds, and why.
fn tolerated(canary: Canary) -> &'static [&'static str] {
    match canary {
        // The node machine (net/src/node/machine.rs) still applies the
        // entries that came with a snapshot that failed to restore, so the
        // simulator may see them applied out of order before it sees the
        // node stop.
        Canary::TruncatedSnapshot => &["apply in order"],
        // Two leaders of one term is the same split seen earlier; and a
        // change that skips the joint phase can also leave the cluster
        // unable to commit after healing (seen with a leader removing
        // itself while a voter was down).
        Canary::SkipJoint => &["one leader per term", "liveness"],
        _ => &[],
    }
}

/// The first seed whose run of `cfg` reports `property`; every
/// violation before it must be one of `tolerated`.
fn caught(cfg: &SimConfig, property: &str, tolerated: &[&str]) -> u64 {
    caught_within(cfg, property, tolerated, SEEDS)
}

fn caught_within(cfg: &SimConfig, property: &str, tolerated: &[&str], seeds: u64) -> u64 {
    for seed in 0..seeds {
        let Some(v) = sim::run(seed, cfg).violation else { continue };
        if v.property == property {
            return seed;
        }
        assert!(
            tolerated.contains(&v.property),
            "{:?} {:?}: seed {seed} reported {:?} ({}), not {property:?}",
            cfg.canary,
            cfg.protocol,
            v.property,
            v.detail
        );
    }
    panic!("{:?} {:?}: {property:?} not reported in {seeds} seeds", cfg.canary, cfg.protocol);
}

/// `canary` is caught under its own property on every protocol it
/// applies to.
fn assert_caught(canary: Canary) {
    for protocol in [Protocol::Raft, Protocol::MultiPaxos] {
        if !canary.applies_to(protocol) {
            continue;
        }
        let (cfg, seeds) = if canary.needs_membership_changes() {
            // A replacement needs an add and a caught-up learner first,
            // and strikes only when a crash or partition splits the
            // halves: the full fault window, and more seeds (the 20,000-
            // seed campaign catches it in about one seed in 150).
            (SimConfig { canary: Some(canary), membership_changes: true, ..SimConfig::new(protocol) }, 1_000)
        } else {
            (SimConfig { canary: Some(canary), ..short(protocol) }, SEEDS)
        };
        let seed = caught_within(&cfg, property(canary, protocol), tolerated(canary), seeds);
        eprintln!("{canary:?} on {protocol:?}: {:?} first at seed {seed}", property(canary, protocol));
    }
}

macro_rules! canaries {
    ($($test:ident: $canary:ident,)*) => {
        $(
            #[test]
            fn $test() {
                assert_caught(Canary::$canary);
            }
        )*

        #[test]
        fn every_canary_has_a_test() {
            let tested = [$(Canary::$canary),*];
            for c in Canary::ALL {
                assert!(tested.contains(&c), "{c:?} has no test");
            }
        }
    };
}

canaries! {
    a_follower_claiming_its_leaders_term_breaks_one_leader_per_term_or_ballot_ownership: FalseLeader,
    votes_that_ignore_the_log_break_leader_completeness: BlindVotes,
    one_altered_committed_entry_breaks_state_machine_safety: CorruptApply,
    one_altered_entry_on_disk_breaks_log_matching: CorruptWrite,
    a_log_that_no_longer_continues_its_snapshot_breaks_the_storage_contract: SnapshotHole,
    a_snapshot_of_an_older_state_breaks_snapshot_agreement: LaggingSnapshot,
    an_entry_applied_twice_breaks_apply_in_order: DuplicateApply,
    a_commit_index_reported_lower_is_caught_going_back: CommitStepsBack,
    a_snapshot_that_will_not_restore_stops_a_node: TruncatedSnapshot,
    a_lease_ended_before_its_deadline_is_early_expiry: EarlyLeaseExpiry,
    a_lock_table_that_lags_its_leases_holds_a_lock_under_an_ended_lease: StaleLockTable,
    a_lock_handed_on_under_the_old_token_breaks_fencing: ReusedToken,
    reads_from_the_last_tick_break_linearizability: StaleReads,
    writes_retried_without_their_session_are_applied_twice: PlainRetries,
    replicas_that_go_silent_break_liveness: Mute,
    reads_in_a_transaction_that_miss_its_writes_break_linearizability: TornTransactions,
    replacing_a_voter_without_the_joint_phase_splits_the_cluster: SkipJoint,
    a_candidate_counting_only_the_old_voters_is_caught: OneConfigPhase1,
    an_entry_altered_when_read_back_breaks_log_matching_or_state_machine_safety: CorruptReadBack,
}

#[test]
fn acknowledging_before_fsync_breaks_leader_completeness() {
    // The EagerAck replica (canary.rs): a crash loses writes a quorum was
    // counted on, and a node without them is elected.
    for protocol in [Protocol::CanaryEagerAck, Protocol::CanaryEagerAckMultiPaxos] {
        let seed = caught(&short(protocol), "leader completeness", &[]);
        eprintln!("{protocol:?}: \"leader completeness\" first at seed {seed}");
    }
}

#[test]
fn lease_time_on_the_old_time_base_breaks_one_holder_at_a_time_on_true_time() {
    // Leaders proposing their clock's reading: a fail-over jumps log time,
    // a lease ends early on true time while its holder still believes it.
    for protocol in [Protocol::Raft, Protocol::MultiPaxos] {
        let cfg = SimConfig { canary_old_time_base: true, ..short(protocol) };
        let seed = caught(&cfg, "one lock holder at a time (true time)", &[]);
        eprintln!("old time base on {protocol:?}: \"one lock holder at a time (true time)\" first at seed {seed}");
    }
}
