//! Record batches of cached scans, kept per table revision: the watch cache holds objects as
//! the JSON the server sent, and turning 10,000 pods into columns is most of a cached query's
//! time. A dashboard repeats its queries; while a table has not changed, a scan with the same
//! request and projection answers with the batches the last one built.
//!
//! Shared by every session of an engine, bounded in bytes, least recently used out first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::arrow::record_batch::RecordBatch;

/// Scans of fewer objects are not kept: converting them again costs well under a millisecond,
/// while every point query of a dashboard (one pod by namespace and name) would otherwise add
/// an entry of its own, and a burst of them held the memo's whole bound (tens of MiB) long after
/// the sessions had gone (the soak in BENCHMARKS.md).
const MIN_ROWS: usize = 100;

#[derive(Debug)]
pub struct ScanMemo {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    bytes: usize,
    tick: u64,
}

#[derive(Debug)]
struct Entry {
    batches: Arc<[RecordBatch]>,
    bytes: usize,
    used: u64,
}

impl ScanMemo {
    /// A memo holding at most `max_bytes` of batches; 0 keeps nothing.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self, key: &str) -> Option<Arc<[RecordBatch]>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.entries.get_mut(key)?;
        entry.used = tick;
        Some(entry.batches.clone())
    }

    /// Keeps `batches` under `key`, dropping the least recently used entries to stay within the
    /// bound; batches larger than the whole bound, or of fewer than [`MIN_ROWS`] rows, are not
    /// kept.
    pub fn insert(&self, key: String, batches: Vec<RecordBatch>) {
        let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if bytes > self.max_bytes || rows < MIN_ROWS {
            return;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        let entry = Entry {
            batches: batches.into(),
            bytes,
            used: inner.tick,
        };
        if let Some(old) = inner.entries.insert(key, entry) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        while inner.bytes > self.max_bytes {
            let Some(victim) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = inner.entries.remove(&victim) {
                inner.bytes -= e.bytes;
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;

    fn batch(rows: i64) -> RecordBatch {
        RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from_iter_values(0..rows)) as _)])
            .unwrap()
    }

    #[test]
    fn keeps_within_its_bound_dropping_the_least_recently_used() {
        let one = batch(1000).get_array_memory_size();
        let memo = ScanMemo::new(one * 2);
        memo.insert("a".into(), vec![batch(1000)]);
        memo.insert("b".into(), vec![batch(1000)]);
        assert!(memo.get("a").is_some());
        memo.insert("c".into(), vec![batch(1000)]);
        assert!(memo.get("b").is_none(), "b was used least recently");
        assert!(memo.get("a").is_some() && memo.get("c").is_some());
        assert!(memo.bytes() <= one * 2);
        memo.insert("huge".into(), vec![batch(10_000)]);
        assert!(memo.get("huge").is_none());
        memo.insert("point".into(), vec![batch(1)]);
        assert!(
            memo.get("point").is_none(),
            "a scan of one row is cheaper to build again"
        );
        assert_eq!(memo.get("a").unwrap()[0].num_rows(), 1000);
    }
}
