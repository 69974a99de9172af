//! kubepg's Kubernetes side: where objects come from, and nothing about SQL.
//!
//! A [`Source`] discovers resource types and lists objects with selectors; it is implemented by
//! a live cluster ([`live`]) and by snapshot files ([`snapshot`]). [`pool::ClusterPool`] holds one
//! source per configured cluster, shared by every session; [`discovery::DiscoveryCache`] keeps
//! what each cluster serves in memory and on disk.

pub mod builtin;
pub mod discovery;
pub mod error;
pub mod live;
pub mod pool;
pub mod selector;
pub mod snapshot;
pub mod source;

pub use error::{Error, Result};
pub use source::{ListRequest, ListStats, Page, ResourceInfo, Source};
