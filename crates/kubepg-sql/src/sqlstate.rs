//! Every SQLSTATE kubepg sends, in one registry. Front ends and the engine name codes only
//! through [`SqlState`], so a code means one condition everywhere and a test can find any code
//! written outside this file.
//!
//! The names are PostgreSQL's condition names (Appendix A of its manual), which is also what
//! psycopg's and pgjdbc's exception classes are named after.

use std::fmt;

macro_rules! sqlstates {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $condition:literal;)*) => {
        /// A PostgreSQL error code (SQLSTATE) kubepg may send.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum SqlState {
            $($(#[$doc])* $variant,)*
        }

        impl SqlState {
            /// Every code, for tests and documentation.
            pub const ALL: &'static [SqlState] = &[$(SqlState::$variant,)*];

            /// The five-character code.
            pub fn code(self) -> &'static str {
                match self {
                    $(SqlState::$variant => $code,)*
                }
            }

            /// PostgreSQL's condition name (`undefined_table`).
            pub fn condition(self) -> &'static str {
                match self {
                    $(SqlState::$variant => $condition,)*
                }
            }

            /// The code as sent; `None` for a code kubepg does not send.
            pub fn from_code(code: &str) -> Option<SqlState> {
                match code {
                    $($code => Some(SqlState::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

sqlstates! {
    /// A notice that is not an error (a cluster left out of a result).
    Warning = "01000", "warning";
    FeatureNotSupported = "0A000", "feature_not_supported";
    /// The client broke the wire protocol; the connection is closed.
    ProtocolViolation = "08P01", "protocol_violation";
    /// A scalar subquery returned more than one row.
    CardinalityViolation = "21000", "cardinality_violation";
    DataException = "22000", "data_exception";
    StringDataRightTruncation = "22001", "string_data_right_truncation";
    NumericValueOutOfRange = "22003", "numeric_value_out_of_range";
    NullValueNotAllowed = "22004", "null_value_not_allowed";
    InvalidDatetimeFormat = "22007", "invalid_datetime_format";
    DatetimeFieldOverflow = "22008", "datetime_field_overflow";
    InvalidTimeZoneDisplacementValue = "22009", "invalid_time_zone_displacement_value";
    SubstringError = "22011", "substring_error";
    DivisionByZero = "22012", "division_by_zero";
    InvalidArgumentForNtileFunction = "22014", "invalid_argument_for_ntile_function";
    InvalidArgumentForPowerFunction = "2201F", "invalid_argument_for_power_function";
    IntervalFieldOverflow = "22015", "interval_field_overflow";
    CharacterNotInRepertoire = "22021", "character_not_in_repertoire";
    InvalidParameterValue = "22023", "invalid_parameter_value";
    InvalidRegularExpression = "2201B", "invalid_regular_expression";
    InvalidEscapeSequence = "22025", "invalid_escape_sequence";
    InvalidTextRepresentation = "22P02", "invalid_text_representation";
    InvalidBinaryRepresentation = "22P03", "invalid_binary_representation";
    InvalidCursorState = "24000", "invalid_cursor_state";
    ActiveSqlTransaction = "25001", "active_sql_transaction";
    ReadOnlySqlTransaction = "25006", "read_only_sql_transaction";
    NoActiveSqlTransaction = "25P01", "no_active_sql_transaction";
    InFailedSqlTransaction = "25P02", "in_failed_sql_transaction";
    InvalidSqlStatementName = "26000", "invalid_sql_statement_name";
    InvalidAuthorizationSpecification = "28000", "invalid_authorization_specification";
    InvalidPassword = "28P01", "invalid_password";
    InvalidCursorName = "34000", "invalid_cursor_name";
    /// A database name that names no cluster.
    InvalidCatalogName = "3D000", "invalid_catalog_name";
    InvalidSchemaName = "3F000", "invalid_schema_name";
    SavepointException = "3B001", "invalid_savepoint_specification";
    InsufficientPrivilege = "42501", "insufficient_privilege";
    SyntaxError = "42601", "syntax_error";
    InvalidName = "42602", "invalid_name";
    DuplicateColumn = "42701", "duplicate_column";
    AmbiguousColumn = "42702", "ambiguous_column";
    UndefinedColumn = "42703", "undefined_column";
    UndefinedObject = "42704", "undefined_object";
    GroupingError = "42803", "grouping_error";
    DatatypeMismatch = "42804", "datatype_mismatch";
    CannotCoerce = "42846", "cannot_coerce";
    UndefinedFunction = "42883", "undefined_function";
    UndefinedTable = "42P01", "undefined_table";
    UndefinedParameter = "42P02", "undefined_parameter";
    DuplicateCursor = "42P03", "duplicate_cursor";
    IndeterminateDatatype = "42P18", "indeterminate_datatype";
    OutOfMemory = "53200", "out_of_memory";
    TooManyConnections = "53300", "too_many_connections";
    ConfigurationLimitExceeded = "53400", "configuration_limit_exceeded";
    ProgramLimitExceeded = "54000", "program_limit_exceeded";
    StatementTooComplex = "54001", "statement_too_complex";
    ObjectNotInPrerequisiteState = "55000", "object_not_in_prerequisite_state";
    CantChangeRuntimeParam = "55P02", "cant_change_runtime_param";
    QueryCanceled = "57014", "query_canceled";
    AdminShutdown = "57P01", "admin_shutdown";
    IdleSessionTimeout = "57P05", "idle_session_timeout";
    /// A failure outside PostgreSQL's model: a Kubernetes API that failed or cannot be reached.
    SystemError = "58000", "system_error";
    IoError = "58030", "io_error";
    /// kubepg's own bug; never for input a client could correct.
    InternalError = "XX000", "internal_error";
}

impl SqlState {
    /// Failures the operator should see in the log at `warn`: kubepg's bugs and its clusters'
    /// failures. Everything else is a client's statement refused as PostgreSQL would refuse it.
    pub fn is_server_side(self) -> bool {
        matches!(
            self,
            SqlState::InternalError | SqlState::SystemError | SqlState::IoError
        )
    }
}

/// Tests and callers compare with the code as clients see it: `assert_eq!(e.sqlstate(), "42P01")`.
impl PartialEq<&str> for SqlState {
    fn eq(&self, other: &&str) -> bool {
        self.code() == *other
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_five_character_sqlstates() {
        let mut seen = std::collections::HashSet::new();
        for s in SqlState::ALL {
            let code = s.code();
            assert_eq!(code.len(), 5, "{s:?}");
            assert!(
                code.chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            );
            assert!(seen.insert(code), "{code} twice");
            assert_eq!(SqlState::from_code(code), Some(*s));
        }
    }

    /// The one-registry rule: no source file of the workspace writes an SQLSTATE this registry
    /// knows as a string literal, except this one.
    #[test]
    fn no_sqlstate_literal_outside_the_registry() {
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut offenders = Vec::new();
        let mut stack = vec![crates];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    if path
                        .file_name()
                        .is_some_and(|n| n != "tests" && n != "target")
                    {
                        stack.push(path);
                    }
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("sqlstate.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for s in SqlState::ALL {
                    if text.contains(&format!("\"{}\"", s.code())) {
                        offenders.push(format!("{}: {}", path.display(), s.code()));
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "SQLSTATE literals: {offenders:#?}");
    }
}
