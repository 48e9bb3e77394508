//! The rest of the TCP surface: split halves in two tasks, addresses,
//! options, `incoming`, `bind_with` and `SO_REUSEPORT`.

mod common;

use std::time::Duration;

use common::bounded;
use corering::net::{ListenOptions, TcpListener, TcpStream};
use corering::{Runtime, spawn};

fn rt() -> Runtime {
    Runtime::builder().pin(false).build().unwrap()
}

#[test]
fn split_halves_read_and_write_from_two_tasks() {
    bounded(Duration::from_secs(30), || {
        rt().block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let client = spawn(async move { TcpStream::connect(addr).await.unwrap() });
            let (server, peer) = listener.accept().await.unwrap();
            let client = client.await.unwrap();
            assert_eq!(peer, client.local_addr().unwrap());
            assert_eq!(client.peer_addr().unwrap(), addr);
            client.set_nodelay(true).unwrap();
            assert!(client.nodelay().unwrap());

            let (read, write) = server.into_split();
            // One task writes 1,000 numbered lines while another reads.
            let writer = spawn(async move {
                for i in 0..1000u32 {
                    write.write_all(format!("{i}\n").into_bytes()).await.0.unwrap();
                }
                write.shutdown().await.unwrap();
            });
            let reader = spawn(async move {
                let mut all = Vec::new();
                let mut recv = read.recv_stream();
                while let Some(buf) = recv.next().await {
                    all.extend_from_slice(&buf.unwrap());
                }
                all
            });
            // The client echoes what the server's writer sends.
            let mut recv = client.recv_stream();
            while let Some(buf) = recv.next().await {
                client.write_all(buf.unwrap()).await.0.unwrap();
            }
            client.shutdown(std::net::Shutdown::Write).await.unwrap();
            writer.await.unwrap();
            let all = reader.await.unwrap();
            let want: String = (0..1000u32).map(|i| format!("{i}\n")).collect();
            assert_eq!(String::from_utf8(all).unwrap(), want);
        });
    });
}

#[test]
fn reuse_port_lets_two_listeners_share_a_port_and_incoming_yields_streams() {
    bounded(Duration::from_secs(30), || {
        rt().block_on(async {
            let opts = ListenOptions { reuse_port: true, ..ListenOptions::default() };
            let a = TcpListener::bind_with("127.0.0.1:0", opts).unwrap();
            let addr = a.local_addr().unwrap();
            let b = TcpListener::bind_with(addr, opts).unwrap();
            assert_eq!(b.local_addr().unwrap(), addr);
            // Without SO_REUSEPORT the same bind fails.
            let err = TcpListener::bind(addr).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);

            let mut incoming = std::pin::pin!(a.incoming());
            let _c = TcpStream::connect(addr).await.unwrap();
            let _d = TcpStream::connect(addr).await.unwrap();
            // The kernel spreads connections; accept from whichever got one.
            let got = corering::time::timeout(Duration::from_secs(5), async {
                std::future::poll_fn(|cx| {
                    use futures_core::Stream;
                    if let std::task::Poll::Ready(Some(s)) = incoming.as_mut().poll_next(cx) {
                        return std::task::Poll::Ready(s);
                    }
                    b.poll_accept(cx).map(|r| r.map(|(s, _)| s))
                })
                .await
            })
            .await
            .expect("no connection accepted");
            assert!(got.unwrap().peer_addr().is_ok());
        });
    });
}

#[test]
fn two_tasks_accepting_on_one_listener_are_both_served() {
    bounded(Duration::from_secs(30), || {
        rt().block_on(async {
            let listener = std::rc::Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let addr = listener.local_addr().unwrap();
            let acceptors: Vec<_> = (0..2)
                .map(|_| {
                    let l = listener.clone();
                    spawn(async move { l.accept().await.map(|(s, _)| s) })
                })
                .collect();
            corering::yield_now().await; // both are waiting now
            let _a = TcpStream::connect(addr).await.unwrap();
            let _b = TcpStream::connect(addr).await.unwrap();
            for (i, t) in acceptors.into_iter().enumerate() {
                let r = corering::time::timeout(Duration::from_secs(5), t).await;
                r.unwrap_or_else(|_| panic!("acceptor {i} was never woken")).unwrap().unwrap();
            }
        });
    });
}

#[test]
fn a_connection_reset_before_it_was_accepted_does_not_fail_accept() {
    bounded(Duration::from_secs(30), || {
        rt().block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let doomed = std::net::TcpStream::connect(addr).unwrap();
            socket2::SockRef::from(&doomed).set_linger(Some(Duration::ZERO)).unwrap();
            drop(doomed); // RST before the server accepts
            let good = std::net::TcpStream::connect(addr).unwrap();
            let (_, peer) = corering::time::timeout(Duration::from_secs(5), listener.accept())
                .await
                .expect("accept answered")
                .expect("the reset connection is skipped, not an error");
            assert_eq!(peer, good.local_addr().unwrap());
        });
    });
}

