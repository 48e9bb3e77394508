//! `Sleep`: a future that completes at a deadline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::runtime::Worker;
use crate::runtime::context;
use crate::runtime::timers::TimerKey;

/// Wait until `duration` has elapsed.
///
/// # Panics
///
/// When polled outside a corering runtime.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let rt = corering::Runtime::builder().pin(false).build()?;
/// let start = Instant::now();
/// rt.block_on(corering::time::sleep(Duration::from_millis(10)));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(super::after(Instant::now(), duration))
}

/// Wait until `deadline`.
///
/// # Panics
///
/// When polled outside a corering runtime.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, timer: None }
}

/// The future of [`sleep`] and [`sleep_until`]. Dropping it removes the
/// timer from its worker's store.
///
/// It stays on the thread it was created on:
///
/// ```compile_fail
/// let s = corering::time::sleep(std::time::Duration::from_secs(1));
/// std::thread::spawn(move || drop(s));
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// Registered at first poll, on the polling worker.
    timer: Option<(TimerKey, Rc<Worker>)>,
}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Move the deadline (the sleep becomes pending again if it is later).
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        if let Some((key, worker)) = &self.timer {
            worker.timers.borrow_mut().reset(*key, deadline);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let current = context::current().expect(context::NO_RUNTIME);
        // Registered on another worker (a runtime since dropped, or another
        // one on this thread): move to the one polling us, whose park the
        // deadline must bound.
        if let Some((key, worker)) = self.timer.take_if(|(_, w)| !Rc::ptr_eq(w, &current)) {
            let old_waker = worker.timers.borrow_mut().remove(key);
            drop(old_waker); // out of the borrow: its drop may use the runtime
        }
        if self.timer.is_none() {
            if Instant::now() >= self.deadline {
                return Poll::Ready(());
            }
            let key = current.timers.borrow_mut().insert(self.deadline);
            self.timer = Some((key, current));
        }
        let (key, worker) = self.timer.as_ref().unwrap();
        let (poll, old_waker) = worker.timers.borrow_mut().poll(*key, cx);
        drop(old_waker); // out of the borrow: its drop may use the runtime
        poll
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((key, worker)) = self.timer.take() {
            let old_waker = worker.timers.borrow_mut().remove(key);
            drop(old_waker); // out of the borrow: its drop may use the runtime
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).finish()
    }
}
