#[corering::main(pin = 3)]
async fn main() {}
