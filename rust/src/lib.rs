//! `a2a_fast._native`: converts Python types to and from `a2a_core` and maps its errors.

use pyo3::prelude::*;

mod avro;
mod cloudevents;
mod envelope;
mod errors;
mod metrics;
mod routing;
mod signing;
mod strings;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    routing::register(m)?;
    metrics::register(m)?;
    avro::register(m)?;
    cloudevents::register(m)?;
    envelope::register(m)?;
    signing::register(m)?;
    Ok(())
}
