//! Tasks: spawn and join, `!Send` tasks, detaching, abort, panics, yielding,
//! the per-tick budget, and what happens outside a runtime.

mod common;

use std::cell::{Cell, RefCell};
use std::future::{Future, pending};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use common::bounded;
use corering::time::{sleep, timeout};
use corering::{Handle, Runtime, spawn, yield_now};

const LIMIT: Duration = Duration::from_secs(30);

fn rt() -> Runtime {
    Runtime::builder().pin(false).build().unwrap()
}

/// The message of a panic payload (`panic!` with or without formatting).
fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("a string payload")
}

#[test]
fn spawned_task_output_is_joined() {
    bounded(LIMIT, || {
        let out = rt().block_on(async {
            let h = spawn(async {
                sleep(Duration::from_millis(2)).await;
                6 * 7
            });
            assert!(!h.is_finished(), "the task is still sleeping");
            let out = timeout(Duration::from_secs(5), h).await.unwrap().unwrap();
            (out, corering::metrics().unwrap().tasks_spawned)
        });
        assert_eq!(out, (42, 1));
    });
}

#[test]
fn not_send_task_runs_and_is_awaited() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let shared = Rc::new(RefCell::new(vec![1]));
            let mine = shared.clone();
            let h = spawn(async move {
                yield_now().await;
                mine.borrow_mut().push(2);
                Rc::strong_count(&mine)
            });
            assert_eq!(h.await.unwrap(), 2, "the task held its Rc while it ran");
            assert_eq!(*shared.borrow(), [1, 2]);
            assert_eq!(Rc::strong_count(&shared), 1, "the finished task dropped its Rc");
        });
    });
}

#[test]
fn dropping_the_join_handle_detaches_the_task() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let done = Rc::new(Cell::new(false));
            let flag = done.clone();
            drop(spawn(async move {
                sleep(Duration::from_millis(5)).await;
                flag.set(true);
            }));
            assert!(!done.get());
            let wait = async {
                while !done.get() {
                    sleep(Duration::from_millis(1)).await;
                }
            };
            timeout(Duration::from_secs(5), wait).await.expect("the detached task never finished");
        });
    });
}

/// Records, when dropped, the thread it was dropped on.
struct Guard(Rc<Cell<Option<ThreadId>>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(Some(std::thread::current().id()));
    }
}

#[test]
fn abort_cancels_a_sleeping_task_and_drops_its_future_on_the_worker() {
    bounded(LIMIT, || {
        let rt = rt();
        rt.block_on(async {
            let dropped_on = Rc::new(Cell::new(None));
            let started = Rc::new(Cell::new(false));
            let guard = Guard(dropped_on.clone());
            let s = started.clone();
            let h = spawn(async move {
                let _guard = guard;
                s.set(true);
                sleep(Duration::from_secs(60)).await;
                unreachable!("the sleep was aborted");
            });
            while !started.get() {
                yield_now().await;
            }
            assert_eq!(corering::metrics().unwrap().timers_pending, 1);
            assert_eq!(dropped_on.get(), None);
            h.abort();
            let err =
                timeout(Duration::from_secs(5), h).await.expect("abort took effect").unwrap_err();
            assert!(err.is_cancelled() && !err.is_panic(), "{err}");
            assert_eq!(
                dropped_on.get(),
                Some(std::thread::current().id()),
                "dropped on the worker"
            );
            assert_eq!(corering::metrics().unwrap().timers_pending, 0, "the sleep's timer is gone");
        });
    });
}

#[test]
fn abort_after_the_task_finished_has_no_effect() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let h = spawn(async { 1 });
            while !h.is_finished() {
                yield_now().await;
            }
            h.abort();
            assert_eq!(h.await.unwrap(), 1);
        });
    });
}

/// A task whose future was dropped at shutdown never completes: its handle
/// should then report it cancelled (as after `abort`), not stay pending.
#[test]
fn a_join_handle_outliving_its_runtime_reports_cancelled() {
    bounded(LIMIT, || {
        let first = rt();
        let h = first.handle().spawn(std::future::pending::<()>());
        first.block_on(yield_now()); // the task runs once and stays pending
        assert!(!h.is_finished());
        drop(first);
        let r = rt().block_on(timeout(Duration::from_secs(1), h));
        let err = r.expect("the handle stayed pending").unwrap_err();
        assert!(err.is_cancelled(), "{err}");
    });
}

#[test]
fn tasks_spawned_through_a_handle_before_block_on_run_in_it() {
    bounded(LIMIT, || {
        let rt = rt();
        let h = rt.handle().spawn(async { Handle::try_current().is_ok() });
        assert!(!h.is_finished(), "nothing runs outside block_on");
        let ran = rt.block_on(async { timeout(Duration::from_secs(5), h).await });
        assert!(ran.expect("the task never ran").unwrap());
    });
}

