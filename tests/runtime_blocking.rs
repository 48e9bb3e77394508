//! `spawn_blocking`: blocking work on a pool of unpinned threads, bounded,
//! whose idle threads exit; the worker's other tasks keep running.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{bounded, serial};
use corering::time::sleep;
use corering::{Runtime, spawn, spawn_blocking};

fn allowed() -> Vec<usize> {
    // SAFETY: a zeroed set is valid; the kernel writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set), 0);
        (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
    }
}

fn blocking_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|t| {
            let comm = t.as_ref().unwrap().path().join("comm");
            std::fs::read_to_string(comm).is_ok_and(|c| c.trim() == "corering-blocki")
        })
        .count()
}

#[test]
fn a_blocking_call_does_not_stall_the_workers_other_tasks() {
    let _serial = serial(); // pool threads are counted
    bounded(Duration::from_secs(30), || {
        let rt = Runtime::new_default().unwrap();
        rt.block_on(async {
            let ticks = Arc::new(AtomicUsize::new(0));
            let t = ticks.clone();
            let ticker = spawn(async move {
                loop {
                    sleep(Duration::from_millis(10)).await;
                    t.fetch_add(1, Ordering::Relaxed);
                }
            });
            let start = Instant::now();
            let out = spawn_blocking(|| {
                std::thread::sleep(Duration::from_millis(300));
                std::thread::current().name().map(str::to_owned)
            })
            .await
            .unwrap();
            assert!(start.elapsed() >= Duration::from_millis(300));
            assert_eq!(out.as_deref(), Some("corering-blocking"));
            let n = ticks.load(Ordering::Relaxed);
            assert!(n >= 10, "the worker ticked only {n} times while the call blocked");
            ticker.abort();
            // A panic in the job is the handle's error.
            let err = spawn_blocking(|| panic!("blocked and broke")).await.unwrap_err();
            assert!(err.is_panic() && err.to_string().contains("blocked and broke"));
        });
    });
}

#[test]
fn pool_threads_are_not_pinned_to_the_workers_cpu() {
    let _serial = serial(); // pool threads are counted
    let cpus = allowed();
    if cpus.len() < 2 {
        println!("skipped: needs 2 allowed CPUs, this thread may use {cpus:?}");
        return;
    }
    bounded(Duration::from_secs(30), move || {
        let rt = Runtime::builder().pin(true).build().unwrap();
        rt.block_on(async {
            assert_eq!(allowed().len(), 1, "the worker is pinned");
            let theirs = spawn_blocking(allowed).await.unwrap();
            assert_eq!(theirs, cpus, "a pool thread runs on the process's CPUs");
        });
    });
}

#[test]
fn the_pool_is_bounded_and_idle_threads_exit() {
    let _serial = serial();
    bounded(Duration::from_secs(30), || {
        let rt = Runtime::builder()
            .max_blocking_threads(2)
            .blocking_keep_alive(Duration::from_millis(100))
            .build()
            .unwrap();
        rt.block_on(async {
            let running = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let jobs: Vec<_> = (0..6)
                .map(|_| {
                    let (running, most) = (running.clone(), most.clone());
                    spawn_blocking(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                })
                .collect();
            for j in jobs {
                j.await.unwrap();
            }
            assert_eq!(most.load(Ordering::SeqCst), 2, "at most 2 ran at once");
            assert!(blocking_threads() <= 2);
            sleep(Duration::from_millis(400)).await;
            assert_eq!(blocking_threads(), 0, "idle threads exit after the keep-alive");
        });
    });
}

#[test]
fn queued_jobs_are_cancelled_when_the_runtime_goes() {
    let _serial = serial(); // pool threads are counted
    bounded(Duration::from_secs(30), || {
        let rt = Runtime::builder().max_blocking_threads(1).build().unwrap();
        let (first, second) = rt.block_on(async {
            let first = spawn_blocking(|| std::thread::sleep(Duration::from_millis(200)));
            let second = spawn_blocking(|| 1);
            sleep(Duration::from_millis(20)).await;
            (first, second)
        });
        drop(rt);
        let other = Runtime::new_default().unwrap();
        assert!(other.block_on(second).unwrap_err().is_cancelled());
        other.block_on(first).unwrap(); // the running one finished on its own
    });
}

/// Two blocking jobs spawned while one pool thread is idle both go to that
/// thread (each spawn sees `idle > 0` until the thread wakes and takes the
/// lock), even though the pool may start more: a job that waits for the
/// other never sees it run. Busy threads widen the window, as a loaded
/// machine does.
#[test]
fn spawn_blocking_with_one_idle_thread_runs_two_jobs_concurrently() {
    let _serial = serial(); // pool threads are counted
    bounded(Duration::from_secs(60), || {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinners: Vec<_> = (0..4)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        let rt = Runtime::builder().max_blocking_threads(8).build().unwrap();
        let failed = rt.block_on(async {
            let mut failed = 0;
            for _ in 0..10 {
                spawn_blocking(|| ()).await.unwrap();
                // Let the pool thread(s) go idle (waiting on the condvar).
                corering::time::sleep(Duration::from_millis(20)).await;
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                let a = spawn_blocking(move || rx.recv_timeout(Duration::from_secs(1)).is_ok());
                let b = spawn_blocking(move || {
                    let _ = tx.send(());
                });
                if !a.await.unwrap() {
                    failed += 1;
                }
                let _ = b.await;
            }
            failed
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        spinners.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(failed, 0, "{failed}/10 times job A waited 1 s for job B, queued behind it");
    });
}
