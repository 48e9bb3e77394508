//! One connection and its behaviour, as a state machine driven by poll(2)
//! events and timers: it never blocks and never sleeps. Every byte it
//! reads is checked against the bytes it sent.

use std::io::{self, ErrorKind, Read};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use socket2::{Protocol, Socket, Type};

use super::Shared;
use super::pattern::{CHUNK, Rng};
use super::tally::Stats;

/// A well-behaved connection that is owed bytes and gets none for this
/// long (of attentive time, `Ctx::clock`) has stalled.
const STALL: Duration = Duration::from_secs(5);
/// The largest message.
const MAX_MSG: u64 = 1 << 20;

/// What a connection does, picked at random with the weight in `ALL`.
/// The timed ones close with RST half the time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// Echoes 1 to 5 messages of 1 B to 1 MiB, each read back whole and
    /// timed, then closes.
    Good,
    /// A connect/echo/close cycle: one message of 1 B to 1 KiB, timed.
    Cycle,
    /// Sends one message of 1 B to 1 MiB, shuts down its write side, then
    /// reads the whole echo and the end of stream.
    HalfClose,
    /// Partial writes: 1 to 3 messages of up to 4 KiB, sent in pieces of 1
    /// to 64 bytes 1 to 10 ms apart, reading the echo.
    Dribble,
    /// A 4 KiB receive buffer; sends a message of up to 1 MiB and reads at
    /// most 1 KiB every 5 to 50 ms; closes after 0.5 to 4 s.
    SlowReader,
    /// A 4 KiB receive buffer; sends a message of up to 1 MiB and never
    /// reads; closes after 0.5 to 4 s.
    StoppedReader,
    /// Sends part of a message of up to 1 MiB, then resets the connection
    /// (SO_LINGER 0 and close) within 20 ms.
    Reset,
    /// Connects and closes at once, half the time before the handshake
    /// has completed.
    Churn,
    /// Connects, sends nothing, closes after 0.5 to 4 s.
    Idle,
}

impl Kind {
    /// Every behaviour, with its weight.
    pub(crate) const ALL: [(Kind, u64); 9] = [
        (Kind::Good, 8),
        (Kind::Cycle, 50),
        (Kind::HalfClose, 6),
        (Kind::Dribble, 4),
        (Kind::SlowReader, 4),
        (Kind::StoppedReader, 4),
        (Kind::Reset, 8),
        (Kind::Churn, 6),
        (Kind::Idle, 10),
    ];

    /// The behaviours that must not fail: an error, an early end of stream
    /// or a stall of theirs fails the run.
    fn verified(self) -> bool {
        matches!(self, Kind::Good | Kind::Cycle | Kind::HalfClose | Kind::Dribble)
    }
}

/// One thread's state, lent to each of its connections as it runs.
pub(crate) struct Ctx<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) rng: Rng,
    /// The time after the last poll returned.
    pub(crate) now: Instant,
    /// Attentive time: the thread's running time with each poll turn
    /// counted for at most 100 ms. A turn that took longer (this client
    /// busy, or descheduled) cannot make a server look stalled; only time
    /// in which the connection was polled again and again can.
    pub(crate) clock: Duration,
    pub(crate) recv_buf: Vec<u8>,
    pub(crate) stats: Stats,
}

/// How a connection ends.
pub(crate) enum End {
    /// It did what it set out to do; close it normally.
    Done,
    /// It did what it set out to do; close it with RST.
    Rst,
    /// An error, named for the report (a failure if the kind is verified).
    Error(String),
    /// A wrong byte or a stall: a failure whatever the kind.
    Fatal(String),
}

/// An I/O error as an end, named by its kind (`ConnectionReset`, ...).
fn io_end(e: io::Error) -> End {
    End::Error(format!("{:?}", e.kind()))
}

/// A connection and its progress through its behaviour.
pub(crate) struct Conn {
    sock: Socket,
    kind: Kind,
    /// Names the connection's byte stream (see `Pattern`).
    key: u64,
    connected: bool,
    /// Bytes sent, and bytes of echo received (all checked).
    sent: u64,
    recvd: u64,
    /// Sends go up to here: the end of the current message.
    goal: u64,
    /// Messages still to come after the current one.
    more: u64,
    /// Where the current message starts in the stream, and when it did.
    msg_from: u64,
    msg_start: Instant,
    /// A paced behaviour (`Dribble` writes, `SlowReader` reads) acts again
    /// at this time.
    pace: Instant,
    /// A timed behaviour ends at this time, with RST if `rst`.
    end_at: Option<Instant>,
    rst: bool,
    write_shut: bool,
    /// `Ctx::clock` at the connection's last progress.
    progress: Duration,
}

