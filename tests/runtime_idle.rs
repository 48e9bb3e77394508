//! An idle worker parks in the kernel: no busy loop, no early wake-ups.

mod common;

use std::time::{Duration, Instant};

use common::bounded;
use corering::Runtime;
use corering::time::sleep;

const LIMIT: Duration = Duration::from_secs(30);

/// CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into `ts`, alive for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn an_idle_runtime_uses_almost_no_cpu() {
    bounded(LIMIT, || {
        let rt = Runtime::builder().pin(false).build().unwrap();
        let (cpu0, t0) = (thread_cpu_time(), Instant::now());
        rt.block_on(sleep(Duration::from_millis(1500)));
        let (cpu, wall) = (thread_cpu_time() - cpu0, t0.elapsed());
        let parks = rt.metrics().parks;
        println!("slept {wall:?} using {cpu:?} of CPU, {parks} parks");
        assert!(wall >= Duration::from_millis(1500), "woke early: {wall:?}");
        assert!(cpu < Duration::from_millis(100), "busy while idle: {cpu:?} of CPU");
        assert!((1..20).contains(&parks), "{parks} parks for one timer");
    });
}

#[test]
fn a_lone_timer_parks_the_worker_until_its_deadline() {
    bounded(LIMIT, || {
        let rt = Runtime::builder().pin(false).build().unwrap();
        let before = rt.metrics();
        let t0 = Instant::now();
        rt.block_on(sleep(Duration::from_millis(50)));
        let took = t0.elapsed();
        let after = rt.metrics();
        assert!(took >= Duration::from_millis(50), "woke early: {took:?}");
        assert!(took < Duration::from_secs(5), "woke late: {took:?}");
        assert!(after.parks > before.parks, "the worker never parked");
        assert!(after.ticks - before.ticks < 20, "{} ticks: spinning", after.ticks - before.ticks);
        assert_eq!(after.timers_pending, 0);
    });
}
