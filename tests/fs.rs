//! `corering::fs` against real files in a temp dir: round trips of a few
//! MiB with every byte checked, the open modes, the kernel's errors, metadata,
//! sync, rename and remove, and no fd left open by any path through it
//! (closed, dropped, dropped in flight, failed).
//!
//! Every test takes `serial()`: some count this process's fds, which any
//! test running beside them would change.

mod common;

use std::future::{Future, poll_fn};
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{bounded, open_fds, serial};
use corering::buf::IoBuf;
use corering::fs::{self, File, OpenOptions};

const LIMIT: Duration = Duration::from_secs(30);

/// A fresh directory under the temp dir, removed with all it holds on
/// drop (also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("corering-fs-{}-{nanos}-{tag}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `f`'s future on a fresh runtime on its own thread, under the
/// watchdog; the runtime is dropped before this returns.
fn run<F, Fut>(f: F) -> Fut::Output
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    bounded(LIMIT, move || corering::Runtime::builder().build().unwrap().block_on(f()))
}

/// `len` bytes that differ from their neighbours and do not repeat with a
/// power-of-two period, so a misplaced chunk shows.
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(7) + i / 251 + seed) as u8).collect()
}

/// The first differing byte, for a readable failure on large buffers.
fn assert_same(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: byte {i} is {:#04x}, expected {:#04x}", got[i], want[i]);
    }
}

#[test]
fn write_at_and_read_at_round_trip_a_few_mib() {
    let _g = serial();
    let dir = TempDir::new("round-trip");
    let path = dir.join("data");
    run(move || async move {
        const LEN: usize = 3 * 1024 * 1024 + 4097; // not a multiple of a page
        let data = pattern(LEN, 0);
        let file = File::create(&path).await.unwrap();
        // Out of order, in uneven chunks, each written whole.
        let cuts = [0, 100_000, 1_048_576, 1_048_577, 2_500_000, LEN];
        for w in cuts.windows(2).rev() {
            let chunk = data[w[0]..w[1]].to_vec();
            let (res, back) = file.write_all_at(chunk, w[0] as u64).await;
            res.unwrap();
            assert_eq!(back.len(), w[1] - w[0], "the buffer comes back whole");
        }
        file.sync_all().await.unwrap();
        file.close().await.unwrap();
        assert_same(&std::fs::read(&path).unwrap(), &data, "std reads what corering wrote");

        let file = File::open(&path).await.unwrap();
        // One read_exact_at of everything.
        let (res, all) = file.read_exact_at(Vec::with_capacity(LEN), 0).await;
        res.unwrap();
        assert_same(&all, &data, "read_exact_at");
        // Plain read_at from odd offsets, looping on short reads.
        for start in [0, 1, 4095, 1_048_576, LEN - 10] {
            let mut got = Vec::new();
            let mut buf = Vec::with_capacity(300_007);
            loop {
                let (res, b) = file.read_at(buf, (start + got.len()) as u64).await;
                let n = res.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&b[..n]);
                buf = b;
                buf.clear();
            }
            assert_same(&got, &data[start..], &format!("read_at from {start}"));
        }
        // Past the end: 0 bytes, the buffer untouched.
        let (res, b) = file.read_at(Vec::with_capacity(8), LEN as u64 + 5).await;
        assert_eq!(res.unwrap(), 0);
        assert!(b.is_empty());
        // fs::read agrees.
        assert_same(&fs::read(&path).await.unwrap(), &data, "fs::read");
    });
}

#[test]
fn reads_into_slices_fill_only_their_range() {
    let _g = serial();
    let dir = TempDir::new("slices");
    let path = dir.join("data");
    run(move || async move {
        let data = pattern(1 << 20, 3);
        fs::write(&path, data.clone()).await.unwrap();
        let file = File::open(&path).await.unwrap();
        // Bytes 1000..1000+N of a buffer from file offset 5000.
        let buf = vec![0xAAu8; 1 << 20];
        let (res, slice) = file.read_exact_at(buf.slice(1000..501_000), 5000).await;
        res.unwrap();
        let buf = slice.into_inner();
        assert!(buf[..1000].iter().all(|&b| b == 0xAA), "bytes before the slice untouched");
        assert_same(&buf[1000..501_000], &data[5000..505_000], "the slice");
        assert!(buf[501_000..].iter().all(|&b| b == 0xAA), "bytes after the slice untouched");
        // write_all_at of a slice writes only its range.
        let out = File::options().write(true).open(&path).await.unwrap();
        let (res, _) = out.write_all_at(b"0123456789".slice(2..5), 7).await;
        res.unwrap();
        let back = fs::read(&path).await.unwrap();
        assert_eq!(&back[7..10], b"234");
        assert_same(&back[10..], &data[10..], "bytes after the slice's write");
    });
}

