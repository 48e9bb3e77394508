// `#[corering::main(workers = "per_cpu")]`: one worker per CPU the main
// thread may run on, each on a thread of its own.
#[corering::main(workers = "per_cpu")]
async fn main() {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes at most size_of::<cpu_set_t>() bytes into
    // `set`, alive for the call.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(rc, 0);
    // SAFETY: reads the bits of an initialised set.
    let cpus = unsafe { libc::CPU_COUNT(&set) } as usize;
    assert_eq!(corering::worker_count(), cpus);
    let mut threads = Vec::new();
    for h in corering::spawn_on_all(|| async { format!("{:?}", std::thread::current().id()) }) {
        threads.push(h.await.unwrap());
    }
    threads.sort();
    threads.dedup();
    assert_eq!(threads.len(), cpus, "each worker is a thread of its own");
}
