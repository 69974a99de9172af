//! Every failure a client sees, as a PostgreSQL error with its SQLSTATE (from
//! [`kubepg_sql::Error::sqlstate`]) and a message a person can act on.

use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};

pub fn to_pgwire(e: kubepg_sql::Error) -> PgWireError {
    let code = e.sqlstate();
    if code.starts_with("XX") || code.starts_with("58") {
        tracing::warn!(sqlstate = code, error = %e, "query failed");
    } else {
        tracing::debug!(sqlstate = code, error = %e, "query refused");
    }
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        e.to_string(),
    )))
}

pub fn from_datafusion(e: datafusion::error::DataFusionError) -> PgWireError {
    to_pgwire(kubepg_sql::Error::from(e))
}

pub fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}

pub fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
}
