//! A bounded window of heartbeat intervals with O(1) mean and variance.

use alloc::collections::VecDeque;

/// The last `capacity` intervals, in microseconds, with exact running sums:
/// integers cannot drift the way a floating-point running sum does over
/// millions of heartbeats.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    samples: VecDeque<u64>,
    capacity: usize,
    sum: u64,
    sum_sq: u128,
}

impl Window {
    pub(crate) fn new(capacity: usize) -> Self {
        Window { samples: VecDeque::with_capacity(capacity), capacity, sum: 0, sum_sq: 0 }
    }

    pub(crate) fn push(&mut self, micros: u64) {
        if self.samples.len() == self.capacity
            && let Some(old) = self.samples.pop_front()
        {
            self.sum = self.sum.saturating_sub(old);
            self.sum_sq = self.sum_sq.saturating_sub(u128::from(old) * u128::from(old));
        }
        // Saturating: only intervals of centuries (2^16 samples of 2^48 µs)
        // could reach the limits, and then φ is meaningless anyway.
        self.samples.push_back(micros);
        self.sum = self.sum.saturating_add(micros);
        self.sum_sq = self.sum_sq.saturating_add(u128::from(micros) * u128::from(micros));
    }

    pub(crate) fn len(&self) -> usize {
        self.samples.len()
    }

    pub(crate) fn mean(&self) -> f64 {
        if self.samples.is_empty() { 0.0 } else { self.sum as f64 / self.samples.len() as f64 }
    }

    pub(crate) fn variance(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let n = self.samples.len() as f64;
        let mean = self.mean();
        (self.sum_sq as f64 / n - mean * mean).max(0.0)
    }
}
