//! The shared scenario suite over QUIC (quinn, mutual TLS) on tokio, on disk.

#[test]
fn scenarios_over_quic() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let d = synod_tests::deploy::Quic::new("scenario-quic");
        synod_tests::scenarios::run_all(&d).await;
    });
}

#[test]
fn a_member_is_replaced_over_quic() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let d = synod_tests::deploy::Quic::new("replace-quic");
        synod_tests::scenarios::replace_a_member(&d).await;
    });
}
