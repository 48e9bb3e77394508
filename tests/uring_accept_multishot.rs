//! Multishot accept: one SQE accepts many connections, one completion each.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::Duration;

use corering::uring::IoUring;

#[test]
fn one_sqe_accepts_a_hundred_connections() {
    const CONNS: usize = 100;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // A multishot request ends when its completion has to go to the CQ
    // overflow list, so the CQ must hold all 100 (checked below as well).
    let mut ring = IoUring::builder().entries(16).cq_entries(128).build().unwrap();
    ring.prep_accept_multishot(listener.as_fd(), libc::SOCK_CLOEXEC, 9).unwrap();
    assert_eq!(ring.submit().unwrap(), 1);

    let clients: Vec<TcpStream> = (0..CONNS).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let client_addrs: HashSet<SocketAddr> =
        clients.iter().map(|c| c.local_addr().unwrap()).collect();

    let mut accepted = Vec::new();
    while accepted.len() < CONNS {
        ring.submit_and_wait_timeout(1, Duration::from_secs(10)).unwrap();
        let before = accepted.len();
        for cqe in ring.completions() {
            assert_eq!(cqe.user_data(), 9);
            assert!(cqe.has_more(), "multishot accept ended early: {cqe:?}");
            let fd = cqe.result().unwrap() as i32;
            // SAFETY: the kernel just created this fd for us; nobody else owns it.
            accepted.push(TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
        assert!(accepted.len() > before, "no accept within 10 s ({before} of {CONNS})");
    }
    assert_eq!(accepted.len(), CONNS);
    let peers: HashSet<SocketAddr> = accepted.iter().map(|s| s.peer_addr().unwrap()).collect();
    assert_eq!(peers, client_addrs, "each client accepted exactly once");
    assert_eq!(ring.sq_pending(), 0, "still the one SQE");
}

#[test]
fn cq_overflow_ends_a_multishot_accept_with_a_final_completion() {
    // The other side of the rule above, which the runtime relies on: with a
    // CQ too small for the burst, the multishot ends (a completion without
    // F_MORE) instead of losing a connection, and must be re-armed.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut ring = IoUring::builder().entries(4).cq_entries(8).build().unwrap();
    ring.prep_accept_multishot(listener.as_fd(), libc::SOCK_CLOEXEC, 9).unwrap();
    ring.submit().unwrap();
    let clients: Vec<TcpStream> = (0..32).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut accepted = Vec::new();
    let mut ended = false;
    let mut rearms = 0;
    while accepted.len() < clients.len() {
        ring.submit_and_wait_timeout(1, Duration::from_secs(10)).unwrap();
        let before = accepted.len();
        let batch: Vec<_> = ring.completions().collect();
        for cqe in batch {
            // SAFETY: a fresh fd from the kernel, owned by nobody else.
            accepted.push(unsafe { OwnedFd::from_raw_fd(cqe.result().unwrap() as i32) });
            if !cqe.has_more() {
                ended = true;
                rearms += 1;
                ring.prep_accept_multishot(listener.as_fd(), libc::SOCK_CLOEXEC, 9).unwrap();
            }
        }
        assert!(accepted.len() > before, "no accept within 10 s");
    }
    assert!(ended, "32 accepts through an 8-entry CQ never ended the multishot");
    assert_eq!(accepted.len(), 32, "no connection lost across {rearms} re-arms");
}
