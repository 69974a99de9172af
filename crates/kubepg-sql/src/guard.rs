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
            if creates_a_table(&q.body) {
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

/// Whether any branch of a query body is a `SELECT … INTO` (a UNION's too).
fn creates_a_table(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => select.into.is_some(),
        SetExpr::SetOperation { left, right, .. } => {
            creates_a_table(left) || creates_a_table(right)
        }
        SetExpr::Query(q) => creates_a_table(&q.body),
        _ => false,
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

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;
    use crate::SqlState;

    fn verdict(sql: &str) -> Option<SqlState> {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        check(&DfStatement::Statement(Box::new(statement)))
            .err()
            .map(|e| e.sqlstate())
    }

    #[test]
    fn select_into_is_refused_in_any_branch_of_a_union() {
        assert_eq!(
            verdict("SELECT 1 INTO t"),
            Some(SqlState::ReadOnlySqlTransaction)
        );
        assert_eq!(
            verdict("SELECT 1 UNION SELECT 2 INTO t"),
            Some(SqlState::ReadOnlySqlTransaction)
        );
        assert_eq!(
            verdict("SELECT 1 INTO t UNION ALL SELECT 2"),
            Some(SqlState::ReadOnlySqlTransaction)
        );
        assert_eq!(verdict("SELECT 1 UNION SELECT 2"), None);
    }
}
