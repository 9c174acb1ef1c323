#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| synod_tests::fuzz::multi_paxos_cluster(data));
