//! What a session keeps between statements: its transaction block, its open cursors and its
//! LISTEN channels. The hooks that change them are the pipeline's; this is only their state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::arrow::record_batch::RecordBatch;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::outcome::{Batches, Columns};
use crate::observe::EngineObserver;

/// Where the session is, as the protocol's ReadyForQuery reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    Idle,
    InBlock,
    Failed,
}

/// A session's transaction block and its savepoints.
#[derive(Debug)]
pub struct Transaction(Mutex<(TransactionState, Vec<String>)>);

impl Default for Transaction {
    fn default() -> Self {
        Self(Mutex::new((TransactionState::Idle, Vec::new())))
    }
}

impl Transaction {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, (TransactionState, Vec<String>)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn state(&self) -> TransactionState {
        self.lock().0
    }

    /// A statement failed: a block fails with it; outside a block nothing lasts.
    pub fn fail(&self) {
        let mut t = self.lock();
        if t.0 == TransactionState::InBlock {
            t.0 = TransactionState::Failed;
        }
    }
}

/// One open cursor.
pub struct Cursor {
    pub(crate) columns: Columns,
    /// `None` once every row was read.
    pub(crate) batches: Option<Batches>,
    /// Rows of a batch a FETCH read only part of.
    pub(crate) pending: Option<RecordBatch>,
    /// WITH HOLD: survives the end of its transaction block.
    pub(crate) hold: bool,
}

/// A session's open cursors, by name.
#[derive(Default)]
pub struct OpenCursors(pub(crate) tokio::sync::Mutex<HashMap<String, Cursor>>);

impl std::fmt::Debug for OpenCursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenCursors")
    }
}

/// Notifications a connection may have waiting before new ones are dropped (and counted): a
/// client that never reads its socket must not hold memory without bound.
const QUEUE: usize = 10_000;

/// Channels one connection may listen on: each may pin a watch of a whole table.
pub(crate) const MAX_CHANNELS: usize = 64;

/// One notification for the client.
#[derive(Debug)]
pub struct Notification {
    pub channel: String,
    pub payload: String,
}

/// The channels of one session and where their notifications go: a queue the front end
/// drains while the client is idle (`kubepg query` has none, so its LISTEN only answers).
pub struct Listeners {
    pub(crate) sender: Option<mpsc::Sender<Notification>>,
    /// Per channel, the tasks following its clusters; dropping them stops the tasks.
    pub(crate) channels: Mutex<HashMap<String, JoinSet<()>>>,
    pub(crate) observer: Option<Arc<dyn EngineObserver>>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners").finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A queue of notifications for one session, bounded so that a client that never reads its
/// socket holds no more than this.
pub fn notification_queue() -> (mpsc::Sender<Notification>, mpsc::Receiver<Notification>) {
    mpsc::channel(QUEUE)
}

impl Listeners {
    pub fn new(
        sender: Option<mpsc::Sender<Notification>>,
        observer: Option<Arc<dyn EngineObserver>>,
    ) -> Self {
        Self {
            sender,
            channels: Mutex::default(),
            observer,
        }
    }

    /// `UNLISTEN channel`; `*` stops every channel.
    pub fn unlisten(&self, channel: &str) {
        let mut channels = lock(&self.channels);
        if channel == "*" {
            channels.clear();
        } else {
            channels.remove(channel);
        }
    }
}
