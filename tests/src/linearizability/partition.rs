//! Splitting a history into one sub-history per key.
//!
//! Every [`Op`] touches exactly one key and keys never interact in the model,
//! so a history is linearizable if and only if each key's sub-history is
//! (locality: Herlihy & Wing 1990, Theorem 1; its use for checking is Horn &
//! Kroening's P-compositionality, 2015). Checking keys one by one turns one
//! search over the product of all interleavings into many small ones.

use crate::history::{History, Key, Op, Outcome, Ret};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// One operation of a key's sub-history, as the search sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyOp {
    /// Position in [`History::ops`].
    pub index: usize,
    /// What was asked.
    pub op: Op,
    /// The answer; `None` if unknown (the operation is then optional).
    pub ret: Option<Ret>,
    /// Invocation time.
    pub invoke: u64,
    /// Completion time; `u64::MAX` if unknown: it may take effect at any
    /// point after its invocation.
    pub complete: u64,
}

impl KeyOp {
    /// True if the operation must appear in every linearization.
    pub fn is_definite(&self) -> bool {
        self.ret.is_some()
    }
}

/// Each key's operations in invocation order, without the ones that cannot
/// matter.
///
/// Dropped: `Failed` operations (they never took effect) and unanswered
/// reads (they change nothing and constrain nothing).
///
/// # Panics
///
/// If an answered operation completes before it was invoked: the recorder is
/// broken and no verdict on its history would mean anything.
pub(crate) fn split(history: &History) -> BTreeMap<Key, Vec<KeyOp>> {
    let mut keys: BTreeMap<Key, Vec<KeyOp>> = BTreeMap::new();
    for (index, o) in history.ops.iter().enumerate() {
        let (ret, complete) = match &o.outcome {
            Outcome::Failed => continue,
            Outcome::Unknown if o.op.is_read() => continue,
            Outcome::Unknown => (None, u64::MAX),
            Outcome::Ok(r) => {
                assert!(
                    o.complete >= o.invoke,
                    "operation {} completes at {} before its invocation at {}",
                    o.id,
                    o.complete,
                    o.invoke
                );
                (Some(r.clone()), o.complete)
            }
        };
        keys.entry(o.op.key()).or_default().push(KeyOp { index, op: o.op.clone(), ret, invoke: o.invoke, complete });
    }
    for ops in keys.values_mut() {
        // Stable: equal invocation times keep history order.
        ops.sort_by_key(|o| o.invoke);
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_failed_ops_and_unknown_reads_and_groups_by_key() {
        let mut h = History::default();
        let a = h.invoke(0, Op::Set(1, 1), 0);
        let b = h.invoke(1, Op::Get(2), 1);
        let c = h.invoke(2, Op::Get(1), 2);
        let d = h.invoke(3, Op::Incr(2, 1), 3);
        let e = h.invoke(4, Op::Delete(1), 4);
        h.complete(a, 10, Outcome::Ok(Ret::Done));
        h.complete(b, 10, Outcome::Failed);
        h.complete(c, 10, Outcome::Unknown);
        h.complete(d, 10, Outcome::Unknown);
        h.complete(e, 10, Outcome::Ok(Ret::Bool(true)));
        let keys = split(&h);
        let ids = |k| keys[&k].iter().map(|o| o.index).collect::<Vec<_>>();
        assert_eq!(ids(1), [a, e]);
        assert_eq!(ids(2), [d]);
        assert_eq!(keys[&2][0].complete, u64::MAX);
        assert!(!keys[&2][0].is_definite());
    }

    #[test]
    #[should_panic(expected = "before its invocation")]
    fn refuses_an_answer_before_its_question() {
        let mut h = History::default();
        let a = h.invoke(0, Op::Get(1), 10);
        h.complete(a, 5, Outcome::Ok(Ret::Value(None)));
        let _ = split(&h);
    }
}
