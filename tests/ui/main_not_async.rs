#[corering::main]
fn main() {}
