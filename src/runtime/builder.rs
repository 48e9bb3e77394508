//! `Builder`: the runtime's options, validated before anything is created.

use std::io;
use std::time::Duration;

use super::buf_pool::BufConfig;
use crate::uring;

use super::{Runtime, affinity};

/// Options for a [`Runtime`]; see [`Runtime::builder`].
///
/// # Examples
///
/// ```
/// let rt = corering::Runtime::builder()
///     .ring_entries(512)
///     .pin(false)
///     .event_budget(64)
///     .build()?;
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    pub(crate) ring: uring::Builder,
    pub(crate) entries: u32,
    pub(crate) cq_entries: Option<u32>,
    pub(crate) pin: bool,
    pub(crate) cpu: Option<usize>,
    pub(crate) workers: usize,
    pub(crate) bufs: BufConfig,
    pub(crate) event_budget: usize,
    pub(crate) timer_resolution: Duration,
    pub(crate) faults: Faults,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) max_blocking_threads: usize,
    pub(crate) blocking_keep_alive: Duration,
}

/// Failures to inject into a runtime, so that tests can drive the paths
/// that rare kernel failures take. Not for production use: every field is
/// zero by default, and then nothing is injected.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// The next this many parks (enters that wait) report `EBUSY` after
    /// the kernel returned, as a busy kernel does.
    pub busy_parks: u32,
    /// Every this-many-th enter (0: none) reports `EBUSY` after the kernel
    /// returned, as a kernel short of CQ room does, to be reaped and
    /// retried.
    pub busy_every: u32,
    /// The next this many `MSG_RING` wakes this worker sends go to a file
    /// that is not a ring, so the kernel fails them.
    pub failed_msg_wakes: u32,
    /// Setting up the ring fails with `ENOMEM`, as in a memory cgroup
    /// without room for it.
    pub setup_enomem: bool,
    /// Worker `n` (of a multi-worker runtime, `n > 0`) panics in its loop,
    /// outside any task, as a bug in the runtime would.
    pub panic_in_worker: Option<usize>,
    /// Use none of the kernel features the runtime can do without: no
    /// `SINGLE_ISSUER`, `DEFER_TASKRUN`, `COOP_TASKRUN`, `SUBMIT_ALL` or
    /// registered ring fd, and a buffer ring of whole buffers. What is
    /// left is what the oldest supported kernel must have.
    pub baseline_kernel: bool,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            ring: uring::Builder::default(),
            entries: 256,
            cq_entries: None,
            pin: false,
            cpu: None,
            workers: 1,
            bufs: BufConfig { entries: None, size: None, incremental: true },
            event_budget: 128,
            timer_resolution: Duration::from_millis(1),
            faults: Faults::default(),
            shutdown_timeout: Duration::from_secs(10),
            max_blocking_threads: 64,
            blocking_keep_alive: Duration::from_secs(10),
        }
    }
}

impl Builder {
    /// SQ entries of the worker's ring: a power of two, 1 to 32768.
    /// Default 256.
    pub fn ring_entries(&mut self, entries: u32) -> &mut Builder {
        self.entries = entries;
        self
    }

    /// CQ entries: a power of two, at least `ring_entries`. Default twice
    /// `ring_entries`. A larger CQ keeps multishot operations armed through
    /// bursts (they end when a completion overflows the CQ).
    pub fn cq_entries(&mut self, entries: u32) -> &mut Builder {
        self.cq_entries = Some(entries);
        self
    }

    /// Ask for `IORING_SETUP_DEFER_TASKRUN` (default on; falls back to
    /// `COOP_TASKRUN` where the kernel refuses it).
    pub fn defer_taskrun(&mut self, on: bool) -> &mut Builder {
        self.ring.defer_taskrun(on);
        self
    }

    /// Ask for `IORING_SETUP_SINGLE_ISSUER` (default on).
    pub fn single_issuer(&mut self, on: bool) -> &mut Builder {
        self.ring.single_issuer(on);
        self
    }

