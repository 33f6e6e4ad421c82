//! Lock-free latency histograms and counters per (protocol, operation).
//!
//! Durations are kept in whole nanoseconds in log-linear buckets: values below 64 ns get a bucket
//! each; above, every power of two is cut into 64 equal buckets. A percentile is reported as the
//! middle of its bucket, which is within 1/128 (0.79 %) of the true value, or 1 ns below 128 ns.
//! Values of 2^43 ns (about 2.4 hours) or more share the last bucket; `max` stays exact.
//!
//! Recording takes no lock: the series map is an immutable snapshot behind an [`ArcSwap`] (a
//! writer only runs the first time a pair is seen), and a series is a set of atomics. `reset`
//! swaps each series' histogram for an empty one, so a concurrent record lands wholly before or
//! wholly after the reset, and handles from [`Metrics::series`] stay valid.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::error::{Error, Result};

const SUB_BITS: u32 = 6;
const SUB_COUNT: u64 = 1 << SUB_BITS;
/// Highest power of two with buckets of its own.
const MAX_EXPONENT: u32 = 42;
/// Number of buckets: the exact ones below `SUB_COUNT`, then `SUB_COUNT` per exponent.
pub const BUCKETS: usize = ((MAX_EXPONENT - SUB_BITS + 2) as usize) * SUB_COUNT as usize;
/// Largest relative error of a reported percentile (half a bucket over its lower bound).
pub const RELATIVE_ERROR: f64 = 1.0 / (2 * SUB_COUNT) as f64;

/// The bucket holding `nanos`.
pub fn bucket_index(nanos: u64) -> usize {
    if nanos < SUB_COUNT {
        return nanos as usize;
    }
    let nanos = nanos.min((1u64 << (MAX_EXPONENT + 1)) - 1);
    let exponent = 63 - nanos.leading_zeros();
    let sub = (nanos >> (exponent - SUB_BITS)) - SUB_COUNT;
    ((exponent - SUB_BITS + 1) as u64 * SUB_COUNT + sub) as usize
}

/// Inclusive `(low, high)` nanosecond bounds of a bucket.
pub fn bucket_bounds(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < SUB_COUNT {
        return (index, index);
    }
    let shift = (index / SUB_COUNT - 1) as u32;
    let low = (SUB_COUNT + index % SUB_COUNT) << shift;
    (low, low + (1u64 << shift) - 1)
}

fn check_seconds(seconds: f64) -> Result<u64> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(Error::validation("seconds", format!("must be a finite number >= 0, got {seconds}")));
    }
    // `as` saturates: absurdly long durations end in the last bucket.
    Ok((seconds * 1e9).round() as u64)
}

#[derive(Debug)]
struct Histogram {
    count: AtomicU64,
    errors: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
    buckets: Box<[AtomicU64]>,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            count: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn record(&self, nanos: u64, ok: bool) {
        self.buckets[bucket_index(nanos)].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(nanos, Ordering::Relaxed);
        self.min.fetch_min(nanos, Ordering::Relaxed);
        self.max.fetch_max(nanos, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        // Release: whoever reads this count (Acquire) also sees the bucket and sums above.
        self.count.fetch_add(1, Ordering::Release);
    }
}

/// The histogram of one (protocol, operation); cheap to keep and record into directly.
#[derive(Debug)]
pub struct Series {
    protocol: String,
    operation: String,
    histogram: ArcSwap<Histogram>,
}

impl Series {
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// Records one call that took `seconds`; `ok = false` also counts it as an error.
    pub fn record(&self, seconds: f64, ok: bool) -> Result<()> {
        self.record_nanos(check_seconds(seconds)?, ok);
        Ok(())
    }

    pub fn record_nanos(&self, nanos: u64, ok: bool) {
        self.histogram.load().record(nanos, ok);
    }

    pub fn snapshot(&self) -> SeriesSnapshot {
        let histogram = self.histogram.load();
        let count = histogram.count.load(Ordering::Acquire);
        let buckets: Vec<u64> = histogram.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let min = histogram.min.load(Ordering::Relaxed);
        SeriesSnapshot {
            protocol: self.protocol.clone(),
            operation: self.operation.clone(),
            count,
            errors: histogram.errors.load(Ordering::Relaxed),
            sum_nanos: histogram.sum.load(Ordering::Relaxed),
            min_nanos: if min == u64::MAX { 0 } else { min },
            max_nanos: histogram.max.load(Ordering::Relaxed),
            buckets,
        }
    }

