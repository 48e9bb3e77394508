//! Edge cases of the networking API: empty, huge and odd buffers, slices at
//! the limits, IOV_MAX, close and shutdown orders, adopted std sockets, UDP
//! and Unix corners. Some tests count the process's fds, so every test here
//! takes one lock and they run one at a time.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

use common::{bounded, open_fds, serial};
use corering::buf::IoBuf;
use corering::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use corering::time::{sleep, timeout};
use corering::{Runtime, spawn};

const LIMIT: Duration = Duration::from_secs(20);

fn rt() -> Runtime {
    Runtime::builder().pin(false).build().unwrap()
}

/// A connected (corering client, std server) pair.
async fn tcp_pair() -> (TcpStream, std::net::TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("corering-net-edges-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

// ---------------------------------------------------------------- buf.rs

/// `slice` of a 3-byte buffer with `range` panics, saying "out of bounds"
/// (not an arithmetic overflow, and never a wrong range in release builds).
fn assert_slice_out_of_bounds(range: (std::ops::Bound<usize>, std::ops::Bound<usize>)) {
    let r = std::panic::catch_unwind(|| {
        let s = b"abc".to_vec().slice(range);
        (s.begin(), s.end())
    });
    match r {
        Ok(got) => panic!("slice({range:?}) of a 3-byte buffer gave {got:?}"),
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            assert!(msg.contains("out of bounds"), "unclear panic: {msg:?}");
        }
    }
}

#[test]
fn slice_to_inclusive_usize_max_panics_as_out_of_bounds() {
    let _g = serial();
    use std::ops::Bound;
    assert_slice_out_of_bounds((Bound::Unbounded, Bound::Included(usize::MAX)));
}

#[test]
fn slice_from_excluded_usize_max_panics_as_out_of_bounds() {
    let _g = serial();
    use std::ops::Bound;
    assert_slice_out_of_bounds((Bound::Excluded(usize::MAX), Bound::Unbounded));
}

#[test]
fn slice_edge_ranges() {
    let _g = serial();
    let v = b"abc".to_vec();
    let s = v.slice(3..3);
    assert_eq!(&s[..], b"");
    let v = s.into_inner();
    let s = v.slice(..).slice(1..).slice(1..2);
    assert_eq!(&s[..], b"c");
    assert_eq!(s.bytes_total(), 1);
    let (from, to) = (2, 1); // a reversed range
    let r = std::panic::catch_unwind(|| b"abc".to_vec().slice(from..to).bytes_total());
    assert!(r.is_err());
    let r = std::panic::catch_unwind(|| b"abc".to_vec().slice(4..).bytes_total());
    assert!(r.is_err());
}

// ------------------------------------------------------ zero-length I/O

#[test]
fn zero_capacity_read_and_empty_writes_on_tcp() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, mut s) = tcp_pair().await;
            // A read with no room returns 0 at once, data or not, and
            // leaves the data for the next read (as std's read(&mut [])).
            s.write_all(b"kept").unwrap();
            let (res, _) = c.read(Vec::new()).await;
            assert_eq!(res.unwrap(), 0);
            let full = b"full".to_vec();
            let (res, _) = c.read(full.slice(4..)).await;
            assert_eq!(res.unwrap(), 0, "slice(len..) of a full buffer has no room");
            let (res, _) = c.readv(vec![Vec::new(), Vec::new()]).await;
            assert_eq!(res.unwrap(), 0);
            let (res, kept) = c.read(Vec::with_capacity(4)).await;
            assert_eq!(res.unwrap(), 4);
            assert_eq!(kept, b"kept");
            let (res, _) = c.write(Vec::new()).await;
            assert_eq!(res.unwrap(), 0);
            c.write_all(Vec::new()).await.0.unwrap();
            c.write_all(b"").await.0.unwrap();
            let (res, _) = c.writev(Vec::<Vec<u8>>::new()).await;
            assert_eq!(res.unwrap(), 0);
            let (res, _) =
                c.writev(vec![Vec::new(), b"ab".to_vec(), Vec::new(), b"c".to_vec()]).await;
            assert_eq!(res.unwrap(), 3);
            let mut got = [0u8; 3];
            s.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"abc");
            s.write_all(b"xyz").unwrap();
            let (res, bufs) = c
                .readv(vec![
                    Vec::with_capacity(0),
                    Vec::with_capacity(2),
                    Vec::with_capacity(0),
                    Vec::with_capacity(8),
                ])
                .await;
            let n = res.unwrap();
            assert!(n > 0);
            let all: Vec<u8> = bufs.concat();
            assert_eq!(&all[..], &b"xyz"[..n]);
        });
    });
}

