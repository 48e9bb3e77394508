//! `Op<T>`: the one future every I/O operation is built on.
//!
//! `T` owns everything the operation's SQE points at. On first poll the op
//! takes a slab key from the worker's driver and queues its SQE tagged with
//! it; the CQE with that key wakes it; it returns the completion together
//! with `T`, so buffers come back to the caller. Dropped in flight, it moves
//! `T` into its slab entry and asks the kernel to cancel; `T` is freed at
//! the final completion.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::uring::{Completion, IoUring, SqFull};

use super::context;
use super::driver::{Delivery, Orphan};
use super::worker::Worker;

/// The data of one operation kind, and how to write its SQE.
///
/// # Safety
///
/// Every pointer that `prep` puts in the SQE must point into memory that
/// `self` owns *on the heap* (a `Box`, a `Vec`'s buffer, ...), or into
/// `'static` memory: `self` is moved (into the driver's slab) when its
/// future is dropped in flight, and that memory must stay where it is until
/// the final completion. Fds in the SQE must be kept open by `self`.
pub(crate) unsafe trait OpData: Orphan + Sized {
    /// Whether the op posts several completions (`F_MORE`).
    const MULTISHOT: bool = false;

    /// Write the SQE, tagged with `user_data`.
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull>;
}

/// A single-shot operation in flight; yields its completion and its data.
///
/// It holds its worker (not the thread's current one), so it is polled and
/// dropped against the slab its key belongs to, whichever runtime is
/// current; holding it also keeps `Op` `!Send`.
pub(crate) struct Op<T: OpData> {
    key: Option<(usize, Rc<Worker>)>,
    data: Option<T>,
}

// No field is ever pinned: `T` is only touched through `&mut`, and its
// kernel-visible memory lives on the heap (`OpData`'s contract).
impl<T: OpData> Unpin for Op<T> {}

impl<T: OpData> Op<T> {
    pub(crate) fn new(data: T) -> Op<T> {
        Op { key: None, data: Some(data) }
    }

    /// The data of an op never submitted (never polled); `None` once
    /// submitted.
    pub(crate) fn unsubmitted(&self) -> Option<&T> {
        if self.key.is_some() { None } else { self.data.as_ref() }
    }

    /// The data of an op never submitted, to give back without running
    /// it; `None` once submitted.
    pub(crate) fn take_unsubmitted(&mut self) -> Option<T> {
        if self.key.is_some() { None } else { self.data.take() }
    }
}

/// Queue `data`'s SQE on the current worker; on failure, the error as a
/// completion (so it surfaces through `Completion::result` like any other).
///
/// # Panics
///
/// Outside a corering runtime.
fn submit<T: OpData>(data: &mut T) -> Result<(usize, Rc<Worker>), Completion> {
    let worker = context::current().expect(context::NO_RUNTIME);
    let res = worker.driver.borrow_mut().submit_op(T::MULTISHOT, |ring, ud| data.prep(ring, ud));
    match res {
        Ok(key) => Ok((key, worker)),
        Err(e) => Err(Completion::new(0, -e.raw_os_error().unwrap_or(libc::EIO), 0)),
    }
}

impl<T: OpData> Future for Op<T> {
    type Output = (Completion, T);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(Completion, T)> {
        let this = &mut *self;
        if this.key.is_none() {
            let data = this.data.as_mut().expect("Op polled after completion");
            match submit(data) {
                Ok(key) => this.key = Some(key),
                Err(cqe) => return Poll::Ready((cqe, this.data.take().unwrap())),
            }
        }
        let (key, worker) = this.key.as_ref().unwrap();
        let polled = worker.driver.borrow_mut().poll_op(*key, cx);
        match polled {
            Poll::Ready(cqe) => {
                this.key = None;
                Poll::Ready((cqe, this.data.take().expect("data present until completion")))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: OpData> Op<T> {
    /// In flight on a worker that is not the one running now (another
    /// runtime on this thread): polling it here would only wait.
    pub(crate) fn armed_elsewhere(&self) -> bool {
        self.key.as_ref().is_some_and(|(_, w)| !context::is_current(w))
    }
}

impl<T: OpData> Drop for Op<T> {
    fn drop(&mut self) {
        if let (Some((key, worker)), Some(data)) = (self.key.take(), self.data.take()) {
            worker.driver.borrow_mut().drop_op(key, Box::new(data));
        }
    }
}

/// A multishot operation in flight: a stream of completions, ending after
/// the final one (without `F_MORE`).
pub(crate) struct MultiOp<T: OpData> {
    key: Option<(usize, Rc<Worker>)>,
    data: Option<T>,
    done: bool,
    limit: usize,
}

impl<T: OpData> Unpin for MultiOp<T> {}

impl<T: OpData> MultiOp<T> {
    #[cfg(test)]
    pub(crate) fn new(data: T) -> MultiOp<T> {
        MultiOp { key: None, data: Some(data), done: false, limit: usize::MAX }
    }

    /// At most `limit` unread completions queue up; then the op is
    /// cancelled and ends, to be armed again by its owner.
    pub(crate) fn with_limit(data: T, limit: usize) -> MultiOp<T> {
        MultiOp { key: None, data: Some(data), done: false, limit }
    }

    /// The data, to re-arm or inspect.
    pub(crate) fn data_mut(&mut self) -> &mut T {
        self.data.as_mut().expect("MultiOp data present")
    }

    /// In flight on a worker that is not the one running now (another
    /// runtime on this thread): polling it here would only wait.
    pub(crate) fn armed_elsewhere(&self) -> bool {
        self.key.as_ref().is_some_and(|(_, w)| !context::is_current(w))
    }

    /// Whether the final completion has been taken.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// The next completion; `None` once the final one was returned.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.key.is_none() {
            match submit(self.data_mut()) {
                Ok((key, worker)) => {
                    if self.limit != usize::MAX {
                        worker.driver.borrow_mut().set_limit(key, self.limit);
                    }
                    self.key = Some((key, worker));
                }
                Err(cqe) => {
                    self.done = true;
                    return Poll::Ready(Some(Delivery { cqe, offset: 0, spilled: None }));
                }
            }
        }
        let (key, worker) = self.key.as_ref().unwrap();
        let polled = worker.driver.borrow_mut().poll_multi(*key, cx);
        match polled {
            Poll::Ready(Some(d)) => {
                if !d.cqe.has_more() {
                    // The driver freed the key with the final completion.
                    self.key = None;
                    self.done = true;
                }
                Poll::Ready(Some(d))
            }
            Poll::Ready(None) => {
                self.key = None;
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: OpData> Drop for MultiOp<T> {
    fn drop(&mut self) {
        if let (Some((key, worker)), Some(data)) = (self.key.take(), self.data.take()) {
            worker.driver.borrow_mut().drop_op(key, Box::new(data));
        }
    }
}