#[test]
fn several_reads_and_writes_in_flight_on_one_file() {
    let _g = serial();
    let dir = TempDir::new("in-flight");
    let (src, dst) = (dir.join("src"), dir.join("dst"));
    run(move || async move {
        const CHUNK: usize = 256 * 1024;
        const CHUNKS: usize = 8;
        let data = pattern(CHUNK * CHUNKS, 9);
        fs::write(&src, data.clone()).await.unwrap();
        let input = Rc::new(File::open(&src).await.unwrap());
        let output = Rc::new(File::create(&dst).await.unwrap());
        let tasks: Vec<_> = (0..CHUNKS)
            .map(|i| {
                let (input, output) = (input.clone(), output.clone());
                corering::spawn(async move {
                    let pos = (i * CHUNK) as u64;
                    let (res, buf) = input.read_exact_at(Vec::with_capacity(CHUNK), pos).await;
                    res.unwrap();
                    let (res, _) = output.write_all_at(buf, pos).await;
                    res.unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        output.sync_data().await.unwrap();
        assert_same(&fs::read(&dst).await.unwrap(), &data, "the copy");
    });
}

#[test]
fn append_writes_go_to_the_end_whatever_the_offset() {
    let _g = serial();
    let dir = TempDir::new("append");
    let path = dir.join("log");
    run(move || async move {
        let log = OpenOptions::new().append(true).create(true).open(&path).await.unwrap();
        for line in ["first\n", "second\n", "third\n"] {
            let (res, _) = log.write_all_at(line.as_bytes().to_vec(), 0).await;
            res.unwrap();
        }
        assert_eq!(fs::read(&path).await.unwrap(), b"first\nsecond\nthird\n");
        drop(log);
        // Reopened: appends after what is there, and reads see it all.
        let log = OpenOptions::new().read(true).append(true).open(&path).await.unwrap();
        let (res, _) = log.write_all_at(b"fourth\n", 3).await;
        res.unwrap();
        let (res, buf) = log.read_at(Vec::with_capacity(64), 0).await;
        assert_eq!(&buf[..res.unwrap()], b"first\nsecond\nthird\nfourth\n");
        assert_eq!(log.metadata().await.unwrap().len(), 26);
    });
}

#[test]
fn truncate_cuts_and_plain_write_keeps_the_tail() {
    let _g = serial();
    let dir = TempDir::new("truncate");
    let path = dir.join("file");
    run(move || async move {
        fs::write(&path, b"0123456789").await.unwrap();
        // Without truncate a shorter write leaves the tail.
        let f = OpenOptions::new().write(true).open(&path).await.unwrap();
        f.write_all_at(b"abc", 0).await.0.unwrap();
        f.close().await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"abc3456789");
        // With truncate the file starts empty.
        let f = OpenOptions::new().write(true).truncate(true).open(&path).await.unwrap();
        assert_eq!(f.metadata().await.unwrap().len(), 0);
        f.write_all_at(b"xy", 0).await.0.unwrap();
        f.close().await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"xy");
        // File::create truncates too, and fs::write replaces.
        File::create(&path).await.unwrap().close().await.unwrap();
        assert_eq!(fs::metadata(&path).await.unwrap().len(), 0);
        fs::write(&path, b"replaced").await.unwrap();
        fs::write(&path, b"again").await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"again");
        // Truncating without write access is refused before the kernel.
        let e = OpenOptions::new().read(true).truncate(true).open(&path).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn create_new_refuses_an_existing_file() {
    let _g = serial();
    let dir = TempDir::new("create-new");
    let path = dir.join("only-once");
    run(move || async move {
        let new = || OpenOptions::new().write(true).create_new(true).clone();
        let f = new().open(&path).await.unwrap();
        f.write_all_at(b"mine", 0).await.0.unwrap();
        f.close().await.unwrap();
        let e = new().open(&path).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        assert_eq!(fs::read(&path).await.unwrap(), b"mine", "the file is left alone");
        // Also over a directory, and over a dangling symlink.
        let e = new().open(std::env::temp_dir()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        let link = path.with_file_name("dangling");
        std::os::unix::fs::symlink(path.with_file_name("nowhere"), &link).unwrap();
        assert_eq!(new().open(&link).await.unwrap_err().kind(), ErrorKind::AlreadyExists);
        // Without create, a missing file is NotFound.
        let missing = path.with_file_name("missing");
        let e = OpenOptions::new().write(true).open(&missing).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn a_directory_is_eisdir_to_read_and_to_open_for_writing() {
    let _g = serial();
    let dir = TempDir::new("eisdir");
    let path = dir.0.clone();
    run(move || async move {
        // Opening a directory read-only succeeds; reading it does not.
        let d = File::open(&path).await.unwrap();
        assert!(d.metadata().await.unwrap().is_dir());
        let (res, buf) = d.read_at(Vec::with_capacity(16), 0).await;
        let e = res.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
        assert_eq!(e.kind(), ErrorKind::IsADirectory);
        assert!(buf.is_empty());
        let (res, _) = d.read_exact_at(vec![0; 16], 0).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EISDIR));
        assert_eq!(fs::read(&path).await.unwrap_err().raw_os_error(), Some(libc::EISDIR));
        // Opening it for writing fails in the open.
        assert_eq!(File::create(&path).await.unwrap_err().raw_os_error(), Some(libc::EISDIR));
        assert_eq!(fs::write(&path, b"x").await.unwrap_err().kind(), ErrorKind::IsADirectory);
        // And it cannot be removed as a file.
        let e = fs::remove_file(&path).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
    });
}

#[test]
fn metadata_follows_the_writes_and_agrees_with_std() {
    let _g = serial();
    let dir = TempDir::new("metadata");
    let path = dir.join("file");
    run(move || async move {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).mode(0o640);
        let f = options.open(&path).await.unwrap();
        assert_eq!(f.metadata().await.unwrap().len(), 0);
        assert!(f.metadata().await.unwrap().is_empty());
        f.write_all_at(vec![1u8; 5000], 0).await.0.unwrap();
        assert_eq!(f.metadata().await.unwrap().len(), 5000);
        // A write past the end leaves a hole and moves the end.
        f.write_all_at(b"end", 1 << 20).await.0.unwrap();
        assert_eq!(f.metadata().await.unwrap().len(), (1 << 20) + 3);
        // An overwrite inside does not.
        f.write_all_at(vec![2u8; 100], 10).await.0.unwrap();
        let meta = f.metadata().await.unwrap();
        assert_eq!(meta.len(), (1 << 20) + 3);

        let std_meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), std_meta.len());
        assert_eq!(meta.permissions(), std_meta.permissions());
        assert_eq!(meta.permissions().mode() & 0o777 & !0o640, 0, "mode 0o640 less the umask");
        assert_eq!(meta.modified().unwrap(), std_meta.modified().unwrap());
        assert!(meta.is_file() && !meta.is_dir());
        // By path, the same.
        let by_path = fs::metadata(&path).await.unwrap();
        assert_eq!(by_path.len(), meta.len());
        assert_eq!(by_path.modified().unwrap(), meta.modified().unwrap());
        let e = fs::metadata(path.with_file_name("missing")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn sync_all_and_sync_data_succeed_and_keep_the_data() {
    let _g = serial();
    let dir = TempDir::new("sync");
    let path = dir.join("file");
    run(move || async move {
        let data = pattern(1 << 20, 5);
        let f = File::create(&path).await.unwrap();
        f.write_all_at(data.clone(), 0).await.0.unwrap();
        f.sync_data().await.unwrap();
        f.write_all_at(b"tail", data.len() as u64).await.0.unwrap();
        f.sync_all().await.unwrap();
        // Both on a read-only fd too (fsync needs no write access).
        let r = File::open(&path).await.unwrap();
        r.sync_all().await.unwrap();
        r.sync_data().await.unwrap();
        let back = std::fs::read(&path).unwrap();
        assert_same(&back[..data.len()], &data, "synced data");
        assert_eq!(&back[data.len()..], b"tail");
    });
}

#[test]
fn rename_create_dir_and_remove() {
    let _g = serial();
    let dir = TempDir::new("names");
    let base = dir.0.clone();
    run(move || async move {
        let (a, b, sub) = (base.join("a"), base.join("b"), base.join("sub"));
        fs::write(&a, b"contents of a").await.unwrap();
        fs::rename(&a, &b).await.unwrap();
        assert_eq!(fs::metadata(&a).await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(fs::read(&b).await.unwrap(), b"contents of a");
        // Renaming over an existing file replaces it.
        fs::write(&a, b"newer").await.unwrap();
        fs::rename(&a, &b).await.unwrap();
        assert_eq!(fs::read(&b).await.unwrap(), b"newer");
        assert_eq!(fs::rename(&a, &b).await.unwrap_err().kind(), ErrorKind::NotFound);

        // Directories: create, fill, refuse removal while full.
        fs::create_dir(&sub).await.unwrap();
        assert!(fs::metadata(&sub).await.unwrap().is_dir());
        assert_eq!(fs::create_dir(&sub).await.unwrap_err().kind(), ErrorKind::AlreadyExists);
        let nested = sub.join("x").join("y");
        assert_eq!(fs::create_dir(&nested).await.unwrap_err().kind(), ErrorKind::NotFound);
        fs::rename(&b, sub.join("b")).await.unwrap();
        let e = fs::remove_dir(&sub).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DirectoryNotEmpty);
        // A file is not a directory to remove.
        let e = fs::remove_dir(sub.join("b")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotADirectory);

        fs::remove_file(sub.join("b")).await.unwrap();
        assert_eq!(fs::remove_file(sub.join("b")).await.unwrap_err().kind(), ErrorKind::NotFound);
        fs::remove_dir(&sub).await.unwrap();
        assert_eq!(fs::remove_dir(&sub).await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(std::fs::read_dir(&base).unwrap().count(), 0, "nothing left behind");
    });
}

#[test]
fn paths_with_a_nul_byte_are_invalid_input() {
    let _g = serial();
    run(|| async {
        let bad = Path::new("bad\0name");
        assert_eq!(File::open(bad).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(fs::metadata(bad).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(fs::remove_file(bad).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(fs::rename("ok", bad).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(fs::create_dir(bad).await.unwrap_err().kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn offsets_past_i64_max_are_invalid_input() {
    let _g = serial();
    let dir = TempDir::new("offsets");
    let path = dir.join("file");
    run(move || async move {
        fs::write(&path, b"abc").await.unwrap();
        let f = OpenOptions::new().read(true).write(true).open(&path).await.unwrap();
        // u64::MAX would otherwise be io_uring's "current position".
        let (res, buf) = f.read_at(Vec::with_capacity(3), u64::MAX).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(buf.capacity(), 3, "the buffer comes back");
        let (res, _) = f.write_at(b"x", u64::MAX).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        let (res, _) = f.write_all_at(b"xyz", i64::MAX as u64 - 1).await;
        assert!(res.is_err());
        assert_eq!(fs::read(&path).await.unwrap(), b"abc");
    });
}

#[test]
fn files_of_unknown_size_are_read_whole() {
    let _g = serial();
    run(|| async {
        // /proc files report length 0.
        let status = fs::read("/proc/self/status").await.unwrap();
        assert!(status.starts_with(b"Name:"), "{:?}", String::from_utf8_lossy(&status));
        // Bigger than the first chunk.
        let maps = fs::read("/proc/self/smaps").await.unwrap();
        assert!(maps.len() > 8192, "smaps is {} bytes", maps.len());
    });
}

#[test]
fn std_files_go_in_and_out() {
    let _g = serial();
    let dir = TempDir::new("std");
    let path = dir.join("file");
    run(move || async move {
        std::fs::write(&path, b"from std").unwrap();
        let f = File::from_std(std::fs::File::open(&path).unwrap());
        let (res, buf) = f.read_at(Vec::with_capacity(8), 0).await;
        assert_eq!(&buf[..res.unwrap()], b"from std");
        let std_file = f.into_std().expect("no operation in flight");
        assert_eq!(std_file.metadata().unwrap().len(), 8);
    });
}

/// `EACCES` comes back as `PermissionDenied`. Root may open anything, so
/// as root the checks run in a copy of this test binary started as
/// `nobody`, on files root made.
#[test]
fn permission_denied_is_the_kernels_eacces() {
    const CHILD: &str = "CORERING_FS_EACCES_DIR";
    if let Some(dir) = std::env::var_os(CHILD) {
        let dir = PathBuf::from(dir);
        return run(move || async move { expect_eacces(&dir).await });
    }
    let _g = serial();
    let dir = TempDir::new("eacces");
    std::fs::write(dir.join("secret"), b"no").unwrap();
    std::fs::set_permissions(dir.join("secret"), PermissionsExt::from_mode(0o000)).unwrap();
    std::fs::create_dir(dir.join("locked")).unwrap();
    std::fs::write(dir.join("locked").join("inside"), b"no").unwrap();
    std::fs::set_permissions(dir.join("locked"), PermissionsExt::from_mode(0o000)).unwrap();
    // The test dir itself: searchable by all, writable by its owner only.
    std::fs::set_permissions(&dir.0, PermissionsExt::from_mode(0o755)).unwrap();

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let path = dir.0.clone();
        return run(move || async move { expect_eacces(&path).await });
    }
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "permission_denied_is_the_kernels_eacces", "--nocapture"])
        .env(CHILD, &dir.0)
        .uid(65534)
        .gid(65534)
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("1 passed"), "the child ran no test:\n{stdout}");
        }
        Ok(out) => panic!(
            "the checks as nobody failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("skipped: cannot run this test binary as nobody ({e})"),
    }
}

/// What a user without access to `dir`'s contents sees.
async fn expect_eacces(dir: &Path) {
    let denied = |e: std::io::Error, what: &str| {
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{what}: {e}");
        assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{what}");
    };
    denied(File::open(dir.join("secret")).await.unwrap_err(), "open a 0o000 file");
    denied(fs::read(dir.join("secret")).await.unwrap_err(), "fs::read a 0o000 file");
    denied(File::create(dir.join("new")).await.unwrap_err(), "create in a read-only dir");
    denied(fs::metadata(dir.join("locked/inside")).await.unwrap_err(), "statx through 0o000");
    denied(fs::remove_file(dir.join("secret")).await.unwrap_err(), "unlink in a read-only dir");
    denied(fs::create_dir(dir.join("sub")).await.unwrap_err(), "mkdir in a read-only dir");
    let (from, to) = (dir.join("secret"), dir.join("moved"));
    denied(fs::rename(from, to).await.unwrap_err(), "rename in a read-only dir");
}

/// Every way a file can end, closes its fd: close().await, drop, drop
/// with an operation in flight, an open whose future is dropped in
/// flight, failed opens, and the whole-file functions.
#[test]
fn no_fd_is_leaked() {
    let _g = serial();
    let dir = TempDir::new("fds");
    let base = dir.0.clone();
    let before = open_fds();
    let during = run(move || async move {
        let baseline = open_fds();
        let path = base.join("file");
        fs::write(&path, pattern(1 << 20, 1)).await.unwrap();
        for round in 0..20 {
            // Closed, awaited.
            File::open(&path).await.unwrap().close().await.unwrap();
            // Dropped: closed through the ring.
            drop(File::create(base.join(format!("c{round}"))).await.unwrap());
            // Dropped with a read in flight: the read's orphan holds the
            // fd until the kernel is done, then it closes.
            let f = File::open(&path).await.unwrap();
            let mut read = Box::pin(f.read_at(Vec::with_capacity(1 << 20), 0));
            let _ = poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
            drop(read);
            drop(f);
            // An open dropped after its SQE went out: the file the kernel
            // opens for nobody is closed when its completion arrives.
            let mut open = Box::pin(File::open(&path));
            let _ = poll_fn(|cx| Poll::Ready(open.as_mut().poll(cx))).await;
            drop(open);
            // Failures.
            assert!(File::open(base.join("missing")).await.is_err());
            assert!(fs::read(&base).await.is_err());
            // Whole-file functions.
            assert_eq!(fs::read(&path).await.unwrap().len(), 1 << 20);
            fs::write(base.join(format!("w{round}")), b"x").await.unwrap();
            fs::remove_file(base.join(format!("w{round}"))).await.unwrap();
        }
        // Let the orphans' completions and the queued closes go through.
        for _ in 0..50 {
            corering::time::sleep(Duration::from_millis(2)).await;
            if open_fds() == baseline {
                break;
            }
        }
        (baseline, open_fds())
    });
    assert_eq!(during.1, during.0, "fds still open on the running worker");
    assert_eq!(open_fds(), before, "fds still open after the runtime was dropped");
}
