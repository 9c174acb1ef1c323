//! # synod-net
//!
//! Runtime-agnostic glue between `synod-core`'s state machines and real
//! I/O: the wire codec, the traits that storage, transport and runtime
//! adapters implement, the node driver and client handles. Depends on
//! `futures`, `async-trait` and `bytes` only — no tokio, no smol.

#![forbid(unsafe_code)]

pub mod backup;
pub mod client;
pub mod codec;
pub mod mem;
pub mod node;
pub mod queue;
pub mod runtime;
pub mod signal;
pub mod store;
pub mod stream;
mod sync;
pub mod thread_runtime;
pub mod transport;
