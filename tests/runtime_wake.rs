//! Wakers cross threads: a wake from a plain thread reaches a worker parked
//! in the kernel, and late wakes (task finished, runtime gone) are no-ops.

mod common;

use std::cell::Cell;
use std::future::{pending, poll_fn};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use common::bounded;
use corering::net::UnixStream;
use corering::{Runtime, spawn, yield_now};

const LIMIT: Duration = Duration::from_secs(30);

fn rt() -> Runtime {
    Runtime::builder().pin(false).build().unwrap()
}

/// The waker of the future polling this, captured without blocking.
async fn my_waker() -> Waker {
    poll_fn(|cx| Poll::Ready(cx.waker().clone())).await
}

/// A task pending until a flag, woken by a thread that is not a worker
/// after the worker has had 100 ms to park (with no timer to end the park).
fn woken_from_a_plain_thread(in_spawned_task: bool) {
    bounded(LIMIT, move || {
        let rt = rt();
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let flag = Arc::new(AtomicBool::new(false));
        let waker_thread = {
            let (slot, flag) = (slot.clone(), flag.clone());
            thread::spawn(move || {
                let t0 = Instant::now();
                while slot.lock().unwrap().is_none() {
                    assert!(t0.elapsed() < Duration::from_secs(10), "no waker was stored");
                    thread::sleep(Duration::from_millis(1));
                }
                thread::sleep(Duration::from_millis(100));
                flag.store(true, Ordering::SeqCst);
                let waker = slot.lock().unwrap().take().unwrap();
                let woke_at = Instant::now();
                waker.wake();
                woke_at
            })
        };
        let wait = poll_fn(move |cx| {
            if flag.load(Ordering::SeqCst) {
                return Poll::Ready(Instant::now());
            }
            *slot.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        });
        let parks = rt.metrics().parks;
        let done_at = if in_spawned_task {
            rt.block_on(async { spawn(wait).await.unwrap() })
        } else {
            rt.block_on(wait)
        };
        let woke_at = waker_thread.join().unwrap();
        let lag = done_at.saturating_duration_since(woke_at);
        assert!(lag < Duration::from_secs(1), "completed {lag:?} after the wake");
        assert!(rt.metrics().parks > parks, "the worker parked while it waited");
    });
}

#[test]
fn a_plain_thread_wakes_a_spawned_task_on_a_parked_worker() {
    woken_from_a_plain_thread(true);
}

#[test]
fn a_plain_thread_wakes_the_block_on_future_on_a_parked_worker() {
    woken_from_a_plain_thread(false);
}

#[test]
fn waking_a_finished_task_is_a_no_op_even_when_its_slot_is_reused() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let stale = spawn(my_waker()).await.unwrap();
            // The next task likely takes the finished task's slot.
            let polls = Rc::new(Cell::new(0));
            let p = polls.clone();
            let live = spawn(poll_fn(move |_| {
                p.set(p.get() + 1);
                Poll::<()>::Pending
            }));
            yield_now().await;
            assert_eq!(polls.get(), 1);
            stale.wake_by_ref();
            let from_thread = stale.clone();
            thread::spawn(move || from_thread.wake()).join().unwrap();
            for _ in 0..10 {
                yield_now().await;
            }
            assert_eq!(polls.get(), 1, "a stale waker polled another task");
            live.abort();
            assert!(live.await.unwrap_err().is_cancelled());
            drop(stale);
        });
    });
}

#[test]
fn wakers_outliving_their_runtime_are_no_ops() {
    bounded(LIMIT, || {
        let first = rt();
        // One waker per scenario: a task's first wake is the one that goes
        // anywhere (later ones see it already notified).
        let (block_on_waker, [alone, in_other_rt, on_thread]) = first.block_on(async {
            let (tx, rx) = std::sync::mpsc::channel();
            for _ in 0..3 {
                let tx = tx.clone();
                drop(spawn(async move {
                    tx.send(my_waker().await).unwrap();
                    pending::<()>().await; // still pending when the runtime goes
                }));
            }
            yield_now().await;
            let tasks: Vec<Waker> = rx.try_iter().collect();
            (my_waker().await, <[Waker; 3]>::try_from(tasks).unwrap())
        });
        drop(first);
        // Same thread, no runtime.
        alone.wake_by_ref();
        drop(alone);
        // Same thread, inside another runtime: the old wakers must not
        // reach it.
        rt().block_on(async {
            block_on_waker.wake_by_ref();
            in_other_rt.wake();
            assert_eq!(spawn(async { 5 }).await.unwrap(), 5);
        });
        // Another thread: wake, clone, drop.
        thread::spawn(move || {
            let clone = on_thread.clone();
            on_thread.wake_by_ref();
            clone.wake();
            drop(on_thread);
            drop(block_on_waker);
        })
        .join()
        .expect("a late wake from another thread panicked");
    });
}

