//! Plain Rust message core of a2a_fast: no Python in here, tested with `cargo test`.

pub mod error;

pub use error::{Error, Result};
