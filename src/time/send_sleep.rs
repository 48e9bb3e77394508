//! `SendSleep`: a sleep that is `Send + Sync`, for code that needs one
//! (hyper's `Timer`, futures stored in `Send` state).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use std::sync::Arc;

use crate::runtime::context;
use crate::runtime::task::Remote;
use crate::runtime::timers::TimerKey;

/// Wait until `duration` has elapsed, with a future that is `Send + Sync`.
///
/// # Panics
///
/// When polled outside a corering runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// fn needs_send<T: Send + Sync>(t: T) -> T {
///     t
/// }
/// let rt = corering::Runtime::new_default()?;
/// rt.block_on(needs_send(corering::time::sleep_send(Duration::from_millis(1))));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn sleep_send(duration: Duration) -> SendSleep {
    sleep_send_until(super::after(Instant::now(), duration))
}

/// Wait until `deadline`, with a future that is `Send + Sync`.
///
/// # Panics
///
/// When polled outside a corering runtime.
pub fn sleep_send_until(deadline: Instant) -> SendSleep {
    SendSleep { deadline, timer: None }
}

/// The future of [`sleep_send`]: a [`Sleep`](super::Sleep) that may cross
/// threads. It registers in the timer store of the worker that polls it
/// (so that worker's park is bounded by it) and holds that worker's inbox,
/// not the worker. Dropped on that worker (the usual case) it removes its
/// timer at once; dropped on another thread, or moved to another worker,
/// it sends its old worker a job that removes it there.
#[must_use = "futures do nothing unless awaited"]
pub struct SendSleep {
    deadline: Instant,
    /// The worker (its inbox) and key it is registered under.
    timer: Option<(Arc<Remote>, TimerKey)>,
}

impl SendSleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

impl Future for SendSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let worker = context::current().expect(context::NO_RUNTIME);
        if let Some(old) = self.timer.take_if(|(remote, _)| remote.worker != worker.id()) {
            forget(old); // registered on another worker: move here
        }
        if self.timer.is_none() {
            if Instant::now() >= self.deadline {
                return Poll::Ready(());
            }
            let key = worker.timers.borrow_mut().insert(self.deadline);
            self.timer = Some((worker.remote().clone(), key));
        }
        let key = self.timer.as_ref().expect("registered above").1;
        let (poll, old_waker) = worker.timers.borrow_mut().poll(key, cx);
        drop(old_waker); // out of the borrow: its drop may use the runtime
        if poll.is_ready() {
            self.timer = None;
            let old_waker = worker.timers.borrow_mut().remove(key);
            drop(old_waker);
        }
        poll
    }
}

impl Drop for SendSleep {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            forget(timer);
        }
    }
}

/// Remove a timer from its worker's store: here if that worker is the one
/// running, otherwise through a job sent to it.
fn forget((remote, key): (Arc<Remote>, TimerKey)) {
    let remove = move || {
        if let Some(worker) = context::current() {
            let old_waker = worker.timers.borrow_mut().remove(key);
            drop(old_waker); // out of the borrow: its drop may use the runtime
        }
    };
    match context::current() {
        Some(w) if w.id() == remote.worker => remove(),
        // A worker that is gone took its timers with it.
        _ => drop(remote.send(Box::new(remove))),
    }
}

impl fmt::Debug for SendSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendSleep").field("deadline", &self.deadline).finish()
    }
}
