//! Ring set-up: the builder's options, the flag-by-flag fallback when the
//! kernel refuses an optional flag, and the errors that say why io_uring
//! could not be had at all.
//!
//! Nothing here maps memory or queues work; [`Builder::build`] hands the
//! accepted parameters to [`IoUring`](super::IoUring), which does.

use std::io;

use super::IoUring;
use super::sys::{
    IORING_SETUP_COOP_TASKRUN, IORING_SETUP_CQSIZE, IORING_SETUP_DEFER_TASKRUN,
    IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_SUBMIT_ALL, IORING_SETUP_TASKRUN_FLAG, Params,
};

/// The most SQ entries the kernel accepts (`IORING_MAX_ENTRIES`).
pub const MAX_ENTRIES: u32 = 32_768;
/// The most CQ entries the kernel accepts (`IORING_MAX_CQ_ENTRIES`).
pub const MAX_CQ_ENTRIES: u32 = 2 * MAX_ENTRIES;

/// Options for [`IoUring`]; see [`IoUring::builder`].
///
/// Every optional flag defaults to on and is dropped, one at a time, if the
/// kernel answers `EINVAL`; [`IoUring::setup_flags`] tells what was granted.
///
/// # Examples
///
/// ```
/// use corering::uring::IoUring;
///
/// let ring = IoUring::builder().entries(64).cq_entries(256).build()?;
/// assert!(ring.sq_entries() >= 64);
/// assert!(ring.cq_entries() >= 256);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    entries: u32,
    cq_entries: Option<u32>,
    single_issuer: bool,
    defer_taskrun: bool,
    coop_taskrun: bool,
    submit_all: bool,
    register_ring_fd: bool,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            entries: 256,
            cq_entries: None,
            single_issuer: true,
            defer_taskrun: true,
            coop_taskrun: true,
            submit_all: true,
            register_ring_fd: true,
        }
    }
}

impl Builder {
    /// Submission queue size (rounded up to a power of two by the kernel).
    /// Default 256.
    pub fn entries(&mut self, entries: u32) -> &mut Builder {
        self.entries = entries;
        self
    }

    /// Completion queue size (`IORING_SETUP_CQSIZE`); default twice the
    /// SQ. Must be at least `entries`.
    pub fn cq_entries(&mut self, cq_entries: u32) -> &mut Builder {
        self.cq_entries = Some(cq_entries);
        self
    }

    /// Only the creating thread submits (`IORING_SETUP_SINGLE_ISSUER`).
    /// Required by `defer_taskrun`.
    pub fn single_issuer(&mut self, on: bool) -> &mut Builder {
        self.single_issuer = on;
        self
    }

    /// Run completion work only when this thread enters the kernel to wait
    /// (`IORING_SETUP_DEFER_TASKRUN`). Falls back to `coop_taskrun`.
    pub fn defer_taskrun(&mut self, on: bool) -> &mut Builder {
        self.defer_taskrun = on;
        self
    }

    /// Do not interrupt the thread to run completion work
    /// (`IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG`).
    pub fn coop_taskrun(&mut self, on: bool) -> &mut Builder {
        self.coop_taskrun = on;
        self
    }

    /// Keep submitting a batch past an SQE that fails to prepare
    /// (`IORING_SETUP_SUBMIT_ALL`).
    pub fn submit_all(&mut self, on: bool) -> &mut Builder {
        self.submit_all = on;
        self
    }

    /// Register the ring fd with the kernel (`IORING_REGISTER_RING_FDS`) so
    /// each `io_uring_enter` skips the fd table look-up.
    pub fn register_ring_fd(&mut self, on: bool) -> &mut Builder {
        self.register_ring_fd = on;
        self
    }

    /// Create the ring.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an entry count of 0 or above the kernel's limits;
    /// otherwise the kernel's error, explained: io_uring missing (`ENOSYS`),
    /// disabled by `kernel.io_uring_disabled` or forbidden by a seccomp
    /// profile (`EPERM`), or short of locked memory (`ENOMEM`).
    pub fn build(&self) -> io::Result<IoUring> {
        self.validate()?;
        let mut flags = self.wanted_flags();
        loop {
            let mut p = Params { flags, ..Params::default() };
            if let Some(cq) = self.cq_entries {
                p.cq_entries = cq;
            } else {
                p.cq_entries = self.entries.saturating_mul(2).min(MAX_CQ_ENTRIES);
            }
            match IoUring::from_params(self.entries, p, self.register_ring_fd) {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => match fall_back(flags) {
                    Some(fewer) => flags = fewer,
                    None => return Err(e),
                },
                Err(e) => return Err(explain(e, read_io_uring_disabled())),
                Ok(ring) => return Ok(ring),
            }
        }
    }

    fn validate(&self) -> io::Result<()> {
        if self.entries == 0 || self.entries > MAX_ENTRIES {
            return Err(invalid(format!(
                "ring entries must be between 1 and {MAX_ENTRIES}, got {}",
                self.entries
            )));
        }
        if let Some(cq) = self.cq_entries
            && (cq < self.entries || cq > MAX_CQ_ENTRIES)
        {
            return Err(invalid(format!(
                "cq_entries must be between entries ({}) and {MAX_CQ_ENTRIES}, got {cq}",
                self.entries
            )));
        }
        Ok(())
    }

