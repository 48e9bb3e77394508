//! Timers: sleep is never early, timeout, timer removal on drop, interval
//! and its missed-tick policies, and many concurrent sleeps.

mod common;

use std::cell::Cell;
use std::future::{pending, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use common::bounded;
use corering::time::{
    MissedTickBehavior, Sleep, interval, interval_at, sleep, sleep_until, timeout,
};
use corering::{Runtime, spawn};

const LIMIT: Duration = Duration::from_secs(60);
const LATE: Duration = Duration::from_secs(1);

fn rt() -> Runtime {
    Runtime::builder().pin(false).build().unwrap()
}

fn timers_pending() -> u64 {
    corering::metrics().unwrap().timers_pending
}

#[test]
fn sleep_is_never_early_nor_very_late() {
    bounded(LIMIT, || {
        rt().block_on(async {
            for ms in [1, 5, 20, 50] {
                let d = Duration::from_millis(ms);
                let t0 = Instant::now();
                sleep(d).await;
                let took = t0.elapsed();
                assert!(took >= d && took < d + LATE, "sleep({d:?}) took {took:?}");
            }
            let t0 = Instant::now();
            sleep_until(t0 - Duration::from_millis(1)).await;
            sleep(Duration::ZERO).await;
            assert!(t0.elapsed() < LATE);
            assert_eq!(timers_pending(), 0);
        });
    });
}

#[test]
fn timeout_elapses_for_a_never_ready_future_and_passes_a_fast_one_through() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let t0 = Instant::now();
            let r = timeout(Duration::from_millis(20), pending::<()>()).await;
            let took = t0.elapsed();
            assert!(r.is_err(), "{r:?}");
            assert!(took >= Duration::from_millis(20) && took < LATE, "{took:?}");
            assert_eq!(timeout(Duration::from_secs(60), async { 3 }).await, Ok(3));
            let inner = timeout(Duration::from_secs(60), sleep(Duration::from_millis(5))).await;
            assert_eq!(inner, Ok(()));
            assert!(t0.elapsed() < Duration::from_secs(5), "the 60 s timeouts were waited for");
            assert_eq!(timers_pending(), 0, "finished timeouts left timers behind");
        });
    });
}

/// Poll `s` once (registering its timer), expecting it pending.
async fn poll_once(s: &mut Sleep) {
    poll_fn(|cx| {
        assert!(Pin::new(&mut *s).poll(cx).is_pending());
        Poll::Ready(())
    })
    .await
}

#[test]
fn dropping_a_sleep_removes_its_timer() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let mut sleeps: Vec<Sleep> = (0..100).map(|_| sleep(Duration::from_secs(60))).collect();
            assert_eq!(timers_pending(), 0, "a timer is registered at first poll");
            for s in &mut sleeps {
                poll_once(s).await;
            }
            assert_eq!(timers_pending(), 100);
            sleeps.truncate(1);
            assert_eq!(timers_pending(), 1);
            drop(sleeps);
            assert_eq!(timers_pending(), 0);
            // And a timer dropped inside a task that is aborted.
            let h = spawn(sleep(Duration::from_secs(60)));
            corering::yield_now().await;
            assert_eq!(timers_pending(), 1);
            h.abort();
            assert!(h.await.unwrap_err().is_cancelled());
            assert_eq!(timers_pending(), 0);
        });
    });
}

#[test]
fn interval_ticks_on_its_schedule() {
    bounded(LIMIT, || {
        rt().block_on(async {
            const N: u32 = 5;
            let period = Duration::from_millis(20);
            let t0 = Instant::now();
            let mut every = interval(period);
            let mut ticks = Vec::new();
            for _ in 0..=N {
                ticks.push(every.tick().await);
            }
            let took = t0.elapsed();
            assert!(ticks[0] <= Instant::now() && ticks[0] >= t0, "the first tick is at once");
            // On schedule: whole periods after the first tick (Skip, the
            // default, may drop a tick if this thread was descheduled).
            for (k, pair) in ticks.windows(2).enumerate() {
                let gap = pair[1] - pair[0];
                assert!(
                    gap >= period && gap.as_nanos() % period.as_nanos() == 0,
                    "tick {k}: {gap:?}"
                );
            }
            assert!(took >= period * N && took < period * N + LATE, "{N} periods took {took:?}");
        });
    });
}

/// After a tick, block the worker for 5.5 periods, then take two ticks:
/// returns `(resumed, next, period)`, where `resumed` is when the block
/// ended and `next` the scheduled instant of the tick after the catch-up.
fn after_a_stall(behavior: MissedTickBehavior) -> (Instant, Instant, Duration) {
    let period = Duration::from_millis(20);
    rt().block_on(async {
        let mut every = interval(period);
        every.set_missed_tick_behavior(behavior);
        every.tick().await;
        std::thread::sleep(period * 11 / 2);
        let resumed = Instant::now();
        every.tick().await; // the overdue tick: at once
        (resumed, every.tick().await, period)
    })
}

