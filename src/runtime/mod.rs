//! The runtime: a worker thread with its own ring, tasks, wakers, timers and
//! the driver of in-flight operations.
//!
//! Everything here is per worker and thread-local; the only things that
//! cross threads are wakers, which reach their worker through its inbox.
//! This layer knows nothing of sockets: `net` and `time` talk to it through
//! `Op`, `MultiOp` and the timer store.

mod affinity;
mod blocking;
pub(crate) mod buf_pool;
mod builder;
pub(crate) mod context;
pub(crate) mod driver;
pub(crate) mod fd;
mod join;
mod metrics;
pub(crate) mod op;
mod pool;
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
use std::sync::Arc;
use std::task::{Context, Poll};
use std::{fmt, mem};

pub use builder::{Builder, Faults};
pub use join::{JoinError, JoinHandle};
pub use metrics::Metrics;

use driver::Driver;
use task::Remote;

use crate::uring::FORKED;
pub(crate) use worker::Worker;

/// A corering runtime: worker 0 on the thread that built it, and workers
/// `1..n` on threads of their own (see [`Builder::workers`]), each with its
/// own ring.
///
/// The runtime is bound to that thread (`!Send`): its ring is set up for a
/// single issuer. Dropping it stops every worker: each drops its tasks on
/// its own thread, cancels every operation still in flight and waits for
/// the kernel to finish them before its ring is closed, so the kernel never
/// writes into freed memory; then the worker threads are joined.
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
    /// Worker 0, on this thread.
    worker: Rc<Worker>,
    pinned: Option<affinity::Pinned>,
    /// Workers 1.., each on a thread of its own.
    threads: Vec<pool::WorkerThread>,
    shared: Arc<pool::Shared>,
    shutdown_timeout: std::time::Duration,
}

impl Runtime {
    /// A runtime with default options: one worker, on this thread, not
    /// pinned.
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
        let cpus = b.placement()?;
        let blocking_cpus = affinity::allowed_cpus()?; // before any pinning
        let (worker, pinned) = pool::build_worker(b, 0, cpus[0])?;
        let pool::Started { mut remotes, threads, go } = pool::start(b, &cpus)?;
        remotes.insert(0, worker.remote().clone());
        let blocking = blocking::BlockingPool::new(
            b.max_blocking_threads,
            b.blocking_keep_alive,
            blocking_cpus,
        );
        let shared = Arc::new(pool::Shared { workers: remotes, blocking: Arc::new(blocking) });
        worker.set_shared(shared.clone());
        for tx in go {
            let _ = tx.send(shared.clone());
        }
        Ok(Runtime { worker, pinned, threads, shared, shutdown_timeout: b.shutdown_timeout })
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

    /// A snapshot of worker 0's counters (the worker running `block_on`).
    pub fn metrics(&self) -> Metrics {
        self.worker.metrics()
    }

    /// A snapshot of every worker's counters, by worker index. Each other
    /// worker takes its own snapshot on its thread; one that does not
    /// answer within a second (a task there never yields) is reported as
    /// `None`.
    pub fn worker_metrics(&self) -> Vec<Option<Metrics>> {
        let asked: Vec<_> = self.shared.workers[1..]
            .iter()
            .map(|remote| {
                let (tx, rx) = std::sync::mpsc::channel();
                let job: task::Job = Box::new(move || {
                    if let Some(w) = context::current() {
                        let _ = tx.send(w.metrics());
                    }
                });
                let _ = remote.send(job);
                rx
            })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let others = asked.into_iter().map(|rx| {
            rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())).ok()
        });
        std::iter::once(Some(self.worker.metrics())).chain(others).collect()
    }

    /// How many workers the runtime has.
    pub fn worker_count(&self) -> usize {
        self.shared.workers.len()
    }

    /// The CPU worker 0 (this thread) is pinned to, if pinned.
    pub fn cpu(&self) -> Option<usize> {
        self.pinned.as_ref().map(|p| p.cpu)
    }
}

/// Worker `index` of a runtime built by `b`, on the calling thread: its
/// ring, inbox and driver.
pub(crate) fn new_worker(b: &Builder, index: usize) -> io::Result<Rc<Worker>> {
    let mut ring = b.ring.clone();
    ring.entries(b.entries);
    ring.cq_entries(b.cq_entries.unwrap_or(b.entries * 2));
    let mut bufs = b.bufs;
    if b.faults.baseline_kernel {
        ring.single_issuer(false)
            .defer_taskrun(false)
            .coop_taskrun(false)
            .submit_all(false)
            .register_ring_fd(false);
        bufs.incremental = false;
    }
    let ring = if b.faults.setup_enomem {
        let enomem = io::Error::from_raw_os_error(libc::ENOMEM);
        return Err(crate::uring::setup::explain(enomem, None));
    } else {
        ring.build()?
    };
    let inbox = Remote::new(std::os::fd::AsFd::as_fd(&ring))?;
    let driver = Driver::new(ring, inbox.0.eventfd(), bufs, b.faults);
    Ok(Rc::new(Worker::new(driver, inbox, index, b.event_budget, b.timer_resolution)))
}

impl Runtime {
    /// Whether this process was forked from the one that built the runtime.
    fn forked(&self) -> bool {
        self.worker.driver.borrow().ring.is_forked()
    }
}

