//! Every `prep_*` opcode of `IoUring`, once each, against real kernel objects
//! (pipes, socketpairs, loopback sockets, a temp file), results checked byte
//! for byte. Timeouts, multishot recv and multishot accept live elsewhere.
//!
//! Memory rule for every `unsafe` block below: whatever an SQE points at is a
//! local of the test, declared *before* the ring (so it also outlives the
//! ring if an assertion unwinds early) and only touched again after `wait`
//! has reaped that SQE's final completion. The test upholds it.

#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::CString;
use std::io::{Read, Write};
use std::mem::{self, MaybeUninit};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use corering::uring::sys::{
    IORING_FEAT_CQE_SKIP, IORING_FSYNC_DATASYNC, IORING_OP_MSG_RING, IORING_OP_SEND_ZC,
    IOSQE_CQE_SKIP_SUCCESS, IOSQE_IO_LINK,
};
use corering::uring::{Completion, IoUring};

/// How long any single wait may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(5);
/// `offset` for "no file offset" (pipes, sockets) or "current position".
const NO_OFF: u64 = u64::MAX;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Submit what is queued and reap until exactly `n` completions arrived, in
/// arrival order. Panics after [`TIMEOUT`], or if more than `n` show up.
fn wait(ring: &mut IoUring, n: usize) -> Vec<Completion> {
    let deadline = Instant::now() + TIMEOUT;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out after {TIMEOUT:?} waiting for {n} completions: {out:?}"
        );
        ring.submit_and_wait_timeout((n - out.len()) as u32, left).expect("io_uring_enter");
        out.extend(ring.completions());
    }
    assert_eq!(out.len(), n, "expected {n} completions, got more: {out:?}");
    out
}

/// Submit what is queued and assert that no completion arrives for `dur`.
fn quiet(ring: &mut IoUring, dur: Duration) {
    ring.submit_and_wait_timeout(1, dur).expect("io_uring_enter");
    let got: Vec<Completion> = ring.completions().collect();
    assert!(got.is_empty(), "expected no completion, got {got:?}");
}

/// The one completion tagged `user_data`.
fn by_ud(cqes: &[Completion], user_data: u64) -> Completion {
    let mut it = cqes.iter().filter(|c| c.user_data() == user_data);
    let c = *it.next().unwrap_or_else(|| panic!("no completion {user_data} in {cqes:?}"));
    assert!(it.next().is_none(), "two completions {user_data} in {cqes:?}");
    c
}

fn ring() -> IoUring {
    IoUring::new(32).expect("io_uring setup")
}

fn sockaddr_in(addr: SocketAddr) -> libc::sockaddr_in {
    let SocketAddr::V4(v4) = addr else { panic!("IPv4 only: {addr}") };
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*v4.ip()).to_be() },
        sin_zero: [0; 8],
    }
}

fn socket_addr(sa: &libc::sockaddr_in) -> SocketAddr {
    assert_eq!(sa.sin_family, libc::AF_INET as libc::sa_family_t);
    let ip = Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr));
    SocketAddr::from((ip, u16::from_be(sa.sin_port)))
}

const SOCKADDR_IN_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

fn tcp_socket() -> OwnedFd {
    // SAFETY: socket(2) reads no caller memory.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` was just returned by socket(2); nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A connected loopback TCP pair `(client, server)`, reads bounded in time.
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    for s in [&client, &server] {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
    (client, server)
}

/// A connected `AF_UNIX` stream socketpair, reads bounded in time.
fn unix_pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
    (a, b)
}

/// `len` bytes of a recognisable, non-repeating-at-small-scale pattern.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn iovec(buf: &[u8]) -> libc::iovec {
    libc::iovec { iov_base: buf.as_ptr() as *mut _, iov_len: buf.len() }
}

fn iovec_mut(buf: &mut [u8]) -> libc::iovec {
    libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() }
}

/// `fcntl(fd, F_GETFD)`, as the errno on failure.
fn getfd(fd: RawFd) -> Result<i32, i32> {
    // SAFETY: F_GETFD reads no caller memory; a stale fd only yields EBADF.
    let r = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if r < 0 { Err(std::io::Error::last_os_error().raw_os_error().unwrap()) } else { Ok(r) }
}

