//! What the micro-benchmarks share: the `--samples N` argument, the median,
//! pinning the bench thread, the allowed CPUs and a cached thread id.

/// `--samples N` from the command line, or `default`.
#[allow(dead_code)] // not every bench takes samples
pub fn samples(default: usize) -> usize {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--samples" {
            return args.next().and_then(|s| s.parse().ok()).expect("--samples N");
        }
    }
    default
}

/// The median (sorts `v`); NaN for none.
#[allow(dead_code)] // not every bench takes medians
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Pin the calling thread to `cpu`.
#[allow(dead_code)] // not every bench pins
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside
    // it; sched_setaffinity reads it for the duration of the call.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// CPU seconds (utime + stime) of thread `tid` of this process.
#[allow(dead_code)] // not every bench measures threads
pub fn thread_cpu(tid: i32) -> f64 {
    let path = format!("/proc/self/task/{tid}/stat");
    let stat = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    // The command name (field 2) may hold spaces: count from its ')'.
    let rest = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14, 15.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks as f64 / if hz > 0 { hz as f64 } else { 100.0 }
}

/// The CPUs the calling thread may run on, in order.
#[allow(dead_code)] // not every bench pins
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the kernel writes at
    // most its size; CPU_ISSET reads bits below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
    }
}

/// The calling thread's kernel id, read once per thread.
#[allow(dead_code)] // not every bench needs it
pub fn tid() -> i32 {
    thread_local! {
        // SAFETY: gettid has no preconditions.
        static TID: i32 = unsafe { libc::gettid() };
    }
    TID.with(|t| *t)
}
