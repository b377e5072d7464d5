//! A concurrency limit with a bounded wait: up to `max` calls run at once, up to `max_queue`
//! more wait (each at most `max_wait`), and anything beyond is refused at once. A caller never
//! hangs on a full limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Why a limit refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every slot is taken and the wait queue is full.
    QueueFull,
    /// Waited `max_wait` without a slot.
    WaitedTooLong(Duration),
}

#[derive(Debug)]
pub struct Limit {
    max: usize,
    slots: Semaphore,
    waiting: AtomicUsize,
    max_queue: usize,
    max_wait: Duration,
}

impl Limit {
    pub fn new(max: usize, max_queue: usize, max_wait: Duration) -> Limit {
        Limit {
            max,
            slots: Semaphore::new(max),
            waiting: AtomicUsize::new(0),
            max_queue,
            max_wait,
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Calls holding a slot now.
    pub fn in_flight(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    /// Calls waiting for a slot now.
    pub fn queued(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// A slot, held until the permit drops. The uncontended path is one compare-and-swap.
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, Refused> {
        if let Ok(permit) = self.slots.try_acquire() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::QueueFull);
        }
        // Leaves the queue however the wait ends, a dropped (cancelled) caller included.
        let _queued = Queued(&self.waiting);
        match tokio::time::timeout(self.max_wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Refused::WaitedTooLong(self.max_wait)),
        }
    }
}

struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_and_past_the_boundary() {
        let limit = Limit::new(2, 1, Duration::from_millis(100));
        let a = limit.acquire().await.unwrap();
        let _b = limit.acquire().await.unwrap();
        assert_eq!(limit.in_flight(), 2);
        // The third waits (queue of one); the fourth is refused at once.
        let waiter = limit.acquire();
        tokio::pin!(waiter);
        assert!(futures_poll(&mut waiter).await.is_none());
        assert_eq!(limit.queued(), 1);
        assert_eq!(limit.acquire().await.unwrap_err(), Refused::QueueFull);
        // A slot freed in time goes to the waiter.
        drop(a);
        let c = waiter.await.unwrap();
        assert_eq!(limit.queued(), 0);
        // Nobody frees one now: the next waits max_wait, then is refused.
        let err = limit.acquire().await.unwrap_err();
        assert_eq!(err, Refused::WaitedTooLong(Duration::from_millis(100)));
        assert_eq!(limit.queued(), 0);
        drop(c);
        assert_eq!(limit.in_flight(), 1);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_leaves_the_queue() {
        let limit = Limit::new(1, 1, Duration::from_secs(10));
        let _a = limit.acquire().await.unwrap();
        {
            let waiter = limit.acquire();
            tokio::pin!(waiter);
            assert!(futures_poll(&mut waiter).await.is_none());
            assert_eq!(limit.queued(), 1);
        }
        assert_eq!(limit.queued(), 0);
    }

    /// Polls once: `Some` if it finished.
    async fn futures_poll<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        tokio::select! {
            biased;
            out = f => Some(out),
            () = std::future::ready(()) => None,
        }
    }
}