impl Conn {
    /// Pick a behaviour and start a non-blocking connect.
    pub(crate) fn open(cx: &mut Ctx<'_>) -> Result<Conn, (Kind, End)> {
        let kind = loop {
            let mut r = cx.rng.between(0, Kind::ALL.iter().map(|(_, w)| w).sum::<u64>() - 1);
            let &(kind, _) = Kind::ALL.iter().find(|(_, w)| r < *w || (r -= w, false).1).unwrap();
            if kind != Kind::Cycle || cx.shared.take_cycle() {
                break kind;
            }
        };
        cx.stats.opened[kind as usize] += 1;
        let setup = || -> io::Result<Socket> {
            let sock = Socket::new(cx.shared.addr.domain(), Type::STREAM, Some(Protocol::TCP))?;
            sock.set_nonblocking(true)?;
            sock.set_tcp_nodelay(true)?;
            if matches!(kind, Kind::SlowReader | Kind::StoppedReader) {
                sock.set_recv_buffer_size(4096)?;
            }
            match sock.connect(&cx.shared.addr) {
                Err(e) if e.raw_os_error() != Some(libc::EINPROGRESS) => Err(e),
                _ => Ok(sock),
            }
        };
        let sock = setup().map_err(|e| (kind, io_end(e)))?;
        let churn_early = kind == Kind::Churn && cx.rng.coin();
        Ok(Conn {
            sock,
            kind,
            key: cx.rng.next(),
            connected: false,
            sent: 0,
            recvd: 0,
            goal: 0,
            more: 0,
            msg_from: 0,
            msg_start: cx.now,
            pace: cx.now,
            end_at: churn_early.then_some(cx.now),
            rst: kind == Kind::Reset || cx.rng.coin(),
            write_shut: false,
            progress: cx.clock,
        })
    }

    /// The socket, for poll(2).
    pub(crate) fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// The poll(2) events this connection waits for now.
    pub(crate) fn events(&self, now: Instant) -> i16 {
        if !self.connected {
            return libc::POLLOUT;
        }
        let read = if self.reads(now) { libc::POLLIN } else { 0 };
        let write = self.sent < self.goal && !(self.kind == Kind::Dribble && now < self.pace);
        read | if write { libc::POLLOUT } else { 0 }
    }

    /// Whether the behaviour reads now (a `SlowReader` only at its pace).
    fn reads(&self, now: Instant) -> bool {
        match self.kind {
            Kind::StoppedReader => false,
            Kind::SlowReader => now >= self.pace,
            _ => true,
        }
    }

    /// Whether the server owes this connection something: the handshake,
    /// echo bytes, or (after a half-close) the end of stream.
    fn owed(&self) -> bool {
        !self.connected || self.recvd < self.sent || self.write_shut
    }

    /// Act on poll's `revents` and on the timers; `Some` when the
    /// connection is over.
    pub(crate) fn step(&mut self, revents: i16, cx: &mut Ctx<'_>) -> Option<End> {
        match self.try_step(revents, cx) {
            Ok(None) if self.kind.verified() && self.owed() && cx.clock > self.progress + STALL => {
                self.stalled()
            }
            Ok(end) => end,
            Err(end) => Some(end),
        }
    }

    /// A verified connection that has been owed bytes for `STALL` of
    /// attentive time: the server has stalled, unless the bytes are here
    /// and this client has not read them yet (its own slowness: it reads
    /// them at its next turn).
    fn stalled(&self) -> Option<End> {
        let queued = |request| {
            let mut n: libc::c_int = 0;
            // SAFETY: FIONREAD and TIOCOUTQ write one c_int into `n`, alive
            // for the call; the fd is this connection's open socket.
            unsafe { libc::ioctl(self.fd(), request, &mut n) };
            n
        };
        if queued(libc::FIONREAD) > 0 {
            return None;
        }
        Some(End::Fatal(format!(
            "stalled: {} B owed, none came for {STALL:?}; {} B of ours not yet taken in by the \
             server's kernel",
            self.sent - self.recvd,
            queued(libc::TIOCOUTQ)
        )))
    }

