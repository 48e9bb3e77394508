//! Unix signals as futures and streams, delivered through the worker's
//! ring: [`ctrl_c`] for the next SIGINT, [`signal`] for a stream of any
//! catchable signal.
//!
//! A signal is caught by a `sigaction` handler, installed once per signal
//! and kept for the life of the process, that only counts it and rings
//! the doorbell (an eventfd) of every listener of that signal. Each
//! listener keeps a `READ` of its doorbell in flight on the ring of the
//! worker that polls it, so a signal wakes a worker parked in the kernel
//! like any other completion, on whichever worker the listener lives, and
//! every listener gets every signal. See docs/architecture.md, "Signals",
//! for why not signalfd.
//!
//! This module owns the handler and the doorbells; it meets the runtime
//! only through `Op`, like `net`.

mod doorbell;
mod handler;

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use futures_core::Stream;

use crate::runtime::op::Op;

use doorbell::{BellRead, Doorbell};
use handler::Registration;

/// Hangup (`SIGHUP`), often "reload your configuration".
pub const SIGHUP: i32 = libc::SIGHUP;
/// Interrupt (`SIGINT`): Ctrl-C at a terminal.
pub const SIGINT: i32 = libc::SIGINT;
/// Quit (`SIGQUIT`): Ctrl-\ at a terminal.
pub const SIGQUIT: i32 = libc::SIGQUIT;
/// Termination request (`SIGTERM`): what `kill` and service managers send.
pub const SIGTERM: i32 = libc::SIGTERM;
/// User-defined signal 1 (`SIGUSR1`).
pub const SIGUSR1: i32 = libc::SIGUSR1;
/// User-defined signal 2 (`SIGUSR2`).
pub const SIGUSR2: i32 = libc::SIGUSR2;
/// A child process stopped or exited (`SIGCHLD`).
pub const SIGCHLD: i32 = libc::SIGCHLD;
/// The terminal window changed size (`SIGWINCH`).
pub const SIGWINCH: i32 = libc::SIGWINCH;

/// Listen for `signum` (e.g. [`SIGTERM`], or any `libc::SIG*` that can be
/// caught, real-time signals included): every time the process receives
/// it from now on, the returned [`Signal`] yields once.
///
/// The first call for a signal installs corering's handler for it
/// (`sigaction`, `SA_RESTART`), replacing whatever disposition it had,
/// default action included, for the rest of the process's life: once
/// listened for, a SIGINT or SIGTERM no longer terminates the process,
/// even after every `Signal` for it has been dropped. The program decides
/// what the signal means.
///
/// The listener is registered before this returns, so no signal the
/// process receives afterwards is missed, even before the `Signal` is
/// first polled. It may be created anywhere, but is polled on a corering
/// worker: its wake-ups come through that worker's ring.
///
/// # Errors
///
/// `InvalidInput` for a signal that cannot be caught (SIGKILL, SIGSTOP),
/// a synchronous fault signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE: a handler
/// that only counts them would return to the faulting instruction
/// forever), the two real-time signals the C library keeps for itself, or
/// a number that is no signal. The kernel's error if an eventfd cannot be
/// created (out of fds).
///
/// # Examples
///
/// ```
/// use corering::signal::{SIGUSR1, signal};
///
/// let rt = corering::Runtime::builder().build()?;
/// rt.block_on(async {
///     let mut usr1 = signal(SIGUSR1)?;
///     // SAFETY: raise takes no pointers; SIGUSR1 is handled from here on.
///     unsafe { libc::raise(SIGUSR1) };
///     assert_eq!(usr1.recv().await, Some(()));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn signal(signum: i32) -> io::Result<Signal> {
    check(signum)?;
    handler::install(signum)?;
    let bell = Rc::new(Doorbell::take()?);
    // Registered, then the count read: a signal counted after this read
    // finds the doorbell registered (see `handler::count`).
    let registration = handler::register(signum, bell.fd());
    let seen = handler::count(signum);
    tracing::debug!(signum, "listening for a signal");
    Ok(Signal { _registration: registration, signum, seen, bell, read: None, ended: false })
}

/// The next SIGINT (Ctrl-C): a future that resolves once the process
/// receives one after this call.
///
/// As [`signal`]`(`[`SIGINT`]`)`: from this call on, SIGINT no longer
/// terminates the process, for the rest of its life.
///
/// # Errors
///
/// The future yields the error if the listener could not be set up (no
/// eventfd to be had), or if its worker's ring failed it.
///
/// # Panics
///
/// The future panics if polled outside a corering runtime, or polled
/// again after it returned an error.
///
/// # Examples
///
/// A server that stops cleanly on Ctrl-C:
///
/// ```no_run
/// #[corering::main]
/// async fn main() -> std::io::Result<()> {
///     let listener = corering::net::TcpListener::bind("127.0.0.1:7000")?;
///     let server = corering::spawn(async move {
///         while let Ok((stream, _)) = listener.accept().await {
///             drop(stream);
///         }
///     });
///     corering::signal::ctrl_c().await?;
///     server.abort();
///     Ok(())
/// }
/// ```
pub fn ctrl_c() -> CtrlC {
    CtrlC { signal: signal(SIGINT).map_err(Some) }
}

