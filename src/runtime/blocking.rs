//! `spawn_blocking`: a pool of plain threads for blocking work (a blocking
//! syscall, a CPU-heavy computation, a library without async), so that a
//! worker's other tasks keep running.
//!
//! The pool belongs to the runtime and is shared by its workers. Its
//! threads are made on demand up to a bound, run on the CPUs the process
//! allowed when the runtime was built (never a worker's single pinned CPU),
//! and exit after sitting idle for a while. A job's result goes to its
//! `JoinHandle`, whose waker reaches the awaiting worker through its ring
//! (the eventfd read it keeps armed).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::affinity;

type Job = Box<dyn FnOnce() + Send>;

/// The blocking pool of one runtime.
pub(crate) struct BlockingPool {
    state: Mutex<State>,
    /// Signalled when a job is queued or the pool shuts down.
    work: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    /// The CPUs pool threads run on: the building thread's set before any
    /// pinning.
    cpus: Vec<usize>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    shutdown: bool,
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration, cpus: Vec<usize>) -> Self {
        BlockingPool {
            state: Mutex::default(),
            work: Condvar::new(),
            max_threads,
            keep_alive,
            cpus,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock (and under `catch_unwind`), so nothing
        // panics while it is held; the state is consistent regardless.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue `job`, starting a thread if none is idle and the bound allows;
    /// otherwise it waits for a thread to free up. Dropped (its handle sees
    /// it cancelled) once the pool has shut down.
    pub(crate) fn spawn(self: &Arc<Self>, job: Job) {
        let mut state = self.lock();
        if state.shutdown {
            drop(state);
            drop(job);
            return;
        }
        state.queue.push_back(job);
        if state.idle > 0 {
            self.work.notify_one();
        }
        // More jobs queued than idle threads to take them (a woken thread
        // counts as idle until it takes the lock): start one more, so that
        // two jobs never wait on one thread while the pool has room.
        if state.queue.len() > state.idle && state.threads < self.max_threads {
            state.threads += 1;
            drop(state);
            let pool = self.clone();
            let started = std::thread::Builder::new()
                .name("corering-blocking".into())
                .spawn(move || pool.run());
            if let Err(e) = started {
                tracing::error!(error = %e, "could not start a blocking-pool thread");
                let mut state = self.lock();
                state.threads -= 1;
                if state.threads == 0 {
                    // No thread will ever take them: cancel them now.
                    let queued = std::mem::take(&mut state.queue);
                    drop(state);
                    drop(queued);
                }
            }
        }
    }

    /// A pool thread: run jobs until idle for `keep_alive`, or shutdown.
    fn run(&self) {
        if let Err(e) = affinity::set_cpus(&self.cpus) {
            tracing::warn!(error = %e, "blocking-pool thread keeps its inherited CPU set");
        }
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job(); // it catches its own panic
                state = self.lock();
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let (s, timeout) =
                self.work.wait_timeout(state, self.keep_alive).unwrap_or_else(|e| e.into_inner());
            state = s;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() {
                break;
            }
        }
        state.threads -= 1;
    }

    /// The runtime is gone: queued jobs are dropped (their handles see them
    /// cancelled), idle threads exit; running jobs finish on their own.
    pub(crate) fn shut_down(&self) {
        let queued = {
            let mut state = self.lock();
            state.shutdown = true;
            std::mem::take(&mut state.queue)
        };
        self.work.notify_all();
        drop(queued);
    }
}
