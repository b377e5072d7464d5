//! The signal that tells every open connection to finish its request in hand and close.
//!
//! Every connection must hear it, and every connection's task is woken several times per
//! request, so what it costs per wake-up matters: a `CancellationToken` future locks the token's
//! mutex and its waiter list on each poll, and with one token shared by all connections those
//! locks bounce between cores on every request. Here a connection registers its waker once and
//! afterwards checks an atomic flag; shutdown sets the flag and wakes everyone registered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};

#[derive(Default)]
pub(super) struct Closing {
    closed: AtomicBool,
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, Waker>>,
}

impl Closing {
    fn waiting(&self) -> MutexGuard<'_, HashMap<u64, Waker>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the flag and wakes every connection waiting for it.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let wakers: Vec<Waker> = self.waiting().drain().map(|(_, w)| w).collect();
        for w in wakers {
            w.wake();
        }
    }

    /// A connection's view of the signal.
    pub(super) fn watch(self: &Arc<Self>) -> Watch {
        Watch {
            closing: self.clone(),
            id: self.next.fetch_add(1, Ordering::Relaxed),
            registered: None,
        }
    }
}

/// One connection's registration; dropping it deregisters.
pub(super) struct Watch {
    closing: Arc<Closing>,
    id: u64,
    /// The waker registered last, to tell whether the task's waker changed.
    registered: Option<Waker>,
}

impl Watch {
    /// Whether shutdown has begun; if not, `cx`'s task is woken when it does.
    pub(super) fn is_closed(&mut self, cx: &Context<'_>) -> bool {
        if self.closing.closed.load(Ordering::Acquire) {
            return true;
        }
        if !self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            let w = cx.waker().clone();
            self.closing.waiting().insert(self.id, w.clone());
            self.registered = Some(w);
        }
        // Checked again after registering: a close between the first look and the
        // registration has drained the map already and would not wake us.
        self.closing.closed.load(Ordering::Acquire)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.registered.is_some() {
            self.closing.waiting().remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::task::Poll;

    use super::*;

    #[tokio::test]
    async fn a_waiting_connection_is_woken_by_close_and_sees_it() {
        let closing = Arc::new(Closing::default());
        let mut watch = closing.watch();
        let c2 = closing.clone();
        let waiter = tokio::spawn(async move {
            poll_fn(|cx| {
                if watch.is_closed(cx) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        c2.close();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken by close")
            .unwrap();
        assert!(
            closing.waiting().is_empty(),
            "close drains the registrations"
        );
    }

    #[test]
    fn a_watch_made_after_close_sees_it_at_once_and_a_dropped_one_deregisters() {
        let closing = Arc::new(Closing::default());
        let mut open = closing.watch();
        let cx = Context::from_waker(Waker::noop());
        assert!(!open.is_closed(&cx));
        assert_eq!(closing.waiting().len(), 1);
        drop(open);
        assert!(closing.waiting().is_empty());
        closing.close();
        let mut late = closing.watch();
        assert!(late.is_closed(&cx));
    }
}
