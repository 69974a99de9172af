//! Errors that reach a client, each with the [`SqlState`] a PostgreSQL client expects.
//! [`Error::sqlstate`] is the one mapping from internal failures to codes; front ends send what
//! it says and nothing else.

use datafusion::error::DataFusionError;
use thiserror::Error;

use crate::sqlstate::SqlState;

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

    /// A `SET` with a value the setting does not take.
    #[error("invalid value for parameter \"{name}\": \"{value}\" (expected {expected})")]
    InvalidSetting {
        name: String,
        value: String,
        expected: &'static str,
    },

    /// A setting no one defines.
    #[error("unrecognized configuration parameter \"{0}\"")]
    UnknownSetting(String),

    /// A setting clients may read but not change.
    #[error("parameter \"{0}\" cannot be changed")]
    ReadOnlySetting(String),

    /// A table name no cluster in scope serves.
    #[error("relation \"{0}\" does not exist")]
    UnknownTable(String),

    /// Something PostgreSQL does that kubepg cannot do for this object.
    #[error("{0}")]
    Unsupported(String),

    /// A statement refused the way PostgreSQL refuses it (a cursor that does not exist, a
    /// statement inside a failed transaction), in PostgreSQL's words.
    #[error("{message}")]
    Refused { state: SqlState, message: String },

    /// The statement ran past the session's `statement_timeout`.
    #[error("canceling statement due to statement timeout")]
    StatementTimeout,

    #[error("{}", datafusion_message(.0))]
    DataFusion(DataFusionError),

    #[error("{}", kube_message(.0))]
    Kube(#[from] kubepg_kube::Error),
}

impl Error {
    /// A refusal with PostgreSQL's code and wording.
    pub fn refused(state: SqlState, message: impl Into<String>) -> Self {
        Error::Refused {
            state,
            message: message.into(),
        }
    }

    /// As DataFusion carries errors of ours through its plans and streams.
    pub fn into_datafusion(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }

