//! The RESP2 front end: any Redis client can talk to a synod node.
//!
//! Each connection decodes every complete frame it has received, runs the
//! commands in order (pipelining), and writes all replies with one flush.
//! Protocol garbage closes the connection; everything else — unknown
//! commands, wrong arity, bad integers, oversized values — is an error
//! reply and the connection stays open.

mod commands;
mod reply;

pub use commands::{Backend, Directory};

use bytes::{Bytes, BytesMut};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::encode::extend_encode;
use redis_protocol::resp2::types::BytesFrame;
use std::sync::Arc;
use synod_core::time::Duration;
use synod_net::runtime::Runtime;
use synod_net::stream::{Listener, Stream};

/// Largest request accepted (a bulk string may be up to the value limit
/// plus framing); a client sending more is disconnected.
const MAX_REQUEST: usize = 8 << 20;

/// Accepts RESP clients forever.
pub async fn serve(mut listener: Box<dyn Listener>, node: Arc<dyn Backend>, runtime: Arc<dyn Runtime>, dir: Directory) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let (node, dir) = (node.clone(), dir.clone());
                runtime.spawn(Box::pin(async move {
                    if let Err(e) = connection(stream, node.as_ref(), &dir).await {
                        tracing::debug!(%addr, error = %e, "client connection closed");
                    }
                }));
            }
            Err(e) => {
                tracing::warn!(error = %e, "RESP accept failed");
                runtime.sleep_until(runtime.now() + Duration::from_millis(50)).await;
            }
        }
    }
}

/// What to do after a command.
pub(crate) enum Next {
    Continue,
    Close,
}

/// Serves one client connection until it closes (or sends garbage).
pub async fn connection(mut stream: Box<dyn Stream>, node: &dyn Backend, dir: &Directory) -> std::io::Result<()> {
    let mut inbuf = BytesMut::new();
    let mut out = BytesMut::new();
    let mut scratch = vec![0u8; 16 * 1024];
    loop {
        let mut next = Next::Continue;
        loop {
            // Inline commands ("PING\r\n"), as telnet and redis-benchmark's
            // inline tests send them.
            if inbuf.first().is_some_and(|b| *b != b'*') {
                match inline(&mut inbuf) {
                    Some(args) if args.is_empty() => continue,
                    Some(args) => {
                        let (reply, n) = commands::execute(node, dir, args).await;
                        let _ = extend_encode(&mut out, &reply, false);
                        next = n;
                        if matches!(next, Next::Close) {
                            break;
                        }
                        continue;
                    }
                    None if inbuf.len() > MAX_INLINE => {
                        let _ =
                            extend_encode(&mut out, &reply::err("ERR Protocol error: too big inline request"), false);
                        next = Next::Close;
                        break;
                    }
                    None => break,
                }
            }
            match decode_bytes_mut(&mut inbuf) {
                Ok(Some((frame, _, _))) => {
                    let (reply, n) = match args(frame) {
                        Some(args) => commands::execute(node, dir, args).await,
                        None => (reply::err("ERR Protocol error: expected an array of bulk strings"), Next::Close),
                    };
                    let _ = extend_encode(&mut out, &reply, false);
                    next = n;
                    if matches!(next, Next::Close) {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = extend_encode(&mut out, &reply::err(&format!("ERR Protocol error: {e}")), false);
                    next = Next::Close;
                    break;
                }
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            stream.flush().await?;
            out.clear();
        }
        if matches!(next, Next::Close) {
            return Ok(());
        }
        if inbuf.len() > MAX_REQUEST {
            let _ = extend_encode(&mut out, &reply::err("ERR Protocol error: request too large"), false);
            stream.write_all(&out).await?;
            return Ok(());
        }
        let n = stream.read(&mut scratch).await?;
        if n == 0 {
            return Ok(());
        }
        inbuf.extend_from_slice(&scratch[..n]);
    }
}

/// Longest inline command line.
const MAX_INLINE: usize = 64 << 10;

/// Splits one inline command line off `buf`, if a whole line is there.
fn inline(buf: &mut BytesMut) -> Option<Vec<Bytes>> {
    let end = buf.iter().position(|b| *b == b'\n')?;
    let line = buf.split_to(end + 1).freeze();
    let text = line.slice(..line.len() - 1);
    let text = if text.last() == Some(&b'\r') { text.slice(..text.len() - 1) } else { text };
    Some(text.split(|b| *b == b' ' || *b == b'\t').filter(|w| !w.is_empty()).map(|w| text.slice_ref(w)).collect())
}

/// A command is an array of bulk (or simple) strings.
fn args(frame: BytesFrame) -> Option<Vec<Bytes>> {
    let BytesFrame::Array(items) = frame else { return None };
    if items.is_empty() {
        return None;
    }
    items
        .into_iter()
        .map(|f| match f {
            BytesFrame::BulkString(b) | BytesFrame::SimpleString(b) => Some(b),
            BytesFrame::Integer(i) => Some(Bytes::from(i.to_string())),
            _ => None,
        })
        .collect()
}
