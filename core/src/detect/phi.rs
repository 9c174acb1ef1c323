//! The φ accrual failure detector.
//!
//! Hayashibara, Défago, Yared & Katayama, "The φ Accrual Failure Detector"
//! (SRDS 2004): model heartbeat inter-arrival times as a normal distribution
//! estimated from a sliding window, and report φ(t) = −log₁₀ P(a heartbeat
//! arrives later than t). The refinements are Akka's (`PhiAccrualFailureDetector`):
//! a floor on the standard deviation, an acceptable pause added to the mean,
//! and a window seeded from a first-heartbeat estimate.

use super::ConfigError;
use super::window::Window;
use crate::time::{Duration, Instant, duration_nanos};

/// φ accrual settings; the defaults are Akka's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhiConfig {
    /// φ at or above which the node counts as failed (Akka and Cassandra use 8).
    pub threshold: f64,
    /// Intervals kept in the window.
    pub max_samples: usize,
    /// The smallest standard deviation used, so a perfectly regular sender
    /// is not convicted after a single late heartbeat.
    pub min_std_deviation: Duration,
    /// A pause the caller tolerates on top of the mean (GC, network blips).
    pub acceptable_pause: Duration,
    /// The assumed interval before any has been measured.
    pub first_heartbeat_estimate: Duration,
}

impl Default for PhiConfig {
    fn default() -> Self {
        PhiConfig {
            threshold: 8.0,
            max_samples: 1000,
            min_std_deviation: Duration::from_millis(100),
            acceptable_pause: Duration::ZERO,
            first_heartbeat_estimate: Duration::from_secs(1),
        }
    }
}

/// A φ accrual failure detector for one monitored node.
///
/// Call [`PhiAccrual::heartbeat`] on every heartbeat from the node, and
/// [`PhiAccrual::phi`] or [`PhiAccrual::is_available`] whenever a decision
/// is needed. Before the first heartbeat the node counts as available (φ = 0).
#[derive(Clone, Debug)]
pub struct PhiAccrual {
    config: PhiConfig,
    window: Window,
    last: Option<Instant>,
    /// The distribution, in µs, refreshed on each heartbeat: mean plus the
    /// acceptable pause, and the floored standard deviation.
    mean: f64,
    std: f64,
    /// The standardised silence y at which φ reaches the threshold; φ
    /// depends on y alone, so the verdict needs no logarithm per call.
    y_threshold: f64,
}

impl PhiAccrual {
    /// A detector with `config`.
    pub fn new(config: PhiConfig) -> Result<Self, ConfigError> {
        if !(config.threshold.is_finite() && config.threshold > 0.0) {
            return Err(ConfigError::Threshold);
        }
        if !(1..=1 << 16).contains(&config.max_samples) {
            return Err(ConfigError::Window);
        }
        if config.first_heartbeat_estimate.is_zero() {
            return Err(ConfigError::FirstEstimate);
        }
        let y_threshold = invert_phi(config.threshold);
        Ok(PhiAccrual { config, window: Window::new(config.max_samples), last: None, mean: 0.0, std: 1.0, y_threshold })
    }

    /// Records a heartbeat received at `now`. A heartbeat older than the
    /// last one is ignored.
    pub fn heartbeat(&mut self, now: Instant) {
        match self.last {
            // A reordered heartbeat carries no interval: ignore it.
            Some(last) if now < last => return,
            Some(last) => self.window.push(micros(now - last)),
            None => {
                // Akka: seed with mean ± mean/4 so the first silence is judged
                // against a plausible distribution rather than none.
                let mean = micros(self.config.first_heartbeat_estimate);
                self.window.push(mean - mean / 4);
                self.window.push(mean + mean / 4);
            }
        }
        self.last = Some(now);
        self.mean = self.window.mean() + micros(self.config.acceptable_pause) as f64;
        let floor = (micros(self.config.min_std_deviation) as f64).max(1.0);
        self.std = libm::sqrt(self.window.variance()).max(floor);
    }

    /// The suspicion level at `now`: 0 while heartbeats arrive on time,
    /// rising without bound (up to +∞) as silence grows.
    pub fn phi(&self, now: Instant) -> f64 {
        let Some(last) = self.last else { return 0.0 };
        let elapsed = micros(now - last) as f64;
        phi_of((elapsed - self.mean) / self.std)
    }