/// A unique path under the temp dir, removed on drop (even on panic).
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("corering-uring-ops-{}-{nanos}-{tag}", std::process::id());
        TempPath(std::env::temp_dir().join(name))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn c_path(&self) -> CString {
        CString::new(self.0.as_os_str().as_bytes()).unwrap()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// NOP, READ, WRITE, READV, WRITEV
// ---------------------------------------------------------------------------

#[test]
fn nop() {
    let mut ring = ring();
    ring.prep_nop(1).unwrap();
    ring.prep_nop(2).unwrap();
    let cqes = wait(&mut ring, 2);
    for ud in [1, 2] {
        let c = by_ud(&cqes, ud);
        assert_eq!((c.raw_result(), c.flags()), (0, 0), "{c:?}");
    }
}

#[test]
fn read_write_pipe() {
    let (r, w) = std::io::pipe().unwrap();
    let msg = b"hello from corering";
    let mut buf = [0u8; 64];
    let mut ring = ring();

    // SAFETY: `msg` outlives the write's completion, reaped by `wait` below.
    unsafe { ring.prep_write(w.as_raw_fd(), msg.as_ptr(), msg.len() as u32, NO_OFF, 1) }.unwrap();
    let c = wait(&mut ring, 1)[0];
    assert_eq!((c.user_data(), c.result().unwrap()), (1, msg.len() as u32));

    // SAFETY: `buf` outlives the read's completion, reaped by `wait` below.
    unsafe { ring.prep_read(r.as_raw_fd(), buf.as_mut_ptr(), buf.len() as u32, NO_OFF, 2) }
        .unwrap();
    let c = wait(&mut ring, 1)[0];
    assert_eq!((c.user_data(), c.result().unwrap()), (2, msg.len() as u32));
    assert_eq!(&buf[..msg.len()], msg);
    assert!(buf[msg.len()..].iter().all(|&b| b == 0), "read wrote past its result");
}

#[test]
fn readv_writev_pipe() {
    let (r, w) = std::io::pipe().unwrap();
    let parts: [&[u8]; 3] = [b"abc", b"defgh", b"ij"];
    let out_iov = parts.map(iovec);
    let (mut a, mut b) = ([0u8; 4], [0u8; 6]);
    let in_iov = [iovec_mut(&mut a), iovec_mut(&mut b)];
    let mut ring = ring();

    // SAFETY: `out_iov`, `in_iov` and the buffers they name (`parts`, `a`,
    // `b`) outlive both completions, reaped by `wait` below.
    unsafe {
        ring.prep_writev(w.as_raw_fd(), out_iov.as_ptr(), 3, NO_OFF, 1).unwrap();
        ring.prep_readv(r.as_raw_fd(), in_iov.as_ptr(), 2, NO_OFF, 2).unwrap();
    }
    let cqes = wait(&mut ring, 2);
    assert_eq!(by_ud(&cqes, 1).result().unwrap(), 10);
    assert_eq!(by_ud(&cqes, 2).result().unwrap(), 10);
    assert_eq!((&a, &b), (b"abcd", b"efghij"));
}

// ---------------------------------------------------------------------------
// SEND, RECV (caller buffer and provided-buffer ring), SEND_ZC
// ---------------------------------------------------------------------------

#[test]
fn send_and_recv() {
    let (a, mut b) = unix_pair();
    let msg = b"ping from the ring";
    let mut buf = [0u8; 64];
    let mut ring = ring();

    // SAFETY: `msg` outlives the send's completion, reaped by `wait` below.
    unsafe { ring.prep_send(a.as_raw_fd(), msg.as_ptr(), msg.len() as u32, 0, 1) }.unwrap();
    assert_eq!(wait(&mut ring, 1)[0].result().unwrap(), msg.len() as u32);
    let mut got = [0u8; 18];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, msg);

    // The recv is queued before any data exists, so it really waits.
    // SAFETY: `buf` outlives the recv's completion, reaped by `wait` below.
    unsafe { ring.prep_recv(a.as_raw_fd(), buf.as_mut_ptr(), buf.len() as u32, 0, 2) }.unwrap();
    quiet(&mut ring, Duration::from_millis(20));
    b.write_all(b"pong").unwrap();
    let c = wait(&mut ring, 1)[0];
    assert_eq!((c.user_data(), c.result().unwrap(), c.buffer_id()), (2, 4, None));
    assert_eq!(&buf[..4], b"pong");
}