    /// `step` before the stall check: a timed end, the handshake, reads,
    /// writes.
    fn try_step(&mut self, revents: i16, cx: &mut Ctx<'_>) -> Result<Option<End>, End> {
        if self.end_at.is_some_and(|t| cx.now >= t) {
            return Ok(Some(if self.rst { End::Rst } else { End::Done }));
        }
        if revents == 0 {
            return Ok(None);
        }
        if !self.connected {
            if let Some(e) = self.sock.take_error().map_err(io_end)? {
                return Err(io_end(e));
            }
            (self.connected, self.progress) = (true, cx.clock);
            return self.on_connect(cx).map(|()| None);
        }
        let hangup = revents & (libc::POLLERR | libc::POLLHUP) != 0;
        if revents & libc::POLLIN != 0 || (hangup && self.reads(cx.now)) {
            if let Some(end) = self.read(cx)? {
                return Ok(Some(end));
            }
        } else if hangup {
            // Not reading now, so the read cannot report it.
            let e = self.sock.take_error().map_err(io_end)?;
            return Err(e.map_or(End::Error("hangup".into()), io_end));
        }
        if revents & libc::POLLOUT != 0 {
            self.write(cx)?;
        }
        Ok(None)
    }

    /// Set the behaviour's plan going once the handshake is done.
    fn on_connect(&mut self, cx: &mut Ctx<'_>) -> Result<(), End> {
        let rng = &mut cx.rng;
        let size = match self.kind {
            Kind::Good => {
                self.more = rng.between(0, 4);
                rng.size(MAX_MSG)
            }
            Kind::Cycle => rng.size(1024),
            Kind::HalfClose => rng.size(MAX_MSG),
            Kind::Dribble => {
                self.more = rng.between(0, 2);
                rng.size(4096)
            }
            Kind::SlowReader | Kind::StoppedReader => {
                self.end_at = Some(cx.now + rng.millis(500, 4000));
                rng.size(MAX_MSG)
            }
            Kind::Reset => {
                let size = rng.size(MAX_MSG);
                rng.between(1, size)
            }
            Kind::Churn | Kind::Idle => {
                let ms = if self.kind == Kind::Churn { 0 } else { rng.between(500, 4000) };
                self.end_at = Some(cx.now + Duration::from_millis(ms));
                return Ok(());
            }
        };
        self.start_message(size, cx)
    }

    /// Start a message of `size` bytes: sends go up to its end.
    fn start_message(&mut self, size: u64, cx: &mut Ctx<'_>) -> Result<(), End> {
        (self.msg_from, self.goal) = (self.sent, self.sent + size);
        (self.msg_start, self.progress) = (Instant::now(), cx.clock);
        self.write(cx)
    }

