//! The shared scenario suite over TCP on tokio, on disk.

#[test]
fn scenarios_over_tokio_tcp() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let d = synod_tests::deploy::TokioTcp::new("scenario-tokio");
        synod_tests::scenarios::run_all(&d).await;
    });
}

#[test]
fn a_member_is_replaced_over_tokio_tcp() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let d = synod_tests::deploy::TokioTcp::new("replace-tokio");
        synod_tests::scenarios::replace_a_member(&d).await;
    });
}
