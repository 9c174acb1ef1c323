//! A small [`Runtime`] on plain OS threads: a futures thread pool and one
//! timer thread. For tests, and for embedders that have no async runtime.

use crate::runtime::Runtime;
use core::cmp::Reverse;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use futures::executor::ThreadPool;
use futures::future::BoxFuture;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex};
use synod_core::time::Instant;

struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    wakers: std::collections::HashMap<u64, (Waker, Arc<Mutex<bool>>)>,
    next: u64,
    stop: bool,
}

/// Spawns onto a thread pool; sleeps on a timer thread.
#[derive(Clone)]
pub struct ThreadRuntime {
    pool: ThreadPool,
    epoch: std::time::Instant,
    timers: Arc<(Mutex<Timers>, Condvar)>,
}

impl ThreadRuntime {
    /// A runtime with `threads` worker threads.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let pool = ThreadPool::builder().pool_size(threads.max(1)).name_prefix("synod-").create()?;
        let timers = Arc::new((
            Mutex::new(Timers { heap: BinaryHeap::new(), wakers: Default::default(), next: 0, stop: false }),
            Condvar::new(),
        ));
        let epoch = std::time::Instant::now();
        let t = timers.clone();
        std::thread::Builder::new().name("synod-timer".into()).spawn(move || timer_thread(&t, epoch))?;
        Ok(ThreadRuntime { pool, epoch, timers })
    }
}

impl Drop for ThreadRuntime {
    fn drop(&mut self) {
        // The last clone stops the timer thread.
        if Arc::strong_count(&self.timers) == 2 {
            let (m, cv) = &*self.timers;
            m.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
            cv.notify_all();
        }
    }
}

fn now_since(epoch: std::time::Instant) -> Instant {
    Instant::from_nanos(u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
}

fn timer_thread(timers: &Arc<(Mutex<Timers>, Condvar)>, epoch: std::time::Instant) {
    let (m, cv) = &**timers;
    let mut t = m.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if t.stop {
            return;
        }
        let now = now_since(epoch);
        while let Some(Reverse((at, id))) = t.heap.peek().copied() {
            if at > now {
                break;
            }
            t.heap.pop();
            if let Some((w, fired)) = t.wakers.remove(&id) {
                *fired.lock().unwrap_or_else(|e| e.into_inner()) = true;
                w.wake();
            }
        }
        let wait = t
            .heap
            .peek()
            .map(|Reverse((at, _))| core::time::Duration::from_nanos(at.as_nanos().saturating_sub(now.as_nanos())))
            .unwrap_or(core::time::Duration::from_millis(100));
        t = cv.wait_timeout(t, wait).unwrap_or_else(|e| e.into_inner()).0;
    }
}

struct Sleep {
    deadline: Instant,
    timers: Arc<(Mutex<Timers>, Condvar)>,
    epoch: std::time::Instant,
    fired: Arc<Mutex<bool>>,
    id: Option<u64>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if *self.fired.lock().unwrap_or_else(|e| e.into_inner()) || now_since(self.epoch) >= self.deadline {
            return Poll::Ready(());
        }
        let (m, cv) = &*self.timers;
        let mut t = m.lock().unwrap_or_else(|e| e.into_inner());
        let id = match self.id {
            Some(id) => id,
            None => {
                t.next += 1;
                let id = t.next;
                t.heap.push(Reverse((self.deadline, id)));
                id
            }
        };
        t.wakers.insert(id, (cx.waker().clone(), self.fired.clone()));
        drop(t);
        cv.notify_all();
        self.id = Some(id);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let (m, _) = &*self.timers;
            m.lock().unwrap_or_else(|e| e.into_inner()).wakers.remove(&id);
        }
    }
}

impl Runtime for ThreadRuntime {
    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        self.pool.spawn_ok(fut);
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        Box::pin(Sleep {
            deadline,
            timers: self.timers.clone(),
            epoch: self.epoch,
            fired: Arc::new(Mutex::new(false)),
            id: None,
        })
    }

    fn now(&self) -> Instant {
        now_since(self.epoch)
    }
}
