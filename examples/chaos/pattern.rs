//! What is random in a run: the bytes each connection sends (`Pattern`)
//! and the choices it makes (`Rng`). Both follow from numbers alone; no
//! I/O here.

/// The golden-ratio increment of SplitMix64.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The first prime above 1 MiB: the pattern's period.
const PERIOD: u64 = 1_048_583;

/// The most bytes sent or received in one call.
pub(crate) const CHUNK: usize = 1 << 16;

/// SplitMix64's output function: a well-mixed bijection of 64 bits.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The bytes every connection sends: the stream named `key` is this
/// random table read from `key % PERIOD` on, wrapping at `PERIOD`. Sending
/// and checking are then a plain copy and compare, cheap even in the debug
/// build the test runs. `PERIOD` is a prime longer than any message, so
/// lost, repeated or reordered bytes, and bytes of another connection,
/// come back different (short of a shift by exactly a period).
pub(crate) struct Pattern(Vec<u8>);

impl Pattern {
    /// Build the table (a few ms).
    pub(crate) fn new() -> Pattern {
        let mut table = vec![0; PERIOD as usize + CHUNK];
        for (i, word) in table[..PERIOD as usize].chunks_mut(8).enumerate() {
            word.copy_from_slice(&mix(i as u64 + 1).to_le_bytes()[..word.len()]);
        }
        // The tail repeats the head, so that a slice starting anywhere in
        // the period reads on across the wrap.
        table.copy_within(..CHUNK, PERIOD as usize);
        Pattern(table)
    }

    /// Bytes `offset..offset + len` (`len` at most `CHUNK`) of stream `key`.
    pub(crate) fn bytes(&self, key: u64, offset: u64, len: usize) -> &[u8] {
        let at = ((key % PERIOD + offset % PERIOD) % PERIOD) as usize;
        &self.0[at..at + len]
    }
}

/// SplitMix64, seeded from `--seed`: a run's choices follow from the seed
/// (its timing, and so what the server sees, does not).
pub(crate) struct Rng(u64);

impl Rng {
    /// Thread `index`'s generator for `seed`.
    pub(crate) fn new(seed: u64, index: usize) -> Rng {
        Rng(mix(seed ^ (index as u64 + 1).wrapping_mul(GOLDEN)))
    }

    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// Heads or tails.
    pub(crate) fn coin(&mut self) -> bool {
        self.next() & 1 == 0
    }

    /// A duration of `lo..=hi` ms.
    pub(crate) fn millis(&mut self, lo: u64, hi: u64) -> std::time::Duration {
        std::time::Duration::from_millis(self.between(lo, hi))
    }

    /// A size from 1 to `max` (a power of two), each octave as likely.
    pub(crate) fn size(&mut self, max: u64) -> u64 {
        let hi = 1 << self.between(0, max.trailing_zeros() as u64);
        self.between(hi / 2 + 1, hi)
    }
}
