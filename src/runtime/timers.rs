//! One worker's timer store: a min-heap of deadlines over a slab of timers.
//!
//! Cancelling a timer only frees its slab entry; its heap entry goes stale
//! and is skipped when it reaches the top, or swept out when stale entries
//! outnumber live ones. So dropping most of a million timers costs no wake-up
//! of the worker and no heap search, and the park's timeout is always the
//! nearest *live* deadline. Pure logic: no ring, no clock reads.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

/// A registered timer: its slab key and the id that tells it from a later
/// timer in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    key: usize,
    id: u64,
}

struct Timer {
    /// Identity: fixed for the timer's life.
    id: u64,
    /// Names the timer's current heap entry; older entries are stale.
    epoch: u64,
    waker: Option<Waker>,
    fired: bool,
}

#[derive(Default)]
pub(crate) struct Timers {
    /// `(deadline, epoch, slab key)`, nearest deadline on top.
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    timers: Slab<Timer>,
    next_id: u64,
    /// Timers registered, not fired and not removed.
    unfired: usize,
}

impl Timers {
    /// Register a timer for `deadline`.
    pub(crate) fn insert(&mut self, deadline: Instant) -> TimerKey {
        self.next_id += 1;
        let id = self.next_id;
        let key = self.timers.insert(Timer { id, epoch: id, waker: None, fired: false });
        self.heap.push(Reverse((deadline, id, key)));
        self.unfired += 1;
        TimerKey { key, id }
    }

    /// Move a timer to a new deadline (it becomes unfired).
    pub(crate) fn reset(&mut self, t: TimerKey, deadline: Instant) {
        self.next_id += 1;
        let epoch = self.next_id;
        let Some(timer) = self.timers.get_mut(t.key).filter(|timer| timer.id == t.id) else {
            return;
        };
        self.unfired += usize::from(timer.fired);
        timer.fired = false;
        // The old heap entry goes stale: it names the previous epoch.
        timer.epoch = epoch;
        self.heap.push(Reverse((deadline, epoch, t.key)));
        self.maybe_compact();
    }

    /// `Ready` once the timer fired; otherwise remember the waker. Returns
    /// the waker it replaced, for the caller to drop out of its borrow of
    /// the store (a waker's drop may run user code).
    pub(crate) fn poll(&mut self, t: TimerKey, cx: &Context<'_>) -> (Poll<()>, Option<Waker>) {
        let Some(timer) = self.timers.get_mut(t.key).filter(|timer| timer.id == t.id) else {
            return (Poll::Ready(()), None);
        };
        if timer.fired {
            return (Poll::Ready(()), None);
        }
        match &timer.waker {
            Some(w) if w.will_wake(cx.waker()) => (Poll::Pending, None),
            _ => (Poll::Pending, timer.waker.replace(cx.waker().clone())),
        }
    }

    /// Forget a timer (its future was dropped or finished). Returns its
    /// waker, to be dropped out of the caller's borrow.
    #[must_use]
    pub(crate) fn remove(&mut self, t: TimerKey) -> Option<Waker> {
        if self.timers.get(t.key).is_none_or(|timer| timer.id != t.id) {
            return None;
        }
        let timer = self.timers.remove(t.key);
        self.unfired -= usize::from(!timer.fired);
        self.maybe_compact();
        timer.waker
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.heap.capacity() + self.timers.capacity()
    }

    /// Timers registered and not removed.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.timers.len()
    }

    /// Timers registered, not yet fired and not removed.
    pub(crate) fn pending(&self) -> usize {
        self.unfired
    }

    /// The nearest live deadline of an unfired timer.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, id, key))) = self.heap.peek() {
            if self.is_live(id, key) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Fire every timer due at `now`, collecting their wakers. Returns how
    /// many fired.
    pub(crate) fn fire_due(&mut self, now: Instant, wakers: &mut Vec<Waker>) -> usize {
        let mut fired = 0;
        while let Some(&Reverse((deadline, id, key))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if self.is_live(id, key) {
                let timer = &mut self.timers[key];
                timer.fired = true;
                self.unfired -= 1;
                wakers.extend(timer.waker.take());
                fired += 1;
            }
        }
        fired
    }

    fn is_live(&self, epoch: u64, key: usize) -> bool {
        self.timers.get(key).is_some_and(|t| t.epoch == epoch && !t.fired)
    }

    /// Sweep stale heap entries once they outnumber live timers (and are
    /// many), so a storm of cancelled timers does not hold memory until
    /// their deadlines pass. Amortised O(1) per cancellation.
    fn maybe_compact(&mut self) {
        let live = self.timers.len();
        if self.heap.len() > 1024 && self.heap.len() > 2 * live + 64 {
            let timers = &self.timers;
            self.heap.retain(|&Reverse((_, epoch, key))| {
                timers.get(key).is_some_and(|t| t.epoch == epoch && !t.fired)
            });
        }
    }
}

