// `#[corering::main]` leaves the main thread's CPU set alone by default
// (as `Builder::pin` does): it is still the one inherited from the parent.
fn cpus(pid: libc::pid_t) -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes at most size_of::<cpu_set_t>() bytes into
    // `set`, alive for the call.
    let rc = unsafe { libc::sched_getaffinity(pid, size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(rc, 0);
    // SAFETY: CPU_ISSET reads bit `c` < CPU_SETSIZE of an initialised set.
    (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect()
}

#[corering::main]
async fn main() {
    // SAFETY: getppid takes no arguments.
    let parent = cpus(unsafe { libc::getppid() });
    assert_eq!(cpus(0), parent, "main's thread was pinned");
}
