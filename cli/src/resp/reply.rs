//! Building RESP2 replies.

use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;
use synod_net::client::ClientError;

pub(crate) fn ok() -> BytesFrame {
    BytesFrame::SimpleString(Bytes::from_static(b"OK"))
}

pub(crate) fn simple(s: &'static str) -> BytesFrame {
    BytesFrame::SimpleString(Bytes::from_static(s.as_bytes()))
}

/// An error reply. A RESP error is a single line, so control characters
/// that came from the client (an unknown command's name, say) become
/// spaces: a CR LF inside would end the error early and let the client's
/// bytes be read as further replies (found by the `resp_front_end` fuzz
/// target).
pub(crate) fn err(s: &str) -> BytesFrame {
    if s.chars().any(char::is_control) {
        let clean: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        return BytesFrame::Error(clean.as_str().into());
    }
    BytesFrame::Error(s.into())
}

pub(crate) fn int(i: i64) -> BytesFrame {
    BytesFrame::Integer(i)
}

pub(crate) fn bulk(b: Bytes) -> BytesFrame {
    BytesFrame::BulkString(b)
}

pub(crate) fn opt(b: Option<Bytes>) -> BytesFrame {
    b.map_or(BytesFrame::Null, BytesFrame::BulkString)
}

pub(crate) fn array(items: Vec<BytesFrame>) -> BytesFrame {
    BytesFrame::Array(items)
}

pub(crate) fn text(s: String) -> BytesFrame {
    BytesFrame::BulkString(Bytes::from(s))
}

/// An error reply for a request that got no service answer. A redirect
/// names the leader's RESP address, so clients can reconnect there.
pub(crate) fn client_error(e: ClientError, leader: Option<String>) -> BytesFrame {
    match e {
        ClientError::NotLeader { .. } => match leader {
            Some(addr) => err(&format!("ERR not the leader; leader is at {addr}")),
            None => err("ERR not the leader and no leader is known; retry"),
        },
        ClientError::Timeout => err("ERR timeout: the command may or may not have been applied"),
        ClientError::LeaderChanged { .. } => match leader {
            Some(addr) => {
                err(&format!("ERR leader changed; the command may or may not have been applied; leader is at {addr}"))
            }
            None => err("ERR leader changed; the command may or may not have been applied; retry"),
        },
        ClientError::Busy => err("BUSY node overloaded; retry later"),
        ClientError::ShuttingDown => err("ERR node shutting down"),
        ClientError::Lost => err("ERR leadership changed before the command committed; it was not applied"),
        ClientError::TooLarge => err("ERR request too large"),
        ClientError::Unavailable => err("ERR no leader available; retry"),
        ClientError::NoSpace => err("NOSPACE out of disk space: only reads and deletes are served (see INFO)"),
        ClientError::Refused(why) => err(&format!("ERR refused: {why}")),
        _ => err("ERR request failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_protocol::resp2::decode::decode_bytes_mut;
    use redis_protocol::resp2::encode::extend_encode;

    #[test]
    fn an_error_carrying_client_bytes_stays_one_reply() {
        let name = "4\r\n+OK\r\n\x01";
        let mut out = bytes::BytesMut::new();
        extend_encode(&mut out, &err(&format!("ERR unknown command '{name}'")), false).unwrap();
        let (decoded, _, _) = decode_bytes_mut(&mut out).unwrap().unwrap();
        assert!(out.is_empty(), "bytes left after the error: {out:?}");
        let BytesFrame::Error(text) = decoded else { panic!("not an error: {decoded:?}") };
        assert_eq!(&*text, "ERR unknown command '4  +OK   '");
    }
}
