//! NOP round trips through corering's ring and through the `io-uring` crate,
//! in the same process, alternating sample by sample.
//!
//! Run: `cargo bench --bench ring` (optionally `-- --samples 21`).
//!
//! Both rings get the same set-up: SINGLE_ISSUER, DEFER_TASKRUN, SUBMIT_ALL,
//! a CQ twice the SQ, and a registered ring fd. Each sample times `ITERS`
//! round trips; the table shows the median ns per NOP of each, and the
//! median of the per-sample ratios corering / io-uring (samples are taken
//! in pairs, so the paired ratio cancels drift; below 1.00 means corering
//! is faster).

mod common;

use std::hint::black_box;
use std::time::Instant;

const ENTRIES: u32 = 64;

/// One ring implementation under test.
trait Ring {
    /// Time `iters` round trips of `n` NOPs each: queue `n`,
    /// `submit_and_wait(n)`, reap all `n`. Returns ns per NOP.
    fn run(&mut self, n: u32, iters: u32) -> f64;
}

fn ns_per_nop(start: Instant, n: u32, iters: u32) -> f64 {
    start.elapsed().as_nanos() as f64 / (iters as f64 * n as f64)
}

struct Corering(corering::uring::IoUring);

impl Corering {
    fn new() -> Self {
        let ring = corering::uring::IoUring::builder().entries(ENTRIES).build().unwrap();
        assert!(ring.ring_fd_registered());
        Corering(ring)
    }
}

impl Ring for Corering {
    #[inline(never)]
    fn run(&mut self, n: u32, iters: u32) -> f64 {
        let ring = &mut self.0;
        let start = Instant::now();
        for _ in 0..iters {
            for i in 0..n {
                ring.prep_nop(i as u64).unwrap();
            }
            ring.submit_and_wait(n).unwrap();
            let mut got = 0;
            for cqe in ring.completions() {
                black_box(cqe.user_data());
                got += 1;
            }
            assert_eq!(got, n);
        }
        ns_per_nop(start, n, iters)
    }
}

struct Peer(io_uring::IoUring);

impl Peer {
    fn new() -> Self {
        let ring = io_uring::IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_submit_all()
            .setup_cqsize(ENTRIES * 2)
            .build(ENTRIES)
            .unwrap();
        Peer(ring)
    }
}

impl Ring for Peer {
    #[inline(never)]
    fn run(&mut self, n: u32, iters: u32) -> f64 {
        let (mut submitter, mut sq, mut cq) = self.0.split();
        // The crate keeps its ring-fd registration on the `Submitter`.
        submitter.register_ring_fd().unwrap();
        let nop = io_uring::opcode::Nop::new().build();
        let start = Instant::now();
        for _ in 0..iters {
            for i in 0..n {
                // SAFETY: a NOP points at no memory.
                unsafe { sq.push(&nop.clone().user_data(i as u64)).unwrap() };
            }
            sq.sync();
            submitter.submit_and_wait(n as usize).unwrap();
            cq.sync();
            let mut got = 0;
            for cqe in &mut cq {
                black_box(cqe.user_data());
                got += 1;
            }
            assert_eq!(got, n);
        }
        let ns = ns_per_nop(start, n, iters);
        submitter.unregister_ring_fd().unwrap();
        ns
    }
}

fn main() {
    let samples = common::samples(11);
    common::pin_to_cpu(0);

    println!("ring NOP round trips, median of {samples} samples (ns per NOP, lower is better)");
    println!("{:<22} {:>10} {:>10} {:>9}", "workload", "corering", "io-uring", "ratio");
    for (name, batch, iters) in [("1 NOP per enter", 1, 200_000), ("32 NOPs per enter", 32, 20_000)]
    {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for i in 0..samples {
            // Fresh rings each sample, created and run in alternating order:
            // which ring is created first measurably changes its speed (fd
            // number, mapping placement), so neither may always be first.
            let (mut ours, mut peer) = if i % 2 == 0 {
                let o = Corering::new();
                (o, Peer::new())
            } else {
                let p = Peer::new();
                (Corering::new(), p)
            };
            ours.run(batch, iters / 10); // warm-up
            peer.run(batch, iters / 10);
            if i % 2 == 0 {
                a.push(ours.run(batch, iters));
                b.push(peer.run(batch, iters));
            } else {
                b.push(peer.run(batch, iters));
                a.push(ours.run(batch, iters));
            }
        }
        let mut ratios: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x / y).collect();
        let ratio = common::median(&mut ratios);
        let (a, b) = (common::median(&mut a), common::median(&mut b));
        println!("{name:<22} {a:>10.1} {b:>10.1} {ratio:>9.3}");
    }
}