    fn reset(&self) {
        self.histogram.store(Arc::new(Histogram::new()));
    }
}

/// A consistent-enough copy of a series: each field is read atomically, but records racing with
/// the copy may be counted in some fields and not yet in others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesSnapshot {
    pub protocol: String,
    pub operation: String,
    pub count: u64,
    pub errors: u64,
    pub sum_nanos: u64,
    pub min_nanos: u64,
    pub max_nanos: u64,
    /// Count per bucket, indexed as [`bucket_index`].
    pub buckets: Vec<u64>,
}

impl SeriesSnapshot {
    pub fn mean_nanos(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_nanos as f64 / self.count as f64
        }
    }

    /// The nearest-rank percentile for `q` in `0.0 ..= 1.0`: (close to) the smallest recorded
    /// value with at least `q * count` values at or below it. `0` when nothing was recorded.
    pub fn percentile_nanos(&self, q: f64) -> Result<u64> {
        if !(0.0..=1.0).contains(&q) {
            return Err(Error::validation("q", format!("must be between 0 and 1, got {q}")));
        }
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return Ok(0);
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (index, &count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, high) = bucket_bounds(index);
                let middle = low + (high - low) / 2;
                return Ok(middle.clamp(self.min_nanos, self.max_nanos.max(self.min_nanos)));
            }
        }
        Ok(self.max_nanos)
    }

    /// Non-empty buckets as `(low, high, count)`, bounds inclusive, in nanoseconds.
    pub fn nonzero_buckets(&self) -> Vec<(u64, u64, u64)> {
        self.buckets
            .iter()
            .enumerate()
            .filter(|(_, &count)| count > 0)
            .map(|(index, &count)| {
                let (low, high) = bucket_bounds(index);
                (low, high, count)
            })
            .collect()
    }
}

type SeriesMap = HashMap<String, HashMap<String, Arc<Series>>>;

/// A registry of series, shared by any number of threads.
#[derive(Debug, Default)]
pub struct Metrics {
    series: ArcSwap<SeriesMap>,
    writer: Mutex<()>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// The series of `(protocol, operation)`, created on first use.
    pub fn series(&self, protocol: &str, operation: &str) -> Result<Arc<Series>> {
        if let Some(series) = self.series.load().get(protocol).and_then(|ops| ops.get(operation)) {
            return Ok(series.clone());
        }
        if protocol.is_empty() {
            return Err(Error::validation("protocol", "must not be empty"));
        }
        if operation.is_empty() {
            return Err(Error::validation("operation", "must not be empty"));
        }
        // The mutex only orders writers; a poisoned one guards nothing broken.
        let _writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.series.load_full();
        if let Some(series) = current.get(protocol).and_then(|ops| ops.get(operation)) {
            return Ok(series.clone());
        }
        let series = Arc::new(Series {
            protocol: protocol.to_owned(),
            operation: operation.to_owned(),
            histogram: ArcSwap::from_pointee(Histogram::new()),
        });
        let mut next = (*current).clone();
        next.entry(protocol.to_owned()).or_default().insert(operation.to_owned(), series.clone());
        self.series.store(Arc::new(next));
        Ok(series)
    }

    /// Records one call of `operation` over `protocol` that took `seconds`.
    pub fn record(&self, protocol: &str, operation: &str, seconds: f64, ok: bool) -> Result<()> {
        let nanos = check_seconds(seconds)?;
        self.series(protocol, operation)?.record_nanos(nanos, ok);
        Ok(())
    }

    /// Every series, sorted by protocol then operation.
    pub fn snapshot(&self) -> Vec<SeriesSnapshot> {
        let map = self.series.load();
        let mut all: Vec<SeriesSnapshot> = map.values().flat_map(|ops| ops.values()).map(|s| s.snapshot()).collect();
        all.sort_by(|a, b| (&a.protocol, &a.operation).cmp(&(&b.protocol, &b.operation)));
        all
    }

    pub fn get(&self, protocol: &str, operation: &str) -> Option<SeriesSnapshot> {
        self.series.load().get(protocol).and_then(|ops| ops.get(operation)).map(|s| s.snapshot())
    }

