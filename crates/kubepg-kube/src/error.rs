//! Errors of the Kubernetes side, each naming the step that failed.

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    /// The kubeconfig could not be read or a context in it could not be used.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),

    /// No configured cluster matched a name or pattern.
    #[error("no cluster matches {0:?}")]
    NoSuchCluster(String),

    /// `--context` named no context of the kubeconfig.
    #[error(
        "no context matches {pattern:?}; the kubeconfig has {}: --context takes a name, a comma list or a glob like 'prod-*'",
        available.join(", ")
    )]
    NoSuchContext {
        pattern: String,
        available: Vec<String>,
    },

    /// The API server answered with an error status.
    #[error("cluster {cluster}: {verb} {path}: {code} {reason}: {message}")]
    Api {
        cluster: String,
        verb: &'static str,
        path: String,
        code: u16,
        reason: String,
        message: String,
    },

    /// The API server could not be reached or the connection broke.
    #[error("cluster {cluster}: {path}: {source}")]
    Transport {
        cluster: String,
        path: String,
        #[source]
        source: kube::Error,
    },

    /// A response body was not the JSON the API promises.
    #[error("cluster {cluster}: {path}: malformed response: {message}")]
    Decode {
        cluster: String,
        path: String,
        message: String,
    },

    /// A request took longer than the configured timeout.
    #[error("cluster {cluster}: {path}: timed out after {seconds}s")]
    Timeout {
        cluster: String,
        path: String,
        seconds: u64,
    },

    /// A snapshot file could not be read or parsed.
    #[error("snapshot {path}: {message}")]
    Snapshot { path: String, message: String },

    /// A selector given by the caller is not valid Kubernetes selector syntax.
    #[error("invalid selector: {0}")]
    Selector(String),

    /// A watch of the watch cache failed in a way that is not an API status.
    #[error("cluster {cluster}: watch {path}: {message}")]
    Watch {
        cluster: String,
        path: String,
        message: String,
    },

    /// One resource's objects alone need more memory than the watch cache may hold.
    #[error(
        "cluster {cluster}: {resource} needs more than the watch cache's memory bound ({bytes} bytes > {limit})"
    )]
    CacheFull {
        cluster: String,
        resource: String,
        bytes: u64,
        limit: u64,
    },

    /// The on-disk discovery cache could not be written (reading failures just re-discover).
    #[error("discovery cache {path}: {message}")]
    Cache { path: String, message: String },
}

impl Error {
    /// The HTTP status the API answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The cluster the error came from, when it came from one.
    pub fn cluster(&self) -> Option<&str> {
        match self {
            Error::Api { cluster, .. }
            | Error::Transport { cluster, .. }
            | Error::Decode { cluster, .. }
            | Error::Timeout { cluster, .. }
            | Error::Watch { cluster, .. }
            | Error::CacheFull { cluster, .. } => Some(cluster),
            _ => None,
        }
    }
}
