//! Out of fds: accept reports EMFILE to the caller, the worker does not
//! spin meanwhile, and accepting works again once fds are free. (Alone in
//! its binary: it lowers the process's fd limit.)

use std::os::fd::AsRawFd;
use std::time::Duration;

use corering::Runtime;
use corering::net::TcpListener;

fn set_nofile(n: u64) -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write one rlimit, alive here.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        let old = lim.rlim_cur;
        lim.rlim_cur = n;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        old
    }
}

/// The lowest fd number not in use: the next fd the kernel would hand out.
fn lowest_free_fd(open: i32) -> u64 {
    // SAFETY: duplicates the open descriptor `open` to the lowest free
    // number, then closes that duplicate, which is ours.
    unsafe {
        let fd = libc::fcntl(open, libc::F_DUPFD_CLOEXEC, 0);
        assert!(fd >= 0, "{}", std::io::Error::last_os_error());
        libc::close(fd);
        fd as u64
    }
}

#[test]
fn emfile_is_returned_and_the_worker_does_not_spin() {
    let rt = Runtime::builder().pin(false).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let clients: Vec<_> = (0..3).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
    rt.block_on(async {
        // Warm up: the ring and its eventfd read exist before the limit.
        corering::yield_now().await;
        let old = set_nofile(lowest_free_fd(listener.as_raw_fd()));
        let err = corering::time::timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("accept answered")
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
        // Nobody accepts now: the worker must idle, not retry.
        let before = corering::metrics().unwrap();
        corering::time::sleep(Duration::from_millis(300)).await;
        let after = corering::metrics().unwrap();
        assert!(after.ticks - before.ticks < 20, "the worker spun: {before:?} -> {after:?}");
        set_nofile(old);
        for _ in 0..3 {
            let (stream, peer) = corering::time::timeout(Duration::from_secs(5), listener.accept())
                .await
                .expect("accept answered")
                .unwrap();
            assert!(clients.iter().any(|c| c.local_addr().unwrap() == peer));
            drop(stream);
        }
    });
}
