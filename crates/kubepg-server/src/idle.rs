//! When a connection last ran something, so that one idle past the limit can be closed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Activity {
    last: Mutex<Instant>,
    running: AtomicUsize,
}

/// Held while a statement runs; a running statement is never idle however long it takes.
pub struct Running(Arc<Activity>);

impl Default for Activity {
    fn default() -> Self {
        Self {
            last: Mutex::new(Instant::now()),
            running: AtomicUsize::new(0),
        }
    }
}

impl Activity {
    pub fn begin(self: &Arc<Self>) -> Running {
        self.running.fetch_add(1, Ordering::SeqCst);
        Running(self.clone())
    }

    fn last(&self) -> Instant {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns once nothing has run for `limit`.
    pub async fn idle_for(&self, limit: Duration) {
        loop {
            let quiet = self.last().elapsed();
            if self.running.load(Ordering::SeqCst) == 0 && quiet >= limit {
                return;
            }
            tokio::time::sleep(limit.saturating_sub(quiet).max(Duration::from_millis(100))).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        *self.0.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}
