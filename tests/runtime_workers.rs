//! Thread per core: N workers, each a thread with its own ring; tasks
//! spawned onto a chosen worker; messages between workers through the
//! ecosystem's runtime-agnostic channels; pinning; shutdown.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{bounded, open_fds, serial};
use corering::time::sleep;
use corering::{Faults, Runtime, spawn, spawn_on, spawn_on_all, worker_count, worker_id};

fn rt(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).build().unwrap()
}

/// The CPU the calling thread runs on.
fn cpu_now() -> usize {
    // SAFETY: sched_getcpu has no arguments.
    unsafe { libc::sched_getcpu() as usize }
}

/// The calling thread's allowed CPUs.
fn allowed() -> Vec<usize> {
    // SAFETY: a zeroed set is valid; the kernel writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set), 0);
        (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
    }
}

/// Worker threads of this process (`corering-w*`; the test harness starts
/// threads of its own meanwhile, which are not counted).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|t| {
            let comm = t.as_ref().unwrap().path().join("comm");
            std::fs::read_to_string(comm).is_ok_and(|c| c.starts_with("corering-w"))
        })
        .count()
}

#[test]
fn spawn_on_runs_on_each_worker_its_own_thread_and_pinned_cpu() {
    let _serial = serial();
    let cpus = allowed();
    if cpus.len() < 2 {
        println!("skipped: needs 2 allowed CPUs, this thread may use {cpus:?}");
        return;
    }
    bounded(Duration::from_secs(30), move || {
        let rt = Runtime::builder().workers(2).pin(true).build().unwrap();
        assert_eq!(rt.worker_count(), 2);
        let seen = rt.block_on(async {
            assert_eq!((worker_id(), worker_count()), (0, 2));
            let mut seen = Vec::new();
            for h in spawn_on_all(|| async {
                // Not Send: built on the worker, never leaves it.
                let here = std::rc::Rc::new(worker_id());
                sleep(Duration::from_millis(1)).await;
                let name = std::thread::current().name().map(str::to_owned);
                (*here, name, cpu_now(), allowed())
            }) {
                seen.push(h.await.unwrap());
            }
            seen
        });
        assert_eq!(seen[0].0, 0);
        assert_eq!(seen[1].0, 1);
        assert_eq!(seen[1].1.as_deref(), Some("corering-w1"));
        for (i, (_, _, cpu, set)) in seen.iter().enumerate() {
            assert_eq!(*cpu, cpus[i], "worker {i} runs on its CPU");
            assert_eq!(set, &[cpus[i]], "worker {i} is pinned to one CPU");
        }
    });
}

#[test]
fn default_runtimes_do_not_pin_so_they_never_stack() {
    let _serial = serial();
    let before = allowed();
    let seen: Vec<Vec<usize>> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                let rt = Runtime::new_default().unwrap();
                assert_eq!(rt.cpu(), None);
                rt.block_on(async { allowed() })
            })
        })
        .map(|t| t.join().unwrap())
        .collect();
    for set in seen {
        assert_eq!(set, before, "a default runtime left its thread's CPU set alone");
    }
    let rt = rt(2);
    let sets = rt.block_on(async {
        let mut sets = Vec::new();
        for h in spawn_on_all(|| async { allowed() }) {
            sets.push(h.await.unwrap());
        }
        sets
    });
    assert!(sets.iter().all(|s| *s == before), "unpinned workers keep the whole set: {sets:?}");
}

#[test]
fn more_pinned_workers_than_cpus_is_invalid_input() {
    let _serial = serial(); // threads and fds are counted
    let n = allowed().len() + 1;
    let err = Runtime::builder().workers(n).pin(true).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("pin(false)"), "{err}");
    // Unpinned, as many as asked.
    let rt = Runtime::builder().workers(n).build().unwrap();
    assert_eq!(rt.worker_count(), n);
    let err = Runtime::builder().workers(2).cpu(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn workers_zero_means_one_per_allowed_cpu() {
    let _serial = serial(); // threads and fds are counted
    let rt = Runtime::builder().workers(0).build().unwrap();
    assert_eq!(rt.worker_count(), allowed().len());
    let rt = Runtime::builder().workers_per_cpu().build().unwrap();
    assert_eq!(rt.worker_count(), allowed().len());
}

#[test]
#[should_panic(expected = "no worker 2: this runtime has 2")]
fn spawn_on_a_worker_that_does_not_exist_panics_clearly() {
    let _serial = serial(); // threads and fds are counted
    let rt = rt(2);
    rt.block_on(async {
        drop(spawn_on(2, || async {}));
    });
}

#[test]
fn join_handles_cross_threads_and_abort_from_anywhere() {
    let _serial = serial(); // threads and fds are counted
    bounded(Duration::from_secs(30), || {
        let rt = rt(2);
        rt.block_on(async {
            // Awaited from a plain thread.
            let h = spawn_on(1, || async { worker_id() * 10 + 7 });
            let from_thread = std::thread::spawn(move || {
                let rt = Runtime::new_default().unwrap();
                rt.block_on(h).unwrap()
            });
            // Aborted from worker 1 while it sleeps on worker 0.
            let victim = spawn(async {
                sleep(Duration::from_secs(60)).await;
            });
            let abort = spawn_on(1, move || async move { victim.abort() });
            abort.await.unwrap();
            while !from_thread.is_finished() {
                sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(from_thread.join().unwrap(), 17);
            // The future that panics while being built: the handle says so.
            let bad = spawn_on(1, || -> std::future::Ready<()> { panic!("no future today") });
            let err = bad.await.unwrap_err();
            assert!(err.is_panic() && err.to_string().contains("no future today"), "{err}");
        });
    });
}

#[test]
fn a_cross_worker_wake_reaches_a_parked_worker() {
    let _serial = serial(); // threads and fds are counted
    bounded(Duration::from_secs(30), || {
        let rt = rt(2);
        rt.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
            // Worker 1 parks in its ring awaiting the message.
            let receiver = spawn_on(1, move || async move { rx.await.unwrap() });
            sleep(Duration::from_millis(100)).await;
            let parks = worker_parks(1).await;
            assert!(parks > 0, "worker 1 parked while it waited");
            tx.send(42).unwrap();
            assert_eq!(receiver.await.unwrap(), 42);
        });
    });
}

