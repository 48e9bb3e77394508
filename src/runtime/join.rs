//! `JoinHandle` and `JoinError`: a spawned task's result, its panic, or its
//! cancellation.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// What a task and its handle share. The handle may live on another thread
/// (it is `Send` when the output is): the result and both wakers sit
/// behind one lock, taken once when the task ends and once per poll of
/// the handle.
pub(crate) struct JoinState<T> {
    inner: Mutex<Shared<T>>,
    aborted: AtomicBool,
    finished: AtomicBool,
}

struct Shared<T> {
    result: Option<Result<T, JoinError>>,
    /// The task awaiting the handle.
    waiter: Option<Waker>,
    /// The task's own waker, so that an abort takes effect at its worker's
    /// next tick (`None` until the task exists on its worker).
    task: Option<Waker>,
    /// The thread and worker (unique id) that run the task.
    owner: Option<(std::thread::ThreadId, usize)>,
}

impl<T> JoinState<T> {
    pub(crate) fn new() -> Arc<JoinState<T>> {
        Arc::new(JoinState {
            inner: Mutex::new(Shared { result: None, waiter: None, task: None, owner: None }),
            aborted: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Shared<T>> {
        // Nothing panics under this lock but a waker's clone (user code);
        // the data stays consistent whatever happened.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The task now exists on worker `worker` (its unique id), on this
    /// thread, with this waker.
    pub(crate) fn set_task(&self, task: Waker, worker: usize) {
        let mut inner = self.lock();
        inner.task = Some(task);
        inner.owner = Some((std::thread::current().id(), worker));
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    fn finish(&self, result: Result<T, JoinError>) {
        let waiter = {
            let mut inner = self.lock();
            inner.result = Some(result);
            inner.task = None;
            self.finished.store(true, Ordering::Release);
            inner.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

pin_project_lite::pin_project! {
    /// A spawned future as the worker runs it: catches its panic, honours
    /// `abort`, and hands its output to the `JoinHandle`.
    pub(crate) struct TaskFuture<F: Future> {
        // Declared first, so it is dropped before `state` reports the
        // cancellation. `None` once dropped, which the task does itself
        // (under `catch_unwind`) when it ends or is aborted.
        #[pin]
        future: Option<F>,
        // `None` once the handle is gone (a detached task): nobody can
        // abort the task or read its output then, so the state is freed
        // rather than held for the task's whole life.
        state: Option<CancelOnDrop<F::Output>>,
    }
}

/// The task's side of the `JoinState`: if the task is dropped unfinished
/// (aborted, or at runtime shutdown), the handle learns it was cancelled
/// instead of waiting forever.
pub(crate) struct CancelOnDrop<T>(pub(crate) Arc<JoinState<T>>);

impl<T> std::ops::Deref for CancelOnDrop<T> {
    type Target = JoinState<T>;
    fn deref(&self) -> &JoinState<T> {
        &self.0
    }
}

impl<T> CancelOnDrop<T> {
    /// Hand the task's result to its handle; with no handle left, drop it
    /// here, where a panic in its drop is caught rather than unwinding
    /// through the worker.
    fn complete(&self, result: Result<T, JoinError>) {
        if Arc::strong_count(&self.0) > 1 {
            return self.0.finish(result);
        }
        self.0.finished.store(true, Ordering::Release);
        drop_detached(result);
    }
}

/// Drop the result of a task nobody awaits, catching a panic in its drop
/// rather than unwinding through the worker.
fn drop_detached<T>(result: Result<T, JoinError>) {
    if catch_unwind(AssertUnwindSafe(|| drop(result))).is_err() {
        tracing::warn!("the output of a detached task panicked while dropped");
    }
}

impl<T> CancelOnDrop<T> {
    /// Building the task's future panicked: that is the task's panic.
    pub(crate) fn panicked(self, panic: Box<dyn Any + Send>) {
        self.complete(Err(JoinError(Repr::Panic(Mutex::new(panic)))));
    }
}

impl<T> CancelOnDrop<T> {
    /// Run `f` for this handle, off any worker (the blocking pool): its
    /// output or its panic goes to the handle; an abort that came first
    /// cancels it unrun.
    pub(crate) fn run_blocking(self, f: impl FnOnce() -> T) {
        if self.is_aborted() {
            return; // dropped here: cancelled
        }
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(out) => self.complete(Ok(out)),
            Err(panic) => self.panicked(panic),
        }
    }
}

impl<T> CancelOnDrop<T> {
    /// Whether the task's handle is gone: nothing else holds the state,
    /// and nothing can take it again (only a handle hands it out).
    fn detached(&self) -> bool {
        Arc::strong_count(&self.0) == 1
    }
}

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        if !self.0.finished.load(Ordering::Acquire) {
            self.0.finish(Err(JoinError(Repr::Cancelled)));
        }
    }
}

impl<F: Future> TaskFuture<F> {
    pub(crate) fn new(future: F, state: CancelOnDrop<F::Output>) -> Self {
        TaskFuture { future: Some(future), state: Some(state) }
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if let Some(state) = this.state.as_ref().filter(|s| s.is_aborted()) {
            // Dropped here, so that a panic in its drop is the task's
            // panic, not the worker's.
            let dropped = catch_unwind(AssertUnwindSafe(|| this.future.set(None)));
            state.complete(Err(match dropped {
                Ok(()) => JoinError(Repr::Cancelled),
                Err(panic) => JoinError(Repr::Panic(Mutex::new(panic))),
            }));
            return Poll::Ready(());
        }
        let mut future = this.future.as_mut();
        let polled = catch_unwind(AssertUnwindSafe(|| match future.as_mut().as_pin_mut() {
            Some(f) => f.poll(cx),
            None => Poll::Pending, // finished; not polled again
        }));
        let result = match polled {
            Ok(Poll::Pending) => {
                if this.state.as_ref().is_some_and(CancelOnDrop::detached) {
                    // Marked finished first, so its drop reports nothing.
                    let state = this.state.take().expect("checked above");
                    state.0.finished.store(true, Ordering::Release);
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(out)) => Ok(out),
            Err(panic) => Err(JoinError(Repr::Panic(Mutex::new(panic)))),
        };
        // Whatever the future still holds goes now, its panic caught too.
        let dropped = catch_unwind(AssertUnwindSafe(|| future.set(None)));
        let result = match (result, dropped) {
            (Ok(_), Err(panic)) => Err(JoinError(Repr::Panic(Mutex::new(panic)))),
            (result, _) => result,
        };
        match this.state {
            Some(state) => state.complete(result),
            None => drop_detached(result),
        }
        Poll::Ready(())
    }
}

/// An owned permission to await a spawned task's output.
///
/// Dropping it detaches the task, which keeps running. Awaiting it yields
/// `Ok(output)`, or a [`JoinError`] if the task panicked or was aborted (or
/// was dropped unfinished when its runtime shut down).
///
/// It is `Send` when the output is, so it can be awaited, or the task
/// aborted, from any worker or any thread; a handle to a task whose output
/// is not `Send` stays on its thread:
///
/// ```compile_fail
/// let rt = corering::Runtime::builder().pin(false).build().unwrap();
/// rt.block_on(async {
///     let handle = corering::spawn(async { std::rc::Rc::new(1) });
///     std::thread::spawn(move || drop(handle));
/// });
/// ```
///
/// # Examples
///
/// ```
/// let rt = corering::Runtime::builder().pin(false).build()?;
/// let out = rt.block_on(async {
///     let handle = corering::spawn(async { 6 * 7 });
///     handle.await
/// });
/// assert_eq!(out.unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JoinHandle<T> {
    state: Arc<JoinState<T>>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(state: Arc<JoinState<T>>) -> JoinHandle<T> {
        JoinHandle { state }
    }

    /// Cancel the task: at its worker's next tick its future is dropped
    /// (on its worker) and awaiting this handle yields a cancelled
    /// `JoinError`. No effect if the task already finished. Works from any
    /// thread.
    pub fn abort(&self) {
        if !self.state.finished.load(Ordering::Acquire) {
            self.state.aborted.store(true, Ordering::Release);
            let task = self.state.lock().task.clone();
            if let Some(task) = task {
                task.wake();
            }
        }
    }

    /// Whether the task has finished (completed, panicked or been aborted).
    pub fn is_finished(&self) -> bool {
        self.state.finished.load(Ordering::Acquire)
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.state.lock();
        if let Some(result) = inner.result.take() {
            return Poll::Ready(result);
        }
        if self.state.finished.load(Ordering::Acquire) {
            panic!("JoinHandle polled after it returned the task's result");
        }
        if let Some((thread, worker)) = inner.owner
            && crate::runtime::context::current_id() != Some(worker)
            && std::thread::current().id() == thread
        {
            // Its worker is on this thread and not running: waiting here
            // would wait forever.
            panic!(
                "JoinHandle awaited on the thread of the task's runtime while that runtime is \
                 not running (from another runtime on this thread, or outside any): await it \
                 in the runtime that runs the task, or from another thread"
            );
        }
        match &mut inner.waiter {
            Some(w) if w.will_wake(cx.waker()) => {}
            waiter => *waiter = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("finished", &self.is_finished()).finish()
    }
}

/// Why a task did not produce its output: it panicked, or it was aborted.
pub struct JoinError(Repr);

enum Repr {
    Cancelled,
    Panic(Mutex<Box<dyn Any + Send + 'static>>),
}

impl JoinError {
    /// The task was aborted.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.0, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.0, Repr::Panic(_))
    }

    /// The panic's payload, to resume it with `std::panic::resume_unwind`.
    ///
    /// # Panics
    ///
    /// If the task did not panic (check [`JoinError::is_panic`]).
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.0 {
            Repr::Panic(p) => p.into_inner().unwrap_or_else(|e| e.into_inner()),
            Repr::Cancelled => panic!("JoinError::into_panic on a cancelled task"),
        }
    }

    fn panic_message(&self) -> Option<String> {
        let Repr::Panic(p) = &self.0 else { return None };
        let p = p.lock().unwrap_or_else(|e| e.into_inner());
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.0, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("task was cancelled"),
            (Repr::Panic(_), Some(msg)) => write!(f, "task panicked: {msg}"),
            (Repr::Panic(_), None) => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinError({self})")
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> std::io::Error {
        std::io::Error::other(e)
    }
}
