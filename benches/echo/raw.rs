//! The "raw" echo server: one hand-written loop on `corering::uring` alone,
//! no tasks, no wakers, no slab. It is the floor any runtime on this engine
//! can reach, so the matrix reports each runtime server's CPU per message
//! against it.
//!
//! - A multishot accept on the listener (re-armed if it ends).
//! - Per connection, a multishot receive with buffer select on one
//!   provided-buffer ring of the runtime's default geometry
//!   (`src/runtime/buf_pool.rs`): incremental, 32 buffers of 64 KiB, where
//!   the kernel has it (6.12), else 256 whole buffers of 4 KiB; on a ring
//!   of the runtime's default size (256 SQ entries, twice that in the CQ).
//! - Each received piece is sent straight back with one send SQE, and
//!   released when that send completes; a buffer goes back to the kernel
//!   once the kernel is done with it and each of its pieces is released.
//!   A short send is resubmitted for the rest. One send per connection is in flight at a time (two sends on one
//!   socket could complete out of order); buffers received meanwhile queue
//!   behind it, in order.
//! - A receive that ends with `ENOBUFS` (the ring ran dry) waits in a FIFO
//!   and is re-armed once buffers have come back; one that ends otherwise
//!   with data (a CQ overflow ends a multishot) is re-armed at once.
//! - At end of stream, once the queued sends are done, the socket is closed
//!   with a close SQE.
//!
//! Connections live in a table indexed by fd; `user_data` is a tag and the
//! fd.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use corering::uring::{Completion, IoUring, ProvidedBufRing, SqFull};

use crate::servers::{Server, gettid, pin_thread, server_error};

/// The runtime's default ring geometry (src/runtime/builder.rs,
/// src/runtime/buf_pool.rs): incremental, else whole buffers.
const RING_ENTRIES: u32 = 256;
const INC_GEOMETRY: (u16, u32) = (32, 64 * 1024);
const WHOLE_GEOMETRY: (u16, u32) = (256, 4096);
const BGID: u16 = 0;

const ACCEPT: u64 = 1 << 60;
const RECV: u64 = 2 << 60;
const SEND: u64 = 3 << 60;
const CLOSE: u64 = 4 << 60;
const TAG: u64 = 0xf << 60;

/// One received piece of a buffer: (buffer id, offset, length).
type Piece = (u16, u32, u32);

struct Conn {
    /// Received pieces not yet sent back, in order.
    queue: VecDeque<Piece>,
    /// The piece being sent, and how much of it is sent.
    sending: Option<(Piece, u32)>,
    /// The multishot receive has not posted its final completion.
    recv_armed: bool,
    /// End of stream (or an error): no more receives; close when idle.
    eof: bool,
}

struct Raw {
    ring: IoUring,
    bufs: ProvidedBufRing,
    /// Per buffer: (bytes handed out so far, pieces not yet released,
    /// whether the kernel is done with it).
    pieces: Vec<(u32, u32, bool)>,
    /// Buffers the kernel is done with and that are not yet recycled.
    out: usize,
    recycled: bool,
    conns: Vec<Option<Conn>>,
    /// Connections whose receive ended for want of buffers, oldest first.
    starved: VecDeque<RawFd>,
    /// Completions reaped while making room in the SQ, to handle next.
    backlog: VecDeque<Completion>,
    listener: std::net::TcpListener,
    live: Arc<AtomicUsize>,
    errors: Arc<AtomicUsize>,
}

