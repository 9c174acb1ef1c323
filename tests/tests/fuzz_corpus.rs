//! Replays every committed fuzz corpus through its target, so a normal
//! `cargo test` catches regressions without cargo-fuzz.

use std::path::Path;

#[test]
fn every_corpus_input_replays_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut replayed = 0;
    for (name, target) in synod_tests::fuzz::TARGETS {
        let dir = root.join(name);
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus for {name} missing at {}: {e}", dir.display()));
        let mut n = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            target(&data);
            n += 1;
        }
        assert!(n > 0, "corpus for {name} is empty");
        replayed += n;
    }
    assert!(replayed >= synod_tests::fuzz::TARGETS.len());
}
