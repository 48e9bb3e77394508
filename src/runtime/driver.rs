//! The driver: one worker's ring and the slab of its in-flight operations.
//!
//! Every operation's SQE carries its slab key as `user_data`; each CQE is
//! routed back to that key's entry, which records it and hands out the
//! waker to wake. Internal SQEs (cancels, the wake-up read) carry reserved
//! `user_data` values at the top of the range, never slab keys.
//!
//! A key is freed only after its final CQE (one without `F_MORE`). When an
//! operation's future is dropped while in flight, what the kernel may still
//! touch is moved into the entry (an [`Orphan`]) and freed at that final CQE.

use std::collections::VecDeque;
use std::io;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use slab::Slab;

use crate::uring::{Completion, IoUring, SqFull};

use super::Faults;
use super::buf_pool::{BufConfig, BufPool};
use super::metrics::Counters;
use super::task::Remote;

/// `user_data` of the worker's read on its wake-up eventfd.
const WAKE_UD: u64 = u64::MAX;
/// `user_data` of internal cancel SQEs; their results are ignored.
const CANCEL_UD: u64 = u64::MAX - 1;
/// `user_data` of asynchronous closes of fds no handle or op uses any more.
const CLOSE_UD: u64 = u64::MAX - 2;
/// `user_data` of a wake-up message another worker posted into our ring
/// (`MSG_RING`); it only ends a park.
const MSG_WAKE_UD: u64 = u64::MAX - 3;
/// Slab keys stay below this; everything above is reserved.
const MAX_KEY: usize = (u64::MAX - 1024) as usize;
/// `user_data` of our `MSG_RING` SQEs waking another worker: this plus the
/// target's index in `msg_targets`, below [`MSG_TARGETS`]. A completion
/// comes only if the wake failed (`IOSQE_CQE_SKIP_SUCCESS`), so a wake
/// costs the waker no completion (and no early return from its next park).
const MSG_SENT_BASE: u64 = MAX_KEY as u64;
/// At most this many workers are woken with `MSG_RING` from one worker;
/// wakes of further ones go through their eventfd.
const MSG_TARGETS: usize = 512;

/// What an operation dropped in flight leaves behind: the memory and fds
/// its SQE refers to, kept until the final completion.
pub(crate) trait Orphan: 'static {
    /// Called for each completion that arrives after the operation's future
    /// was dropped, e.g. to close an fd the kernel created for nobody.
    fn completed(&mut self, _cqe: &Completion) {}

    /// Called with the bytes a completion carried in a provided buffer (or
    /// their copy) before the buffer goes back to the ring, e.g. to keep
    /// data a receive got for nobody.
    fn received(&mut self, _data: &[u8]) {}
}

/// One completion of a multishot op as its owner receives it.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) cqe: Completion,
    /// Where the data of the cqe's provided buffer starts in it (0 unless
    /// the ring is incremental).
    pub(crate) offset: u32,
    /// The data of a provided buffer that arrived past the op's unread
    /// bound, copied out so the buffer could go back to the ring at once
    /// (the cqe then names no buffer).
    pub(crate) spilled: Option<Box<[u8]>>,
}

enum Slot {
    /// Single-shot, waiting for its completion.
    Pending(Option<Waker>),
    /// Single-shot, completed, not yet taken by its future.
    Done(Completion),
    /// Multishot: completions queue up until taken; `finished` after the
    /// final one. At `limit` unread completions the op is cancelled
    /// (`paused`): its owner re-arms once it has read them.
    Multi { queue: Deliveries, waker: Option<Waker>, finished: bool, limit: u32, paused: bool },
    /// The future is gone; the entry holds what the kernel may still touch.
    Orphaned(Box<dyn Orphan>),
}

