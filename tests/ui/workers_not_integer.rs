#[corering::main(workers = "four")]
async fn main() {}
