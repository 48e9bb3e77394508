//! The `prep_*` methods: one per operation, each writing a whole SQE into
//! the next free slot of the submission queue.
//!
//! Every SQE starts zeroed and each method sets the fields its opcode reads,
//! so nothing leaks from an earlier use of the slot. Methods whose SQE points
//! at caller memory are `unsafe`, with one shared contract (below); the rest
//! are safe. Nothing is submitted here: see [`IoUring::submit`].
//!
//! # The contract of the unsafe `prep_*` methods
//!
//! Memory the SQE points at (buffers, iovec arrays and the buffers they name,
//! sockaddrs and their lengths, msghdrs with everything they reference,
//! timespecs, paths, statx buffers) must stay valid, and must not be read or
//! written by anyone else where the kernel writes, until the SQE's *final*
//! completion (the one without [`Completion::has_more`]) has been reaped.
//! Cancelling an SQE does not end this: its final completion does. Their
//! `RawFd` arguments name files the caller may act on, and keeps open,
//! until that final completion (I/O safety).
//!
//! # What the safe methods let the kernel touch
//!
//! A safe method must not let the kernel write anywhere Rust does not
//! expect, nor act on an fd the caller does not hold. Each was checked for
//! a field the kernel would write through or read a pointer from:
//!
//! - No safe SQE carries a pointer. `prep_timeout_remove`, `prep_cancel`
//!   and `prep_poll_remove` put a `user_data` *value* in `addr`, and leave
//!   the update flags clear (`IORING_TIMEOUT_UPDATE` and the poll update
//!   flags would make the kernel read a timespec or take new values).
//! - No safe SQE names a buffer group: the group stays 0 and
//!   `IOSQE_BUFFER_SELECT` is refused by [`Prepped::flags`], so a safe SQE
//!   never takes a provided buffer, whose ring safe code may drop. The
//!   SQE's `personality` and `file_index` also stay 0.
//! - `prep_accept_multishot` leaves `addr`/`addrlen` null, so the kernel
//!   writes no peer address; each completion's fd is a new one, the
//!   reaper's to own. `prep_cancel` and `prep_cancel_fd` only end this
//!   ring's own requests early, whatever their flags (with
//!   `IORING_ASYNC_CANCEL_FD_FIXED` the fd is read as a registered-file
//!   index, still matching only this ring's requests); each cancelled
//!   request still posts its final completion.
//!   `prep_shutdown`, `prep_fsync` and the polls write no memory.
//! - The fd of a safe method is a [`BorrowedFd`], not a number: safe code
//!   cannot name an fd it does not hold (I/O safety). The borrow ends when
//!   the method returns, but the kernel looks the fd up only when it
//!   issues the request: in the submit that sends it, or later for a
//!   linked, drained or `IOSQE_ASYNC` request. Keep the fd open until the
//!   request's final completion; this layer cannot enforce it, and a
//!   request whose fd was closed first acts on whatever file takes the
//!   number next. The runtime keeps it open: each operation holds a clone
//!   of the `SharedFd`, which closes the fd only after the last clone.
//!
//! [`Completion::has_more`]: super::Completion::has_more

use core::ffi::c_char;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use super::ring::{IoUring, SqFull};
use super::sys::*;

/// A queued SQE whose flags may still be set before it is submitted.
#[derive(Debug)]
pub struct Prepped<'a> {
    sqe: &'a mut Sqe,
}

