//! `#[corering::test]` and `#[corering::main]`: the tests below are
//! themselves expanded by the macro; `ui` checks the macros' compile errors
//! and what `!Send` rules out.

use std::io;
use std::time::Duration;

use corering::time::{sleep, timeout};

/// The CPUs thread `tid` (0: the calling thread) may run on.
fn affinity(tid: libc::pid_t) -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes at most size_of::<cpu_set_t>() bytes into
    // `set`, alive for the call.
    let rc = unsafe { libc::sched_getaffinity(tid, size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    // SAFETY: CPU_ISSET reads bit `c` < CPU_SETSIZE of an initialised set.
    (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect()
}

#[corering::test]
async fn test_runs_on_a_runtime() {
    assert!(corering::Handle::try_current().is_ok());
    let h = corering::spawn(async {
        sleep(Duration::from_millis(1)).await;
        7
    });
    assert_eq!(timeout(Duration::from_secs(5), h).await.unwrap().unwrap(), 7);
}

#[corering::test]
async fn test_is_not_pinned_by_default() {
    // SAFETY: getpid takes no arguments.
    let main_thread = affinity(unsafe { libc::getpid() });
    assert_eq!(affinity(0), main_thread);
}

#[corering::test(entries = 64, pin = false, workers = 1)]
async fn test_takes_options() {
    sleep(Duration::from_millis(1)).await;
}

#[corering::test(workers = 2)]
async fn test_may_have_several_workers() {
    assert_eq!((corering::worker_id(), corering::worker_count()), (0, 2));
    let name = corering::spawn_on(1, || async { std::thread::current().name().map(str::to_owned) });
    assert_eq!(name.await.unwrap().as_deref(), Some("corering-w1"));
}

#[corering::test(workers = "per_cpu")]
async fn test_may_have_a_worker_per_cpu() {
    assert_eq!(corering::worker_count(), affinity(0).len());
}

#[corering::test(pin = true)]
async fn test_pin_true_pins_to_one_cpu() {
    assert_eq!(affinity(0).len(), 1);
}

#[corering::test]
async fn test_may_return_a_result() -> io::Result<()> {
    timeout(Duration::from_secs(5), sleep(Duration::from_millis(1))).await?;
    Ok(())
}

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
