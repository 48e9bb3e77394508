//! The io_uring kernel ABI: `#[repr(C)]` structs and constants, transcribed
//! from the kernel's uapi header `linux/io_uring.h`.
//!
//! Nothing here touches the kernel; it only gives names and layouts to what
//! the kernel reads and writes. Unit tests at the bottom pin every size and
//! field offset, so a typo here fails `cargo test`, not production.

#![allow(missing_docs)] // every item is named after its uapi twin; see the header.

use core::fmt;

// ---------------------------------------------------------------------------
// io_uring_setup(2): params and the two offset structs
// ---------------------------------------------------------------------------

/// `struct io_sqring_offsets`: where the SQ ring's fields live in its mapping.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SqringOffsets {
    pub head: u32,
    pub tail: u32,
    pub ring_mask: u32,
    pub ring_entries: u32,
    pub flags: u32,
    pub dropped: u32,
    pub array: u32,
    pub resv1: u32,
    pub user_addr: u64,
}

/// `struct io_cqring_offsets`: where the CQ ring's fields live in its mapping.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CqringOffsets {
    pub head: u32,
    pub tail: u32,
    pub ring_mask: u32,
    pub ring_entries: u32,
    pub overflow: u32,
    pub cqes: u32,
    pub flags: u32,
    pub resv1: u32,
    pub user_addr: u64,
}

/// `struct io_uring_params`: in/out argument of `io_uring_setup(2)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Params {
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub flags: u32,
    pub sq_thread_cpu: u32,
    pub sq_thread_idle: u32,
    pub features: u32,
    pub wq_fd: u32,
    pub resv: [u32; 3],
    pub sq_off: SqringOffsets,
    pub cq_off: CqringOffsets,
}

// ---------------------------------------------------------------------------
// The submission queue entry
// ---------------------------------------------------------------------------

/// `struct io_uring_sqe`: one 64-byte submission queue entry.
///
/// The kernel's unions are plain fields here, each union given one storage
/// name; the setters name the member they mean (`set_off` and `set_addr2`
/// write the same word). Every `prep_*` method of
/// [`IoUring`](super::IoUring) starts from [`Sqe::new`], which zeroes all
/// 64 bytes, so no field is ever left over from a previous submission.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    /// `off` / `addr2` / `cmd_op`.
    off: u64,
    /// `addr` / `splice_off_in` / `level+optname`.
    addr: u64,
    len: u32,
    /// `rw_flags` / `msg_flags` / `timeout_flags` / `accept_flags` /
    /// `cancel_flags` / `open_flags` / `fsync_flags` / `statx_flags` /
    /// `poll32_events` / `msg_ring_flags` / ...
    op_flags: u32,
    user_data: u64,
    /// `buf_index` / `buf_group`.
    buf_index: u16,
    personality: u16,
    /// `splice_fd_in` / `file_index` / `optlen` / `addr_len` + pad.
    file_index: u32,
    addr3: u64,
    pad2: u64,
}

impl Sqe {
    /// A zeroed entry for `opcode` on `fd`, tagged with `user_data`.
    pub fn new(opcode: u8, fd: i32, user_data: u64) -> Sqe {
        Sqe { opcode, fd, user_data, ..Sqe::default() }
    }

    pub fn opcode(&self) -> u8 {
        self.opcode
    }
    pub fn flags(&self) -> u8 {
        self.flags
    }
    pub fn fd(&self) -> i32 {
        self.fd
    }
    pub fn user_data(&self) -> u64 {
        self.user_data
    }

    /// Set the `IOSQE_*` flags (link, async, buffer select, skip success...).
    pub fn set_flags(&mut self, flags: u8) -> &mut Sqe {
        self.flags = flags;
        self
    }
    /// Add `IOSQE_*` flags to those already set.
    pub fn add_flags(&mut self, flags: u8) -> &mut Sqe {
        self.flags |= flags;
        self
    }
    pub fn set_user_data(&mut self, user_data: u64) -> &mut Sqe {
        self.user_data = user_data;
        self
    }
    /// `ioprio`; recv, send and accept carry their own flags here.
    pub fn set_ioprio(&mut self, ioprio: u16) -> &mut Sqe {
        self.ioprio = ioprio;
        self
    }
    pub fn set_off(&mut self, off: u64) -> &mut Sqe {
        self.off = off;
        self
    }
    pub fn set_addr2(&mut self, addr2: u64) -> &mut Sqe {
        self.off = addr2;
        self
    }
    pub fn set_addr(&mut self, addr: u64) -> &mut Sqe {
        self.addr = addr;
        self
    }
    pub fn set_len(&mut self, len: u32) -> &mut Sqe {
        self.len = len;
        self
    }
    /// The per-opcode flags word (`rw_flags`, `msg_flags`, `timeout_flags`...).
    pub fn set_op_flags(&mut self, op_flags: u32) -> &mut Sqe {
        self.op_flags = op_flags;
        self
    }
    pub fn set_buf_group(&mut self, bgid: u16) -> &mut Sqe {
        self.buf_index = bgid;
        self
    }
    pub fn set_personality(&mut self, personality: u16) -> &mut Sqe {
        self.personality = personality;
        self
    }
    pub fn set_file_index(&mut self, file_index: u32) -> &mut Sqe {
        self.file_index = file_index;
        self
    }
    pub fn set_addr3(&mut self, addr3: u64) -> &mut Sqe {
        self.addr3 = addr3;
        self
    }
}

