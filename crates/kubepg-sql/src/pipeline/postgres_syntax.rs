//! PostgreSQL syntax that clients' metadata queries use and DataFusion cannot plan, rewritten
//! into the equivalent it plans (a rewrite never changes the answer):
//! - `x LIKE p ESCAPE '/'` (SQLAlchemy's and Superset's schema listings): DataFusion takes
//!   only a backslash as the escape; the pattern is re-escaped with one by `like_escape(p, '/')`
//!   (folded to a literal when `p` is one).
//! - `generate_subscripts(a, d)` beside `unnest(a)` (SQLAlchemy's key and index reflection):
//!   the subscripts 1..n unnested (none past the first dimension: kubepg's arrays have one),
//!   which DataFusion runs in step with the other unnest as PostgreSQL runs set-returning
//!   functions in a select list.
//! - `information_schema._pg_expandarray(a)` (pgjdbc's getPrimaryKeys, Metabase's indexes): a
//!   set-returning function, unnested from the list of its rows (`expand_array.rs`).
//! - The same unnamed expression twice in a select list (`SELECT NULL, NULL`, pgjdbc's
//!   getProcedures): DataFusion wants unique names, PostgreSQL calls both `?column?`; the
//!   repeats get aliases that the result names look through (`names.rs`).
//! - `x::regclass` of a computed value (Metabase's describe-fields casts
//!   `format('%I.%I', …)`): `pg_regclass(x)`, which resolves the name (`regclass.rs`).
//!   Column operands are oids being shown as relations and stay casts.
//! - `x::regtype::text` (pgcli's column and function listings): the type's name, as
//!   PostgreSQL's regtype output gives it, which is `format_type(x, NULL)`; kubepg's regtype
//!   is the oid itself, so its text would be the number.
//! - `x::jsonb` and `x::json`: DataFusion has no JSON type; `jsonb(x)` checks and normalises
//!   the text and is described as jsonb (`jsonb.rs`).
//! - `regexp_split_to_table(s, p)` (pgcli's casing query): the unnest of
//!   `regexp_split_to_array(s, p)` (`regexp_split.rs`).
//! - `n * INTERVAL '…'` (Superset's epoch conversion, `now() - 7 * interval '1 day'`):
//!   DataFusion cannot multiply an interval; `interval_mul(interval, n)` does
//!   (`interval_mul.rs`). Beside it, the special value `TIMESTAMP 'epoch'` (DataFusion reads
//!   only dates) is `TIMESTAMP '1970-01-01 00:00:00'`.
//! - `ARRAY(SELECT …)` (psql's `\d+` and `\du`, pgcli): the subquery's values aggregated in
//!   its order.
//! - A scalar function in FROM (Grafana's search-path constraint reads
//!   `FROM string_to_array(…) s`): PostgreSQL makes it a one-row table whose column is named
//!   after the alias.
//! - `FROM generate_series(…) AS i` (Grafana again): PostgreSQL names the one column of a
//!   function returning a scalar after the alias; DataFusion calls it `value`.
//! - `to_timestamp(text, 'YYYY-MM-DD HH24:MI:SS.US')` and `to_date(text, 'YYYY-MM-DD')`
//!   (Superset's time filters): a literal template in PostgreSQL's patterns becomes the
//!   strftime format DataFusion's functions read.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    Ident, Query, SelectItem, SetExpr, Statement, TableAliasColumnDef, TableFactor, Value,
    VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::names::UNNAMED;
use crate::dialect::expand_array::ELEMENTS;
use crate::dialect::interval_mul::INTERVAL_MUL;
use crate::dialect::jsonb::JSONB;
use crate::dialect::regclass::REGCLASS;
use crate::dialect::regexp_split::SPLIT_TO_ARRAY;

/// The table functions whose one column PostgreSQL names after the alias.
const SCALAR_TABLE_FUNCTIONS: &[&str] = &["generate_series", "range"];

/// Every built-in scalar function's name and aliases: what may stand in FROM as a one-row table.
static SCALARS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    datafusion::functions::all_default_functions()
        .into_iter()
        .chain(datafusion::functions_nested::all_default_nested_functions())
        .flat_map(|f| {
            let mut names = f.aliases().to_vec();
            names.push(f.name().to_string());
            names
        })
        .collect()
});

