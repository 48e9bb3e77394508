//! Dropping a ring and its buffer rings releases every fd and mapping, in
//! either order. (Alone in its binary: it counts the process's fds.)

mod common;

use std::time::Duration;

use common::open_fds;
use corering::uring::IoUring;

#[test]
fn rings_and_buffer_rings_release_their_fds_in_either_order() {
    let before = open_fds();
    for i in 0..200 {
        let mut ring = IoUring::new(8).unwrap();
        let bufs = ring.register_buf_ring(4, 64, 1).unwrap();
        ring.prep_nop(1).unwrap();
        ring.submit_and_wait_timeout(1, Duration::from_secs(5)).unwrap();
        assert_eq!(ring.completions().count(), 1);
        if i % 2 == 0 {
            drop(ring);
            // The buffer ring keeps the ring fd open so that it can unregister.
            assert_eq!(open_fds(), before + 1);
            drop(bufs);
        } else {
            drop(bufs);
            drop(ring);
        }
        assert_eq!(open_fds(), before, "iteration {i}");
    }
}