    /// Send what the plan allows now, at most `CHUNK` bytes.
    fn write(&mut self, cx: &mut Ctx<'_>) -> Result<(), End> {
        let mut budget = CHUNK;
        while self.sent < self.goal && budget > 0 {
            if self.kind == Kind::Dribble && cx.now < self.pace {
                break;
            }
            let piece =
                if self.kind == Kind::Dribble { cx.rng.between(1, 64) as usize } else { budget };
            let n = piece.min((self.goal - self.sent) as usize);
            let bytes = cx.shared.pattern.bytes(self.key, self.sent, n);
            match self.sock.send_with_flags(bytes, libc::MSG_NOSIGNAL) {
                Ok(k) => {
                    (self.sent, budget) = (self.sent + k as u64, budget - k);
                    if self.kind == Kind::Dribble {
                        self.pace = cx.now + cx.rng.millis(1, 10);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(io_end(e)),
            }
        }
        if self.sent == self.goal && self.kind == Kind::HalfClose && !self.write_shut {
            self.sock.shutdown(Shutdown::Write).map_err(io_end)?;
            self.write_shut = true;
        }
        if self.sent == self.goal && self.kind == Kind::Reset && self.end_at.is_none() {
            self.end_at = Some(cx.now + cx.rng.millis(0, 20));
        }
        Ok(())
    }

    /// Read and check what has come back, at most `CHUNK` bytes (a
    /// `SlowReader`: one read of at most 1 KiB).
    fn read(&mut self, cx: &mut Ctx<'_>) -> Result<Option<End>, End> {
        let mut budget = CHUNK;
        while budget > 0 {
            let cap = if self.kind == Kind::SlowReader {
                cx.rng.between(1, 1024) as usize
            } else {
                budget
            };
            let n = match (&self.sock).read(&mut cx.recv_buf[..cap]) {
                Ok(0) if self.write_shut && self.recvd == self.sent => return Ok(Some(End::Done)),
                Ok(0) if self.recvd < self.sent => {
                    return Err(End::Error("EOF before the whole echo".into()));
                }
                Ok(0) => return Err(End::Error("EOF".into())),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_end(e)),
            };
            self.check(n, cx)?;
            (self.recvd, self.progress, budget) = (self.recvd + n as u64, cx.clock, budget - n);
            cx.stats.verified_bytes += n as u64;
            if self.recvd == self.goal
                && self.sent == self.goal
                && let Some(end) = self.message_done(cx)?
            {
                return Ok(Some(end));
            }
            if self.kind == Kind::SlowReader {
                self.pace = cx.now + cx.rng.millis(5, 50);
                break;
            }
        }
        Ok(None)
    }

    /// Compare the `n` bytes just received with those sent at that offset.
    fn check(&self, n: usize, cx: &Ctx<'_>) -> Result<(), End> {
        let end = self.recvd + n as u64;
        if end > self.sent {
            return Err(End::Fatal(format!("{end} bytes came back, {} were sent", self.sent)));
        }
        let (got, want) = (&cx.recv_buf[..n], cx.shared.pattern.bytes(self.key, self.recvd, n));
        if got == want {
            return Ok(());
        }
        let i = got.iter().zip(want).position(|(a, b)| a != b).expect("the slices differ");
        Err(End::Fatal(format!(
            "wrong byte at stream offset {}: sent {:#04x}, got back {:#04x}",
            self.recvd + i as u64,
            want[i],
            got[i]
        )))
    }

    /// The current message has come back whole: time it, start the next
    /// or end.
    fn message_done(&mut self, cx: &mut Ctx<'_>) -> Result<Option<End>, End> {
        match self.kind {
            Kind::Good | Kind::Cycle => {
                let rtt = self.msg_start.elapsed();
                cx.stats.rtt.record(rtt);
                if self.goal - self.msg_from <= 4096 {
                    cx.stats.rtt_small.record(rtt);
                }
            }
            Kind::Dribble | Kind::SlowReader => {}
            // The others end on their own terms.
            _ => return Ok(None),
        }
        if self.kind == Kind::SlowReader || self.more == 0 {
            return Ok(Some(End::Done));
        }
        self.more -= 1;
        let size = if self.kind == Kind::Good { cx.rng.size(MAX_MSG) } else { cx.rng.size(4096) };
        self.start_message(size, cx).map(|()| None)
    }
}

impl Ctx<'_> {
    /// Count how a connection ended; a failure also gets its story told.
    pub(crate) fn record(&mut self, kind: Kind, end: End, who: impl FnOnce() -> String) {
        let i = kind as usize;
        let what = match end {
            End::Done | End::Rst => {
                self.stats.done[i] += 1;
                if kind == Kind::Cycle {
                    self.shared.cycles_done.fetch_add(1, Relaxed);
                    self.shared.cycles_ended.fetch_add(1, Relaxed);
                }
                return;
            }
            End::Error(label) => {
                self.stats.errors[i] += 1;
                *self.stats.errors_by_kind.entry(format!("{kind:?}: {label}")).or_default() += 1;
                if !kind.verified() {
                    return;
                }
                label
            }
            End::Fatal(what) => what,
        };
        if kind == Kind::Cycle {
            self.shared.cycles_ended.fetch_add(1, Relaxed);
        }
        self.stats.failures += 1;
        self.shared.failures.fetch_add(1, Relaxed);
        if self.stats.first_failures.len() < 10 {
            // Also at once, so that the server can be looked at meanwhile.
            let failure = format!("{kind:?} {}: {what}", who());
            eprintln!("chaos: failure: {failure}");
            self.stats.first_failures.push(failure);
        }
    }

    /// A connection is over: count it, and close it (with RST if asked).
    pub(crate) fn finish(&mut self, conn: Conn, end: End) {
        if matches!(end, End::Rst) {
            // SO_LINGER 0: close sends RST and drops whatever is queued.
            let _ = conn.sock.set_linger(Some(Duration::ZERO));
        }
        let who = || {
            let port = conn.sock.local_addr().ok().and_then(|a| a.as_socket()).map(|a| a.port());
            let (key, sent, recvd) = (conn.key, conn.sent, conn.recvd);
            format!("conn {key:#018x} from port {port:?} ({sent} B sent, {recvd} B echoed)")
        };
        self.record(conn.kind, end, who);
    }
}
