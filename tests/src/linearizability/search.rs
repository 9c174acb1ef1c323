//! The search for a linearization of one key's sub-history.
//!
//! Wing & Gong's algorithm ("Testing and verifying concurrent objects",
//! 1993) with Lowe's improvements ("Testing for linearizability", 2017), the
//! shape Porcupine also uses:
//!
//! - Invocations and responses of the answered operations sit in one doubly
//!   linked list in time order. An operation may be linearized next iff its
//!   invocation comes before the first response still in the list: every
//!   operation that finished before it began is then already placed.
//!   Placing it lifts both its events out of the list; backtracking puts
//!   them back (dancing links), so each step costs O(1) list work.
//! - Lowe's memoisation: a configuration (set of placed operations, model
//!   state) that was already explored is never explored again, which turns
//!   the factorial search into one bounded by the number of distinct
//!   configurations.
//!
//! Operations with unknown outcome have no response: they may be placed at
//! any point after their invocation, or never. The search succeeds once
//! every answered operation is placed, so an unknown operation that is never
//! placed simply did not happen. Because placing one is never required, a
//! configuration with a superset of placed unknown operations (and the same
//! answered set and state) can only have fewer ways to finish; the memo
//! therefore also prunes configurations dominated that way, and answered
//! operations are tried before unknown ones so the smaller sets tend to be
//! seen first.
//!
//! Four more prunings, each argued where it is made, keep the search small
//! without losing a linearization: a read (any answer that leaves the state
//! alone) that fits the current state is placed at once without branching
//! ([`Search::observer`]); a configuration where some candidate's answer
//! can no longer be given is abandoned at once ([`Search::doomed`]); of
//! identical pending unknown operations only the first is tried, and none
//! that would change nothing ([`Search::next_unknown`]); and an overwrite
//! never directly follows an unknown operation ([`Search::after_unknown`]).

use super::model::{self, State};
use super::partition::KeyOp;
use crate::history::Op;
use alloc::vec::Vec;
use core::hash::{BuildHasherDefault, Hasher};
use std::collections::HashMap;

/// How the search of one key ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// Every answered operation was placed.
    Linearizable,
    /// No linearization exists.
    Impossible {
        /// The prefix of one that got furthest, as indices into the
        /// searched slice, in linearization order.
        prefix: Vec<usize>,
        /// An operation that could never follow that prefix (see
        /// [`Search::doomed`]), if the search saw one there.
        culprit: Option<usize>,
    },
    /// The step budget ran out first.
    Exhausted,
}

const HEAD: u32 = 0;
const NIL: u32 = u32::MAX;

/// An invocation or response in the event list.
#[derive(Clone, Copy, Debug)]
struct Event {
    /// Index into the answered operations.
    def: u32,
    call: bool,
    time: u64,
    prev: u32,
    next: u32,
}

/// Where the search looks for the next operation to place.
#[derive(Clone, Copy, Debug)]
enum Cursor {
    /// Just placed something: look for a forced move first.
    Fresh,
    /// At an event of the list; an invocation is a candidate.
    Event(u32),
    /// At an unknown operation; those invoked at or before `bound` (the
    /// first pending response) are candidates.
    Unknown { from: usize, bound: u64 },
    /// No candidate left here.
    Done,
}

/// One placed operation, enough to undo it.
#[derive(Clone, Copy, Debug)]
struct Placed {
    what: Choice,
    before: State,
    /// Placed as the only move worth trying: when it fails, so does the
    /// configuration it was placed in.
    forced: bool,
}

#[derive(Clone, Copy, Debug)]
enum Choice {
    Def(u32),
    Unknown { unk: usize, bound: u64 },
}

/// Searches `ops` (one key's sub-history) for a linearization, spending at
/// most `*budget` placement attempts and deducting what it spends.
pub(crate) fn search(ops: &[KeyOp], budget: &mut u64) -> Found {
    Search::new(ops).run(budget)
}

