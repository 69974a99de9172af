//! Every failure a client sees, as a PostgreSQL error: the engine's ([`kubepg_sql::Error`],
//! whose code [`kubepg_sql::Error::sqlstate`] decides), the front door's own refusals, and the
//! protocol errors pgwire raises, all with a [`SqlState`] from the one registry and a message
//! a person can act on.

use datafusion_postgres::pgwire::api::{ClientInfo, ErrorHandler, METADATA_USER};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};
use kubepg_sql::SqlState;

/// An engine error for the client; kubepg's bugs and its clusters' failures are logged at
/// `warn`, refusals of a client's statement at `debug`.
pub fn to_pgwire(e: kubepg_sql::Error) -> PgWireError {
    let state = e.sqlstate();
    if state.is_server_side() {
        let logged = kubepg_sql::pipeline::mask::masked_quotes(&e.to_string());
        tracing::warn!(sqlstate = %state, error = %logged, "query failed");
    } else {
        tracing::debug!(sqlstate = %state, error = %e, "query refused");
    }
    error(state, e.to_string())
}

/// An ERROR: the statement failed, the connection goes on.
pub fn error(state: SqlState, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        state.code().into(),
        message,
    )))
}

/// A FATAL: the connection ends after it.
pub fn fatal(state: SqlState, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        state.code().into(),
        message,
    )))
}

pub fn invalid_password(user: &str) -> PgWireError {
    fatal(
        SqlState::InvalidPassword,
        format!("password authentication failed for user \"{user}\""),
    )
}

/// The code and severity of an error pgwire raised itself.
fn classify(e: &PgWireError) -> (SqlState, bool) {
    use PgWireError as P;
    match e {
        P::PortalNotFound(_) => (SqlState::InvalidCursorName, false),
        P::StatementNotFound(_) => (SqlState::InvalidSqlStatementName, false),
        P::ParameterIndexOutOfBound(_)
        | P::InvalidRustTypeForParameter(_)
        | P::InvalidOptionValue(_) => (SqlState::InvalidParameterValue, false),
        P::FailedToParseParameter(_) => (SqlState::InvalidBinaryRepresentation, false),
        P::QueryCanceled => (SqlState::QueryCanceled, false),
        P::InvalidPassword(_) => (SqlState::InvalidPassword, true),
        P::UserNameRequired => (SqlState::InvalidAuthorizationSpecification, true),
        P::UnsupportedCertificateSignatureAlgorithm | P::OauthAuthzIdError(_) => {
            (SqlState::FeatureNotSupported, true)
        }
        P::IoError(_) => (SqlState::IoError, true),
        P::PortalNotStarted | P::ApiError(_) => (SqlState::InternalError, false),
        P::FailedToCoercePasswordMessage | P::InvalidSASLState => {
            (SqlState::ProtocolViolation, true)
        }
        _ => (SqlState::ProtocolViolation, true),
    }
}

/// Gives pgwire's own errors kubepg's codes and words before they are sent. pgwire names the
/// user of a failed SCRAM exchange from the SCRAM message, which libpq leaves empty; PostgreSQL
/// names the user of the startup packet, which clients show to people.
pub struct ErrorMapping;

impl ErrorHandler for ErrorMapping {
    fn on_error<C: ClientInfo>(&self, client: &C, error: &mut PgWireError) {
        if matches!(error, PgWireError::UserError(_)) {
            return;
        }
        if matches!(error, PgWireError::InvalidPassword(_)) {
            let user = client
                .metadata()
                .get(METADATA_USER)
                .cloned()
                .unwrap_or_default();
            *error = invalid_password(&user);
            return;
        }
        let (state, is_fatal) = classify(error);
        let message = match &*error {
            PgWireError::QueryCanceled => "canceling statement due to user request".to_string(),
            PgWireError::PortalNotFound(name) => format!("portal \"{name}\" does not exist"),
            PgWireError::StatementNotFound(name) => {
                format!("prepared statement \"{name}\" does not exist")
            }
            other => other.to_string(),
        };
        *error = if is_fatal {
            fatal(state, message)
        } else {
            self::error(state, message)
        };
    }
}