/// A multishot op's unread completions, oldest first. The first waits in
/// place, so the common case (one completion, taken before the next
/// arrives) never allocates; a burst spills into a `VecDeque`, released
/// again when the op's owner waits with nothing unread.
#[derive(Default)]
struct Deliveries {
    first: Option<Delivery>,
    more: VecDeque<Delivery>,
    /// Bytes received in them.
    bytes: usize,
}

/// A multishot op's unread bound of `limit` completions is also one of
/// `limit` times this many bytes, so an incremental ring's large pieces
/// hold no more unread data than whole 4 KiB buffers did.
const UNREAD_BYTES_PER_COMPLETION: usize = 4096;

impl Delivery {
    fn len(&self) -> usize {
        self.spilled.as_ref().map_or(self.cqe.raw_result().max(0) as usize, |d| d.len())
    }
}

impl Deliveries {
    /// At or past the bound of `limit` completions, or of their bytes once
    /// two are queued (one piece of a large buffer alone never pauses: a
    /// reader busy with the previous one takes it next).
    fn full(&self, limit: u32) -> bool {
        self.len() >= limit as usize
            || (self.len() >= 2
                && self.bytes >= (limit as usize).saturating_mul(UNREAD_BYTES_PER_COMPLETION))
    }

    fn push_back(&mut self, d: Delivery) {
        self.bytes += d.len();
        if self.first.is_none() && self.more.is_empty() {
            self.first = Some(d);
        } else {
            self.more.push_back(d);
        }
    }

    fn pop_front(&mut self) -> Option<Delivery> {
        let d = self.first.take().or_else(|| self.more.pop_front())?;
        self.bytes -= d.len();
        Some(d)
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Delivery> {
        self.first.iter_mut().chain(self.more.iter_mut())
    }

    fn drain(&mut self) -> impl Iterator<Item = Delivery> {
        self.bytes = 0;
        self.first.take().into_iter().chain(self.more.drain(..))
    }

    /// Free the spill queue's memory if it is empty.
    fn shrink(&mut self) {
        if self.more.is_empty() && self.more.capacity() > 0 {
            self.more = VecDeque::new();
        }
    }
}

/// A worker's ring and in-flight operations.
pub(crate) struct Driver {
    /// Dropped by hand, after every final completion (see `Drop`).
    pub(crate) ring: ManuallyDrop<IoUring>,
    ops: Slab<Slot>,
    eventfd: i32,
    /// Target of the wake-up read; boxed so its address is stable while the
    /// kernel may write it (until the read's completion).
    wake_buf: Box<u64>,
    pub(super) wake_armed: bool,
    /// Operations whose final completion has not arrived yet.
    pub(super) in_kernel: usize,
    /// Closes submitted through the ring and not yet completed.
    pub(super) closing: usize,
    /// Shutdown has begun: close synchronously from now on.
    pub(super) shutting_down: bool,
    /// Wakers due from completions reaped inside a driver call (a full SQ
    /// forced a submit); the worker wakes them outside the borrow.
    pub(crate) deferred: Vec<Waker>,
    /// Orphans whose final completion came, and wakers set aside; the
    /// worker drops them outside the borrow.
    pub(crate) graveyard: Graveyard,
    /// The provided-buffer ring, created on first use (`with_bufs`).
    bufs: Option<BufPool>,
    buf_config: BufConfig,
    /// Multishot ops whose unread queue reached its bound this reap; they
    /// are cancelled after it (backpressure).
    to_pause: Vec<usize>,
    /// Ring buffers sitting in multishot ops' unread queues.
    queued_bufs: usize,
    /// The workers our `MSG_RING` wakes go to, by the index their wakes
    /// carry: a wake that fails (the only kind that completes) falls back
    /// to that worker's eventfd, so it never sleeps on. Weak, so a table
    /// entry keeps no gone worker's fds open; a dead entry is reused.
    msg_targets: Vec<std::sync::Weak<Remote>>,
    /// Failures to inject (tests only; all zero otherwise).
    faults: Faults,
    pub(crate) counters: Counters,
}

impl Driver {
    pub(crate) fn new(
        ring: IoUring,
        eventfd: i32,
        buf_config: BufConfig,
        faults: Faults,
    ) -> Driver {
        Driver {
            ring: ManuallyDrop::new(ring),
            ops: Slab::with_capacity(256),
            eventfd,
            wake_buf: Box::new(0),
            wake_armed: false,
            in_kernel: 0,
            closing: 0,
            shutting_down: false,
            deferred: Vec::new(),
            graveyard: Graveyard::default(),
            bufs: None,
            buf_config,
            to_pause: Vec::new(),
            queued_bufs: 0,
            msg_targets: Vec::new(),
            faults,
            counters: Counters::default(),
        }
    }

