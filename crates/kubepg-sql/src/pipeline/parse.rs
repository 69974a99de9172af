//! Parsing as PostgreSQL clients need it: datafusion-pg-catalog's compatibility parser (which
//! knows catalog queries of psql, pgcli and DBeaver that DataFusion cannot plan) and those of
//! its rewrite rules that keep an answer, with kubepg's rewrites of what DataFusion cannot
//! plan as written, and `MOVE`, which sqlparser does not know. A rewrite never changes what a
//! statement answers.
//!
//! pgjdbc asks `typinput = 'pg_catalog.array_in'::regproc` to tell array types apart. In
//! datafusion-pg-catalog `pg_type.typinput` holds the function's name, while its rule turns the
//! `::regproc` literal into a `pg_proc` oid, so the comparison fails to cast for every type. The
//! comparison is made by name instead, which is what the oid comparison means.
//!
//! DataFusion plans a correlated scalar subquery only when it aggregates (pgjdbc's
//! `getTypeInfo` filters on `(SELECT c.relkind = 'c' FROM pg_class c WHERE c.oid = t.typrelid)`).
//! The subquery's value is wrapped in `single_row_value()`, an aggregate that is its one value
//! (NULL of none) and fails with PostgreSQL's 21000 when there is more than one, so the answer
//! is PostgreSQL's either way.
//!
//! A composite's field as `(expr).field` is planned by DataFusion only in bracket form,
//! `(expr)['field']`; pgjdbc's key and index queries use the dot form.

use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, GroupByExpr, Ident, ObjectName, SelectItem, SetExpr,
    Statement, Subscript, Value, ValueWithSpan, visit_expressions_mut, visit_relations,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_pg_catalog::sql::rules::{self, SqlStatementRewriteRule};

use crate::dialect::functions::SINGLE_ROW_VALUE;
use crate::error::{Error, Result};
use crate::sqlstate::SqlState;

/// The `into` target a `MOVE` gets, which sqlparser reads as a `FETCH`; the cursor hook tells
/// the two apart by it.
pub(super) const MOVE_MARKER: &str = "__kubepg_move";

/// Built once: it compiles its table of known client queries.
static PARSER: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

/// datafusion-pg-catalog's rewrite rules that keep a statement's answer, in its order: every
/// one but `RemoveSubqueryFromProjection`, which answers NULL for a correlated subquery in a
/// select list and adds `LIMIT 1` to the others, where PostgreSQL answers the subquery or
/// fails with 21000. It stays for queries of the catalog alone, where clients' correlated
/// subqueries read tables kubepg keeps empty (`pg_attrdef`, `pg_collation`'s matches) and
/// NULL is their answer; elsewhere scalar subqueries are [`aggregate_scalar_subqueries`]'s.
static RULES: LazyLock<Vec<Box<dyn SqlStatementRewriteRule>>> = LazyLock::new(|| {
    vec![
        Box::new(rules::AliasDuplicatedProjectionRewrite),
        Box::new(rules::ResolveUnqualifiedIdentifier),
        Box::new(rules::RewriteArrayAnyAllOperation),
        Box::new(rules::PrependUnqualifiedPgTableName),
        Box::new(rules::StripCallableQualifier),
        Box::new(rules::FixArrayLiteral),
        Box::new(rules::CurrentUserVariableToSessionUserFunctionCall),
        Box::new(rules::StripCollate),
        Box::new(rules::RewritePgCatalogOperator),
        Box::new(rules::RewriteRegCastToSubquery::new()),
        Box::new(rules::FixVersionColumnName),
    ]
});