impl Drop for Runtime {
    /// Every worker stops taking work, drops its tasks on its own thread,
    /// cancels and drains its operations; the threads are then joined. A
    /// worker still busy after `Builder::shutdown_timeout` (a task that
    /// never yields) is reported and left behind.
    fn drop(&mut self) {
        if self.forked() {
            // The ring and its registrations are the parent's: touch
            // nothing, free nothing the kernel may use; the child's memory
            // goes with it. (Worker threads do not survive a fork.)
            mem::forget(self.worker.clone());
            mem::forget(mem::take(&mut self.threads));
            return;
        }
        let others = &self.shared.workers[1..];
        for remote in others {
            remote.stop();
        }
        {
            let _enter = context::enter(self.worker.clone());
            self.worker.shut_down();
        }
        pool::stop(others, mem::take(&mut self.threads), self.shutdown_timeout);
        self.shared.blocking.shut_down();
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
        Handle::try_current().unwrap_or_else(|_| panic!("{}", context::NO_RUNTIME))
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

    /// Spawn a task on worker `worker` of this runtime; see [`spawn_on`].
    ///
    /// # Panics
    ///
    /// If the runtime has no worker `worker`.
    pub fn spawn_on<F, Fut>(&self, worker: usize, f: F) -> JoinHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let workers = &self.worker.shared().workers;
        let Some(target) = workers.get(worker) else {
            panic!(
                "spawn_on: no worker {worker}: this runtime has {} (0..{})",
                workers.len(),
                workers.len()
            );
        };
        let state = join::JoinState::new();
        let guard = join::CancelOnDrop(state.clone());
        // Building the future may panic: that is the task's panic, reported
        // through its handle, not the worker's.
        let build =
            move |here: &Worker| match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                Ok(future) => here.spawn_with(future, guard),
                Err(panic) => guard.panicked(panic),
            };
        if worker == self.worker.index {
            build(&self.worker);
        } else {
            let job: task::Job = Box::new(move || {
                build(&context::current().expect("jobs run on their worker"));
            });
            // A worker that is gone drops the job: the handle sees the task
            // cancelled.
            let _ = target.send(job);
        }
        JoinHandle::new(state)
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

/// Spawn a task on worker `worker` of the current runtime (`0..`
/// [`worker_count`]). `f` is sent there and called there to build the
/// future, so the future need not be `Send`: only `f` and the output
/// cross threads. The returned handle can be awaited, or the task aborted,
/// from any worker or thread. On the current worker it is a plain
/// [`spawn`].
///
/// The spawn is a message to the worker's inbox (a lock-free channel) and,
/// if that worker is parked in the kernel, a `MSG_RING` from this worker's
/// ring to wake it.
///
/// # Panics
///
/// Outside a runtime, or if the runtime has no worker `worker`.
///
/// # Examples
///
/// ```
/// let rt = corering::Runtime::builder().workers(2).build()?;
/// let id = rt.block_on(async {
///     corering::spawn_on(1, || async { corering::worker_id() }).await
/// });
/// assert_eq!(id.unwrap(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_on<F, Fut>(worker: usize, f: F) -> JoinHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    Handle::current().spawn_on(worker, f)
}

/// Spawn one copy of a task on every worker of the current runtime (what a
/// sharded server does first); the handles come back in worker order, and
/// awaiting them all joins them all.
///
/// # Panics
///
/// Outside a runtime.
///
/// # Examples
///
/// ```
/// let rt = corering::Runtime::builder().workers(2).build()?;
/// let ids = rt.block_on(async {
///     let mut ids = Vec::new();
///     for h in corering::spawn_on_all(|| async { corering::worker_id() }) {
///         ids.push(h.await.unwrap());
///     }
///     ids
/// });
/// assert_eq!(ids, [0, 1]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_on_all<F, Fut>(f: F) -> Vec<JoinHandle<Fut::Output>>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let handle = Handle::current();
    (0..worker_count()).map(|i| handle.spawn_on(i, f.clone())).collect()
}

/// Run blocking work (a blocking syscall, a long computation, a library
/// without async) on the runtime's blocking pool, so that the worker's
/// other tasks keep running; await the handle for its result (a panic in
/// `f` is the handle's `JoinError`).
///
/// Pool threads are made on demand, at most `Builder::max_blocking_threads`
/// at once (further jobs wait for one), run on the CPUs the process
/// allowed when the runtime was built (never a worker's pinned CPU), and
/// exit after `Builder::blocking_keep_alive` without work. `abort` cancels
/// a job that has not started; one that runs finishes. When the runtime is
/// dropped, queued jobs are cancelled and running ones finish on their own
/// threads.
///
/// # Panics
///
/// Outside a runtime.
///
/// # Examples
///
/// ```
/// let rt = corering::Runtime::new_default()?;
/// let len = rt.block_on(async {
///     corering::spawn_blocking(|| std::fs::read_dir(".").map(|d| d.count())).await
/// });
/// assert!(len.unwrap()? > 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let worker = context::current().expect(context::NO_RUNTIME);
    let state = join::JoinState::new();
    let guard = join::CancelOnDrop(state.clone());
    worker.shared().blocking.spawn(Box::new(move || guard.run_blocking(f)));
    JoinHandle::new(state)
}

/// The index of the worker running the caller, `0..`[`worker_count`]
/// (worker 0 runs `block_on`).
///
/// # Panics
///
/// Outside a runtime.
pub fn worker_id() -> usize {
    context::current().expect(context::NO_RUNTIME).index
}

/// How many workers the current runtime has.
///
/// # Panics
///
/// Outside a runtime.
pub fn worker_count() -> usize {
    context::current().expect(context::NO_RUNTIME).shared().workers.len()
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

/// The current worker's ring setup flags (`IORING_SETUP_*` the kernel
/// granted), or `None` outside a runtime. For tests of the fallbacks.
#[doc(hidden)]
pub fn ring_setup_flags() -> Option<u32> {
    context::current().map(|w| w.driver.borrow().ring.setup_flags())
}
