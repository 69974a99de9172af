//! Client catalog queries that DataFusion cannot plan as written, rewritten before
//! datafusion-pg-catalog's own rules see them.
//!
//! pgjdbc asks `typinput = 'pg_catalog.array_in'::regproc` to tell array types apart. In
//! datafusion-pg-catalog `pg_type.typinput` holds the function's name, while its rule turns the
//! `::regproc` literal into a `pg_proc` oid, so the comparison fails to cast for every type. The
//! comparison is made by name instead, which is what the oid comparison means.
//!
//! DataFusion plans a correlated scalar subquery only when it aggregates (pgjdbc's
//! `getTypeInfo` filters on `(SELECT c.relkind = 'c' FROM pg_class c WHERE c.oid = t.typrelid)`).
//! PostgreSQL fails such a subquery when it yields more than one row, so wherever PostgreSQL
//! answers, `max()` of its one value (or NULL of none) is the same answer.
//!
//! A composite's field as `(expr).field` is planned by DataFusion only in bracket form,
//! `(expr)['field']`; pgjdbc's key and index queries use the dot form.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, GroupByExpr, Ident, ObjectName, SelectItem, SetExpr,
    Statement, Subscript, Value, ValueWithSpan, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// The `pg_type` columns that hold a function (regproc) in PostgreSQL.
const PROC_COLUMNS: &[&str] = &["typinput", "typoutput", "typreceive", "typsend"];

/// `sql` with the rewrites applied, when it needs any; statements are re-rendered only then,
/// so that datafusion-pg-catalog still recognises the client queries it matches token by token.
pub fn prepare(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.to_ascii_lowercase().contains("regproc") {
        return sql.into();
    }
    match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(statements) => statements
            .into_iter()
            .map(|s| rewrite(s).to_string())
            .collect::<Vec<_>>()
            .join("; ")
            .into(),
        Err(_) => sql.into(),
    }
}

fn rewrite(mut statement: Statement) -> Statement {
    let _ = visit_expressions_mut(&mut statement, |expr| {
        if let Expr::BinaryOp { left, op, right } = expr
            && matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq)
            && is_proc_column(left)
            && let Some(name) = regproc_literal(right)
        {
            **right = Expr::Value(Value::SingleQuotedString(name).into());
        }
        ControlFlow::<()>::Continue(())
    });
    statement
}

/// The rewrites that apply after datafusion-pg-catalog's own rules.
pub fn after_parse(statement: Statement) -> Statement {
    bracket_field_access(aggregate_scalar_subqueries(statement))
}

fn bracket_field_access(mut statement: Statement) -> Statement {
    let _ = visit_expressions_mut(&mut statement, |expr| {
        if let Expr::CompoundFieldAccess { root, access_chain } = expr
            && matches!(root.as_ref(), Expr::Nested(_))
        {
            for access in access_chain.iter_mut() {
                if let AccessExpr::Dot(Expr::Identifier(field)) = access {
                    *access = AccessExpr::Subscript(Subscript::Index {
                        index: Expr::Value(Value::SingleQuotedString(field.value.clone()).into()),
                    });
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    statement
}

/// Wraps the single projected expression of every non-aggregating scalar subquery in `max()`.
fn aggregate_scalar_subqueries(mut statement: Statement) -> Statement {
    let _ = visit_expressions_mut(&mut statement, |expr| {
        // ORDER BY … LIMIT picks a row on purpose; aggregating first would change it.
        if let Expr::Subquery(query) = expr
            && query.order_by.is_none()
            && query.limit_clause.is_none()
            && query.fetch.is_none()
            && let SetExpr::Select(select) = query.body.as_mut()
            && select.distinct.is_none()
            && select.projection.len() == 1
            && matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty())
            && select.having.is_none()
            && !select.from.is_empty()
        {
            let item = match &mut select.projection[0] {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                _ => return ControlFlow::<()>::Continue(()),
            };
            if !matches!(item, Expr::Function(_)) {
                let inner = std::mem::replace(item, Expr::Value(Value::Null.into()));
                *item = max(inner);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    statement
}

fn max(arg: Expr) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("max")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

fn is_proc_column(expr: &Expr) -> bool {
    let last = match expr {
        Expr::Identifier(i) => &i.value,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(i) => &i.value,
            None => return false,
        },
        _ => return false,
    };
    PROC_COLUMNS.iter().any(|c| last.eq_ignore_ascii_case(c))
}

/// `'pg_catalog.array_in'::regproc` → `array_in`.
fn regproc_literal(expr: &Expr) -> Option<String> {
    let Expr::Cast {
        kind: CastKind::DoubleColon | CastKind::Cast,
        expr,
        data_type,
        ..
    } = expr
    else {
        return None;
    };
    let type_name = data_type.to_string().to_ascii_lowercase();
    if type_name.trim_start_matches("pg_catalog.") != "regproc" {
        return None;
    }
    let Expr::Value(ValueWithSpan {
        value: Value::SingleQuotedString(name),
        ..
    }) = expr.as_ref()
    else {
        return None;
    };
    Some(name.trim_start_matches("pg_catalog.").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regproc_comparison_on_typinput_compares_names() {
        let sql = "SELECT typinput = 'pg_catalog.array_in'::regproc AS is_array, typname FROM pg_catalog.pg_type WHERE t.typoutput <> 'textout'::regproc";
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        assert_eq!(
            rewrite(statement).to_string(),
            "SELECT typinput = 'array_in' AS is_array, typname FROM pg_catalog.pg_type WHERE t.typoutput <> 'textout'"
        );
    }

    #[test]
    fn a_correlated_scalar_subquery_aggregates_its_one_value() {
        let sql = "SELECT t.typname FROM pg_type t WHERE t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_class c WHERE c.oid = t.typrelid)";
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        assert_eq!(
            aggregate_scalar_subqueries(statement).to_string(),
            "SELECT t.typname FROM pg_type t WHERE t.typrelid = 0 OR (SELECT max(c.relkind = 'c') FROM pg_class c WHERE c.oid = t.typrelid)"
        );
    }

    #[test]
    fn a_composite_field_in_dot_form_becomes_a_bracket_access() {
        let sql = "SELECT (information_schema._pg_expandarray(i.indkey)).n FROM pg_index i";
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        assert_eq!(
            after_parse(statement).to_string(),
            "SELECT (information_schema._pg_expandarray(i.indkey))['n'] FROM pg_index i"
        );
    }

    #[test]
    fn other_regproc_casts_are_left_alone() {
        let sql = "SELECT 'array_in'::regproc, proname = 'x'::regproc FROM pg_proc";
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        assert_eq!(rewrite(statement.clone()), statement);
    }
}
