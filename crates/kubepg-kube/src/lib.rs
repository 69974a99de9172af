//! kubepg's Kubernetes side: where objects come from, and nothing about SQL.
//!
//! A [`Source`] discovers resource types, lists objects with selectors and watches them; it is
//! implemented by a live cluster ([`live`]), by snapshot files ([`snapshot`]) and by the watch
//! cache ([`watch`]) over a live cluster. [`pool::ClusterPool`] holds one source per configured
//! cluster, shared by every session, with the [`WatchCache`]; [`discovery::DiscoveryCache`]
//! keeps what each cluster serves in memory and on disk. A live source can act as another
//! [`Identity`] (impersonation); the pool keeps one such source per cluster and identity.

pub mod builtin;
pub mod crd;
pub mod discovery;
pub mod error;
pub mod identity;
pub mod live;
pub mod pool;
pub mod raw;
pub mod selector;
pub mod snapshot;
pub mod source;
pub mod watch;

pub use error::{Error, Result};
pub use identity::Identity;
pub use source::{ListRequest, ListStats, Page, ResourceInfo, Source, WatchEvent, WatchOptions};
pub use watch::{WatchCache, WatchConfig};
