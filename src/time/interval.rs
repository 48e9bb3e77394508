//! `Interval`: ticks at a fixed period, with a policy for missed ticks.

use std::future::{Future, poll_fn};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{Sleep, sleep_until};

/// What an [`Interval`] does when ticks were missed (the task was busy
/// past one or more deadlines).
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
        let next = match self.missed {
            MissedTickBehavior::Burst => scheduled + self.period,
            MissedTickBehavior::Delay => now.max(scheduled) + self.period,
            MissedTickBehavior::Skip => {
                let next = scheduled + self.period;
                if next > now {
                    next
                } else {
                    // The next instant on the original schedule after now.
                    let into = (now - scheduled).as_nanos() % self.period.as_nanos();
                    now + (self.period - Duration::from_nanos(into as u64))
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