pub(super) fn rewrite(mut statement: Statement) -> Statement {
    let _ = statement.visit(&mut Rewriter);
    statement
}

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Like {
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                pattern,
                escape_char,
                ..
            } => {
                if let Some(escape) = escape_char.take() {
                    let like_escape = format!("like_escape({pattern}, {escape})");
                    match parse_expr(&like_escape) {
                        Some(escaped) => **pattern = escaped,
                        None => *escape_char = Some(escape),
                    }
                }
            }
            Expr::Function(f)
                if f.name
                    .to_string()
                    .eq_ignore_ascii_case("generate_subscripts") =>
            {
                if let FunctionArguments::List(list) = &f.args
                    && let [
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(array)),
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(dimension)),
                    ] = list.args.as_slice()
                    && let Some(subscripts) = parse_expr(&format!(
                        "unnest(generate_series(1, CASE WHEN {dimension} = 1 \
                         THEN coalesce(CAST(cardinality({array}) AS BIGINT), 0) ELSE 0 END))"
                    ))
                {
                    *expr = subscripts;
                }
            }
            Expr::Function(f)
                if f.name.0.last().is_some_and(|part| {
                    part.to_string().eq_ignore_ascii_case("_pg_expandarray")
                }) =>
            {
                if let FunctionArguments::List(list) = &f.args
                    && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(array))] =
                        list.args.as_slice()
                    && let Some(rows) = parse_expr(&format!("unnest({ELEMENTS}({array}))"))
                {
                    *expr = rows;
                }
            }
            Expr::TypedString(typed)
                if matches!(
                    typed.data_type,
                    DataType::Timestamp(..) | DataType::TimestampNtz(_)
                ) && matches!(&typed.value.value,
                    Value::SingleQuotedString(v) if v.trim().eq_ignore_ascii_case("epoch")) =>
            {
                typed.value.value = Value::SingleQuotedString("1970-01-01 00:00:00".into());
            }
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Multiply,
                right,
            } if matches!(left.as_ref(), Expr::Interval(_))
                || matches!(right.as_ref(), Expr::Interval(_)) =>
            {
                let (interval, factor) = if matches!(left.as_ref(), Expr::Interval(_)) {
                    (left, right)
                } else {
                    (right, left)
                };
                if let Some(product) = parse_expr(&format!("{INTERVAL_MUL}({interval}, {factor})"))
                {
                    *expr = product;
                }
            }
            Expr::Cast {
                expr: operand,
                data_type,
                ..
            } if is_regclass(data_type)
                && !matches!(
                    operand.as_ref(),
                    Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_)
                ) =>
            {
                if let Some(call) = parse_expr(&format!("{REGCLASS}({operand})")) {
                    *expr = call;
                }
            }
            Expr::Cast {
                expr: inner,
                data_type,
                ..
            } if matches!(plain_type(data_type).as_str(), "text" | "varchar")
                && matches!(inner.as_ref(), Expr::Cast { data_type, .. } if plain_type(data_type) == "regtype") =>
            {
                if let Expr::Cast { expr: operand, .. } = inner.as_ref()
                    && let Some(call) = parse_expr(&format!("format_type({operand}, NULL)"))
                {
                    *expr = call;
                }
            }
            Expr::Cast {
                expr: operand,
                data_type: DataType::JSON | DataType::JSONB,
                ..
            } => {
                if let Some(call) = parse_expr(&format!("{JSONB}({operand})")) {
                    *expr = call;
                }
            }
            Expr::Function(f)
                if f.name
                    .to_string()
                    .eq_ignore_ascii_case("regexp_split_to_table") =>
            {
                if let FunctionArguments::List(list) = &f.args
                    && let Some(rows) = parse_expr(&format!("unnest({SPLIT_TO_ARRAY}({list}))"))
                {
                    *expr = rows;
                }
            }
            Expr::Function(f)
                if ["to_timestamp", "to_date"]
                    .iter()
                    .any(|n| f.name.to_string().eq_ignore_ascii_case(n)) =>
            {
                if let FunctionArguments::List(list) = &mut f.args
                    && let [_, FunctionArg::Unnamed(FunctionArgExpr::Expr(template))] =
                        list.args.as_mut_slice()
                    && let Some(text) = string_literal(template)
                    && let Some(format) = strftime_format(&text)
                {
                    *template = Expr::Value(Value::SingleQuotedString(format).into());
                }
            }
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("array") => {
                if let FunctionArguments::Subquery(query) = &f.args
                    && let Some(aggregated) = array_subquery(query)
                {
                    *expr = aggregated;
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        name_repeats(&mut query.body);
        if let Some(with) = &mut query.with {
            for cte in &mut with.cte_tables {
                name_function_columns(&mut cte.query.body);
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Derived { subquery, .. } = factor {
            name_function_columns(&mut subquery.body);
        }
        let TableFactor::Table {
            name,
            alias,
            args: Some(args),
            with_ordinality: false,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let function = name.to_string().to_ascii_lowercase();
        let Some(alias) = alias.as_mut().filter(|a| a.columns.is_empty()) else {
            return ControlFlow::Continue(());
        };
        if SCALAR_TABLE_FUNCTIONS.contains(&function.as_str()) {
            alias
                .columns
                .push(TableAliasColumnDef::from_name(alias.name.value.clone()));
        } else if SCALARS.contains(&function) {
            let call = format!(
                "{name}({})",
                args.args
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(table) = parse_table_factor(&format!(
                "(SELECT {call} AS {column}) AS {column}",
                column = alias.name
            )) {
                *factor = table;
            }
        }
        ControlFlow::Continue(())
    }
}

fn is_regclass(data_type: &DataType) -> bool {
    plain_type(data_type) == "regclass"
}

/// A type's name as written, lower-case, without `pg_catalog.`.
fn plain_type(data_type: &DataType) -> String {
    let name = data_type.to_string().to_ascii_lowercase();
    name.strip_prefix("pg_catalog.")
        .unwrap_or(&name)
        .to_string()
}

/// Names the unnamed function calls of a CTE's or derived table's select list as PostgreSQL
/// does (`count(1)` is column `count`), so that the query around it can refer to them
/// (pgcli's casing query reads its CTE's `Count`). A name the list already has is left alone.
fn name_function_columns(body: &mut SetExpr) {
    let SetExpr::Select(select) = body else {
        return;
    };
    let mut taken: HashSet<String> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_ascii_lowercase()),
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(i.value.to_ascii_lowercase()),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                parts.last().map(|i| i.value.to_ascii_lowercase())
            }
            _ => None,
        })
        .collect();
    for item in &mut select.projection {
        if let SelectItem::UnnamedExpr(expr @ Expr::Function(_)) = item
            && let Expr::Function(f) = &*expr
            && let Some(name) = f.name.0.last().map(|p| p.to_string().to_ascii_lowercase())
            && taken.insert(name.clone())
        {
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: Ident::new(name),
            };
        }
    }
}