/// Refuse what no handler should catch.
fn check(signum: i32) -> io::Result<()> {
    let bad = |why: &str| {
        let name = name(signum).map(|n| format!(" ({n})")).unwrap_or_default();
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("signal {signum}{name}: {why}")))
    };
    match signum {
        libc::SIGKILL | libc::SIGSTOP => bad("cannot be caught, so it cannot be listened for"),
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE => {
            bad("a synchronous fault signal: a handler that only records it would return to the \
             faulting instruction, which faults again; it cannot be listened for")
        }
        s if s < 1 || s > libc::SIGRTMAX() || s as usize > handler::MAX_SIGNAL => {
            bad("not a signal number (1 to SIGRTMAX)")
        }
        s if s > 31 && s < libc::SIGRTMIN() => {
            bad("reserved by the C library for its own threads; use SIGRTMIN() and above")
        }
        _ => Ok(()),
    }
}

/// The usual name of `signum`, if it has one we know.
fn name(signum: i32) -> Option<&'static str> {
    Some(match signum {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGWINCH => "SIGWINCH",
        _ => return None,
    })
}

/// A stream of one signal's arrivals; see [`signal`].
///
/// It yields `()` each time the signal has been received since it last
/// yielded. Signals that arrive between two polls are merged into one, as
/// the kernel itself merges a pending standard signal with its repeats:
/// count on "at least once since", not on a count.
///
/// Every `Signal` for a signal gets each arrival: several tasks, on one
/// worker or on several, may each hold one. A `Signal` belongs to the
/// thread that created it (`!Send`); create one on each worker that wants
/// it (for example inside the closure given to `spawn_on`):
///
/// ```compile_fail
/// let term = corering::signal::signal(corering::signal::SIGTERM).unwrap();
/// std::thread::spawn(move || drop(term));
/// ```
///
/// Dropping it unregisters it; the handler stays installed.
///
/// # Panics
///
/// Polled outside a corering runtime.
pub struct Signal {
    /// Dropped first: the handler stops ringing the doorbell before it can
    /// go back to the pool.
    _registration: Registration,
    signum: i32,
    /// The signal's count as of the last arrival this listener reported
    /// (or its registration).
    seen: u64,
    bell: Rc<Doorbell>,
    /// The doorbell read in flight, on the worker that polled it.
    read: Option<Op<BellRead>>,
    /// The ring failed the doorbell read: the stream has ended.
    ended: bool,
}

impl Signal {
    /// Wait for the next arrival of the signal: `Some(())`, or `None` if
    /// the stream has ended, which happens only when the worker's ring
    /// fails the doorbell read (logged with `tracing`).
    ///
    /// # Panics
    ///
    /// Outside a corering runtime.
    pub async fn recv(&mut self) -> Option<()> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Poll for the next arrival of the signal; as [`Signal::recv`].
    ///
    /// # Panics
    ///
    /// Outside a corering runtime.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match ready!(self.poll_caught(cx)) {
            Ok(()) => Poll::Ready(Some(())),
            Err(e) => {
                tracing::warn!(signum = self.signum, error = %e, "signal stream ended");
                self.ended = true;
                Poll::Ready(None)
            }
        }
    }

    /// The signal number this stream listens for.
    pub fn signum(&self) -> i32 {
        self.signum
    }

    /// Ready once the signal's count has moved past `seen`; otherwise keep
    /// a doorbell read armed. The count is checked before each wait, so an
    /// arrival that rang the doorbell before the read was queued is seen
    /// either way; a ring with no new count behind it (a late one from a
    /// previous holder of the doorbell, or one this listener has already
    /// reported) only re-arms.
    fn poll_caught(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let now = handler::count(self.signum);
            if now != self.seen {
                self.seen = now;
                return Poll::Ready(Ok(()));
            }
            let read = self.read.get_or_insert_with(|| Op::new(BellRead::new(self.bell.clone())));
            let (cqe, _) = ready!(Pin::new(read).poll(cx));
            self.read = None;
            if let Err(e) = cqe.result() {
                return Poll::Ready(Err(io::Error::new(
                    e.kind(),
                    format!("the ring failed the read of signal {}'s eventfd: {e}", self.signum),
                )));
            }
        }
    }
}

impl Stream for Signal {
    type Item = ();

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.poll_recv(cx)
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("signum", &self.signum)
            .field("name", &name(self.signum))
            .field("armed", &self.read.is_some())
            .finish_non_exhaustive()
    }
}

/// The future of [`ctrl_c`].
#[must_use = "futures do nothing unless awaited"]
pub struct CtrlC {
    /// The listener, or why there is none (taken when reported).
    signal: Result<Signal, Option<io::Error>>,
}

impl Future for CtrlC {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.signal {
            Ok(signal) => signal.poll_caught(cx),
            Err(e) => Poll::Ready(Err(e.take().expect("CtrlC polled after it returned"))),
        }
    }
}

impl fmt::Debug for CtrlC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtrlC").field("signal", &self.signal).finish()
    }
}