    /// The provided-buffer ring, created (registered) on first use.
    ///
    /// # Errors
    ///
    /// Registering failed (a kernel before 5.19, or memory).
    pub(crate) fn with_bufs(&mut self) -> io::Result<&mut BufPool> {
        if self.bufs.is_none() {
            self.bufs = Some(BufPool::new(&self.ring, self.buf_config)?);
        }
        Ok(self.bufs.as_mut().expect("created above"))
    }

    /// Publish recycled buffers (once per tick).
    pub(crate) fn publish_bufs(&mut self) {
        if let Some(bufs) = &mut self.bufs {
            bufs.publish();
        }
    }

    /// Give up on everything the kernel may still write: the slots (with
    /// the orphans' memory), the wake-up buffer and the buffer ring are
    /// leaked, never freed.
    pub(super) fn leak_in_flight(&mut self) {
        std::mem::forget(std::mem::take(&mut self.ops));
        std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
        std::mem::forget(self.bufs.take()); // a receive may still write its buffers
    }

    /// Ring buffers whose data was copied out of the ring so far.
    pub(crate) fn bufs_copied(&self) -> u64 {
        self.bufs.as_ref().map_or(0, |b| b.copied)
    }

    /// Operations whose final completion has not arrived yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_kernel
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.ops.capacity()
    }

    /// Slab keys in use (in flight, or completed and not yet taken).
    pub(crate) fn live_keys(&self) -> usize {
        self.ops.len()
    }

    /// Queue an operation: take a key, let `prep` write its SQE tagged with
    /// it (submitting first if the SQ is full). Returns the key.
    pub(crate) fn submit_op(
        &mut self,
        multishot: bool,
        mut prep: impl FnMut(&mut IoUring, u64) -> Result<(), SqFull>,
    ) -> io::Result<usize> {
        // The key is taken afresh after each `make_room`: its reap may free
        // a slot (an orphan's final completion) that the slab hands out next.
        let key = loop {
            let key = self.ops.vacant_key();
            assert!(key < MAX_KEY, "slab key collides with reserved user_data");
            if prep(&mut self.ring, key as u64).is_ok() {
                break key;
            }
            self.make_room()?;
        };
        let slot = if multishot {
            Slot::Multi {
                queue: Deliveries::default(),
                waker: None,
                finished: false,
                limit: u32::MAX,
                paused: false,
            }
        } else {
            Slot::Pending(None)
        };
        let inserted = self.ops.insert(slot);
        debug_assert_eq!(inserted, key);
        self.in_kernel += 1;
        self.counters.sqes += 1;
        tracing::trace!(key, multishot, "op submit");
        Ok(key)
    }

    /// The SQ is full: submit it, reaping first if the kernel is busy.
    fn make_room(&mut self) -> io::Result<()> {
        let mut wakers = std::mem::take(&mut self.deferred);
        let res = self.submit(&mut wakers);
        self.deferred = wakers;
        res
    }

    /// Bound the unread completions of multishot op `key` (backpressure).
    pub(crate) fn set_limit(&mut self, key: usize, max_unread: usize) {
        if let Slot::Multi { limit, .. } = &mut self.ops[key] {
            *limit = max_unread.clamp(1, u32::MAX as usize) as u32;
        }
    }

