//! A one-shot signal any number of tasks can wait for: transport shutdown.

use crate::sync::{Arc, Mutex, lock};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

struct State {
    fired: bool,
    waiters: Vec<(u64, Waker)>,
    next: u64,
}

/// Fires once; every waiter, present or future, then completes.
#[derive(Clone)]
pub struct Signal {
    state: Arc<Mutex<State>>,
}

impl Default for Signal {
    fn default() -> Self {
        Signal { state: Arc::new(Mutex::new(State { fired: false, waiters: Vec::new(), next: 0 })) }
    }
}

impl Signal {
    /// A signal not yet fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires, waking every waiter.
    pub fn fire(&self) {
        let waiters = {
            let mut s = lock(&self.state);
            s.fired = true;
            core::mem::take(&mut s.waiters)
        };
        for (_, w) in waiters {
            w.wake();
        }
    }

    /// True once fired.
    pub fn is_fired(&self) -> bool {
        lock(&self.state).fired
    }

    /// Completes when the signal fires.
    pub fn wait(&self) -> Wait {
        Wait { signal: self.clone(), slot: None }
    }
}

/// The future of [`Signal::wait`].
pub struct Wait {
    signal: Signal,
    slot: Option<u64>,
}

impl Future for Wait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut s = lock(&this.signal.state);
        if s.fired {
            return Poll::Ready(());
        }
        // Each waiter keeps its own slot, so no waiter's wakeup is lost to
        // another's registration.
        match this.slot {
            Some(id) => match s.waiters.iter_mut().find(|(i, _)| *i == id) {
                Some((_, w)) => w.clone_from(cx.waker()),
                None => s.waiters.push((id, cx.waker().clone())),
            },
            None => {
                s.next += 1;
                let id = s.next;
                s.waiters.push((id, cx.waker().clone()));
                this.slot = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(id) = self.slot {
            lock(&self.signal.state).waiters.retain(|(i, _)| *i != id);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_waiter_wakes() {
        let s = Signal::new();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let w = s.wait();
                std::thread::spawn(move || futures::executor::block_on(w))
            })
            .collect();
        std::thread::sleep(core::time::Duration::from_millis(20));
        s.fire();
        for h in handles {
            h.join().unwrap();
        }
        assert!(s.is_fired());
        futures::executor::block_on(s.wait()); // already fired: immediate
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    /// Two waiters and a firing thread: both waiters always complete.
    #[test]
    fn no_waiter_is_forgotten() {
        loom::model(|| {
            let s = Signal::new();
            let f = s.clone();
            let w1 = s.wait();
            let h1 = loom::thread::spawn(move || loom::future::block_on(w1));
            let h2 = loom::thread::spawn(move || f.fire());
            loom::future::block_on(s.wait());
            h1.join().unwrap();
            h2.join().unwrap();
        });
    }
}
