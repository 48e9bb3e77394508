//! The socket operations, as `OpData` for the runtime's `Op`: each owns
//! its fd (a `SharedFd` clone) and whatever its SQE points at, on the heap.

use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use socket2::{SockAddr, SockAddrStorage};

use crate::buf::{IoBuf, IoBufMut, Slice};
use crate::runtime::buf_pool::BGID;
use crate::runtime::driver::Orphan;
use crate::runtime::fd::SharedFd;
use crate::runtime::op::{Op, OpData};
use crate::uring::{Completion, IoUring, SqFull};

/// The most bytes one read or write moves on Linux (`MAX_RW_COUNT`); a
/// longer one would be refused (`EINVAL`), not shortened, by io_uring's
/// send and recv, so ask for this much and let the caller loop, as `read`
/// and `write` do.
const MAX_RW: usize = 0x7fff_f000;

/// A buffer length as an SQE takes it, capped at [`MAX_RW`].
fn len32(n: usize) -> u32 {
    n.min(MAX_RW) as u32
}

/// The most iovecs one `readv`/`writev` takes (`UIO_MAXIOV`): the rest of
/// the buffers are left for the caller's next call, as a partial transfer.
const MAX_IOVECS: usize = libc::UIO_MAXIOV as usize;

fn ok(res: Result<crate::uring::Prepped<'_>, SqFull>) -> Result<(), SqFull> {
    res.map(|_| ())
}

/// `recv` into an owned buffer.
pub(crate) struct Recv<B> {
    fd: SharedFd,
    buf: B,
}

impl<B: IoBufMut> Orphan for Recv<B> {
    /// The read's future is gone: keep what it received for the next
    /// reader.
    fn completed(&mut self, cqe: &Completion) {
        if let Ok(n) = cqe.result() {
            // SAFETY: the kernel wrote `n` bytes at the buffer's start and
            // is done with it (this is the final completion).
            let data = unsafe { std::slice::from_raw_parts(self.buf.stable_ptr(), n as usize) };
            self.fd.stash(data);
        }
    }
}

// SAFETY: the SQE points into `buf`, stable across moves (`IoBufMut`); the
// fd is kept open by the `SharedFd` clone.
unsafe impl<B: IoBufMut> OpData for Recv<B> {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        let (ptr, len) = (self.buf.stable_mut_ptr(), len32(self.buf.bytes_total()));
        // SAFETY: `buf` is owned by `self` until the final completion.
        ok(unsafe { ring.prep_recv(self.fd.raw(), ptr, len, 0, user_data) })
    }
}

impl<B> Recv<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> Recv<B> {
        Recv { fd, buf }
    }

    pub(crate) fn into_buf(self) -> B {
        self.buf
    }
}

pub(crate) async fn recv<B: IoBufMut>(fd: &SharedFd, mut buf: B) -> (io::Result<usize>, B) {
    if buf.bytes_total() == 0 {
        // As std's `read(&mut [])`: nothing asked, nothing read, at once
        // (waiting for data and then taking none would strand it).
        return (Ok(0), buf);
    }
    if fd.has_stash() {
        let n = unstash(fd, &mut buf);
        return (Ok(n), buf);
    }
    let (cqe, mut op) = Op::new(Recv::new(fd.clone(), buf)).await;
    let res = cqe.result().map(|n| n as usize);
    if let Ok(n) = res {
        // SAFETY: the kernel wrote `n` bytes at the start of the buffer.
        unsafe { op.buf.set_init(n) };
        if fd.has_stash() {
            // Bytes kept while this read was in flight (a receive dropped
            // meanwhile) came before these, or before the end of stream
            // this read saw (which the next read sees again): they go first.
            // SAFETY: as above, `n` bytes were written there.
            fd.stash(unsafe { std::slice::from_raw_parts(op.buf.stable_ptr(), n) });
            return (Ok(unstash(fd, &mut op.buf)), op.buf);
        }
    }
    (res, op.buf)
}

