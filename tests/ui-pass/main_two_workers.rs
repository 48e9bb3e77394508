// `#[corering::main(workers = 2)]`: main runs on worker 0 of two, the other
// is a thread of its own; the process exits only after both have shut
// down (worker 1 drops its tasks on its thread before main returns).
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static DROPPED_ON_W1: AtomicBool = AtomicBool::new(false);

/// Dropped with worker 1's tasks; slow, so a main that did not wait for
/// the worker would exit first.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(200));
        let here = std::thread::current();
        DROPPED_ON_W1.store(here.name() == Some("corering-w1"), Ordering::SeqCst);
    }
}

extern "C" fn at_exit() {
    if !DROPPED_ON_W1.load(Ordering::SeqCst) {
        eprintln!("the process exited before worker 1 dropped its task");
        // SAFETY: _exit takes no pointers and ends the process at once.
        unsafe { libc::_exit(3) };
    }
}

#[corering::main(workers = 2)]
async fn main() -> std::io::Result<()> {
    // SAFETY: `at_exit` is a plain function that stays valid for the life
    // of the process.
    assert_eq!(unsafe { libc::atexit(at_exit) }, 0);
    assert_eq!((corering::worker_id(), corering::worker_count()), (0, 2));
    let name = corering::spawn_on(1, || async {
        std::thread::current().name().map(str::to_owned)
    })
    .await?;
    assert_eq!(name.as_deref(), Some("corering-w1"));
    // A task that never ends, holding the guard, on worker 1.
    drop(corering::spawn_on(1, || async {
        let _guard = Guard;
        std::future::pending::<()>().await
    }));
    corering::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
