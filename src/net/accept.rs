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

/// The tasks waiting on one listener, each with the number of accepts it
/// has waiting (a task may await two). Woken all at once when the accept
/// op has news, which empties the list and starts a new generation.
#[derive(Default)]
struct Waiters(Mutex<WaitList>);

#[derive(Default)]
struct WaitList {
    generation: u64,
    tasks: Vec<(Waker, usize)>,
}

impl WaitList {
    fn add(&mut self, task: &Waker) {
        match self.tasks.iter_mut().find(|(w, _)| w.will_wake(task)) {
            Some((_, n)) => *n += 1,
            None => self.tasks.push((task.clone(), 1)),
        }
    }

    fn remove(&mut self, task: &Waker) {
        if let Some(i) = self.tasks.iter().position(|(w, _)| w.will_wake(task)) {
            self.tasks[i].1 -= 1;
            if self.tasks[i].1 == 0 {
                self.tasks.swap_remove(i);
            }
        }
    }
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, WaitList> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let tasks = {
            let mut list = self.lock();
            list.generation += 1;
            std::mem::take(&mut list.tasks)
        };
        tasks.into_iter().for_each(|(w, _)| w.wake());
    }
}

/// One accept's place in its listener's wait list: taken out when the
/// accept is done or dropped, so a task that stopped accepting is not
/// woken (nor kept) for the next connection.
pub(crate) struct Registration {
    waiters: Arc<Waiters>,
    /// The list generation it was added in, and the waker it was added as.
    entry: Option<(u64, Waker)>,
}

impl Registration {
    fn set(&mut self, task: &Waker) {
        let mut list = self.waiters.lock();
        match &self.entry {
            Some((generation, w)) if *generation == list.generation => {
                if w.will_wake(task) {
                    return;
                }
                list.remove(w);
            }
            _ => {}
        }
        list.add(task);
        self.entry = Some((list.generation, task.clone()));
    }

    fn clear(&mut self) {
        if let Some((generation, w)) = self.entry.take() {
            let mut list = self.waiters.lock();
            if generation == list.generation {
                list.remove(&w);
            }
        }
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").field("waiting", &self.entry.is_some()).finish()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.clear();
    }
}

impl Acceptor {
    pub(crate) fn new(fd: SharedFd) -> Acceptor {
        let waiters = Arc::new(Waiters::default());
        let fan_out = Waker::from(waiters.clone());
        Acceptor { fd, op: RefCell::new(None), waiters, fan_out }
    }

    /// A place in the wait list for one accept future (or stream).
    pub(crate) fn registration(&self) -> Registration {
        Registration { waiters: self.waiters.clone(), entry: None }
    }

    /// The next accepted connection, made into a socket by `wrap`, with its
    /// peer's address. A connection reset before we accepted it
    /// (`NotConnected` asking its peer) is skipped: not the listener's error.
    pub(crate) fn poll_connection<S, A>(
        &self,
        cx: &mut Context<'_>,
        mut reg: Option<&mut Registration>,
        wrap: impl Fn(OwnedFd) -> S,
        peer: impl Fn(&S) -> io::Result<A>,
    ) -> Poll<io::Result<(S, A)>> {
        loop {
            let socket = match self.poll_accept(cx, reg.as_deref_mut()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(res) => wrap(res?),
            };
            match peer(&socket) {
                Ok(addr) => return Poll::Ready(Ok((socket, addr))),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// The next accepted connection's fd. Without a `reg`, a task that
    /// waits stays in the wait list until the next connection arrives.
    fn poll_accept(
        &self,
        cx: &mut Context<'_>,
        mut reg: Option<&mut Registration>,
    ) -> Poll<io::Result<OwnedFd>> {
        let task = cx.waker();
        let mut cx = Context::from_waker(&self.fan_out);
        let mut slot = self.op.borrow_mut();
        loop {
            let op = slot.get_or_insert_with(|| {
                MultiOp::with_limit(AcceptMulti { fd: self.fd.clone() }, ACCEPT_QUEUE)
            });
            let cqe = match op.poll_next(&mut cx) {
                // Armed on another runtime of this thread, not running now:
                // it could only wait.
                Poll::Pending if op.armed_elsewhere() => {
                    return Poll::Ready(Err(crate::runtime::context::elsewhere()));
                }
                Poll::Pending => {
                    match reg {
                        // A no-op when it waits as the same task as before.
                        Some(reg) => reg.set(task),
                        None => {
                            let mut list = self.waiters.lock();
                            if !list.tasks.iter().any(|(w, _)| w.will_wake(task)) {
                                list.add(task);
                            }
                        }
                    }
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
            if let Some(reg) = reg.as_deref_mut() {
                reg.clear(); // this accept has its answer: it waits no more
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
