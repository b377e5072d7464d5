//! The messages tied to one request in flight (progress, log lines, server-to-client requests), on
//! their way from the connection's reader to whoever waits for that request, and from there to
//! the client's response stream.
//!
//! Every proxied call has one or two of these, and almost none ever carries a message, so it is
//! built to cost nothing until used: one small allocation, and a queue that allocates on its
//! first message. (A tokio `mpsc` channel allocates its first 32-slot block up front: ~4.5 KiB
//! per call for a channel of [`Message`](switchboard_protocol::Message)s, which showed up as a
//! few percent of the gateway's CPU.)
//!
//! The sending side only ever offers (`try_send`): the connection's reader serves every request
//! on the connection and must not wait on one slow reader. A full queue hands the message back,
//! and the reader decides what to do with it.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;

/// A queue holding at most `capacity` messages.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            senders: 1,
            receiving: true,
        }),
        waker: AtomicWaker::new(),
        capacity,
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// The receiver's task, woken by a message or by the last sender leaving.
    waker: AtomicWaker,
    capacity: usize,
}

struct State<T> {
    queue: VecDeque<T>,
    senders: usize,
    receiving: bool,
}

impl<T> Shared<T> {
    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why a message was handed back.
#[derive(Debug)]
pub enum TrySendError<T> {
    /// The receiver has `capacity` messages it has not read yet.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// The offering side; clones share the queue.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("related::Sender")
    }
}

impl<T> Sender<T> {
    /// Queues `msg` unless the queue is full or nobody receives any more.
    // The message comes back by value on failure, as with tokio's channels: the caller decides
    // where it goes instead.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        let mut st = self.shared.state();
        if !st.receiving {
            return Err(TrySendError::Closed(msg));
        }
        if st.queue.len() >= self.shared.capacity {
            return Err(TrySendError::Full(msg));
        }
        st.queue.push_back(msg);
        drop(st);
        self.shared.waker.wake();
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.state().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut st = self.shared.state();
        st.senders -= 1;
        let last = st.senders == 0;
        drop(st);
        if last {
            self.shared.waker.wake();
        }
    }
}

/// The receiving side.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// The next message; `None` once the queue is empty and every sender is gone. Cancel-safe: a
    /// message is taken only when it is returned.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // Registered before looking, so a message queued right after the look still wakes us.
        self.shared.waker.register(cx.waker());
        let mut st = self.shared.state();
        match st.queue.pop_front() {
            Some(m) => Poll::Ready(Some(m)),
            None if st.senders == 0 => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    /// A message already queued, if any.
    pub fn try_recv(&mut self) -> Option<T> {
        self.shared.state().queue.pop_front()
    }
}

impl<T> Drop for Receiver<T> {
    /// Later offers are refused as closed; what was queued and never read is dropped.
    fn drop(&mut self) {
        let unread = {
            let mut st = self.shared.state();
            st.receiving = false;
            std::mem::take(&mut st.queue)
        };
        drop(unread);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use switchboard_protocol::Message;

    use super::*;

    fn note(n: u32) -> Message {
        let text = format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progress":{n}}}}}"#
        );
        Message::parse(Bytes::from(text)).unwrap()
    }

    fn progress(m: &Message) -> &str {
        m.param("progress").unwrap()
    }

    #[tokio::test]
    async fn messages_arrive_in_order_then_none_after_the_last_sender() {
        let (tx, mut rx) = channel(8);
        let tx2 = tx.clone();
        tx.try_send(note(1)).unwrap();
        tx2.try_send(note(2)).unwrap();
        drop(tx);
        assert_eq!(progress(&rx.recv().await.unwrap()), "1");
        assert_eq!(progress(&rx.try_recv().unwrap()), "2");
        assert!(rx.try_recv().is_none());
        // One sender is left: nothing queued, not finished either.
        let pending = tokio::time::timeout(std::time::Duration::from_millis(20), rx.recv()).await;
        assert!(pending.is_err(), "recv must wait while a sender lives");
        drop(tx2);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send_from_another_task() {
        let (tx, mut rx) = channel(8);
        let sender = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            tx.try_send(note(7)).unwrap();
            // Keeps the sender alive until the receiver has the message.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        });
        // A lost wake-up fails here instead of hanging the test run.
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .expect("woken by the send");
        assert_eq!(progress(&got.unwrap()), "7");
        sender.await.unwrap();
        assert!(rx.recv().await.is_none());
    }

    #[test]
    fn a_full_queue_and_a_gone_receiver_hand_the_message_back() {
        let (tx, rx) = channel(2);
        tx.try_send(note(1)).unwrap();
        tx.try_send(note(2)).unwrap();
        match tx.try_send(note(3)) {
            Err(TrySendError::Full(m)) => assert_eq!(progress(&m), "3"),
            other => panic!("expected Full, got {other:?}"),
        }
        drop(rx);
        match tx.try_send(note(4)) {
            Err(TrySendError::Closed(m)) => assert_eq!(progress(&m), "4"),
            other => panic!("expected Closed, got {other:?}"),
        }
    }
}
