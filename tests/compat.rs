//! Which tokio pieces work on corering, tested: the runtime-agnostic ones
//! (tokio::sync, select!, join!) do; the ones tied to tokio's own reactor
//! (tokio::time, tokio::net) do not, and fail at once with tokio's message
//! rather than hanging. Also: what corering says outside a runtime, and
//! what it tells a `tracing` subscriber.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::bounded;
use corering::{Runtime, spawn};

fn message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn tokio_sync_select_and_join_work() {
    bounded(Duration::from_secs(30), || {
        Runtime::new_default().unwrap().block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(4);
            let producer = spawn(async move {
                for i in 0..100 {
                    tx.send(i).await.unwrap();
                }
            });
            let mut sum = 0;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            producer.await.unwrap();
            assert_eq!(sum, 4950);

            let lock = Arc::new(tokio::sync::Mutex::new(0));
            let l2 = lock.clone();
            let t = spawn(async move {
                *l2.lock().await += 1;
            });
            t.await.unwrap();
            assert_eq!(*lock.lock().await, 1);

            let (otx, orx) = tokio::sync::oneshot::channel::<&str>();
            let (a, b) = tokio::join!(
                async {
                    corering::time::sleep(Duration::from_millis(5)).await;
                    otx.send("joined").unwrap();
                    1
                },
                orx
            );
            assert_eq!((a, b.unwrap()), (1, "joined"));

            let notify = tokio::sync::Notify::new();
            let picked = tokio::select! {
                _ = notify.notified() => "notify",
                _ = corering::time::sleep(Duration::from_millis(10)) => "timer",
            };
            assert_eq!(picked, "timer");
        });
    });
}

#[test]
fn tokio_time_and_tokio_net_need_tokio_and_say_so() {
    bounded(Duration::from_secs(30), || {
        let rt = Runtime::new_default().unwrap();
        let time = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(tokio::time::sleep(Duration::from_millis(1)))
        }));
        let msg = message(time.expect_err("tokio::time needs tokio's runtime"));
        assert!(msg.contains("no reactor") || msg.contains("runtime"), "{msg}");
        let net = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async { tokio::net::TcpListener::bind("127.0.0.1:0").await.map(drop) })
        }));
        let msg = message(net.expect_err("tokio::net needs tokio's runtime"));
        assert!(msg.contains("reactor") || msg.contains("runtime"), "{msg}");
    });
}

#[test]
fn outside_a_runtime_the_panic_says_what_to_do() {
    let spawned = catch_unwind(|| drop(spawn(async {})));
    let msg = message(spawned.expect_err("spawn outside a runtime"));
    assert!(msg.contains("#[corering::main]") && msg.contains("block_on"), "{msg}");
    assert!(!msg.contains("TryCurrentError"), "{msg}");
    let handle = catch_unwind(corering::Handle::current);
    let msg = message(handle.expect_err("Handle::current outside a runtime"));
    assert!(msg.contains("#[corering::main]") && !msg.contains("TryCurrentError"), "{msg}");
}

/// A writer that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn tracing_sees_the_runtime_start_and_each_task_in_its_span() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // The runtime is built before the subscriber is installed, as in a
    // #[corering::main] function that installs one first thing.
    let rt = Runtime::new_default().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            spawn(async { tracing::info!("inside a task") }).await.unwrap();
        });
    });
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("runtime started"), "{text}");
    assert!(
        text.lines().any(|l| l.contains("task{id=")
            && l.contains("worker=0")
            && l.contains("inside a task")),
        "{text}"
    );
}
