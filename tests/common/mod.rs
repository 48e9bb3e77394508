//! Shared by the runtime tests: a watchdog so that no test can hang.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// Run `f` on its own thread (where it builds its runtime) and fail the
/// test if it does not return within `limit`. A panic in `f` propagates.
#[allow(dead_code)] // not every test binary uses it
pub fn bounded<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => {
            thread.join().unwrap();
            out
        }
        Err(RecvTimeoutError::Timeout) => panic!("watchdog: the test did not finish in {limit:?}"),
        Err(RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(thread.join().expect_err("no result, yet no panic"))
        }
    }
}

/// `Some(reason)` when this process may open fewer than `need` fds.
#[allow(dead_code)] // not every test binary uses it
pub fn fd_limit_below(need: u64) -> Option<String> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into `lim`, alive for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Some("getrlimit(RLIMIT_NOFILE) failed".into());
    }
    (lim.rlim_cur < need).then(|| {
        format!(
            "needs {need} open files, RLIMIT_NOFILE is {} (raise it with ulimit -n)",
            lim.rlim_cur
        )
    })
}

/// The fds this process has open.
#[allow(dead_code)] // not every test binary uses it
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Held by the tests of one binary that count fds (or otherwise must not
/// overlap): they then run one at a time. A panicking holder does not
/// poison it for the rest.
#[allow(dead_code)] // not every test binary uses it
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
