//! A forked child shares its parent's rings (they are mapped shared): it
//! must never reap the parent's completions or queue into its SQ. Every
//! use there is refused with a message that says why, and the parent's
//! runtime and ring go on as if nothing happened.

use std::future::Future;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Poll;

use corering::Runtime;
use corering::net::UnixStream;
use corering::uring::IoUring;

/// What the child checks; its exit code names the first that failed.
fn in_child(rt: Runtime, mut ring: IoUring, theirs: std::os::unix::net::UnixStream) -> i32 {
    // The peer's bytes arrive while the child runs: only the parent may
    // reap the read's completion.
    if (&theirs).write_all(b"from the child").is_err() {
        return 10;
    }
    let run = catch_unwind(AssertUnwindSafe(|| rt.block_on(async { 1 })));
    match run {
        Err(p) if p.downcast_ref::<String>().is_some_and(|m| m.contains("forked child")) => {}
        _ => return 11,
    }
    match ring.submit() {
        Err(e) if e.to_string().contains("forked child") => {}
        _ => return 12,
    }
    if catch_unwind(AssertUnwindSafe(|| ring.completions().count())).is_ok() {
        return 13;
    }
    if catch_unwind(AssertUnwindSafe(|| ring.prep_nop(1).is_ok())).is_ok() {
        return 14;
    }
    drop(rt); // touches nothing of the parent's
    drop(ring);
    0
}

#[test]
fn a_forked_child_cannot_use_the_parents_rings() {
    let rt = Runtime::builder().pin(false).build().unwrap();
    let mut ring = IoUring::new(8).unwrap();
    ring.prep_nop(7).unwrap();
    ring.submit().unwrap();
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let ours = UnixStream::from_std(ours);
    let mut read = Box::pin(ours.read(Vec::with_capacity(64)));
    rt.block_on(std::future::poll_fn(|cx| {
        assert!(read.as_mut().poll(cx).is_pending(), "nothing was sent yet");
        Poll::Ready(())
    }));

    // SAFETY: the child only runs `in_child` and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = in_child(rt, ring, theirs);
        // SAFETY: ends the child at once, running no destructor of the
        // parent's state.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child, writing its status into `status`.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "the child died: status {status}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "check {} failed in the child",
        libc::WEXITSTATUS(status)
    );

    // The parent's completions are all still its own.
    let (res, buf) = rt.block_on(read);
    assert_eq!(res.unwrap(), 14);
    assert_eq!(buf, b"from the child");
    ring.submit_and_wait(1).unwrap();
    let cqes: Vec<_> = ring.completions().collect();
    assert_eq!(cqes.len(), 1);
    assert_eq!(cqes[0].user_data(), 7);
    drop(theirs);
}

/// Dropping an in-flight op in the child leaks it quietly (no cancel into
/// the parent's SQ, no panic), and a raw `push` is refused too.
#[test]
fn a_forked_child_can_drop_an_in_flight_read_and_push_is_refused() {
    let rt = Runtime::builder().pin(false).build().unwrap();
    let mut ring = IoUring::new(8).unwrap();
    let (ours, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let ours = UnixStream::from_std(ours);
    let mut read = Box::pin(ours.read(Vec::with_capacity(64)));
    rt.block_on(std::future::poll_fn(|cx| {
        assert!(read.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    }));
    // SAFETY: the child only drops, pushes and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let mut code = 0;
        std::panic::set_hook(Box::new(|_| {}));
        if catch_unwind(AssertUnwindSafe(|| drop(read))).is_err() {
            code |= 1; // dropping the read panicked
        }
        let sqe = corering::uring::sys::Sqe::default();
        // SAFETY: a NOP-shaped all-zero SQE points at nothing.
        if matches!(catch_unwind(AssertUnwindSafe(|| unsafe { ring.push(&sqe) })), Ok(Ok(()))) {
            code |= 2; // queued into the parent's (shared) SQ
        }
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child, writing its status into `status`.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "the child died: status {status}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "1: drop panicked, 2: push accepted");
    drop(read);
    drop(rt);
}