#[test]
fn recv_select_from_buffer_ring() {
    let (a, mut b) = unix_pair();
    let mut ring = ring();
    let mut bufs = ring.register_buf_ring(4, 32, 7).expect("register_buf_ring");

    let mut held = Vec::new();
    for (ud, msg) in [(1, &b"first message"[..]), (2, b"second")] {
        b.write_all(msg).unwrap();
        // SAFETY: `bufs` outlives this recv's completion, reaped just below.
        unsafe { ring.prep_recv_select(a.as_raw_fd(), bufs.bgid(), 0, ud).unwrap() };
        let c = wait(&mut ring, 1)[0];
        assert_eq!((c.user_data(), c.result().unwrap()), (ud, msg.len() as u32), "{c:?}");
        let bid = c.buffer_id().expect("recv_select completion names a buffer");
        // SAFETY: the kernel handed `bid` to us with this completion and it
        // is not recycled until after the slice is dropped.
        assert_eq!(unsafe { bufs.buf(bid, msg.len()) }, msg);
        held.push(bid);
    }
    assert_ne!(held[0], held[1], "a buffer still held by us was picked again");
    for bid in held {
        // SAFETY: each id was handed out by one completion above, once.
        unsafe { bufs.recycle(bid) };
    }
    bufs.publish();
}

#[test]
fn send_zc() {
    let (client, mut server) = tcp_pair();
    let payload = pattern(32 * 1024);
    let mut ring = ring();
    if !ring.probe().expect("probe").is_supported(IORING_OP_SEND_ZC) {
        println!("skipped: this kernel does not support IORING_OP_SEND_ZC");
        return;
    }

    // SAFETY: `payload` is not touched until the notification, the send's
    // final completion, has been reaped by `wait` below.
    unsafe { ring.prep_send_zc(client.as_raw_fd(), payload.as_ptr(), payload.len() as u32, 0, 9) }
        .unwrap();
    let cqes = wait(&mut ring, 2);
    let (result, notif) = (cqes[0], cqes[1]);
    assert_eq!(result.user_data(), 9);
    assert_eq!(result.result().unwrap(), payload.len() as u32);
    assert!(result.has_more() && !result.is_notification(), "{result:?}");
    assert_eq!((notif.user_data(), notif.raw_result()), (9, 0));
    assert!(notif.is_notification() && !notif.has_more(), "{notif:?}");

    let mut got = vec![0u8; payload.len()];
    server.read_exact(&mut got).unwrap();
    assert!(got == payload, "zero-copy payload differs");
}

// ---------------------------------------------------------------------------
// SENDMSG, RECVMSG (UDP with a sockaddr)
// ---------------------------------------------------------------------------