#[test]
fn a_zero_byte_read_into_a_tail_slice_leaves_the_vec_unchanged() {
    let _g = serial();
    // EOF (0 bytes) into `Vec::with_capacity(16).slice(8..)`: nothing was
    // read, so the Vec should still be empty.
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, s) = tcp_pair().await;
            s.shutdown(Shutdown::Write).unwrap();
            let (res, slice) = c.read(Vec::with_capacity(16).slice(8..)).await;
            assert_eq!(res.unwrap(), 0);
            let v = slice.into_inner();
            assert_eq!(v.len(), 0, "a read of 0 bytes grew the Vec to {:?}", v);
        });
    });
}

#[test]
fn writev_with_more_parts_than_iov_max_writes_like_std() {
    let _g = serial();
    // std's write_vectored caps the iovec count at IOV_MAX (1024) and
    // writes a prefix; writev here should not fail the whole write.
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, _s) = tcp_pair().await;
            let parts: Vec<&'static [u8]> = vec![b"x"; 1025];
            let (res, _) = c.writev(parts).await;
            let n = res.expect("writev of 1025 one-byte parts");
            assert!(n >= 1024, "{n}");
        });
    });
}

#[test]
fn readv_with_more_parts_than_iov_max_reads_like_std() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, mut s) = tcp_pair().await;
            s.write_all(b"hello").unwrap();
            let parts: Vec<Vec<u8>> = (0..1025).map(|_| Vec::with_capacity(1)).collect();
            let (res, _) = c.readv(parts).await;
            assert_eq!(res.expect("readv into 1025 one-byte parts"), 5);
        });
    });
}

// ------------------------------------------------------ RecvStream edges

#[test]
fn recv_stream_with_limit_zero_and_huge_still_delivers_everything() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            for limit in [0usize, usize::MAX] {
                let (c, mut s) = tcp_pair().await;
                let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
                let d2 = data.clone();
                let t = std::thread::spawn(move || {
                    s.write_all(&d2).unwrap();
                    s.shutdown(Shutdown::Write).unwrap();
                    s
                });
                let mut recv = c.recv_stream_with_limit(limit);
                let mut got = Vec::new();
                while let Some(b) = recv.next().await {
                    got.extend_from_slice(&b.unwrap());
                }
                assert_eq!(got, data, "limit {limit}");
                assert!(recv.next().await.is_none());
                drop(t.join().unwrap());
            }
        });
    });
}

#[test]
fn recv_bufs_outlive_their_stream_socket_and_runtime() {
    let _g = serial();
    bounded(LIMIT, || {
        let before = open_fds();
        let rt = rt();
        let bufs = rt.block_on(async {
            let (c, mut s) = tcp_pair().await;
            s.write_all(&[7u8; 10000]).unwrap();
            drop(s);
            let mut recv = c.recv_stream();
            let mut bufs = Vec::new();
            while let Some(b) = recv.next().await {
                bufs.push(b.unwrap());
            }
            drop(recv);
            drop(c);
            bufs
        });
        drop(rt);
        assert_eq!(bufs.iter().map(|b| b.len()).sum::<usize>(), 10000);
        assert!(bufs.iter().all(|b| b.iter().all(|&x| x == 7)));
        drop(bufs);
        assert_eq!(open_fds(), before, "fds leaked");
    });
}

// ---------------------------------------------------- shutdown / close

#[test]
fn shutdown_twice_and_write_after_shutdown() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, mut s) = tcp_pair().await;
            c.shutdown(Shutdown::Write).await.unwrap();
            c.shutdown(Shutdown::Write).await.unwrap();
            let (res, _) = c.write(b"x").await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::BrokenPipe);
            let (res, _) = c.write_all(b"xyz").await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::BrokenPipe);
            let mut v = Vec::new();
            s.read_to_end(&mut v).unwrap();
            assert!(v.is_empty());
            c.shutdown(Shutdown::Both).await.unwrap();
        });
    });
}

