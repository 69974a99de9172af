//! End-to-end suites in one test binary, so that it boots its shared clusters and links
//! DataFusion once: the `kubepg` binary as a user runs it (`query`, `serve`, in a pod), the
//! server in process against real clients (psql, tokio-postgres, psycopg, pgjdbc), and
//! per-user identity.

#[path = "../common/mod.rs"]
mod common;

mod fuzz_sql;
mod in_cluster;
mod newcomer;
mod pipeline_routes;
mod query_clusters;
mod query_output;
mod query_safety;
mod query_snapshot;
mod serve_auth;
mod serve_clients;
mod serve_config;
mod serve_hostile;
mod serve_identity;
mod serve_lifecycle;
mod serve_protocol;
mod slow_cluster;