/// Aliases every repeat of an unnamed select-list expression of `body`'s selects.
fn name_repeats(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            let mut seen = HashSet::new();
            for (position, item) in select.projection.iter_mut().enumerate() {
                if let SelectItem::UnnamedExpr(expr) = item
                    && !seen.insert(expr.to_string())
                {
                    *item = SelectItem::ExprWithAlias {
                        expr: expr.clone(),
                        alias: Ident::new(format!("{UNNAMED}{position}")),
                    };
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_repeats(left);
            name_repeats(right);
        }
        _ => {}
    }
}

/// `ARRAY(query)` as an aggregating subquery. A plain `SELECT x FROM … [ORDER BY …]` becomes
/// `SELECT array_agg(x ORDER BY …) FROM …`, which DataFusion decorrelates when it reads the
/// outer query (psql's `\du`); anything else aggregates the query as a derived table.
fn array_subquery(query: &Query) -> Option<Expr> {
    let mut query = query.clone();
    if let SetExpr::Select(select) = query.body.as_mut()
        && select.projection.len() == 1
        && select.distinct.is_none()
        && select.having.is_none()
        && matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty())
        && query.limit_clause.is_none()
        && query.fetch.is_none()
        && let SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. } =
            &select.projection[0]
    {
        let order = query
            .order_by
            .take()
            .map(|o| format!(" {o}"))
            .unwrap_or_default();
        select.projection[0] =
            SelectItem::UnnamedExpr(parse_expr(&format!("array_agg({value}{order})"))?);
        return Some(Expr::Subquery(Box::new(query)));
    }
    parse_expr(&format!(
        "(SELECT array_agg(__kubepg_value) FROM ({query}) AS __kubepg_array(__kubepg_value))"
    ))
}