    /// Pin each worker thread to one CPU (default off). Worker `i` pins to
    /// the `i`-th CPU of the calling thread's allowed set (so under
    /// `taskset -c 2,3` workers 0 and 1 run on CPUs 2 and 3); a one-worker
    /// runtime pins to the CPU given to [`Builder::cpu`] if any. The calling
    /// thread's previous CPU set is restored when the runtime is dropped.
    ///
    /// Off by default because pinning by default would stack independent
    /// runtimes (two threads, two processes) on the same CPUs; unpinned,
    /// the kernel spreads them. Pin when the runtime owns the machine (or
    /// its `taskset`), as a thread-per-core server usually does.
    pub fn pin(&mut self, pin: bool) -> &mut Builder {
        self.pin = pin;
        self
    }

    /// Pin a one-worker runtime to this CPU (implies `pin(true)`): any CPU
    /// the process may use, even one outside the calling thread's current
    /// set (a thread spawned from a pinned thread inherits that one CPU).
    /// With more workers it is an `InvalidInput` error (they pin to the
    /// allowed CPUs in order).
    pub fn cpu(&mut self, cpu: usize) -> &mut Builder {
        self.cpu = Some(cpu);
        self.pin = true;
        self
    }

    /// Number of workers (default 1: one worker, on the calling thread).
    /// Worker 0 runs on the calling thread (it runs `block_on`); each other
    /// worker is a thread of its own, named `corering-w{i}`. `0` means one
    /// worker per CPU of the calling thread's allowed set
    /// (`sched_getaffinity`); see also [`Builder::workers_per_cpu`].
    pub fn workers(&mut self, workers: usize) -> &mut Builder {
        self.workers = workers;
        self
    }

    /// One worker per CPU of the calling thread's allowed set (as
    /// `workers(0)`).
    pub fn workers_per_cpu(&mut self) -> &mut Builder {
        self.workers(0)
    }

    /// How long dropping the runtime waits for its other workers to stop
    /// (default 10 s). A worker still busy then (a task that never yields)
    /// is reported with a `tracing` error and its thread left running,
    /// rather than waited on forever.
    pub fn shutdown_timeout(&mut self, timeout: Duration) -> &mut Builder {
        self.shutdown_timeout = timeout;
        self
    }

