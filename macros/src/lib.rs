//! Procedural macros for corering.
//!
//! `#[corering::main]` and `#[corering::test]` arrive with the executor; this
//! crate is the placeholder that keeps the workspace shape stable until then.