    pub fn sqlstate(&self) -> SqlState {
        match self {
            Error::ReadOnly(_) => SqlState::ReadOnlySqlTransaction,
            Error::Forbidden(_) => SqlState::InsufficientPrivilege,
            Error::UnknownScope(_) => SqlState::InvalidCatalogName,
            // Not class 08: that tells connection pools the PostgreSQL connection is broken,
            // and a slow cluster would make them throw away healthy connections.
            Error::ClusterUnavailable { .. } => SqlState::SystemError,
            Error::InvalidSetting { .. } => SqlState::InvalidParameterValue,
            Error::UnknownSetting(_) => SqlState::UndefinedObject,
            Error::ReadOnlySetting(_) => SqlState::CantChangeRuntimeParam,
            Error::UnknownTable(_) => SqlState::UndefinedTable,
            Error::Unsupported(_) => SqlState::FeatureNotSupported,
            Error::Refused { state, .. } => *state,
            Error::StatementTimeout => SqlState::QueryCanceled,
            Error::DataFusion(e) => sqlstate(e),
            Error::Kube(e) => kube_sqlstate(e),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Error::DataFusion(DataFusionError::ArrowError(Box::new(e), None))
    }
}

/// kubepg's own failures travel through DataFusion as `External`, sometimes wrapped in
/// context or shared between partitions; they come back out as themselves, so a client reads
/// kubepg's message rather than "External error: …".
impl From<DataFusionError> for Error {
    fn from(e: DataFusionError) -> Self {
        match e {
            DataFusionError::External(inner) => match inner.downcast::<Error>() {
                Ok(own) => *own,
                Err(inner) => match inner.downcast::<kubepg_kube::Error>() {
                    Ok(kube) => Error::Kube(*kube),
                    Err(inner) => match inner.downcast::<DataFusionError>() {
                        Ok(df) => Error::from(*df),
                        Err(inner) => Error::DataFusion(DataFusionError::External(inner)),
                    },
                },
            },
            DataFusionError::Context(context, inner) => match Error::from(*inner) {
                Error::DataFusion(inner) => {
                    Error::DataFusion(DataFusionError::Context(context, Box::new(inner)))
                }
                own => own,
            },
            DataFusionError::Diagnostic(_, inner) => Error::from(*inner),
            DataFusionError::Shared(shared) => match std::sync::Arc::try_unwrap(shared) {
                Ok(inner) => Error::from(inner),
                Err(shared) => match own_in(&shared) {
                    Some(own) => own,
                    None => Error::DataFusion(DataFusionError::Shared(shared)),
                },
            },
            other => Error::DataFusion(other),
        }
    }
}

/// A copy of one of kubepg's errors found inside a shared DataFusion error, which cannot be
/// taken apart: its message and code survive.
fn own_in(e: &DataFusionError) -> Option<Error> {
    match e {
        DataFusionError::External(inner) => {
            if let Some(own) = inner.downcast_ref::<Error>() {
                Some(Error::refused(own.sqlstate(), own.to_string()))
            } else if let Some(kube) = inner.downcast_ref::<kubepg_kube::Error>() {
                Some(Error::refused(kube_sqlstate(kube), kube_message(kube)))
            } else {
                inner.downcast_ref::<DataFusionError>().and_then(own_in)
            }
        }
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => own_in(inner),
        DataFusionError::Shared(inner) => own_in(inner),
        _ => None,
    }
}

/// A DataFusion failure as a SQL user reads it: the failure itself, without the optimizer rule
/// or plan step it happened in ("Optimizer rule 'simplify_expressions' failed caused by …")
/// and without DataFusion's and Arrow's category prefixes ("Arrow error: Cast error: …").
fn datafusion_message(e: &DataFusionError) -> String {
    match e.find_root() {
        DataFusionError::ArrowError(ae, _) => without_kinds(&ae.to_string()),
        root => without_kinds(&root.message()),
    }
}

/// `text` without the "Compute error: Execution error: " a function's error collects when
/// DataFusion and arrow wrap it in their kinds of error.
fn without_kinds(mut text: &str) -> String {
    while let Some((kind, rest)) = text.split_once(": ")
        && kind.ends_with(" error")
        && kind.split(' ').count() <= 2
    {
        text = rest;
    }
    text.to_string()
}

/// The SQLSTATE of a query failure DataFusion reports. Variants decide where they can; the few
/// conditions DataFusion reports only in words are in [`MESSAGE_STATES`], each pinned by a test.
pub fn sqlstate(e: &DataFusionError) -> SqlState {
    match e {
        DataFusionError::SQL(..) => SqlState::SyntaxError,
        DataFusionError::SchemaError(se, _) => {
            use datafusion::common::SchemaError;
            match se.as_ref() {
                SchemaError::FieldNotFound { .. } => SqlState::UndefinedColumn,
                SchemaError::AmbiguousReference { .. } => SqlState::AmbiguousColumn,
                SchemaError::DuplicateQualifiedField { .. }
                | SchemaError::DuplicateUnqualifiedField { .. } => SqlState::DuplicateColumn,
            }
        }
        DataFusionError::Plan(msg) => by_message(msg).unwrap_or(SqlState::DatatypeMismatch),
        DataFusionError::NotImplemented(_) => SqlState::FeatureNotSupported,
        DataFusionError::Configuration(msg) => {
            by_message(msg).unwrap_or(SqlState::InvalidParameterValue)
        }
        DataFusionError::ResourcesExhausted(_) => SqlState::OutOfMemory,
        DataFusionError::ArrowError(ae, _) => {
            use datafusion::arrow::error::ArrowError;
            match ae.as_ref() {
                ArrowError::DivideByZero => SqlState::DivisionByZero,
                ArrowError::ArithmeticOverflow(_) => SqlState::NumericValueOutOfRange,
                ArrowError::CastError(msg) | ArrowError::ParseError(msg) => {
                    by_message(msg).unwrap_or(SqlState::InvalidTextRepresentation)
                }
                ArrowError::InvalidArgumentError(_)
                | ArrowError::ComputeError(_)
                | ArrowError::ExternalError(_) => {
                    by_message(&ae.to_string()).unwrap_or(SqlState::InternalError)
                }
                ArrowError::MemoryError(_) => SqlState::OutOfMemory,
                _ => SqlState::InternalError,
            }
        }
        // The context can say what the failure is when the failure alone cannot ("Invalid
        // regex" around the regex crate's own error).
        DataFusionError::Context(context, inner) => match sqlstate(inner) {
            SqlState::InternalError => by_message(context).unwrap_or(SqlState::InternalError),
            state => state,
        },
        DataFusionError::Diagnostic(_, inner) => sqlstate(inner),
        DataFusionError::Shared(inner) => sqlstate(inner),
        DataFusionError::Collection(errors) => {
            errors.first().map_or(SqlState::InternalError, sqlstate)
        }
        DataFusionError::External(inner) => {
            if let Some(k) = inner.downcast_ref::<kubepg_kube::Error>() {
                kube_sqlstate(k)
            } else if let Some(e) = inner.downcast_ref::<Error>() {
                e.sqlstate()
            } else if let Some(d) = inner.downcast_ref::<DataFusionError>() {
                sqlstate(d)
            } else {
                // Another crate's error (the regex crate's, from regexp_replace).
                by_message(&inner.to_string()).unwrap_or(SqlState::InternalError)
            }
        }
        DataFusionError::Execution(msg) => by_message(msg).unwrap_or(SqlState::InternalError),
        _ => SqlState::InternalError,
    }
}

/// Conditions DataFusion and Arrow report only in their messages, by a piece of the message.
/// Every entry has a test with the message as DataFusion words it, so an upgrade that rewords
/// one fails a test instead of silently becoming XX000.
const MESSAGE_STATES: &[(&[&str], SqlState)] = &[
    (&["canceled"], SqlState::QueryCanceled),
    (&["cancelled"], SqlState::QueryCanceled),
    (&["Division by zero"], SqlState::DivisionByZero),
    (&["Divide by zero"], SqlState::DivisionByZero),
    (&["not found on"], SqlState::UndefinedObject),
    (&["Invalid function"], SqlState::UndefinedFunction),
    (&["No function matches"], SqlState::UndefinedFunction),
    (&["table '", "not found"], SqlState::UndefinedTable),
    (&["Invalid regex"], SqlState::InvalidRegularExpression),
    (&["regex parse error"], SqlState::InvalidRegularExpression),
    (
        &["Regular expression did not compile"],
        SqlState::InvalidRegularExpression,
    ),
    (&["non UTF-8 data"], SqlState::CharacterNotInRepertoire),
    (
        &["invalid Unicode scalar value"],
        SqlState::InvalidParameterValue,
    ),
    (
        &["field position must not be zero"],
        SqlState::InvalidParameterValue,
    ),
    (
        &["Unsupported date_trunc granularity"],
        SqlState::InvalidParameterValue,
    ),
    (
        &["NTILE requires a positive integer"],
        SqlState::InvalidArgumentForNtileFunction,
    ),
    (&["negative count not allowed"], SqlState::SubstringError),
    (&["is out of range"], SqlState::DatetimeFieldOverflow),
    (
        &["converted value exceeds the representable"],
        SqlState::DatetimeFieldOverflow,
    ),
    (
        &["square root of a negative number"],
        SqlState::InvalidArgumentForPowerFunction,
    ),
    (&["verflow"], SqlState::NumericValueOutOfRange),
];

fn by_message(msg: &str) -> Option<SqlState> {
    MESSAGE_STATES
        .iter()
        .find(|(needles, _)| needles.iter().all(|n| msg.contains(n)))
        .map(|(_, state)| *state)
}

fn kube_sqlstate(e: &kubepg_kube::Error) -> SqlState {
    use kubepg_kube::Error as K;
    match e {
        K::Api { code: 401, .. } => SqlState::InvalidAuthorizationSpecification,
        K::Api { code: 403, .. } => SqlState::InsufficientPrivilege,
        K::Api { code: 404, .. } => SqlState::UndefinedTable,
        K::Api { code: 429, .. } => SqlState::ConfigurationLimitExceeded,
        // Not class 08 (see ClusterUnavailable): a cluster that fails or is slow is not a
        // broken PostgreSQL connection.
        K::Api { .. } | K::Decode { .. } | K::Transport { .. } | K::Watch { .. } => {
            SqlState::SystemError
        }
        K::Timeout { .. } => SqlState::QueryCanceled,
        K::CacheFull { .. } => SqlState::OutOfMemory,
        K::NoSuchCluster(_) | K::NoSuchContext { .. } => SqlState::InvalidCatalogName,
        K::Selector(_) => SqlState::InvalidParameterValue,
        K::Kubeconfig(_) | K::Snapshot { .. } | K::Cache { .. } => SqlState::IoError,
    }
}

/// A Kubernetes failure as a SQL user reads it: the kube crate's words, and what to do about
/// it in SQL terms where there is something to do.
fn kube_message(e: &kubepg_kube::Error) -> String {
    match e {
        kubepg_kube::Error::CacheFull { .. } => {
            format!("{e}; raise --watch-memory or query it with kubepg.consistency = 'live'")
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::error::ArrowError;

    #[test]
    fn datafusion_conditions_reported_in_words_get_their_sqlstates() {
        let cases = [
            (
                DataFusionError::Execution("The operation was canceled".into()),
                SqlState::QueryCanceled,
            ),
            (
                DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None),
                SqlState::DivisionByZero,
            ),
            (
                DataFusionError::Execution("Division by zero".into()),
                SqlState::DivisionByZero,
            ),
            (
                DataFusionError::Plan("table 'kubepg.public.podz' not found".into()),
                SqlState::UndefinedTable,
            ),
            (
                DataFusionError::Plan("Invalid function 'nosuch'.\nDid you mean 'now'?".into()),
                SqlState::UndefinedFunction,
            ),
            (
                DataFusionError::Configuration("Config value \"nope\" not found on kubepg".into()),
                SqlState::UndefinedObject,
            ),
            (
                DataFusionError::Configuration("Error parsing 'x' as usize".into()),
                SqlState::InvalidParameterValue,
            ),
            (
                DataFusionError::ResourcesExhausted("Failed to allocate".into()),
                SqlState::OutOfMemory,
            ),
            (
                DataFusionError::Context(
                    "Optimizer rule 'simplify_expressions' failed".into(),
                    Box::new(DataFusionError::Context(
                        "Invalid regex".into(),
                        Box::new(DataFusionError::External("unclosed group".into())),
                    )),
                ),
                SqlState::InvalidRegularExpression,
            ),
            (
                DataFusionError::External("regex parse error:\n    (\n    ^\nerror: unclosed group".into()),
                SqlState::InvalidRegularExpression,
            ),
            (
                DataFusionError::Execution(
                    "Cannot cast Timestamp(s) value 9223372036854775807 to Timestamp(ns): converted value exceeds the representable i64 range".into(),
                ),
                SqlState::DatetimeFieldOverflow,
            ),
            (
                DataFusionError::ArrowError(
                    Box::new(ArrowError::InvalidArgumentError(
                        "Encountered non UTF-8 data: invalid utf-8 sequence".into(),
                    )),
                    None,
                ),
                SqlState::CharacterNotInRepertoire,
            ),
            (
                DataFusionError::Execution("invalid Unicode scalar value: -1".into()),
                SqlState::InvalidParameterValue,
            ),
            (
                DataFusionError::Execution("field position must not be zero".into()),
                SqlState::InvalidParameterValue,
            ),
            (
                DataFusionError::Execution(
                    "Unsupported date_trunc granularity: 'foo'. Supported values are: …".into(),
                ),
                SqlState::InvalidParameterValue,
            ),
            (
                DataFusionError::Execution("NTILE requires a positive integer".into()),
                SqlState::InvalidArgumentForNtileFunction,
            ),
            (
                DataFusionError::Execution("negative count not allowed: -1".into()),
                SqlState::SubstringError,
            ),
            (
                DataFusionError::Execution("Month value '13' is out of range".into()),
                SqlState::DatetimeFieldOverflow,
            ),
            (
                DataFusionError::ArrowError(
                    Box::new(ArrowError::ComputeError(
                        "Execution error: cannot take square root of a negative number".into(),
                    )),
                    None,
                ),
                SqlState::InvalidArgumentForPowerFunction,
            ),
            (
                DataFusionError::ArrowError(
                    Box::new(ArrowError::ComputeError(
                        "Int64Array overflow on abs(-9223372036854775808)".into(),
                    )),
                    None,
                ),
                SqlState::NumericValueOutOfRange,
            ),
            (
                DataFusionError::Execution("Overflow happened on FACTORIAL(100)".into()),
                SqlState::NumericValueOutOfRange,
            ),
            (
                DataFusionError::ArrowError(
                    Box::new(ArrowError::ArithmeticOverflow(
                        "Overflow happened on: 9223372036854775807 + 1".into(),
                    )),
                    None,
                ),
                SqlState::NumericValueOutOfRange,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(sqlstate(&e), want, "{e}");
        }
    }

    #[test]
    fn a_client_reads_the_failure_not_the_plan_step_or_the_category() {
        let e = Error::from(DataFusionError::Context(
            "Optimizer rule 'simplify_expressions' failed".into(),
            Box::new(DataFusionError::ArrowError(
                Box::new(ArrowError::CastError(
                    "Cannot cast string 'abc' to value of Int32 type".into(),
                )),
                None,
            )),
        ));
        assert_eq!(
            e.to_string(),
            "Cannot cast string 'abc' to value of Int32 type"
        );
        assert_eq!(e.sqlstate(), SqlState::InvalidTextRepresentation);
        let e = Error::from(DataFusionError::Execution(
            "NTILE requires a positive integer".into(),
        ));
        assert_eq!(e.to_string(), "NTILE requires a positive integer");
    }

    #[test]
    fn kubepg_errors_come_out_of_datafusion_as_themselves_however_wrapped() {
        let own = || Error::Forbidden("secrets".into()).into_datafusion();
        for wrapped in [
            own(),
            DataFusionError::Context("while scanning".into(), Box::new(own())),
            DataFusionError::Shared(std::sync::Arc::new(own())),
            DataFusionError::External(Box::new(DataFusionError::Shared(
                std::sync::Arc::new(own()),
            ))),
        ] {
            let e = Error::from(wrapped);
            assert_eq!(e.sqlstate(), SqlState::InsufficientPrivilege);
            assert_eq!(e.to_string(), "permission denied: secrets");
        }
        let shared = std::sync::Arc::new(own());
        let kept = shared.clone();
        let e = Error::from(DataFusionError::Shared(shared));
        assert_eq!(e.sqlstate(), SqlState::InsufficientPrivilege);
        assert!(!e.to_string().contains("External"), "{e}");
        drop(kept);
    }

    #[test]
    fn a_slow_or_dead_cluster_is_never_a_broken_connection() {
        let timeout = Error::Kube(kubepg_kube::Error::Timeout {
            cluster: "c1".into(),
            path: "/api/v1/pods".into(),
            seconds: 30,
        });
        assert_eq!(timeout.sqlstate(), SqlState::QueryCanceled);
        let down = Error::ClusterUnavailable {
            cluster: "c1".into(),
            message: "connection refused".into(),
        };
        assert_eq!(down.sqlstate(), SqlState::SystemError);
        for s in [timeout.sqlstate(), down.sqlstate()] {
            assert!(!s.code().starts_with("08"), "{s}");
        }
    }
}
