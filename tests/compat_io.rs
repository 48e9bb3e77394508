//! The ecosystem's I/O traits on corering sockets (`compat::Io`, features
//! `tokio-io` and `futures-io`): tokio's BufReader and codecs, futures'
//! copy, and 64 MiB each way with every byte checked.

mod common;

/// `Io::into_inner` keeps received, unconsumed bytes with the socket (the
/// inherent poll methods need no feature).
#[test]
fn io_into_inner_keeps_unconsumed_bytes() {
    common::bounded(std::time::Duration::from_secs(20), || {
        let rt = corering::Runtime::builder().pin(false).build().unwrap();
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut &theirs, b"hello world").unwrap();
        drop(theirs); // EOF after the data
        rt.block_on(async move {
            let mut io = corering::compat::Io::new(corering::net::UnixStream::from_std(ours));
            let mut five = [0u8; 5];
            let n = std::future::poll_fn(|cx| io.poll_read_into(cx, &mut five)).await.unwrap();
            assert_eq!(&five[..n], b"hello");
            let stream = io.into_inner();
            let mut rest = Vec::new();
            loop {
                let (res, buf) = stream.read(Vec::with_capacity(64)).await;
                if res.unwrap() == 0 {
                    break;
                }
                rest.extend_from_slice(&buf);
            }
            assert_eq!(rest, b" world", "bytes received but not consumed were lost");
        });
    });
}

/// 60,000 bytes, one send's worth (below `compat::Io`'s 64 KiB write-ahead),
/// and a Unix socket pair whose sending side buffers far fewer: the send
/// cannot complete until the peer reads.
fn a_send_that_waits_for_the_peer()
-> (Vec<u8>, std::os::unix::net::UnixStream, std::os::unix::net::UnixStream) {
    let data: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    socket2::SockRef::from(&ours).set_send_buffer_size(4096).unwrap();
    (data, ours, theirs)
}

/// Read `stream` to its end.
async fn read_to_end(stream: &corering::net::UnixStream) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let (res, buf) = stream.read(Vec::with_capacity(16 * 1024)).await;
        if res.unwrap() == 0 {
            return got;
        }
        got.extend_from_slice(&buf);
    }
}

/// A flush returns once the bytes are handed to the kernel in a send, not
/// when the send completes (here it cannot before the peer reads), and the
/// kernel finishes that send by itself: the peer gets every byte while the
/// `Io` is not polled at all. Shutdown then waits for the send.
#[test]
fn a_flush_does_not_wait_for_the_peer_and_the_send_finishes_alone() {
    common::bounded(std::time::Duration::from_secs(20), || {
        let rt = corering::Runtime::builder().pin(false).build().unwrap();
        let (data, ours, theirs) = a_send_that_waits_for_the_peer();
        rt.block_on(async move {
            let mut io = corering::compat::Io::new(corering::net::UnixStream::from_std(ours));
            let n = std::future::poll_fn(|cx| io.poll_write_from(cx, &data)).await.unwrap();
            assert_eq!(n, data.len());
            // Before the peer reads anything: this would wait forever if a
            // flush waited for the send to complete.
            std::future::poll_fn(|cx| io.poll_flush_sends(cx)).await.unwrap();
            let peer = corering::net::UnixStream::from_std(theirs);
            let (res, got) = corering::time::timeout(std::time::Duration::from_secs(10), async {
                let mut got = Vec::new();
                while got.len() < data.len() {
                    let (res, buf) = peer.read(Vec::with_capacity(16 * 1024)).await;
                    assert!(res.unwrap() > 0, "end of stream after {} bytes", got.len());
                    got.extend_from_slice(&buf);
                }
                (Ok::<(), ()>(()), got)
            })
            .await
            .expect("the peer got every byte without the Io being polled");
            res.unwrap();
            assert!(got == data, "the bytes arrived changed");
            std::future::poll_fn(|cx| io.poll_sent(cx)).await.unwrap();
            std::future::poll_fn(|cx| io.poll_shutdown_write(cx)).await.unwrap();
            assert!(read_to_end(&peer).await.is_empty(), "end of stream after the shutdown");
        });
    });
}

