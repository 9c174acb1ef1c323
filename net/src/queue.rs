//! A bounded queue between one consumer task and any number of producers:
//! the per-peer send queue. A full queue refuses (back-pressure as an
//! error the caller sees), it never grows.

use crate::sync::{Arc, Mutex, lock};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::collections::VecDeque;

/// Why an item was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// At capacity; the item was dropped.
    #[error("queue full")]
    Full,
    /// The consumer is gone.
    #[error("queue closed")]
    Closed,
}

struct State<T> {
    items: VecDeque<T>,
    cap: usize,
    closed: bool,
    waker: Option<Waker>,
}

/// A bounded multi-producer, single-consumer queue.
pub struct BoundedQueue<T> {
    state: Arc<Mutex<State<T>>>,
}

impl<T> Clone for BoundedQueue<T> {
    fn clone(&self) -> Self {
        BoundedQueue { state: self.state.clone() }
    }
}

impl<T> BoundedQueue<T> {
    /// A queue holding at most `cap` items.
    pub fn new(cap: usize) -> Self {
        BoundedQueue {
            state: Arc::new(Mutex::new(State { items: VecDeque::new(), cap: cap.max(1), closed: false, waker: None })),
        }
    }

    /// Queues `item`, waking the consumer.
    pub fn push(&self, item: T) -> Result<(), QueueError> {
        let waker = {
            let mut s = lock(&self.state);
            if s.closed {
                return Err(QueueError::Closed);
            }
            if s.items.len() >= s.cap {
                return Err(QueueError::Full);
            }
            s.items.push_back(item);
            s.waker.take()
        };
        // Wake outside the lock: the consumer may run at once.
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Waits for at least one item, then moves every queued item into
    /// `out` (so the consumer can batch them). Resolves to false once the
    /// queue is closed and empty.
    pub fn pop_all<'a>(&'a self, out: &'a mut Vec<T>) -> PopAll<'a, T> {
        PopAll { queue: self, out }
    }

    /// Takes the oldest item, if any.
    pub fn try_pop(&self) -> Option<T> {
        lock(&self.state).items.pop_front()
    }

    /// Waits until an item is queued (true) or the queue is closed and
    /// empty (false), taking nothing. For a single consumer, a following
    /// [`BoundedQueue::try_pop`] then succeeds.
    pub fn wait_nonempty(&self) -> WaitNonEmpty<'_, T> {
        WaitNonEmpty { queue: self }
    }

    /// Stops the queue: pushes fail, the consumer drains what is left.
    pub fn close(&self) {
        let waker = {
            let mut s = lock(&self.state);
            s.closed = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// True once [`BoundedQueue::close`] was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        lock(&self.state).items.len()
    }

    /// True if nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The future of [`BoundedQueue::pop_all`].
pub struct PopAll<'a, T> {
    queue: &'a BoundedQueue<T>,
    out: &'a mut Vec<T>,
}

impl<T> Future for PopAll<'_, T> {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = self.get_mut();
        let mut s = lock(&this.queue.state);
        if !s.items.is_empty() {
            this.out.extend(s.items.drain(..));
            return Poll::Ready(true);
        }
        if s.closed {
            return Poll::Ready(false);
        }
        // Registered under the lock, so a push after this sees the waker.
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// The future of [`BoundedQueue::wait_nonempty`].
pub struct WaitNonEmpty<'a, T> {
    queue: &'a BoundedQueue<T>,
}

impl<T> Future for WaitNonEmpty<'_, T> {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let mut s = lock(&self.queue.state);
        if !s.items.is_empty() {
            return Poll::Ready(true);
        }
        if s.closed {
            return Poll::Ready(false);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn refuses_when_full_and_batches_on_pop() {
        let q = BoundedQueue::new(2);
        q.push(1).unwrap();
        q.push(2).unwrap();
        assert_eq!(q.push(3), Err(QueueError::Full));
        let mut out = Vec::new();
        assert!(futures::executor::block_on(q.pop_all(&mut out)));
        assert_eq!(out, vec![1, 2]);
        q.push(4).unwrap();
        q.close();
        assert_eq!(q.push(5), Err(QueueError::Closed));
        out.clear();
        assert!(futures::executor::block_on(q.pop_all(&mut out)), "drains what was queued before closing");
        assert_eq!(out, vec![4]);
        assert!(!futures::executor::block_on(q.pop_all(&mut out)));
    }

    #[test]
    fn a_waiting_consumer_is_woken_by_another_thread() {
        let q = BoundedQueue::new(8);
        let p = q.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(core::time::Duration::from_millis(20));
            p.push(7).unwrap();
        });
        let mut out = Vec::new();
        assert!(futures::executor::block_on(q.pop_all(&mut out)));
        assert_eq!(out, vec![7]);
        t.join().unwrap();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    /// Two producers race a consumer: every accepted item arrives exactly
    /// once, the bound holds, and no wakeup is lost (loom explores every
    /// interleaving; a lost wakeup shows up as a deadlock).
    #[test]
    fn concurrent_pushes_are_never_lost_or_over_capacity() {
        loom::model(|| {
            let q = BoundedQueue::new(2);
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let q = q.clone();
                    loom::thread::spawn(move || q.push(p).is_ok())
                })
                .collect();
            let mut got = Vec::new();
            let accepted: usize = producers.into_iter().map(|h| usize::from(h.join().unwrap())).sum();
            q.close();
            while loom::future::block_on(q.pop_all(&mut got)) {}
            assert_eq!(got.len(), accepted);
            assert!(got.len() <= 2);
        });
    }

    /// The inbox pattern (wait, then take one) never loses a wakeup.
    #[test]
    fn waiting_then_taking_sees_every_item() {
        loom::model(|| {
            let q = BoundedQueue::new(4);
            let p = q.clone();
            let h = loom::thread::spawn(move || {
                p.push(1).unwrap();
                p.push(2).unwrap();
            });
            let mut got = Vec::new();
            while got.len() < 2 {
                assert!(loom::future::block_on(q.wait_nonempty()));
                while let Some(x) = q.try_pop() {
                    got.push(x);
                }
            }
            assert_eq!(got, vec![1, 2]);
            h.join().unwrap();
        });
    }

    /// A consumer parked before the push is always woken.
    #[test]
    fn a_parked_consumer_is_woken() {
        loom::model(|| {
            let q = BoundedQueue::new(1);
            let p = q.clone();
            let h = loom::thread::spawn(move || {
                p.push(1).unwrap();
            });
            let mut got = Vec::new();
            assert!(loom::future::block_on(q.pop_all(&mut got)));
            assert_eq!(got, vec![1]);
            h.join().unwrap();
        });
    }
}