    /// Poll a single-shot operation.
    pub(crate) fn poll_op(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Completion> {
        match &mut self.ops[key] {
            Slot::Done(_) => match self.ops.remove(key) {
                Slot::Done(cqe) => Poll::Ready(cqe),
                _ => unreachable!(),
            },
            Slot::Pending(waker) => {
                if let Some(old) = set_waker(waker, cx) {
                    self.graveyard.wakers.push(old);
                }
                Poll::Pending
            }
            _ => unreachable!("poll_op on a multishot or orphaned op"),
        }
    }

    /// Poll a multishot operation: the next completion, or `None` after the
    /// final one was taken (the key is then free).
    pub(crate) fn poll_multi(
        &mut self,
        key: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Delivery>> {
        let Slot::Multi { queue, waker, finished, .. } = &mut self.ops[key] else {
            unreachable!("poll_multi on a single-shot or orphaned op")
        };
        if let Some(delivery) = queue.pop_front() {
            self.queued_bufs -= usize::from(delivery.cqe.buffer_id().is_some());
            if *finished && queue.is_empty() {
                self.remove_op(key);
            }
            return Poll::Ready(Some(delivery));
        }
        if *finished {
            self.remove_op(key);
            return Poll::Ready(None);
        }
        queue.shrink(); // about to wait: an idle stream holds no queue memory
        if let Some(old) = set_waker(waker, cx) {
            self.graveyard.wakers.push(old);
        }
        Poll::Pending
    }

    /// The future of operation `key` is gone. Free the key if its final
    /// completion already came; otherwise keep `owned` in the entry until it
    /// does, and ask the kernel to cancel.
    pub(crate) fn drop_op(&mut self, key: usize, mut owned: Box<dyn Orphan>) {
        if self.ring.is_forked() {
            // A forked child must not cancel through the parent's ring:
            // leave the op and what it holds (the child's copy) alone.
            std::mem::forget(owned);
            return;
        }
        let mut waker = None;
        let in_flight = match &mut self.ops[key] {
            Slot::Pending(w) => {
                waker = w.take();
                true
            }
            Slot::Multi { queue, finished, waker: w, .. } => {
                waker = w.take();
                for d in queue.drain() {
                    if let (Some(bid), Some(bufs)) = (d.cqe.buffer_id(), &mut self.bufs) {
                        owned.received(ring_bytes(bufs, bid, d.offset, &d.cqe));
                        // SAFETY: the completion handed this piece out; its
                        // owner is gone without having seen it.
                        unsafe { bufs.release(bid) };
                        self.queued_bufs -= 1;
                    }
                    if let Some(data) = &d.spilled {
                        owned.received(data);
                    }
                    owned.completed(&d.cqe);
                }
                !*finished
            }
            Slot::Done(cqe) => {
                owned.completed(cqe);
                false
            }
            Slot::Orphaned(_) => unreachable!("op dropped twice"),
        };
        if let Some(w) = waker {
            // User code may run in a waker's drop: not under our borrow.
            self.graveyard.wakers.push(w);
        }
        if in_flight {
            self.ops[key] = Slot::Orphaned(owned);
            self.cancel(key as u64);
        } else {
            self.ops.remove(key);
            self.graveyard.orphans.push(owned);
        }
    }

    /// Free a finished multishot op's key; its waker is dropped later, out
    /// of the driver's borrow.
    fn remove_op(&mut self, key: usize) {
        if let Slot::Multi { waker: Some(w), .. } = self.ops.remove(key) {
            self.graveyard.wakers.push(w);
        }
    }

    fn cancel(&mut self, user_data: u64) {
        if self.ring.is_forked() {
            return; // never through the parent's ring
        }
        while self.ring.prep_cancel(user_data, 0, CANCEL_UD).is_err() {
            if let Err(e) = self.make_room() {
                // The op completes on its own eventually; its entry stays
                // until then, so nothing is freed early.
                tracing::warn!(error = %e, "could not submit a cancel");
                return;
            }
        }
    }

    /// Cancel every operation in flight (shutdown).
    pub(crate) fn cancel_all(&mut self) {
        let keys: Vec<usize> = self
            .ops
            .iter()
            .filter(|(_, slot)| match slot {
                Slot::Pending(_) | Slot::Orphaned(_) => true,
                Slot::Multi { finished, .. } => !finished,
                Slot::Done(_) => false,
            })
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            self.cancel(key as u64);
        }
        if self.wake_armed {
            self.cancel(WAKE_UD);
        }
    }

    /// Queue an asynchronous close of `fd`, which nothing uses any more.
    /// `false` if it could not be queued (SQ full, or shutting down): the
    /// caller closes synchronously then.
    pub(crate) fn close(&mut self, fd: i32) -> bool {
        if self.shutting_down || self.ring.is_forked() {
            return false;
        }
        // SAFETY: the caller owns `fd` and gives it up to this close.
        let queued = unsafe { self.ring.prep_close(fd, CLOSE_UD) }.is_ok();
        self.closing += usize::from(queued);
        queued
    }

    /// Wake the worker parked on `target`'s ring with a `MSG_RING` from
    /// this ring, submitted now. `false` if that could not be done (the
    /// caller writes the target's eventfd instead). If the kernel fails
    /// the message later, the reap writes the eventfd.
    pub(crate) fn msg_wake(&mut self, target: &Arc<Remote>) -> bool {
        let Some(index) = self.msg_target(target) else { return false };
        let ud = MSG_SENT_BASE + index as u64;
        let fd = if self.faults.failed_msg_wakes > 0 {
            self.faults.failed_msg_wakes -= 1;
            self.eventfd // not a ring: the kernel fails the message
        } else {
            target.ring_fd()
        };
        // SAFETY: `fd` is a corering worker's ring (its `Remote` holds the
        // fd open), which reserves MSG_WAKE_UD for exactly this message; or
        // our eventfd (fault injection), which the kernel refuses as a
        // target without touching it.
        match unsafe { self.ring.prep_msg_ring(fd, 0, MSG_WAKE_UD, 0, ud) } {
            Ok(p) => drop(p.flags(crate::uring::sys::IOSQE_CQE_SKIP_SUCCESS)),
            Err(_) => return false,
        }
        self.counters.enters += 1;
        let sent = self.ring.submit().is_ok();
        self.counters.msg_wakes += u64::from(sent);
        sent
    }

    /// `target`'s index in the table of workers we wake, added if new (in a
    /// dead entry's place if there is one); `None` when the table is full.
    fn msg_target(&mut self, target: &Arc<Remote>) -> Option<usize> {
        let weak = Arc::downgrade(target);
        if let Some(i) = self.msg_targets.iter().position(|t| t.ptr_eq(&weak)) {
            return Some(i);
        }
        if let Some(i) = self.msg_targets.iter().position(|t| t.strong_count() == 0) {
            self.msg_targets[i] = weak;
            return Some(i);
        }
        (self.msg_targets.len() < MSG_TARGETS).then(|| {
            self.msg_targets.push(weak);
            self.msg_targets.len() - 1
        })
    }

    /// Keep a read armed on the wake-up eventfd (submitting first if the
    /// SQ is full: a park without it would miss wakes from other threads).
    pub(crate) fn arm_wake(&mut self) -> io::Result<()> {
        while !self.wake_armed {
            let buf: *mut u64 = &mut *self.wake_buf;
            // SAFETY: `wake_buf` is boxed and owned by the driver, which frees
            // it only after this read's final completion (`wake_armed`
            // false), or leaks it (see `Drop`).
            if unsafe { self.ring.prep_read(self.eventfd, buf.cast(), 8, u64::MAX, WAKE_UD) }
                .is_ok()
            {
                self.wake_armed = true;
            } else {
                self.make_room()?;
            }
        }
        Ok(())
    }

    /// SQEs queued and not yet submitted.
    pub(crate) fn queued(&self) -> u32 {
        self.ring.sq_pending()
    }

    /// Submit and reap without waiting, as `submit`; but with nothing
    /// queued and nothing of ours in the kernel (no operation, close or
    /// wake read) there is nothing an enter could bring: only reap what
    /// the CQ already holds, without a syscall.
    pub(crate) fn poll_events(&mut self, wakers: &mut Vec<Waker>) -> io::Result<()> {
        if self.queued() == 0 && self.in_kernel == 0 && self.closing == 0 && !self.wake_armed {
            self.reap(wakers);
            return Ok(());
        }
        self.submit(wakers)
    }

    /// Submit what is queued without waiting; reap what is there.
    pub(crate) fn submit(&mut self, wakers: &mut Vec<Waker>) -> io::Result<()> {
        self.enter(None, false, wakers)
    }

    /// Submit and block until a completion arrives or `timeout` passes.
    pub(crate) fn park(
        &mut self,
        timeout: Option<Duration>,
        wakers: &mut Vec<Waker>,
    ) -> io::Result<()> {
        self.arm_wake()?;
        if !self.deferred.is_empty() {
            // Arming the wake read made room in a full SQ and reaped
            // completions: their tasks are to run, not to be slept on.
            return self.enter(None, false, wakers);
        }
        self.counters.parks += 1;
        self.enter(timeout, true, wakers)
    }

    pub(super) fn enter(
        &mut self,
        timeout: Option<Duration>,
        wait: bool,
        wakers: &mut Vec<Waker>,
    ) -> io::Result<()> {
        // With DEFER_TASKRUN the kernel runs at most max(20, want) items of
        // deferred completion work per enter. A plain submit would leave the
        // rest for later enters, so completions would lag further behind
        // the more operations are in flight. Asking for as many completions
        // as could be due, with a zero timeout, runs them all now.
        let defer = self.ring.setup_flags() & crate::uring::sys::IORING_SETUP_DEFER_TASKRUN != 0;
        let catch_up = (defer && !wait && self.in_kernel > 20)
            .then(|| (self.in_kernel as u32).min(self.ring.cq_entries()));
        let mut wait = wait;
        loop {
            self.counters.enters += 1;
            let res = match (wait, timeout) {
                (false, _) => match catch_up {
                    Some(want) => self.ring.submit_and_wait_timeout(want, Duration::ZERO),
                    None => self.ring.submit(),
                },
                (true, None) => self.ring.submit_and_wait(1),
                (true, Some(t)) => self.ring.submit_and_wait_timeout(1, t),
            };
            let res = match res {
                Ok(_) if wait && self.faults.busy_parks > 0 => {
                    self.faults.busy_parks -= 1;
                    Err(io::Error::from_raw_os_error(libc::EBUSY))
                }
                Ok(_)
                    if self.faults.busy_every > 0
                        && self
                            .counters
                            .enters
                            .is_multiple_of(u64::from(self.faults.busy_every)) =>
                {
                    Err(io::Error::from_raw_os_error(libc::EBUSY))
                }
                res => res,
            };
            match res {
                Ok(_) => break,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN)) => {
                    // The kernel holds completions we have not reaped: reap,
                    // then submit again. Nothing is lost. If that woke a
                    // task, it is to run now: submit without waiting.
                    tracing::warn!("io_uring_enter busy; reaping before submitting again");
                    self.reap(wakers);
                    wait &= wakers.is_empty();
                }
                Err(e) => return Err(e),
            }
        }
        self.reap(wakers);
        Ok(())
    }

    /// Route every available completion to its op; collect wakers to wake
    /// (woken by the caller, outside any borrow of the driver).
    pub(crate) fn reap(&mut self, wakers: &mut Vec<Waker>) {
        let Driver {
            ring,
            ops,
            wake_armed,
            in_kernel,
            closing,
            graveyard,
            bufs,
            to_pause,
            queued_bufs,
            msg_targets,
            counters,
            ..
        } = self;
        for cqe in ring.completions() {
            counters.cqes += 1;
            let offset = bufs.as_mut().and_then(|bufs| bufs.take(&cqe)).unwrap_or(0);
            match cqe.user_data() {
                WAKE_UD => *wake_armed = false,
                CANCEL_UD | MSG_WAKE_UD => {}
                ud if (MSG_SENT_BASE..MSG_SENT_BASE + MSG_TARGETS as u64).contains(&ud) => {
                    // Only failures complete (CQE_SKIP_SUCCESS).
                    tracing::warn!(res = cqe.raw_result(), "a MSG_RING wake failed; eventfd");
                    let target = msg_targets[(ud - MSG_SENT_BASE) as usize].upgrade();
                    if let Some(target) = target {
                        target.kick();
                    }
                }
                CLOSE_UD => {
                    *closing -= 1;
                    if let Err(e) = cqe.result() {
                        tracing::warn!(error = %e, "asynchronous close failed");
                    }
                }
                ud => {
                    if !cqe.has_more() {
                        *in_kernel -= 1;
                    }
                    let mut done =
                        Done { wakers, graveyard, to_pause, queued_bufs, bufs: bufs.as_mut() };
                    complete(ops, ud as usize, cqe, offset, &mut done);
                }
            }
        }
        if self.bufs.as_ref().is_some_and(BufPool::low) && self.queued_bufs > 0 {
            self.reclaim_bufs();
        }
        for key in std::mem::take(&mut self.to_pause) {
            tracing::trace!(key, "multishot paused: its unread queue is full");
            self.cancel(key as u64);
        }
    }
}

