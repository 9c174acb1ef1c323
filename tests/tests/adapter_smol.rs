//! The shared scenario suite over TCP on smol, on disk.

#[test]
fn scenarios_over_smol_tcp() {
    let d = synod_tests::deploy::SmolTcp::new("scenario-smol");
    smol::block_on(synod_tests::scenarios::run_all(&d));
}

#[test]
fn a_member_is_replaced_over_smol_tcp() {
    let d = synod_tests::deploy::SmolTcp::new("replace-smol");
    smol::block_on(synod_tests::scenarios::replace_a_member(&d));
}
