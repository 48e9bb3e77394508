// `#[corering::main]` pins the main thread to one CPU by default.
#[corering::main]
async fn main() {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes at most size_of::<cpu_set_t>() bytes into
    // `set`, alive for the call.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(rc, 0);
    // SAFETY: reads the bits of an initialised set.
    assert_eq!(unsafe { libc::CPU_COUNT(&set) }, 1);
}