impl fmt::Debug for Sqe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sqe")
            .field("opcode", &self.opcode)
            .field("flags", &self.flags)
            .field("ioprio", &self.ioprio)
            .field("fd", &self.fd)
            .field("off", &self.off)
            .field("addr", &format_args!("{:#x}", self.addr))
            .field("len", &self.len)
            .field("op_flags", &self.op_flags)
            .field("user_data", &self.user_data)
            .field("buf_index", &self.buf_index)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// Provided buffer rings, timespecs, probe, enter argument, rsrc update
// ---------------------------------------------------------------------------

/// `struct io_uring_buf`: one entry of a provided-buffer ring. The ring's
/// tail lives in the `resv` field of entry 0 (offset 14 of the ring).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Buf {
    pub addr: u64,
    pub len: u32,
    pub bid: u16,
    pub resv: u16,
}

/// `struct io_uring_buf_reg`: argument of `IORING_REGISTER_PBUF_RING`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BufReg {
    pub ring_addr: u64,
    pub ring_entries: u32,
    pub bgid: u16,
    pub flags: u16,
    pub resv: [u64; 3],
}

/// `struct __kernel_timespec`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

impl From<core::time::Duration> for Timespec {
    fn from(d: core::time::Duration) -> Timespec {
        let tv_sec = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Timespec { tv_sec, tv_nsec: d.subsec_nanos() as i64 }
    }
}

/// `struct io_uring_probe` header; `ProbeOp`s follow it in memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ProbeHeader {
    pub last_op: u8,
    pub ops_len: u8,
    pub resv: u16,
    pub resv2: [u32; 3],
}

/// `struct io_uring_probe_op`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ProbeOp {
    pub op: u8,
    pub resv: u8,
    pub flags: u16,
    pub resv2: u32,
}

/// `struct io_uring_getevents_arg`: the `IORING_ENTER_EXT_ARG` argument.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GeteventsArg {
    pub sigmask: u64,
    pub sigmask_sz: u32,
    pub min_wait_usec: u32,
    pub ts: u64,
}

/// `struct io_uring_rsrc_update`: argument of `IORING_REGISTER_RING_FDS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RsrcUpdate {
    pub offset: u32,
    pub resv: u32,
    pub data: u64,
}

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

// mmap offsets
pub const IORING_OFF_SQ_RING: i64 = 0;
pub const IORING_OFF_CQ_RING: i64 = 0x800_0000;
pub const IORING_OFF_SQES: i64 = 0x1000_0000;

// io_uring_setup flags
pub const IORING_SETUP_IOPOLL: u32 = 1 << 0;
pub const IORING_SETUP_SQPOLL: u32 = 1 << 1;
pub const IORING_SETUP_SQ_AFF: u32 = 1 << 2;
pub const IORING_SETUP_CQSIZE: u32 = 1 << 3;
pub const IORING_SETUP_CLAMP: u32 = 1 << 4;
pub const IORING_SETUP_ATTACH_WQ: u32 = 1 << 5;
pub const IORING_SETUP_R_DISABLED: u32 = 1 << 6;
pub const IORING_SETUP_SUBMIT_ALL: u32 = 1 << 7;
pub const IORING_SETUP_COOP_TASKRUN: u32 = 1 << 8;
pub const IORING_SETUP_TASKRUN_FLAG: u32 = 1 << 9;
pub const IORING_SETUP_SQE128: u32 = 1 << 10;
pub const IORING_SETUP_CQE32: u32 = 1 << 11;
pub const IORING_SETUP_SINGLE_ISSUER: u32 = 1 << 12;
pub const IORING_SETUP_DEFER_TASKRUN: u32 = 1 << 13;
pub const IORING_SETUP_NO_MMAP: u32 = 1 << 14;
pub const IORING_SETUP_REGISTERED_FD_ONLY: u32 = 1 << 15;
pub const IORING_SETUP_NO_SQARRAY: u32 = 1 << 16;

