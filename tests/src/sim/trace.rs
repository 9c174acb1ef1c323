//! The last events before a failure, in words.

use std::collections::VecDeque;

/// A bounded log of readable events; off unless a run is replayed to
/// explain a failure.
#[derive(Debug, Default)]
pub struct Trace {
    enabled: bool,
    cap: usize,
    lines: VecDeque<String>,
}

impl Trace {
    /// Keeps the last `cap` lines if `enabled`.
    pub fn new(enabled: bool, cap: usize) -> Self {
        Trace { enabled, cap, lines: VecDeque::new() }
    }

    /// True if lines are kept (so callers can skip formatting otherwise).
    pub fn on(&self) -> bool {
        self.enabled
    }

    /// Records a line at virtual time `now`.
    pub fn log(&mut self, now: u64, line: impl FnOnce() -> String) {
        if !self.enabled {
            return;
        }
        if self.lines.len() >= self.cap {
            self.lines.pop_front();
        }
        self.lines.push_back(format!("{:>6}.{:03}ms {}", now / 1_000_000, (now / 1000) % 1000, line()));
    }

    /// The kept lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}
