//! Ring set-up: every optional flag can be turned off and the ring still
//! works, and a kernel that refuses io_uring yields an error that says why.

use std::time::Duration;

use corering::uring::{IoUring, sys};

fn nop_round_trip(ring: &mut IoUring) {
    for ud in 0..3u64 {
        ring.prep_nop(ud).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 3 {
        ring.submit_and_wait_timeout(1, Duration::from_secs(5)).unwrap();
        got.extend(ring.completions().map(|c| c.user_data()));
    }
    got.sort();
    assert_eq!(got, [0, 1, 2]);
}

#[test]
fn default_ring_gets_the_modern_flags_on_a_modern_kernel() {
    let mut ring = IoUring::new(16).unwrap();
    let f = ring.setup_flags();
    println!("setup flags {f:#x}, features {:#x}, {ring:?}", ring.features());
    assert_ne!(f & sys::IORING_SETUP_CQSIZE, 0);
    assert_eq!(ring.cq_entries(), 2 * ring.sq_entries());
    assert_ne!(ring.features() & sys::IORING_FEAT_NODROP, 0, "corering relies on FEAT_NODROP");
    nop_round_trip(&mut ring);
}

#[test]
fn each_optional_flag_off_still_yields_a_working_ring() {
    type Off = fn(&mut corering::uring::Builder) -> &mut corering::uring::Builder;
    let cases: [(&str, Off, u32); 5] = [
        ("single_issuer", |b| b.single_issuer(false), sys::IORING_SETUP_SINGLE_ISSUER),
        ("defer_taskrun", |b| b.defer_taskrun(false), sys::IORING_SETUP_DEFER_TASKRUN),
        (
            "coop_taskrun",
            |b| b.defer_taskrun(false).coop_taskrun(false),
            sys::IORING_SETUP_COOP_TASKRUN,
        ),
        ("submit_all", |b| b.submit_all(false), sys::IORING_SETUP_SUBMIT_ALL),
        ("register_ring_fd", |b| b.register_ring_fd(false), 0),
    ];
    for (name, off, flag) in cases {
        let mut b = IoUring::builder();
        b.entries(8);
        let mut ring = off(&mut b).build().unwrap_or_else(|e| panic!("{name} off: {e}"));
        assert_eq!(ring.setup_flags() & flag, 0, "{name} off, yet granted");
        if name == "register_ring_fd" {
            assert!(!ring.ring_fd_registered());
        }
        nop_round_trip(&mut ring);
    }
    let mut bare = IoUring::builder()
        .entries(8)
        .single_issuer(false)
        .defer_taskrun(false)
        .coop_taskrun(false)
        .submit_all(false)
        .register_ring_fd(false)
        .build()
        .unwrap();
    assert_eq!(bare.setup_flags(), sys::IORING_SETUP_CQSIZE);
    nop_round_trip(&mut bare);
}

/// Install, on this thread only, a seccomp filter that fails
/// `io_uring_setup` with `errno`.
fn forbid_io_uring_setup(errno: u32) {
    let nr = libc::SYS_io_uring_setup as u32;
    let stmt = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let filter = [
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0), // seccomp_data.nr
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: nr,
        },
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ERRNO | errno),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
    // SAFETY: prctl with these options reads only `prog` and the filter it
    // points at, both alive for the call; the filter applies to this thread.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog), 0);
    }
}

#[test]
fn forbidden_io_uring_says_seccomp_and_what_to_do() {
    let err = std::thread::spawn(|| {
        forbid_io_uring_setup(libc::EPERM as u32);
        IoUring::new(8).unwrap_err()
    })
    .join()
    .unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
    let msg = err.to_string();
    assert!(msg.contains("seccomp") && msg.contains("allow io_uring_setup"), "{msg}");
}

#[test]
fn missing_io_uring_says_which_kernel_is_needed() {
    let err = std::thread::spawn(|| {
        forbid_io_uring_setup(libc::ENOSYS as u32);
        IoUring::new(8).unwrap_err()
    })
    .join()
    .unwrap();
    let msg = err.to_string();
    assert!(msg.contains("ENOSYS") && msg.contains("Linux 6.0"), "{msg}");
}