#[test]
fn sendmsg_recvmsg_udp() {
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();

    // sendmsg: two iovecs, destination in msg_name.
    let mut dest = sockaddr_in(rx.local_addr().unwrap());
    let out_parts: [&[u8]; 2] = [b"hello", b", datagram"];
    let mut out_iov = out_parts.map(iovec);
    let send_msg = libc::msghdr {
        msg_name: (&raw mut dest).cast(),
        msg_namelen: SOCKADDR_IN_LEN,
        msg_iov: out_iov.as_mut_ptr(),
        msg_iovlen: 2,
        msg_control: std::ptr::null_mut(),
        msg_controllen: 0,
        msg_flags: 0,
    };

    // recvmsg: scatter into two buffers, source written to msg_name.
    let mut src = sockaddr_in(SocketAddr::from(([0, 0, 0, 0], 0)));
    let (mut head, mut rest) = ([0u8; 5], [0u8; 32]);
    let mut in_iov = [iovec_mut(&mut head), iovec_mut(&mut rest)];
    let mut recv_msg = libc::msghdr {
        msg_name: (&raw mut src).cast(),
        msg_namelen: SOCKADDR_IN_LEN,
        msg_iov: in_iov.as_mut_ptr(),
        msg_iovlen: 2,
        msg_control: std::ptr::null_mut(),
        msg_controllen: 0,
        msg_flags: 0,
    };
    let mut ring = ring();

    // SAFETY: both msghdrs and everything they point at (`dest`, `src`,
    // the iovec arrays, `out_parts`, `head`, `rest`) outlive both
    // completions, reaped by `wait` below; nothing reads `recv_msg`'s
    // targets until then.
    unsafe {
        ring.prep_recvmsg(rx.as_raw_fd(), &raw mut recv_msg, 0, 1).unwrap();
        ring.prep_sendmsg(tx.as_raw_fd(), &raw const send_msg, 0, 2).unwrap();
    }
    let cqes = wait(&mut ring, 2);
    assert_eq!(by_ud(&cqes, 2).result().unwrap(), 15);
    assert_eq!(by_ud(&cqes, 1).result().unwrap(), 15);
    assert_eq!(&head, b"hello");
    assert_eq!(&rest[..10], b", datagram");
    assert_eq!(recv_msg.msg_flags & libc::MSG_TRUNC, 0);
    assert_eq!(recv_msg.msg_namelen, SOCKADDR_IN_LEN);
    assert_eq!(socket_addr(&src), tx.local_addr().unwrap(), "source address in msg_name");
}

// ---------------------------------------------------------------------------
// ACCEPT, CONNECT
// ---------------------------------------------------------------------------

#[test]
fn accept_with_peer_address() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = sockaddr_in(SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut peer_len = SOCKADDR_IN_LEN;
    let mut ring = ring();

    // SAFETY: `peer` and `peer_len` outlive the accept's completion, reaped
    // by `wait` below, and are not read before then.
    unsafe {
        ring.prep_accept(
            listener.as_raw_fd(),
            (&raw mut peer).cast(),
            &raw mut peer_len,
            libc::SOCK_CLOEXEC,
            1,
        )
    }
    .unwrap();
    quiet(&mut ring, Duration::from_millis(20));
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let fd = wait(&mut ring, 1)[0].result().expect("accept") as RawFd;
    // SAFETY: the accept completion handed us this new fd; nothing else owns it.
    let mut server = TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
    server.set_read_timeout(Some(TIMEOUT)).unwrap();

    assert_eq!(peer_len, SOCKADDR_IN_LEN);
    assert_eq!(socket_addr(&peer), client.local_addr().unwrap());
    assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
    assert_ne!(getfd(fd).unwrap() & libc::FD_CLOEXEC, 0, "SOCK_CLOEXEC was ignored");
    client.write_all(b"over the accepted fd").unwrap();
    let mut got = [0u8; 20];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"over the accepted fd");
}

#[test]
fn connect_to_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = sockaddr_in(listener.local_addr().unwrap());
    let sock = tcp_socket();
    let mut ring = ring();

    // SAFETY: `addr` outlives the connect's completion, reaped by `wait`.
    unsafe { ring.prep_connect(sock.as_raw_fd(), (&raw const addr).cast(), SOCKADDR_IN_LEN, 1) }
        .unwrap();
    assert_eq!(wait(&mut ring, 1)[0].result().expect("connect"), 0);

    let mut client = TcpStream::from(sock);
    let (mut server, from) = listener.accept().unwrap();
    server.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(from, client.local_addr().unwrap());
    assert_eq!(client.peer_addr().unwrap(), listener.local_addr().unwrap());
    client.write_all(b"connected by io_uring").unwrap();
    let mut got = [0u8; 21];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"connected by io_uring");
}