/// PostgreSQL's date/time template patterns (`YYYY`, `HH24`, `US`, …) as strftime, what
/// DataFusion's `to_timestamp` and `to_date` parse with; `None` for a template already in
/// strftime (it has a `%`) or one with a pattern kubepg cannot translate.
fn strftime_format(template: &str) -> Option<String> {
    if template.contains('%') {
        return None;
    }
    // Longest first, so that `HH24` is not read as `HH`.
    const PATTERNS: [(&str, &str); 20] = [
        ("YYYY", "%Y"),
        ("HH24", "%H"),
        ("HH12", "%I"),
        ("MONTH", "%B"),
        ("YY", "%y"),
        ("MM", "%m"),
        ("DD", "%d"),
        ("HH", "%I"),
        ("MI", "%M"),
        ("SS", "%S"),
        ("MS", "%3f"),
        ("US", "%6f"),
        ("MON", "%b"),
        ("DAY", "%A"),
        ("DY", "%a"),
        ("AM", "%p"),
        ("PM", "%p"),
        ("TZH", "%#z"),
        ("OF", "%:z"),
        ("FM", ""),
    ];
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    'outer: while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"')?;
            out.push_str(&quoted[..end]);
            rest = &quoted[end + 1..];
            continue;
        }
        for (pattern, strftime) in PATTERNS {
            if rest.len() >= pattern.len()
                && rest.is_char_boundary(pattern.len())
                && rest[..pattern.len()].eq_ignore_ascii_case(pattern)
            {
                // A fraction after its dot takes as many digits as it has (`.5` is 500 ms),
                // as PostgreSQL reads it; `%6f` would want all six.
                if matches!(pattern, "MS" | "US") && out.ends_with('.') {
                    out.pop();
                    out.push_str("%.f");
                } else {
                    out.push_str(strftime);
                }
                rest = &rest[pattern.len()..];
                continue 'outer;
            }
        }
        let c = rest.chars().next()?;
        if c.is_ascii_alphabetic() {
            return None;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

/// A string literal, or a concatenation of them (SQLAlchemy writes `'pg/_' || '%'`).
fn string_literal(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        Expr::BinaryOp {
            left,
            op: BinaryOperator::StringConcat,
            right,
        } => Some(string_literal(left)? + &string_literal(right)?),
        Expr::Nested(inner) => string_literal(inner),
        _ => None,
    }
}

fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .ok()?
        .parse_expr()
        .ok()
}

