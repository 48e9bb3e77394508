//! hyper 1.x on corering (feature `hyper`): a hyper client and a plain
//! socket with keep-alive and pipelining, the header-read timeout against
//! a client that stalls mid-request, and a graceful shutdown that finishes
//! the request in flight.

mod common;

#[cfg(not(feature = "hyper"))]
#[test]
fn hyper_needs_its_feature() {
    println!("skipped: needs feature hyper (cargo test --all-features)");
}

#[cfg(feature = "hyper")]
mod with_hyper {
    use std::convert::Infallible;
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    use super::common::bounded;
    use bytes::Bytes;
    use corering::compat::{HyperExecutor, HyperTimer, Io};
    use corering::net::{TcpListener, TcpStream};
    use corering::time::sleep;
    use corering::{Runtime, spawn};
    use http_body_util::{BodyExt, Empty, Full};
    use hyper::{Request, Response};

    async fn hello(
        req: Request<hyper::body::Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        if req.uri().path() == "/slow" {
            sleep(Duration::from_millis(200)).await;
        }
        Ok(Response::new(Full::new(Bytes::from(format!("hello {}", req.uri().path())))))
    }

    /// Serve connections on `listener` until it is dropped with the task.
    async fn server(listener: TcpListener, header_timeout: Duration) {
        loop {
            let (s, _) = listener.accept().await.unwrap();
            drop(spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(HyperTimer)
                    .header_read_timeout(header_timeout)
                    .serve_connection(Io::new(s), hyper::service::service_fn(hello))
                    .await;
            }));
        }
    }

    #[test]
    fn a_hyper_client_keeps_one_connection_alive_for_100_requests() {
        bounded(Duration::from_secs(30), || {
            Runtime::new_default().unwrap().block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let srv = spawn(server(listener, Duration::from_secs(5)));
                let stream = TcpStream::connect(addr).await.unwrap();
                let (mut send, conn) =
                    hyper::client::conn::http1::handshake(Io::new(stream)).await.unwrap();
                let conn = spawn(conn);
                for i in 0..100 {
                    let req = Request::get(format!("/{i}"))
                        .header("host", "test")
                        .body(Empty::<Bytes>::new())
                        .unwrap();
                    let res = send.send_request(req).await.unwrap();
                    assert_eq!(res.status(), 200);
                    let body = res.into_body().collect().await.unwrap().to_bytes();
                    assert_eq!(body, format!("hello /{i}"));
                }
                drop(send);
                conn.await.unwrap().unwrap();
                srv.abort();
                let _ = HyperExecutor; // the executor type exists for hyper's builders
            });
        });
    }

    #[test]
    fn pipelined_requests_on_a_plain_socket_get_their_responses_in_order() {
        bounded(Duration::from_secs(30), || {
            let rt = Runtime::new_default().unwrap();
            let listener = rt.block_on(async { TcpListener::bind("127.0.0.1:0") }).unwrap();
            let addr = listener.local_addr().unwrap();
            let client = std::thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let reqs: String =
                    (0..10).map(|i| format!("GET /p{i} HTTP/1.1\r\nHost: x\r\n\r\n")).collect();
                c.write_all(reqs.as_bytes()).unwrap();
                let mut got = String::new();
                let mut buf = [0u8; 4096];
                while got.matches("hello /p").count() < 10 {
                    let n = c.read(&mut buf).unwrap();
                    assert!(n > 0, "closed early: {got}");
                    got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
                }
                got
            });
            rt.block_on(async {
                let srv = spawn(server(listener, Duration::from_secs(5)));
                while !client.is_finished() {
                    sleep(Duration::from_millis(5)).await;
                }
                srv.abort();
            });
            let got = client.join().unwrap();
            assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 10);
            let order: Vec<usize> =
                (0..10).map(|i| got.find(&format!("hello /p{i}")).unwrap()).collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]), "responses out of order");
        });
    }

    #[test]
    fn the_header_read_timeout_closes_a_client_that_stalls_mid_request() {
        bounded(Duration::from_secs(30), || {
            let rt = Runtime::new_default().unwrap();
            let listener = rt.block_on(async { TcpListener::bind("127.0.0.1:0") }).unwrap();
            let addr = listener.local_addr().unwrap();
            let client = std::thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                c.write_all(b"GET / HTT").unwrap(); // half a request line, then nothing
                let start = Instant::now();
                let mut buf = [0u8; 1024];
                let n = c.read(&mut buf).unwrap_or(0); // a 408, or just the close
                let mut rest = Vec::new();
                let _ = c.read_to_end(&mut rest);
                (start.elapsed(), n)
            });
            rt.block_on(async {
                let srv = spawn(server(listener, Duration::from_millis(300)));
                while !client.is_finished() {
                    sleep(Duration::from_millis(5)).await;
                }
                srv.abort();
            });
            let (took, _) = client.join().unwrap();
            assert!(took >= Duration::from_millis(250), "closed before the timeout: {took:?}");
            assert!(took < Duration::from_secs(5), "the stalled client was kept {took:?}");
        });
    }

    #[test]
    fn a_graceful_shutdown_finishes_the_request_in_flight() {
        bounded(Duration::from_secs(30), || {
            let rt = Runtime::new_default().unwrap();
            let listener = rt.block_on(async { TcpListener::bind("127.0.0.1:0") }).unwrap();
            let addr = listener.local_addr().unwrap();
            let client = std::thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                c.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                let mut got = Vec::new();
                c.read_to_end(&mut got).unwrap(); // the response, then the close
                String::from_utf8(got).unwrap()
            });
            rt.block_on(async {
                let (s, _) = listener.accept().await.unwrap();
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(HyperTimer)
                    .serve_connection(Io::new(s), hyper::service::service_fn(hello));
                let mut conn = std::pin::pin!(conn);
                // Shut down while /slow is being served.
                let stop = sleep(Duration::from_millis(50));
                let mut stop = std::pin::pin!(stop);
                let mut stopping = false;
                std::future::poll_fn(|cx| {
                    if !stopping && stop.as_mut().poll(cx).is_ready() {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    conn.as_mut().poll(cx)
                })
                .await
                .unwrap();
                assert!(stopping, "the shutdown began before the request finished");
            });
            let got = client.join().unwrap();
            assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
            assert!(got.ends_with("hello /slow"), "{got}");
        });
    }

    use std::future::Future;
}