#[test]
fn close_with_a_live_recv_stream_closes_the_socket() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, mut s) = tcp_pair().await;
            let recv = c.recv_stream(); // never polled: no operation in flight
            c.close().await.unwrap();
            sleep(Duration::from_millis(50)).await;
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut b = [0u8; 8];
            let r = s.read(&mut b);
            drop(recv);
            assert_eq!(r.unwrap(), 0, "the peer should see EOF after close() returned Ok");
        });
    });
}

#[test]
fn split_halves_dropped_in_either_order_while_ops_run_close_the_socket() {
    let _g = serial();
    bounded(LIMIT, || {
        let rt = rt();
        rt.block_on(async { tcp_pair().await }); // warm up
        let before = open_fds();
        rt.block_on(async {
            for order in 0..2 {
                let (c, mut s) = tcp_pair().await;
                let (r, w) = c.into_split();
                let reader = spawn(async move { r.read(Vec::with_capacity(16)).await.0 });
                let w2 = spawn(async move {
                    w.write_all(b"hi").await.0.unwrap();
                    w
                });
                let w = w2.await.unwrap();
                sleep(Duration::from_millis(10)).await;
                if order == 0 {
                    drop(w);
                    reader.abort();
                } else {
                    reader.abort();
                    drop(w);
                }
                sleep(Duration::from_millis(20)).await;
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut v = Vec::new();
                s.read_to_end(&mut v).unwrap();
                assert_eq!(v, b"hi");
            }
        });
        drop(rt);
        assert!(open_fds() <= before, "fds leaked: {before} -> {}", open_fds());
    });
}

// ---------------------------------------------------------- listeners

#[test]
fn from_std_of_a_non_listening_socket_errors_instead_of_hanging() {
    let _g = serial();
    bounded(LIMIT, || {
        let before = open_fds();
        rt().block_on(async {
            let sock =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            sock.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
            let l = TcpListener::from_std(sock.into());
            for _ in 0..3 {
                let r = timeout(Duration::from_secs(2), l.accept()).await.expect("accept hung");
                assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EINVAL));
            }
            let sock =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            let s = TcpStream::from_std(sock.into());
            assert_eq!(s.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
            let (r, _) = s.read(Vec::with_capacity(8)).await;
            assert_eq!(r.unwrap_err().kind(), ErrorKind::NotConnected);
            let mut recv = s.recv_stream();
            let e = timeout(Duration::from_secs(2), recv.next()).await.expect("recv_stream hung");
            assert_eq!(e.unwrap().unwrap_err().kind(), ErrorKind::NotConnected);
            let (r, _) = s.write(b"x").await;
            assert_eq!(r.unwrap_err().kind(), ErrorKind::BrokenPipe);
        });
        assert_eq!(open_fds(), before, "fds leaked");
    });
}

// ---------------------------------------------------------------- UDP

#[test]
fn udp_edges() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            let baddr = b.local_addr().unwrap();
            // Truncation: the datagram's tail is dropped, as with std.
            a.send_to(b"0123456789", baddr).await.0.unwrap();
            let (res, buf) = b.recv_from(Vec::with_capacity(4)).await;
            let (n, from) = res.unwrap();
            assert_eq!((n, &buf[..]), (4, &b"0123"[..]));
            assert_eq!(from, a.local_addr().unwrap());
            // Zero-length datagram, zero-capacity buffer.
            a.send_to(Vec::new(), baddr).await.0.unwrap();
            let (res, _) = b.recv_from(Vec::with_capacity(0)).await;
            assert_eq!(res.unwrap().0, 0);
            // Oversized datagram.
            let (res, _) = a.send_to(vec![0u8; 70_000], baddr).await;
            assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EMSGSIZE));
            // IPv6 destination from an IPv4 socket.
            let (res, _) = a.send_to(b"x", "[::1]:9".parse().unwrap()).await;
            assert!(res.is_err());
            // connect, then send_to another address.
            a.connect(baddr).unwrap();
            let c = UdpSocket::bind("127.0.0.1:0").unwrap();
            let (res, _) = a.send_to(b"to c", c.local_addr().unwrap()).await;
            res.unwrap();
            let (res, buf) =
                timeout(Duration::from_secs(2), c.recv_from(Vec::with_capacity(8))).await.unwrap();
            assert_eq!(&buf[..res.unwrap().0], b"to c");
            // Sending to a closed port on a connected socket: ECONNREFUSED later.
            let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
            let d = UdpSocket::bind("127.0.0.1:0").unwrap();
            d.connect(port).unwrap();
            d.send(b"x").await.0.unwrap();
            sleep(Duration::from_millis(20)).await;
            let (res, _) =
                timeout(Duration::from_secs(2), d.recv(Vec::with_capacity(8))).await.unwrap();
            assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionRefused);
        });
    });
}