/// Fill `buf` from the fd's kept bytes; returns how many.
fn unstash<B: IoBufMut>(fd: &SharedFd, buf: &mut B) -> usize {
    let Some(data) = fd.take_stash(buf.bytes_total()) else { return 0 };
    // SAFETY: `data` fits in the buffer's `bytes_total` writable bytes
    // (taken at most that many), and they do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), buf.stable_mut_ptr(), data.len());
        buf.set_init(data.len());
    }
    data.len()
}

/// `send` from an owned buffer (`MSG_NOSIGNAL`: a closed peer is `EPIPE`,
/// never `SIGPIPE`).
pub(crate) struct Send<B> {
    fd: SharedFd,
    buf: B,
    flags: i32,
}

impl<B: 'static> Orphan for Send<B> {}

// SAFETY: the SQE points into `buf`, stable across moves (`IoBuf`); the fd
// is kept open by the `SharedFd` clone.
unsafe impl<B: IoBuf> OpData for Send<B> {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        let (ptr, len) = (self.buf.stable_ptr(), len32(self.buf.bytes_init()));
        // SAFETY: `buf` is owned by `self` until the final completion.
        ok(unsafe { ring.prep_send(self.fd.raw(), ptr, len, self.flags, user_data) })
    }
}

impl<B> Send<B> {
    /// A plain send of `buf` (`MSG_NOSIGNAL`).
    pub(crate) fn new(fd: SharedFd, buf: B) -> Send<B> {
        Send { fd, buf, flags: libc::MSG_NOSIGNAL }
    }

    /// A send of all of `buf` (`MSG_WAITALL | MSG_NOSIGNAL`): on a stream
    /// socket the kernel itself retries a short send until every byte went
    /// or the connection failed (Linux 5.18+), so it completes short only
    /// after a failure (or a cancel), with the count sent before it.
    pub(crate) fn all(fd: SharedFd, buf: B) -> Send<B> {
        Send { fd, buf, flags: libc::MSG_NOSIGNAL | libc::MSG_WAITALL }
    }

    pub(crate) fn into_buf(self) -> B {
        self.buf
    }
}

impl<B: IoBuf> SendOp for Send<B> {
    fn in_ring(&self) -> bool {
        self.buf.in_ring()
    }
    fn leave_ring(&mut self) {
        self.buf.leave_ring();
    }
    fn flags(&mut self) -> &mut i32 {
        &mut self.flags
    }
}

pub(crate) async fn send<B: IoBuf>(fd: &SharedFd, buf: B) -> (io::Result<usize>, B) {
    let (cqe, op) = send_from_ring(Send::new(fd.clone(), buf)).await;
    (cqe.result().map(|n| n as usize), op.buf)
}

/// A send whose buffers may sit in the worker's provided-buffer ring.
trait SendOp: OpData {
    /// Whether any of its bytes sit in the ring.
    fn in_ring(&self) -> bool;
    /// Copy them out and give the ring's buffers back.
    fn leave_ring(&mut self);
    /// The `MSG_*` flags of its SQE.
    fn flags(&mut self) -> &mut i32;
}

/// Run `op`; if its bytes sit in the provided-buffer ring, never wait for
/// socket space while holding ring buffers: send with `MSG_DONTWAIT`, and
/// if the socket is full (`EAGAIN`), copy the bytes out of the ring and
/// send again, waiting. So a peer that stops reading holds a copy of what
/// it was sent, never a buffer every receive on the worker shares.
async fn send_from_ring<D: SendOp>(mut op: D) -> (Completion, D) {
    if !op.in_ring() {
        return Op::new(op).await;
    }
    *op.flags() |= libc::MSG_DONTWAIT;
    let (cqe, mut op) = Op::new(op).await;
    if cqe.raw_result() != -libc::EAGAIN {
        return (cqe, op);
    }
    op.leave_ring();
    *op.flags() &= !libc::MSG_DONTWAIT;
    Op::new(op).await
}