    /// Empties every series (they stay registered, and handles to them stay valid).
    pub fn reset(&self) {
        for series in self.series.load().values().flat_map(|ops| ops.values()) {
            series.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;
    use std::time::{Duration, Instant};

    #[test]
    fn buckets_are_contiguous_and_cover_their_values() {
        let mut expected_low = 0;
        for index in 0..BUCKETS {
            let (low, high) = bucket_bounds(index);
            assert_eq!(low, expected_low, "bucket {index}");
            assert!(high >= low);
            assert_eq!(bucket_index(low), index);
            assert_eq!(bucket_index(high), index);
            let middle = low + (high - low) / 2;
            assert!((middle - low) as f64 <= RELATIVE_ERROR * low as f64 + 0.5, "bucket {index}");
            expected_low = high + 1;
        }
        assert_eq!(bucket_index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn statistics_of_known_values() {
        let metrics = Metrics::new();
        for ms in 1..=100 {
            metrics.record("kafka", "produce", f64::from(ms) / 1000.0, ms % 10 != 0).unwrap();
        }
        let s = metrics.get("kafka", "produce").unwrap();
        assert_eq!((s.count, s.errors), (100, 10));
        assert_eq!((s.min_nanos, s.max_nanos), (1_000_000, 100_000_000));
        assert!((s.mean_nanos() - 50_500_000.0).abs() < 1.0);
        for (q, exact) in [(0.5, 50_000_000.0), (0.99, 99_000_000.0), (0.0, 1_000_000.0), (1.0, 100_000_000.0)] {
            let got = s.percentile_nanos(q).unwrap() as f64;
            assert!((got - exact).abs() <= exact * RELATIVE_ERROR, "q {q}: {got} vs {exact}");
        }
        assert_eq!(s.nonzero_buckets().iter().map(|b| b.2).sum::<u64>(), 100);
        assert!(metrics.get("kafka", "consume").is_none());
    }

    #[test]
    fn bad_input_names_the_argument() {
        let metrics = Metrics::new();
        let path = |r: Result<()>| match r {
            Err(Error::Validation { path, .. }) => path,
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert_eq!(path(metrics.record("", "op", 1.0, true)), "protocol");
        assert_eq!(path(metrics.record("p", "", 1.0, true)), "operation");
        assert_eq!(path(metrics.record("p", "op", -1.0, true)), "seconds");
        assert_eq!(path(metrics.record("p", "op", f64::NAN, true)), "seconds");
        metrics.record("p", "op", 1.0, true).unwrap();
        assert_eq!(path(metrics.get("p", "op").unwrap().percentile_nanos(1.5).map(drop)), "q");
    }

    #[test]
    fn reset_empties_but_keeps_handles() {
        let metrics = Metrics::new();
        let series = metrics.series("http", "get").unwrap();
        series.record(0.5, false).unwrap();
        metrics.reset();
        let s = metrics.get("http", "get").unwrap();
        assert_eq!((s.count, s.errors, s.max_nanos, s.percentile_nanos(0.5).unwrap()), (0, 0, 0, 0));
        series.record(0.25, true).unwrap();
        assert_eq!(metrics.get("http", "get").unwrap().count, 1);
    }

    #[test]
    fn stress_concurrent_records_are_all_counted() {
        let metrics = Metrics::new();
        let (threads, records) = (4u64, 25_000u64);
        thread::scope(|s| {
            for t in 0..threads {
                let metrics = &metrics;
                s.spawn(move || {
                    // Two threads share each series, and every thread creates some series first.
                    let operation = format!("op{}", t % 2);
                    for i in 0..records {
                        metrics.record("kafka", &operation, (i % 1000) as f64 * 1e-6, i % 4 != 0).unwrap();
                    }
                    metrics.record(&format!("own{t}"), "once", 1.0, true).unwrap();
                });
            }
        });
        let all = metrics.snapshot();
        assert_eq!(all.len(), 2 + threads as usize);
        for op in ["op0", "op1"] {
            let s = metrics.get("kafka", op).unwrap();
            assert_eq!(s.count, 2 * records);
            assert_eq!(s.errors, 2 * records / 4);
            assert_eq!(s.buckets.iter().sum::<u64>(), 2 * records);
            assert_eq!(s.sum_nanos, 2 * (0..records).map(|i| (i % 1000) * 1000).sum::<u64>());
            assert_eq!((s.min_nanos, s.max_nanos), (0, 999_000));
        }
    }

    #[test]
    fn stress_snapshots_during_records_are_never_ahead() {
        let metrics = Metrics::new();
        let series = metrics.series("grpc", "call").unwrap();
        let deadline = Instant::now() + Duration::from_millis(1000);
        thread::scope(|s| {
            s.spawn(|| {
                while Instant::now() < deadline {
                    series.record_nanos(1_000, true);
                }
            });
            s.spawn(|| {
                let mut last = 0;
                while Instant::now() < deadline {
                    let snap = series.snapshot();
                    // `count` is bumped last, so every counted record is already in the buckets.
                    assert!(snap.buckets.iter().sum::<u64>() >= snap.count);
                    assert!(snap.count >= last, "count went backwards");
                    last = snap.count;
                }
            });
        });
    }
}