    fn wanted_flags(&self) -> u32 {
        let mut flags = IORING_SETUP_CQSIZE;
        if self.single_issuer {
            flags |= IORING_SETUP_SINGLE_ISSUER;
            if self.defer_taskrun {
                flags |= IORING_SETUP_DEFER_TASKRUN;
            }
        }
        if self.coop_taskrun && flags & IORING_SETUP_DEFER_TASKRUN == 0 {
            flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
        }
        if self.submit_all {
            flags |= IORING_SETUP_SUBMIT_ALL;
        }
        flags
    }
}

/// The flags to try after the kernel refused `flags` with `EINVAL`: the
/// newest optional flag is dropped first. `None` when none is left to drop.
fn fall_back(flags: u32) -> Option<u32> {
    if flags & IORING_SETUP_DEFER_TASKRUN != 0 {
        // DEFER_TASKRUN (6.1) → COOP_TASKRUN (5.19), keeping SINGLE_ISSUER.
        return Some(
            flags & !IORING_SETUP_DEFER_TASKRUN
                | IORING_SETUP_COOP_TASKRUN
                | IORING_SETUP_TASKRUN_FLAG,
        );
    }
    for optional in [
        IORING_SETUP_SINGLE_ISSUER,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        IORING_SETUP_SUBMIT_ALL,
    ] {
        if flags & optional != 0 {
            return Some(flags & !optional);
        }
    }
    None
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn read_io_uring_disabled() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok()?.trim().parse().ok()
}

/// Turn a failed `io_uring_setup` into an error that says what happened and
/// what to do. `disabled` is `kernel.io_uring_disabled`, if readable.
pub(crate) fn explain(err: io::Error, disabled: Option<u32>) -> io::Error {
    let Some(errno) = err.raw_os_error() else { return err };
    let msg = match (errno, disabled) {
        (libc::ENOSYS, _) => "io_uring is not available: this kernel has no io_uring_setup \
             (ENOSYS); corering needs Linux 6.0 or newer built with CONFIG_IO_URING"
            .to_string(),
        (libc::EPERM, Some(2)) => "io_uring is disabled by kernel.io_uring_disabled=2; set it \
             to 0 (sysctl -w kernel.io_uring_disabled=0) or run where io_uring is allowed"
            .to_string(),
        (libc::EPERM, Some(1)) => "io_uring is restricted by kernel.io_uring_disabled=1 to \
             processes in kernel.io_uring_group or with CAP_SYS_ADMIN; add this user to that \
             group or set the sysctl to 0"
            .to_string(),
        (libc::EPERM, _) => "io_uring_setup was forbidden (EPERM), most likely by a seccomp \
             profile such as a container runtime's default; allow io_uring_setup, \
             io_uring_enter and io_uring_register in the profile"
            .to_string(),
        (libc::ENOMEM, _) => "io_uring_setup ran out of locked memory (ENOMEM); raise \
             RLIMIT_MEMLOCK (ulimit -l) or ask for fewer ring entries"
            .to_string(),
        _ => return io::Error::new(err.kind(), format!("io_uring_setup failed: {err}")),
    };
    io::Error::new(err.kind(), msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(errno: i32, disabled: Option<u32>) -> String {
        explain(io::Error::from_raw_os_error(errno), disabled).to_string()
    }

    #[test]
    fn errors_say_which_and_what_to_do() {
        assert!(msg(libc::ENOSYS, None).contains("Linux 6.0"));
        assert!(msg(libc::EPERM, Some(2)).contains("kernel.io_uring_disabled=2"));
        assert!(msg(libc::EPERM, Some(1)).contains("io_uring_group"));
        assert!(msg(libc::EPERM, Some(0)).contains("seccomp"));
        assert!(msg(libc::ENOMEM, None).contains("RLIMIT_MEMLOCK"));
        assert!(msg(libc::EFAULT, None).starts_with("io_uring_setup failed"));
        let kind = explain(io::Error::from_raw_os_error(libc::EPERM), None).kind();
        assert_eq!(kind, io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn fallback_drops_one_flag_at_a_time_and_ends() {
        let mut flags = Builder::default().wanted_flags();
        assert_ne!(flags & IORING_SETUP_DEFER_TASKRUN, 0);
        let mut steps = 0;
        while let Some(next) = fall_back(flags) {
            assert_ne!(next, flags);
            flags = next;
            steps += 1;
        }
        assert_eq!(flags, IORING_SETUP_CQSIZE, "only CQSIZE is mandatory");
        assert_eq!(steps, 4);
    }

    #[test]
    fn bad_sizes_are_invalid_input() {
        for b in [
            Builder::default().entries(0).clone(),
            Builder::default().entries(MAX_ENTRIES + 1).clone(),
            Builder::default().entries(64).cq_entries(32).clone(),
        ] {
            let err = b.build().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        }
    }
}
