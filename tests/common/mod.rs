//! Shared by the runtime tests: a watchdog so that no test can hang.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// Run `f` on its own thread (where it builds its runtime) and fail the
/// test if it does not return within `limit`. A panic in `f` propagates.
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