impl Prepped<'_> {
    /// The `IOSQE_*` flags [`Prepped::flags`] takes. Each changes when a
    /// request runs or whether its success is reported, never which memory
    /// or which file the kernel touches:
    ///
    /// - `IOSQE_IO_DRAIN`, `IOSQE_IO_LINK`, `IOSQE_IO_HARDLINK` order
    ///   requests; a request cancelled because its link broke still posts
    ///   its own (final) completion, `-ECANCELED`.
    /// - `IOSQE_ASYNC` runs the request on an io-wq worker, with the same
    ///   memory and fd.
    /// - `IOSQE_CQE_SKIP_SUCCESS` drops the completion of a success. An SQE
    ///   that points at memory then may never post the final completion its
    ///   contract waits for, so that memory stays borrowed for good: a leak,
    ///   never a write after free. Use it on SQEs that point at no memory.
    pub const SAFE_FLAGS: u8 =
        IOSQE_IO_DRAIN | IOSQE_IO_LINK | IOSQE_IO_HARDLINK | IOSQE_ASYNC | IOSQE_CQE_SKIP_SUCCESS;

    /// Add `IOSQE_*` flags from [`Prepped::SAFE_FLAGS`].
    ///
    /// # Panics
    ///
    /// If `flags` holds any other bit, before the SQE is changed. Those
    /// change what the kernel touches: `IOSQE_BUFFER_SELECT` makes it write
    /// into a buffer of provided-buffer group 0 instead of the memory the
    /// SQE was prepped with, `IOSQE_FIXED_FILE` makes the fd an index into
    /// the ring's registered files, and unknown bits may mean anything on a
    /// later kernel. [`IoUring::prep_recv_select`] and
    /// [`Prepped::flags_unchecked`] are the ways to ask for them.
    #[track_caller]
    pub fn flags(self, flags: u8) -> Self {
        assert!(
            flags & !Self::SAFE_FLAGS == 0,
            "Prepped::flags({flags:#04x}): IOSQE_BUFFER_SELECT, IOSQE_FIXED_FILE and unknown \
             bits change what the kernel touches; use prep_recv_select or flags_unchecked"
        );
        self.sqe.add_flags(flags);
        self
    }

    /// Add any `IOSQE_*` flags, [`Prepped::SAFE_FLAGS`] or not.
    ///
    /// # Safety
    ///
    /// The contract of the `prep_*` method that queued this SQE still
    /// holds, and for each flag outside [`Prepped::SAFE_FLAGS`]:
    ///
    /// - `IOSQE_BUFFER_SELECT`: the buffer ring registered under group 0
    ///   (every `prep_*` method leaves the SQE's buffer group at 0) outlives
    ///   this SQE's final completion, as for [`IoUring::prep_recv_select`].
    /// - `IOSQE_FIXED_FILE`: the SQE's fd is an index into this ring's
    ///   registered files, and the caller may act on the file at that index
    ///   until the final completion (I/O safety).
    /// - any other bit: whatever the kernel asks of that flag.
    pub unsafe fn flags_unchecked(self, flags: u8) -> Self {
        self.sqe.add_flags(flags);
        self
    }

    /// The SQE as queued.
    pub fn sqe(&self) -> &Sqe {
        self.sqe
    }
}

type Prep<'a> = Result<Prepped<'a>, SqFull>;