/// Wakers, and the values a task hands across threads, are Send + Sync.
#[test]
fn cross_thread_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Waker>();
    assert_send_sync::<corering::JoinError>();
    assert_send_sync::<corering::Metrics>();
    assert_send_sync::<corering::TryCurrentError>();
    assert_send_sync::<corering::time::Elapsed>();
}

/// A task on one runtime wakes a task on another runtime's parked worker:
/// the wake travels as a `MSG_RING` from the waker's ring.
#[test]
fn a_worker_wakes_another_parked_worker_through_its_ring() {
    bounded(LIMIT, || {
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let flag = Arc::new(AtomicBool::new(false));
        let parked = {
            let (slot, flag) = (slot.clone(), flag.clone());
            thread::spawn(move || {
                rt().block_on(poll_fn(move |cx| {
                    if flag.load(Ordering::SeqCst) {
                        return Poll::Ready(Instant::now());
                    }
                    *slot.lock().unwrap() = Some(cx.waker().clone());
                    Poll::Pending
                }))
            })
        };
        let waker_rt = rt();
        let woke_at = waker_rt.block_on(async {
            let t0 = Instant::now();
            while slot.lock().unwrap().is_none() {
                assert!(t0.elapsed() < Duration::from_secs(10), "no waker was stored");
                corering::time::sleep(Duration::from_millis(1)).await;
            }
            corering::time::sleep(Duration::from_millis(100)).await; // let it park
            flag.store(true, Ordering::SeqCst);
            let waker = slot.lock().unwrap().take().unwrap();
            let at = Instant::now();
            waker.wake();
            at
        });
        let done_at = parked.join().unwrap();
        assert!(done_at.duration_since(woke_at) < Duration::from_secs(1));
        assert_eq!(waker_rt.metrics().msg_wakes_sent, 1, "the wake did not go by MSG_RING");
    });
}

/// A completion reaped while a task's poll fills the SQ (the driver submits
/// to make room, and reaps) must wake its task in this tick: the worker
/// must not park with that waker unwoken, which would leave the task asleep
/// until some other completion or timer ended the park (here the 3 s rescue
/// timer; without it, forever).
#[test]
fn a_completion_reaped_while_the_sq_is_full_wakes_its_task_without_waiting_for_another_event() {
    let waited = bounded(LIMIT, || {
        let rt = Runtime::builder().pin(false).ring_entries(8).build().unwrap();
        rt.block_on(async {
            let (a, _a_peer) = UnixStream::pair().unwrap();
            // Sockets that never get data: reads on them stay in flight.
            let idle: Vec<(UnixStream, UnixStream)> =
                (0..16).map(|_| UnixStream::pair().unwrap()).collect();
            let start = Instant::now();
            let res = corering::time::timeout(Duration::from_secs(3), async {
                // Polled first: its send is queued, not yet submitted...
                let writer = spawn(async move { a.write(b"x").await.0 });
                // ...then these fill the 8-entry SQ; the submit that makes
                // room completes the send inline and reaps it.
                let mut keep = Vec::new();
                for (s, peer) in idle {
                    keep.push(spawn(async move {
                        let _peer = peer;
                        let _ = s.read(vec![0u8; 8]).await;
                    }));
                }
                let n = writer.await.unwrap().unwrap();
                drop(keep);
                n
            })
            .await;
            assert_eq!(res.expect("timed out: the writer was never woken"), 1);
            start.elapsed()
        })
    });
    assert!(
        waited < Duration::from_secs(1),
        "the writer's completed send woke it only after {waited:?} (the rescue timer)"
    );
}
