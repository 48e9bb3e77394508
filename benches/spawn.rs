//! Spawning and joining tasks, and yielding, on corering and on tokio's
//! current-thread runtime, in the same process, alternating sample by sample.
//!
//! Run: `cargo bench --bench spawn` (optionally `-- --samples 21`).
//! Tracing compiled out, to show that events cost nothing when no
//! subscriber listens: `cargo bench --bench spawn --features tracing/max_level_off`.
//!
//! No tracing subscriber is installed. Both runtimes run on this thread,
//! pinned to CPU 0. The table shows the median ns per operation of each and
//! the median of the per-sample ratios corering / tokio (below 1.00 means
//! corering is faster).

mod common;

use std::hint::black_box;
use std::time::Instant;

const TASKS: u32 = 100_000;
const YIELDS: u32 = 1_000_000;

fn spawn_join_corering(rt: &corering::Runtime) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..TASKS).map(|i| corering::spawn(async move { i })).collect();
        let mut sum = 0u64;
        for h in handles {
            sum += h.await.unwrap() as u64;
        }
        black_box(sum);
        start.elapsed().as_nanos() as f64 / TASKS as f64
    })
}

fn spawn_join_tokio(rt: &tokio::runtime::Runtime) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..TASKS).map(|i| tokio::spawn(async move { i })).collect();
        let mut sum = 0u64;
        for h in handles {
            sum += h.await.unwrap() as u64;
        }
        black_box(sum);
        start.elapsed().as_nanos() as f64 / TASKS as f64
    })
}

fn yield_corering(rt: &corering::Runtime) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        let t = corering::spawn(async {
            for _ in 0..YIELDS {
                corering::yield_now().await;
            }
        });
        t.await.unwrap();
        start.elapsed().as_nanos() as f64 / YIELDS as f64
    })
}

fn yield_tokio(rt: &tokio::runtime::Runtime) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        let t = tokio::spawn(async {
            for _ in 0..YIELDS {
                tokio::task::yield_now().await;
            }
        });
        t.await.unwrap();
        start.elapsed().as_nanos() as f64 / YIELDS as f64
    })
}

fn main() {
    let samples = common::samples(11);
    let ours = corering::Runtime::builder().cpu(0).build().unwrap();
    let peer = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    println!("tasks, median of {samples} samples (ns per operation, lower is better)");
    println!("{:<24} {:>10} {:>10} {:>9}", "workload", "corering", "tokio", "ratio");
    type Case = (&'static str, fn(&corering::Runtime) -> f64, fn(&tokio::runtime::Runtime) -> f64);
    let cases: [Case; 2] = [
        ("spawn + join", spawn_join_corering, spawn_join_tokio),
        ("yield_now", yield_corering, yield_tokio),
    ];
    for (name, ours_fn, peer_fn) in cases {
        ours_fn(&ours); // warm-up
        peer_fn(&peer);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for i in 0..samples {
            if i % 2 == 0 {
                a.push(ours_fn(&ours));
                b.push(peer_fn(&peer));
            } else {
                b.push(peer_fn(&peer));
                a.push(ours_fn(&ours));
            }
        }
        let mut ratios: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x / y).collect();
        let ratio = common::median(&mut ratios);
        let (a, b) = (common::median(&mut a), common::median(&mut b));
        println!("{name:<24} {a:>10.1} {b:>10.1} {ratio:>9.3}");
    }
    let m = ours.metrics();
    println!("corering enters per yield: {:.4}", m.enters as f64 / m.tasks_polled as f64);
}