#[test]
fn a_panicking_task_yields_its_payload_and_the_worker_goes_on() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let sleeper = spawn(async {
                sleep(Duration::from_millis(20)).await;
                "still here"
            });
            let h = spawn(async {
                yield_now().await;
                panic!("boom {}", 42);
            });
            let err = h.await.unwrap_err();
            assert!(err.is_panic() && !err.is_cancelled(), "{err}");
            assert_eq!(err.to_string(), "task panicked: boom 42");
            assert_eq!(message(&*err.into_panic()), "boom 42");
            assert_eq!(sleeper.await.unwrap(), "still here", "a task spawned before");
            assert_eq!(spawn(async { 1 }).await.unwrap(), 1, "a task spawned after");
        });
    });
}

#[test]
fn a_panic_in_block_on_propagates_and_the_runtime_stays_usable() {
    bounded(LIMIT, || {
        let rt = rt();
        let done = Rc::new(Cell::new(false));
        let flag = done.clone();
        let caught = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async move {
                drop(spawn(async move {
                    sleep(Duration::from_millis(5)).await;
                    flag.set(true);
                }));
                panic!("inside block_on");
            })
        }));
        assert_eq!(message(&*caught.unwrap_err()), "inside block_on");
        assert!(Handle::try_current().is_err(), "the panic left the runtime entered");
        // The task spawned before the panic still runs on the next block_on.
        rt.block_on(async {
            let wait = async {
                while !done.get() {
                    sleep(Duration::from_millis(1)).await;
                }
            };
            timeout(Duration::from_secs(5), wait).await.expect("the task was lost");
        });
    });
}

#[test]
fn yield_now_lets_other_tasks_run() {
    bounded(LIMIT, || {
        let log = rt().block_on(async {
            let log = Rc::new(RefCell::new(Vec::new()));
            let task = |name: &'static str| {
                let log = log.clone();
                spawn(async move {
                    log.borrow_mut().push((name, 1));
                    yield_now().await;
                    log.borrow_mut().push((name, 2));
                })
            };
            let (a, b) = (task("a"), task("b"));
            a.await.unwrap();
            b.await.unwrap();
            log.take()
        });
        assert_eq!(log, [("a", 1), ("b", 1), ("a", 2), ("b", 2)]);
    });
}

#[test]
fn tasks_that_always_yield_do_not_starve_a_timer() {
    bounded(LIMIT, || {
        let rt = Runtime::builder().pin(false).event_budget(4).build().unwrap();
        rt.block_on(async {
            let spins = Rc::new(Cell::new(0u64));
            let spinners: Vec<_> = (0..16)
                .map(|_| {
                    let spins = spins.clone();
                    spawn(async move {
                        loop {
                            spins.set(spins.get() + 1);
                            yield_now().await;
                        }
                    })
                })
                .collect();
            let start = Instant::now();
            let sleeper = spawn(async {
                sleep(Duration::from_millis(10)).await;
                Instant::now()
            });
            let woke = timeout(Duration::from_secs(5), sleeper).await.expect("starved").unwrap();
            let took = woke - start;
            assert!(took >= Duration::from_millis(10), "woke early: {took:?}");
            assert!(took < Duration::from_secs(2), "woke late: {took:?}");
            assert!(spins.get() > 100, "the spinners competed: {} polls", spins.get());
            for s in spinners {
                s.abort();
            }
        });
    });
}

#[test]
fn try_current_is_ok_only_inside_a_runtime() {
    bounded(LIMIT, || {
        let err = Handle::try_current().unwrap_err();
        assert!(err.to_string().contains("no corering runtime"), "{err}");
        assert!(corering::metrics().is_none());
        let rt = rt();
        assert!(Handle::try_current().is_err(), "building a runtime does not enter it");
        let (outer, inner) = rt.block_on(async {
            let inner = spawn(async { Handle::try_current().is_ok() }).await.unwrap();
            (Handle::try_current().is_ok(), inner)
        });
        assert!(outer && inner);
        assert!(Handle::try_current().is_err(), "block_on left the runtime entered");
    });
}

#[test]
fn spawn_outside_a_runtime_panics_with_a_clear_message() {
    let payload = catch_unwind(|| drop(spawn(async {}))).unwrap_err();
    let msg = message(&*payload);
    assert!(msg.contains("no corering runtime"), "{msg}");
}

#[test]
fn spawning_through_a_handle_after_shutdown_reports_cancelled() {
    bounded(LIMIT, || {
        let first = rt();
        let handle = first.handle();
        drop(first);
        let ran = Rc::new(Cell::new(false));
        let h = {
            let ran = ran.clone();
            handle.spawn(async move { ran.set(true) })
        };
        let r = rt().block_on(timeout(Duration::from_secs(1), h));
        let err = r.expect("the handle stayed pending").unwrap_err();
        assert!(err.is_cancelled(), "{err}");
        assert!(!ran.get());
    });
}

