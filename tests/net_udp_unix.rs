//! UDP datagrams and Unix domain streams on the ring.

mod common;

use std::time::Duration;

use common::bounded;
use corering::net::{UdpSocket, UnixListener, UnixStream};
use corering::{Runtime, spawn};

const LIMIT: Duration = Duration::from_secs(30);

fn rt() -> Runtime {
    Runtime::builder().pin(false).build().unwrap()
}

#[test]
fn udp_send_to_and_recv_from_carry_data_and_addresses() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
            for i in 0..100u32 {
                let msg = format!("datagram {i}").into_bytes();
                let (res, _) = a.send_to(msg.clone(), b_addr).await;
                assert_eq!(res.unwrap(), msg.len());
                let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
                let (n, from) = res.unwrap();
                assert_eq!((&buf[..n], from), (&msg[..], a_addr));
            }
        });
    });
}

#[test]
fn udp_connected_send_and_recv() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            // Unconnected: no peer, and a send says there is no address.
            assert_eq!(a.peer_addr().unwrap_err().kind(), std::io::ErrorKind::NotConnected);
            let (res, _) = a.send(b"nowhere").await;
            assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EDESTADDRREQ));
            a.connect(b.local_addr().unwrap()).unwrap();
            b.connect(a.local_addr().unwrap()).unwrap();
            assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
            let (res, _) = a.send(b"hello").await;
            assert_eq!(res.unwrap(), 5);
            let (res, buf) = b.recv(Vec::with_capacity(16)).await;
            assert_eq!(&buf[..res.unwrap()], b"hello");
            // A datagram larger than the buffer is truncated, not split.
            let (res, _) = b.send(vec![7u8; 100]).await;
            res.unwrap();
            let (res, buf) = a.recv(Vec::with_capacity(10)).await;
            assert_eq!(res.unwrap(), 10);
            assert_eq!(buf, vec![7u8; 10]);
        });
    });
}

#[test]
fn unix_listener_and_stream_echo_through_recv_stream() {
    bounded(LIMIT, || {
        let dir = std::env::temp_dir().join(format!("corering-unix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("echo.sock");
        let _ = std::fs::remove_file(&path);
        rt().block_on(async {
            let listener = UnixListener::bind(&path).unwrap();
            let server = spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let mut recv = stream.recv_stream();
                while let Some(Ok(buf)) = recv.next().await {
                    stream.write_all(buf).await.0.unwrap();
                }
            });
            let client = UnixStream::connect(&path).await.unwrap();
            for i in 0..50usize {
                let msg: Vec<u8> = (0..(i * 97 + 1)).map(|b| (b ^ i) as u8).collect();
                let (res, msg) = client.write_all(msg).await;
                res.unwrap();
                let mut got = Vec::new();
                while got.len() < msg.len() {
                    let (n, chunk) = client.read(Vec::with_capacity(msg.len())).await;
                    assert!(n.unwrap() > 0);
                    got.extend_from_slice(&chunk);
                }
                assert_eq!(got, msg);
            }
            client.close().await.unwrap();
            server.await.unwrap();
        });
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn unix_pair_readv_and_writev() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (res, _) = a.writev(vec![b"abc".to_vec(), b"defg".to_vec()]).await;
            assert_eq!(res.unwrap(), 7);
            let (res, bufs) = b.readv(vec![Vec::with_capacity(2), Vec::with_capacity(8)]).await;
            assert_eq!(res.unwrap(), 7);
            assert_eq!(bufs, [b"ab".to_vec(), b"cdefg".to_vec()]);
        });
    });
}

#[test]
fn std_udp_and_unix_sockets_are_adopted_with_from_std() {
    bounded(LIMIT, || {
        rt().block_on(async {
            let a = UdpSocket::from_std(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
            let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let (res, _) = a.send_to(b"dgram", b.local_addr().unwrap()).await;
            assert_eq!(res.unwrap(), 5);
            let mut got = [0u8; 8];
            let (n, from) = b.recv_from(&mut got).unwrap();
            assert_eq!((&got[..n], from), (&b"dgram"[..], a.local_addr().unwrap()));

            let dir =
                std::env::temp_dir().join(format!("corering-from-std-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("sock");
            let listener =
                UnixListener::from_std(std::os::unix::net::UnixListener::bind(&path).unwrap());
            let client =
                UnixStream::from_std(std::os::unix::net::UnixStream::connect(&path).unwrap());
            let (server, _) = listener.accept().await.unwrap();
            client.write_all(b"unix").await.0.unwrap();
            let (n, buf) = server.read(vec![0u8; 8]).await;
            assert_eq!(&buf[..n.unwrap()], b"unix");
            drop((client, server, listener));
            std::fs::remove_dir_all(&dir).unwrap();
        });
    });
}
