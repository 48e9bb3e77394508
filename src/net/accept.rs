//! Accepting through one multishot `ACCEPT` per listener, shared by the
//! TCP and Unix listeners.

use std::cell::RefCell;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::net::ops::AcceptMulti;
use crate::runtime::fd::SharedFd;
use crate::runtime::op::MultiOp;

/// Tasks remembered as waiting on one listener before they are all woken
/// (each still waiting registers again when polled): a waiter whose accept
/// was dropped is never told apart, so this bounds what they cost.
const MAX_WAITERS: usize = 64;

/// Accepted connections queued for a listener nobody is accepting on;
/// past this the multishot accept pauses (the kernel's backlog holds the
/// rest).
const ACCEPT_QUEUE: usize = 256;

/// A listening socket's accept side: one multishot `ACCEPT`, armed on first
/// use and re-armed when it ends. Connections that arrive while nobody
/// accepts queue up (bounded); dropping it closes them.
pub(crate) struct Acceptor {
    pub(crate) fd: SharedFd,
    op: RefCell<Option<MultiOp<AcceptMulti>>>,
    /// Every task waiting to accept. The op holds one waker, this one,
    /// which wakes them all: each then takes a connection or waits again.
    waiters: Arc<Waiters>,
    fan_out: Waker,
}

/// The tasks waiting on one listener.
#[derive(Default)]
struct Waiters(Mutex<Vec<Waker>>);

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waiters = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        waiters.into_iter().for_each(Waker::wake);
    }
}

impl Acceptor {
    pub(crate) fn new(fd: SharedFd) -> Acceptor {
        let waiters = Arc::new(Waiters::default());
        let fan_out = Waker::from(waiters.clone());
        Acceptor { fd, op: RefCell::new(None), waiters, fan_out }
    }

    /// Remember `task` as waiting for a connection.
    fn wait(&self, task: &Waker) {
        let mut waiters = self.waiters.0.lock().unwrap_or_else(|e| e.into_inner());
        if waiters.iter().any(|w| w.will_wake(task)) {
            return;
        }
        if waiters.len() >= MAX_WAITERS {
            // Some are likely gone (their accept dropped): wake them all;
            // those still waiting come back.
            let stale = std::mem::take(&mut *waiters);
            drop(waiters);
            stale.into_iter().for_each(Waker::wake);
            waiters = self.waiters.0.lock().unwrap_or_else(|e| e.into_inner());
        }
        waiters.push(task.clone());
    }

    /// The next accepted connection's fd.
    pub(crate) fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<OwnedFd>> {
        let task = cx.waker();
        let mut cx = Context::from_waker(&self.fan_out);
        let mut slot = self.op.borrow_mut();
        loop {
            let op = slot.get_or_insert_with(|| {
                MultiOp::with_limit(AcceptMulti { fd: self.fd.clone() }, ACCEPT_QUEUE)
            });
            let cqe = match op.poll_next(&mut cx) {
                Poll::Pending => {
                    self.wait(task);
                    return Poll::Pending;
                }
                Poll::Ready(None) => {
                    *slot = None;
                    continue;
                }
                Poll::Ready(Some(d)) => d.cqe,
            };
            if op.is_done() {
                // Ended (a CQ overflow, a pause, an error): re-arm next time.
                *slot = None;
            }
            match cqe.result() {
                // SAFETY: the kernel created this fd for us; nobody else has it.
                Ok(fd) => return Poll::Ready(Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })),
                Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => continue,
                // EMFILE and friends go to the caller, who decides: the
                // multishot has ended, so nothing spins meanwhile.
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
