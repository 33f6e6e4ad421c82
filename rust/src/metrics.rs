//! `Metrics` and `Series`: conversions around `a2a_core::metrics`. Durations cross the boundary
//! in seconds (float) and are kept in nanoseconds.

use std::sync::Arc;

use a2a_core::metrics::{Metrics, Series, SeriesSnapshot};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{detached, IntoPyResult};

const QUANTILES: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)];

fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

fn stats<'py>(py: Python<'py>, snapshot: &SeriesSnapshot) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("count", snapshot.count)?;
    dict.set_item("errors", snapshot.errors)?;
    dict.set_item("sum", seconds(snapshot.sum_nanos))?;
    dict.set_item("min", seconds(snapshot.min_nanos))?;
    dict.set_item("mean", snapshot.mean_nanos() / 1e9)?;
    dict.set_item("max", seconds(snapshot.max_nanos))?;
    for (name, q) in QUANTILES {
        dict.set_item(name, seconds(snapshot.percentile_nanos(q).into_py_result(py)?))?;
    }
    Ok(dict)
}

/// The latency histogram of one (protocol, operation), from `Metrics.series`: recording through
/// it skips the name lookup.
#[pyclass(module = "a2a_fast._native", name = "Series", frozen)]
pub struct PySeries {
    inner: Arc<Series>,
}

#[pymethods]
impl PySeries {
    #[getter]
    fn protocol(&self) -> &str {
        self.inner.protocol()
    }

    #[getter]
    fn operation(&self) -> &str {
        self.inner.operation()
    }

    /// Records one call that took ``seconds``; ``ok=False`` also counts it as an error.
    #[pyo3(signature = (seconds, ok = true))]
    fn record(&self, py: Python<'_>, seconds: f64, ok: bool) -> PyResult<()> {
        self.inner.record(seconds, ok).into_py_result(py)
    }

    /// Records several calls that took ``seconds`` each, all with the same ``ok``.
    #[pyo3(signature = (seconds, ok = true))]
    fn record_many(&self, py: Python<'_>, seconds: Vec<f64>, ok: bool) -> PyResult<()> {
        seconds.into_iter().try_for_each(|s| self.inner.record(s, ok)).into_py_result(py)
    }

    /// The statistics dict of this series (see `Metrics.snapshot`).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats(py, &self.inner.snapshot())
    }

    fn __repr__(&self) -> String {
        format!("Series(protocol={:?}, operation={:?})", self.inner.protocol(), self.inner.operation())
    }
}

/// A registry of lock-free latency histograms and counters per (protocol, operation).
#[pyclass(module = "a2a_fast._native", name = "Metrics", frozen)]
pub struct PyMetrics {
    inner: Metrics,
}

#[pymethods]
impl PyMetrics {
    #[new]
    fn new() -> Self {
        PyMetrics { inner: Metrics::new() }
    }

    /// Records one call of ``operation`` over ``protocol`` that took ``seconds``.
    #[pyo3(signature = (protocol, operation, seconds, ok = true))]
    fn record(&self, py: Python<'_>, protocol: &str, operation: &str, seconds: f64, ok: bool) -> PyResult<()> {
        self.inner.record(protocol, operation, seconds, ok).into_py_result(py)
    }

    /// The series of (protocol, operation), created on first use.
    fn series(&self, py: Python<'_>, protocol: &str, operation: &str) -> PyResult<PySeries> {
        Ok(PySeries { inner: self.inner.series(protocol, operation).into_py_result(py)? })
    }

    /// ``{protocol: {operation: stats}}`` of every series.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let all = detached(py, || Ok(self.inner.snapshot()))?;
        let out = PyDict::new(py);
        for snapshot in &all {
            let operations = match out.get_item(&snapshot.protocol)? {
                Some(existing) => existing.cast_into::<PyDict>()?,
                None => {
                    let fresh = PyDict::new(py);
                    out.set_item(&snapshot.protocol, &fresh)?;
                    fresh
                }
            };
            operations.set_item(&snapshot.operation, stats(py, snapshot)?)?;
        }
        Ok(out)
    }

    /// The stats of one series, or None if nothing was ever recorded under that name.
    fn stats<'py>(&self, py: Python<'py>, protocol: &str, operation: &str) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.inner.get(protocol, operation).map(|snapshot| stats(py, &snapshot)).transpose()
    }

    /// The nearest-rank percentile ``q`` (0..1) in seconds, or None for an unknown series.
    fn percentile(&self, py: Python<'_>, protocol: &str, operation: &str, q: f64) -> PyResult<Option<f64>> {
        match self.inner.get(protocol, operation) {
            Some(snapshot) => Ok(Some(seconds(snapshot.percentile_nanos(q).into_py_result(py)?))),
            None => Ok(None),
        }
    }

    /// Non-empty histogram buckets as ``(low, high, count)``; bounds in seconds, inclusive at
    /// nanosecond resolution.
    fn buckets(&self, protocol: &str, operation: &str) -> Vec<(f64, f64, u64)> {
        self.inner.get(protocol, operation).map_or_else(Vec::new, |snapshot| {
            snapshot
                .nonzero_buckets()
                .into_iter()
                .map(|(low, high, count)| (seconds(low), seconds(high), count))
                .collect()
        })
    }

    /// Empties every series; they stay registered and `Series` handles stay valid.
    fn reset(&self) {
        self.inner.reset();
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMetrics>()?;
    m.add_class::<PySeries>()?;
    m.add("METRICS_RELATIVE_ERROR", a2a_core::metrics::RELATIVE_ERROR)?;
    Ok(())
}
