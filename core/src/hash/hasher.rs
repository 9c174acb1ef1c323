//! The key hash, a parameter of every placement.

/// A stable 64-bit hash of bytes under a seed.
///
/// Placements persist across processes and versions (a key must find the
/// same node tomorrow), so an implementation must never change its output:
/// not `core::hash::Hasher` defaults, not SipHash with random keys.
pub trait KeyHasher {
    /// 64 well-mixed bits of `bytes` under `seed`.
    fn hash(&self, seed: u64, bytes: &[u8]) -> u64;
}

/// XXH3-64: fast on short keys, and its output is frozen by the xxHash
/// specification (since 0.8.0), so placements never move under us.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Xxh3;

impl KeyHasher for Xxh3 {
    #[inline]
    fn hash(&self, seed: u64, bytes: &[u8]) -> u64 {
        xxhash_rust::xxh3::xxh3_64_with_seed(bytes, seed)
    }
}

/// The MurmurHash3 64-bit finaliser (`fmix64`): a bijection in which every
/// input bit flips each output bit with probability about 1/2. Used to
/// combine an already-hashed key with an already-hashed node cheaply.
#[inline]
pub const fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// Fixed seeds, one per use, so that the same node or key hashed for two
/// purposes gives independent values. Changing any of these moves keys.
pub(crate) mod seed {
    /// Keys, in every placement.
    pub const KEY: u64 = 0;
    /// Ring points: `node ‖ point index`.
    pub const RING_POINT: u64 = 0x5241_4e47_5f50_4f49; // "RANG_POI"
    /// Rendezvous per-node salt.
    pub const RENDEZVOUS: u64 = 0x4852_5753_414c_5421; // "HRWSALT!"
    /// Maglev permutation offset.
    pub const MAGLEV_OFFSET: u64 = 0x4d41_474c_4f46_4653; // "MAGLOFFS"
    /// Maglev permutation skip.
    pub const MAGLEV_SKIP: u64 = 0x4d41_474c_534b_4950; // "MAGLSKIP"
}

/// `hasher` applied to a node id's little-endian bytes.
#[inline]
pub(crate) fn hash_node<H: KeyHasher>(hasher: &H, seed: u64, node: crate::id::NodeId) -> u64 {
    hasher.hash(seed, &node.get().to_le_bytes())
}

/// A uniform index in `0..n` from a well-mixed hash: Lemire's multiply-shift
/// ("fastrange"), a multiply where `%` would be a division.
#[inline]
pub(crate) fn fast_range(hash: u64, n: u64) -> u64 {
    ((u128::from(hash) * u128::from(n)) >> 64) as u64
}