    /// Whether φ at `now` is below the threshold (exact up to a microsecond
    /// at the boundary). O(1) without transcendental functions: it compares
    /// the silence with [`PhiAccrual::suspect_at`].
    pub fn is_available(&self, now: Instant) -> bool {
        self.suspect_at().is_none_or(|t| now < t)
    }

    /// When φ will reach the threshold if no heartbeat arrives: the time to
    /// check again, like a `poll_timeout`. `None` before the first heartbeat.
    pub fn suspect_at(&self) -> Option<Instant> {
        let last = self.last?;
        let micros = (self.mean + self.y_threshold * self.std).max(0.0);
        // Saturating float-to-int: an absurd distribution means "never".
        Some(last.saturating_add(Duration::from_nanos((micros * 1000.0) as u64)))
    }

    /// When the last heartbeat arrived.
    pub fn last_heartbeat(&self) -> Option<Instant> {
        self.last
    }

    /// Intervals in the window (including the two seeded ones until they age out).
    pub fn sample_count(&self) -> usize {
        self.window.len()
    }

    /// The mean interval in the window.
    pub fn mean_interval(&self) -> Duration {
        Duration::from_nanos((self.window.mean() * 1000.0) as u64)
    }

    /// The settings.
    pub fn config(&self) -> &PhiConfig {
        &self.config
    }
}

/// φ for a silence `y` standard deviations past the mean:
/// −log₁₀ P(X > y) for a standard normal X.
fn phi_of(y: f64) -> f64 {
    -libm::log10(0.5 * libm::erfc(y / core::f64::consts::SQRT_2))
}