impl Raw {
    /// Queue one SQE with `prep`, submitting first while the SQ is full.
    fn queue(&mut self, mut prep: impl FnMut(&mut IoUring) -> Result<(), SqFull>) {
        while prep(&mut self.ring).is_err() {
            match self.ring.submit() {
                Ok(_) => {}
                // The kernel wants the CQ reaped first: keep what we reap.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN)) => {
                    self.backlog.extend(self.ring.completions());
                }
                Err(e) => panic!("raw server: submit: {e}"),
            }
        }
    }

    fn arm_accept(&mut self) {
        let fd = self.listener.as_raw_fd();
        self.queue(|ring| {
            // SAFETY: `fd` is the listener, which `self` owns and keeps open
            // for as long as the loop runs (forever).
            let listener = unsafe { BorrowedFd::borrow_raw(fd) };
            ring.prep_accept_multishot(listener, libc::SOCK_CLOEXEC, ACCEPT).map(drop)
        });
    }

    fn arm_recv(&mut self, fd: RawFd) {
        if let Some(conn) = self.conns[fd as usize].as_mut() {
            conn.recv_armed = true;
        }
        self.queue(|ring| {
            // SAFETY: `fd` is an accepted connection this loop owns and
            // closes only after this receive's final completion; the buffer
            // ring of group BGID is `self.bufs`, which lives as long as the
            // loop (the thread never returns).
            unsafe { ring.prep_recv_multishot(fd, BGID, 0, RECV | fd as u64) }.map(drop)
        });
    }

    /// Send the rest of the buffer `fd` is sending, or start on its next.
    fn send_next(&mut self, fd: RawFd) {
        let Some(conn) = self.conns[fd as usize].as_mut() else { return };
        if conn.sending.is_none() {
            conn.sending = conn.queue.pop_front().map(|piece| (piece, 0));
        }
        let Some(((bid, offset, len), sent)) = conn.sending else { return };
        // SAFETY: a receive completion handed this piece of `bid` to us and
        // it is released only after this send's completion (in `on_send`).
        let ptr = unsafe { self.bufs.buf_at(bid, offset as usize, len as usize) }[sent as usize..]
            .as_ptr();
        self.queue(|ring| {
            // SAFETY: `ptr` points at `len - sent` bytes of buffer `bid`,
            // which stays ours (not recycled) until this send's completion
            // is reaped; `fd` stays open until then (closed only when no
            // send is in flight).
            unsafe { ring.prep_send(fd, ptr, len - sent, libc::MSG_NOSIGNAL, SEND | fd as u64) }
                .map(drop)
        });
    }

    /// Take the piece `cqe` handed out: where it starts in its buffer.
    fn take(&mut self, bid: u16, cqe: &Completion) -> u32 {
        let (filled, refs, ours) = &mut self.pieces[bid as usize];
        let offset = *filled;
        *refs += 1;
        if cqe.buffer_more() {
            *filled += cqe.raw_result().max(0) as u32;
        } else {
            *ours = true;
            self.out += 1;
        }
        offset
    }

    /// Release one piece of `bid`; recycle the buffer with its last.
    fn release(&mut self, bid: u16) {
        let piece = &mut self.pieces[bid as usize];
        piece.1 -= 1;
        if piece.1 == 0 && piece.2 {
            *piece = (0, 0, false);
            // SAFETY: the kernel handed the whole buffer over and every
            // piece of it is released (each once: after its send completed,
            // or at once when it is not sent).
            unsafe { self.bufs.recycle(bid) };
            self.out -= 1;
            self.recycled = true;
        }
    }

    /// Close `fd` once it is idle after its end of stream.
    fn maybe_close(&mut self, fd: RawFd) {
        let slot = &mut self.conns[fd as usize];
        let idle = slot
            .as_ref()
            .is_some_and(|c| c.eof && !c.recv_armed && c.sending.is_none() && c.queue.is_empty());
        if !idle {
            return;
        }
        *slot = None;
        self.queue(|ring| {
            // SAFETY: the table owned `fd` and has just forgotten it: no
            // operation on it is in flight and none will be queued.
            unsafe { ring.prep_close(fd, CLOSE | fd as u64) }.map(drop)
        });
    }

    fn on_accept(&mut self, cqe: Completion) {
        match cqe.result() {
            Ok(fd) => {
                let fd = fd as RawFd;
                let one: libc::c_int = 1;
                // SAFETY: `fd` is the socket just accepted; setsockopt reads
                // one c_int from `one`, alive for the call.
                unsafe {
                    libc::setsockopt(
                        fd,
                        libc::IPPROTO_TCP,
                        libc::TCP_NODELAY,
                        (&raw const one).cast(),
                        size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
                if self.conns.len() <= fd as usize {
                    self.conns.resize_with(fd as usize + 1, || None);
                }
                self.conns[fd as usize] = Some(Conn {
                    queue: VecDeque::new(),
                    sending: None,
                    recv_armed: false,
                    eof: false,
                });
                self.live.fetch_add(1, Ordering::SeqCst);
                self.arm_recv(fd);
            }
            Err(e) => server_error("raw", &self.errors, "accept", &e),
        }
        if !cqe.has_more() {
            self.arm_accept();
        }
    }

    fn on_recv(&mut self, fd: RawFd, cqe: Completion) {
        let res = cqe.raw_result();
        if let Some(bid) = cqe.buffer_id() {
            let offset = self.take(bid, &cqe);
            let conn = self.conns[fd as usize].as_mut().expect("a receive on a live connection");
            if res > 0 && !conn.eof {
                conn.queue.push_back((bid, offset, res as u32));
                if conn.sending.is_none() {
                    self.send_next(fd);
                }
            } else {
                self.release(bid);
            }
        }
        let conn = self.conns[fd as usize].as_mut().expect("a receive on a live connection");
        if cqe.has_more() {
            return;
        }
        conn.recv_armed = false;
        match res {
            0 => conn.eof = true,
            e if e == -libc::ENOBUFS => self.starved.push_back(fd),
            e if e < 0 => {
                conn.eof = true;
                let err = io::Error::from_raw_os_error(-e);
                server_error("raw", &self.errors, "recv", &err);
            }
            // Ended with data (a CQ overflow ends a multishot): re-arm.
            _ if !conn.eof => self.arm_recv(fd),
            _ => {}
        }
        self.maybe_close(fd);
    }

    fn on_send(&mut self, fd: RawFd, cqe: Completion) {
        let conn = self.conns[fd as usize].as_mut().expect("a send on a live connection");
        let ((bid, offset, len), sent) = conn.sending.take().expect("a send in flight");
        match cqe.result() {
            Ok(n) if n > 0 && sent + n < len => {
                conn.sending = Some(((bid, offset, len), sent + n)); // short: send the rest
            }
            Ok(n) if n > 0 => self.release(bid),
            res => {
                let err = res.err().unwrap_or_else(|| io::ErrorKind::WriteZero.into());
                server_error("raw", &self.errors, "send", &err);
                // Drop what is queued, and end the receive: shutdown makes
                // it complete with end of stream, then the socket closes.
                let queued: Vec<u16> = conn.queue.drain(..).map(|(b, _, _)| b).collect();
                conn.eof = true;
                for b in [bid].into_iter().chain(queued) {
                    self.release(b);
                }
                self.queue(|ring| {
                    // SAFETY: `fd` is open: this connection is still in
                    // the table, which closes it only after every
                    // operation on it has completed.
                    let sock = unsafe { BorrowedFd::borrow_raw(fd) };
                    ring.prep_shutdown(sock, libc::SHUT_RDWR, 0).map(drop)
                });
            }
        }
        self.send_next(fd);
        self.maybe_close(fd);
    }

    fn handle(&mut self, cqe: Completion) {
        let fd = (cqe.user_data() & 0xffff_ffff) as RawFd;
        match cqe.user_data() & TAG {
            ACCEPT => self.on_accept(cqe),
            RECV => self.on_recv(fd, cqe),
            SEND => self.on_send(fd, cqe),
            CLOSE => {
                if let Err(e) = cqe.result() {
                    server_error("raw", &self.errors, "close", &e);
                }
                self.live.fetch_sub(1, Ordering::SeqCst);
            }
            _ => {} // the shutdown after a failed send
        }
    }

    fn run(mut self) -> ! {
        self.arm_accept();
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN)) => {}
                Err(e) => panic!("raw server: submit_and_wait: {e}"),
            }
            self.backlog.extend(self.ring.completions());
            while let Some(cqe) = self.backlog.pop_front() {
                self.handle(cqe);
            }
            if std::mem::take(&mut self.recycled) {
                self.bufs.publish();
            }
            // Re-arm starved receives, oldest first, about one per free
            // buffer.
            let mut free = usize::from(self.bufs.entries()) - self.out;
            while free > 0
                && let Some(fd) = self.starved.pop_front()
            {
                if self.conns[fd as usize].as_ref().is_some_and(|c| !c.recv_armed && !c.eof) {
                    self.arm_recv(fd);
                    free -= 1;
                }
            }
        }
    }
}

