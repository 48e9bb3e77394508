// The commonest slip: a Result-returning main that is not async. The
// spanned error must be the only one (no "type annotations needed" on Ok).
#[corering::main]
fn main() -> std::io::Result<()> {
    Ok(())
}