#[test]
fn a_socket_dropped_outside_block_on_is_closed_at_once() {
    use std::io::Read;
    bounded(Duration::from_secs(30), || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let rt = rt();
        let stream = rt.block_on(TcpStream::connect(addr)).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        drop(stream); // no block_on runs to submit a ring close
        let mut b = [0u8; 1];
        assert_eq!(peer.read(&mut b).unwrap(), 0, "the peer saw the close");
    });
}

#[test]
fn a_recv_stream_polled_on_another_runtime_reads_its_own_buffers() {
    use std::io::Write;
    bounded(Duration::from_secs(30), || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let first = rt();
        let stream = first.block_on(TcpStream::connect(addr)).unwrap();
        let mut recv = stream.recv_stream();
        let (mut peer, _) = listener.accept().unwrap();
        let second = rt();
        for msg in [&b"hello"[..], b"again"] {
            peer.write_all(msg).unwrap();
            let got = second.block_on(async {
                corering::time::timeout(Duration::from_secs(5), recv.next()).await
            });
            let buf = got.expect("data arrived").unwrap().unwrap();
            assert_eq!(&buf[..], msg);
            drop(buf);
        }
        drop(recv);
        drop(second);
        drop(first);
    });
}

#[test]
fn addresses_may_be_strings_host_port_pairs_or_lists_tried_in_turn() {
    bounded(Duration::from_secs(30), || {
        rt().block_on(async {
            // A host name resolves (through /etc/hosts: no network needed).
            let listener = TcpListener::bind(("localhost", 0)).unwrap();
            let addr = listener.local_addr().unwrap();
            assert!(addr.ip().is_loopback(), "{addr}");

            // A refused address first, then the listener: the second wins.
            let refused = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap() // closed when `l` drops here
            };
            let client = spawn(async move { TcpStream::connect(&[refused, addr][..]).await });
            let (_server, peer) = listener.accept().await.unwrap();
            let client = client.await.unwrap().unwrap();
            assert_eq!(client.peer_addr().unwrap(), addr);
            assert_eq!(client.local_addr().unwrap(), peer);

            // Only refused addresses: the last error comes back.
            let err = TcpStream::connect(&[refused, refused][..]).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");

            // No address at all.
            let none: &[std::net::SocketAddr] = &[];
            let err = TcpStream::connect(none).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
            let err = TcpListener::bind(none).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
            let err = corering::net::UdpSocket::bind(none).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");

            // A string that is not an address.
            let err = TcpListener::bind("not an address").unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        });
    });
}

#[test]
fn std_sockets_in_blocking_mode_are_adopted_with_from_std() {
    bounded(Duration::from_secs(30), || {
        rt().block_on(async {
            // Both made by std, both left in blocking mode.
            let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = std_listener.local_addr().unwrap();
            let listener = TcpListener::from_std(std_listener);
            let std_client = std::net::TcpStream::connect(addr).unwrap();
            let client = TcpStream::from_std(std_client);
            let (server, peer) = listener.accept().await.unwrap();
            assert_eq!(peer, client.local_addr().unwrap());

            // A read with nothing to read yet: the write comes from a task
            // of the same worker, so the worker must keep running meanwhile.
            let writer = spawn(async move {
                corering::time::sleep(Duration::from_millis(20)).await;
                client.write_all(b"adopted").await.0.unwrap();
                client
            });
            let (n, buf) = server.read(vec![0u8; 16]).await;
            assert_eq!(&buf[..n.unwrap()], b"adopted");
            drop(writer.await.unwrap());
            let (n, _) = server.read(vec![0u8; 16]).await;
            assert_eq!(n.unwrap(), 0, "end of stream after the client dropped");
        });
    });
}

#[test]
fn many_tasks_giving_up_on_accept_leave_a_waiting_acceptor_served() {
    bounded(Duration::from_secs(30), || {
        rt().block_on(async {
            let listener = std::rc::Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let addr = listener.local_addr().unwrap();
            // 200 tasks wait on accept, then give up (more than the waiter
            // list keeps before it wakes everyone to prune).
            let quitters: Vec<_> = (0..200)
                .map(|_| {
                    let listener = listener.clone();
                    spawn(async move {
                        let r =
                            corering::time::timeout(Duration::from_millis(5), listener.accept())
                                .await;
                        assert!(r.is_err(), "nobody connected yet");
                    })
                })
                .collect();
            // One acceptor that stays, registered among them.
            let stayer = {
                let listener = listener.clone();
                spawn(async move { listener.accept().await.map(|(_, peer)| peer) })
            };
            for q in quitters {
                q.await.unwrap();
            }
            let client = TcpStream::connect(addr).await.unwrap();
            let peer = corering::time::timeout(Duration::from_secs(5), stayer)
                .await
                .expect("the waiting acceptor was not woken")
                .unwrap()
                .unwrap();
            assert_eq!(peer, client.local_addr().unwrap());
        });
    });
}
