//! Failure detection: how suspicious is a node's silence?
//!
//! [`PhiAccrual`] turns the arrival times of a node's heartbeats into a
//! suspicion level φ that rises continuously while the node is silent;
//! callers pick their own trade-off between detection time and mistakes by
//! choosing the threshold (φ = 1 means a 10% chance of being wrong, φ = 8
//! about 10⁻⁸). Feed it with [`PhiAccrual::heartbeat`], ask
//! [`PhiAccrual::is_available`]; it never reads a clock.

mod phi;
mod window;

pub use phi::{PhiAccrual, PhiConfig};

/// Why a detector could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The threshold must be a positive, finite φ.
    #[error("threshold must be positive and finite")]
    Threshold,
    /// The window holds between 1 and 65,536 samples.
    #[error("sample window must hold 1 to 65536 intervals")]
    Window,
    /// The first heartbeat estimate seeds the window and must be positive.
    #[error("first heartbeat estimate must be positive")]
    FirstEstimate,
}