/// Dropping an `Io` right after a flush still delivers every byte accepted:
/// the send in flight is finished in the background, not cancelled, and the
/// socket closes after it.
#[test]
fn dropping_an_io_after_a_flush_still_delivers_every_byte() {
    common::bounded(std::time::Duration::from_secs(20), || {
        let rt = corering::Runtime::builder().pin(false).build().unwrap();
        let (data, ours, theirs) = a_send_that_waits_for_the_peer();
        rt.block_on(async move {
            let mut io = corering::compat::Io::new(corering::net::UnixStream::from_std(ours));
            let n = std::future::poll_fn(|cx| io.poll_write_from(cx, &data)).await.unwrap();
            assert_eq!(n, data.len());
            std::future::poll_fn(|cx| io.poll_flush_sends(cx)).await.unwrap();
            drop(io);
            let got = read_to_end(&corering::net::UnixStream::from_std(theirs)).await;
            assert_eq!(got.len(), data.len(), "bytes lost at the drop");
            assert!(got == data, "the bytes arrived changed");
        });
    });
}

/// A dropped `Io` whose peer reads nothing gives up after its drain
/// timeout: the socket closes (the peer sees end of stream after the bytes
/// that fit its buffer), so such peers cannot keep dropped connections open.
#[test]
fn a_dropped_io_gives_up_on_a_peer_that_does_not_read() {
    common::bounded(std::time::Duration::from_secs(20), || {
        let rt = corering::Runtime::builder().pin(false).build().unwrap();
        let (data, ours, theirs) = a_send_that_waits_for_the_peer();
        rt.block_on(async move {
            let mut io = corering::compat::Io::new(corering::net::UnixStream::from_std(ours));
            io.set_drain_timeout(std::time::Duration::from_millis(100));
            let n = std::future::poll_fn(|cx| io.poll_write_from(cx, &data)).await.unwrap();
            assert_eq!(n, data.len());
            std::future::poll_fn(|cx| io.poll_flush_sends(cx)).await.unwrap();
            drop(io);
            corering::time::sleep(std::time::Duration::from_millis(300)).await;
            // Only now does the peer read: the socket closed meanwhile, so
            // it reads what the kernel had buffered, then end of stream.
            let peer = corering::net::UnixStream::from_std(theirs);
            let got =
                corering::time::timeout(std::time::Duration::from_secs(5), read_to_end(&peer))
                    .await
                    .expect("the socket closed after the drain timeout");
            assert!(got.len() < data.len(), "all {} bytes went out", got.len());
            assert!(got[..] == data[..got.len()], "the bytes arrived changed");
        });
    });
}

#[cfg(not(all(feature = "tokio-io", feature = "futures-io")))]
#[test]
fn compat_io_needs_its_features() {
    println!("skipped: needs features tokio-io and futures-io (cargo test --all-features)");
}

#[cfg(all(feature = "tokio-io", feature = "futures-io"))]
mod with_features {
    use std::time::Duration;

    use super::common::bounded;
    use corering::compat::Io;
    use corering::net::{TcpListener, TcpStream, UnixStream};
    use corering::{Runtime, spawn};

    fn pattern(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn tokio_bufreader_lines_and_partial_reads() {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        bounded(Duration::from_secs(30), || {
            Runtime::new_default().unwrap().block_on(async {
                let (a, b) = UnixStream::pair().unwrap();
                let writer = spawn(async move {
                    let mut a = Io::new(a);
                    for i in 0..1000 {
                        a.write_all(format!("line {i}\n").as_bytes()).await.unwrap();
                    }
                    a.write_all(b"tail").await.unwrap();
                    a.shutdown().await.unwrap(); // flush, then the peer sees the end
                });
                let mut lines = tokio::io::BufReader::new(Io::new(b)).lines();
                for i in 0..1000 {
                    assert_eq!(lines.next_line().await.unwrap().unwrap(), format!("line {i}"));
                }
                assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("tail"));
                assert_eq!(lines.next_line().await.unwrap(), None);
                writer.await.unwrap();

                // Reads into buffers smaller than what arrived, and of nothing.
                let (a, b) = UnixStream::pair().unwrap();
                let (mut a, mut b) = (Io::new(a), Io::new(b));
                a.write_all(&pattern(1, 100)).await.unwrap();
                a.flush().await.unwrap();
                let mut got = Vec::new();
                let mut small = [0u8; 7];
                assert_eq!(b.read(&mut []).await.unwrap(), 0);
                while got.len() < 100 {
                    let n = b.read(&mut small).await.unwrap();
                    assert!(n > 0);
                    got.extend_from_slice(&small[..n]);
                }
                assert_eq!(got, pattern(1, 100));
            });
        });
    }

