//! Timers: [`sleep`], [`sleep_until`], [`timeout`] and [`interval`].
//!
//! Each worker keeps one timer store; the worker's idle park is bounded by
//! its nearest deadline, rounded up to the worker's timer grid
//! (`Builder::timer_resolution`), so timers need no thread and no SQE of
//! their own. Timer futures are `!Send`, except [`SendSleep`]; a sleep
//! registers on the worker polling it, and moves if another worker polls
//! it later.

mod interval;
mod send_sleep;
mod sleep;
mod timeout;

pub use interval::{Interval, MissedTickBehavior, interval, interval_at};
pub use send_sleep::{SendSleep, sleep_send, sleep_send_until};
pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Elapsed, Timeout, timeout};

use std::time::{Duration, Instant};

/// `start + d`, or, where that is past what an `Instant` can hold, about 30
/// years after `start`: so `sleep(Duration::MAX)` means "never" without
/// overflowing.
pub(crate) fn after(start: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    start.checked_add(d).or_else(|| start.checked_add(FAR)).unwrap_or(start)
}