impl Driver {
    /// The ring runs low: copy out every ring buffer that sits unread in a
    /// multishot op's queue and give it back, so receives that are not read
    /// (their task waits on something else, e.g. a send to a peer that
    /// does not read) cannot keep the ring dry for the others.
    fn reclaim_bufs(&mut self) {
        let Some(bufs) = self.bufs.as_mut() else { return };
        let mut copied = 0;
        for (_, slot) in &mut self.ops {
            let Slot::Multi { queue, .. } = slot else { continue };
            for d in queue.iter_mut() {
                if let Some(bid) = d.cqe.buffer_id() {
                    let cqe = Completion::new(d.cqe.user_data(), d.cqe.raw_result(), d.cqe.flags());
                    *d = spill(bufs, bid, d.offset, cqe);
                    copied += 1;
                }
            }
        }
        self.queued_bufs -= copied;
        tracing::debug!(copied, "buffer ring low: copied out unread buffers");
    }
}

/// Where `complete` puts what it produces: wakers to wake, orphans to drop,
/// ops to pause, and the buffer ring to spill into.
struct Done<'a> {
    wakers: &'a mut Vec<Waker>,
    graveyard: &'a mut Graveyard,
    to_pause: &'a mut Vec<usize>,
    /// Ring buffers in unread queues.
    queued_bufs: &'a mut usize,
    bufs: Option<&'a mut BufPool>,
}

