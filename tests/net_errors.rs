//! The kernel's errors, surfaced cleanly: half-close, reset, refused,
//! address in use.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use common::bounded;
use corering::Runtime;
use corering::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(30);

fn rt() -> Runtime {
    Runtime::builder().pin(false).build().unwrap()
}

#[test]
fn half_close_the_server_still_sends_after_the_client_shut_down_writing() {
    bounded(LIMIT, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap(); // ends at the client's SHUT_WR
            s.write_all(b"reply after your eof").unwrap();
            got
        });
        rt().block_on(async {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"request").await.0.unwrap();
            stream.shutdown(std::net::Shutdown::Write).await.unwrap();
            let mut recv = stream.recv_stream();
            let mut reply = Vec::new();
            while let Some(buf) = recv.next().await {
                reply.extend_from_slice(&buf.unwrap());
            }
            assert_eq!(reply, b"reply after your eof");
        });
        assert_eq!(server.join().unwrap(), b"request");
    });
}

#[test]
fn a_reset_peer_is_an_error_not_an_eof() {
    bounded(LIMIT, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            // SO_LINGER 0: close sends RST.
            socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            drop(s);
        });
        rt().block_on(async {
            let stream = TcpStream::connect(addr).await.unwrap();
            server_done(server);
            let mut recv = stream.recv_stream();
            let item = recv.next().await.expect("an error, not the end of the stream");
            assert_eq!(item.unwrap_err().kind(), ErrorKind::ConnectionReset);
            assert!(recv.next().await.is_none(), "the stream ends after its error");
            let (res, _) = stream.read(vec![0u8; 8]).await;
            // Reading again: the reset was consumed; the socket is at EOF.
            assert!(matches!(res, Ok(0) | Err(_)), "{res:?}");
        });
    });
}

fn server_done(t: std::thread::JoinHandle<()>) {
    t.join().unwrap();
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    bounded(LIMIT, || {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        }; // closed now
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let err = rt().block_on(TcpStream::connect(addr)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    });
}

#[test]
fn binding_a_port_in_use_is_addr_in_use() {
    bounded(LIMIT, || {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = TcpListener::bind(taken.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    });
}

#[test]
fn writing_to_a_closed_peer_is_broken_pipe_not_sigpipe() {
    bounded(LIMIT, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        rt().block_on(async {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (peer, _) = listener.accept().unwrap();
            drop(peer);
            let chunk = vec![1u8; 64 * 1024];
            let mut err = None;
            let mut chunk = chunk;
            for _ in 0..100 {
                let (res, c) = stream.write_all(chunk).await;
                chunk = c;
                if let Err(e) = res {
                    err = Some(e);
                    break;
                }
                corering::time::sleep(Duration::from_millis(5)).await;
            }
            let err = err.expect("writes to a closed peer fail");
            assert!(
                matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
                "{err}"
            );
        });
    });
}