#[test]
fn interval_skip_and_delay_do_not_burst_after_a_stall() {
    bounded(LIMIT, || {
        let (resumed, next, _) = after_a_stall(MissedTickBehavior::Skip);
        assert!(next > resumed, "Skip fired a missed tick ({:?} late)", resumed - next);
        let (resumed, next, period) = after_a_stall(MissedTickBehavior::Delay);
        assert!(next >= resumed + period, "Delay did not restart the period from the stall");
        // The control: Burst does fire the missed ticks, so the stall above
        // really missed some.
        let (resumed, next, _) = after_a_stall(MissedTickBehavior::Burst);
        assert!(next < resumed, "Burst did not catch up");
    });
}

/// Skip after a stall longer than `u32::MAX` periods: the next tick must
/// be about now, not seconds in the past (a count of missed periods that
/// overflowed would put it there, and the missed ticks would burst out).
#[test]
fn interval_skip_survives_more_than_u32_max_missed_periods() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let period = Duration::from_nanos(1);
            let start = Instant::now() - Duration::from_secs(5); // 5e9 periods ago
            let mut every = interval_at(start, period);
            assert_eq!(every.tick().await, start);
            let resumed = Instant::now();
            let next = every.tick().await;
            let behind = resumed.saturating_duration_since(next);
            assert!(behind < Duration::from_millis(100), "a tick {behind:?} in the past");
        });
    });
}

/// A sleep registered on a runtime that is gone never fires: awaited on
/// another runtime it stays pending long after its deadline.
#[test]
fn a_sleep_outliving_its_runtime_still_completes_after_its_deadline() {
    bounded(LIMIT, || {
        let first = rt();
        let mut s = sleep(Duration::from_millis(10));
        first.block_on(poll_once(&mut s));
        drop(first);
        let r = rt().block_on(timeout(Duration::from_secs(1), s));
        assert!(r.is_ok(), "still pending 1 s after a 10 ms deadline");
    });
}

#[test]
fn ten_thousand_concurrent_sleeps_all_complete_on_time() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let (done, early) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
            let mut seed = 0x2545_f491_4f6c_dd1du64;
            let t0 = Instant::now();
            let handles: Vec<_> = (0..10_000)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let d = Duration::from_millis(1 + seed % 50);
                    let (done, early) = (done.clone(), early.clone());
                    spawn(async move {
                        let start = Instant::now();
                        sleep(d).await;
                        if start.elapsed() < d {
                            early.set(early.get() + 1);
                        }
                        done.set(done.get() + 1);
                    })
                })
                .collect();
            let all = async {
                for h in handles {
                    h.await.unwrap();
                }
            };
            timeout(Duration::from_secs(30), all).await.expect("sleeps still pending after 30 s");
            let took = t0.elapsed();
            println!("10,000 sleeps of 1..50 ms took {took:?}");
            assert_eq!((done.get(), early.get()), (10_000, 0));
            assert!(took < Duration::from_secs(10), "{took:?}");
            assert_eq!(timers_pending(), 0);
        });
    });
}

/// 200 sleeps due 10 µs apart (2 ms in all), each checked to fire no earlier
/// than its deadline; returns how many times the idle worker parked.
fn parks_for_staggered_sleeps(resolution: Duration) -> u64 {
    let rt = Runtime::builder().pin(false).timer_resolution(resolution).build().unwrap();
    rt.block_on(async {
        let start = Instant::now() + Duration::from_millis(5);
        let tasks: Vec<_> = (0..200u32)
            .map(|i| {
                spawn(async move {
                    let deadline = start + Duration::from_micros(10) * i;
                    sleep_until(deadline).await;
                    let now = Instant::now();
                    assert!(now >= deadline, "sleep {i} fired {:?} early", deadline - now);
                })
            })
            .collect();
        let parks0 = corering::metrics().unwrap().parks;
        for t in tasks {
            t.await.unwrap();
        }
        corering::metrics().unwrap().parks - parks0
    })
}

#[test]
fn timers_due_within_one_resolution_step_share_a_wake_up() {
    bounded(LIMIT, || {
        // 1 ms steps: the 2 ms of deadlines span at most 3 steps, so at
        // most a few parks (one per step, plus spurious wakes).
        let coarse = parks_for_staggered_sleeps(Duration::from_millis(1));
        assert!(coarse <= 10, "{coarse} parks for 200 timers with 1 ms resolution");
        // Exact deadlines: the worker parks for many of them separately.
        let exact = parks_for_staggered_sleeps(Duration::ZERO);
        assert!(exact > coarse, "exact deadlines parked {exact} times, coarse {coarse}");
    });
}

