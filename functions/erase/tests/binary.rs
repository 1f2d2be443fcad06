//! The erase function's binary fails fast outside Lambda (see
//! `functions/common/binary_test.rs`).

#![allow(clippy::expect_used)]

#[path = "../../common/binary_test.rs"]
mod binary_test;

#[test]
fn fails_fast_outside_lambda() {
    binary_test::fails_fast_outside_lambda(env!("CARGO_BIN_EXE_erase"));
}
