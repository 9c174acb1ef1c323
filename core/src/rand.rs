//! Seeded randomness owned by each machine.
//!
//! No machine in the core touches a global generator: each owns an [`Rng`]
//! seeded from its configuration, and a parent derives its children's
//! seeds, so one seed replays a whole cluster bit for bit.

use crate::time::{Duration, duration_nanos};
use rand_core::{Rng as _, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A small, fast, seeded pseudo-random generator (xoshiro256++).
///
/// Not cryptographic: it picks election timeouts, backoffs and jitter.
#[derive(Clone, Debug)]
pub struct Rng(Xoshiro256PlusPlus);

impl Rng {
    /// A generator whose whole output is determined by `seed`.
    pub fn with_seed(seed: u64) -> Self {
        Rng(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// A child generator with an independent stream, derived from this one.
    pub fn derive(&mut self) -> Rng {
        Rng::with_seed(self.next_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform value in `0..n`; `n == 0` yields 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's nearly-divisionless method: unbiased, one multiply.
        let threshold = n.wrapping_neg() % n;
        loop {
            let wide = u128::from(self.next_u64()) * u128::from(n);
            if (wide as u64) >= threshold {
                return (wide >> 64) as u64;
            }
        }
    }

    /// A uniform value in `lo..hi`; `lo` if the range is empty.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo))
    }

    /// A uniform duration in `lo..hi` at nanosecond resolution.
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        Duration::from_nanos(self.range(duration_nanos(lo), duration_nanos(hi)))
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit_f64() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::with_seed(7);
        let mut b = Rng::with_seed(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::with_seed(7).next_u64(), Rng::with_seed(8).next_u64());
    }

    #[test]
    fn golden_first_values_never_change() {
        // Replays of old seeds depend on this stream staying put.
        let mut r = Rng::with_seed(0);
        let first = r.next_u64();
        let mut again = Rng::with_seed(0);
        assert_eq!(first, again.next_u64());
        assert_eq!(Rng::with_seed(42).below(1000), Rng::with_seed(42).below(1000));
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::with_seed(1);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let v = r.below(10);
            assert!(v < 10);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.below(0), 0);
        assert_eq!(r.range(5, 5), 5);
    }

    #[test]
    fn duration_in_half_open_range() {
        let mut r = Rng::with_seed(3);
        for _ in 0..1000 {
            let d = r.duration(Duration::from_millis(150), Duration::from_millis(300));
            assert!(d >= Duration::from_millis(150) && d < Duration::from_millis(300));
        }
    }

    #[test]
    fn unit_f64_in_unit_interval() {
        let mut r = Rng::with_seed(9);
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let x = r.unit_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        assert!((sum / 10_000.0 - 0.5).abs() < 0.02);
    }
}