// --------------------------------------------------------------- Unix

#[test]
fn unix_path_with_an_interior_nul_is_rejected_like_std() {
    let _g = serial();
    let dir = tmpdir("nul");
    let path = dir.join("a\0b");
    assert_eq!(
        std::os::unix::net::UnixListener::bind(&path).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    bounded(LIMIT, move || {
        rt().block_on(async move {
            let r = UnixListener::bind(&path);
            let created: Vec<_> =
                std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert!(r.is_err(), "bind(\"a\\0b\") succeeded; directory now holds {created:?}");
        });
    });
}

#[test]
fn unix_edges() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let dir = tmpdir("edges");
            let path = dir.join("s");
            let l = UnixListener::bind(&path).unwrap();
            assert_eq!(UnixListener::bind(&path).unwrap_err().kind(), ErrorKind::AddrInUse);
            let c = UnixStream::connect(&path).await.unwrap();
            let (s, peer) = l.accept().await.unwrap();
            assert!(peer.is_unnamed());
            assert!(c.local_addr().unwrap().is_unnamed());
            assert_eq!(c.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
            assert!(s.peer_addr().unwrap().is_unnamed());
            let (a, b) = UnixStream::pair().unwrap();
            assert!(a.peer_addr().unwrap().is_unnamed());
            a.write_all(b"x").await.0.unwrap();
            let (res, _) = b.read(Vec::with_capacity(0)).await;
            assert_eq!(res.unwrap(), 0);
            // Abstract address.
            use std::os::linux::net::SocketAddrExt;
            let name = format!("\0review-net-{}", std::process::id());
            let al = UnixListener::bind(&name).unwrap();
            assert_eq!(al.local_addr().unwrap().as_abstract_name(), Some(&name.as_bytes()[1..]));
            let ac = UnixStream::connect(&name).await.unwrap();
            let (as_, _) = al.accept().await.unwrap();
            ac.write_all(b"abs").await.0.unwrap();
            let (res, buf) = as_.read(Vec::with_capacity(8)).await;
            assert_eq!(&buf[..res.unwrap()], b"abs");
            let _ = std::fs::remove_dir_all(&dir);
        });
    });
}

#[test]
fn readv_into_a_tail_slice_that_gets_nothing_leaves_its_vec_unchanged() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, mut s) = tcp_pair().await;
            s.write_all(b"abc").unwrap();
            let bufs = vec![Vec::with_capacity(8).slice(..), Vec::with_capacity(16).slice(8..)];
            let (res, bufs) = c.readv(bufs).await;
            assert_eq!(res.unwrap(), 3);
            let mut it = bufs.into_iter().map(|s| s.into_inner());
            assert_eq!(it.next().unwrap(), b"abc");
            let second = it.next().unwrap();
            assert!(second.is_empty(), "the unfilled buffer grew to {second:?}");
        });
    });
}

#[test]
fn reads_into_buffers_of_2_gib_or_more_work_like_std() {
    let _g = serial();
    // std's read clamps the length (the kernel reads at most MAX_RW_COUNT);
    // a read into a big buffer must not fail with EINVAL.
    bounded(Duration::from_secs(60), || {
        rt().block_on(async {
            let (c, mut s) = tcp_pair().await;
            for cap in
                [(1usize << 31) - 4096, 1usize << 31, (1usize << 32) - 1, (1usize << 32) + 16]
            {
                s.write_all(b"hello").unwrap();
                let (res, buf) = c.read(Vec::with_capacity(cap)).await;
                let n = res.unwrap_or_else(|e| panic!("read into capacity {cap:#x}: {e}"));
                assert_eq!(&buf[..n], b"hello");
            }
        });
    });
}

