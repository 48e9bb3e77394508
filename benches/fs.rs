//! Copying a 256 MiB file that sits in the page cache, five ways, in one
//! run:
//!
//! - corering, 4 × 256 KiB in flight: four tasks on one worker, each
//!   reading a chunk into its buffer and writing that buffer out
//!   (`examples/file_copy.rs`);
//! - corering, 1 × 256 KiB: the same with one task, one operation at a
//!   time;
//! - `std::fs::copy`: `copy_file_range(2)`, the kernel copies page to page
//!   with no user-space buffer;
//! - `tokio::fs::copy`: std's copy, run on tokio's blocking pool;
//! - a `tokio::fs::File` loop: `read` into a 256 KiB buffer, `write_all`
//!   it, each call a trip through tokio's blocking pool.
//!
//! Run: `cargo bench --bench fs` (optionally `-- --samples N`, default 3;
//! `--mib N` for another size).
//!
//! The source is written once, synced to the device and read back, so each
//! copy reads from the page cache; each copy goes to a fresh file (the
//! previous one is removed outside the timing), whose dirty pages stay in
//! the cache (256 MiB is far below the write-back threshold). One untimed
//! copy of each kind first checks the bytes and warms up. Then in each
//! sample every kind copies once, the order rotating from sample to
//! sample. The table shows medians: MB/s of wall time, the process's CPU
//! time (user + system of all its threads, the kernel's io-wq workers and
//! tokio's blocking threads included), and each kind's wall and CPU time
//! over corering's 4-in-flight ones (above 1: slower, or more CPU, than
//! corering). On a busy machine the CPU times are the steadier figures.

mod common;

use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corering::buf::IoBuf;

const CHUNK: usize = 256 * 1024;

fn mib() -> u64 {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--mib" {
            return args.next().and_then(|s| s.parse().ok()).expect("--mib N");
        }
    }
    256
}

/// User + system CPU time of the whole process so far.
fn process_cpu() -> Duration {
    // SAFETY: a zeroed rusage is a valid value; getrusage writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid rusage for the call to write.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

async fn corering_copy(src: &Path, dst: &Path, in_flight: usize) -> io::Result<u64> {
    use corering::fs::File;
    let src = Rc::new(File::open(src).await?);
    let dst = Rc::new(File::create(dst).await?);
    let len = src.metadata().await?.len();
    let chunks = len.div_ceil(CHUNK as u64);
    let tasks: Vec<_> = (0..in_flight as u64)
        .map(|t| {
            let (src, dst) = (src.clone(), dst.clone());
            corering::spawn(async move {
                let mut buf = Vec::with_capacity(CHUNK);
                for i in (t..chunks).step_by(in_flight) {
                    let pos = i * CHUNK as u64;
                    let n = (CHUNK as u64).min(len - pos) as usize;
                    buf.clear();
                    let (res, slice) = src.read_exact_at(buf.slice(..n), pos).await;
                    res?;
                    let (res, b) = dst.write_all_at(slice.into_inner(), pos).await;
                    res?;
                    buf = b;
                }
                Ok::<_, io::Error>(())
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("copy task")?;
    }
    Rc::into_inner(dst).expect("tasks done").close().await?;
    Ok(len)
}

async fn tokio_loop(src: &Path, dst: &Path) -> io::Result<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut src = tokio::fs::File::open(src).await?;
    let mut dst = tokio::fs::File::create(dst).await?;
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = src.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n]).await?;
        total += n as u64;
    }
    dst.flush().await?;
    Ok(total)
}

struct Kinds {
    corering: corering::Runtime,
    tokio: tokio::runtime::Runtime,
}

const NAMES: [&str; 5] =
    ["corering 4x256K", "corering 1x256K", "std::fs::copy", "tokio::fs::copy", "tokio File loop"];

impl Kinds {
    /// Copy `src` to `dst` the `kind`-th way; the bytes copied.
    fn copy(&self, kind: usize, src: &Path, dst: &Path) -> io::Result<u64> {
        match kind {
            0 => self.corering.block_on(corering_copy(src, dst, 4)),
            1 => self.corering.block_on(corering_copy(src, dst, 1)),
            2 => std::fs::copy(src, dst),
            3 => self.tokio.block_on(tokio::fs::copy(src, dst)),
            4 => self.tokio.block_on(tokio_loop(src, dst)),
            _ => unreachable!(),
        }
    }
}

/// A directory for the bench's files, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() -> io::Result<()> {
    let (samples, mib) = (common::samples(3), mib());
    let dir =
        Scratch(std::env::temp_dir().join(format!("corering-bench-fs-{}", std::process::id())));
    std::fs::create_dir(&dir.0)?;
    let (src, dst) = (dir.0.join("src"), dir.0.join("dst"));
    let len = mib * 1024 * 1024;
    let data: Vec<u8> = (0..len as usize).map(|i| (i * 7 + i / 4093) as u8).collect();
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&src)?;
        f.write_all(&data)?;
        f.sync_all()?;
    }
    assert_eq!(std::fs::read(&src)?.len() as u64, len, "source read back");

    let kinds = Kinds {
        corering: corering::Runtime::builder().build()?,
        tokio: tokio::runtime::Builder::new_current_thread().enable_all().build()?,
    };
    for (kind, name) in NAMES.iter().enumerate() {
        let _ = std::fs::remove_file(&dst);
        assert_eq!(kinds.copy(kind, &src, &dst)?, len, "{name}: bytes copied");
        assert!(std::fs::read(&dst)? == data, "{name}: the copy differs from the source");
    }
    drop(data);

    println!("copying {mib} MiB in the page cache, {samples} sample(s), medians");
    let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); NAMES.len()];
    for s in 0..samples {
        let mut order: Vec<usize> = (0..NAMES.len()).collect();
        order.rotate_left(s % NAMES.len());
        for kind in order {
            let _ = std::fs::remove_file(&dst);
            let (cpu0, t0) = (process_cpu(), Instant::now());
            let copied = kinds.copy(kind, &src, &dst)?;
            let (wall, cpu) = (t0.elapsed(), process_cpu() - cpu0);
            assert_eq!(copied, len);
            results[kind].push((wall.as_secs_f64(), cpu.as_secs_f64()));
        }
    }
    let medians: Vec<(f64, f64)> = results
        .iter()
        .map(|r| {
            let wall = common::median(&mut r.iter().map(|x| x.0).collect::<Vec<_>>());
            let cpu = common::median(&mut r.iter().map(|x| x.1).collect::<Vec<_>>());
            (wall, cpu)
        })
        .collect();
    println!(
        "{:<16} | {:>8} | {:>8} | {:>8} | {:>9} | {:>9}",
        "", "MB/s", "wall ms", "CPU ms", "wall / 4x", "CPU / 4x"
    );
    for (name, (wall, cpu)) in NAMES.iter().zip(&medians) {
        println!(
            "{name:<16} | {:>8.0} | {:>8.1} | {:>8.1} | {:>9.2} | {:>9.2}",
            len as f64 / wall / 1e6,
            wall * 1e3,
            cpu * 1e3,
            wall / medians[0].0,
            cpu / medians[0].1
        );
    }
    Ok(())
}