/// Worker `i`'s park count, read on that worker.
async fn worker_parks(i: usize) -> u64 {
    spawn_on(i, || async { corering::metrics().unwrap().parks }).await.unwrap()
}

#[test]
fn a_million_u64_over_a_channel_between_two_workers_in_order() {
    let _serial = serial(); // threads and fds are counted
    bounded(Duration::from_secs(120), || {
        let rt = rt(2);
        rt.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1024);
            let producer = spawn_on(1, move || async move {
                for i in 0..1_000_000u64 {
                    tx.send(i).await.unwrap();
                }
                // Dropping the sender ends the receiver.
            });
            let mut next = 0u64;
            while let Some(v) = rx.recv().await {
                assert_eq!(v, next, "out of order");
                next += 1;
            }
            assert_eq!(next, 1_000_000);
            producer.await.unwrap();
        });
    });
}

#[test]
fn ecosystem_channels_work_across_workers_with_the_receiver_parked() {
    let _serial = serial(); // threads and fds are counted
    bounded(Duration::from_secs(60), || {
        let rt = rt(2);
        rt.block_on(async {
            // tokio::sync::Notify
            let notify = Arc::new(tokio::sync::Notify::new());
            let n2 = notify.clone();
            let waiter = spawn_on(1, move || async move { n2.notified().await });
            sleep(Duration::from_millis(50)).await;
            notify.notify_one();
            waiter.await.unwrap();

            // async-channel, receiver on worker 1 parked first.
            let (tx, rx) = async_channel::bounded::<u32>(4);
            let sum = spawn_on(1, move || async move {
                let mut sum = 0;
                while let Ok(v) = rx.recv().await {
                    sum += v;
                }
                sum
            });
            sleep(Duration::from_millis(50)).await;
            for v in 1..=100 {
                tx.send(v).await.unwrap();
            }
            drop(tx);
            assert_eq!(sum.await.unwrap(), 5050);

            // futures-channel oneshot and mpsc, the other way round.
            let (otx, orx) = futures_channel::oneshot::channel::<&'static str>();
            let sender = spawn_on(1, move || async move {
                sleep(Duration::from_millis(50)).await;
                otx.send("hello").unwrap();
            });
            assert_eq!(orx.await.unwrap(), "hello");
            sender.await.unwrap();
            let (mut mtx, mut mrx) = futures_channel::mpsc::channel::<u8>(2);
            let sender = spawn_on(1, move || async move {
                for i in 0..50 {
                    std::future::poll_fn(|cx| mtx.poll_ready(cx)).await.unwrap();
                    mtx.start_send(i).unwrap();
                }
            });
            let mut got = Vec::new();
            while let Some(v) = std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(std::pin::Pin::new(&mut mrx), cx)
            })
            .await
            {
                got.push(v);
            }
            assert_eq!(got, (0..50).collect::<Vec<_>>());
            sender.await.unwrap();
        });
    });
}