#[test]
fn writes_from_buffers_of_2_gib_or_more_work_like_std() {
    let _g = serial();
    bounded(Duration::from_secs(60), || {
        rt().block_on(async {
            let (c, _s) = tcp_pair().await;
            let big = vec![0u8; 1usize << 31];
            let (res, _) = c.write(big).await;
            let n = res.unwrap_or_else(|e| panic!("write of 2 GiB: {e}"));
            assert!(n > 0);
        });
    });
}

#[test]
fn a_connect_dropped_in_flight_and_failed_connects_leak_no_fd() {
    let _g = serial();
    bounded(LIMIT, || {
        let rt = rt();
        rt.block_on(async { tcp_pair().await }); // warm up
        // A listener whose accept queue is full: further SYNs are dropped,
        // so a connect hangs.
        let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        l.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
        l.listen(0).unwrap();
        let addr = l.local_addr().unwrap().as_socket().unwrap();
        let fill: Vec<_> = (0..3)
            .map(|_| {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .unwrap();
                s.set_nonblocking(true).unwrap();
                let _ = s.connect(&addr.into());
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let before = open_fds();
        rt.block_on(async {
            for _ in 0..5 {
                let r = timeout(Duration::from_millis(100), TcpStream::connect(addr)).await;
                assert!(r.is_err(), "connect to a full backlog should hang: {r:?}");
            }
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
            for _ in 0..5 {
                let e = TcpStream::connect(closed).await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
                let e = UnixStream::connect("/nonexistent/review/sock").await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::NotFound);
            }
            sleep(Duration::from_millis(50)).await;
        });
        assert_eq!(open_fds(), before, "fds leaked");
        drop((fill, l));
    });
}

#[test]
fn close_while_a_dropped_read_is_in_flight_closes_once_it_ends() {
    let _g = serial();
    bounded(LIMIT, || {
        let rt = rt();
        rt.block_on(async { tcp_pair().await }); // warm up
        let before = open_fds();
        rt.block_on(async {
            let (c, mut s) = tcp_pair().await;
            let r = timeout(Duration::from_millis(20), c.read(Vec::with_capacity(8))).await;
            assert!(r.is_err());
            c.close().await.unwrap();
            sleep(Duration::from_millis(50)).await; // let the cancel land
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut b = [0u8; 4];
            assert_eq!(s.read(&mut b).unwrap(), 0);
        });
        assert_eq!(open_fds(), before, "fds leaked");
    });
}

#[test]
fn dropping_the_write_half_ends_the_stream_for_the_peer_while_the_read_half_reads() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, mut s) = tcp_pair().await;
            let (read, write) = c.into_split();
            write.write_all(b"last words").await.0.unwrap();
            drop(write);
            // The peer reads the data, then end of stream.
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"last words");
            // The read half still works.
            s.write_all(b"reply").unwrap();
            let (n, buf) = read.read(vec![0u8; 8]).await;
            assert_eq!(&buf[..n.unwrap()], b"reply");
        });
    });
}

// ---------------------------------------------------------------- accept waiters

/// Many tasks waiting on one listener stay idle while nothing happens: no
/// task is polled over and over, and the worker parks. (A wait list once
/// capped at 64 woke everyone at the cap, and 65 waiters woke each other
/// forever.)
#[test]
fn idle_accept_waiters_are_not_polled_in_a_loop() {
    let _g = serial();
    bounded(LIMIT, || {
        for n in [64, 65, 200] {
            rt().block_on(async {
                let l = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
                let addr = l.local_addr().unwrap();
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        let l = l.clone();
                        spawn(async move { l.accept().await.map(drop) })
                    })
                    .collect();
                sleep(Duration::from_millis(50)).await; // all registered
                let before = corering::metrics().unwrap();
                sleep(Duration::from_millis(200)).await;
                let after = corering::metrics().unwrap();
                let polls = after.tasks_polled - before.tasks_polled;
                let parks = after.parks - before.parks;
                // Connect them all so the tasks end (and the test stays bounded).
                let conns: Vec<_> =
                    (0..n).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
                for t in tasks {
                    t.await.unwrap().unwrap();
                }
                drop(conns);
                assert!(
                    polls < 1000,
                    "{n} idle accept waiters were polled {polls} times in 200 ms \
                     ({parks} parks): a busy loop"
                );
            });
        }
    });
}