/// `write_all` as a future of its own (not an `async fn` around
/// [`send`]): it holds one send of what is left (a slice of the buffer),
/// hundreds of bytes less than the nested async state machines, and every
/// idle connection whose task is parked in a write carries it. One send in
/// flight; after a short send the rest goes out as a new one; bytes in the
/// ring go out as [`send_from_ring`] sends them.
pub(crate) struct WriteAll<B: IoBuf> {
    op: Op<Send<Slice<B>>>,
}

/// Write all of `buf`'s initialised bytes; see `TcpStream::write_all`.
pub(crate) fn write_all<B: IoBuf>(fd: &SharedFd, buf: B) -> WriteAll<B> {
    let total = buf.bytes_init();
    WriteAll { op: Op::new(Send::from_ring_aware(fd.clone(), buf.slice(..total))) }
}

impl<B: IoBuf> Send<B> {
    /// A send of `buf`; with `MSG_DONTWAIT` if its bytes sit in the ring.
    fn from_ring_aware(fd: SharedFd, buf: B) -> Send<B> {
        let dontwait = if buf.in_ring() { libc::MSG_DONTWAIT } else { 0 };
        Send { fd, buf, flags: libc::MSG_NOSIGNAL | dontwait }
    }
}

impl<B: IoBuf> std::future::Future for WriteAll<B> {
    type Output = (io::Result<()>, B);

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let this = self.get_mut();
        if this.op.unsubmitted().is_some_and(|send| send.buf.bytes_init() == 0) {
            let send = this.op.take_unsubmitted().expect("checked above");
            return Poll::Ready((Ok(()), send.buf.into_inner()));
        }
        loop {
            let Poll::Ready((cqe, mut send)) = std::pin::Pin::new(&mut this.op).poll(cx) else {
                return Poll::Pending;
            };
            if cqe.raw_result() == -libc::EAGAIN && send.flags & libc::MSG_DONTWAIT != 0 {
                // The socket is full: copy the bytes out of the ring and
                // wait for room with the copy (see `send_from_ring`).
                send.buf.leave_ring();
                send.flags &= !libc::MSG_DONTWAIT;
                this.op = Op::new(send);
                continue;
            }
            let Send { fd, buf, .. } = send;
            let (mut written, total) = (buf.begin(), buf.end());
            let buf = buf.into_inner();
            match cqe.result() {
                Ok(0) => return Poll::Ready((Err(io::ErrorKind::WriteZero.into()), buf)),
                Ok(n) => written += n as usize,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready((Err(e), buf)),
            }
            if written >= total {
                return Poll::Ready((Ok(()), buf));
            }
            this.op = Op::new(Send::from_ring_aware(fd, buf.slice(written..total)));
        }
    }
}

/// `readv`, or `writev` as a `sendmsg` (sockets only, so `MSG_NOSIGNAL`
/// and `MSG_DONTWAIT` apply); the iovec array and the message header live
/// on the heap.
pub(crate) struct Vectored<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    iovecs: Vec<libc::iovec>,
    /// `Some` for a write: its header (pointing at `iovecs`) and `MSG_*`
    /// flags.
    write: Option<(Box<libc::msghdr>, i32)>,
}

impl<B: 'static> Orphan for Vectored<B> {}