/// The statements of `sql`, rewritten for DataFusion; an empty list for an empty string.
///
/// A statement the compatibility parser recognises as a known client query (its table of
/// psql, pgcli and DBeaver queries DataFusion cannot plan), and a query of the catalog alone,
/// are taken as it rewrites them; every other statement is parsed as written and gets
/// [`RULES`].
pub fn statements(sql: &str) -> Result<Vec<Statement>> {
    check_complexity(sql)?;
    let (sql, moves) = moves_as_fetches(sql);
    let sql = prepare(&sql);
    let as_written = reads_search_path(&sql)
        .then(|| Parser::parse_sql(&PostgreSqlDialect {}, &sql).ok())
        .flatten()
        .filter(|statements| !statements.iter().any(sorts_by_subquery));
    let parsed = match as_written {
        Some(statements) => statements
            .into_iter()
            .map(|s| RULES.iter().fold(s, |s, rule| rule.rewrite(s)))
            .collect(),
        None => compatible_statements(&sql)?,
    };
    Ok(parsed
        .into_iter()
        .enumerate()
        .map(|(i, statement)| {
            let mut statement = after_parse(statement);
            if moves.contains(&i)
                && let Statement::Fetch { into, .. } = &mut statement
            {
                *into = Some(ObjectName::from(vec![Ident::new(MOVE_MARKER)]));
            }
            statement
        })
        .collect())
}

/// The statements as datafusion-pg-catalog's compatibility parser reads them, or as written
/// with [`RULES`] (see [`statements`]).
fn compatible_statements(sql: &str) -> Result<Vec<Statement>> {
    let compatible = match PARSER.parse(sql) {
        Ok(parsed) => parsed,
        Err(e) => {
            refuse_datafusion_statements(sql)?;
            return Err(parse_error(e));
        }
    };
    Ok(match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(plain) if plain.len() == compatible.len() => plain
            .into_iter()
            .zip(compatible)
            .map(|(plain, compatible)| {
                if !reads_catalog_only(&plain) && PARSER.rewrite(plain.clone()) == compatible {
                    RULES.iter().fold(plain, |s, rule| rule.rewrite(s))
                } else {
                    compatible
                }
            })
            .collect(),
        _ => compatible,
    })
}

/// Grafana's table and column pickers keep the tables of the search path by reading it with
/// `current_setting('search_path')`; datafusion-pg-catalog blanks that subquery (it predates
/// `current_setting()`), so that nothing would be on the path. kubepg plans it as written,
/// except where it sorts by it ([`sorts_by_subquery`]).
fn reads_search_path(sql: &str) -> bool {
    sql.contains("string_to_array(current_setting('search_path'),',')")
}

/// Whether a query's ORDER BY holds a subquery, which DataFusion cannot sort by (Grafana's
/// table picker sorts the tables of the search path first); such a query keeps
/// datafusion-pg-catalog's blanked form, which lists every table schema-qualified.
fn sorts_by_subquery(statement: &Statement) -> bool {
    let Statement::Query(query) = statement else {
        return false;
    };
    query.order_by.as_ref().is_some_and(|order| {
        let mut found = false;
        let _ = datafusion::sql::sqlparser::ast::visit_expressions(order, |e| {
            if matches!(
                e,
                Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. }
            ) {
                found = true;
            }
            ControlFlow::<()>::Continue(())
        });
        found
    })
}

/// Operators one statement may hold. A chain of them (`1+1+…`, `a OR b OR …`, `UNION ALL`
/// after `UNION ALL`, CTEs reading the CTE before them) parses without recursion into a tree
/// as deep as it is long, and every later walk of that tree — rewriting, planning, printing,
/// even dropping it — recurses once per level: past a few thousand levels that overflows a
/// thread's stack and aborts the whole server. sqlparser bounds nesting by parentheses (50)
/// but not these chains.
const MAX_OPERATORS: usize = 1000;