#[test]
fn timer_resolution_over_a_second_is_refused() {
    let err = Runtime::builder().timer_resolution(Duration::from_millis(1001)).build().err();
    let err = err.expect("a 1.001 s resolution was accepted");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("timer_resolution"), "{err}");
}

/// `timeout(Duration::MAX, f)`, the usual way to say "no timeout", does
/// not overflow the deadline.
#[test]
fn timeout_with_duration_max_does_not_panic() {
    bounded(LIMIT, || {
        rt().block_on(async {
            assert_eq!(timeout(Duration::MAX, async { 7 }).await, Ok(7));
        });
    });
}

/// An interval with a huge period ticks once, then waits (its next
/// deadline does not overflow `Instant`).
#[test]
fn interval_with_a_huge_period_does_not_panic_after_its_first_tick() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let mut every = interval(Duration::MAX);
            every.tick().await; // the first tick is immediate
            let second = timeout(Duration::from_millis(20), every.tick()).await;
            assert!(second.is_err(), "the second tick is far away");
        });
    });
}

/// A `Delay` interval on an idle worker keeps its schedule: a tick fired
/// at the worker's next timer-grid point, a little after its deadline, is
/// not a missed tick. (Were it one, every tick would drift by up to a grid
/// step: with a 20 ms resolution and a 40 ms period, 6 periods took about
/// 340 ms instead of 240.)
#[test]
fn a_delay_interval_does_not_drift_on_an_idle_worker() {
    bounded(LIMIT, || {
        let rt = Runtime::builder()
            .pin(false)
            .timer_resolution(Duration::from_millis(20))
            .build()
            .unwrap();
        rt.block_on(async {
            let period = Duration::from_millis(40);
            let mut every = interval(period);
            every.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let first = every.tick().await;
            let mut last = first;
            for _ in 0..6 {
                last = every.tick().await;
            }
            let span = last - first;
            assert!(
                span < 6 * period + Duration::from_millis(20),
                "6 periods of {period:?} spanned {span:?}"
            );
        });
    });
}

/// `Metrics::timers_pending` counts timers registered and not yet fired or
/// dropped: not a sleep that has fired and is still held.
#[test]
fn timers_pending_does_not_count_fired_timers() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let mut s = std::pin::pin!(sleep(Duration::from_millis(1)));
            s.as_mut().await;
            assert_eq!(timers_pending(), 0, "the sleep has fired");
        });
    });
}

/// Returns the scheduled instants of the ticks after a stall of `stall`
/// past the first tick, and when the stall ended.
fn ticks_after_a_short_stall(
    behavior: MissedTickBehavior,
    period: Duration,
    stall: Duration,
) -> (Instant, Vec<Instant>) {
    rt().block_on(async move {
        let mut every = interval(period);
        every.set_missed_tick_behavior(behavior);
        every.tick().await;
        std::thread::sleep(stall);
        let resumed = Instant::now();
        let mut ticks = Vec::new();
        for _ in 0..3 {
            ticks.push(every.tick().await);
        }
        (resumed, ticks)
    })
}

/// `Skip` after a stall shorter than the lateness tolerance
/// (`timer_resolution` + 5 ms) but longer than several periods: the missed
/// ticks are skipped, not fired at once (an on-time tick never gets a next
/// deadline already in the past).
#[test]
fn interval_skip_with_a_short_period_does_not_burst_after_a_stall() {
    bounded(LIMIT, || {
        let period = Duration::from_millis(1);
        let (resumed, ticks) =
            ticks_after_a_short_stall(MissedTickBehavior::Skip, period, Duration::from_millis(4));
        // ticks[0] is the overdue tick (fires at once); the next must not
        // be a missed one.
        assert!(
            ticks[1] > resumed,
            "Skip fired a missed tick after the stall: {:?} before it ended ({ticks:?})",
            resumed - ticks[1]
        );
    });
}

/// `Delay` after the same short stall: the next tick comes a period after
/// the overdue one, not at once.
#[test]
fn interval_delay_with_a_short_period_does_not_burst_after_a_stall() {
    bounded(LIMIT, || {
        let period = Duration::from_millis(1);
        let (resumed, ticks) =
            ticks_after_a_short_stall(MissedTickBehavior::Delay, period, Duration::from_millis(4));
        assert!(
            ticks[1] >= resumed + period,
            "Delay fired the next tick {:?} before the stall ended ({ticks:?})",
            resumed.saturating_duration_since(ticks[1])
        );
    });
}
