//! The io_uring engine: [`IoUring::builder`] sets up the kernel ring and maps
//! its three shared regions; the `prep_*` methods (in `prep.rs`) queue SQEs;
//! [`IoUring::submit_and_wait`] enters the kernel; [`IoUring::completions`]
//! reaps CQEs.
//!
//! No futures, no tasks and no allocation per operation live here. What an
//! SQE points at is the caller's to keep alive until its final CQE.

use core::ffi::{c_int, c_long, c_void};
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use std::io;
use std::rc::Rc;
use std::time::Instant;

use super::completion::{Completion, Completions};
use super::region::Mmap;
use super::setup::Builder;
use super::sys::{
    GeteventsArg, IORING_ENTER_EXT_ARG, IORING_ENTER_GETEVENTS, IORING_ENTER_REGISTERED_RING,
    IORING_FEAT_EXT_ARG, IORING_FEAT_SINGLE_MMAP, IORING_OFF_CQ_RING, IORING_OFF_SQ_RING,
    IORING_OFF_SQES, IORING_REGISTER_RING_FDS, IORING_SETUP_DEFER_TASKRUN, IORING_SQ_CQ_OVERFLOW,
    IORING_SQ_TASKRUN, IORING_UNREGISTER_RING_FDS, Params, RsrcUpdate, Sqe, Timespec,
};

/// Forks of this process, counted in each child by an `atfork` handler
/// (registered when the first ring is created).
static FORKS: AtomicU32 = AtomicU32::new(0);

/// The count of forks so far, registering the counting handler first.
fn forks() -> u32 {
    static HANDLER: std::sync::Once = std::sync::Once::new();
    extern "C" fn in_child() {
        FORKS.fetch_add(1, Ordering::Relaxed);
    }
    HANDLER.call_once(|| {
        // SAFETY: registers a handler that only bumps an atomic, which is
        // async-signal-safe as a handler run in the child must be.
        let _ = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    });
    FORKS.load(Ordering::Relaxed)
}

/// What a ring in a forked child says when used.
pub(crate) const FORKED: &str = "this io_uring belongs to the process that created it; a \
    forked child must not use it (the rings are shared with the parent): create a new one";

/// The ring's file descriptor, closed when its last owner (the ring, or a
/// buffer ring registered on it) goes away.
#[derive(Debug)]
pub(crate) struct RingFd {
    fd: c_int,
    /// [`forks`] when the ring was created: another count means this is a
    /// forked child, which shares the ring's queues (mapped `MAP_SHARED`)
    /// and its registrations with the parent, and must touch neither.
    forks: u32,
}

impl RingFd {
    pub(crate) fn raw(&self) -> c_int {
        self.fd
    }

    /// Whether this process is a fork of the one that created the ring.
    #[inline]
    pub(crate) fn forked(&self) -> bool {
        FORKS.load(Ordering::Relaxed) != self.forks
    }

    /// `io_uring_register(2)` on this ring.
    ///
    /// # Safety
    ///
    /// `arg` is valid for everything `opcode` reads *and writes* (`nr_args`
    /// items), for the duration of the call, and registers nothing whose
    /// memory does not outlive the registration.
    pub(crate) unsafe fn register(
        &self,
        opcode: u32,
        arg: *mut c_void,
        nr_args: u32,
    ) -> io::Result<i32> {
        if self.forked() {
            // It would change the parent's ring (e.g. unregister its buffers).
            return Err(io::Error::other(FORKED));
        }
        // SAFETY: the fd is an open io_uring (we own it); `arg` is valid for
        // `opcode` by the caller's contract.
        let ret = unsafe {
            libc::syscall(libc::SYS_io_uring_register, self.fd, opcode, arg, nr_args as c_long)
        };
        if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret as i32) }
    }
}

impl Drop for RingFd {
    fn drop(&mut self) {
        // SAFETY: we own this fd; nothing uses it after the last owner drops.
        unsafe { libc::close(self.fd) };
    }
}

/// The submission queue's kernel-shared cursors and our local tail.
struct Sq {
    khead: *const AtomicU32,
    ktail: *const AtomicU32,
    kflags: *const AtomicU32,
    sqes: *mut Sqe,
    mask: u32,
    entries: u32,
    /// Local producer cursor; published to the kernel on enter.
    tail: u32,
}

