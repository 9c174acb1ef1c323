//! The linearizability checker for KV client histories.
//!
//! A history is linearizable if every operation can be given a single point
//! in time, between its invocation and its response, such that applying the
//! operations one by one in that order to an atomic KV map gives exactly the
//! recorded answers (Herlihy & Wing 1990). The checker decides this with
//! Wing & Gong's search (1993) and Lowe's memoisation of explored
//! configurations ("Testing for linearizability", 2017), after splitting the
//! history by key: each key is an independent object, and a history is
//! linearizable iff every key's sub-history is (P-compositionality, Horn &
//! Kroening 2015).
//!
//! Outcomes are read as a client would have to:
//!
//! - `Ok(ret)`: took effect exactly once, between invocation and response;
//! - `Failed`: never took effect, so it is dropped;
//! - `Unknown`: may or may not have taken effect, at any time after its
//!   invocation (its response is at infinity). An unknown read constrains
//!   nothing and is dropped.
//!
//! Two operations are ordered in real time only if one's response is
//! strictly earlier than the other's invocation: equal timestamps do not say
//! which event came first, so they count as concurrent.
//!
//! ```
//! use synod_tests::history::{History, Op, Outcome, Ret};
//! use synod_tests::linearizability::{check, Verdict};
//!
//! let mut h = History::default();
//! let w = h.invoke(0, Op::Set(7, 1), 0);
//! h.complete(w, 10, Outcome::Ok(Ret::Done));
//! // Invoked after the write was acknowledged, yet it missed it.
//! let r = h.invoke(1, Op::Get(7), 20);
//! h.complete(r, 30, Outcome::Ok(Ret::Value(None)));
//!
//! let Verdict::NotLinearizable(why) = check(&h) else { panic!("a stale read passed") };
//! assert_eq!(why.key, 7);
//! println!("{why}");
//! ```

pub mod brute;
mod explain;
pub mod model;
mod partition;
mod search;
pub mod workload;

pub use explain::Violation;

use crate::history::{History, Key};
use alloc::boxed::Box;
use search::Found;

/// Limits on the work the checker may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Placement attempts allowed for each key before its verdict is
    /// [`Verdict::Unknown`]. Deciding linearizability is NP-complete (Gibbons
    /// & Korach 1997): a budget is the only bound on a pathological history.
    /// The default, 10 million, is seconds of work and a few hundred MB of
    /// memo at most (see `BENCHMARKS.md`); a 10,000-operation history of 16
    /// clients over 16 keys needs about 10,000.
    pub max_steps: u64,
    /// Placement attempts spent shrinking a violation to a small conflicting
    /// set of operations; 0 reports the violation unshrunk.
    pub explain_steps: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_steps: 10_000_000, explain_steps: 1_000_000 }
    }
}

/// The checker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Some order of the operations, consistent with real time, explains
    /// every answer.
    Linearizable,
    /// No order does; the first key (in key order) found to fail, and why.
    NotLinearizable(Box<Violation>),
    /// A key's search ran out of budget and no other key failed.
    Unknown {
        /// The first key whose search was cut short.
        key: Key,
    },
}

impl Verdict {
    /// True for [`Verdict::Linearizable`].
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }

    /// The violation, if the verdict is [`Verdict::NotLinearizable`].
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            Verdict::NotLinearizable(v) => Some(v),
            _ => None,
        }
    }
}

/// A verdict and what it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Report {
    /// The answer.
    pub verdict: Verdict,
    /// Keys checked (each key's sub-history is searched on its own).
    pub keys: usize,
    /// Placement attempts spent by the search, over all keys checked,
    /// excluding those spent shrinking a violation.
    pub steps: u64,
}

/// Checks `history` with the default [`Options`].
pub fn check(history: &History) -> Verdict {
    check_with(history, &Options::default()).verdict
}

/// Checks `history` key by key, stopping at the first key that admits no
/// linearization.
///
/// # Panics
///
/// If an answered operation's response precedes its invocation: the history
/// was recorded wrongly and no verdict on it would mean anything.
pub fn check_with(history: &History, options: &Options) -> Report {
    let keys = partition::split(history);
    let mut steps = 0;
    let mut unknown = None;
    for (&key, ops) in &keys {
        if let Some(culprit) = model::impossible_answer(ops.iter().map(|o| (&o.op, o.ret.as_ref()))) {
            let why = explain::impossible_answer(history, key, ops, culprit);
            return Report { verdict: Verdict::NotLinearizable(Box::new(why)), keys: keys.len(), steps };
        }
        let mut budget = options.max_steps;
        let found = search::search(ops, &mut budget);
        steps += options.max_steps - budget;
        match found {
            Found::Linearizable => {}
            Found::Exhausted => {
                unknown.get_or_insert(key);
            }
            Found::Impossible { prefix, culprit } => {
                let why = explain::explain(history, key, ops, &prefix, culprit, options.explain_steps);
                return Report { verdict: Verdict::NotLinearizable(Box::new(why)), keys: keys.len(), steps };
            }
        }
    }
    let verdict = unknown.map_or(Verdict::Linearizable, |key| Verdict::Unknown { key });
    Report { verdict, keys: keys.len(), steps }
}
