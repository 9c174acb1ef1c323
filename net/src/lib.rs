//! # synod-net
//!
//! Runtime-agnostic glue between `synod-core`'s state machines and real
//! I/O: the wire codec, and the traits that storage, transport and runtime
//! adapters implement. Depends on `futures`, `async-trait` and `bytes`
//! only — no tokio, no smol.

#![forbid(unsafe_code)]

pub mod client;
pub mod codec;
pub mod store;
