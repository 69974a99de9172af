//! The read-only guard: kubepg answers queries and never writes — not to a cluster, not to local
//! files. Every statement passes here before it is planned.

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{SetExpr, Statement};

use crate::error::{Error, Result};

/// Accepts queries, EXPLAIN of a query, SHOW and SET; refuses the rest with the SQLSTATE a
/// PostgreSQL client expects (25006 for writes, 42501 for local files).
pub fn check(statement: &DfStatement) -> Result<()> {
    match statement {
        DfStatement::Statement(s) => check_sql(s),
        DfStatement::Explain(e) => check(&e.statement),
        DfStatement::CreateExternalTable(_) => Err(Error::Forbidden(
            "CREATE EXTERNAL TABLE would read local files; kubepg only reads Kubernetes".into(),
        )),
        DfStatement::CopyTo(_) => Err(Error::Forbidden(
            "COPY ... TO a file would write local files; use COPY (SELECT ...) TO STDOUT".into(),
        )),
        _ => Err(Error::ReadOnly("this statement is not allowed".into())),
    }
}

fn check_sql(s: &Statement) -> Result<()> {
    match s {
        Statement::Query(q) => {
            if let SetExpr::Select(select) = q.body.as_ref()
                && select.into.is_some()
            {
                return Err(Error::ReadOnly("SELECT INTO creates a table".into()));
            }
            Ok(())
        }
        Statement::Explain { statement, .. } => check_sql(statement),
        Statement::ExplainTable { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowFunctions { .. }
        | Statement::Set(_) => Ok(()),
        Statement::Copy { .. }
        | Statement::CopyIntoSnowflake { .. }
        | Statement::Directory { .. }
        | Statement::LoadData { .. }
        | Statement::Unload { .. } => Err(Error::Forbidden(
            "reading or writing local files is not allowed".into(),
        )),
        other => Err(Error::ReadOnly(format!(
            "{} is not allowed",
            statement_kind(other)
        ))),
    }
}

/// The statement's leading keywords, for the error message.
fn statement_kind(s: &Statement) -> String {
    let text = s.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second]
            if matches!(
                first.to_ascii_uppercase().as_str(),
                "CREATE" | "DROP" | "ALTER" | "TRUNCATE"
            ) =>
        {
            format!(
                "{} {}",
                first.to_ascii_uppercase(),
                second.to_ascii_uppercase()
            )
        }
        [first, ..] => first.to_ascii_uppercase(),
        [] => "this statement".into(),
    }
}
