//! The `synod` binary: a replicated key-value and lock server any Redis
//! client can talk to. `synod cluster` runs a local cluster in one
//! process; `synod node` one node of a real one; `synod status` shows a
//! node's view.

use clap::Parser;
use std::process::ExitCode;
use synod::{args, run};

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let result = match cli.command {
        args::Command::Cluster(a) => run::cluster(a),
        args::Command::Node(a) => run::node(a),
        args::Command::Status(a) => run::status(a),
        args::Command::Certs(a) => run::certs(a),
        args::Command::Member(a) => synod::member::member(a),
        args::Command::Leader(a) => synod::member::leader(a),
        args::Command::Snapshot(a) => synod::snapshot::snapshot(a),
        args::Command::Recover(a) => synod::recover::recover(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synod: {e}");
            ExitCode::FAILURE
        }
    }
}
