#[corering::main(workers = 2.5)]
async fn main() {}
