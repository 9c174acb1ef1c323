#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| synod_tests::fuzz::backup_file(data));
