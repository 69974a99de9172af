//! kubepg's SQL engine: every Kubernetes resource type of every configured cluster as a
//! DataFusion table, with filters pushed down to the API exactly where the API can evaluate
//! them, behind PostgreSQL's dialect and one statement pipeline.
//!
//! [`Engine`] is shared by all sessions; [`Engine::session`] makes one client's
//! [`KubeSession`], through which every statement goes by [`pipeline`]: parse, hooks (SET,
//! transactions, cursors, COPY, LISTEN), plan, execute. Tables are built by [`catalog`] from
//! discovery and scanned by [`scan::KubeScanExec`], whose requests come from the single
//! [`pushdown::classify`]. [`SqlState`] is every error code a client may see.

pub mod catalog;
pub mod columns;
pub mod containers;
pub mod convert;
pub mod definition;
pub mod dialect;
pub mod engine;
pub mod error;
pub mod functions;
pub mod guard;
pub mod identity;
pub mod jsonb_text;
pub mod kinds;
pub mod memo;
pub mod observe;
pub mod pipeline;
pub mod pushdown;
pub mod quantity;
pub mod redact;
pub mod scan;
pub mod settings;
pub mod sqlstate;
pub mod system;
pub mod table;
pub mod time_zone;
pub mod warnings;

/// The stack the runtime's threads need: parsing and planning a statement as deep as the
/// pipeline accepts recurses once per level of its tree (a debug build takes about 10 KiB a
/// level). Front ends build their runtime with it.
pub const PLANNING_STACK: usize = 32 << 20;

/// The Arrow crate DataFusion uses, for front ends that read result batches.
pub use datafusion::arrow;
pub use engine::{CacheEntry, Engine, EngineConfig, Readiness};
pub use error::{Error, Result, sqlstate};
pub use identity::{IdentityMap, SessionIdentity};
pub use pipeline::{KubeSession, SessionRequest};
pub use settings::{Consistency, KubepgSettings};
pub use sqlstate::SqlState;
