//! Opens a ring, prints what the kernel granted (setup flags, features,
//! supported opcodes), then times NOP round trips.
//!
//! Run: `cargo run --release --example nop`
//!
//! A quick check that io_uring works on this machine, and what corering will
//! be able to use here.

use std::time::Instant;

use corering::uring::{IoUring, sys};

const SETUP_FLAGS: &[(u32, &str)] = &[
    (sys::IORING_SETUP_CQSIZE, "CQSIZE"),
    (sys::IORING_SETUP_SUBMIT_ALL, "SUBMIT_ALL"),
    (sys::IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"),
    (sys::IORING_SETUP_TASKRUN_FLAG, "TASKRUN_FLAG"),
    (sys::IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER"),
    (sys::IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN"),
];

const FEATURES: &[(u32, &str)] = &[
    (sys::IORING_FEAT_SINGLE_MMAP, "SINGLE_MMAP"),
    (sys::IORING_FEAT_NODROP, "NODROP"),
    (sys::IORING_FEAT_SUBMIT_STABLE, "SUBMIT_STABLE"),
    (sys::IORING_FEAT_FAST_POLL, "FAST_POLL"),
    (sys::IORING_FEAT_EXT_ARG, "EXT_ARG"),
    (sys::IORING_FEAT_NATIVE_WORKERS, "NATIVE_WORKERS"),
    (sys::IORING_FEAT_CQE_SKIP, "CQE_SKIP"),
    (sys::IORING_FEAT_LINKED_FILE, "LINKED_FILE"),
    (sys::IORING_FEAT_REG_REG_RING, "REG_REG_RING"),
    (sys::IORING_FEAT_RECVSEND_BUNDLE, "RECVSEND_BUNDLE"),
    (sys::IORING_FEAT_MIN_TIMEOUT, "MIN_TIMEOUT"),
];

const OPCODES: &[(u8, &str)] = &[
    (sys::IORING_OP_NOP, "NOP"),
    (sys::IORING_OP_READ, "READ"),
    (sys::IORING_OP_WRITE, "WRITE"),
    (sys::IORING_OP_READV, "READV"),
    (sys::IORING_OP_WRITEV, "WRITEV"),
    (sys::IORING_OP_RECV, "RECV"),
    (sys::IORING_OP_SEND, "SEND"),
    (sys::IORING_OP_SEND_ZC, "SEND_ZC"),
    (sys::IORING_OP_SENDMSG, "SENDMSG"),
    (sys::IORING_OP_RECVMSG, "RECVMSG"),
    (sys::IORING_OP_ACCEPT, "ACCEPT"),
    (sys::IORING_OP_CONNECT, "CONNECT"),
    (sys::IORING_OP_CLOSE, "CLOSE"),
    (sys::IORING_OP_SHUTDOWN, "SHUTDOWN"),
    (sys::IORING_OP_TIMEOUT, "TIMEOUT"),
    (sys::IORING_OP_TIMEOUT_REMOVE, "TIMEOUT_REMOVE"),
    (sys::IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"),
    (sys::IORING_OP_POLL_ADD, "POLL_ADD"),
    (sys::IORING_OP_MSG_RING, "MSG_RING"),
    (sys::IORING_OP_OPENAT, "OPENAT"),
    (sys::IORING_OP_FSYNC, "FSYNC"),
    (sys::IORING_OP_STATX, "STATX"),
];

fn names<T: Copy>(table: &[(T, &'static str)], has: impl Fn(T) -> bool) -> String {
    let v: Vec<&str> = table.iter().filter(|(x, _)| has(*x)).map(|(_, n)| *n).collect();
    v.join(" ")
}

fn main() -> std::io::Result<()> {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("usage: nop (no flags): prints what io_uring grants here, then times NOPs");
        return Ok(());
    }
    let mut ring = IoUring::new(64)?;
    println!("ring: {} SQ / {} CQ entries", ring.sq_entries(), ring.cq_entries());
    println!("setup flags: {}", names(SETUP_FLAGS, |f| ring.setup_flags() & f != 0));
    println!("features:    {}", names(FEATURES, |f| ring.features() & f != 0));
    println!("ring fd registered: {}", ring.ring_fd_registered());
    let probe = ring.probe()?;
    println!("opcodes used by corering, supported: {}", names(OPCODES, |o| probe.is_supported(o)));
    let missing = names(OPCODES, |o| !probe.is_supported(o));
    if !missing.is_empty() {
        println!("opcodes used by corering, MISSING:   {missing}");
    }

    const ROUNDS: u32 = 100_000;
    let start = Instant::now();
    for i in 0..ROUNDS {
        ring.prep_nop(i as u64)?;
        ring.submit_and_wait(1)?;
        let cqe = ring.completions().next().expect("one completion per round trip");
        assert_eq!(cqe.user_data(), i as u64);
    }
    let ns = start.elapsed().as_nanos() as f64 / ROUNDS as f64;
    println!("NOP round trip: {ns:.0} ns (mean of {ROUNDS})");
    Ok(())
}
