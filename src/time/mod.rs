//! Timers: [`sleep`], [`sleep_until`], [`timeout`] and [`interval`].
//!
//! Each worker keeps one timer store; the worker's idle park is bounded by
//! its nearest deadline, so timers need no thread and no SQE of their own.
//! Timer futures belong to the worker that first polls them (`!Send`).

mod interval;
mod sleep;
mod timeout;

pub use interval::{Interval, MissedTickBehavior, interval, interval_at};
pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Elapsed, Timeout, timeout};