fn complete(ops: &mut Slab<Slot>, key: usize, cqe: Completion, offset: u32, done: &mut Done<'_>) {
    tracing::trace!(key, res = cqe.raw_result(), more = cqe.has_more(), "op complete");
    let Some(slot) = ops.get_mut(key) else {
        debug_assert!(false, "completion for unknown key {key}");
        return;
    };
    match slot {
        Slot::Pending(waker) => {
            done.wakers.extend(waker.take());
            *slot = Slot::Done(cqe);
        }
        Slot::Multi { queue, waker, finished, limit, paused } => {
            *finished = !cqe.has_more();
            let over = queue.full(*limit);
            let delivery = match (cqe.buffer_id(), &mut done.bufs) {
                // Past the bound the kernel overshot (it fills buffers until
                // our cancel lands): copy the data out and give the buffer
                // back now, so the stream never holds more than `limit`.
                // The same while the ring runs low: no unread queue then
                // keeps a buffer the other receives need.
                (Some(bid), Some(bufs)) if over || bufs.low() => spill(bufs, bid, offset, cqe),
                (Some(_), Some(_)) => {
                    *done.queued_bufs += 1;
                    Delivery { cqe, offset, spilled: None }
                }
                _ => Delivery { cqe, offset, spilled: None },
            };
            queue.push_back(delivery);
            if !*finished && !*paused && queue.full(*limit) {
                *paused = true;
                done.to_pause.push(key);
            }
            done.wakers.extend(waker.take());
        }
        Slot::Orphaned(owned) => {
            if let (Some(bid), Some(bufs)) = (cqe.buffer_id(), &mut done.bufs) {
                owned.received(ring_bytes(bufs, bid, offset, &cqe));
                // SAFETY: this completion handed the piece out, to nobody.
                unsafe { bufs.release(bid) };
            }
            owned.completed(&cqe);
            if !cqe.has_more()
                && let Slot::Orphaned(owned) = ops.remove(key)
            {
                done.graveyard.orphans.push(owned);
            }
        }
        Slot::Done(_) => debug_assert!(false, "second completion for single-shot key {key}"),
    }
}