/// Refuses a statement whose operators could nest past [`MAX_OPERATORS`], before any tree is
/// built: 54001, as PostgreSQL answers a statement past its stack depth.
fn check_complexity(sql: &str) -> Result<()> {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return Ok(());
    };
    let mut operators = 0;
    let mut previous_as = false;
    for token in &tokens {
        let counts = match token {
            Token::SemiColon => {
                operators = 0;
                false
            }
            Token::Whitespace(_)
            | Token::Comma
            | Token::Period
            | Token::RParen
            | Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::EscapedStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::DollarQuotedString(_)
            | Token::Placeholder(_) => false,
            // `name AS (`: one CTE, which the next may read.
            Token::LParen => previous_as,
            Token::Word(w) => matches!(
                w.value.to_ascii_uppercase().as_str(),
                "AND" | "OR" | "UNION" | "INTERSECT" | "EXCEPT"
            ),
            _ => true,
        };
        if !matches!(token, Token::Whitespace(_)) {
            previous_as = matches!(token, Token::Word(w) if w.value.eq_ignore_ascii_case("as"));
        }
        if counts {
            operators += 1;
            if operators > MAX_OPERATORS {
                return Err(Error::refused(
                    SqlState::StatementTooComplex,
                    format!(
                        "statement too complex: more than {MAX_OPERATORS} operators, set operations and CTEs in one statement"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Statements only DataFusion's own parser knows (`CREATE EXTERNAL TABLE`, `COPY … TO` a file
/// in its syntax) are not PostgreSQL, but they say what they would do: they are refused for
/// that, by the read-only guard, rather than as a syntax error.
fn refuse_datafusion_statements(sql: &str) -> Result<()> {
    if let Ok(statements) = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {}) {
        for s in statements {
            crate::guard::check(&s)?;
        }
    }
    Ok(())
}

/// Whether every relation `statement` reads is a catalog table (`pg_catalog.*`,
/// `information_schema.*`, or an unqualified `pg_*`), and it reads one.
fn reads_catalog_only(statement: &Statement) -> bool {
    let mut any = false;
    let all = visit_relations(statement, |name| {
        any = true;
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(|i| i.value.to_ascii_lowercase()))
            .collect();
        let catalog = match parts.as_slice() {
            [.., schema, _] => schema == "pg_catalog" || schema == "information_schema",
            [table] => table.starts_with("pg_"),
            [] => false,
        };
        if catalog {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    });
    any && all.is_continue()
}

fn parse_error(e: ParserError) -> Error {
    match e {
        ParserError::RecursionLimitExceeded => Error::refused(
            SqlState::StatementTooComplex,
            "statement too complex: nested too deeply",
        ),
        other => Error::refused(SqlState::SyntaxError, other.to_string()),
    }
}

/// `MOVE …` statements read as `FETCH …`, and which statements (by position) they are; and
/// `FETCH`/`MOVE` without `FROM`/`IN` before the cursor's name (PostgreSQL's keyword is
/// optional, asyncpg's `cursor.forward()` sends `MOVE FORWARD 1 name`) given one. Only those
/// words are changed in the text, so everything else reaches the parser as written.
fn moves_as_fetches(sql: &str) -> (std::borrow::Cow<'_, str>, Vec<usize>) {
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("move") && !lower.contains("fetch") {
        return (sql.into(), Vec::new());
    }
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location() else {
        return (sql.into(), Vec::new());
    };
    let mut moves = Vec::new();
    // Where MOVE is replaced, or FROM (NEXT FROM without a direction) inserted.
    let mut edits = Vec::new();
    let mut statement = 0;
    let mut at_start = true;
    // In a FETCH or MOVE: whether FROM/IN came, where its last word starts, and whether that
    // word is all the statement has after FETCH or MOVE.
    let mut cursor: Option<(bool, Option<(Location, bool)>)> = None;
    let mut words = 0;
    let end_statement = |cursor: &mut Option<(bool, Option<(Location, bool)>)>,
                         edits: &mut Vec<(Location, Edit)>| {
        if let Some((false, Some((name, alone)))) = cursor.take() {
            edits.push((name, if alone { Edit::NextFrom } else { Edit::From }));
        }
    };
    for t in &tokens {
        match &t.token {
            Token::Whitespace(_) => continue,
            Token::SemiColon => {
                if !at_start {
                    statement += 1;
                }
                end_statement(&mut cursor, &mut edits);
                at_start = true;
                continue;
            }
            Token::Word(w) if at_start && w.quote_style.is_none() => {
                words = 0;
                if w.value.eq_ignore_ascii_case("move") {
                    moves.push(statement);
                    edits.push((t.span.start, Edit::Move));
                    cursor = Some((false, None));
                } else if w.value.eq_ignore_ascii_case("fetch") {
                    cursor = Some((false, None));
                }
            }
            Token::Word(w) => {
                words += 1;
                if let Some((from, name)) = cursor.as_mut() {
                    *from |= w.quote_style.is_none()
                        && (w.value.eq_ignore_ascii_case("from")
                            || w.value.eq_ignore_ascii_case("in"));
                    *name = Some((t.span.start, words == 1));
                }
            }
            _ => {
                words += 1;
                if let Some((_, name)) = cursor.as_mut() {
                    *name = None;
                }
            }
        }
        at_start = false;
    }
    end_statement(&mut cursor, &mut edits);
    if edits.is_empty() {
        return (sql.into(), moves);
    }
    edits.sort_by_key(|(l, _)| (l.line, l.column));
    let mut out = String::with_capacity(sql.len() + 5 * edits.len());
    let (mut line, mut column) = (1u64, 1u64);
    let mut pending = edits.into_iter().peekable();
    let mut chars = sql.chars();
    while let Some(c) = chars.next() {
        if let Some((_, edit)) = pending.next_if(|(l, _)| l.line == line && l.column == column) {
            match edit {
                Edit::Move => {
                    out.push_str("FETCH");
                    // The rest of the word MOVE.
                    for _ in 0..3 {
                        chars.next();
                    }
                    column += 4;
                    continue;
                }
                Edit::From => out.push_str("FROM "),
                Edit::NextFrom => out.push_str("NEXT FROM "),
            }
        }
        out.push(c);
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (out.into(), moves)
}

/// A change [`moves_as_fetches`] makes at one place of the text.
#[derive(Clone, Copy)]
enum Edit {
    Move,
    From,
    NextFrom,
}

/// The `pg_type` columns that hold a function (regproc) in PostgreSQL.
const PROC_COLUMNS: &[&str] = &["typinput", "typoutput", "typreceive", "typsend"];

/// `sql` with the rewrites applied, when it needs any; statements are re-rendered only then,
/// so that datafusion-pg-catalog still recognises the client queries it matches token by token.
fn prepare(sql: &str) -> std::borrow::Cow<'_, str> {
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
fn after_parse(statement: Statement) -> Statement {
    bracket_field_access(aggregate_scalar_subqueries(
        super::postgres_syntax::rewrite(statement),
    ))
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

/// Wraps the single projected expression of every non-aggregating scalar subquery in
/// `single_row_value()`.
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
            if !is_aggregate(item) {
                let inner = std::mem::replace(item, Expr::Value(Value::Null.into()));
                *item = single_row_value(inner);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    statement
}

/// Every aggregate function's name and aliases: an aggregate already returns one row.
static AGGREGATES: LazyLock<std::collections::HashSet<String>> = LazyLock::new(|| {
    datafusion::functions_aggregate::all_default_aggregate_functions()
        .iter()
        .flat_map(|f| std::iter::once(f.name().to_string()).chain(f.aliases().iter().cloned()))
        .chain([SINGLE_ROW_VALUE.to_string()])
        .collect()
});

fn is_aggregate(expr: &Expr) -> bool {
    matches!(expr, Expr::Function(f)
        if f.over.is_none()
            && f.name
                .0
                .last()
                .and_then(|part| part.as_ident())
                .is_some_and(|name| AGGREGATES.contains(&name.value.to_ascii_lowercase())))
}

fn single_row_value(arg: Expr) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(SINGLE_ROW_VALUE)]),
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
            "SELECT t.typname FROM pg_type t WHERE t.typrelid = 0 OR (SELECT single_row_value(c.relkind = 'c') FROM pg_class c WHERE c.oid = t.typrelid)"
        );
    }

    #[test]
    fn a_subquery_of_a_scalar_function_is_wrapped_and_one_of_an_aggregate_is_not() {
        let sql = "SELECT (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE d.adrelid = a.attrelid), (SELECT count(*) FROM pg_class c WHERE c.oid = a.attrelid) FROM pg_attribute a";
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        assert_eq!(
            aggregate_scalar_subqueries(statement).to_string(),
            "SELECT (SELECT single_row_value(pg_catalog.pg_get_expr(d.adbin, d.adrelid)) FROM pg_attrdef d WHERE d.adrelid = a.attrelid), (SELECT count(*) FROM pg_class c WHERE c.oid = a.attrelid) FROM pg_attribute a"
        );
    }

    #[test]
    fn a_correlated_subquery_over_kubernetes_tables_keeps_its_answer() {
        let sql = "SELECT n.name, (SELECT count(*) FROM pods p WHERE p.node_name = n.name) FROM nodes n; SELECT (SELECT name FROM nodes)";
        let parsed = statements(sql).unwrap();
        assert_eq!(
            parsed[0].to_string(),
            "SELECT n.name, (SELECT count(*) FROM pods p WHERE p.node_name = n.name) FROM nodes n"
        );
        assert_eq!(
            parsed[1].to_string(),
            "SELECT (SELECT single_row_value(name) FROM nodes)"
        );
        let catalog = statements(
            "SELECT a.attname, (SELECT c.collname FROM pg_catalog.pg_collation c WHERE c.oid = a.attcollation) FROM pg_catalog.pg_attribute a",
        )
        .unwrap();
        assert!(catalog[0].to_string().contains("NULL"), "{}", catalog[0]);
    }

    #[test]
    fn a_composite_field_in_dot_form_becomes_a_bracket_access() {
        let sql = "SELECT (keys(i.indkey)).n FROM pg_index i";
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        assert_eq!(
            after_parse(statement).to_string(),
            "SELECT (keys(i.indkey))['n'] FROM pg_index i"
        );
    }

    #[test]
    fn move_is_a_fetch_marked_as_a_move_and_only_at_a_statement_start() {
        let parsed =
            statements("MOVE FORWARD 5 FROM c; SELECT 'move' AS move; move next in c").unwrap();
        assert_eq!(parsed.len(), 3);
        for i in [0, 2] {
            assert!(
                matches!(&parsed[i], Statement::Fetch { into: Some(n), .. } if n.to_string() == MOVE_MARKER),
                "{}",
                parsed[i]
            );
        }
        assert_eq!(parsed[1].to_string(), "SELECT 'move' AS move");
    }

    #[test]
    fn fetch_and_move_take_the_cursor_without_from() {
        let parsed = statements(
            "MOVE FORWARD 1 \"__asyncpg_portal_1__\"; FETCH 2 c; FETCH NEXT IN c; fetch c",
        )
        .unwrap();
        let cursors: Vec<String> = parsed
            .iter()
            .map(|s| match s {
                Statement::Fetch { name, .. } => name.to_string(),
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(cursors, ["\"__asyncpg_portal_1__\"", "c", "c", "c"]);
        assert!(
            matches!(&parsed[0], Statement::Fetch { into: Some(n), .. } if n.to_string() == MOVE_MARKER)
        );
    }

    #[test]
    fn chains_past_the_operator_bound_are_refused_before_a_tree_is_built() {
        let chain = |op: &str, n: usize| format!("SELECT 1{}", format!(" {op} 1").repeat(n));
        for sql in [
            chain("+", 1001),
            chain("OR", 1001),
            chain("||", 1001),
            format!("SELECT 1{}", " UNION ALL SELECT 1".repeat(1001)),
            format!("SELECT labels{} FROM pods", " -> 'a'".repeat(1001)),
            format!(
                "WITH c0 AS (SELECT 1){} SELECT * FROM c1000",
                (1..=1001)
                    .map(|i| format!(", c{i} AS (SELECT * FROM c{})", i - 1))
                    .collect::<String>()
            ),
        ] {
            let e = statements(&sql).unwrap_err();
            assert_eq!(
                e.sqlstate(),
                SqlState::StatementTooComplex,
                "{}",
                &sql[..40]
            );
        }
        // Long lists are flat, and each statement of many has its own bound. A tree 900 deep
        // needs the stack the server plans with, not a test thread's.
        let values = (0..5000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        assert!(statements(&format!("SELECT 1 WHERE 1 IN ({values})")).is_ok());
        let many = format!("{};", chain("+", 900)).repeat(3);
        std::thread::Builder::new()
            .stack_size(crate::PLANNING_STACK)
            .spawn(move || assert_eq!(statements(&many).unwrap().len(), 3))
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn too_deep_or_bad_sql_is_refused_with_its_sqlstate() {
        let deep = format!("SELECT {}1{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(
            statements(&deep).unwrap_err().sqlstate(),
            SqlState::StatementTooComplex
        );
        assert_eq!(
            statements("SELEC 1").unwrap_err().sqlstate(),
            SqlState::SyntaxError
        );
        assert!(statements(" ; ").unwrap().is_empty());
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