// --------------------------------------------------------- unix_addr

/// An abstract name is any bytes after the leading NUL, NULs included (the
/// kernel takes its length from addrlen), as std's
/// `SocketAddr::from_abstract_name` allows: it binds.
#[test]
fn abstract_unix_name_with_an_inner_nul_binds() {
    let _g = serial();
    use std::os::linux::net::SocketAddrExt;
    let raw = format!("review-abs-{}\0tail", std::process::id());
    // The kernel takes it (std, through bind_addr).
    let std_addr = std::os::unix::net::SocketAddr::from_abstract_name(raw.as_bytes()).unwrap();
    drop(std::os::unix::net::UnixListener::bind_addr(&std_addr).expect("legal abstract name"));
    let name = format!("\0{raw}");
    bounded(LIMIT, move || {
        rt().block_on(async move {
            let l = UnixListener::bind(&name).expect("bind to an abstract name with a NUL in it");
            let c = UnixStream::connect(&name).await.expect("connect to it");
            let (s, _) = l.accept().await.unwrap();
            c.write_all(b"ok").await.0.unwrap();
            let (n, b) = s.read(Vec::with_capacity(4)).await;
            assert_eq!(&b[..n.unwrap()], b"ok");
        });
    });
}

#[test]
fn abstract_unix_name_without_inner_nul_still_works() {
    let _g = serial();
    let name = format!("\0review-abs2-{}", std::process::id());
    bounded(LIMIT, move || {
        rt().block_on(async move {
            let l = UnixListener::bind(&name).unwrap();
            let c = UnixStream::connect(&name).await.unwrap();
            let (s, _) = l.accept().await.unwrap();
            c.write_all(b"ok").await.0.unwrap();
            let (n, b) = s.read(Vec::with_capacity(4)).await;
            assert_eq!(&b[..n.unwrap()], b"ok");
        });
    });
}

// ------------------------------------------------- readv / writev caps

/// 1024 empty parts then one with room, data waiting: readv reads it (not
/// Ok(0), which every reader takes for end of stream).
#[test]
fn readv_with_1024_empty_parts_first_does_not_report_eof() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, mut s) = tcp_pair().await;
            s.write_all(b"hello").unwrap();
            let mut parts: Vec<Vec<u8>> = (0..1024).map(|_| Vec::new()).collect();
            parts.push(Vec::with_capacity(16));
            let (res, parts) = c.readv(parts).await;
            let n = res.unwrap();
            assert_ne!(n, 0, "readv returned 0 (EOF) on a live connection with 5 bytes waiting");
            assert_eq!(&parts[1024][..], b"hello");
        });
    });
}

/// 1024 empty parts then data: writev writes it (not Ok(0), a WriteZero to
/// a write loop).
#[test]
fn writev_with_1024_empty_parts_first_writes_something() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, _s) = tcp_pair().await;
            let mut parts: Vec<&'static [u8]> = vec![b""; 1024];
            parts.push(b"data");
            let (res, _) = c.writev(parts).await;
            assert_eq!(res.unwrap(), 4, "writev wrote nothing though a part holds data");
        });
    });
}

/// Middle parts of zero capacity: the bytes land around them, in order.
#[test]
fn readv_with_a_zero_capacity_middle_part() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, mut s) = tcp_pair().await;
            s.write_all(b"abcdef").unwrap();
            sleep(Duration::from_millis(20)).await;
            let parts = vec![Vec::with_capacity(2), Vec::new(), Vec::with_capacity(2), Vec::new()];
            let caps: Vec<usize> = parts.iter().map(|v| v.capacity()).collect();
            let (res, parts) = c.readv(parts).await;
            let n = res.unwrap();
            let mut want = &b"abcdef"[..n];
            for (p, cap) in parts.iter().zip(caps) {
                let k = cap.min(want.len());
                assert_eq!(&p[..], &want[..k]);
                want = &want[k..];
            }
        });
    });
}

// ------------------------------------------------ close with holders