#[test]
fn connect_to_closed_port_is_refused() {
    // Take an ephemeral port, then free it: nothing listens there any more.
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        sockaddr_in(listener.local_addr().unwrap())
    };
    let sock = tcp_socket();
    let mut ring = ring();

    // SAFETY: `addr` outlives the connect's completion, reaped by `wait`.
    unsafe { ring.prep_connect(sock.as_raw_fd(), (&raw const addr).cast(), SOCKADDR_IN_LEN, 1) }
        .unwrap();
    let err = wait(&mut ring, 1)[0].result().expect_err("connect to a closed port");
    assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED), "{err}");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

// ---------------------------------------------------------------------------
// CLOSE, SHUTDOWN
// ---------------------------------------------------------------------------

#[test]
fn close_really_closes() {
    let (mut r, w) = std::io::pipe().unwrap();
    // Move the only write end to a high fd number: other tests in this
    // process allocate the lowest free numbers, so none can reuse it between
    // the close and the check below.
    // SAFETY: F_DUPFD_CLOEXEC reads no caller memory.
    let fd = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 1000) };
    assert!(fd >= 1000, "F_DUPFD_CLOEXEC: {}", std::io::Error::last_os_error());
    drop(w);
    let mut ring = ring();

    // SAFETY: `fd` is ours alone (made just above) and unused after the close.
    unsafe { ring.prep_close(fd, 1) }.unwrap();
    assert_eq!(wait(&mut ring, 1)[0].result().expect("close"), 0);
    assert_eq!(getfd(fd), Err(libc::EBADF), "fd {fd} still open after CLOSE");
    let mut buf = [0u8; 1];
    assert_eq!(r.read(&mut buf).unwrap(), 0, "last write end closed: reader sees EOF");
}

#[test]
fn shutdown_write_half() {
    let (mut a, mut b) = unix_pair();
    let mut ring = ring();
    ring.prep_shutdown(a.as_fd(), libc::SHUT_WR, 1).unwrap();
    assert_eq!(wait(&mut ring, 1)[0].result().expect("shutdown"), 0);

    let mut buf = [0u8; 8];
    assert_eq!(b.read(&mut buf).unwrap(), 0, "peer reads EOF after SHUT_WR");
    // Only the write half is shut: `a` still receives.
    b.write_all(b"still").unwrap();
    a.read_exact(&mut buf[..5]).unwrap();
    assert_eq!(&buf[..5], b"still");
}

// ---------------------------------------------------------------------------
// POLL_ADD (single and multishot), POLL_REMOVE
// ---------------------------------------------------------------------------

#[test]
fn poll_add_single() {
    let (r, mut w) = std::io::pipe().unwrap();
    let mut ring = ring();
    ring.prep_poll_add(r.as_fd(), libc::POLLIN as u32, 1).unwrap();
    quiet(&mut ring, Duration::from_millis(20)); // empty pipe: not ready yet

    w.write_all(b"x").unwrap();
    let c = wait(&mut ring, 1)[0];
    assert_eq!(c.user_data(), 1);
    assert_ne!(c.result().unwrap() & libc::POLLIN as u32, 0, "{c:?}");
    assert!(!c.has_more(), "a single-shot poll ends with its one completion");
}

#[test]
fn poll_multishot_then_remove() {
    let (mut r, mut w) = std::io::pipe().unwrap();
    let mut ring = ring();
    ring.prep_poll_multishot(r.as_fd(), libc::POLLIN as u32, 1).unwrap();
    quiet(&mut ring, Duration::from_millis(20));

    for byte in [b'a', b'b'] {
        w.write_all(&[byte]).unwrap();
        let c = wait(&mut ring, 1)[0];
        assert_eq!(c.user_data(), 1);
        assert_ne!(c.result().unwrap() & libc::POLLIN as u32, 0, "{c:?}");
        assert!(c.has_more(), "multishot poll must stay armed: {c:?}");
        // Drain so the next write is a fresh empty -> readable edge.
        let mut got = [0u8; 1];
        r.read_exact(&mut got).unwrap();
        assert_eq!(got, [byte]);
    }

    ring.prep_poll_remove(1, 2).unwrap();
    let cqes = wait(&mut ring, 2);
    assert_eq!(by_ud(&cqes, 2).result().expect("poll remove"), 0);
    let end = by_ud(&cqes, 1);
    assert_eq!(end.raw_result(), -libc::ECANCELED, "{end:?}");
    assert!(!end.has_more(), "the cancelled poll's completion is final");
}