/// When an idle worker should wake for `deadline`: the first point of the
/// grid `origin + k * resolution` at or after it (the deadline itself when
/// `resolution` is zero). Every timer due in the same grid step then fires
/// in one wake-up, and none fires early.
pub(crate) fn wake_point(deadline: Instant, origin: Instant, resolution: Duration) -> Instant {
    let res = resolution.as_nanos();
    if res == 0 {
        return deadline;
    }
    let since = deadline.saturating_duration_since(origin).as_nanos();
    let steps = since.div_ceil(res);
    u64::try_from(steps * res)
        .ok()
        .and_then(|nanos| origin.checked_add(Duration::from_nanos(nanos)))
        .map_or(deadline, |point| point.max(deadline))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;
    use std::time::Duration;

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn fires_in_deadline_order_and_only_when_due() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let late = timers.insert(t0 + Duration::from_secs(2));
        let early = timers.insert(t0 + Duration::from_secs(1));
        assert!(timers.poll(early, &cx()).0.is_pending());
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_secs(1)));
        let mut w = Vec::new();
        assert_eq!(timers.fire_due(t0, &mut w), 0);
        assert_eq!(timers.fire_due(t0 + Duration::from_millis(1500), &mut w), 1);
        assert_eq!(w.len(), 1, "the waker of the polled timer");
        assert!(timers.poll(early, &cx()).0.is_ready());
        assert!(timers.poll(late, &cx()).0.is_pending());
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn removed_timers_do_not_fire_or_bound_the_park() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let a = timers.insert(t0 + Duration::from_secs(1));
        let b = timers.insert(t0 + Duration::from_secs(5));
        let _ = timers.remove(a);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_secs(5)));
        let _ = timers.remove(b);
        assert_eq!(timers.next_deadline(), None);
        assert_eq!(timers.fire_due(t0 + Duration::from_secs(10), &mut Vec::new()), 0);
    }

    #[test]
    fn a_reused_slot_does_not_inherit_the_old_timer() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let old = timers.insert(t0 + Duration::from_secs(1));
        let _ = timers.remove(old);
        let new = timers.insert(t0 + Duration::from_secs(3)); // same slab slot
        let _ = timers.remove(old); // stale key: must not remove `new`
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.fire_due(t0 + Duration::from_secs(2), &mut Vec::new()), 0);
        assert!(timers.poll(new, &cx()).0.is_pending());
    }

    #[test]
    fn reset_moves_the_deadline() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let t = timers.insert(t0 + Duration::from_secs(1));
        timers.reset(t, t0 + Duration::from_secs(3));
        let mut w = Vec::new();
        assert_eq!(timers.fire_due(t0 + Duration::from_secs(2), &mut w), 0);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_secs(3)));
    }

    #[test]
    fn a_million_timers_mostly_cancelled_stay_small() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let keys: Vec<TimerKey> =
            (0..1_000_000u64).map(|i| timers.insert(t0 + Duration::from_micros(i))).collect();
        for (i, k) in keys.iter().enumerate() {
            if i % 100 != 0 {
                let _ = timers.remove(*k);
            }
        }
        assert_eq!(timers.len(), 10_000);
        assert!(timers.heap.len() < 3 * 10_000 + 2048, "stale entries were swept");
        let mut w = Vec::new();
        assert_eq!(timers.fire_due(t0 + Duration::from_secs(2), &mut w), 10_000);
    }

    #[test]
    fn wake_points_fall_on_the_grid_and_never_early() {
        let origin = Instant::now();
        let ms = Duration::from_millis(1);
        let at = |us: u64| origin + Duration::from_micros(us);
        // Deadlines inside one step share its end; one on the grid stays.
        assert_eq!(wake_point(at(1), origin, ms), at(1000));
        assert_eq!(wake_point(at(999), origin, ms), at(1000));
        assert_eq!(wake_point(at(1000), origin, ms), at(1000));
        assert_eq!(wake_point(at(1001), origin, ms), at(2000));
        // A zero resolution wakes for the deadline itself.
        assert_eq!(wake_point(at(1001), origin, Duration::ZERO), at(1001));
        // Before the origin: never earlier than the deadline.
        assert!(wake_point(origin - ms, origin, ms) >= origin - ms);
        // Far away: no overflow, and still not early.
        let far = origin + Duration::from_secs(u64::MAX / 4);
        assert!(wake_point(far, origin, Duration::from_secs(7)) >= far);
    }

    #[test]
    fn pending_counts_timers_not_fired_and_not_removed() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let (a, b, c) =
            (timers.insert(t0 + s), timers.insert(t0 + 2 * s), timers.insert(t0 + 3 * s));
        assert_eq!(timers.pending(), 3);
        assert_eq!(timers.fire_due(t0 + s, &mut Vec::new()), 1);
        assert_eq!(timers.pending(), 2, "a fired");
        let _ = timers.remove(a);
        assert_eq!(timers.pending(), 2, "removing a fired timer changes nothing");
        timers.reset(b, t0 + 4 * s);
        assert_eq!(timers.pending(), 2, "resetting an unfired timer changes nothing");
        assert_eq!(timers.fire_due(t0 + 3 * s, &mut Vec::new()), 1);
        assert_eq!(timers.pending(), 1, "c fired");
        timers.reset(c, t0 + 5 * s);
        assert_eq!(timers.pending(), 2, "c armed again");
        let _ = timers.remove(b);
        let _ = timers.remove(c);
        assert_eq!(timers.pending(), 0);
    }
}