    #[test]
    fn tokio_util_framed_lines_echo() {
        use futures::{SinkExt, StreamExt};
        use tokio_util::codec::{Framed, LinesCodec};
        bounded(Duration::from_secs(30), || {
            Runtime::new_default().unwrap().block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let server = spawn(async move {
                    let (s, _) = listener.accept().await.unwrap();
                    let mut framed = Framed::new(Io::new(s), LinesCodec::new());
                    while let Some(line) = framed.next().await {
                        framed.send(line.unwrap().to_uppercase()).await.unwrap();
                    }
                });
                let c = TcpStream::connect(addr).await.unwrap();
                let mut framed = Framed::new(Io::new(c), LinesCodec::new());
                for i in 0..200 {
                    framed.send(format!("hello {i}")).await.unwrap();
                    assert_eq!(framed.next().await.unwrap().unwrap(), format!("HELLO {i}"));
                }
                drop(framed);
                server.await.unwrap();
            });
        });
    }

    #[test]
    fn futures_io_copy_between_two_sockets() {
        use futures::io::{AsyncReadExt, AsyncWriteExt};
        bounded(Duration::from_secs(30), || {
            Runtime::new_default().unwrap().block_on(async {
                let (a, b) = UnixStream::pair().unwrap();
                let (c, d) = UnixStream::pair().unwrap();
                let data = pattern(7, 3 << 20);
                let sent = data.clone();
                let feeder = spawn(async move {
                    let mut a = Io::new(a);
                    a.write_all(&sent).await.unwrap();
                    a.close().await.unwrap();
                });
                // b -> c through futures::io::copy; d reads the result.
                let copier = spawn(async move {
                    let (mut b, mut c) = (Io::new(b), Io::new(c));
                    let n = futures::io::copy(&mut b, &mut c).await.unwrap();
                    c.close().await.unwrap();
                    n
                });
                let mut got = Vec::new();
                Io::new(d).read_to_end(&mut got).await.unwrap();
                assert_eq!(copier.await.unwrap(), data.len() as u64);
                feeder.await.unwrap();
                assert!(got == data, "bytes differ after futures::io::copy");
            });
        });
    }

    #[test]
    fn sixty_four_mib_each_way_through_the_adapters() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        bounded(Duration::from_secs(120), || {
            Runtime::new_default().unwrap().block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                const LEN: usize = 64 << 20;
                // Each side writes LEN while it reads LEN, through split halves.
                async fn side(s: TcpStream, seed_out: u64, seed_in: u64) {
                    let (r, w) = s.into_split();
                    let writer = spawn(async move {
                        let mut w = Io::new(w);
                        let data = pattern(seed_out, LEN);
                        for chunk in data.chunks(100_003) {
                            w.write_all(chunk).await.unwrap();
                        }
                        w.shutdown().await.unwrap();
                    });
                    let mut r = Io::new(r);
                    let want = pattern(seed_in, LEN);
                    let mut got = vec![0u8; 256 * 1024];
                    let mut at = 0;
                    loop {
                        let n = r.read(&mut got).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        assert!(got[..n] == want[at..at + n], "bytes differ at {at}");
                        at += n;
                    }
                    assert_eq!(at, LEN);
                    writer.await.unwrap();
                }
                let server = spawn(async move {
                    let (s, _) = listener.accept().await.unwrap();
                    side(s, 2, 1).await;
                });
                let c = TcpStream::connect(addr).await.unwrap();
                side(c, 1, 2).await;
                server.await.unwrap();
            });
        });
    }

    #[test]
    fn a_failed_send_is_reported_by_a_later_call() {
        use tokio::io::AsyncWriteExt;
        bounded(Duration::from_secs(30), || {
            Runtime::new_default().unwrap().block_on(async {
                let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
                drop(b); // closed now, before any send
                let mut a = Io::new(UnixStream::from_std(a));
                // Accepted, and flushed: handed to the kernel, where the
                // send fails afterwards...
                a.write_all(b"into the void").await.unwrap();
                let flushed = a.flush().await;
                // ...and shutdown waits for the send, so it reports that.
                let err = match flushed {
                    Err(e) => e,
                    Ok(()) => a.shutdown().await.expect_err("the send failed"),
                };
                assert!(
                    matches!(
                        err.kind(),
                        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                    ),
                    "{err}"
                );
                assert!(a.write(b"more").await.is_err(), "a broken stream stays broken");
                assert!(a.flush().await.is_err(), "a broken stream stays broken");
            });
        });
    }
}