// ---------------------------------------------------------------------------
// MSG_RING
// ---------------------------------------------------------------------------

#[test]
fn msg_ring_to_another_ring() {
    let mut a = ring();
    let mut b = ring();
    if !a.probe().expect("probe").is_supported(IORING_OP_MSG_RING) {
        println!("skipped: this kernel does not support IORING_OP_MSG_RING");
        return;
    }
    // SAFETY: ring `b` is ours, and it reads the message's user_data only
    // as a number in this test.
    unsafe { a.prep_msg_ring(b.as_raw_fd(), 0x1234, 0xfeed_beef_cafe, 0, 5).unwrap() };
    let sent = wait(&mut a, 1)[0];
    assert_eq!((sent.user_data(), sent.raw_result()), (5, 0));

    let got = wait(&mut b, 1)[0];
    assert_eq!((got.user_data(), got.raw_result(), got.flags()), (0xfeed_beef_cafe, 0x1234, 0));
}

// ---------------------------------------------------------------------------
// OPENAT, WRITE/READ at offsets, FSYNC, STATX, MKDIRAT, RENAMEAT, UNLINKAT
// ---------------------------------------------------------------------------

#[test]
fn openat_write_fsync_statx_read() {
    let tmp = TempPath::new("file");
    let c_path = tmp.c_path();
    let data = pattern(3000);
    let mut back = vec![0u8; data.len() - 100];
    let mut stx = MaybeUninit::<libc::statx>::zeroed();
    let mut ring = ring();

    // SAFETY: `c_path` is NUL-terminated and outlives the completion.
    unsafe {
        ring.prep_openat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o600,
            1,
        )
    }
    .unwrap();
    let fd = wait(&mut ring, 1)[0].result().expect("openat") as RawFd;
    // SAFETY: the openat completion handed us this new fd; nothing else owns it.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    assert!(tmp.path().exists());

    // SAFETY: `data` outlives the write's completion, reaped by `wait`.
    unsafe { ring.prep_write(file.as_raw_fd(), data.as_ptr(), data.len() as u32, 0, 2) }.unwrap();
    assert_eq!(wait(&mut ring, 1)[0].result().expect("write"), data.len() as u32);

    ring.prep_fsync(file.as_fd(), 0, 3).unwrap();
    ring.prep_fsync(file.as_fd(), IORING_FSYNC_DATASYNC, 4).unwrap();
    let cqes = wait(&mut ring, 2);
    assert_eq!(by_ud(&cqes, 3).result().expect("fsync"), 0);
    assert_eq!(by_ud(&cqes, 4).result().expect("fdatasync"), 0);

    // SAFETY: `c_path` and `stx` outlive the completion; `stx` is not read
    // before it is reaped.
    unsafe {
        ring.prep_statx(libc::AT_FDCWD, c_path.as_ptr(), 0, libc::STATX_SIZE, stx.as_mut_ptr(), 5)
    }
    .unwrap();
    assert_eq!(wait(&mut ring, 1)[0].result().expect("statx"), 0);
    // SAFETY: zero-initialised (all-integer struct), then filled by statx.
    let stx = unsafe { stx.assume_init() };
    assert_ne!(stx.stx_mask & libc::STATX_SIZE, 0);
    assert_eq!(stx.stx_size, data.len() as u64);

    // Read at a file offset (100), not the current position.
    // SAFETY: `back` outlives the read's completion, reaped by `wait`.
    unsafe { ring.prep_read(file.as_raw_fd(), back.as_mut_ptr(), back.len() as u32, 100, 6) }
        .unwrap();
    assert_eq!(wait(&mut ring, 1)[0].result().expect("read"), back.len() as u32);
    assert!(back[..] == data[100..], "file contents differ");

    drop(file);
    let path = tmp.path().to_owned();
    drop(tmp);
    assert!(!path.exists(), "temp file not removed");
}

