// A non-async main that never returns: still only the spanned error.
#[corering::main]
fn main() -> ! {
    loop {}
}
