//! Plain Rust message core of a2a_fast: no Python in here, tested with `cargo test`.

pub mod avro;
pub mod cloudevents;
pub mod envelope;
pub mod error;
pub mod metrics;
pub mod routing;
pub mod signing;
pub mod wording;

pub use error::{Error, Limit, Result};
