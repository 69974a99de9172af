//! What the engine tells whoever watches it (a server's `/metrics`): Kubernetes API responses
//! and watch events ([`ApiObserver`], heard by the cluster pool's live sources) and what the
//! engine itself drops ([`EngineObserver`]).

pub use kubepg_kube::live::ApiObserver;

/// Hears what the engine drops on its way to clients.
pub trait EngineObserver: Send + Sync + std::fmt::Debug {
    /// Changes a LISTENing client did not get: its queue was full, or it fell behind.
    fn notifications_dropped(&self, n: u64);
}
