//! Pinning the worker thread to one CPU, and restoring the thread's old CPU
//! set when the runtime goes.

use std::io;

/// The calling thread's allowed CPU set before pinning, and the one-CPU
/// set pinning installed.
pub(crate) struct Pinned {
    previous: libc::cpu_set_t,
    ours: libc::cpu_set_t,
    pub(crate) cpu: usize,
}

fn allowed() -> io::Result<libc::cpu_set_t> {
    // SAFETY: an all-zero cpu_set_t is a valid (empty) set; the kernel
    // writes at most `size_of::<cpu_set_t>()` bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(set)
    }
}

/// The CPUs the calling thread may run on, in order.
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    let set = allowed()?;
    Ok((0..libc::CPU_SETSIZE as usize).filter(|&c| is_set(c, &set)).collect())
}

/// Let the calling thread run on any of `cpus`.
pub(crate) fn set_cpus(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: a zeroed set is valid; CPU_SET writes bits below CPU_SETSIZE.
    let mut s: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
        // SAFETY: as above, `cpu` is below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut s) };
    }
    set(&s)
}

fn set(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: the kernel reads one cpu_set_t from `set`, alive for the call.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn is_set(cpu: usize, s: &libc::cpu_set_t) -> bool {
    // SAFETY: CPU_ISSET reads bit `cpu` of `s`; `cpu` is below CPU_SETSIZE.
    cpu < libc::CPU_SETSIZE as usize && unsafe { libc::CPU_ISSET(cpu, s) }
}

/// Pin the calling thread to `cpu`, or to the first CPU of its current set.
///
/// A given `cpu` needs only to be one the process may use (its cpuset), not
/// one of the thread's current set: a thread spawned from a pinned thread
/// inherits a one-CPU set, and thread-per-core starts exactly that way.
///
/// # Errors
///
/// `InvalidInput` if the kernel refuses `cpu` (not a CPU this process may
/// use).
pub(crate) fn pin(cpu: Option<usize>) -> io::Result<Pinned> {
    let previous = allowed()?;
    let refused = |cpu: usize| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot pin to CPU {cpu}: it is not a CPU this process may use"),
        )
    };
    let cpu = match cpu {
        Some(cpu) if cpu >= libc::CPU_SETSIZE as usize => return Err(refused(cpu)),
        Some(cpu) => cpu,
        None => (0..libc::CPU_SETSIZE as usize)
            .find(|&c| is_set(c, &previous))
            .ok_or_else(|| io::Error::other("the allowed CPU set is empty"))?,
    };
    // SAFETY: a zeroed set is valid; CPU_SET writes bit `cpu` < CPU_SETSIZE.
    let one = unsafe {
        let mut s: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut s);
        s
    };
    set(&one).map_err(|e| if e.raw_os_error() == Some(libc::EINVAL) { refused(cpu) } else { e })?;
    Ok(Pinned { previous, ours: one, cpu })
}

fn same(a: &libc::cpu_set_t, b: &libc::cpu_set_t) -> bool {
    (0..libc::CPU_SETSIZE as usize).all(|c| is_set(c, a) == is_set(c, b))
}

impl Drop for Pinned {
    /// Restore the previous set, unless someone changed the thread's set
    /// since (e.g. another runtime pinned it and was dropped first, already
    /// restoring the original): then leave theirs alone.
    fn drop(&mut self) {
        if allowed().is_ok_and(|now| same(&now, &self.ours)) {
            let _ = set(&self.previous);
        }
    }
}