struct Search<'a> {
    ops: &'a [KeyOp],
    /// Answered operations (indices into `ops`), in invocation order.
    def: Vec<usize>,
    /// Unknown operations (indices into `ops`), in invocation order.
    unk: Vec<usize>,
    /// For each unknown operation, the previous one asking exactly the same.
    twin: Vec<Option<usize>>,
    events: Vec<Event>,
    /// Event positions of each answered operation's invocation and response.
    call_at: Vec<u32>,
    ret_at: Vec<u32>,
    placed_def: Bits,
    placed_unk: Bits,
    state: State,
    stack: Vec<Placed>,
    memo: Memo,
    /// The stack that got furthest, kept incrementally: `best[..shared]` is
    /// still equal to `stack[..shared]`.
    best: Vec<Placed>,
    /// How far it got: the first pending response then (everything due
    /// before it was placed), and the answered operations placed.
    best_progress: (u64, usize),
    /// What doomed the best configuration, if something did.
    culprit: Option<usize>,
    shared: usize,
}

impl<'a> Search<'a> {
    fn new(ops: &'a [KeyOp]) -> Self {
        let mut def: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].is_definite()).collect();
        let mut unk: Vec<usize> = (0..ops.len()).filter(|&i| !ops[i].is_definite()).collect();
        def.sort_by_key(|&i| ops[i].invoke);
        unk.sort_by_key(|&i| ops[i].invoke);
        let mut last: HashMap<&Op, usize> = HashMap::new();
        let twin = (0..unk.len()).map(|u| last.insert(&ops[unk[u]].op, u)).collect();
        let mut order: Vec<(u64, bool, u32)> = Vec::with_capacity(2 * def.len());
        for (d, &i) in def.iter().enumerate() {
            order.push((ops[i].invoke, true, d as u32));
            order.push((ops[i].complete, false, d as u32));
        }
        // Equal timestamps do not say which event came first, so an
        // invocation sorts before a response at the same time: the two
        // operations count as concurrent, never as ordered.
        order.sort_by_key(|&(time, call, def)| (time, !call, def));
        let mut events = Vec::with_capacity(order.len() + 1);
        events.push(Event { def: NIL, call: false, time: 0, prev: NIL, next: if order.is_empty() { NIL } else { 1 } });
        let mut call_at = alloc::vec![0; def.len()];
        let mut ret_at = alloc::vec![0; def.len()];
        let n = order.len() as u32;
        for (pos, &(time, call, d)) in (1..).zip(order.iter()) {
            if call {
                call_at[d as usize] = pos;
            } else {
                ret_at[d as usize] = pos;
            }
            events.push(Event { def: d, call, time, prev: pos - 1, next: if pos == n { NIL } else { pos + 1 } });
        }
        let (nd, nu) = (def.len(), unk.len());
        Search {
            ops,
            def,
            unk,
            twin,
            events,
            call_at,
            ret_at,
            placed_def: Bits::new(nd),
            placed_unk: Bits::new(nu),
            state: None,
            stack: Vec::new(),
            memo: Memo::new(nu.div_ceil(64)),
            best: Vec::new(),
            best_progress: (0, 0),
            culprit: None,
            shared: 0,
        }
    }

    fn run(mut self, budget: &mut u64) -> Found {
        let mut cursor = Cursor::Fresh;
        loop {
            if self.placed_def.count == self.def.len() {
                return Found::Linearizable;
            }
            let choice = match cursor {
                Cursor::Fresh => {
                    if let Some(d) = self.observer() {
                        // Forced: if it fails, nothing else can succeed here.
                        if *budget == 0 {
                            return Found::Exhausted;
                        }
                        *budget -= 1;
                        cursor = if self.place(Choice::Def(d), true) { Cursor::Fresh } else { Cursor::Done };
                        continue;
                    }
                    if let Some(d) = self.doomed() {
                        // The furthest configuration is often doomed, and
                        // then by the very operation at fault.
                        if self.progress() >= self.best_progress {
                            self.keep_as_best();
                            self.culprit = Some(self.def[d as usize]);
                        }
                        cursor = Cursor::Done;
                        continue;
                    }
                    cursor = Cursor::Event(self.events[HEAD as usize].next);
                    continue;
                }
                Cursor::Event(e) => {
                    let ev = self.events[e as usize];
                    if !ev.call {
                        // The first pending response: nothing after it may
                        // go before it. Answered candidates are exhausted.
                        cursor = Cursor::Unknown { from: 0, bound: ev.time };
                        continue;
                    }
                    let o = &self.ops[self.def[ev.def as usize]];
                    if self.after_unknown() && model::overwrites(&o.op, o.ret.as_ref()) {
                        cursor = Cursor::Event(ev.next);
                        continue;
                    }
                    Choice::Def(ev.def)
                }
                Cursor::Unknown { from, bound } => match self.next_unknown(from, bound) {
                    Some(unk) => Choice::Unknown { unk, bound },
                    None => {
                        cursor = Cursor::Done;
                        continue;
                    }
                },
                Cursor::Done => {
                    // Every candidate failed: undo the last placement and
                    // try the candidate after it.
                    let Some(last) = self.stack.pop() else {
                        let prefix = self.best.iter().map(|p| self.op_index(p.what)).collect();
                        return Found::Impossible { prefix, culprit: self.culprit };
                    };
                    self.shared = self.shared.min(self.stack.len());
                    self.undo(last);
                    cursor = if last.forced { Cursor::Done } else { self.after(last.what) };
                    continue;
                }
            };
            if *budget == 0 {
                return Found::Exhausted;
            }
            *budget -= 1;
            cursor = if self.place(choice, false) { Cursor::Fresh } else { self.after(choice) };
        }
    }

    /// An answered candidate that can never be placed from here, if any: its
    /// answer does not fit the current state, and no unplaced operation
    /// that could still go before it leaves a state it fits.
    ///
    /// Anything placed before it is invoked before its response, and only
    /// what such an operation leaves can change the state it will see.
    /// Without this, a wrong order of writes is found out only when the
    /// read that contradicts it reaches its deadline, after every
    /// interleaving of what lies between has been tried.
    fn doomed(&self) -> Option<u32> {
        let mut e = self.events[HEAD as usize].next;
        while e != NIL && self.events[e as usize].call {
            let d = self.events[e as usize].def;
            let c = &self.ops[self.def[d as usize]];
            e = self.events[e as usize].next;
            let fits = |s: State| model::step(s, &c.op, c.ret.as_ref()).is_some();
            if fits(self.state) {
                continue;
            }
            let helps = |o: &KeyOp| match model::leaves(&o.op, o.ret.as_ref()) {
                model::Leaves::Nothing => false,
                model::Leaves::One(s) => fits(s),
                model::Leaves::Any => true,
            };
            // Unplaced answered operations invoked in time, in list order.
            let mut x = self.events[HEAD as usize].next;
            let mut helped = false;
            while x != NIL && !helped {
                let ev = self.events[x as usize];
                let o = &self.ops[self.def[ev.def as usize]];
                if ev.call {
                    if o.invoke > c.complete {
                        break;
                    }
                    helped = !core::ptr::eq(o, c) && helps(o);
                }
                x = ev.next;
            }
            helped = helped
                || (0..self.unk.len())
                    .take_while(|&u| self.ops[self.unk[u]].invoke <= c.complete)
                    .any(|u| !self.placed_unk.get(u) && helps(&self.ops[self.unk[u]]));
            if !helped {
                return Some(d);
            }
        }
        None
    }

    /// The time of the first pending response; `u64::MAX` if none is.
    fn first_response(&self) -> u64 {
        let mut e = self.events[HEAD as usize].next;
        while e != NIL && self.events[e as usize].call {
            e = self.events[e as usize].next;
        }
        if e == NIL { u64::MAX } else { self.events[e as usize].time }
    }

    /// A candidate whose answer the current state gives and which leaves
    /// that state unchanged.
    ///
    /// Placing it now is as good as placing it anywhere later: wherever a
    /// linearization puts it, the state there equals the state now (that is
    /// what its answer says), and moving it earlier drops no real-time
    /// constraint because it is already a candidate. So reads never branch.
    fn observer(&self) -> Option<u32> {
        let mut e = self.events[HEAD as usize].next;
        while e != NIL && self.events[e as usize].call {
            let d = self.events[e as usize].def;
            let o = &self.ops[self.def[d as usize]];
            if let Some(ret) = &o.ret
                && model::is_observer(&o.op, ret)
                && model::step(self.state, &o.op, Some(ret)) == Some(self.state)
            {
                return Some(d);
            }
            e = self.events[e as usize].next;
        }
        None
    }

    /// The first unplaced unknown operation at or after `from` that may be
    /// placed before the response at time `bound` and is worth placing.
    ///
    /// Not worth it: a later one of several pending unknown operations that
    /// ask the same thing (they are interchangeable from here on, so only
    /// the earliest is tried), one that would change nothing now (not
    /// placing it is as good), and an overwrite right after an unknown
    /// operation (see [`Search::after_unknown`]).
    fn next_unknown(&self, from: usize, bound: u64) -> Option<usize> {
        let after_unknown = self.after_unknown();
        (from..self.unk.len()).take_while(|&u| self.ops[self.unk[u]].invoke <= bound).find(|&u| {
            let op = &self.ops[self.unk[u]].op;
            !self.placed_unk.get(u)
                && self.twin[u].is_none_or(|t| self.placed_unk.get(t))
                && !(after_unknown && model::overwrites(op, None))
                && model::step(self.state, op, None) != Some(self.state)
        })
    }

    /// True if the last placement was an unknown operation.
    ///
    /// An operation whose answer and effect do not depend on the state
    /// (an overwrite) erases whatever unknown operations ran just before it,
    /// and their answers constrain nothing: dropping them leaves a
    /// linearization just as good, which placing the overwrite before them
    /// reaches. So an overwrite never directly follows an unknown operation.
    fn after_unknown(&self) -> bool {
        matches!(self.stack.last(), Some(Placed { what: Choice::Unknown { .. }, .. }))
    }

    fn op_index(&self, c: Choice) -> usize {
        match c {
            Choice::Def(d) => self.def[d as usize],
            Choice::Unknown { unk, .. } => self.unk[unk],
        }
    }

    /// Places `c` if the model accepts it and the configuration it leads to
    /// is new.
    fn place(&mut self, c: Choice, forced: bool) -> bool {
        let o = &self.ops[self.op_index(c)];
        let Some(next) = model::step(self.state, &o.op, o.ret.as_ref()) else {
            return false;
        };
        match c {
            Choice::Def(d) => self.placed_def.set(d as usize),
            Choice::Unknown { unk, .. } => self.placed_unk.set(unk),
        }
        if !self.memo.visit(&self.placed_def, next, &self.placed_unk.words) {
            match c {
                Choice::Def(d) => self.placed_def.clear(d as usize),
                Choice::Unknown { unk, .. } => self.placed_unk.clear(unk),
            }
            return false;
        }
        if let Choice::Def(d) = c {
            self.lift(d);
        }
        self.stack.push(Placed { what: c, before: self.state, forced });
        self.state = next;
        if self.progress() > self.best_progress {
            self.keep_as_best();
        }
        true
    }

    /// How far the current configuration got: the first pending response
    /// (everything due before it is placed), then the answered operations
    /// placed. Furthest in time rather than deepest: a wrong branch can
    /// place many operations and still be stuck earlier than the right one,
    /// which gets stuck where the history really goes wrong.
    fn progress(&self) -> (u64, usize) {
        (self.first_response(), self.placed_def.count)
    }

    /// Remembers the current stack as the one that got furthest.
    fn keep_as_best(&mut self) {
        self.best_progress = self.progress();
        self.best.truncate(self.shared);
        self.best.extend_from_slice(&self.stack[self.shared..]);
        self.shared = self.stack.len();
        self.culprit = None;
    }

    fn undo(&mut self, p: Placed) {
        self.state = p.before;
        match p.what {
            Choice::Def(d) => {
                self.placed_def.clear(d as usize);
                self.unlift(d);
            }
            Choice::Unknown { unk, .. } => self.placed_unk.clear(unk),
        }
    }

    /// Where to look after trying `c`: the candidate after it.
    fn after(&self, c: Choice) -> Cursor {
        match c {
            Choice::Def(d) => Cursor::Event(self.events[self.call_at[d as usize] as usize].next),
            Choice::Unknown { unk, bound } => Cursor::Unknown { from: unk + 1, bound },
        }
    }

    /// Takes an answered operation's invocation and response out of the list.
    fn lift(&mut self, d: u32) {
        self.unlink(self.call_at[d as usize]);
        self.unlink(self.ret_at[d as usize]);
    }

    /// Puts back what [`Search::lift`] took, in reverse order.
    fn unlift(&mut self, d: u32) {
        self.relink(self.ret_at[d as usize]);
        self.relink(self.call_at[d as usize]);
    }

    fn unlink(&mut self, e: u32) {
        let Event { prev, next, .. } = self.events[e as usize];
        self.events[prev as usize].next = next;
        if next != NIL {
            self.events[next as usize].prev = prev;
        }
    }

    fn relink(&mut self, e: u32) {
        let Event { prev, next, .. } = self.events[e as usize];
        self.events[prev as usize].next = e;
        if next != NIL {
            self.events[next as usize].prev = e;
        }
    }
}