impl IoUring {
    /// # Panics
    ///
    /// In a process forked from the one that created the ring: the SQ is
    /// the parent's (every `prep_*` method panics there).
    #[inline]
    fn queue(&mut self, sqe: Sqe) -> Prep<'_> {
        let slot = self.reserve()?;
        *slot = sqe;
        Ok(Prepped { sqe: slot })
    }

    /// Queue a no-op; it completes with `res == 0`.
    ///
    /// # Errors
    ///
    /// Every `prep_*` method fails only with [`SqFull`]: submit, then retry.
    #[inline]
    pub fn prep_nop(&mut self, user_data: u64) -> Prep<'_> {
        self.queue(Sqe::new(IORING_OP_NOP, -1, user_data))
    }

    /// Queue a `read` of up to `len` bytes into `buf`, at file `offset`
    /// (`u64::MAX` for the current file position, or for pipes and sockets).
    ///
    /// # Safety
    ///
    /// `buf` is valid for `len` bytes of writes: see the module's contract.
    pub unsafe fn prep_read(
        &mut self,
        fd: RawFd,
        buf: *mut u8,
        len: u32,
        offset: u64,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_READ, fd, user_data);
        sqe.set_addr(buf as u64).set_len(len).set_off(offset);
        self.queue(sqe)
    }

    /// Queue a `write` of `len` bytes from `buf` at file `offset`
    /// (`u64::MAX` for the current position).
    ///
    /// # Safety
    ///
    /// `buf` is valid for `len` bytes of reads: see the module's contract.
    pub unsafe fn prep_write(
        &mut self,
        fd: RawFd,
        buf: *const u8,
        len: u32,
        offset: u64,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_WRITE, fd, user_data);
        sqe.set_addr(buf as u64).set_len(len).set_off(offset);
        self.queue(sqe)
    }

    /// Queue a `readv` into the `nr` buffers described by `iov`.
    ///
    /// # Safety
    ///
    /// The iovec array and every buffer it names: see the module's contract.
    pub unsafe fn prep_readv(
        &mut self,
        fd: RawFd,
        iov: *const libc::iovec,
        nr: u32,
        offset: u64,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_READV, fd, user_data);
        sqe.set_addr(iov as u64).set_len(nr).set_off(offset);
        self.queue(sqe)
    }

    /// Queue a `writev` from the `nr` buffers described by `iov`.
    ///
    /// # Safety
    ///
    /// The iovec array and every buffer it names: see the module's contract.
    pub unsafe fn prep_writev(
        &mut self,
        fd: RawFd,
        iov: *const libc::iovec,
        nr: u32,
        offset: u64,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_WRITEV, fd, user_data);
        sqe.set_addr(iov as u64).set_len(nr).set_off(offset);
        self.queue(sqe)
    }

    /// Queue a `recv` of up to `len` bytes into `buf` with `MSG_*` flags.
    ///
    /// # Safety
    ///
    /// `buf` is valid for `len` bytes of writes: see the module's contract.
    pub unsafe fn prep_recv(
        &mut self,
        fd: RawFd,
        buf: *mut u8,
        len: u32,
        msg_flags: i32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_RECV, fd, user_data);
        sqe.set_addr(buf as u64).set_len(len).set_op_flags(msg_flags as u32);
        self.queue(sqe)
    }

    /// Queue one `recv` into a buffer the kernel picks from the provided
    /// buffer group `bgid`; the completion's [`buffer_id`] names it. On a
    /// datagram socket with `MSG_TRUNC`, `res` may exceed the buffer size.
    ///
    /// [`buffer_id`]: super::Completion::buffer_id
    ///
    /// # Safety
    ///
    /// The buffer ring registered under `bgid` must outlive this SQE's final
    /// completion: the kernel may pick a buffer early (e.g. on an io-wq
    /// worker) and write it later, after an unregister.
    pub unsafe fn prep_recv_select(
        &mut self,
        fd: RawFd,
        bgid: u16,
        msg_flags: i32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_RECV, fd, user_data);
        sqe.set_op_flags(msg_flags as u32).set_buf_group(bgid).set_flags(IOSQE_BUFFER_SELECT);
        self.queue(sqe)
    }

    /// Queue a **multishot** `recv`: one SQE posts a completion per arrival,
    /// each into a buffer from group `bgid`, until a completion without
    /// [`has_more`] ends it (an error, `ENOBUFS` when the group ran dry, or
    /// `res == 0` at end of stream).
    ///
    /// [`has_more`]: super::Completion::has_more
    ///
    /// # Safety
    ///
    /// As [`IoUring::prep_recv_select`]: the buffer ring registered under
    /// `bgid` must outlive this SQE's final completion.
    pub unsafe fn prep_recv_multishot(
        &mut self,
        fd: RawFd,
        bgid: u16,
        msg_flags: i32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_RECV, fd, user_data);
        sqe.set_op_flags(msg_flags as u32)
            .set_buf_group(bgid)
            .set_flags(IOSQE_BUFFER_SELECT)
            .set_ioprio(IORING_RECV_MULTISHOT);
        self.queue(sqe)
    }

    /// Queue a `send` of `len` bytes from `buf` with `MSG_*` flags.
    ///
    /// # Safety
    ///
    /// `buf` is valid for `len` bytes of reads: see the module's contract.
    pub unsafe fn prep_send(
        &mut self,
        fd: RawFd,
        buf: *const u8,
        len: u32,
        msg_flags: i32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_SEND, fd, user_data);
        sqe.set_addr(buf as u64).set_len(len).set_op_flags(msg_flags as u32);
        self.queue(sqe)
    }

    /// Queue a zero-copy `send`. It posts two completions: the result (with
    /// [`has_more`]) and later a [notification] once the kernel no longer
    /// reads `buf`; the notification is the final one.
    ///
    /// [`has_more`]: super::Completion::has_more
    /// [notification]: super::Completion::is_notification
    ///
    /// # Safety
    ///
    /// `buf` is valid for `len` bytes of reads until the notification is
    /// reaped: see the module's contract.
    pub unsafe fn prep_send_zc(
        &mut self,
        fd: RawFd,
        buf: *const u8,
        len: u32,
        msg_flags: i32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_SEND_ZC, fd, user_data);
        sqe.set_addr(buf as u64).set_len(len).set_op_flags(msg_flags as u32);
        self.queue(sqe)
    }

    /// Queue a `sendmsg`.
    ///
    /// # Safety
    ///
    /// `msg` and all it points at (name, iovecs and their buffers, control
    /// data): see the module's contract.
    pub unsafe fn prep_sendmsg(
        &mut self,
        fd: RawFd,
        msg: *const libc::msghdr,
        msg_flags: i32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_SENDMSG, fd, user_data);
        sqe.set_addr(msg as u64).set_len(1).set_op_flags(msg_flags as u32);
        self.queue(sqe)
    }

    /// Queue a `recvmsg`.
    ///
    /// # Safety
    ///
    /// `msg` and all it points at, written by the kernel: see the module's
    /// contract.
    pub unsafe fn prep_recvmsg(
        &mut self,
        fd: RawFd,
        msg: *mut libc::msghdr,
        msg_flags: i32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_RECVMSG, fd, user_data);
        sqe.set_addr(msg as u64).set_len(1).set_op_flags(msg_flags as u32);
        self.queue(sqe)
    }

    /// Queue an `accept4`; the new fd is the completion's result. `addr` and
    /// `addrlen` may both be null; `flags` are `SOCK_NONBLOCK`/`SOCK_CLOEXEC`.
    ///
    /// # Safety
    ///
    /// Non-null `addr`/`addrlen` are written by the kernel: see the module's
    /// contract.
    pub unsafe fn prep_accept(
        &mut self,
        fd: RawFd,
        addr: *mut libc::sockaddr,
        addrlen: *mut libc::socklen_t,
        flags: i32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_ACCEPT, fd, user_data);
        sqe.set_addr(addr as u64).set_addr2(addrlen as u64).set_op_flags(flags as u32);
        self.queue(sqe)
    }

    /// Queue a **multishot** `accept4`: one completion per accepted
    /// connection, each with its new fd, until one without `has_more`.
    pub fn prep_accept_multishot(
        &mut self,
        fd: BorrowedFd<'_>,
        flags: i32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_ACCEPT, fd.as_raw_fd(), user_data);
        sqe.set_op_flags(flags as u32).set_ioprio(IORING_ACCEPT_MULTISHOT);
        self.queue(sqe)
    }

    /// Queue a `connect` to `addr`.
    ///
    /// # Safety
    ///
    /// `addr` is valid for `addrlen` bytes: see the module's contract.
    pub unsafe fn prep_connect(
        &mut self,
        fd: RawFd,
        addr: *const libc::sockaddr,
        addrlen: libc::socklen_t,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_CONNECT, fd, user_data);
        sqe.set_addr(addr as u64).set_addr2(addrlen as u64);
        self.queue(sqe)
    }

    /// Queue a `close` of `fd`.
    ///
    /// # Safety
    ///
    /// `fd` is the caller's to close, and nothing uses it afterwards (I/O
    /// safety: another owner could otherwise act on a reused fd number).
    pub unsafe fn prep_close(&mut self, fd: RawFd, user_data: u64) -> Prep<'_> {
        self.queue(Sqe::new(IORING_OP_CLOSE, fd, user_data))
    }

    /// Queue a `shutdown(fd, how)` (`libc::SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`).
    pub fn prep_shutdown(&mut self, fd: BorrowedFd<'_>, how: i32, user_data: u64) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_SHUTDOWN, fd.as_raw_fd(), user_data);
        sqe.set_len(how as u32);
        self.queue(sqe)
    }

    /// Queue a timeout. It completes with `-ETIME` when `ts` elapses, or
    /// with 0 once `count` other completions arrived first (`count == 0`:
    /// time only). `flags`: `IORING_TIMEOUT_ABS` for an absolute
    /// `CLOCK_MONOTONIC` time, `IORING_TIMEOUT_MULTISHOT` to repeat (then
    /// `count` is the number of shots, 0 for unlimited), clock choices.
    ///
    /// # Safety
    ///
    /// `ts` stays valid until the final completion: see the module's
    /// contract.
    pub unsafe fn prep_timeout(
        &mut self,
        ts: *const Timespec,
        count: u32,
        flags: u32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_TIMEOUT, -1, user_data);
        sqe.set_addr(ts as u64).set_len(1).set_off(count as u64).set_op_flags(flags);
        self.queue(sqe)
    }

    /// Queue the removal of the timeout tagged `target`; the timeout then
    /// completes with `-ECANCELED`, this with 0 (or `-ENOENT`, `-EALREADY`).
    pub fn prep_timeout_remove(&mut self, target: u64, user_data: u64) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_TIMEOUT_REMOVE, -1, user_data);
        sqe.set_addr(target);
        self.queue(sqe)
    }

    /// Queue the cancellation of the request tagged `target`
    /// (`IORING_ASYNC_CANCEL_ALL` in `flags`: every request so tagged). The
    /// request completes with `-ECANCELED`; this with 0 (or the count, with
    /// `ALL`), or `-ENOENT` if nothing matched, `-EALREADY` if it was
    /// already running.
    pub fn prep_cancel(&mut self, target: u64, flags: u32, user_data: u64) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_ASYNC_CANCEL, -1, user_data);
        sqe.set_addr(target).set_op_flags(flags);
        self.queue(sqe)
    }

    /// Queue the cancellation of requests on `fd` (`IORING_ASYNC_CANCEL_FD`
    /// is implied; add `IORING_ASYNC_CANCEL_ALL` for all of them). With
    /// `IORING_ASYNC_CANCEL_ANY` the fd is ignored and every request of the
    /// ring matches: [`IoUring::prep_cancel`] does that without an fd.
    pub fn prep_cancel_fd(&mut self, fd: BorrowedFd<'_>, flags: u32, user_data: u64) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_ASYNC_CANCEL, fd.as_raw_fd(), user_data);
        let flags = if flags & IORING_ASYNC_CANCEL_ANY != 0 {
            flags
        } else {
            flags | IORING_ASYNC_CANCEL_FD
        };
        sqe.set_op_flags(flags);
        self.queue(sqe)
    }

    /// Queue a one-shot poll for `events` (`libc::POLLIN`, ...); the result
    /// is the ready mask.
    pub fn prep_poll_add(&mut self, fd: BorrowedFd<'_>, events: u32, user_data: u64) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_POLL_ADD, fd.as_raw_fd(), user_data);
        sqe.set_op_flags(events);
        self.queue(sqe)
    }

    /// Queue a multishot poll: a completion each time `fd` becomes ready.
    pub fn prep_poll_multishot(
        &mut self,
        fd: BorrowedFd<'_>,
        events: u32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_POLL_ADD, fd.as_raw_fd(), user_data);
        sqe.set_op_flags(events).set_len(IORING_POLL_ADD_MULTI);
        self.queue(sqe)
    }

    /// Queue the removal of the poll tagged `target`.
    pub fn prep_poll_remove(&mut self, target: u64, user_data: u64) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_POLL_REMOVE, -1, user_data);
        sqe.set_addr(target);
        self.queue(sqe)
    }

    /// Queue a message to the ring `ring_fd`: it receives a completion with
    /// `user_data == target_user_data` and `res == res` (`IORING_MSG_DATA`).
    /// This SQE completes with 0 here once it was posted there.
    ///
    /// # Safety
    ///
    /// `ring_fd` is a ring the caller may post to, and `target_user_data`
    /// is a value that ring reserves for messages: a forged completion for
    /// one of its operations could make it free memory the kernel still uses.
    pub unsafe fn prep_msg_ring(
        &mut self,
        ring_fd: RawFd,
        res: u32,
        target_user_data: u64,
        flags: u32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_MSG_RING, ring_fd, user_data);
        sqe.set_addr(IORING_MSG_DATA).set_len(res).set_off(target_user_data).set_op_flags(flags);
        self.queue(sqe)
    }

    /// Queue an `openat(dirfd, path, flags, mode)`; the new fd is the result.
    ///
    /// # Safety
    ///
    /// `path` is a NUL-terminated string: see the module's contract.
    pub unsafe fn prep_openat(
        &mut self,
        dirfd: RawFd,
        path: *const c_char,
        flags: i32,
        mode: u32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_OPENAT, dirfd, user_data);
        sqe.set_addr(path as u64).set_len(mode).set_op_flags(flags as u32);
        self.queue(sqe)
    }

    /// Queue an `fsync` (`IORING_FSYNC_DATASYNC` in `flags` for `fdatasync`).
    pub fn prep_fsync(&mut self, fd: BorrowedFd<'_>, flags: u32, user_data: u64) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_FSYNC, fd.as_raw_fd(), user_data);
        sqe.set_op_flags(flags);
        self.queue(sqe)
    }

    /// Queue an `unlinkat(dirfd, path, flags)`: remove a file, or with
    /// `libc::AT_REMOVEDIR` an empty directory. Linux 5.11 or later.
    ///
    /// # Safety
    ///
    /// `path` is a NUL-terminated string: see the module's contract.
    pub unsafe fn prep_unlinkat(
        &mut self,
        dirfd: RawFd,
        path: *const c_char,
        flags: i32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_UNLINKAT, dirfd, user_data);
        sqe.set_addr(path as u64).set_op_flags(flags as u32);
        self.queue(sqe)
    }

    /// Queue a `renameat2(old_dirfd, old_path, new_dirfd, new_path, flags)`
    /// (`libc::RENAME_NOREPLACE`, `RENAME_EXCHANGE`, ... in `flags`). Linux
    /// 5.11 or later.
    ///
    /// # Safety
    ///
    /// Both paths are NUL-terminated strings: see the module's contract.
    pub unsafe fn prep_renameat(
        &mut self,
        old_dirfd: RawFd,
        old_path: *const c_char,
        new_dirfd: RawFd,
        new_path: *const c_char,
        flags: u32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_RENAMEAT, old_dirfd, user_data);
        // The kernel takes the new directory's fd in `len`, the new path in
        // `addr2`.
        sqe.set_addr(old_path as u64)
            .set_len(new_dirfd as u32)
            .set_addr2(new_path as u64)
            .set_op_flags(flags);
        self.queue(sqe)
    }

    /// Queue a `mkdirat(dirfd, path, mode)`. Linux 5.15 or later.
    ///
    /// # Safety
    ///
    /// `path` is a NUL-terminated string: see the module's contract.
    pub unsafe fn prep_mkdirat(
        &mut self,
        dirfd: RawFd,
        path: *const c_char,
        mode: u32,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_MKDIRAT, dirfd, user_data);
        sqe.set_addr(path as u64).set_len(mode);
        self.queue(sqe)
    }

    /// Queue a `statx(dirfd, path, flags, mask, statxbuf)`.
    ///
    /// # Safety
    ///
    /// `path` is a NUL-terminated string and `statxbuf` is written by the
    /// kernel: see the module's contract.
    pub unsafe fn prep_statx(
        &mut self,
        dirfd: RawFd,
        path: *const c_char,
        flags: i32,
        mask: u32,
        statxbuf: *mut libc::statx,
        user_data: u64,
    ) -> Prep<'_> {
        let mut sqe = Sqe::new(IORING_OP_STATX, dirfd, user_data);
        sqe.set_addr(path as u64)
            .set_len(mask)
            .set_addr2(statxbuf as u64)
            .set_op_flags(flags as u32);
        self.queue(sqe)
    }
}