fn listener() -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?; // as corering's and tokio's listeners
    Ok(socket.into())
}

/// The raw server on a thread of its own, pinned to CPU 0.
pub fn start_raw_server() -> Server {
    let (live, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (l, e) = (live.clone(), errors.clone());
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("raw-echo".into())
        .spawn(move || {
            pin_thread(0).expect("pin the raw server to CPU 0");
            let ring = IoUring::builder().entries(RING_ENTRIES).build().expect("raw server ring");
            let (n, size) = INC_GEOMETRY;
            let bufs = match ring.register_buf_ring_incremental(n, size, BGID) {
                Err(err) if err.raw_os_error() == Some(libc::EINVAL) => {
                    let (n, size) = WHOLE_GEOMETRY;
                    ring.register_buf_ring(n, size, BGID)
                }
                other => other,
            }
            .expect("raw server buffer ring");
            let pieces = vec![(0, 0, false); usize::from(bufs.entries())];
            let listener = listener().expect("raw server listener");
            tx.send((listener.local_addr().unwrap(), gettid())).unwrap();
            Raw {
                ring,
                bufs,
                pieces,
                out: 0,
                recycled: false,
                conns: Vec::new(),
                starved: VecDeque::new(),
                backlog: VecDeque::new(),
                listener,
                live: l,
                errors: e,
            }
            .run()
        })
        .expect("spawn the raw server thread");
    let (addr, tid) = rx.recv().expect("the raw server started");
    Server::plain("raw", addr, tid, live, errors)
}