    /// Most threads the blocking pool runs at once (default 64); further
    /// [`spawn_blocking`](crate::spawn_blocking) jobs wait for one.
    pub fn max_blocking_threads(&mut self, n: usize) -> &mut Builder {
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking-pool thread waits for work before it
    /// exits (default 10 s).
    pub fn blocking_keep_alive(&mut self, keep_alive: Duration) -> &mut Builder {
        self.blocking_keep_alive = keep_alive;
        self
    }

    /// Buffers in the worker's provided-buffer ring (a power of two, up to
    /// 32768), used by multishot receives. Default 32 on an incremental
    /// ring (see [`buf_ring_incremental`](Builder::buf_ring_incremental)),
    /// 256 otherwise.
    pub fn buf_ring_entries(&mut self, entries: u16) -> &mut Builder {
        self.bufs.entries = Some(entries);
        self
    }

    /// Size of each provided buffer in bytes. Default 64 KiB on an
    /// incremental ring, 4 KiB otherwise.
    pub fn buf_size(&mut self, size: u32) -> &mut Builder {
        self.bufs.size = Some(size);
        self
    }

    /// Whether the provided-buffer ring consumes its buffers incrementally
    /// where the kernel can (Linux 6.12 and later; default `true`). Then
    /// each receive takes only the part of a buffer it fills: a buffer
    /// carries many small messages, and a bulk transfer moves up to a
    /// whole (64 KiB) buffer per completion, so a large message costs a
    /// few receive completions and sends instead of one per 4 KiB. On
    /// older kernels, or with `false`, every completion takes a whole
    /// buffer.
    pub fn buf_ring_incremental(&mut self, incremental: bool) -> &mut Builder {
        self.bufs.incremental = incremental;
        self
    }

    /// Most tasks polled per tick before the worker enters the kernel to
    /// submit and reap (default 128). A task that never awaits I/O is
    /// polled at most once per tick, so completions are reaped at least
    /// every `event_budget` polls.
    pub fn event_budget(&mut self, budget: usize) -> &mut Builder {
        self.event_budget = budget;
        self
    }

    /// How finely an idle worker wakes for timers (default 1 ms, at most
    /// 1 s). A timer never fires before its deadline; while the worker is
    /// idle it fires at the next multiple of `resolution` (counted from the
    /// runtime's start) at or after it, so timers due within the same step
    /// share one wake-up. A busy worker fires timers as soon as they are
    /// due, whatever the resolution. `Duration::ZERO` wakes for every
    /// deadline exactly, which costs one wake-up per timer.
    pub fn timer_resolution(&mut self, resolution: Duration) -> &mut Builder {
        self.timer_resolution = resolution;
        self
    }

    /// Inject `faults` (tests only).
    #[doc(hidden)]
    pub fn faults(&mut self, faults: Faults) -> &mut Builder {
        self.faults = faults;
        self
    }

    /// Create the runtime on the calling thread: its ring, its pinning.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming the bad value (entries 0 or not a power of two,
    /// a CPU this process may not use, ...); otherwise why io_uring could
    /// not be set up (see [`uring::Builder::build`]).
    pub fn build(&self) -> io::Result<Runtime> {
        self.validate()?;
        Runtime::new(self)
    }

    /// Where each worker runs: its CPU when pinning, `None` otherwise.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for more pinned workers than allowed CPUs.
    pub(crate) fn placement(&self) -> io::Result<Vec<Option<usize>>> {
        let allowed = if self.workers == 0 || (self.pin && self.cpu.is_none()) {
            affinity::allowed_cpus()?
        } else {
            Vec::new()
        };
        let n = if self.workers == 0 { allowed.len().max(1) } else { self.workers };
        if !self.pin {
            return Ok(vec![None; n]);
        }
        if let Some(cpu) = self.cpu {
            return Ok(vec![Some(cpu)]);
        }
        if n > allowed.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot pin {n} workers: this thread may use {} CPUs ({allowed:?}); \
                     ask for fewer workers, widen the CPU set, or use pin(false)",
                    allowed.len()
                ),
            ));
        }
        Ok(allowed[..n].iter().map(|&c| Some(c)).collect())
    }

    fn validate(&self) -> io::Result<()> {
        let bad = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        let pow2 = |n: u32| n.is_power_of_two();
        if !pow2(self.entries) || self.entries > uring::MAX_ENTRIES {
            return bad(format!(
                "ring_entries must be a power of two from 1 to {}, got {}",
                uring::MAX_ENTRIES,
                self.entries
            ));
        }
        if let Some(cq) = self.cq_entries
            && (!pow2(cq) || cq < self.entries || cq > uring::MAX_CQ_ENTRIES)
        {
            return bad(format!(
                "cq_entries must be a power of two from ring_entries ({}) to {}, got {cq}",
                self.entries,
                uring::MAX_CQ_ENTRIES
            ));
        }
        if self.workers > 1 && self.cpu.is_some() {
            return bad(format!(
                "cpu() pins a one-worker runtime; with {} workers, worker i pins to the \
                 i-th allowed CPU",
                self.workers
            ));
        }
        if let Some(entries) = self.bufs.entries
            && (!entries.is_power_of_two() || entries > uring::MAX_BUF_RING_ENTRIES)
        {
            return bad(format!(
                "buf_ring_entries must be a power of two up to {}, got {entries}",
                uring::MAX_BUF_RING_ENTRIES,
            ));
        }
        if self.bufs.size == Some(0) {
            return bad("buf_size must not be 0".into());
        }
        // The ring is mapped on first use; refuse a size it cannot have now
        // (with either default for what is left open).
        for (entries, size) in self.bufs.geometries() {
            if let Err(e) = uring::check_buf_ring_size(entries, size) {
                return bad(format!("buf_ring_entries x buf_size: {e}"));
            }
        }
        if self.max_blocking_threads == 0 {
            return bad("max_blocking_threads must be at least 1".into());
        }
        if self.event_budget == 0 {
            return bad("event_budget must be at least 1".into());
        }
        if self.timer_resolution > Duration::from_secs(1) {
            return bad(format!(
                "timer_resolution must be at most 1 s, got {:?}",
                self.timer_resolution
            ));
        }
        Ok(())
    }
}