/// A set of small integers, with the index of its first absent member kept
/// so the memo can skip the fully placed prefix.
#[derive(Clone, Debug)]
struct Bits {
    words: Vec<u64>,
    count: usize,
    /// Every member below it is present.
    first_absent: usize,
}

impl Bits {
    fn new(n: usize) -> Self {
        Bits { words: alloc::vec![0; n.div_ceil(64)], count: 0, first_absent: 0 }
    }

    fn get(&self, i: usize) -> bool {
        self.words[i / 64] >> (i % 64) & 1 == 1
    }

    fn set(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
        self.count += 1;
        if i == self.first_absent {
            let mut j = i;
            // Skip the run of members that starts here, word by word.
            while let Some(&w) = self.words.get(j / 64) {
                let run = (w >> (j % 64)).trailing_ones() as usize;
                j += run;
                if run == 0 || !j.is_multiple_of(64) {
                    break;
                }
            }
            self.first_absent = j;
        }
    }

    fn clear(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
        self.count -= 1;
        self.first_absent = self.first_absent.min(i);
    }

    /// The words that still tell members apart: all words before the one
    /// holding `first_absent` are full, all after the returned slice empty.
    fn frontier(&self) -> (usize, &[u64]) {
        let start = self.first_absent / 64;
        let mut rest = self.count - start * 64;
        let mut end = start;
        while rest > 0 {
            rest -= self.words[end].count_ones() as usize;
            end += 1;
        }
        (start, &self.words[start..end])
    }
}