#[test]
fn shutdown_with_work_on_every_worker_leaves_no_fd_and_no_thread() {
    let _serial = serial();
    bounded(Duration::from_secs(60), || {
        let (fds, threads_before) = (open_fds(), threads());
        let dropped = Arc::new(AtomicUsize::new(0));
        {
            let rt = rt(3);
            assert_eq!(threads(), threads_before + 2, "workers 1 and 2 have threads");
            let d = dropped.clone();
            rt.block_on(async move {
                for h in spawn_on_all(move || {
                    let d = d.clone();
                    async move {
                        // An open listener with an accept in flight, a
                        // socket with a read in flight, a sleeping task.
                        let l = corering::net::TcpListener::bind("127.0.0.1:0").unwrap();
                        let (a, _b) = corering::net::UnixStream::pair().unwrap();
                        let guard = Bump(d.clone());
                        spawn(async move {
                            let _g = guard;
                            let _ = a.read(Vec::with_capacity(64)).await;
                        });
                        let guard = Bump(d.clone());
                        spawn(async move {
                            let _g = guard;
                            let _ = l.accept().await;
                        });
                        let guard = Bump(d);
                        spawn(async move {
                            let _g = guard;
                            sleep(Duration::from_secs(3600)).await;
                        });
                        std::mem::forget(_b); // the peer stays open: the read waits
                    }
                }) {
                    h.await.unwrap();
                }
                sleep(Duration::from_millis(20)).await;
            });
        }
        assert_eq!(dropped.load(Ordering::SeqCst), 9, "every task was dropped at shutdown");
        assert_eq!(threads(), threads_before, "every worker thread was joined");
        // The forgotten peers (3) stay open; nothing else does.
        assert_eq!(open_fds(), fds + 3, "fds leaked");
    });
}

struct Bump(Arc<AtomicUsize>);

impl Drop for Bump {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn an_idle_multi_worker_runtime_uses_no_cpu() {
    let _serial = serial(); // threads and fds are counted
    bounded(Duration::from_secs(30), || {
        let rt = rt(2);
        rt.block_on(async {
            let on_1 = || async { spawn_on(1, || async { thread_cpu() }).await.unwrap() };
            let before = thread_cpu() + on_1().await;
            let wall = Instant::now();
            sleep(Duration::from_millis(500)).await;
            let used = thread_cpu() + on_1().await - before;
            let wall = wall.elapsed();
            println!("idle 2-worker runtime: {used:?} CPU in {wall:?} (both workers' threads)");
            // Parked workers cost nothing; allow for the timer wake-up and
            // the two spawns that read the clocks.
            assert!(used < Duration::from_millis(25), "{used:?} of CPU while idle");
            assert!(worker_parks(1).await > 0);
        });
    });
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    // SAFETY: getrusage writes one rusage into `ru`.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[test]
fn a_worker_that_panics_outside_any_task_makes_block_on_panic_clearly() {
    let _serial = serial(); // threads and fds are counted
    bounded(Duration::from_secs(30), || {
        let rt = Runtime::builder()
            .workers(2)
            .faults(Faults { panic_in_worker: Some(1), ..Faults::default() })
            .build()
            .unwrap();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(sleep(Duration::from_secs(60)));
        }));
        let msg = run.expect_err("block_on must panic");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("corering worker 1 panicked"), "{msg}");
        drop(rt); // and the drop does not hang
    });
}

#[test]
fn a_worker_stuck_in_a_task_is_left_behind_after_the_timeout() {
    let _serial = serial(); // threads and fds are counted
    bounded(Duration::from_secs(30), || {
        let before = threads();
        let rt = Runtime::builder()
            .workers(2)
            .shutdown_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        rt.block_on(async {
            drop(spawn_on(1, || async {
                // Never yields (for 3 s).
                std::thread::sleep(Duration::from_secs(3));
            }));
            sleep(Duration::from_millis(50)).await;
        });
        let start = Instant::now();
        drop(rt);
        let took = start.elapsed();
        assert!(took < Duration::from_secs(2), "the drop waited {took:?} for a stuck worker");
        // The thread left behind ends with its task (then its worker shuts
        // down on it); wait for that, so no other test counts it.
        while threads() > before {
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}

#[test]
fn a_worker_failing_to_start_is_reported_promptly() {
    let _serial = serial(); // fds are counted, and the fd limit changes
    let fds = || -> Vec<i32> {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect()
    };
    // How many fds one worker takes.
    let before = fds().len();
    let rt = Runtime::builder().build().unwrap();
    let per_worker = fds().len() - before;
    drop(rt);
    // Room for workers 0 and 1 only: worker 2 fails with EMFILE. Holes
    // below the highest open fd are filled so that the limit counts.
    let open = fds();
    let max = *open.iter().max().unwrap();
    let fillers: Vec<i32> = (0..max)
        .filter(|fd| !open.contains(fd))
        // SAFETY: dup of stdin; each filler is closed below.
        .map(|_| unsafe { libc::dup(0) })
        .collect();
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read or write one rlimit, alive here.
    unsafe { assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0) };
    let old = lim;
    lim.rlim_cur = (max + 1) as u64 + 2 * per_worker as u64;
    // SAFETY: as above.
    unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0) };
    let start = Instant::now();
    let res = Runtime::builder().workers(3).build();
    let took = start.elapsed();
    // SAFETY: as above; then each filler we dup'ed is closed once.
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &old), 0);
        for fd in fillers {
            libc::close(fd);
        }
    }
    let err = res.expect_err("worker 2 had no fds to start with");
    assert!(err.to_string().contains("worker 2"), "{err}");
    assert!(took < Duration::from_secs(2), "reporting the failure took {took:?}");
    assert_eq!(fds().len(), before, "the workers that started were shut down and closed");
}
