//! The runtime: a worker thread with its own ring, tasks, wakers, timers and
//! the driver of in-flight operations.
//!
//! Everything here is per worker and thread-local; the only things that
//! cross threads are wakers, which reach their worker through its inbox.
//! This layer knows nothing of sockets: `net` and `time` talk to it through
//! `Op`, `MultiOp` and the timer store.

mod affinity;
pub(crate) mod buf_pool;
mod builder;
pub(crate) mod context;
pub(crate) mod driver;
pub(crate) mod fd;
mod join;
mod metrics;
pub(crate) mod op;
mod shutdown;
pub(crate) mod task;
#[cfg(test)]
mod tests;
pub(crate) mod timers;
mod worker;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::{fmt, mem};

pub use builder::{Builder, Faults};
pub use join::{JoinError, JoinHandle};
pub use metrics::Metrics;

use driver::Driver;
use task::Remote;

use crate::uring::FORKED;
pub(crate) use worker::Worker;

/// A corering runtime: one worker, pinned to a CPU, on the thread that
/// built it.
///
/// The runtime is bound to that thread (`!Send`): its ring is set up for a
/// single issuer. Dropping it drops every task on this thread, cancels every
/// operation still in flight and waits for the kernel to finish them before
/// the ring is closed, so the kernel never writes into freed memory.
///
/// A `Runtime` cannot leave its thread:
///
/// ```compile_fail
/// let rt = corering::Runtime::builder().pin(false).build().unwrap();
/// std::thread::spawn(move || drop(rt));
/// ```
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let rt = corering::Runtime::builder().pin(false).build()?;
/// let n = rt.block_on(async {
///     let t = corering::spawn(async {
///         corering::time::sleep(Duration::from_millis(1)).await;
///         21
///     });
///     t.await.unwrap() * 2
/// });
/// assert_eq!(n, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    worker: Rc<Worker>,
    pinned: Option<affinity::Pinned>,
}

impl Runtime {
    /// A runtime with default options (pinned to the first allowed CPU).
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    pub fn new_default() -> io::Result<Runtime> {
        Builder::default().build()
    }

    /// Options for a new runtime.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn new(b: &Builder) -> io::Result<Runtime> {
        let pinned = if b.pin { Some(affinity::pin(b.cpu)?) } else { None };
        let mut ring = b.ring.clone();
        ring.entries(b.entries);
        ring.cq_entries(b.cq_entries.unwrap_or(b.entries * 2));
        let ring = if b.faults.setup_enomem {
            let enomem = io::Error::from_raw_os_error(libc::ENOMEM);
            return Err(crate::uring::setup::explain(enomem, None));
        } else {
            ring.build()?
        };
        let remote = Remote::new(std::os::fd::AsFd::as_fd(&ring))?;
        let driver =
            Driver::new(ring, remote.eventfd(), (b.buf_ring_entries, b.buf_size), b.faults);
        let worker = Rc::new(Worker::new(driver, remote, b.event_budget, b.timer_resolution));
        tracing::debug!(
            worker = worker.id(),
            cpu = pinned.as_ref().map(|p| p.cpu),
            "runtime started"
        );
        Ok(Runtime { worker, pinned })
    }

    /// Run `future` to completion on this thread, driving every spawned
    /// task and operation meanwhile.
    ///
    /// # Panics
    ///
    /// If called from within a future this runtime (or another on this
    /// thread) is running, and if `future` panics (the panic propagates).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if context::current().is_some() {
            panic!("Runtime::block_on called from within a runtime on this thread");
        }
        assert!(!self.forked(), "corering: a runtime cannot run in a forked child: {FORKED}");
        let _enter = context::enter(self.worker.clone());
        self.worker.block_on(future)
    }

    /// A handle to spawn onto this runtime from outside `block_on`.
    pub fn handle(&self) -> Handle {
        Handle { worker: self.worker.clone() }
    }

    /// A snapshot of the worker's counters.
    pub fn metrics(&self) -> Metrics {
        self.worker.metrics()
    }

    /// The CPU the worker is pinned to, if pinned.
    pub fn cpu(&self) -> Option<usize> {
        self.pinned.as_ref().map(|p| p.cpu)
    }
}