/// A configuration already explored; its words live in [`Memo::words`].
#[derive(Clone, Copy, Debug)]
struct Seen {
    /// The next entry with the same hash, or [`NONE`].
    next: usize,
    /// Where its answered words, then its unknown words, start.
    at: usize,
    /// First word of the answered set stored (all before are full).
    start: u32,
    /// Answered words stored; [`u32::MAX`] once a newer entry dominates it.
    len: u32,
    state: State,
}

const NONE: usize = usize::MAX;

/// Lowe's memo of explored configurations, keyed by a hash of the placed
/// answered operations and the state. Entries sit in flat arrays: a search
/// may record millions.
struct Memo {
    heads: HashMap<u64, usize, BuildHasherDefault<Premixed>>,
    seen: Vec<Seen>,
    words: Vec<u64>,
    unk_len: usize,
}

impl Memo {
    fn new(unk_len: usize) -> Self {
        Memo { heads: HashMap::default(), seen: Vec::new(), words: Vec::new(), unk_len }
    }

    /// Records the configuration; false if it, or one with the same answered
    /// set and state and a subset of its unknown operations, was explored.
    fn visit(&mut self, def: &Bits, state: State, unk: &[u64]) -> bool {
        let (start, def_words) = def.frontier();
        let (start, len) = (start as u32, def_words.len() as u32);
        let mut h = mix(0x9e37_79b9_7f4a_7c15, u64::from(start));
        h = mix(h, state.map_or(0, |v| v as u64 ^ 0x5555_5555_5555_5555));
        h = mix(h, u64::from(state.is_some()));
        for &w in def_words {
            h = mix(h, w);
        }
        let head = self.heads.get(&h).copied().unwrap_or(NONE);
        let mut e = head;
        while e != NONE {
            let s = self.seen[e];
            let at = s.at;
            if s.len == len && s.start == start && s.state == state && self.words[at..at + len as usize] == *def_words {
                let theirs = &self.words[at + len as usize..at + len as usize + self.unk_len];
                if subset(theirs, unk) {
                    return false;
                }
                // The new one dominates an explored superset; forget it.
                if subset(unk, theirs) {
                    self.seen[e].len = u32::MAX;
                }
            }
            e = s.next;
        }
        let at = self.words.len();
        self.words.extend_from_slice(def_words);
        self.words.extend_from_slice(unk);
        self.heads.insert(h, self.seen.len());
        self.seen.push(Seen { next: head, at, start, len, state });
        true
    }
}