/// The y at which φ first reaches `threshold`, by bisection (φ increases
/// with y; beyond y ≈ 38.5, erfc underflows and φ is +∞).
fn invert_phi(threshold: f64) -> f64 {
    let (mut lo, mut hi) = (-40.0f64, 40.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if phi_of(mid) >= threshold {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

fn micros(d: Duration) -> u64 {
    duration_nanos(d) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(detector: &mut PhiAccrual, start: Instant, interval: Duration, count: u32) -> Instant {
        let mut t = start;
        for _ in 0..count {
            detector.heartbeat(t);
            t += interval;
        }
        t.saturating_sub(interval)
    }

    #[test]
    fn silence_raises_phi_until_the_node_is_suspected() {
        let mut d = PhiAccrual::new(PhiConfig::default()).unwrap();
        assert_eq!(d.phi(Instant::from_millis(5)), 0.0, "no heartbeat yet: no suspicion");
        let last = every(&mut d, Instant::ZERO, Duration::from_secs(1), 20);
        let at = |ms: u64| d.phi(last + Duration::from_millis(ms));
        // Heartbeats every second exactly (σ floored at 100 ms).
        assert!(at(0) < 1e-6);
        assert!((at(1000) - libm::log10(2.0)).abs() < 1e-9, "at the mean, P(later) = 1/2");
        let mut previous = 0.0;
        for ms in (0..3000).step_by(50) {
            assert!(at(ms) >= previous, "φ never falls while silence grows");
            previous = at(ms);
        }
        assert!(d.is_available(last + Duration::from_millis(1400)));
        assert!(!d.is_available(last + Duration::from_millis(1600)));
        assert_eq!(at(60_000), f64::INFINITY);
    }

    #[test]
    fn golden_phi_values() {
        let config = PhiConfig {
            min_std_deviation: Duration::from_millis(5),
            first_heartbeat_estimate: Duration::from_millis(100),
            ..PhiConfig::default()
        };
        let mut d = PhiAccrual::new(config).unwrap();
        let mut t = Instant::ZERO;
        for i in 0..50u64 {
            d.heartbeat(t);
            t += Duration::from_millis(90 + (i * 7) % 21);
        }
        let last = d.last_heartbeat().unwrap();
        let phis: [f64; 4] = [100, 110, 130, 160].map(|ms| d.phi(last + Duration::from_millis(ms)));
        // The same window through Python's math.erfc: mean 96.98 ms, σ 7.52 ms.
        let expected = [0.463_399_539_811_136_6, 1.379_648_082_170_388, 5.247_030_838_788_639, 16.573_455_251_471_28];
        for (phi, want) in phis.iter().zip(expected) {
            assert!((phi - want).abs() < 1e-9, "{phi} vs {want}");
        }
        assert_eq!(d.mean_interval(), Duration::from_nanos(96_980_392));
    }

    #[test]
    fn the_verdict_agrees_with_phi_and_the_threshold() {
        for threshold in [0.5, 1.0, 3.0, 8.0, 16.0, 100.0, 400.0] {
            let config = PhiConfig { threshold, ..PhiConfig::default() };
            let mut d = PhiAccrual::new(config).unwrap();
            assert!(d.is_available(Instant::MAX) && d.suspect_at().is_none(), "no heartbeat: no verdict");
            let mut t = Instant::ZERO;
            for i in 0..30u64 {
                d.heartbeat(t);
                t += Duration::from_millis(800 + (i * 37) % 400);
            }
            let last = d.last_heartbeat().unwrap();
            let boundary = d.suspect_at().unwrap();
            for ms in (0..20_000).step_by(7) {
                let now = last + Duration::from_millis(ms);
                let near = (now.as_nanos() as i128 - boundary.as_nanos() as i128).abs() < 2_000;
                assert!(near || d.is_available(now) == (d.phi(now) < threshold), "threshold {threshold}, {ms} ms");
            }
            assert!(d.phi(boundary + Duration::from_micros(2)) >= threshold || threshold > 300.0);
            assert!(d.phi(boundary.saturating_sub(Duration::from_micros(2))) < threshold);
        }
    }

    #[test]
    fn the_window_forgets_old_intervals() {
        let config = PhiConfig { max_samples: 10, ..PhiConfig::default() };
        let mut d = PhiAccrual::new(config).unwrap();
        let t = every(&mut d, Instant::ZERO, Duration::from_millis(100), 50);
        assert_eq!(d.sample_count(), 10);
        let t = every(&mut d, t + Duration::from_secs(5), Duration::from_secs(5), 11);
        // Only 5 s intervals remain: a 5 s silence is now normal.
        assert_eq!(d.mean_interval(), Duration::from_secs(5));
        assert!(d.is_available(t + Duration::from_secs(5)));
    }

    #[test]
    fn the_acceptable_pause_shifts_the_mean() {
        let pause = PhiConfig { acceptable_pause: Duration::from_secs(3), ..PhiConfig::default() };
        let (mut strict, mut lenient) =
            (PhiAccrual::new(PhiConfig::default()).unwrap(), PhiAccrual::new(pause).unwrap());
        let last = every(&mut strict, Instant::ZERO, Duration::from_secs(1), 10);
        every(&mut lenient, Instant::ZERO, Duration::from_secs(1), 10);
        let late = last + Duration::from_secs(3);
        assert!(!strict.is_available(late));
        assert!(lenient.is_available(late));
    }

    #[test]
    fn heartbeats_out_of_order_do_not_move_time_back() {
        let mut d = PhiAccrual::new(PhiConfig::default()).unwrap();
        d.heartbeat(Instant::from_millis(5000));
        d.heartbeat(Instant::from_millis(4000));
        assert_eq!(d.last_heartbeat(), Some(Instant::from_millis(5000)));
        assert_eq!(d.sample_count(), 2, "only the two seeded intervals");
        assert_eq!(d.phi(Instant::from_millis(1000)), d.phi(Instant::from_millis(5000)));
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let base = PhiConfig::default();
        for (config, err) in [
            (PhiConfig { threshold: 0.0, ..base }, ConfigError::Threshold),
            (PhiConfig { threshold: f64::INFINITY, ..base }, ConfigError::Threshold),
            (PhiConfig { max_samples: 0, ..base }, ConfigError::Window),
            (PhiConfig { max_samples: (1 << 16) + 1, ..base }, ConfigError::Window),
            (PhiConfig { first_heartbeat_estimate: Duration::ZERO, ..base }, ConfigError::FirstEstimate),
        ] {
            assert_eq!(PhiAccrual::new(config).unwrap_err(), err);
        }
    }
}
