//! A runtime's workers: what they share (each one's inbox), the threads of
//! workers 1..n, their start and their shutdown.
//!
//! Worker 0 runs on the thread that built the runtime and drives
//! `block_on`. Each other worker is a thread of its own (`corering-w{i}`),
//! pinned to its CPU when pinning is on, with its own ring, buffer ring,
//! timers and tasks, running its loop until the runtime stops it. Workers
//! share nothing but their inboxes: wakes and jobs (spawns) sent to a
//! worker go through its [`Remote`], which wakes it if it is parked in the
//! kernel (a `MSG_RING` from the sender's ring, or its eventfd).

use std::any::Any;
use std::io;
use std::rc::Rc;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use super::builder::Builder;
use super::task::Remote;
use super::{Worker, affinity, context};

/// What a runtime's workers share.
pub(crate) struct Shared {
    /// Each worker's inbox, by index.
    pub(crate) workers: Vec<Arc<Remote>>,
    /// Threads for `spawn_blocking`.
    pub(crate) blocking: Arc<super::blocking::BlockingPool>,
}

/// Worker `index`, built on the calling thread (pinned first, if asked).
pub(crate) fn build_worker(
    b: &Builder,
    index: usize,
    cpu: Option<usize>,
) -> io::Result<(Rc<Worker>, Option<affinity::Pinned>)> {
    let pinned = match cpu {
        Some(cpu) => Some(affinity::pin(Some(cpu))?),
        None => None,
    };
    let worker = super::new_worker(b, index)?;
    Ok((worker, pinned))
}

/// A worker on a thread of its own.
pub(crate) struct WorkerThread {
    index: usize,
    handle: Option<thread::JoinHandle<()>>,
    /// Closed when the thread is done (its sender drops, whatever the
    /// thread did): what the runtime's drop waits on, with a deadline.
    done: mpsc::Receiver<()>,
}

/// Workers `1..n`, started and waiting for [`Shared`].
pub(crate) struct Started {
    /// Their inboxes, in order.
    pub(crate) remotes: Vec<Arc<Remote>>,
    pub(crate) threads: Vec<WorkerThread>,
    /// Where each waits for `Shared`, its cue to run.
    pub(crate) go: Vec<mpsc::Sender<Arc<Shared>>>,
}

/// Start workers `1..n` on threads of their own. Each builds its worker and
/// reports back; then it waits for `Shared` (everyone's inbox), which
/// arrives once all have started. On any failure the ones started are
/// stopped and the error returned.
pub(crate) fn start(b: &Builder, cpus: &[Option<usize>]) -> io::Result<Started> {
    let mut remotes = Vec::new();
    let mut threads = Vec::new();
    let mut go = Vec::new();
    for (index, &cpu) in cpus.iter().enumerate().skip(1) {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (shared_tx, shared_rx) = mpsc::channel::<Arc<Shared>>();
        let (done_tx, done) = mpsc::channel::<()>();
        let b = b.clone();
        let spawned = thread::Builder::new().name(format!("corering-w{index}")).spawn(move || {
            let _done = done_tx;
            let (worker, pinned) = match build_worker(&b, index, cpu) {
                Ok(w) => w,
                Err(e) => return drop(ready_tx.send(Err(e))),
            };
            let _ = ready_tx.send(Ok(worker.remote().clone()));
            if let Ok(shared) = shared_rx.recv() {
                worker.set_shared(shared.clone());
                let panic = b.faults.panic_in_worker == Some(index);
                run_worker(&worker, &shared, panic);
            }
            let _enter = context::enter(worker.clone());
            worker.shut_down();
            drop(_enter);
            drop(worker);
            drop(pinned);
        });
        let thread = match spawned {
            Ok(handle) => WorkerThread { index, handle: Some(handle), done },
            Err(e) => {
                drop(go); // the started ones wait for it: now they shut down
                stop(&remotes, threads, Duration::from_secs(10));
                return Err(e);
            }
        };
        match ready_rx.recv() {
            Ok(Ok(remote)) => {
                remotes.push(remote);
                threads.push(thread);
                go.push(shared_tx);
            }
            failed => {
                threads.push(thread);
                drop(go); // the started ones wait for it: now they shut down
                stop(&remotes, threads, Duration::from_secs(10));
                let e = match failed {
                    Ok(Err(e)) => e,
                    _ => io::Error::other("a worker thread died while starting"),
                };
                return Err(io::Error::new(e.kind(), format!("worker {index}: {e}")));
            }
        }
    }
    Ok(Started { remotes, threads, go })
}

/// A worker's loop on its own thread. A panic outside any task (a bug in
/// the runtime) or a failed ring is sent to worker 0 as a job that panics
/// with its message there, so that `block_on` reports it.
fn run_worker(worker: &Rc<Worker>, shared: &Arc<Shared>, inject_panic: bool) {
    let _enter = context::enter(worker.clone());
    let index = worker.index;
    let run = || {
        assert!(!inject_panic, "a panic injected by Faults::panic_in_worker");
        worker.run()
    };
    let failure = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(())) => return,
        Ok(Err(e)) => format!("corering worker {index}: io_uring_enter failed: {e}"),
        Err(p) => format!("corering worker {index} panicked: {}", message(&*p)),
    };
    tracing::error!("{failure}");
    let _ = shared.workers[0].send(Box::new(move || panic!("{failure}")));
}

/// A panic payload's message.
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a non-string payload)".into())
}

/// Stop workers `1..`: ask each to stop, then wait for their threads until
/// `timeout` has passed. A worker still running then (a task that never
/// yields) is reported and its thread left behind, not waited on forever.
pub(crate) fn stop(remotes: &[Arc<Remote>], threads: Vec<WorkerThread>, timeout: Duration) {
    for remote in remotes {
        remote.stop();
    }
    let deadline = Instant::now() + timeout;
    for mut t in threads {
        let left = deadline.saturating_duration_since(Instant::now());
        match t.done.recv_timeout(left) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::error!(
                    worker = t.index,
                    "worker did not stop within {timeout:?} (a task there never yields); \
                     leaving its thread running"
                );
            }
            _ => {
                if let Some(h) = t.handle.take() {
                    let _ = h.join();
                }
            }
        }
    }
}