/// The bytes `cqe` received into ring buffer `bid` at `offset`, a piece it
/// handed out and that is not released yet.
fn ring_bytes<'a>(bufs: &'a BufPool, bid: u16, offset: u32, cqe: &Completion) -> &'a [u8] {
    let len = cqe.raw_result().max(0) as usize;
    // SAFETY: the completion handed the piece out and nothing released it
    // yet, so the kernel does not write it; it holds `len` received bytes.
    unsafe { std::slice::from_raw_parts(bufs.ptr(bid, offset, len), len) }
}

/// Copy the piece of buffer `bid` that `cqe` handed out (at `offset`) out
/// of the ring and release it.
fn spill(bufs: &mut BufPool, bid: u16, offset: u32, cqe: Completion) -> Delivery {
    let data = ring_bytes(bufs, bid, offset, &cqe);
    let data = (!data.is_empty()).then(|| data.into()); // an empty one carries nothing
    // SAFETY: this completion handed the piece out and nothing else has
    // seen it; we copied it, and release it once.
    unsafe { bufs.release(bid) };
    bufs.copied += 1;
    let flags = cqe.flags() & !crate::uring::sys::IORING_CQE_F_BUFFER;
    Delivery {
        cqe: Completion::new(cqe.user_data(), cqe.raw_result(), flags),
        offset: 0,
        spilled: data,
    }
}

/// Store the polling task's waker; returns the one it replaces, to be
/// dropped out of the driver's borrow (a waker's drop may run user code).
fn set_waker(slot: &mut Option<Waker>, cx: &Context<'_>) -> Option<Waker> {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => None,
        _ => slot.replace(cx.waker().clone()),
    }
}

/// What the driver is done with but must not drop under its own borrow
/// (their drops may use the driver: close an fd, run a waker's code): the
/// worker takes it and drops it after the borrow.
#[derive(Default)]
pub(crate) struct Graveyard {
    /// Orphans whose final completion arrived.
    pub(crate) orphans: Vec<Box<dyn Orphan>>,
    /// Wakers replaced, or left by operations that ended.
    pub(crate) wakers: Vec<Waker>,
}

impl Graveyard {
    pub(crate) fn is_empty(&self) -> bool {
        self.orphans.is_empty() && self.wakers.is_empty()
    }
}
