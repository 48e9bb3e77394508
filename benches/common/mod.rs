//! What the micro-benchmarks share: the `--samples N` argument, the median,
//! and pinning the bench thread.

/// `--samples N` from the command line, or `default`.
pub fn samples(default: usize) -> usize {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--samples" {
            return args.next().and_then(|s| s.parse().ok()).expect("--samples N");
        }
    }
    default
}

/// The median (sorts `v`).
pub fn median(v: &mut [f64]) -> f64 {
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
