//! What a run counts: per-behaviour tallies, errors, failures and round
//! trips, one `Stats` per thread, merged at the end. Plain arithmetic.

use std::collections::BTreeMap;
use std::time::Duration;

use super::peer::Kind;

/// Round trips in µs, in buckets 1/16 of an octave wide (about 6 %).
#[derive(Default)]
pub(crate) struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max_us: u64,
}

impl Histogram {
    /// Count one round trip.
    pub(crate) fn record(&mut self, d: Duration) {
        let us = d.as_micros() as u64;
        // Exact below 32 µs; above, 16 buckets per power of two.
        let i = match 63 - u64::from((us | 1).leading_zeros()) {
            e if e < 4 => us,
            e => 16 * (e - 3) + (us >> (e - 4)) - 16,
        } as usize;
        if self.buckets.len() <= i {
            self.buckets.resize(i + 1, 0);
        }
        self.buckets[i] += 1;
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Add `other`'s counts to these.
    fn merge(&mut self, other: &Histogram) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.max_us = self.max_us.max(other.max_us);
    }

    /// The lower edge of the bucket that holds quantile `q`, in ms.
    fn quantile_ms(&self, q: f64) -> f64 {
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        let (mut seen, mut i) = (0, 0);
        while i < self.buckets.len() && seen + self.buckets[i] < rank {
            seen += self.buckets[i];
            i += 1;
        }
        let i = i as u64;
        let us = if i < 16 { i } else { (i % 16 + 16) << (i / 16 - 1) };
        us as f64 / 1000.0
    }

    /// `n=…: p50 …, p99 …, max …`.
    pub(crate) fn line(&self) -> String {
        format!(
            "n={}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.count,
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.max_us as f64 / 1000.0
        )
    }
}

/// One thread's tallies, indexed by `Kind as usize` where per behaviour.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) opened: [u64; Kind::ALL.len()],
    pub(crate) done: [u64; Kind::ALL.len()],
    pub(crate) errors: [u64; Kind::ALL.len()],
    /// Errors by behaviour and error kind, such as `Reset: ConnectionReset`.
    pub(crate) errors_by_kind: BTreeMap<String, u64>,
    pub(crate) verified_bytes: u64,
    /// Failures of the run, and the first few of them in words.
    pub(crate) failures: u64,
    pub(crate) first_failures: Vec<String>,
    /// Round trips of `Good` and `Cycle` messages, and of those of them
    /// that are at most 4 KiB.
    pub(crate) rtt: Histogram,
    pub(crate) rtt_small: Histogram,
    /// The longest turn of a thread's poll loop.
    pub(crate) longest_turn: Duration,
}

impl Stats {
    /// The sum of two threads' tallies.
    pub(crate) fn merge(mut self, other: Stats) -> Stats {
        for i in 0..Kind::ALL.len() {
            self.opened[i] += other.opened[i];
            self.done[i] += other.done[i];
            self.errors[i] += other.errors[i];
        }
        for (what, n) in other.errors_by_kind {
            *self.errors_by_kind.entry(what).or_default() += n;
        }
        self.verified_bytes += other.verified_bytes;
        self.failures += other.failures;
        self.first_failures.extend(other.first_failures);
        self.rtt.merge(&other.rtt);
        self.rtt_small.merge(&other.rtt_small);
        self.longest_turn = self.longest_turn.max(other.longest_turn);
        self
    }
}
