//! `SharedFd`: a file descriptor shared by the handle that owns it and the
//! operations in flight on it.
//!
//! Every operation on an fd holds a clone, so the fd is closed only after
//! the last in-flight operation on it has completed (its data, clone
//! included, is freed at its final completion). The close itself goes
//! through the ring, asynchronously, when the worker is alive and running;
//! otherwise it is a plain `close(2)`. [`close`] is the awaited close, for
//! handles whose owner wants the kernel's answer.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};

use crate::uring::{IoUring, SqFull};

use super::Worker;
use super::context;
use super::driver::Orphan;
use super::op::{Op, OpData};

/// A reference-counted fd, closed when the last clone drops.
#[derive(Clone, Debug)]
pub(crate) struct SharedFd {
    inner: Rc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// -1 once taken out by `try_into_owned`.
    fd: Cell<RawFd>,
    /// The worker to close through; the current one at creation.
    worker: Weak<Worker>,
    /// Bytes received on the socket that no reader took: what a dropped
    /// `RecvStream` or read had received ahead of its reader. The next
    /// read or `recv_stream` takes them first, so switching styles (or
    /// giving up on a read) loses no byte.
    /// Boxed, and `None` while empty: every socket has one, few use it.
    #[allow(clippy::box_collection)] // one word while empty, for every socket
    stash: RefCell<Option<Box<VecDeque<Vec<u8>>>>>,
}

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        let worker = context::current().map(|w| Rc::downgrade(&w)).unwrap_or_default();
        let inner = Inner { fd: Cell::new(fd.into_raw_fd()), worker, stash: RefCell::default() };
        SharedFd { inner: Rc::new(inner) }
    }

    /// Keep `data`, received and not read, for the next reader (after what
    /// is kept already).
    pub(crate) fn stash(&self, data: &[u8]) {
        if !data.is_empty() {
            self.inner.stash.borrow_mut().get_or_insert_default().push_back(data.to_vec());
        }
    }

    /// Keep `data` for the next reader, before what is kept already (it
    /// was received first).
    pub(crate) fn stash_front(&self, data: &[u8]) {
        if !data.is_empty() {
            self.inner.stash.borrow_mut().get_or_insert_default().push_front(data.to_vec());
        }
    }

    /// Whether received bytes wait here for a reader.
    pub(crate) fn has_stash(&self) -> bool {
        self.inner.stash.borrow().is_some()
    }

    /// The oldest kept bytes, at most `max` of them (the rest stay first).
    pub(crate) fn take_stash(&self, max: usize) -> Option<Vec<u8>> {
        let mut kept = self.inner.stash.borrow_mut();
        let stash = kept.as_mut()?;
        let front = stash.front_mut()?;
        if front.len() > max {
            let rest = front.split_off(max);
            return Some(std::mem::replace(front, rest));
        }
        let data = stash.pop_front();
        if stash.is_empty() {
            *kept = None;
        }
        data
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.inner.fd.get()
    }

    /// The fd itself, if no other clone (no operation in flight) holds it.
    pub(crate) fn try_into_owned(self) -> Result<OwnedFd, SharedFd> {
        match Rc::try_unwrap(self.inner) {
            // SAFETY: the fd was ours alone; `Inner`'s drop skips a taken fd.
            Ok(inner) => Ok(unsafe { OwnedFd::from_raw_fd(inner.fd.replace(-1)) }),
            Err(inner) => Err(SharedFd { inner }),
        }
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

impl AsFd for SharedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the fd stays open while any clone, `self` included, lives
        // (it is taken out only by consuming the last clone). A ring request
        // prepped with this borrow may use the fd after the borrow ends; the
        // operation holds its own clone until the request's final completion.
        unsafe { BorrowedFd::borrow_raw(self.raw()) }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let fd = self.fd.get();
        if fd < 0 {
            return;
        }
        // Through the ring only if our worker is the one running here: a
        // close queued on a worker that is not running would wait, unsent,
        // until it runs again (the peer would see no FIN meanwhile).
        let running = match (self.worker.upgrade(), context::current()) {
            (Some(ours), Some(current)) if Rc::ptr_eq(&ours, &current) => Some(ours),
            _ => None,
        };
        let queued = running
            .and_then(|w| w.driver.try_borrow_mut().ok().map(|mut d| d.close(fd)))
            .unwrap_or(false);
        if !queued {
            // SAFETY: we own this fd and no operation uses it any more (they
            // all hold a clone of us, and we are the last).
            unsafe { libc::close(fd) };
        }
    }
}

/// Close `fd` through the ring and wait for the kernel's answer (a close
/// can report a deferred write error, e.g. on NFS).
pub(crate) async fn close(fd: OwnedFd) -> io::Result<()> {
    let (cqe, _) = Op::new(Close { fd: fd.into_raw_fd(), queued: false }).await;
    cqe.result().map(drop)
}

/// `close` of an fd given up to the kernel.
struct Close {
    fd: RawFd,
    /// The SQE is queued: the kernel closes the fd, whatever happens next.
    queued: bool,
}

impl Orphan for Close {}

impl Drop for Close {
    fn drop(&mut self) {
        if !self.queued {
            // SAFETY: never handed to the kernel, so still ours to close.
            unsafe { libc::close(self.fd) };
        }
    }
}

// SAFETY: the SQE points at no memory; the fd is given up to this close
// (nothing else holds or closes it).
unsafe impl OpData for Close {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        // SAFETY: `fd` is ours to close (see above).
        let res = unsafe { ring.prep_close(self.fd, user_data) }.map(drop);
        self.queued = res.is_ok();
        res
    }
}
