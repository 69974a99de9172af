//! Warnings a query collects while it runs (a cluster that failed while others answered),
//! handed to the client after the result: the CLI prints them, the server sends NOTICEs.

use std::sync::{Arc, Mutex};

/// Attached to each session's config; scans append, the front end drains after each statement.
#[derive(Debug, Default, Clone)]
pub struct QueryWarnings(Arc<Mutex<Vec<String>>>);

impl QueryWarnings {
    pub fn push(&self, warning: String) {
        if let Ok(mut w) = self.0.lock()
            && !w.contains(&warning)
        {
            w.push(warning);
        }
    }

    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }
}