/// close() while another task reads the RecvStream: the reader ends
/// cleanly (None), the peer sees EOF.
#[test]
fn close_while_another_task_reads_the_recv_stream_unix() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut rs = a.recv_stream();
            let reader = spawn(async move {
                let mut got = Vec::new();
                while let Some(r) = rs.next().await {
                    got.extend_from_slice(&r.expect("recv error instead of end"));
                }
                got
            });
            b.write_all(b"one").await.0.unwrap();
            sleep(Duration::from_millis(30)).await;
            a.close().await.unwrap();
            let got = timeout(Duration::from_secs(3), reader).await.expect("reader never ended");
            assert_eq!(got.unwrap(), b"one");
            let (n, _) = b.read(Vec::with_capacity(4)).await;
            assert_eq!(n.unwrap(), 0);
        });
    });
}

#[test]
fn close_while_another_task_reads_the_recv_stream_tcp() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, mut s) = tcp_pair().await;
            let mut rs = c.recv_stream();
            let reader = spawn(async move {
                let mut got = Vec::new();
                while let Some(r) = rs.next().await {
                    got.extend_from_slice(&r.expect("recv error instead of end"));
                }
                got
            });
            s.write_all(b"one").unwrap();
            sleep(Duration::from_millis(30)).await;
            c.close().await.unwrap();
            let got = timeout(Duration::from_secs(3), reader).await.expect("reader never ended");
            assert_eq!(got.unwrap(), b"one");
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut b = [0u8; 4];
            assert_eq!(s.read(&mut b).unwrap(), 0);
        });
    });
}

// --------------------------------------------------- OwnedWriteHalf

/// The write half dropped after the read half: the fd is still open, the
/// peer gets all data then EOF, and no other fd is touched.
#[test]
fn write_half_dropped_after_read_half_shuts_only_its_socket() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, mut s) = tcp_pair().await;
            let (other, mut other_peer) = tcp_pair().await;
            let (r, w) = c.into_split();
            drop(r);
            w.write_all(vec![7u8; 100_000]).await.0.unwrap();
            drop(w);
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            assert_eq!(got.len(), 100_000);
            // The other connection is untouched both ways.
            other.write_all(b"x").await.0.unwrap();
            other_peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut b = [0u8; 1];
            other_peer.read_exact(&mut b).unwrap();
            other_peer.write_all(b"y").unwrap();
            let (n, _) = other.read(Vec::with_capacity(1)).await;
            assert_eq!(n.unwrap(), 1);
        });
    });
}

/// A big write in flight from a task, the half dropped by that task once
/// the write completes: the peer gets everything.
#[test]
fn write_half_in_a_task_delivers_everything_before_eof() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let (c, s) = tcp_pair().await;
            let (_r, w) = c.into_split();
            let len = 8 << 20;
            let t = spawn(async move {
                let (res, _) = w.write_all(vec![1u8; len]).await;
                res.unwrap();
                drop(w);
            });
            let reader = std::thread::spawn(move || {
                let mut s = s;
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut got = Vec::new();
                s.read_to_end(&mut got).map(|_| got.len())
            });
            t.await.unwrap();
            assert_eq!(reader.join().unwrap().unwrap(), len);
        });
    });
}

// ---------------------------------------------------------- from_std

/// Adopted sockets in non-blocking mode still wait ("blocking mode does
/// not matter").
#[test]
fn from_std_nonblocking_sockets_wait_instead_of_wouldblock() {
    let _g = serial();
    bounded(LIMIT, || {
        rt().block_on(async {
            let sl = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            sl.set_nonblocking(true).unwrap();
            let addr = sl.local_addr().unwrap();
            let l = TcpListener::from_std(sl);
            let connector = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                std::thread::sleep(Duration::from_millis(100));
                s.write_all(b"hi").unwrap();
                s
            });
            let (s, _) = l.accept().await.expect("accept on a non-blocking adopted listener");
            let (n, b) = s.read(Vec::with_capacity(4)).await;
            assert_eq!(&b[..n.unwrap()], b"hi");
            let _peer = connector.join().unwrap();

            let (a, b2) = std::os::unix::net::UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            let a = UnixStream::from_std(a);
            let w = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                let mut b2 = b2;
                b2.write_all(b"u").unwrap();
                b2
            });
            let (n, buf) = a.read(Vec::with_capacity(4)).await;
            assert_eq!(&buf[..n.unwrap()], b"u");
            drop(w.join().unwrap());
            let _ = ErrorKind::WouldBlock;
        });
    });
}