// features returned in Params::features
pub const IORING_FEAT_SINGLE_MMAP: u32 = 1 << 0;
pub const IORING_FEAT_NODROP: u32 = 1 << 1;
pub const IORING_FEAT_SUBMIT_STABLE: u32 = 1 << 2;
pub const IORING_FEAT_RW_CUR_POS: u32 = 1 << 3;
pub const IORING_FEAT_CUR_PERSONALITY: u32 = 1 << 4;
pub const IORING_FEAT_FAST_POLL: u32 = 1 << 5;
pub const IORING_FEAT_POLL_32BITS: u32 = 1 << 6;
pub const IORING_FEAT_SQPOLL_NONFIXED: u32 = 1 << 7;
pub const IORING_FEAT_EXT_ARG: u32 = 1 << 8;
pub const IORING_FEAT_NATIVE_WORKERS: u32 = 1 << 9;
pub const IORING_FEAT_RSRC_TAGS: u32 = 1 << 10;
pub const IORING_FEAT_CQE_SKIP: u32 = 1 << 11;
pub const IORING_FEAT_LINKED_FILE: u32 = 1 << 12;
pub const IORING_FEAT_REG_REG_RING: u32 = 1 << 13;
pub const IORING_FEAT_RECVSEND_BUNDLE: u32 = 1 << 14;
pub const IORING_FEAT_MIN_TIMEOUT: u32 = 1 << 15;

// SQ ring flags (at sq_off.flags)
pub const IORING_SQ_NEED_WAKEUP: u32 = 1 << 0;
pub const IORING_SQ_CQ_OVERFLOW: u32 = 1 << 1;
pub const IORING_SQ_TASKRUN: u32 = 1 << 2;

// io_uring_enter flags
pub const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
pub const IORING_ENTER_SQ_WAKEUP: u32 = 1 << 1;
pub const IORING_ENTER_SQ_WAIT: u32 = 1 << 2;
pub const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
pub const IORING_ENTER_REGISTERED_RING: u32 = 1 << 4;

// SQE flags
pub const IOSQE_FIXED_FILE: u8 = 1 << 0;
pub const IOSQE_IO_DRAIN: u8 = 1 << 1;
pub const IOSQE_IO_LINK: u8 = 1 << 2;
pub const IOSQE_IO_HARDLINK: u8 = 1 << 3;
pub const IOSQE_ASYNC: u8 = 1 << 4;
pub const IOSQE_BUFFER_SELECT: u8 = 1 << 5;
pub const IOSQE_CQE_SKIP_SUCCESS: u8 = 1 << 6;

// CQE flags
pub const IORING_CQE_F_BUFFER: u32 = 1 << 0;
pub const IORING_CQE_F_MORE: u32 = 1 << 1;
pub const IORING_CQE_F_SOCK_NONEMPTY: u32 = 1 << 2;
pub const IORING_CQE_F_NOTIF: u32 = 1 << 3;
pub const IORING_CQE_F_BUF_MORE: u32 = 1 << 4;
pub const IORING_CQE_BUFFER_SHIFT: u32 = 16;