#[test]
fn mkdirat_renameat_unlinkat() {
    use std::os::unix::fs::PermissionsExt;

    let dir = TempPath::new("dir");
    let c_dir = dir.c_path();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let c_a = CString::new(a.as_os_str().as_bytes()).unwrap();
    let c_b = CString::new(b.as_os_str().as_bytes()).unwrap();
    let mut ring = ring();

    // SAFETY: the paths are NUL-terminated locals declared before the
    // ring, and each SQE is reaped by `wait` before the next block (so for
    // every block below).
    unsafe { ring.prep_mkdirat(libc::AT_FDCWD, c_dir.as_ptr(), 0o750, 1) }.unwrap();
    assert_eq!(wait(&mut ring, 1)[0].result().expect("mkdirat"), 0);
    let meta = std::fs::metadata(dir.path()).unwrap();
    assert!(meta.is_dir());
    // The umask may only take bits away.
    assert_eq!(meta.permissions().mode() & 0o777 & !0o750, 0);

    // SAFETY: as above.
    unsafe { ring.prep_mkdirat(libc::AT_FDCWD, c_dir.as_ptr(), 0o750, 2) }.unwrap();
    assert_eq!(wait(&mut ring, 1)[0].raw_result(), -libc::EEXIST);

    std::fs::write(&a, b"renamed").unwrap();
    // SAFETY: as above.
    unsafe { ring.prep_renameat(libc::AT_FDCWD, c_a.as_ptr(), libc::AT_FDCWD, c_b.as_ptr(), 0, 3) }
        .unwrap();
    assert_eq!(wait(&mut ring, 1)[0].result().expect("renameat"), 0);
    assert!(!a.exists());
    assert_eq!(std::fs::read(&b).unwrap(), b"renamed");

    // RENAME_NOREPLACE refuses to replace an existing target.
    std::fs::write(&a, b"kept").unwrap();
    let noreplace = libc::RENAME_NOREPLACE;
    // SAFETY: as above.
    unsafe {
        ring.prep_renameat(libc::AT_FDCWD, c_a.as_ptr(), libc::AT_FDCWD, c_b.as_ptr(), noreplace, 4)
    }
    .unwrap();
    assert_eq!(wait(&mut ring, 1)[0].raw_result(), -libc::EEXIST);
    assert_eq!(std::fs::read(&b).unwrap(), b"renamed");

    // SAFETY: as above.
    unsafe {
        ring.prep_unlinkat(libc::AT_FDCWD, c_a.as_ptr(), 0, 5).unwrap();
        ring.prep_unlinkat(libc::AT_FDCWD, c_b.as_ptr(), 0, 6).unwrap();
    }
    let cqes = wait(&mut ring, 2);
    assert_eq!(by_ud(&cqes, 5).result().expect("unlinkat a"), 0);
    assert_eq!(by_ud(&cqes, 6).result().expect("unlinkat b"), 0);
    assert!(!a.exists() && !b.exists());

    // SAFETY: as above.
    unsafe { ring.prep_unlinkat(libc::AT_FDCWD, c_a.as_ptr(), 0, 7) }.unwrap();
    assert_eq!(wait(&mut ring, 1)[0].raw_result(), -libc::ENOENT);

    // A directory needs AT_REMOVEDIR.
    // SAFETY: as above.
    unsafe { ring.prep_unlinkat(libc::AT_FDCWD, c_dir.as_ptr(), 0, 8) }.unwrap();
    assert_eq!(wait(&mut ring, 1)[0].raw_result(), -libc::EISDIR);
    // SAFETY: as above.
    unsafe { ring.prep_unlinkat(libc::AT_FDCWD, c_dir.as_ptr(), libc::AT_REMOVEDIR, 9) }.unwrap();
    assert_eq!(wait(&mut ring, 1)[0].result().expect("unlinkat dir"), 0);
    assert!(!dir.path().exists());
}