impl Runtime {
    /// Whether this process was forked from the one that built the runtime.
    fn forked(&self) -> bool {
        self.worker.driver.borrow().ring.is_forked()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.forked() {
            // The ring and its registrations are the parent's: touch
            // nothing, free nothing the kernel may use; the child's memory
            // goes with it.
            mem::forget(self.worker.clone());
            return;
        }
        let _enter = context::enter(self.worker.clone());
        self.worker.drop_tasks();
        self.worker.driver.borrow_mut().start_drain();
        let deadline = std::time::Instant::now() + shutdown::DRAIN_LIMIT;
        let drained = loop {
            let step = self.worker.driver.borrow_mut().drain_step(deadline);
            match step {
                shutdown::Drain::Done => break true,
                // Outside the borrow: wakes and drops may use the worker.
                shutdown::Drain::Waiting(dead, woken) => {
                    woken.into_iter().for_each(std::task::Waker::wake);
                    drop(dead);
                }
                shutdown::Drain::Failed => break false,
            }
        };
        self.worker.remote().close();
        if !drained {
            // The kernel still holds operations pointing at memory the
            // worker owns: leak the worker rather than free that memory.
            tracing::warn!("in-flight operations did not finish at shutdown; leaking the ring");
            mem::forget(self.worker.clone());
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("worker", &self.worker.id())
            .field("cpu", &self.cpu())
            .finish()
    }
}

/// A handle to a runtime, to spawn tasks on it and read its metrics.
///
/// It is `!Send`, like the runtime: tasks need not be `Send` because they
/// never leave their worker.
///
/// ```compile_fail
/// let rt = corering::Runtime::builder().pin(false).build().unwrap();
/// let handle = rt.handle();
/// std::thread::spawn(move || drop(handle));
/// ```
#[derive(Clone)]
pub struct Handle {
    worker: Rc<Worker>,
}

/// There is no corering runtime on this thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TryCurrentError(());

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(context::NO_RUNTIME)
    }
}

impl std::error::Error for TryCurrentError {}

impl Handle {
    /// The runtime running on this thread.
    ///
    /// # Panics
    ///
    /// Outside a runtime; see [`Handle::try_current`].
    pub fn current() -> Handle {
        Handle::try_current().expect(context::NO_RUNTIME)
    }

    /// The runtime running on this thread, or an error outside one.
    ///
    /// # Errors
    ///
    /// [`TryCurrentError`] when no runtime runs on this thread.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        context::current().map(|worker| Handle { worker }).ok_or(TryCurrentError(()))
    }

    /// Spawn a task on this runtime; see [`spawn`].
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.worker.spawn(future)
    }

    /// A snapshot of the worker's counters.
    pub fn metrics(&self) -> Metrics {
        self.worker.metrics()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("worker", &self.worker.id()).finish()
    }
}

/// Spawn a task on the current worker. The future need not be `Send`: it
/// is polled, and dropped, only on this worker.
///
/// # Panics
///
/// Outside a runtime (use [`Handle::try_current`] to check first).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let rt = corering::Runtime::builder().pin(false).build()?;
/// rt.block_on(async {
///     let not_send = Rc::new(5);
///     let h = corering::spawn(async move { *not_send + 1 });
///     assert_eq!(h.await.unwrap(), 6);
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Handle::current().spawn(future)
}

/// Yield to the worker once: other ready tasks run, and the worker submits
/// and reaps (entering the kernel if it has anything queued or in flight
/// there), before this task continues. A task that yields is polled again
/// in the next tick, not in this one.
///
/// # Examples
///
/// ```
/// let rt = corering::Runtime::builder().pin(false).build()?;
/// rt.block_on(corering::yield_now());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

// What may cross threads, checked at compile time. (`Runtime`, `Handle`,
// `JoinHandle` and `Sleep` may not: see their compile_fail docs; nor may
// `Interval`, which holds a `Sleep`.)
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<JoinError>();
    send_sync::<Metrics>();
    send_sync::<TryCurrentError>();
    send_sync::<Builder>();
    send_sync::<crate::time::Elapsed>();
    send_sync::<std::task::Waker>();
};

/// A snapshot of the current worker's counters, or `None` outside a runtime.
pub fn metrics() -> Option<Metrics> {
    context::current().map(|w| w.metrics())
}