// opcodes
pub const IORING_OP_NOP: u8 = 0;
pub const IORING_OP_READV: u8 = 1;
pub const IORING_OP_WRITEV: u8 = 2;
pub const IORING_OP_FSYNC: u8 = 3;
pub const IORING_OP_READ_FIXED: u8 = 4;
pub const IORING_OP_WRITE_FIXED: u8 = 5;
pub const IORING_OP_POLL_ADD: u8 = 6;
pub const IORING_OP_POLL_REMOVE: u8 = 7;
pub const IORING_OP_SYNC_FILE_RANGE: u8 = 8;
pub const IORING_OP_SENDMSG: u8 = 9;
pub const IORING_OP_RECVMSG: u8 = 10;
pub const IORING_OP_TIMEOUT: u8 = 11;
pub const IORING_OP_TIMEOUT_REMOVE: u8 = 12;
pub const IORING_OP_ACCEPT: u8 = 13;
pub const IORING_OP_ASYNC_CANCEL: u8 = 14;
pub const IORING_OP_LINK_TIMEOUT: u8 = 15;
pub const IORING_OP_CONNECT: u8 = 16;
pub const IORING_OP_FALLOCATE: u8 = 17;
pub const IORING_OP_OPENAT: u8 = 18;
pub const IORING_OP_CLOSE: u8 = 19;
pub const IORING_OP_FILES_UPDATE: u8 = 20;
pub const IORING_OP_STATX: u8 = 21;
pub const IORING_OP_READ: u8 = 22;
pub const IORING_OP_WRITE: u8 = 23;
pub const IORING_OP_FADVISE: u8 = 24;
pub const IORING_OP_MADVISE: u8 = 25;
pub const IORING_OP_SEND: u8 = 26;
pub const IORING_OP_RECV: u8 = 27;
pub const IORING_OP_OPENAT2: u8 = 28;
pub const IORING_OP_EPOLL_CTL: u8 = 29;
pub const IORING_OP_SPLICE: u8 = 30;
pub const IORING_OP_PROVIDE_BUFFERS: u8 = 31;
pub const IORING_OP_REMOVE_BUFFERS: u8 = 32;
pub const IORING_OP_TEE: u8 = 33;
pub const IORING_OP_SHUTDOWN: u8 = 34;
pub const IORING_OP_RENAMEAT: u8 = 35;
pub const IORING_OP_UNLINKAT: u8 = 36;
pub const IORING_OP_MKDIRAT: u8 = 37;
pub const IORING_OP_SYMLINKAT: u8 = 38;
pub const IORING_OP_LINKAT: u8 = 39;
pub const IORING_OP_MSG_RING: u8 = 40;
pub const IORING_OP_FSETXATTR: u8 = 41;
pub const IORING_OP_SETXATTR: u8 = 42;
pub const IORING_OP_FGETXATTR: u8 = 43;
pub const IORING_OP_GETXATTR: u8 = 44;
pub const IORING_OP_SOCKET: u8 = 45;
pub const IORING_OP_URING_CMD: u8 = 46;
pub const IORING_OP_SEND_ZC: u8 = 47;
pub const IORING_OP_SENDMSG_ZC: u8 = 48;

// timeout_flags
pub const IORING_TIMEOUT_ABS: u32 = 1 << 0;
pub const IORING_TIMEOUT_UPDATE: u32 = 1 << 1;
pub const IORING_TIMEOUT_BOOTTIME: u32 = 1 << 2;
pub const IORING_TIMEOUT_REALTIME: u32 = 1 << 3;
pub const IORING_LINK_TIMEOUT_UPDATE: u32 = 1 << 4;
pub const IORING_TIMEOUT_ETIME_SUCCESS: u32 = 1 << 5;
pub const IORING_TIMEOUT_MULTISHOT: u32 = 1 << 6;

// poll add flags (in len)
pub const IORING_POLL_ADD_MULTI: u32 = 1 << 0;
pub const IORING_POLL_UPDATE_EVENTS: u32 = 1 << 1;
pub const IORING_POLL_UPDATE_USER_DATA: u32 = 1 << 2;
pub const IORING_POLL_ADD_LEVEL: u32 = 1 << 3;

// async cancel flags
pub const IORING_ASYNC_CANCEL_ALL: u32 = 1 << 0;
pub const IORING_ASYNC_CANCEL_FD: u32 = 1 << 1;
pub const IORING_ASYNC_CANCEL_ANY: u32 = 1 << 2;
pub const IORING_ASYNC_CANCEL_FD_FIXED: u32 = 1 << 3;
pub const IORING_ASYNC_CANCEL_USERDATA: u32 = 1 << 4;
pub const IORING_ASYNC_CANCEL_OP: u32 = 1 << 5;

// send/recv flags (in ioprio)
pub const IORING_RECVSEND_POLL_FIRST: u16 = 1 << 0;
pub const IORING_RECV_MULTISHOT: u16 = 1 << 1;
pub const IORING_RECVSEND_FIXED_BUF: u16 = 1 << 2;
pub const IORING_SEND_ZC_REPORT_USAGE: u16 = 1 << 3;
pub const IORING_RECVSEND_BUNDLE: u16 = 1 << 4;

// accept flags (in ioprio)
pub const IORING_ACCEPT_MULTISHOT: u16 = 1 << 0;
pub const IORING_ACCEPT_DONTWAIT: u16 = 1 << 1;
pub const IORING_ACCEPT_POLL_FIRST: u16 = 1 << 2;

// MSG_RING commands (in addr) and flags
pub const IORING_MSG_DATA: u64 = 0;
pub const IORING_MSG_SEND_FD: u64 = 1;
pub const IORING_MSG_RING_CQE_SKIP: u32 = 1 << 0;
pub const IORING_MSG_RING_FLAGS_PASS: u32 = 1 << 1;

