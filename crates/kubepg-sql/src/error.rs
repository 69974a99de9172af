//! Errors that reach a client, each with the SQLSTATE a PostgreSQL client expects. [`sqlstate`]
//! is the one place internal failures are mapped to codes.

use datafusion::error::DataFusionError;
use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    /// A statement that would change something; kubepg never writes.
    #[error("kubepg is read-only: {0}")]
    ReadOnly(String),

    /// A statement that would read or write local files, or that the identity may not run.
    #[error("permission denied: {0}")]
    Forbidden(String),

    /// The session's cluster scope names no configured cluster.
    #[error("database \"{0}\" does not exist (no cluster matches it)")]
    UnknownScope(String),

    /// A cluster in scope did not answer and the session is strict.
    #[error("cluster {cluster} is unavailable: {message}")]
    ClusterUnavailable { cluster: String, message: String },

    /// A `SET kubepg.x = value` with a value the setting does not take.
    #[error("invalid value for parameter \"{name}\": \"{value}\" (expected {expected})")]
    InvalidSetting {
        name: String,
        value: String,
        expected: &'static str,
    },

    /// A table name no cluster in scope serves.
    #[error("relation \"{0}\" does not exist")]
    UnknownTable(String),

    /// Something PostgreSQL does that kubepg cannot do for this object.
    #[error("{0}")]
    Unsupported(String),

    #[error(transparent)]
    DataFusion(DataFusionError),

    #[error(transparent)]
    Kube(#[from] kubepg_kube::Error),
}

/// kubepg's own failures travel through DataFusion as `External`; they come back out as
/// themselves, so a client reads kubepg's message rather than "External error: …".
impl From<DataFusionError> for Error {
    fn from(e: DataFusionError) -> Self {
        match e {
            DataFusionError::External(inner) => match inner.downcast::<Error>() {
                Ok(own) => *own,
                Err(inner) => match inner.downcast::<kubepg_kube::Error>() {
                    Ok(kube) => Error::Kube(*kube),
                    Err(inner) => Error::DataFusion(DataFusionError::External(inner)),
                },
            },
            other => Error::DataFusion(other),
        }
    }
}

impl Error {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Error::ReadOnly(_) => "25006",
            Error::Forbidden(_) => "42501",
            Error::UnknownScope(_) => "3D000",
            Error::ClusterUnavailable { .. } => "08006",
            Error::InvalidSetting { .. } => "22023",
            Error::UnknownTable(_) => "42P01",
            Error::Unsupported(_) => "0A000",
            Error::DataFusion(e) => sqlstate(e),
            Error::Kube(e) => kube_sqlstate(e),
        }
    }
}

/// The SQLSTATE of a query failure.
pub fn sqlstate(e: &DataFusionError) -> &'static str {
    match e {
        DataFusionError::SQL(..) => "42601",
        DataFusionError::SchemaError(se, _) => {
            use datafusion::common::SchemaError;
            match se.as_ref() {
                SchemaError::FieldNotFound { .. } => "42703",
                SchemaError::AmbiguousReference { .. } => "42702",
                SchemaError::DuplicateQualifiedField { .. }
                | SchemaError::DuplicateUnqualifiedField { .. } => "42701",
            }
        }
        DataFusionError::Plan(msg) => {
            if msg.contains("table") && msg.contains("not found") {
                "42P01"
            } else if msg.contains("Invalid function") || msg.contains("No function matches") {
                "42883"
            } else {
                "42804"
            }
        }
        DataFusionError::NotImplemented(_) => "0A000",
        // A SET or SHOW of a setting no one defines, as PostgreSQL's "unrecognized configuration
        // parameter"; any other configuration error is a value the setting does not take.
        DataFusionError::Configuration(msg) if msg.contains("not found") => "42704",
        DataFusionError::Configuration(_) => "22023",
        DataFusionError::ResourcesExhausted(_) => "53200",
        DataFusionError::ArrowError(ae, _) => match ae.as_ref() {
            datafusion::arrow::error::ArrowError::DivideByZero => "22012",
            datafusion::arrow::error::ArrowError::CastError(_)
            | datafusion::arrow::error::ArrowError::ParseError(_) => "22P02",
            _ => "XX000",
        },
        DataFusionError::Context(_, inner) => sqlstate(inner),
        DataFusionError::Shared(inner) => sqlstate(inner),
        DataFusionError::Diagnostic(_, inner) => sqlstate(inner),
        DataFusionError::Collection(errors) => errors.first().map_or("XX000", sqlstate),
        DataFusionError::External(inner) => {
            if let Some(k) = inner.downcast_ref::<kubepg_kube::Error>() {
                kube_sqlstate(k)
            } else if let Some(e) = inner.downcast_ref::<Error>() {
                e.sqlstate()
            } else if let Some(d) = inner.downcast_ref::<DataFusionError>() {
                sqlstate(d)
            } else {
                "XX000"
            }
        }
        DataFusionError::Execution(msg)
            if msg.contains("canceled") || msg.contains("cancelled") =>
        {
            "57014"
        }
        DataFusionError::Execution(msg)
            if msg.contains("Division by zero") || msg.contains("Divide by zero") =>
        {
            "22012"
        }
        DataFusionError::Execution(_) => "XX000",
        _ => "XX000",
    }
}

fn kube_sqlstate(e: &kubepg_kube::Error) -> &'static str {
    use kubepg_kube::Error as K;
    match e {
        K::Api { code: 401, .. } => "28000",
        K::Api { code: 403, .. } => "42501",
        K::Api { code: 404, .. } => "42P01",
        K::Api { code: 429, .. } => "53400",
        K::Api { .. } | K::Decode { .. } => "58000",
        K::Transport { .. } | K::Timeout { .. } | K::Watch { .. } => "08006",
        K::CacheFull { .. } => "53200",
        K::NoSuchCluster(_) => "3D000",
        K::Selector(_) => "22023",
        K::Kubeconfig(_) | K::Snapshot { .. } | K::Cache { .. } => "58030",
    }
}
