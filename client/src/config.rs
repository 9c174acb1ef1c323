//! How a [`crate::Client`] finds the cluster and how hard it tries.

use core::time::Duration;

/// The client's settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// RESP addresses (`host:port`) of the cluster's nodes; any of them
    /// serves any command (a follower forwards writes to the leader).
    pub endpoints: Vec<String>,
    /// How long one attempt may take before the connection is dropped and
    /// the command tried again (a node answers "timeout" itself after its
    /// own request timeout, 5 s by default).
    pub attempt_timeout: Duration,
    /// How long a call keeps trying, over every endpoint, before it gives
    /// up with [`crate::Error::Unavailable`].
    pub retry_budget: Duration,
    /// The first pause between attempts; each failure doubles it, up to
    /// [`Config::max_backoff`], and the pause is drawn at random from its
    /// upper half ("equal jitter"), so clients that failed together do not
    /// retry together.
    pub base_backoff: Duration,
    /// The longest pause between attempts.
    pub max_backoff: Duration,
    /// The seed of the jitter: a run replays from it.
    pub seed: u64,
    /// `AUTH user password` on every new connection.
    pub auth: Option<(String, String)>,
    /// The longest reply the client buffers.
    pub max_reply_bytes: usize,
    /// How a lease is counted locally: subtracted drift, and how long the
    /// client keeps trying after its local lease ran out before it calls
    /// the lease lost (Chubby §2.8's grace period).
    pub lease: synod_core::lease::TrackerConfig,
    /// Where reads go: to the leader (the default), or spread over every
    /// node by the balancer.
    pub reads: crate::Reads,
    /// With spread reads, how often every endpoint is pinged for the
    /// failure detector.
    pub probe_interval: Duration,
}

impl Config {
    /// Defaults for these endpoints: 6 s per attempt, 30 s in all, pauses
    /// from 10 ms to 1 s, the seed drawn from the clock.
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Config {
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
                ^ u64::from(std::process::id()).rotate_left(32);
        Config {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            attempt_timeout: Duration::from_secs(6),
            retry_budget: Duration::from_secs(30),
            base_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(1),
            seed,
            auth: None,
            max_reply_bytes: 64 << 20,
            lease: synod_core::lease::TrackerConfig {
                drift: Duration::from_millis(100),
                drift_ppm: 1000,
                grace: Duration::from_secs(45),
            },
            reads: crate::Reads::Leader,
            probe_interval: Duration::from_millis(500),
        }
    }

    /// The same, authenticating as `user`.
    pub fn with_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Config {
        self.auth = Some((user.into(), password.into()));
        self
    }

    /// The same, with this jitter seed.
    pub fn with_seed(mut self, seed: u64) -> Config {
        self.seed = seed;
        self
    }

    /// The same, sending reads as `reads` says.
    pub fn with_reads(mut self, reads: crate::Reads) -> Config {
        self.reads = reads;
        self
    }

    /// The same, giving up after `budget`.
    pub fn with_retry_budget(mut self, budget: Duration) -> Config {
        self.retry_budget = budget;
        self
    }
}
