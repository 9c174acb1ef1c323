//! The handshake: magic, wire version, cluster id and node ids, checked
//! before anything else is believed.

use super::DecodeError;
use bytes::{BufMut, BytesMut};
use synod_core::id::NodeId;
use synod_core::service::codec::Reader;

/// First bytes of every hello: "synod".
pub const MAGIC: [u8; 4] = *b"SYND";

/// Longest cluster id.
pub const MAX_CLUSTER_ID: usize = 64;

/// A node introducing itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The wire version the sender speaks.
    pub version: u8,
    /// The cluster it belongs to.
    pub cluster_id: String,
    /// The sender.
    pub from: NodeId,
    /// The node it meant to reach (`None` from a client).
    pub to: Option<NodeId>,
}

/// Why a handshake failed; the connection is closed, the node keeps
/// serving its other peers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Not a synod peer at all.
    #[error("not a synod peer (bad magic)")]
    BadMagic,
    /// The wire versions differ.
    #[error("wire version mismatch: we speak {ours}, peer speaks {theirs}")]
    Version {
        /// Ours.
        ours: u8,
        /// Theirs.
        theirs: u8,
    },
    /// The peer belongs to another cluster.
    #[error("cluster id mismatch: we are {ours:?}, peer is {theirs:?}")]
    Cluster {
        /// Ours.
        ours: String,
        /// Theirs.
        theirs: String,
    },
    /// The peer is not the node we meant to reach, or meant to reach another.
    #[error("wrong peer: expected node {expected}, peer says it is node {actual}")]
    WrongPeer {
        /// Who we expected.
        expected: NodeId,
        /// Who answered.
        actual: NodeId,
    },
    /// The peer is not a member of this node's configuration.
    #[error("node {0} is not a configured peer")]
    UnknownPeer(NodeId),
    /// The peer claims to be this node.
    #[error("peer claims our own node id {0}")]
    SelfConnect(NodeId),
    /// The peer sent something other than a hello first.
    #[error("expected a hello, got another frame")]
    NotHello,
}

impl Hello {
    /// Checks a hello received by `me` in cluster `cluster`, optionally
    /// from an expected peer; returns the peer's id.
    pub fn check(&self, cluster: &str, me: NodeId, expected: Option<NodeId>) -> Result<NodeId, HandshakeError> {
        if self.version != super::frame::VERSION {
            return Err(HandshakeError::Version { ours: super::frame::VERSION, theirs: self.version });
        }
        if self.cluster_id != cluster {
            return Err(HandshakeError::Cluster { ours: cluster.to_string(), theirs: self.cluster_id.clone() });
        }
        if self.from == me {
            return Err(HandshakeError::SelfConnect(me));
        }
        if let Some(e) = expected
            && e != self.from
        {
            return Err(HandshakeError::WrongPeer { expected: e, actual: self.from });
        }
        if let Some(to) = self.to
            && to != me
        {
            return Err(HandshakeError::WrongPeer { expected: me, actual: to });
        }
        Ok(self.from)
    }
}

/// Appends a hello.
pub fn put_hello(b: &mut BytesMut, h: &Hello) {
    b.put_slice(&MAGIC);
    b.put_u8(h.version);
    let id = h.cluster_id.as_bytes();
    let id = &id[..id.len().min(MAX_CLUSTER_ID)];
    b.put_u8(id.len() as u8);
    b.put_slice(id);
    b.put_u64_le(h.from.0);
    super::entry::put_opt_node(b, h.to);
}

/// Reads a hello.
pub fn get_hello(r: &mut Reader) -> Result<Hello, DecodeError> {
    let mut magic = [0u8; 4];
    for m in &mut magic {
        *m = r.u8()?;
    }
    if magic != MAGIC {
        return Err(DecodeError::Malformed("hello magic"));
    }
    let version = r.u8()?;
    let n = r.u8()? as usize;
    if n > MAX_CLUSTER_ID || r.remaining() < n {
        return Err(DecodeError::Truncated("cluster id"));
    }
    let mut id = Vec::with_capacity(n);
    for _ in 0..n {
        id.push(r.u8()?);
    }
    let cluster_id = String::from_utf8(id).map_err(|_| DecodeError::Malformed("cluster id"))?;
    let from = NodeId(r.u64()?);
    let to = super::entry::get_opt_node(r)?;
    Ok(Hello { version, cluster_id, from, to })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(cluster: &str, from: u64, to: Option<u64>) -> Hello {
        Hello {
            version: super::super::frame::VERSION,
            cluster_id: cluster.into(),
            from: NodeId(from),
            to: to.map(NodeId),
        }
    }

    #[test]
    fn mismatches_name_both_sides() {
        let e = hello("blue", 2, Some(1)).check("green", NodeId(1), None).unwrap_err();
        assert_eq!(e.to_string(), r#"cluster id mismatch: we are "green", peer is "blue""#);
        let e = hello("c", 3, Some(1)).check("c", NodeId(1), Some(NodeId(2))).unwrap_err();
        assert_eq!(e.to_string(), "wrong peer: expected node 2, peer says it is node 3");
        let mut old = hello("c", 2, None);
        old.version = 9;
        assert!(old.check("c", NodeId(1), None).unwrap_err().to_string().contains("we speak 1, peer speaks 9"));
        assert_eq!(hello("c", 1, None).check("c", NodeId(1), None), Err(HandshakeError::SelfConnect(NodeId(1))));
        assert_eq!(
            hello("c", 2, Some(5)).check("c", NodeId(1), None),
            Err(HandshakeError::WrongPeer { expected: NodeId(1), actual: NodeId(5) })
        );
        assert_eq!(hello("c", 2, Some(1)).check("c", NodeId(1), Some(NodeId(2))), Ok(NodeId(2)));
    }

    #[test]
    fn bad_magic_and_long_ids_are_refused() {
        let mut b = BytesMut::new();
        put_hello(&mut b, &hello("c", 2, None));
        let mut raw = b.to_vec();
        raw[0] = b'X';
        assert!(get_hello(&mut Reader::new(raw.into())).is_err());
        let mut b = BytesMut::new();
        b.put_slice(&MAGIC);
        b.put_u8(1);
        b.put_u8(200);
        assert_eq!(get_hello(&mut Reader::new(b.freeze())), Err(DecodeError::Truncated("cluster id")));
    }
}