/// The completion queue's kernel-shared cursors.
struct Cq {
    khead: *const AtomicU32,
    ktail: *const AtomicU32,
    /// Our consumer position: advanced as completions are taken, published
    /// to `khead` when a batch drops and again when the next one starts
    /// (so a leaked batch neither loses nor repeats a completion).
    head: u32,
    koverflow: *const AtomicU32,
    cqes: *const Completion,
    mask: u32,
    entries: u32,
}

/// The submission queue is full: submit what is queued, then try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqFull;

impl core::fmt::Display for SqFull {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the io_uring submission queue is full; submit before queuing more")
    }
}

impl std::error::Error for SqFull {}

impl From<SqFull> for io::Error {
    fn from(e: SqFull) -> io::Error {
        io::Error::new(io::ErrorKind::WouldBlock, e)
    }
}

/// A Linux io_uring instance: one submission ring and one completion ring.
///
/// The ring is bound to the thread that created it (`!Send`): with
/// `SINGLE_ISSUER` and a registered ring fd the kernel ties both to that
/// thread.
///
/// # Examples
///
/// ```
/// use corering::uring::IoUring;
///
/// let mut ring = IoUring::new(8)?;
/// ring.prep_nop(42)?;
/// ring.submit_and_wait(1)?;
/// let cqe = ring.completions().next().expect("one completion");
/// assert_eq!(cqe.user_data(), 42);
/// assert_eq!(cqe.result()?, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct IoUring {
    sq: Sq,
    cq: Cq,
    params: Params,
    /// `(fd, extra enter flags)`: the registered index with
    /// `IORING_ENTER_REGISTERED_RING`, or the plain fd with 0.
    enter_fd: (c_int, u32),
    registered_index: Option<u32>,
    // Fields drop in order: the maps go before the fd they map.
    _sqe_map: Mmap,
    _cq_map: Option<Mmap>,
    _sq_map: Mmap,
    fd: Rc<RingFd>,
    _not_send: PhantomData<*const ()>,
}

