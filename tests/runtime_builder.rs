//! Builder validation, and pinning: the worker thread is pinned to one CPU
//! while the runtime lives and gets its old CPU set back afterwards.

mod common;

use std::io;
use std::time::Duration;

use common::bounded;
use corering::{Builder, Runtime};

const LIMIT: Duration = Duration::from_secs(30);

/// Build, expecting `InvalidInput` whose message contains every `needle`.
fn invalid(b: &mut Builder, needles: &[&str]) {
    let err = b.build().expect_err("an invalid builder built a runtime");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let msg = err.to_string();
    for needle in needles {
        assert!(msg.contains(needle), "{msg:?} does not name {needle:?}");
    }
}

fn unpinned() -> Builder {
    let mut b = Runtime::builder();
    b.pin(false);
    b
}

#[test]
fn invalid_values_are_invalid_input_naming_the_value() {
    invalid(unpinned().ring_entries(0), &["ring_entries", "got 0"]);
    invalid(unpinned().ring_entries(100), &["ring_entries", "power of two", "got 100"]);
    invalid(unpinned().ring_entries(65536), &["ring_entries", "got 65536"]);
    invalid(unpinned().ring_entries(64).cq_entries(32), &["cq_entries", "got 32"]);
    invalid(unpinned().cq_entries(384), &["cq_entries", "got 384"]);
    invalid(unpinned().workers(2).cpu(0), &["cpu()", "with 2 workers"]);
    invalid(unpinned().workers(4096).pin(true), &["cannot pin 4096 workers", "pin(false)"]);
    invalid(unpinned().event_budget(0), &["event_budget", "at least 1"]);
    invalid(unpinned().buf_ring_entries(3), &["buf_ring_entries", "got 3"]);
    invalid(unpinned().buf_size(0), &["buf_size"]);
    // 2^15 buffers of 2^17 bytes make 2^32 bytes, past a 32-bit `usize`
    // (the checked helper's unit tests cover this on every target).
    #[cfg(target_pointer_width = "32")]
    invalid(
        unpinned().buf_ring_entries(1 << 15).buf_size(1 << 17),
        &["buf_ring_entries x buf_size"],
    );
    // The smallest valid values build.
    unpinned().ring_entries(1).event_budget(1).buf_ring_entries(1).build().unwrap();
}

/// The CPUs thread `tid` (0: the calling thread) may run on.
fn affinity(tid: libc::pid_t) -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set; the kernel writes
    // at most size_of::<cpu_set_t>() bytes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `set` is alive for the call.
    let rc = unsafe { libc::sched_getaffinity(tid, size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    // SAFETY: CPU_ISSET reads bit `c` < CPU_SETSIZE of an initialised set.
    (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect()
}

fn current_cpu() -> usize {
    // SAFETY: sched_getcpu takes no arguments.
    let cpu = unsafe { libc::sched_getcpu() };
    assert!(cpu >= 0, "{}", io::Error::last_os_error());
    cpu as usize
}

#[test]
fn a_cpu_outside_the_allowed_set_is_refused_without_touching_affinity() {
    bounded(LIMIT, || {
        let before = affinity(0);
        assert!(!before.contains(&4095));
        invalid(Runtime::builder().cpu(4095), &["4095"]);
        assert_eq!(affinity(0), before);
    });
}

/// Pin with `b` on a fresh thread; check the pinning inside `block_on` and
/// the restored CPU set after the runtime is dropped. Returns the CPU.
fn pinned_then_restored(b: Builder) -> usize {
    bounded(LIMIT, move || {
        let before = affinity(0);
        let rt = b.build().unwrap();
        let cpu = rt.cpu().expect("a pinned runtime names its CPU");
        let (set, running_on) = rt.block_on(async { (affinity(0), current_cpu()) });
        assert_eq!(set, [cpu], "pinned to exactly one CPU");
        assert_eq!(running_on, cpu);
        drop(rt);
        assert_eq!(affinity(0), before, "the CPU set was not restored");
        if before.len() == 1 {
            println!("only CPU {cpu} is allowed: the restore check is vacuous here");
        }
        cpu
    })
}

#[test]
fn pin_uses_the_first_allowed_cpu_and_restores_the_set_on_drop() {
    let first = affinity(0)[0];
    let mut b = Runtime::builder();
    b.pin(true);
    assert_eq!(pinned_then_restored(b), first);
}

#[test]
fn cpu_pins_to_the_cpu_asked_for() {
    let last = *affinity(0).last().unwrap();
    let mut b = Runtime::builder();
    b.cpu(last);
    assert_eq!(pinned_then_restored(b), last);
}

#[test]
fn pin_false_leaves_the_thread_alone() {
    bounded(LIMIT, || {
        let before = affinity(0);
        let rt = unpinned().build().unwrap();
        assert_eq!(rt.cpu(), None);
        assert_eq!(rt.block_on(async { affinity(0) }), before);
    });
}

/// Two pinned runtimes on one thread, dropped in the order they were built
/// (as a `Vec` drops them): each restores the set it saw, so the second
/// restores the first's single CPU and the thread stays pinned.
#[test]
fn pinned_runtimes_dropped_in_creation_order_restore_the_original_set() {
    bounded(LIMIT, || {
        let before = affinity(0);
        let first = *before.last().unwrap();
        let runtimes = vec![
            Runtime::builder().cpu(first).build().unwrap(),
            Runtime::builder().cpu(first).build().unwrap(),
        ];
        assert_eq!(affinity(0), [first]);
        drop(runtimes);
        assert_eq!(affinity(0), before, "the thread is still pinned");
    });
}

fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set; the kernel writes
    // at most size_of::<cpu_set_t>() bytes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(rc, 0);
    // SAFETY: CPU_ISSET reads bit `c` < CPU_SETSIZE of an initialised set.
    (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect()
}

/// Thread-per-core from a pinned main thread (`#[corering::main]` pins by
/// default): a thread spawned while a runtime pins its parent inherits the
/// parent's one-CPU set; `Builder::cpu` still pins it to any CPU the
/// process may use.
#[test]
fn a_thread_spawned_from_a_pinned_runtime_can_pin_to_another_cpu() {
    bounded(LIMIT, || {
        let cpus = allowed_cpus();
        if cpus.len() < 2 {
            eprintln!("skipped: needs two CPUs");
            return;
        }
        let other = *cpus.last().unwrap();
        let main = Runtime::builder().cpu(cpus[0]).build().unwrap();
        let child = std::thread::spawn(move || {
            let rt = Runtime::builder().cpu(other).build().map_err(|e| e.to_string())?;
            Ok::<_, String>(rt.cpu())
        });
        let got = child.join().unwrap();
        drop(main);
        assert_eq!(got, Ok(Some(other)));
    });
}