// fsync flags
pub const IORING_FSYNC_DATASYNC: u32 = 1 << 0;

// io_uring_register opcodes
pub const IORING_REGISTER_PROBE: u32 = 8;
pub const IORING_REGISTER_RING_FDS: u32 = 20;
pub const IORING_UNREGISTER_RING_FDS: u32 = 21;
pub const IORING_REGISTER_PBUF_RING: u32 = 22;
pub const IORING_UNREGISTER_PBUF_RING: u32 = 23;
/// `io_uring_buf_reg.flags`: buffers are consumed incrementally (6.12).
pub const IOU_PBUF_RING_INC: u16 = 2;

/// Probe op flag: the opcode is supported.
pub const IO_URING_OP_SUPPORTED: u16 = 1 << 0;

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn params_match_the_kernel() {
        assert_eq!(size_of::<SqringOffsets>(), 40);
        assert_eq!(offset_of!(SqringOffsets, array), 24);
        assert_eq!(offset_of!(SqringOffsets, user_addr), 32);
        assert_eq!(size_of::<CqringOffsets>(), 40);
        assert_eq!(offset_of!(CqringOffsets, cqes), 20);
        assert_eq!(offset_of!(CqringOffsets, flags), 24);
        assert_eq!(offset_of!(CqringOffsets, user_addr), 32);
        assert_eq!(size_of::<Params>(), 120);
        assert_eq!(offset_of!(Params, features), 20);
        assert_eq!(offset_of!(Params, wq_fd), 24);
        assert_eq!(offset_of!(Params, sq_off), 40);
        assert_eq!(offset_of!(Params, cq_off), 80);
    }

    #[test]
    fn sqe_matches_the_kernel() {
        assert_eq!(size_of::<Sqe>(), 64);
        assert_eq!(offset_of!(Sqe, opcode), 0);
        assert_eq!(offset_of!(Sqe, flags), 1);
        assert_eq!(offset_of!(Sqe, ioprio), 2);
        assert_eq!(offset_of!(Sqe, fd), 4);
        assert_eq!(offset_of!(Sqe, off), 8);
        assert_eq!(offset_of!(Sqe, addr), 16);
        assert_eq!(offset_of!(Sqe, len), 24);
        assert_eq!(offset_of!(Sqe, op_flags), 28);
        assert_eq!(offset_of!(Sqe, user_data), 32);
        assert_eq!(offset_of!(Sqe, buf_index), 40);
        assert_eq!(offset_of!(Sqe, personality), 42);
        assert_eq!(offset_of!(Sqe, file_index), 44);
        assert_eq!(offset_of!(Sqe, addr3), 48);
        assert_eq!(offset_of!(Sqe, pad2), 56);
    }

    #[test]
    fn small_structs_match_the_kernel() {
        assert_eq!(size_of::<Buf>(), 16);
        assert_eq!(offset_of!(Buf, bid), 12);
        assert_eq!(offset_of!(Buf, resv), 14); // the buffer ring's tail
        assert_eq!(size_of::<BufReg>(), 40);
        assert_eq!(offset_of!(BufReg, bgid), 12);
        assert_eq!(size_of::<Timespec>(), 16);
        assert_eq!(size_of::<ProbeHeader>(), 16);
        assert_eq!(size_of::<ProbeOp>(), 8);
        assert_eq!(offset_of!(ProbeOp, flags), 2);
        assert_eq!(size_of::<GeteventsArg>(), 24);
        assert_eq!(offset_of!(GeteventsArg, ts), 16);
        assert_eq!(size_of::<RsrcUpdate>(), 16);
        assert_eq!(offset_of!(RsrcUpdate, data), 8);
    }

    #[test]
    fn setters_write_the_union_member_they_name() {
        let mut sqe = Sqe::new(IORING_OP_TIMEOUT, -1, 7);
        sqe.set_off(3).set_addr2(9).set_buf_group(5).set_op_flags(IORING_TIMEOUT_ABS);
        assert_eq!(sqe.off, 9, "off and addr2 share a word");
        assert_eq!(sqe.buf_index, 5);
        assert_eq!(sqe.op_flags, IORING_TIMEOUT_ABS);
        assert_eq!(sqe.user_data(), 7);
        assert_eq!(sqe.fd(), -1);
    }

    #[test]
    fn timespec_from_duration() {
        let ts = Timespec::from(core::time::Duration::from_millis(1500));
        assert_eq!(ts, Timespec { tv_sec: 1, tv_nsec: 500_000_000 });
    }
}