/// A task that yields is polled again in the next tick, after the worker
/// has submitted and reaped, not again in the same one.
#[test]
fn a_yielding_task_is_polled_once_per_tick() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let h = spawn(async {
                let t0 = metrics().ticks;
                for _ in 0..10 {
                    yield_now().await;
                }
                metrics().ticks - t0
            });
            let ticks = h.await.unwrap();
            assert!(ticks >= 10, "10 yields spanned only {ticks} ticks");
        });
    });
}

/// Sets its flag when dropped.
struct SetOnDrop(Rc<Cell<bool>>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("panic in drop");
        }
    }
}

/// Aborting a task whose future panics while being dropped: the panic is
/// the task's (its `JoinHandle` reports it), not the worker's; it must not
/// unwind out of `block_on` and take every other task with it.
#[test]
fn a_panic_while_dropping_an_aborted_task_does_not_escape_block_on() {
    bounded(LIMIT, || {
        let rt = rt();
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async {
                let h = spawn(async {
                    let _g = PanicOnDrop;
                    pending::<()>().await;
                });
                yield_now().await;
                h.abort();
                let e = h.await.unwrap_err();
                (e.is_cancelled(), e.is_panic())
            })
        }));
        let (cancelled, panicked) = out.expect("the task's drop panic escaped block_on");
        assert!(cancelled || panicked);
    });
}

/// How many tasks a `SpawnOnDrop` waker spawned.
static SPAWNED_ON_DROP: AtomicUsize = AtomicUsize::new(0);

/// A waker that, when its last clone is dropped, spawns a clean-up task on
/// the current runtime (Send + Sync, entirely safe code).
struct SpawnOnDrop;

impl Wake for SpawnOnDrop {
    fn wake(self: Arc<Self>) {}
}

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        if corering::Handle::try_current().is_ok() {
            drop(spawn(async {}));
            SPAWNED_ON_DROP.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// An operation polled with one waker, then with another: the replaced
/// waker is dropped out of the driver's borrow, so its `Drop` may use the
/// runtime (here, spawn) without an `already borrowed` panic.
#[test]
fn dropping_a_replaced_waker_may_spawn() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let (a, _b) = corering::net::UnixStream::pair().unwrap();
            let mut read = pin!(a.read(vec![0u8; 16]));
            let w1 = Waker::from(Arc::new(SpawnOnDrop));
            assert!(read.as_mut().poll(&mut Context::from_waker(&w1)).is_pending());
            drop(w1); // the driver holds the last clone now
            // Polled again by its real task: the driver drops `w1` here.
            let r = timeout(Duration::from_millis(10), read).await;
            assert!(r.is_err(), "nothing was written");
            assert_eq!(SPAWNED_ON_DROP.load(Ordering::Relaxed), 1);
        });
    });
}

thread_local! {
    static RT: Runtime = rt();
}

/// A runtime kept in a `thread_local!` (the usual per-thread pattern) is
/// dropped when its thread exits, possibly after corering's own
/// thread-local is gone; a panic there would abort the whole process. Run
/// in a child process, which must exit cleanly.
#[test]
fn a_runtime_in_a_thread_local_is_dropped_at_thread_exit_without_aborting() {
    if std::env::var_os("CORERING_TLS_CHILD").is_some() {
        std::thread::spawn(|| {
            RT.with(|rt| rt.block_on(async { sleep(Duration::from_millis(1)).await }));
        })
        .join()
        .unwrap();
        return;
    }
    bounded(LIMIT, || {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_runtime_in_a_thread_local_is_dropped_at_thread_exit_without_aborting",
            ])
            .args(["--nocapture", "--test-threads=1"])
            .env("CORERING_TLS_CHILD", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "child {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

fn metrics() -> corering::Metrics {
    corering::metrics().unwrap()
}

/// The output of a detached task (its handle dropped) is dropped by the
/// task, and a panic in that drop is caught: it must not unwind through
/// the worker out of `block_on`.
#[test]
fn a_detached_tasks_output_panicking_in_drop_does_not_panic_block_on() {
    bounded(LIMIT, || {
        let rt = rt();
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async {
                drop(corering::spawn(async { PanicOnDrop }));
                // One that waits first: it lets go of its join state at
                // that wait, so its output is dropped another way.
                let dropped = Rc::new(Cell::new(false));
                let flag = dropped.clone();
                drop(corering::spawn(async move {
                    sleep(Duration::from_millis(1)).await;
                    (PanicOnDrop, SetOnDrop(flag))
                }));
                while !dropped.get() {
                    sleep(Duration::from_millis(1)).await;
                }
                7
            })
        }));
        assert_eq!(res.ok(), Some(7), "block_on panicked from a detached task's output drop");
    });
}
