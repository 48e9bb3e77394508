// `#[corering::main]` with every option runs `main` on a runtime and
// returns its result.
#[corering::main(entries = 128, workers = 1, pin = false)]
async fn main() -> std::io::Result<()> {
    let h = corering::spawn(async { 2 });
    assert_eq!(h.await?, 2);
    corering::time::sleep(std::time::Duration::from_millis(1)).await;
    Ok(())
}
