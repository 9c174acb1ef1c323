#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| synod_tests::fuzz::wal_recovery(data));