impl IoUring {
    /// A ring with `entries` SQ entries and every optional flag the kernel
    /// grants; see [`IoUring::builder`] for more options.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    pub fn new(entries: u32) -> io::Result<IoUring> {
        Builder::default().entries(entries).build()
    }

    /// Options for a new ring.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// `io_uring_setup` with exactly these parameters, then map the regions.
    pub(super) fn from_params(entries: u32, mut p: Params, register: bool) -> io::Result<IoUring> {
        // SAFETY: `p` is a valid `io_uring_params` the kernel reads and
        // fills; it outlives the call.
        let ret = unsafe { libc::syscall(libc::SYS_io_uring_setup, entries as c_long, &raw mut p) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = Rc::new(RingFd { fd: ret as c_int, forks: forks() });

        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * size_of::<Completion>();
        let sqes_len = p.sq_entries as usize * size_of::<Sqe>();
        let single = p.features & IORING_FEAT_SINGLE_MMAP != 0;
        let sq_map = Mmap::ring_region(
            fd.raw(),
            if single { sq_len.max(cq_len) } else { sq_len },
            IORING_OFF_SQ_RING,
        )?;
        let cq_map = if single {
            None
        } else {
            Some(Mmap::ring_region(fd.raw(), cq_len, IORING_OFF_CQ_RING)?)
        };
        let sqe_map = Mmap::ring_region(fd.raw(), sqes_len, IORING_OFF_SQES)?;
        let cq_base = cq_map.as_ref().unwrap_or(&sq_map);

        let sq = Sq {
            khead: sq_map.at(p.sq_off.head as usize),
            ktail: sq_map.at(p.sq_off.tail as usize),
            kflags: sq_map.at(p.sq_off.flags as usize),
            sqes: sqe_map.at(0),
            // SAFETY: the kernel wrote these read-only words before setup
            // returned, at offsets inside the SQ mapping.
            mask: unsafe { *sq_map.at::<u32>(p.sq_off.ring_mask as usize) },
            entries: p.sq_entries,
            // SAFETY: as above; nobody has submitted yet.
            tail: unsafe {
                (*sq_map.at::<AtomicU32>(p.sq_off.tail as usize)).load(Ordering::Relaxed)
            },
        };
        // The SQ array maps ring slots to SQE indices. We keep it the
        // identity, written once here, so queuing an SQE never touches it.
        let array: *mut u32 = sq_map.at(p.sq_off.array as usize);
        for i in 0..p.sq_entries {
            // SAFETY: `array` has `sq_entries` u32 slots inside the mapping.
            unsafe { array.add(i as usize).write(i) };
        }
        let cq_head: *const AtomicU32 = cq_base.at(p.cq_off.head as usize);
        let cq = Cq {
            khead: cq_head,
            ktail: cq_base.at(p.cq_off.tail as usize),
            // SAFETY: the head lies in the CQ mapping; only we write it.
            head: unsafe { (*cq_head).load(Ordering::Relaxed) },
            koverflow: cq_base.at(p.cq_off.overflow as usize),
            cqes: cq_base.at(p.cq_off.cqes as usize),
            // SAFETY: written by the kernel before setup returned.
            mask: unsafe { *cq_base.at::<u32>(p.cq_off.ring_mask as usize) },
            entries: p.cq_entries,
        };

        let mut ring = IoUring {
            sq,
            cq,
            params: p,
            enter_fd: (fd.raw(), 0),
            registered_index: None,
            _sqe_map: sqe_map,
            _cq_map: cq_map,
            _sq_map: sq_map,
            fd,
            _not_send: PhantomData,
        };
        if register {
            ring.register_ring_fd();
        }
        Ok(ring)
    }

    /// Register the ring fd so enters skip the fd table. Optional: a kernel
    /// without `IORING_REGISTER_RING_FDS` keeps using the plain fd.
    fn register_ring_fd(&mut self) {
        let mut up = RsrcUpdate { offset: u32::MAX, resv: 0, data: self.fd.raw() as u64 };
        // SAFETY: the kernel reads one rsrc_update and writes the allocated
        // index back into `up.offset`; `up` is a live, mutable local.
        let res = unsafe { self.fd.register(IORING_REGISTER_RING_FDS, (&raw mut up).cast(), 1) };
        if let Ok(1) = res {
            self.registered_index = Some(up.offset);
            self.enter_fd = (up.offset as c_int, IORING_ENTER_REGISTERED_RING);
        }
    }

    /// The `IORING_SETUP_*` flags the kernel accepted.
    pub fn setup_flags(&self) -> u32 {
        self.params.flags
    }

    /// The `IORING_FEAT_*` word the kernel reported.
    pub fn features(&self) -> u32 {
        self.params.features
    }

    /// Whether this process was forked from the one that created the ring.
    /// A forked child shares the ring's queues with its parent; every use
    /// there is refused (enters fail, preps and reaps panic) so that it can
    /// never take the parent's completions or queue into its SQ.
    #[inline]
    pub fn is_forked(&self) -> bool {
        self.fd.forked()
    }

    /// Whether enters go through a registered ring fd.
    pub fn ring_fd_registered(&self) -> bool {
        self.registered_index.is_some()
    }

    /// The ring's file descriptor (for `MSG_RING` from another ring).
    pub fn as_raw_fd(&self) -> c_int {
        self.fd.raw()
    }

    pub(crate) fn ring_fd(&self) -> &Rc<RingFd> {
        &self.fd
    }

    /// Number of SQ slots.
    pub fn sq_entries(&self) -> u32 {
        self.sq.entries
    }

    /// Number of CQ slots.
    pub fn cq_entries(&self) -> u32 {
        self.cq.entries
    }

    /// SQEs queued but not yet consumed by the kernel.
    #[inline]
    pub fn sq_pending(&self) -> u32 {
        // SAFETY: `khead` points into the SQ mapping, alive as long as self.
        let khead = unsafe { (*self.sq.khead).load(Ordering::Acquire) };
        self.sq.tail.wrapping_sub(khead)
    }

    /// Free SQ slots.
    pub fn sq_space_left(&self) -> u32 {
        self.sq.entries - self.sq_pending()
    }

    /// CQEs the kernel could not fit in the CQ and keeps on its overflow
    /// list (with `IORING_FEAT_NODROP`) until the CQ has room again.
    pub fn cq_overflow_pending(&self) -> bool {
        self.sq_flags() & IORING_SQ_CQ_OVERFLOW != 0
    }

    /// CQEs the kernel dropped for good (only without `FEAT_NODROP`, or
    /// when it could not allocate an overflow entry).
    pub fn cq_dropped(&self) -> u32 {
        // SAFETY: `koverflow` points into the CQ mapping, alive as long as self.
        unsafe { (*self.cq.koverflow).load(Ordering::Relaxed) }
    }

    #[inline]
    fn sq_flags(&self) -> u32 {
        // SAFETY: `kflags` points into the SQ mapping, alive as long as self.
        unsafe { (*self.sq.kflags).load(Ordering::Acquire) }
    }

    /// Reserve the next SQ slot for `sqe`; `Err(SqFull)` when every slot is
    /// queued and not yet consumed. Never overwrites a pending entry.
    #[inline]
    pub(super) fn reserve(&mut self) -> Result<&mut Sqe, SqFull> {
        // In a forked child the SQ is the parent's: never write into it.
        assert!(!self.fd.forked(), "{FORKED}");
        if self.sq_pending() >= self.sq.entries {
            return Err(SqFull);
        }
        let idx = (self.sq.tail & self.sq.mask) as usize;
        self.sq.tail = self.sq.tail.wrapping_add(1);
        // SAFETY: `idx <= mask` is inside the SQE array, and the slot is
        // past the kernel's head, so the kernel is not reading it; the
        // `&mut self` borrow makes us its only writer.
        Ok(unsafe { &mut *self.sq.sqes.add(idx) })
    }

    /// Queue a fully built `sqe` as is.
    ///
    /// # Errors
    ///
    /// [`SqFull`] when every slot is queued: submit and retry.
    ///
    /// # Safety
    ///
    /// Every pointer in `sqe` (buffers, iovecs, sockaddrs, msghdrs,
    /// timespecs, paths) must stay valid, and unaliased where the kernel
    /// writes, until the SQE's final completion is reaped. Any fd it closes
    /// must be the caller's to close.
    #[inline]
    pub unsafe fn push(&mut self, sqe: &Sqe) -> Result<(), SqFull> {
        *self.reserve()? = *sqe;
        Ok(())
    }

    /// Publish queued SQEs and enter the kernel without waiting.
    ///
    /// Returns how many SQEs the kernel consumed. SQEs it did not consume
    /// stay queued and go with the next enter.
    ///
    /// # Errors
    ///
    /// As [`IoUring::submit_and_wait`].
    #[inline]
    pub fn submit(&mut self) -> io::Result<u32> {
        self.enter(0, None)
    }

    /// Publish queued SQEs and wait until at least `want` completions are
    /// in the CQ.
    ///
    /// Interrupted waits (`EINTR`) are retried. Returns how many SQEs the
    /// kernel consumed. If the kernel consumed some SQEs but then could not
    /// wait (a partial submission, a signal), it returns early: callers must
    /// not assume `want` completions are there.
    ///
    /// # Errors
    ///
    /// `EBUSY` or `EAGAIN` when the kernel cannot take more until the CQ is
    /// reaped: reap with [`IoUring::completions`], then call again; no
    /// completion is lost. `EBADR` if the kernel had to drop completions
    /// (it could not allocate overflow entries). Any other error is the
    /// kernel's.
    #[inline]
    pub fn submit_and_wait(&mut self, want: u32) -> io::Result<u32> {
        self.enter(want, None)
    }

    /// As [`IoUring::submit_and_wait`], but return once `timeout` passes
    /// even if fewer than `want` completions arrived (`IORING_ENTER_EXT_ARG`).
    ///
    /// # Errors
    ///
    /// `Unsupported` on a kernel without `IORING_FEAT_EXT_ARG` (before
    /// 5.11); otherwise as [`IoUring::submit_and_wait`]. Timing out is not
    /// an error.
    pub fn submit_and_wait_timeout(&mut self, want: u32, timeout: Duration) -> io::Result<u32> {
        if self.params.features & IORING_FEAT_EXT_ARG == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "waiting with a timeout needs IORING_FEAT_EXT_ARG (Linux 5.11+)",
            ));
        }
        self.enter(want, Some(timeout))
    }

    #[inline]
    fn enter(&mut self, want: u32, timeout: Option<Duration>) -> io::Result<u32> {
        if self.fd.forked() {
            return Err(io::Error::other(FORKED));
        }
        // Release: the SQEs we wrote are visible before the kernel sees the tail.
        // SAFETY: `ktail` points into the SQ mapping, alive as long as self.
        unsafe { (*self.sq.ktail).store(self.sq.tail, Ordering::Release) };
        // A timeout too large for an Instant waits without one.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let to_submit = self.sq_pending();
            let mut flags = self.enter_fd.1;
            if want > 0 || self.needs_getevents() {
                flags |= IORING_ENTER_GETEVENTS;
            }
            let ts: Timespec;
            let mut arg = GeteventsArg::default();
            let (argp, argsz) = match deadline {
                Some(d) => {
                    ts = d.saturating_duration_since(Instant::now()).into();
                    arg.ts = (&raw const ts) as u64;
                    flags |= IORING_ENTER_EXT_ARG | IORING_ENTER_GETEVENTS;
                    ((&raw const arg).cast::<c_void>(), size_of::<GeteventsArg>())
                }
                None => (ptr::null(), 0),
            };
            // SAFETY: the fd is this ring's (or its registered index); the
            // SQEs up to the published tail are fully written; `arg` and `ts`
            // live on this stack frame until the synchronous call returns.
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_io_uring_enter,
                    self.enter_fd.0,
                    to_submit,
                    want,
                    flags,
                    argp,
                    argsz,
                )
            };
            if ret >= 0 {
                return Ok(ret as u32);
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ETIME) => return Ok(0),
                _ => return Err(err),
            }
        }
    }

    /// Whether an enter must ask for events even when not waiting: deferred
    /// task work only runs then, and overflowed CQEs are only flushed then.
    #[inline]
    fn needs_getevents(&self) -> bool {
        self.params.flags & IORING_SETUP_DEFER_TASKRUN != 0
            || self.sq_flags() & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN) != 0
    }

    /// The completions available now, as a batch iterator: one Acquire load
    /// of the tail now, one Release store of the head when it drops (and
    /// one now, for a batch that was leaked).
    ///
    /// # Panics
    ///
    /// In a process forked from the one that created the ring: reaping
    /// would take the parent's completions.
    #[inline]
    pub fn completions(&mut self) -> Completions<'_> {
        assert!(!self.fd.forked(), "{FORKED}");
        let cq = &mut self.cq;
        // SAFETY: the cursors and CQE array point into the CQ mapping, which
        // lives as long as `self`; the `&mut self` borrow held by the
        // iterator makes it the only consumer, and `cq.head` is the head.
        unsafe { Completions::new(&*cq.khead, &*cq.ktail, cq.cqes, cq.mask, &mut cq.head) }
    }

    /// Reap every available completion, calling `f` for each; returns the
    /// count.
    pub fn for_each_completion<F: FnMut(Completion)>(&mut self, f: F) -> u32 {
        let batch = self.completions();
        let n = batch.len() as u32;
        batch.for_each(f);
        n
    }
}