fn subset(a: &[u64], b: &[u64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x & !y == 0)
}

fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// Passes through the already mixed `u64` keys of the memo.
#[derive(Default)]
struct Premixed(u64);

impl Hasher for Premixed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0, u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_track_the_first_absent_member_across_words() {
        let mut b = Bits::new(200);
        for i in 0..130 {
            b.set(i);
        }
        assert_eq!(b.first_absent, 130);
        b.clear(3);
        assert_eq!(b.first_absent, 3);
        assert_eq!(b.frontier(), (0, &b.words[..3]));
        b.set(3);
        assert_eq!(b.first_absent, 130);
        b.set(131);
        assert_eq!(b.first_absent, 130);
        b.set(130);
        assert_eq!(b.first_absent, 132);
        assert_eq!(b.frontier().0, 2);
        assert_eq!(b.frontier().1.len(), 1);
    }

    #[test]
    fn bits_at_a_word_boundary() {
        let mut b = Bits::new(128);
        for i in (0..128).rev() {
            b.set(i);
        }
        assert_eq!(b.first_absent, 128);
        assert_eq!(b.frontier(), (2, &[][..]));
    }

    #[test]
    fn memo_prunes_supersets_of_unknown_operations() {
        let mut m = Memo::new(1);
        let mut d = Bits::new(10);
        d.set(2);
        assert!(m.visit(&d, Some(1), &[0b10]));
        assert!(!m.visit(&d, Some(1), &[0b10]));
        assert!(!m.visit(&d, Some(1), &[0b11]));
        assert!(m.visit(&d, Some(2), &[0b11]));
        assert!(m.visit(&d, Some(1), &[0b00]));
        assert!(!m.visit(&d, Some(1), &[0b01]));
        d.set(3);
        assert!(m.visit(&d, Some(1), &[0b01]));
    }
}