// ---------------------------------------------------------------------------
// IOSQE flags: IO_LINK, CQE_SKIP_SUCCESS
// ---------------------------------------------------------------------------

#[test]
fn io_link_chain_completes_in_order() {
    let (r, w) = std::io::pipe().unwrap();
    let msg = b"linked";
    let mut buf = [0u8; 16];
    let mut ring = ring();

    // SAFETY: `msg` and `buf` outlive both completions, reaped by `wait`.
    unsafe {
        ring.prep_write(w.as_raw_fd(), msg.as_ptr(), msg.len() as u32, NO_OFF, 1)
            .unwrap()
            .flags(IOSQE_IO_LINK);
        ring.prep_read(r.as_raw_fd(), buf.as_mut_ptr(), buf.len() as u32, NO_OFF, 2).unwrap();
    }
    let cqes = wait(&mut ring, 2);
    let order: Vec<(u64, i32)> = cqes.iter().map(|c| (c.user_data(), c.raw_result())).collect();
    assert_eq!(order, [(1, 6), (2, 6)], "{cqes:?}");
    assert_eq!(&buf[..6], msg);

    // A failed link head cancels the rest of the chain.
    ring.prep_shutdown(r.as_fd(), libc::SHUT_WR, 3).unwrap().flags(IOSQE_IO_LINK);
    ring.prep_nop(4).unwrap();
    let cqes = wait(&mut ring, 2);
    assert_eq!(by_ud(&cqes, 3).raw_result(), -libc::ENOTSOCK, "{cqes:?}");
    assert_eq!(by_ud(&cqes, 4).raw_result(), -libc::ECANCELED, "{cqes:?}");
}

#[test]
fn cqe_skip_success() {
    let mut ring = ring();
    if ring.features() & IORING_FEAT_CQE_SKIP == 0 {
        println!("skipped: this kernel lacks IORING_FEAT_CQE_SKIP");
        return;
    }
    ring.prep_nop(1).unwrap().flags(IOSQE_CQE_SKIP_SUCCESS);
    ring.prep_nop(2).unwrap();
    let c = wait(&mut ring, 1)[0];
    assert_eq!((c.user_data(), c.raw_result()), (2, 0), "the skipped NOP posted a CQE");
    quiet(&mut ring, Duration::from_millis(50));

    // Skipping applies to success only: a failure still posts its CQE.
    let (r, _w) = std::io::pipe().unwrap();
    ring.prep_shutdown(r.as_fd(), libc::SHUT_RDWR, 3).unwrap().flags(IOSQE_CQE_SKIP_SUCCESS);
    let c = wait(&mut ring, 1)[0];
    assert_eq!((c.user_data(), c.raw_result()), (3, -libc::ENOTSOCK));
}

// ---------------------------------------------------------------------------
// ASYNC_CANCEL by fd
// ---------------------------------------------------------------------------

#[test]
fn cancel_fd_pending_read() {
    let (r, _w) = std::io::pipe().unwrap();
    let mut buf = [0u8; 16];
    let mut ring = ring();

    // SAFETY: `buf` outlives the read's final completion (its -ECANCELED),
    // reaped by `wait` below.
    unsafe { ring.prep_read(r.as_raw_fd(), buf.as_mut_ptr(), buf.len() as u32, NO_OFF, 1) }
        .unwrap();
    quiet(&mut ring, Duration::from_millis(20)); // the pipe is empty: read pends

    ring.prep_cancel_fd(r.as_fd(), 0, 2).unwrap();
    let cqes = wait(&mut ring, 2);
    assert_eq!(by_ud(&cqes, 1).raw_result(), -libc::ECANCELED, "{cqes:?}");
    assert_eq!(by_ud(&cqes, 2).raw_result(), 0, "{cqes:?}");
    assert_eq!(buf, [0; 16]);

    // Nothing left on that fd: the cancel finds nothing.
    ring.prep_cancel_fd(r.as_fd(), 0, 3).unwrap();
    assert_eq!(wait(&mut ring, 1)[0].raw_result(), -libc::ENOENT);
}
