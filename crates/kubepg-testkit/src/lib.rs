//! Real Kubernetes API servers for kubepg's tests.
//!
//! [`TestClusters`] starts one etcd and N real `kube-apiserver`s (through `scripts/test-cluster`,
//! the single owner of those processes), [`fixtures`] seeds them with a realistic, deterministic
//! set of objects, and [`audit`] reads the API audit log so tests can assert which requests were
//! made. [`build::build_kubepg`] builds the `kubepg` binary for tests and the bench.
//!
//! [`proxy::FaultProxy`] sits in front of one of them and injects error statuses and dropped
//! connections.

pub mod audit;
pub mod build;
mod cluster;
pub mod fixtures;
pub mod proxy;

pub use cluster::{Cluster, TestClusters, User};
