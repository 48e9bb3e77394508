//! One worker: a thread's ring (the driver), its tasks, its run queue, its
//! timers, and the loop that turns them.
//!
//! Each tick polls at most `event_budget` ready tasks, fires due timers,
//! then enters the kernel once (or, with nothing queued and nothing in the
//! kernel, only reads the CQ): without waiting if anything is runnable,
//! otherwise parked until a completion, a remote wake, or the nearest timer
//! deadline (`IORING_ENTER_EXT_ARG`), whichever comes first. That deadline
//! is rounded up to the worker's timer grid (`Builder::timer_resolution`),
//! so timers due close together cost one wake-up, not one each.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

use super::buf_pool::BufPool;
use super::driver::Driver;
use super::join::{CancelOnDrop, JoinHandle, JoinState, TaskFuture};
use super::metrics::Metrics;
use super::pool::Shared;
use super::shutdown;
use super::task::{BLOCK_ON, Header, Job, Remote, TaskId};
use super::timers::{Timers, wake_point};

type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

struct TaskSlot {
    header: Arc<Header>,
    /// `None` while the task is being polled.
    future: Option<BoxFuture>,
}

pub(crate) struct Worker {
    pub(crate) driver: RefCell<Driver>,
    pub(crate) timers: RefCell<Timers>,
    tasks: RefCell<Slab<TaskSlot>>,
    run_queue: RefCell<VecDeque<TaskId>>,
    remote: Arc<Remote>,
    next_generation: Cell<u32>,
    block_on_woken: Cell<bool>,
    /// The task being polled: if it wakes itself (`yield_now`), it waits
    /// in `yielded` for the next tick, after the worker's enter.
    polling: Cell<Option<TaskId>>,
    yielded: RefCell<Vec<TaskId>>,
    budget: usize,
    /// Idle wake-ups for timers fall on the grid `created + k * resolution`.
    timer_grid: (Instant, Duration),
    /// The tick's list of wakers to wake, kept between ticks so a tick
    /// allocates nothing.
    wakers: Cell<Vec<Waker>>,
    pub(crate) span: tracing::Span,
    /// This worker's place in its runtime (0 runs `block_on`).
    pub(crate) index: usize,
    /// What the runtime's workers share; set once all have started.
    shared: OnceCell<Arc<Shared>>,
    /// Jobs other threads sent here (the receiving end of `remote`'s).
    jobs: mpsc::Receiver<Job>,
    /// "runtime started" was logged.
    announced: Cell<bool>,
}

impl Worker {
    pub(crate) fn new(
        driver: Driver,
        (remote, jobs): (Arc<Remote>, mpsc::Receiver<Job>),
        index: usize,
        budget: usize,
        timer_resolution: Duration,
    ) -> Worker {
        let span = tracing::trace_span!("worker", index, id = remote.worker);
        Worker {
            driver: RefCell::new(driver),
            timers: RefCell::new(Timers::default()),
            tasks: RefCell::new(Slab::new()),
            run_queue: RefCell::new(VecDeque::new()),
            remote,
            next_generation: Cell::new(0),
            block_on_woken: Cell::new(true),
            polling: Cell::new(None),
            yielded: RefCell::new(Vec::new()),
            budget,
            timer_grid: (Instant::now(), timer_resolution),
            wakers: Cell::new(Vec::new()),
            span,
            index,
            shared: OnceCell::new(),
            jobs,
            announced: Cell::new(false),
        }
    }

