//! Load balancing: which node takes the next request.
//!
//! Every balancer implements [`Balancer`], one small object-safe trait, so
//! a client holds a `Box<dyn Balancer>` chosen by configuration and the
//! decorators ([`OutlierEjection`], [`ZoneAware`]) wrap any other balancer.
//!
//! | type | policy | uses reports for |
//! |---|---|---|
//! | [`RoundRobin`] | each available node in turn | nothing |
//! | [`SmoothWeighted`] | nginx's smooth weighted round robin | nothing |
//! | [`LeastConnections`] | fewest requests in flight | in-flight counts |
//! | [`PowerOfTwo`] | the less loaded of two random nodes (Mitzenmacher 2001) | in-flight counts |
//! | [`PeakEwma`] | two random nodes by peak-EWMA latency × load (Finagle) | latency, in-flight |
//! | [`OutlierEjection`] | any balancer, minus nodes that fail (Envoy) | success, failures |
//! | [`ZoneAware`] | a balancer per zone, local zone first (Envoy) | routes to its zone |
//!
//! ## Call order
//!
//! 1. [`Balancer::pick`] opens a request and names its node (`None`: no
//!    node is available);
//! 2. exactly one [`Balancer::report`] closes it, with its [`Outcome`];
//! 3. at any time, [`Balancer::set_available`] marks a node up or down (from
//!    a failure detector, health checks or a membership change).
//!
//! ```
//! use synod_core::balance::{Balancer, Outcome, PowerOfTwo};
//! use synod_core::id::NodeId;
//! use synod_core::rand::Rng;
//! use synod_core::time::{Duration, Instant};
//!
//! let mut lb: Box<dyn Balancer> = Box::new(PowerOfTwo::new(&[NodeId(1), NodeId(2), NodeId(3)])?);
//! let mut rng = Rng::with_seed(7);
//! let now = Instant::from_millis(10);
//! let node = lb.pick(now, &mut rng).expect("three nodes are up");
//! // ... send the request to `node`, then:
//! lb.report(node, now, Outcome::success(Duration::from_millis(3)));
//! # Ok::<(), synod_core::balance::BuildError>(())
//! ```

mod least_conn;
mod members;
mod outlier;
mod p2c;
mod peak_ewma;
mod round_robin;
mod smooth_wrr;
mod zone;

#[cfg(test)]
mod tests;

pub use least_conn::LeastConnections;
pub use outlier::{OutlierConfig, OutlierEjection};
pub use p2c::PowerOfTwo;
pub use peak_ewma::{PeakEwma, PeakEwmaConfig};
pub use round_robin::RoundRobin;
pub use smooth_wrr::{MAX_SCHEDULE, SmoothWeighted};
pub use zone::{Zone, ZoneAware};

use crate::id::NodeId;
use crate::rand::Rng;
use crate::time::{Duration, Instant};

/// A load-balancing policy. Object-safe: `Box<dyn Balancer>` works.
pub trait Balancer {
    /// Opens a request: the node to send it to, or `None` if no node is
    /// available. Every `Some` must be closed by one [`Balancer::report`].
    fn pick(&mut self, now: Instant, rng: &mut Rng) -> Option<NodeId>;

    /// Closes a request to `node` that [`Balancer::pick`] opened. Reports
    /// for nodes that are not members are ignored.
    fn report(&mut self, node: NodeId, now: Instant, outcome: Outcome);

    /// Marks `node` up (`true`) or down: a down node is never picked until
    /// it is marked up again. Unknown nodes are ignored.
    fn set_available(&mut self, node: NodeId, available: bool);
}

impl<B: Balancer + ?Sized> Balancer for alloc::boxed::Box<B> {
    fn pick(&mut self, now: Instant, rng: &mut Rng) -> Option<NodeId> {
        (**self).pick(now, rng)
    }
    fn report(&mut self, node: NodeId, now: Instant, outcome: Outcome) {
        (**self).report(node, now, outcome)
    }
    fn set_available(&mut self, node: NodeId, available: bool) {
        (**self).set_available(node, available)
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// From send to response (or to giving up).
    pub latency: Duration,
    /// Whether the node served it; a timeout or a server error is `false`.
    pub success: bool,
}

impl Outcome {
    /// A request served in `latency`.
    pub const fn success(latency: Duration) -> Self {
        Outcome { latency, success: true }
    }

    /// A request that failed after `latency`.
    pub const fn failure(latency: Duration) -> Self {
        Outcome { latency, success: false }
    }
}

/// Why a balancer could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No nodes.
    #[error("the node set is empty")]
    Empty,
    /// A node appears twice.
    #[error("node {0} appears more than once")]
    DuplicateNode(NodeId),
    /// A node was given weight zero; leave it out instead.
    #[error("node {0} has weight zero")]
    ZeroWeight(NodeId),
    /// A configuration value is out of range; the field is named.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
}
