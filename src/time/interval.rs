//! `Interval`: ticks at a fixed period, with a policy for missed ticks.

use std::future::{Future, poll_fn};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{Sleep, sleep_until};
use crate::runtime::context;

/// How late past its timer-grid step a tick may fire and still count as on
/// time (the wake-up's own latency on a busy machine).
const LATE_MARGIN: Duration = Duration::from_millis(5);

/// What an [`Interval`] does when ticks were missed (the task was busy
/// past one or more deadlines). A tick that fires within the worker's
/// `timer_resolution` plus 5 ms of its deadline counts as on time, so an
/// idle worker's coalesced wake-ups do not shift the schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks at once, one per call, to catch up.
    Burst,
    /// Fire once now, then keep the period from now on.
    Delay,
    /// Fire once now, then resume on the original schedule, skipping the
    /// missed ticks (the default).
    #[default]
    Skip,
}

/// Ticks every `period`, the first tick at once.
///
/// # Panics
///
/// If `period` is zero.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let rt = corering::Runtime::builder().pin(false).build()?;
/// rt.block_on(async {
///     let mut every = corering::time::interval(Duration::from_millis(2));
///     for _ in 0..3 {
///         every.tick().await;
///     }
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
///
/// If `period` is zero.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be non-zero");
    Interval { sleep: sleep_until(start), period, missed: MissedTickBehavior::default() }
}

/// The stream of ticks of [`interval`].
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Wait for the next tick; returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Poll for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if std::pin::Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.sleep.deadline();
        let now = Instant::now();
        let on_schedule = super::after(scheduled, self.period);
        // An idle worker fires a timer at its next timer-grid point, a little
        // after the deadline: lateness within that grid step (and a margin
        // for the wake-up itself) is not a missed tick.
        let resolution = context::current().map_or(Duration::ZERO, |w| w.timer_resolution());
        let missed = now.saturating_duration_since(scheduled) > resolution + LATE_MARGIN;
        let next = match self.missed {
            _ if !missed && on_schedule > now => on_schedule,
            MissedTickBehavior::Burst => on_schedule,
            MissedTickBehavior::Delay => super::after(now, self.period),
            MissedTickBehavior::Skip => {
                if on_schedule > now {
                    on_schedule
                } else {
                    // The next instant on the original schedule after now.
                    let into = (now - scheduled).as_nanos() % self.period.as_nanos();
                    super::after(now, self.period - Duration::from_nanos(into as u64))
                }
            }
        };
        self.sleep.reset(next);
        Poll::Ready(scheduled)
    }

    /// How missed ticks are handled.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}
