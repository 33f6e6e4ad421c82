//! The one place where core errors become Python exceptions.
//!
//! The exception classes live in `a2a_fast.errors` (they need stdlib mix-ins such as
//! `ValueError`, which a single-base native type cannot express); they are looked up once.

use a2a_core::{Error, Limit};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

static VALIDATION_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DECODE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static SCHEMA_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TOO_LARGE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static EXPIRED_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn class<'py>(py: Python<'py>, cell: &'static PyOnceLock<Py<PyType>>, name: &str) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, "a2a_fast.errors", name)
}

/// Converts a core error into the matching `a2a_fast.errors` exception.
pub fn to_py(py: Python<'_>, error: Error) -> PyErr {
    let (cell, name) = match &error {
        Error::Validation { .. } => (&VALIDATION_ERROR, "ValidationError"),
        Error::Decode { .. } => (&DECODE_ERROR, "DecodeError"),
        Error::Schema { .. } | Error::UnknownSchema { .. } => (&SCHEMA_ERROR, "SchemaError"),
        Error::Limit { limit: Limit::TooLarge, .. } => (&TOO_LARGE_ERROR, "MessageTooLargeError"),
        Error::Limit { limit: Limit::Expired, .. } => (&EXPIRED_ERROR, "MessageExpiredError"),
    };
    match class(py, cell, name) {
        Ok(cls) => PyErr::from_type(cls.clone(), error.to_string()),
        Err(import_error) => import_error,
    }
}

/// `result.map_err(...)` in one call for binding code that holds the GIL.
pub trait IntoPyResult<T> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for a2a_core::Result<T> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}

/// Runs core work with the GIL released and maps its error: every batch call site stays one line.
pub fn detached<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> a2a_core::Result<T> + Send,
{
    py.detach(work).into_py_result(py)
}
