//! The engine against real API servers (and the demo snapshot where no server is needed), in
//! one test binary: it boots its shared clusters and links DataFusion once.

mod common;

mod clusters;
mod discovery_cache;
mod discovery_new_crd;
mod fleet;
mod identity;
mod pushdown;
mod retries;
mod safety;