// SAFETY: the SQE points at `iovecs`' heap buffer (directly, or through the
// boxed header), whose entries point into the `bufs` (stable across moves
// by `IoBuf`; writable for a read, whose iovecs `readv` built from
// `IoBufMut` pointers); all owned by `self`. The fd is kept open by the
// `SharedFd` clone.
unsafe impl<B: IoBuf> OpData for Vectored<B> {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        let (fd, iov, n) = (self.fd.raw(), self.iovecs.as_ptr(), len32(self.iovecs.len()));
        // SAFETY: `iovecs`, the header and `bufs` are owned by `self` until
        // the final completion.
        ok(unsafe {
            match &mut self.write {
                Some((hdr, flags)) => {
                    hdr.msg_iov = iov.cast_mut();
                    hdr.msg_iovlen = n as usize;
                    ring.prep_sendmsg(fd, &raw const **hdr, *flags, user_data)
                }
                None => ring.prep_readv(fd, iov, n, u64::MAX, user_data),
            }
        })
    }
}

impl<B: IoBuf> SendOp for Vectored<B> {
    fn in_ring(&self) -> bool {
        self.bufs.iter().any(IoBuf::in_ring)
    }
    fn leave_ring(&mut self) {
        self.bufs.iter_mut().for_each(IoBuf::leave_ring);
        let sent = self.bufs.iter().filter(|b| b.bytes_init() > 0);
        for (iov, buf) in self.iovecs.iter_mut().zip(sent) {
            iov.iov_base = buf.stable_ptr().cast_mut().cast(); // the copy's address
        }
    }
    fn flags(&mut self) -> &mut i32 {
        &mut self.write.as_mut().expect("a vectored write").1
    }
}

pub(crate) async fn readv<B: IoBufMut>(
    fd: &SharedFd,
    mut bufs: Vec<B>,
) -> (io::Result<usize>, Vec<B>) {
    if bufs.iter().all(|b| b.bytes_total() == 0) {
        return (Ok(0), bufs); // as `recv`: no room asked for, none used
    }
    let iovecs = bufs
        .iter_mut()
        .filter(|b| b.bytes_total() > 0) // empty parts take no iovec slot
        .take(MAX_IOVECS)
        .map(|b| libc::iovec { iov_base: b.stable_mut_ptr().cast(), iov_len: b.bytes_total() })
        .collect();
    let (cqe, mut op) = Op::new(Vectored { fd: fd.clone(), bufs, iovecs, write: None }).await;
    let res = cqe.result().map(|n| n as usize);
    if let Ok(mut n) = res {
        for b in &mut op.bufs {
            let filled = n.min(b.bytes_total());
            if filled == 0 {
                continue; // an empty part, or none of the bytes: left as it was
            }
            // SAFETY: the kernel filled the buffers in order, `n` bytes in all.
            unsafe { b.set_init(filled) };
            n -= filled;
        }
    }
    (res, op.bufs)
}

pub(crate) async fn writev<B: IoBuf>(fd: &SharedFd, bufs: Vec<B>) -> (io::Result<usize>, Vec<B>) {
    let iovecs = bufs
        .iter()
        .filter(|b| b.bytes_init() > 0) // empty parts take no iovec slot
        .take(MAX_IOVECS)
        .map(|b| libc::iovec {
            iov_base: b.stable_ptr().cast_mut().cast(),
            iov_len: b.bytes_init(),
        })
        .collect();
    // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
    let hdr = Box::new(unsafe { std::mem::zeroed::<libc::msghdr>() });
    let write = Some((hdr, libc::MSG_NOSIGNAL));
    let (cqe, op) = send_from_ring(Vectored { fd: fd.clone(), bufs, iovecs, write }).await;
    (cqe.result().map(|n| n as usize), op.bufs)
}

/// `connect` to an address kept on the heap.
pub(crate) struct Connect {
    fd: SharedFd,
    addr: Box<SockAddr>,
}

impl Orphan for Connect {}

// SAFETY: the SQE points at the boxed sockaddr owned by `self`; the fd is
// kept open by the `SharedFd` clone.
unsafe impl OpData for Connect {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        let (addr, len) = (self.addr.as_ptr().cast(), self.addr.len());
        // SAFETY: `addr` is owned by `self` until the final completion.
        ok(unsafe { ring.prep_connect(self.fd.raw(), addr, len, user_data) })
    }
}

