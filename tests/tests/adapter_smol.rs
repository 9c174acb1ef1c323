//! The shared scenario suite over TCP on smol, on disk.

#[test]
fn scenarios_over_smol_tcp() {
    let d = synod_tests::deploy::SmolTcp::new("scenario-smol");
    smol::block_on(synod_tests::scenarios::run_all(&d));
}
