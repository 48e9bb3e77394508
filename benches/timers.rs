//! Many timers on an otherwise idle worker: 256 tasks, each ticking an
//! `Interval`, the intervals staggered evenly so that a deadline falls due
//! every few microseconds. What it costs is mostly wake-ups of the worker;
//! this is the load generator of `benches/echo.rs --rate` without sockets.
//!
//! Run: `cargo bench --bench timers` (optionally `-- --samples 7`).
//!
//! For each total tick rate, corering (default `timer_resolution` of 1 ms,
//! and `Duration::ZERO`, a wake-up per deadline) and a tokio current-thread
//! runtime take turns, sample by sample, each on CPU 1 for 1 s. The table
//! shows the median CPU time (user + system, of the thread) per tick.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

const TASKS: u32 = 256;
const RUN: Duration = Duration::from_secs(1);
const RATES: [f64; 3] = [4_000.0, 40_000.0, 160_000.0];

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec for the call to write.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Nanoseconds of CPU per tick, and the ticks per second reached.
fn measure(run: impl FnOnce(Rc<Cell<u64>>)) -> (f64, f64) {
    let ticks = Rc::new(Cell::new(0));
    let (cpu0, t0) = (thread_cpu(), Instant::now());
    run(ticks.clone());
    let (cpu, wall) = (thread_cpu() - cpu0, t0.elapsed());
    (cpu.as_nanos() as f64 / ticks.get() as f64, ticks.get() as f64 / wall.as_secs_f64())
}

fn corering(rate: f64, resolution: Duration) -> (f64, f64) {
    let rt = corering::Runtime::builder().cpu(1).timer_resolution(resolution).build().unwrap();
    let period = Duration::from_secs_f64(f64::from(TASKS) / rate);
    measure(|ticks| {
        rt.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..TASKS)
                .map(|i| {
                    let ticks = ticks.clone();
                    corering::spawn(async move {
                        let first = start + period / TASKS * i;
                        let mut iv = corering::time::interval_at(first, period);
                        iv.set_missed_tick_behavior(corering::time::MissedTickBehavior::Skip);
                        while start.elapsed() < RUN {
                            iv.tick().await;
                            ticks.set(ticks.get() + 1);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        })
    })
}

fn tokio(rate: f64) -> (f64, f64) {
    common::pin_to_cpu(1);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let period = Duration::from_secs_f64(f64::from(TASKS) / rate);
    measure(|ticks| {
        tokio::task::LocalSet::new().block_on(&rt, async {
            let start = tokio::time::Instant::now();
            let tasks: Vec<_> = (0..TASKS)
                .map(|i| {
                    let ticks = ticks.clone();
                    tokio::task::spawn_local(async move {
                        let first = start + period / TASKS * i;
                        let mut iv = tokio::time::interval_at(first, period);
                        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                        while start.elapsed() < RUN {
                            iv.tick().await;
                            ticks.set(ticks.get() + 1);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        })
    })
}

fn main() {
    let samples = common::samples(5);
    println!("{TASKS} staggered intervals on CPU 1, {samples} sample(s) of {RUN:?} each");
    println!(
        "{:>9} | {:>16} {:>16} {:>16} | {:>10} {:>10}",
        "ticks/s", "corering 1ms", "corering exact", "tokio", "tk/cr 1ms", "tk/exact"
    );
    for rate in RATES {
        let (mut coarse, mut exact, mut tk) = (Vec::new(), Vec::new(), Vec::new());
        let mut reached = f64::INFINITY;
        for s in 0..samples {
            let mut runs: [&mut dyn FnMut(); 3] = [
                &mut || coarse.push(corering(rate, Duration::from_millis(1))),
                &mut || exact.push(corering(rate, Duration::ZERO)),
                &mut || tk.push(tokio(rate)),
            ];
            runs.rotate_left(s % 3);
            for run in runs {
                run();
            }
        }
        let mut ns = |v: &[(f64, f64)]| {
            reached = v.iter().map(|r| r.1).fold(reached, f64::min);
            common::median(&mut v.iter().map(|r| r.0).collect::<Vec<_>>())
        };
        let (c, e, t) = (ns(&coarse), ns(&exact), ns(&tk));
        println!(
            "{rate:>9.0} | {:>13.0} ns {:>13.0} ns {:>13.0} ns | {:>10.2} {:>10.2}",
            c,
            e,
            t,
            t / c,
            t / e
        );
        if reached < rate * 0.9 {
            println!("          (some run reached only {reached:.0} ticks/s)");
        }
    }
}