impl Drop for IoUring {
    /// Unregisters the ring fd and unmaps the rings; the fd closes once no
    /// buffer ring registered on it remains.
    ///
    /// The caller must have reaped the final completion of every SQE that
    /// points at its memory first: in-flight work is cancelled only once the
    /// fd closes (not while a buffer ring still holds it), and then
    /// asynchronously, after this returns. Memory behind operations still
    /// in flight must be leaked, not freed. The runtime guarantees it.
    fn drop(&mut self) {
        if let Some(index) = self.registered_index {
            let mut up = RsrcUpdate { offset: index, resv: 0, data: 0 };
            // SAFETY: the kernel reads one rsrc_update from `up`, alive here.
            let _ =
                unsafe { self.fd.register(IORING_UNREGISTER_RING_FDS, (&raw mut up).cast(), 1) };
        }
    }
}

impl std::os::fd::AsFd for IoUring {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the ring fd stays open at least as long as `self` (it is
        // closed only when the last `Rc<RingFd>` goes).
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd.raw()) }
    }
}

impl core::fmt::Debug for IoUring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IoUring")
            .field("fd", &self.fd.raw())
            .field("sq_entries", &self.sq.entries)
            .field("cq_entries", &self.cq.entries)
            .field("setup_flags", &format_args!("{:#x}", self.params.flags))
            .field("features", &format_args!("{:#x}", self.params.features))
            .field("registered", &self.registered_index.is_some())
            .finish()
    }
}