    /// What this worker's runtime shares between its workers.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        self.shared.get().expect("a worker runs only once its runtime has started")
    }

    pub(crate) fn set_shared(&self, shared: Arc<Shared>) {
        let _ = self.shared.set(shared);
    }

    /// Run the worker's tasks until its runtime asks it to stop (the loop
    /// of every worker but the one running `block_on`).
    ///
    /// # Errors
    ///
    /// The ring failed (an enter error other than EINTR/EBUSY).
    pub(crate) fn run(&self) -> io::Result<()> {
        let _span = self.span.enter();
        self.block_on_woken.set(false); // no block_on here
        while !self.remote.is_stopping() {
            self.tick()?;
        }
        Ok(())
    }

    /// Stop for good, on the worker's thread: drop every task here, cancel
    /// and drain every operation in flight, close the inbox. `false` if the
    /// kernel did not finish in time: the worker is then leaked, never
    /// freed, since the kernel may still write into its memory.
    pub(crate) fn shut_down(self: &Rc<Self>) -> bool {
        self.drop_tasks();
        while let Some(job) = self.remote.take_job(&self.jobs) {
            drop(job); // a spawn that never ran: its handle sees it cancelled
        }
        self.driver.borrow_mut().start_drain();
        let deadline = std::time::Instant::now() + shutdown::DRAIN_LIMIT;
        let drained = loop {
            let step = self.driver.borrow_mut().drain_step(deadline);
            match step {
                shutdown::Drain::Done => break true,
                // Outside the borrow: wakes and drops may use the worker.
                shutdown::Drain::Waiting(dead, woken) => {
                    woken.into_iter().for_each(Waker::wake);
                    drop(dead);
                }
                shutdown::Drain::Failed => break false,
            }
        };
        self.remote.close();
        while let Some(job) = self.remote.take_job(&self.jobs) {
            drop(job);
        }
        if !drained {
            // The kernel still holds operations pointing at memory the
            // worker owns: leak the worker rather than free that memory.
            tracing::warn!("in-flight operations did not finish at shutdown; leaking the ring");
            std::mem::forget(self.clone());
        }
        drained
    }

    /// The step of the grid its idle wake-ups for timers fall on.
    pub(crate) fn timer_resolution(&self) -> Duration {
        self.timer_grid.1
    }

    pub(crate) fn id(&self) -> usize {
        self.remote.worker
    }

    pub(crate) fn remote(&self) -> &Arc<Remote> {
        &self.remote
    }

    /// The worker's buffer pool, created on first use.
    ///
    /// # Errors
    ///
    /// Registering the buffer ring failed (a kernel before 5.19, or memory).
    pub(crate) fn with_bufs<R>(&self, f: impl FnOnce(&mut BufPool) -> R) -> io::Result<R> {
        Ok(f(self.driver.borrow_mut().with_bufs()?))
    }

    /// Put a woken task on the run queue.
    pub(crate) fn schedule(&self, task: TaskId) {
        if task == BLOCK_ON {
            self.block_on_woken.set(true);
        } else if self.polling.get() == Some(task) {
            self.yielded.borrow_mut().push(task);
        } else {
            self.run_queue.borrow_mut().push_back(task);
        }
    }

    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let state = JoinState::new();
        self.spawn_with(future, CancelOnDrop(state.clone()));
        JoinHandle::new(state)
    }

    /// Spawn `future`, whose output goes to `state`'s handle.
    pub(crate) fn spawn_with<F>(&self, future: F, state: CancelOnDrop<F::Output>)
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        if self.remote.is_closed() {
            // The runtime has shut down: the task can never run. Its handle
            // reports it cancelled rather than waiting forever.
            drop(TaskFuture::new(future, state));
            return;
        }
        let join = state.0.clone();
        let future: BoxFuture = Box::pin(TaskFuture::new(future, state));
        let generation = self.next_generation.get().wrapping_add(1);
        self.next_generation.set(generation);
        let mut tasks = self.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        let id = TaskId { key: entry.key() as u32, generation };
        let header = Header::new(id, self.remote.clone());
        let waker = header.waker();
        entry.insert(TaskSlot { header, future: Some(future) });
        drop(tasks);
        self.driver.borrow_mut().counters.tasks_spawned += 1;
        tracing::trace!(task = id.key, "spawn");
        join.set_task(waker.clone(), self.id());
        waker.wake();
    }

    /// Run `future` to completion on this thread, driving every task.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _span = self.span.enter();
        let header = Header::new(BLOCK_ON, self.remote.clone());
        let waker = header.waker();
        let mut cx = Context::from_waker(&waker);
        self.block_on_woken.set(true);
        // Flushes when dropped, after the future (declared before it), on
        // return and on unwind alike.
        let _flush = Flush(self);
        {
            // Dropped at the end of this block, before the flush.
            let mut future = std::pin::pin!(future);
            loop {
                if self.block_on_woken.replace(false) {
                    header.clear_notified();
                    let polled = future.as_mut().poll(&mut cx);
                    self.announce();
                    if let Poll::Ready(out) = polled {
                        break out;
                    }
                }
                if let Err(e) = self.tick() {
                    // An enter that fails for reasons other than EINTR/EBUSY
                    // means the ring is unusable; nothing can make progress.
                    panic!("corering worker: io_uring_enter failed: {e}");
                }
            }
        }
    }

    /// Say "runtime started", once, after the first poll of the first
    /// `block_on` future: by then a `#[corering::main]` function has had
    /// the chance to install a `tracing` subscriber.
    fn announce(&self) {
        if !self.announced.replace(true) {
            let workers = self.shared.get().map_or(1, |s| s.workers.len());
            let flags = self.driver.borrow().ring.setup_flags();
            tracing::debug!(workers, setup_flags = format_args!("{flags:#x}"), "runtime started");
        }
    }

    /// Hand the kernel what is queued when `block_on` returns: the closes
    /// of sockets and the cancels of operations dropped at the end, which
    /// would otherwise wait for the runtime's next enter. A cancel's final
    /// completion usually arrives in the same enter and queues the fd's
    /// close, so this goes round while SQEs are queued, a few times at
    /// most, and never waits.
    fn flush(&self) {
        for _ in 0..4 {
            let mut wakers = self.wakers.take();
            let Ok(mut driver) = self.driver.try_borrow_mut() else { return };
            // What is done with goes first: an orphan's drop may queue the
            // close of the fd it held.
            wakers.append(&mut driver.deferred);
            let dead = std::mem::take(&mut driver.graveyard);
            drop(driver);
            drop(dead);
            let mut driver = self.driver.borrow_mut();
            let res = if driver.queued() == 0 { None } else { Some(driver.submit(&mut wakers)) };
            drop(driver);
            // Tasks woken here run at the next `block_on`.
            wake_all(&mut wakers);
            self.wakers.set(wakers);
            if !matches!(res, Some(Ok(()))) {
                break;
            }
        }
    }

    /// One turn: run ready tasks, fire timers, enter the kernel once.
    fn tick(&self) -> std::io::Result<()> {
        {
            let mut run_queue = self.run_queue.borrow_mut();
            run_queue.extend(self.yielded.borrow_mut().drain(..));
            self.remote.drain_into(&mut run_queue);
        }
        // Jobs sent from other threads (spawns): run here, no borrow held.
        for _ in 0..self.budget {
            match self.remote.take_job(&self.jobs) {
                Some(job) => job(),
                None => break,
            }
        }
        for _ in 0..self.budget {
            let next = self.run_queue.borrow_mut().pop_front();
            match next {
                Some(id) if id == BLOCK_ON => self.block_on_woken.set(true),
                Some(id) => self.run_task(id),
                None => break,
            }
        }
        let mut wakers = self.wakers.take();
        let next_deadline = {
            // The clock is read only when a timer could be due.
            let mut timers = self.timers.borrow_mut();
            match timers.next_deadline() {
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        timers.fire_due(now, &mut wakers);
                    }
                    timers.next_deadline()
                }
                None => None,
            }
        };
        wake_all(&mut wakers);

        {
            let mut driver = self.driver.borrow_mut();
            driver.publish_bufs();
            // Completions reaped while a task's op made room in a full SQ.
            wakers.append(&mut driver.deferred);
        }
        wake_all(&mut wakers);
        let runnable = self.block_on_woken.get()
            || !self.run_queue.borrow().is_empty()
            || !self.yielded.borrow().is_empty();
        let mut driver = self.driver.borrow_mut();
        driver.counters.ticks += 1;
        let res = if runnable || !self.remote.park() {
            driver.poll_events(&mut wakers)
        } else {
            let (origin, resolution) = self.timer_grid;
            let timeout = next_deadline.map(|d| {
                wake_point(d, origin, resolution).saturating_duration_since(Instant::now())
            });
            let res = driver.park(timeout, &mut wakers);
            self.remote.unpark();
            res
        };
        wakers.append(&mut driver.deferred);
        let dead = std::mem::take(&mut driver.graveyard);
        drop(driver);
        drop(dead);
        wake_all(&mut wakers);
        self.wakers.set(wakers);
        res
    }

    fn run_task(&self, id: TaskId) {
        let (waker, mut future) = {
            let mut tasks = self.tasks.borrow_mut();
            match tasks.get_mut(id.key as usize) {
                Some(slot) if slot.header.id() == id => match slot.future.take() {
                    Some(f) => {
                        slot.header.clear_notified();
                        (slot.header.waker(), f)
                    }
                    None => return,
                },
                // Finished (maybe the slot was reused): a stale wake.
                _ => return,
            }
        };
        self.driver.borrow_mut().counters.tasks_polled += 1;
        self.polling.set(Some(id));
        let poll = {
            let _span = tracing::trace_span!("task", id = id.key, worker = self.index).entered();
            future.as_mut().poll(&mut Context::from_waker(&waker))
        };
        self.polling.set(None);
        if poll.is_ready() {
            self.tasks.borrow_mut().remove(id.key as usize);
            tracing::trace!(task = id.key, "complete");
            drop(future); // outside the borrow: its drop may spawn or wake
        } else if let Some(slot) = self.tasks.borrow_mut().get_mut(id.key as usize) {
            slot.future = Some(future);
        }
    }

    /// A snapshot of this worker's counters.
    pub(crate) fn metrics(&self) -> Metrics {
        let driver = self.driver.borrow();
        driver.counters.snapshot(
            driver.in_flight(),
            driver.live_keys(),
            self.timers.borrow().pending(),
            driver.bufs_copied(),
        )
    }

    /// Capacities of the worker's tables (ops, tasks, timer heap): what its
    /// memory grows with.
    #[cfg(test)]
    pub(crate) fn footprint(&self) -> [usize; 3] {
        [
            self.driver.borrow().capacity(),
            self.tasks.borrow().capacity(),
            self.timers.borrow().capacity(),
        ]
    }

    /// Shutdown, part one: drop every task's future on this thread. Their
    /// operations become orphans, cancelled and drained by the driver.
    pub(crate) fn drop_tasks(&self) {
        loop {
            let futures: Vec<BoxFuture> =
                self.tasks.borrow_mut().drain().filter_map(|slot| slot.future).collect();
            if futures.is_empty() {
                break;
            }
            // Their drops may spawn more (loop until none are left), or
            // panic: caught one by one, so the rest are dropped too.
            for future in futures {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(future))).is_err()
                {
                    tracing::warn!("a task's future panicked while dropped at shutdown");
                }
            }
        }
        self.run_queue.borrow_mut().clear();
    }
}

/// Runs `Worker::flush` when `block_on` ends, however it ends.
struct Flush<'a>(&'a Worker);

impl Drop for Flush<'_> {
    fn drop(&mut self) {
        self.0.flush();
    }
}

fn wake_all(wakers: &mut Vec<Waker>) {
    for w in wakers.drain(..) {
        w.wake();
    }
}
