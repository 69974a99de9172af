//! kubepg's SQL engine: every Kubernetes resource type of every configured cluster as a
//! DataFusion table, with filters pushed down to the API exactly where the API can evaluate them.
//!
//! [`Engine`] is shared by all sessions; [`Engine::session`] makes one client's DataFusion
//! context over a cluster scope. Tables are built by [`catalog`] from discovery, scanned by
//! [`scan::KubeScanExec`], whose requests come from the single [`pushdown::classify`].

pub mod catalog;
pub mod columns;
pub mod containers;
pub mod convert;
pub mod engine;
pub mod error;
pub mod functions;
pub mod guard;
pub mod identity;
pub mod kinds;
pub mod memo;
pub mod pushdown;
pub mod quantity;
pub mod redact;
pub mod scan;
pub mod settings;
pub mod system;
pub mod table;
pub mod warnings;
pub mod watched;

/// The Arrow crate DataFusion uses, for front ends that read result batches.
pub use datafusion::arrow;
pub use engine::{Engine, EngineConfig, KubeSession};
pub use error::{Error, Result, sqlstate};
pub use identity::{IdentityMap, SessionIdentity};
pub use settings::{Consistency, KubepgSettings};