pub(crate) async fn connect(fd: &SharedFd, addr: SockAddr) -> io::Result<()> {
    let (cqe, _) = Op::new(Connect { fd: fd.clone(), addr: Box::new(addr) }).await;
    cqe.result().map(drop)
}

/// `shutdown(how)`.
pub(crate) struct Shutdown {
    fd: SharedFd,
    how: i32,
}

impl Orphan for Shutdown {}

// SAFETY: the SQE points at no memory; the fd is kept open by the clone.
unsafe impl OpData for Shutdown {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        ok(ring.prep_shutdown(self.fd.as_fd(), self.how, user_data))
    }
}

pub(crate) async fn shutdown(fd: &SharedFd, how: std::net::Shutdown) -> io::Result<()> {
    let how = match how {
        std::net::Shutdown::Read => libc::SHUT_RD,
        std::net::Shutdown::Write => libc::SHUT_WR,
        std::net::Shutdown::Both => libc::SHUT_RDWR,
    };
    let (cqe, _) = Op::new(Shutdown { fd: fd.clone(), how }).await;
    cqe.result().map(drop)
}

/// A multishot `accept`: one completion per connection, each a new fd.
pub(crate) struct AcceptMulti {
    pub(crate) fd: SharedFd,
}

impl Orphan for AcceptMulti {
    /// A connection accepted for a listener that is gone: close it.
    fn completed(&mut self, cqe: &Completion) {
        if let Ok(fd) = cqe.result() {
            // SAFETY: the kernel created this fd for us and nobody has it.
            drop(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
    }
}

// SAFETY: the SQE points at no memory; the fd is kept open by the clone.
unsafe impl OpData for AcceptMulti {
    const MULTISHOT: bool = true;

    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        ok(ring.prep_accept_multishot(self.fd.as_fd(), libc::SOCK_CLOEXEC, user_data))
    }
}

/// A multishot `recv` into the worker's provided-buffer ring. (Buffers
/// that arrive after its stream is gone are recycled by the driver.)
pub(crate) struct RecvMulti {
    pub(crate) fd: SharedFd,
}

impl Orphan for RecvMulti {
    /// The stream is gone: keep what it received for the next reader.
    fn received(&mut self, data: &[u8]) {
        self.fd.stash(data);
    }
}

// SAFETY: the SQE points at no memory of ours but the worker's buffer ring,
// which outlives every operation on the worker (the driver drains before
// the pool drops); the fd is kept open by the clone.
unsafe impl OpData for RecvMulti {
    const MULTISHOT: bool = true;

    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        // SAFETY: see the impl's SAFETY: the pool outlives this SQE.
        ok(unsafe { ring.prep_recv_multishot(self.fd.raw(), BGID, 0, user_data) })
    }
}

/// Close `fd` through the ring if this is its last handle; otherwise let
/// the operations that still hold it close it when they end.
pub(crate) async fn close(fd: SharedFd) -> io::Result<()> {
    match fd.try_into_owned() {
        Ok(owned) => crate::runtime::fd::close(owned).await,
        Err(shared) => {
            // Others hold the fd (a `RecvStream`, an operation in flight):
            // end the connection now, for the peer and for them; the fd is
            // closed when the last of them goes. Not every socket can be
            // shut down (one never connected): that changes nothing here.
            let _ = shutdown(&shared, std::net::Shutdown::Both).await;
            Ok(())
        }
    }
}

/// `sendmsg`/`recvmsg` of one owned buffer with a peer address; the
/// msghdr, its iovec and the address all live on the heap.
pub(crate) struct Msg<B> {
    fd: SharedFd,
    buf: B,
    /// The destination (send) or the source the kernel fills in (recv).
    addr: Box<SockAddrStorage>,
    hdr: Box<(libc::msghdr, libc::iovec)>,
    /// `Some` for a send: its `MSG_*` flags.
    send: Option<i32>,
}

