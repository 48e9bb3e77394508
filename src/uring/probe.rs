//! Which opcodes this kernel supports (`IORING_REGISTER_PROBE`).

use core::fmt;
use std::io;

use super::IoUring;
use super::sys::{IO_URING_OP_SUPPORTED, IORING_REGISTER_PROBE, ProbeHeader, ProbeOp};

const PROBE_OPS: usize = 256;

/// The kernel's answer to `IORING_REGISTER_PROBE`: a supported bit per opcode.
#[derive(Clone)]
pub struct Probe {
    last_op: u8,
    supported: [bool; PROBE_OPS],
}

#[repr(C)]
struct ProbeBuf {
    header: ProbeHeader,
    ops: [ProbeOp; PROBE_OPS],
}

impl IoUring {
    /// Ask the kernel which opcodes it supports.
    ///
    /// # Errors
    ///
    /// The kernel's error (`EINVAL` before Linux 5.6, which had no probe).
    ///
    /// # Examples
    ///
    /// ```
    /// use corering::uring::{IoUring, sys};
    ///
    /// let probe = IoUring::new(4)?.probe()?;
    /// assert!(probe.is_supported(sys::IORING_OP_NOP));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn probe(&self) -> io::Result<Probe> {
        let mut buf =
            ProbeBuf { header: ProbeHeader::default(), ops: [ProbeOp::default(); PROBE_OPS] };
        // SAFETY: the kernel writes a probe header and up to PROBE_OPS ops
        // into `buf`, a zeroed local of exactly that size.
        unsafe {
            self.ring_fd().register(
                IORING_REGISTER_PROBE,
                (&raw mut buf).cast(),
                PROBE_OPS as u32,
            )?
        };
        let mut supported = [false; PROBE_OPS];
        let n = (buf.header.ops_len as usize).min(PROBE_OPS);
        for op in &buf.ops[..n] {
            supported[op.op as usize] = op.flags & IO_URING_OP_SUPPORTED != 0;
        }
        Ok(Probe { last_op: buf.header.last_op, supported })
    }
}

impl Probe {
    /// Whether `opcode` (an `IORING_OP_*`) is supported.
    pub fn is_supported(&self, opcode: u8) -> bool {
        self.supported[opcode as usize]
    }

    /// The highest opcode this kernel knows.
    pub fn last_op(&self) -> u8 {
        self.last_op
    }

    /// Every supported opcode, in order.
    pub fn supported(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=self.last_op).filter(|&op| self.is_supported(op))
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe")
            .field("last_op", &self.last_op)
            .field("supported", &self.supported().collect::<Vec<_>>())
            .finish()
    }
}
