//! The process-wide half of signal delivery: the `sigaction` handler, the
//! per-signal counters it bumps, and the registry of doorbells (eventfds)
//! it rings.
//!
//! The handler runs on whichever thread the kernel picks, interrupting
//! whatever that thread was doing, so it must only do async-signal-safe
//! work: atomic loads and read-modify-writes on `static` memory and
//! `write(2)`. It never allocates, locks, panics or frees. Everything it
//! reads is `'static`: the counters are a static array, and the registry
//! is a list of chunks that are leaked, never freed, once published. The
//! fds it writes to are doorbells, which are never closed (see
//! `doorbell.rs`), so a write that races with a listener going away lands
//! in an idle doorbell, never in a file that reused the number.

use std::io;
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// The highest signal number on Linux (`SIGRTMAX`); counters are indexed
/// by signal number.
pub(super) const MAX_SIGNAL: usize = 64;

/// How many times each signal has been caught since its handler was
/// installed. Listeners compare it with what they have seen.
static COUNTS: [AtomicU64; MAX_SIGNAL + 1] = [const { AtomicU64::new(0) }; MAX_SIGNAL + 1];

/// Entries per registry chunk.
const CHUNK: usize = 32;

/// A block of registry entries. Each entry is 0 (free) or
/// `signal << 32 | fd`: ring doorbell `fd` when `signal` is caught.
struct Chunk {
    entries: [AtomicU64; CHUNK],
    /// The next chunk, or null. Set once, to a leaked chunk.
    next: AtomicPtr<Chunk>,
}

impl Chunk {
    const fn new() -> Chunk {
        Chunk {
            entries: [const { AtomicU64::new(0) }; CHUNK],
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

/// The first chunk; later ones hang off it, leaked.
static REGISTRY: Chunk = Chunk::new();

/// Which signals have our handler installed (only touched outside the
/// handler).
static INSTALLED: Mutex<[bool; MAX_SIGNAL + 1]> = Mutex::new([false; MAX_SIGNAL + 1]);

/// How many times `signal` has been caught so far.
pub(super) fn count(signal: i32) -> u64 {
    // SeqCst, like the handler's increment and the registry's stores: a
    // listener registers, then reads the count; the handler bumps the
    // count, then reads the registry. In the single order of these four,
    // a listener that read the count before a bump is registered before
    // the handler reads the registry, so its doorbell is rung.
    COUNTS[signal as usize].load(Ordering::SeqCst)
}

/// Install the handler for `signal`, once per process; it stays installed
/// for the life of the process.
///
/// # Errors
///
/// `sigaction` failed (the signal cannot be caught).
pub(super) fn install(signal: i32) -> io::Result<()> {
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if installed[signal as usize] {
        return Ok(());
    }
    // SAFETY: an all-zero sigaction is a valid value (no handler, no
    // flags, an empty mask); the fields that matter are set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SA_RESTART: the threads the signal interrupts (ours or not) resume
    // their restartable system calls instead of failing with EINTR.
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action` and the null old-action pointer are valid for the
    // call; the handler only does async-signal-safe work (this module's
    // contract).
    let rc = unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, ptr::null_mut())
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("cannot install a handler for signal {signal}: sigaction: {e}"),
        ));
    }
    installed[signal as usize] = true;
    Ok(())
}

/// The handler: count the signal, then ring every doorbell registered for
/// it. Async-signal-safe: atomics on static memory and `write(2)` only;
/// `errno` is restored for the code it interrupted.
extern "C" fn on_signal(signal: libc::c_int) {
    // SAFETY: __errno_location returns this thread's errno, valid for the
    // life of the thread.
    let errno = unsafe { *libc::__errno_location() };
    if let Some(count) = usize::try_from(signal).ok().and_then(|s| COUNTS.get(s)) {
        count.fetch_add(1, Ordering::SeqCst);
    }
    let mut chunk = &REGISTRY;
    loop {
        for entry in &chunk.entries {
            let e = entry.load(Ordering::SeqCst);
            if e != 0 && (e >> 32) as i32 == signal {
                let one: u64 = 1;
                // SAFETY: writes 8 bytes from `one`, alive for the call, to
                // a doorbell: an eventfd that is never closed, so the
                // number cannot name another file. A failure (a counter
                // about to overflow, which only a flood could reach)
                // leaves the doorbell readable anyway.
                unsafe { libc::write(e as u32 as i32, (&raw const one).cast(), 8) };
            }
        }
        let next = chunk.next.load(Ordering::SeqCst);
        if next.is_null() {
            break;
        }
        // SAFETY: a non-null `next` points at a chunk that `register`
        // leaked (never freed) and published fully initialised.
        chunk = unsafe { &*next };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// A doorbell's entry in the registry: while it lives, the handler rings
/// the doorbell for its signal.
pub(super) struct Registration {
    entry: &'static AtomicU64,
}

/// Ring doorbell `fd` whenever `signal` is caught, until the returned
/// registration is dropped.
pub(super) fn register(signal: i32, fd: i32) -> Registration {
    let value = (signal as u64) << 32 | u64::from(fd as u32);
    let mut chunk = &REGISTRY;
    loop {
        for entry in &chunk.entries {
            if entry.compare_exchange(0, value, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                return Registration { entry };
            }
        }
        let next = chunk.next.load(Ordering::SeqCst);
        chunk = if next.is_null() {
            // Every entry is taken: append a chunk (if another thread has
            // not just done so), leaked so the handler may always read it.
            let fresh: &'static mut Chunk = Box::leak(Box::new(Chunk::new()));
            match chunk.next.compare_exchange(
                ptr::null_mut(),
                fresh,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => fresh,
                Err(theirs) => {
                    // SAFETY: `fresh` was never published; it is ours to free.
                    drop(unsafe { Box::from_raw(fresh) });
                    // SAFETY: as in the handler: leaked, published whole.
                    unsafe { &*theirs }
                }
            }
        } else {
            // SAFETY: as in the handler: leaked, published whole.
            unsafe { &*next }
        };
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.entry.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_grows_past_one_chunk_and_frees_entries_for_reuse() {
        // Signal 0 is never delivered, so these entries ring nothing.
        let regs: Vec<_> = (0..CHUNK as i32 * 3).map(|fd| register(0, 1000 + fd)).collect();
        let mut chunks = 1;
        let mut next = REGISTRY.next.load(Ordering::SeqCst);
        while !next.is_null() {
            chunks += 1;
            // SAFETY: registry chunks are leaked, never freed.
            next = unsafe { &*next }.next.load(Ordering::SeqCst);
        }
        assert!(chunks >= 3, "{chunks} chunks for {} entries", regs.len());
        let entries: Vec<&AtomicU64> = regs.iter().map(|r| r.entry).collect();
        drop(regs);
        assert!(entries.iter().all(|e| e.load(Ordering::SeqCst) == 0), "dropped entries are freed");
        let again = register(0, 7);
        assert_eq!(again.entry.load(Ordering::SeqCst), 7);
        assert!(
            REGISTRY.entries.iter().any(|e| std::ptr::eq(e, again.entry)),
            "a freed entry of the first chunk is reused"
        );
    }
}