impl<B: 'static> Orphan for Msg<B> {}

impl<B> Msg<B> {
    fn new(fd: &SharedFd, buf: B, ptr: *mut u8, len: usize, addr: Option<&SockAddr>) -> Self {
        let send = addr.is_some().then_some(libc::MSG_NOSIGNAL);
        let (addr, addr_len) = match addr {
            // SAFETY: copies the address's bytes into a storage of the
            // maximal size, which `len` bounds.
            Some(a) => unsafe {
                let mut s = SockAddrStorage::zeroed();
                std::ptr::copy_nonoverlapping(
                    a.as_ptr().cast::<u8>(),
                    (&raw mut s).cast::<u8>(),
                    a.len() as usize,
                );
                (Box::new(s), a.len())
            },
            None => {
                let s = SockAddrStorage::zeroed();
                let len = s.size_of();
                (Box::new(s), len)
            }
        };
        // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
        let mut hdr: Box<(libc::msghdr, libc::iovec)> = Box::new(unsafe { std::mem::zeroed() });
        hdr.1 = libc::iovec { iov_base: ptr.cast(), iov_len: len };
        let mut msg = Msg { fd: fd.clone(), buf, addr, hdr, send };
        msg.hdr.0.msg_name = (&raw mut *msg.addr).cast();
        msg.hdr.0.msg_namelen = addr_len;
        msg.hdr.0.msg_iov = &raw mut msg.hdr.1;
        msg.hdr.0.msg_iovlen = 1;
        msg
    }
}

// SAFETY: the SQE points at the boxed msghdr, whose name and iovec point
// into the same heap allocations (or `buf`'s, stable by `IoBuf`), all owned
// by `self`; the fd is kept open by the clone.
unsafe impl<B: IoBuf> OpData for Msg<B> {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        let hdr = &raw mut self.hdr.0;
        // SAFETY: all of `hdr` is owned by `self` until the final completion.
        ok(unsafe {
            match self.send {
                Some(flags) => ring.prep_sendmsg(self.fd.raw(), hdr, flags, user_data),
                None => ring.prep_recvmsg(self.fd.raw(), hdr, 0, user_data),
            }
        })
    }
}

impl<B: IoBuf> SendOp for Msg<B> {
    fn in_ring(&self) -> bool {
        self.buf.in_ring()
    }
    fn leave_ring(&mut self) {
        self.buf.leave_ring();
        self.hdr.1.iov_base = self.buf.stable_ptr().cast_mut().cast(); // the copy's address
    }
    fn flags(&mut self) -> &mut i32 {
        self.send.as_mut().expect("a send")
    }
}

pub(crate) async fn send_to<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    addr: SockAddr,
) -> (io::Result<usize>, B) {
    let (ptr, len) = (buf.stable_ptr().cast_mut(), buf.bytes_init());
    let (cqe, op) = send_from_ring(Msg::new(fd, buf, ptr, len, Some(&addr))).await;
    (cqe.result().map(|n| n as usize), op.buf)
}

pub(crate) async fn recv_from<B: IoBufMut>(
    fd: &SharedFd,
    mut buf: B,
) -> (io::Result<(usize, SockAddr)>, B) {
    let (ptr, len) = (buf.stable_mut_ptr(), buf.bytes_total());
    let (cqe, mut op) = Op::new(Msg::new(fd, buf, ptr, len, None)).await;
    let res = cqe.result().map(|n| {
        // SAFETY: the kernel wrote `n` bytes into the buffer, and the source
        // address (of `msg_namelen` bytes) into the storage.
        unsafe {
            op.buf.set_init(n as usize);
            let storage = std::mem::replace(&mut *op.addr, SockAddrStorage::zeroed());
            (n as usize, SockAddr::new(storage, op.hdr.0.msg_namelen))
        }
    });
    (res, op.buf)
}
