#[corering::main(workers = -2)]
async fn main() {}
