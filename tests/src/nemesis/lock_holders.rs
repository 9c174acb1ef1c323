//! The lock workload through `synod-client`: holders contend for one lock
//! under leases the client keeps alive, act only while the client's lease
//! tracker says they may (Chubby §2.8), and present their fencing token to
//! a resource before and after acting (Chubby §2.4's sequencers). Checked
//! after healing: tokens strictly increase from one holding to the next,
//! no two holdings overlap in time, and the resource never saw a holder
//! act after a later holder had begun.

use super::clients::Shared;
use core::time::Duration;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use synod_client::{Client, Config, Lease};
use synod_core::lease::{FenceGuard, FencingToken};
use synod_core::rand::Rng;
use synod_tokio::{TcpConnector, TokioRuntime};

/// The lock the holders contend for.
pub const LOCK: &str = "nemesis:held";
/// The holders' lease TTL: short, so leases run out under faults.
pub const TTL: Duration = Duration::from_millis(2_000);

/// One time a holder held the lock and acted under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holding {
    /// Which holder.
    pub holder: u64,
    /// The grant's fencing token.
    pub token: u64,
    /// When the grant arrived (since the campaign's start).
    pub from: Duration,
    /// The last moment the holder still knew it held the lock (its lease
    /// tracker said it may act) and acted.
    pub to: Duration,
    /// The resource refused its token at the end: a later holder had
    /// presented a larger one meanwhile.
    pub fenced_out: bool,
}

/// What the holders did, beyond their holdings.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Holdings, in no particular order.
    pub holdings: Vec<Holding>,
    /// Holdings cut short because the lease stopped being safe to act on.
    pub cut_short: u64,
    /// Lock calls that ended in an error (lease lost, unavailable).
    pub errors: u64,
}

/// The resource the lock protects: it admits a token only if no larger
/// one was admitted before.
#[derive(Default)]
pub struct Resource(Mutex<FenceGuard>);

impl Resource {
    fn admit(&self, token: u64) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).admit(FencingToken(token)).is_ok()
    }
}

/// Runs holder `holder` until `shared.until`.
pub fn run(shared: Arc<Shared>, holder: u64, seed: u64, resource: Arc<Resource>, tally: Arc<Mutex<Tally>>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return eprintln!("no runtime for lock holder {holder}: {e}"),
    };
    rt.block_on(async {
        let cfg = Config::new(shared.nodes.iter().map(ToString::to_string))
            .with_seed(seed)
            .with_retry_budget(Duration::from_secs(10));
        let client = match Client::new(cfg, TokioRuntime::current(), Arc::new(TcpConnector)) {
            Ok(c) => Arc::new(c),
            Err(e) => return eprintln!("lock holder {holder}: {e}"),
        };
        let mut rng = Rng::with_seed(seed);
        let mut lease: Option<Lease> = None;
        while Instant::now() < shared.until {
            let held = match lease.take() {
                Some(l) if l.may_act() => l,
                _ => match client.grant(TTL).await {
                    Ok(l) => l,
                    Err(_) => {
                        tally.lock().unwrap_or_else(|e| e.into_inner()).errors += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            match client.lock(LOCK, &held).await {
                Ok(guard) => {
                    let h = hold(&shared, holder, guard.token(), &held, &resource, &mut rng).await;
                    {
                        let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                        t.holdings.push(h.0);
                        t.cut_short += u64::from(h.1);
                    }
                    let _ = guard.release().await;
                }
                Err(_) => tally.lock().unwrap_or_else(|e| e.into_inner()).errors += 1,
            }
            lease = Some(held);
            tokio::time::sleep(Duration::from_millis(rng.range(0, 30))).await;
        }
    });
}

/// Acts under the lock for a while, checking the lease before each step;
/// returns the holding and whether the lease cut it short.
async fn hold(
    shared: &Shared,
    holder: u64,
    token: u64,
    lease: &Lease,
    resource: &Resource,
    rng: &mut Rng,
) -> (Holding, bool) {
    let from = shared.start.elapsed();
    let admitted = resource.admit(token);
    let mut to = from;
    let steps = rng.range(2, 20);
    let mut cut = false;
    for _ in 0..steps {
        if !lease.may_act() {
            cut = true;
            break;
        }
        to = shared.start.elapsed();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let fenced_out = !admitted || !resource.admit(token);
    (Holding { holder, token, from, to, fenced_out }, cut)
}

/// Checks the holdings: tokens strictly increase in the order holdings
/// began, each holding ended before the next began, no token was fenced
/// out.
pub fn check(holdings: &[Holding]) -> Vec<String> {
    let mut v = Vec::new();
    let mut sorted = holdings.to_vec();
    sorted.sort_by_key(|h| (h.from, h.token));
    let mut prev: Option<&Holding> = None;
    let mut longest: Option<&Holding> = None;
    for h in &sorted {
        if h.fenced_out {
            v.push(format!(
                "holder {} with token {} was fenced out: a later holder acted meanwhile",
                h.holder, h.token
            ));
        }
        if let Some(p) = prev
            && h.token <= p.token
        {
            v.push(format!(
                "token {} (holder {}) came after token {} (holder {}): tokens must strictly increase",
                h.token, h.holder, p.token, p.holder
            ));
        }
        // Against the holding that acted longest so far, not only the
        // previous one: a short holding must not hide a long one.
        if let Some(p) = longest
            && h.from <= p.to
        {
            v.push(format!(
                "holder {} (token {}) acted until {:?} but holder {} (token {}) held from {:?}",
                p.holder, p.token, p.to, h.holder, h.token, h.from
            ));
        }
        if longest.is_none_or(|p| h.to > p.to) {
            longest = Some(h);
        }
        prev = Some(h);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(holder: u64, token: u64, from: u64, to: u64) -> Holding {
        Holding { holder, token, from: Duration::from_millis(from), to: Duration::from_millis(to), fenced_out: false }
    }

    #[test]
    fn holdings_one_after_another_with_rising_tokens_pass() {
        assert!(check(&[h(2, 9, 30, 40), h(1, 5, 0, 20), h(1, 12, 41, 50)]).is_empty());
    }

    #[test]
    fn overlapping_holdings_are_caught_even_past_a_short_one() {
        // Holder 1 acts until 100; holder 2 holds 20..30 and holder 3 50..60:
        // both overlap holder 1, the second only against the longest so far.
        let v = check(&[h(1, 5, 0, 100), h(2, 9, 20, 30), h(3, 12, 50, 60)]);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v.iter().all(|m| m.contains("acted until")), "{v:?}");
    }

    #[test]
    fn a_token_that_does_not_rise_is_caught() {
        let v = check(&[h(1, 9, 0, 10), h(2, 9, 20, 30), h(1, 7, 40, 50)]);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v.iter().all(|m| m.contains("strictly increase")), "{v:?}");
    }

    #[test]
    fn a_fenced_out_holder_is_caught() {
        let mut late = h(1, 5, 0, 10);
        late.fenced_out = true;
        assert_eq!(check(&[late, h(2, 9, 20, 30)]).len(), 1);
    }

    #[test]
    fn the_resource_refuses_an_older_token() {
        let r = Resource::default();
        assert!(r.admit(5) && r.admit(5) && r.admit(9));
        assert!(!r.admit(5));
    }
}
