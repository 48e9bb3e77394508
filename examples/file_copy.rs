//! Copy a file through the ring with several reads and writes in flight:
//! `--in-flight` tasks on one worker, each reading a chunk at its offset
//! into its own buffer and writing that same buffer out at the same offset
//! of the copy, then taking the next chunk of its share. No byte is
//! copied in user space and no thread but the worker's is involved (the
//! kernel may hand a read or write that must wait for the device to its
//! io-wq threads).
//!
//! Run: `cargo run --release --example file_copy -- SRC DST`
//!
//! Flags: `--in-flight N` (default 4), `--chunk-kib N` (default 256),
//! `--help`. It prints one line: the bytes copied, the time taken, and
//! MB/s. The copy gets the source's permission bits; an existing `DST` is
//! replaced.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use corering::buf::IoBuf;
use corering::fs::{File, OpenOptions};

const USAGE: &str = "usage: file_copy SRC DST [--in-flight N] [--chunk-kib N]";

struct Args {
    src: PathBuf,
    dst: PathBuf,
    in_flight: usize,
    chunk: usize,
}

fn args() -> Result<Args, String> {
    let mut paths = Vec::new();
    let (mut in_flight, mut chunk_kib) = (4, 256);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |flag: &str| -> Result<usize, String> {
            let value = it.next().ok_or(format!("{flag} needs a value"))?;
            match value.parse() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{flag} {value}: expected a positive number")),
            }
        };
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--in-flight" => in_flight = number("--in-flight")?,
            "--chunk-kib" => chunk_kib = number("--chunk-kib")?,
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            path => paths.push(PathBuf::from(path)),
        }
    }
    let [src, dst]: [PathBuf; 2] =
        paths.try_into().map_err(|p: Vec<_>| format!("expected SRC and DST, got {p:?}"))?;
    Ok(Args { src, dst, in_flight, chunk: chunk_kib * 1024 })
}

/// Copy `src` to `dst` with `in_flight` chunks of `chunk` bytes moving at
/// once; returns the bytes copied.
async fn copy(args: &Args) -> std::io::Result<u64> {
    let src = Rc::new(File::open(&args.src).await?);
    let meta = src.metadata().await?;
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    let dst = options.mode(meta.permissions().mode() & 0o7777).open(&args.dst).await?;
    let (dst, len, chunk) = (Rc::new(dst), meta.len(), args.chunk as u64);
    let chunks = len.div_ceil(chunk);
    // Task `t` copies chunks t, t + in_flight, t + 2 * in_flight, ...
    let tasks: Vec<_> = (0..args.in_flight as u64)
        .map(|t| {
            let (src, dst, in_flight) = (src.clone(), dst.clone(), args.in_flight as u64);
            corering::spawn(async move {
                let mut buf = Vec::with_capacity(chunk as usize);
                for i in (t..chunks).step_by(in_flight as usize) {
                    let pos = i * chunk;
                    let n = chunk.min(len - pos) as usize;
                    buf.clear();
                    let (res, slice) = src.read_exact_at(buf.slice(..n), pos).await;
                    res?;
                    let (res, b) = dst.write_all_at(slice.into_inner(), pos).await;
                    res?;
                    buf = b;
                }
                Ok::<_, std::io::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a copy task panicked")?;
    }
    Rc::into_inner(dst).expect("the tasks are done").close().await?;
    Ok(len)
}

fn main() -> std::io::Result<()> {
    let args = args().unwrap_or_else(|e| {
        eprintln!("file_copy: {e}\n{USAGE}");
        std::process::exit(2);
    });
    let rt = corering::Runtime::builder().build()?;
    let start = Instant::now();
    let bytes = rt.block_on(copy(&args))?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "copied {bytes} bytes in {secs:.3} s: {:.0} MB/s ({} in flight x {} KiB)",
        bytes as f64 / secs / 1e6,
        args.in_flight,
        args.chunk / 1024
    );
    Ok(())
}
