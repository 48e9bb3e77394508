#[corering::main(entries = 100)]
async fn main() {}
