//! The worker that is running on this thread, if any.
//!
//! `block_on` installs its worker here for its duration; `spawn`, timers and
//! operations find their worker through it. Nothing here is shared across
//! threads.

use std::cell::RefCell;
use std::rc::Rc;

use super::task::TaskId;
use super::worker::Worker;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Worker>>> = const { RefCell::new(None) };
}

/// The panic message for runtime-only calls made outside a runtime.
pub(crate) const NO_RUNTIME: &str = "there is no corering runtime on this thread: call this from a future run by \
     Runtime::block_on or #[corering::main]";

/// The worker running on this thread. (`None` also while the thread's
/// locals are being destroyed at its exit, when `CURRENT` may be gone.)
pub(crate) fn current() -> Option<Rc<Worker>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Whether `worker` is the one running on this thread now.
pub(crate) fn is_current(worker: &Worker) -> bool {
    CURRENT
        .try_with(|c| c.borrow().as_deref().is_some_and(|w| std::ptr::eq(w, worker)))
        .unwrap_or(false)
}

/// The unique id of the worker running on this thread, if any.
pub(crate) fn current_id() -> Option<usize> {
    CURRENT.try_with(|c| c.borrow().as_ref().map(|w| w.id())).ok().flatten()
}

/// Whether the kernel under this thread's worker supports `opcode`: `None`
/// outside a runtime, or if the kernel cannot say (no probe before Linux
/// 5.6). It asks the kernel each time: for error paths, which want to tell
/// a missing opcode from a bad argument (both are `EINVAL`).
pub(crate) fn opcode_supported(opcode: u8) -> Option<bool> {
    let worker = current()?;
    let driver = worker.driver.try_borrow().ok()?;
    driver.ring.probe().ok().map(|p| p.is_supported(opcode))
}

/// The error for an operation polled from a runtime other than the one it
/// is in flight on: that one is on this thread, not running, so the
/// operation could only wait.
pub(crate) fn elsewhere() -> std::io::Error {
    std::io::Error::other(
        "this operation is in flight on another corering runtime on this thread, which is \
         not running now: poll it from the runtime that started it",
    )
}

/// Queue `task` on this thread's worker if that is worker `worker`.
/// `false` if the wake must go through the worker's remote inbox.
pub(crate) fn wake_local(worker: usize, task: TaskId) -> bool {
    CURRENT
        .try_with(|c| match &*c.borrow() {
            Some(w) if w.id() == worker => {
                w.schedule(task);
                true
            }
            _ => false,
        })
        .unwrap_or(false)
}

/// Wake the worker parked on ring `target` through this thread's worker's
/// ring (`MSG_RING`). `false` when this thread runs no worker (or it is
/// busy): the caller uses the target's eventfd.
pub(crate) fn msg_wake(target: &std::sync::Arc<super::task::Remote>) -> bool {
    CURRENT
        .try_with(|c| match &*c.borrow() {
            Some(w) => w.driver.try_borrow_mut().is_ok_and(|mut d| d.msg_wake(target)),
            None => false,
        })
        .unwrap_or(false)
}

/// Makes `worker` current until dropped, then restores the previous one.
pub(crate) struct EnterGuard {
    prev: Option<Rc<Worker>>,
}

/// Make `worker` this thread's current worker. At thread exit, once
/// `CURRENT` is destroyed (a runtime kept in another thread-local is
/// dropped then), this does nothing: no panic in a thread-local's
/// destructor, which would abort the process.
pub(crate) fn enter(worker: Rc<Worker>) -> EnterGuard {
    let prev = CURRENT.try_with(|c| c.borrow_mut().replace(worker));
    EnterGuard { prev: prev.ok().flatten() }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // Drop what we replace outside the borrow: it may be the last
        // reference to a worker, whose drop runs arbitrary code.
        let ours = CURRENT.try_with(|c| std::mem::replace(&mut *c.borrow_mut(), prev));
        drop(ours);
    }
}