fn parse_table_factor(sql: &str) -> Option<TableFactor> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .ok()?
        .parse_table_factor()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        rewrite(statement).to_string()
    }

    #[test]
    fn postgresql_templates_become_strftime() {
        assert_eq!(
            strftime_format("YYYY-MM-DD HH24:MI:SS.US").unwrap(),
            "%Y-%m-%d %H:%M:%S%.f"
        );
        assert_eq!(strftime_format(r#"yyyy"T"hh24"#).unwrap(), "%YT%H");
        assert!(strftime_format("%Y").is_none());
        assert!(strftime_format("YYYY Q").is_none());
        assert_eq!(
            rewritten("SELECT TO_DATE('2024-01-02', 'YYYY-MM-DD')"),
            "SELECT TO_DATE('2024-01-02', '%Y-%m-%d')"
        );
    }

    #[test]
    fn like_escapes_become_backslashes_and_subscripts_unnest() {
        assert_eq!(
            rewritten("SELECT 1 WHERE n NOT LIKE 'pg/_%' ESCAPE '/'"),
            "SELECT 1 WHERE n NOT LIKE like_escape('pg/_%', '/')"
        );
        assert_eq!(
            rewritten("SELECT 1 WHERE n LIKE $1 || '%' ESCAPE '/'"),
            "SELECT 1 WHERE n LIKE like_escape($1 || '%', '/')"
        );
        assert_eq!(
            rewritten("SELECT unnest(k), generate_subscripts(k, 1) FROM t"),
            "SELECT unnest(k), unnest(generate_series(1, CASE WHEN 1 = 1 \
             THEN coalesce(CAST(cardinality(k) AS BIGINT), 0) ELSE 0 END)) FROM t"
        );
        assert_eq!(
            rewritten(
                "SELECT (information_schema._pg_expandarray(i.indkey)).n, \
                 _pg_expandarray(i.indkey) AS keys FROM i"
            ),
            "SELECT (unnest(pg_expandarray_elements(i.indkey))).n, \
             unnest(pg_expandarray_elements(i.indkey)) AS keys FROM i"
        );
    }

    #[test]
    fn a_regtype_shown_as_text_is_the_types_name() {
        assert_eq!(
            rewritten(
                "SELECT a.atttypid::regtype::text, t::pg_catalog.regtype::varchar, t::regtype FROM a"
            ),
            "SELECT format_type(a.atttypid, NULL), format_type(t, NULL), t::regtype FROM a"
        );
    }

    #[test]
    fn computed_regclass_operands_are_resolved_by_a_function() {
        assert_eq!(
            rewritten(
                "SELECT CAST(CAST(FORMAT('%I.%I', s, t) AS REGCLASS) AS OID), \
                 c.oid::pg_catalog.regclass, ('a' || t)::regclass FROM x"
            ),
            "SELECT CAST(pg_regclass(FORMAT('%I.%I', s, t)) AS OID), \
             c.oid::pg_catalog.regclass, pg_regclass(('a' || t)) FROM x"
        );
    }

    #[test]
    fn products_with_an_interval_are_interval_mul() {
        assert_eq!(
            rewritten(
                "SELECT timestamp 'epoch' + (r + 1) * interval '1 second', INTERVAL '1 day' * 2"
            ),
            "SELECT TIMESTAMP '1970-01-01 00:00:00' + interval_mul(INTERVAL '1 second', (r + 1)), \
             interval_mul(INTERVAL '1 day', 2)"
        );
    }

    #[test]
    fn split_to_table_is_the_unnest_of_split_to_array() {
        assert_eq!(
            rewritten(r"SELECT regexp_split_to_table(prosrc, '\W+') AS w FROM p"),
            r"SELECT unnest(regexp_split_to_array(prosrc, '\W+')) AS w FROM p"
        );
    }

    #[test]
    fn functions_of_ctes_and_derived_tables_are_named_after_the_function() {
        assert_eq!(
            rewritten(
                "WITH w AS (SELECT word, COUNT(1), max(x), max(y) FROM t GROUP BY word) \
                 SELECT word, count, (SELECT 1) FROM w, (SELECT upper(a) FROM u) d"
            ),
            "WITH w AS (SELECT word, COUNT(1) AS count, max(x) AS max, max(y) FROM t GROUP BY word) \
             SELECT word, count, (SELECT 1) FROM w, (SELECT upper(a) AS upper FROM u) d"
        );
    }

    #[test]
    fn repeated_unnamed_expressions_get_aliases() {
        assert_eq!(
            rewritten(
                "SELECT NULL AS a, NULL, NULL, x, x AS y, x FROM t UNION SELECT 1, 2, 2, 3, 4, 5"
            ),
            "SELECT NULL AS a, NULL, NULL AS __kubepg_unnamed_2, x, x AS y, x AS __kubepg_unnamed_5 \
             FROM t UNION SELECT 1, 2, 2 AS __kubepg_unnamed_2, 3, 4, 5"
        );
    }

    #[test]
    fn array_subqueries_and_functions_in_from() {
        assert_eq!(
            rewritten("SELECT ARRAY(SELECT x FROM t WHERE t.k = o.k ORDER BY x) AS a FROM o"),
            "SELECT (SELECT array_agg(x ORDER BY x) FROM t WHERE t.k = o.k) AS a FROM o"
        );
        assert!(rewritten("SELECT ARRAY(SELECT x FROM t LIMIT 2)").contains(
            "(SELECT array_agg(__kubepg_value) FROM (SELECT x FROM t LIMIT 2) AS __kubepg_array (__kubepg_value))"
        ));
        assert_eq!(
            rewritten("SELECT s[i] FROM generate_series(1, 2) AS i, string_to_array('a,b', ',') s"),
            "SELECT s[i] FROM generate_series(1, 2) AS i (i), (SELECT string_to_array('a,b', ',') AS s) AS s"
        );
    }
}
