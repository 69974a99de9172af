//! Result column names as PostgreSQL gives them. DataFusion names an unaliased column after its
//! whole expression (`count(*)`, `Int64(1)`); PostgreSQL after the function (`count`), the
//! column (`name`), `case`, or `?column?`, and clients read rows by those names (psycopg's dict
//! rows, pgjdbc's `getColumnLabel`, Grafana's `time`/`value` detection).

use datafusion::logical_expr::{Expr, LogicalPlan};

use crate::dialect::interval_mul::INTERVAL_MUL;
use crate::dialect::jsonb::CONTAINS;

/// The prefix of the aliases the statement pipeline gives a select list's repeated unnamed
/// expressions, which DataFusion needs and PostgreSQL does not.
pub(super) const UNNAMED: &str = "__kubepg_unnamed_";

/// The PostgreSQL names of `plan`'s output columns, when its top is a projection.
pub fn postgres_names(plan: &LogicalPlan) -> Option<Vec<String>> {
    let projection = top_projection(plan)?;
    let names: Vec<String> = projection
        .expr
        .iter()
        .map(|e| name_of(e, &projection.input))
        .collect();
    (names.len() == plan.schema().fields().len()).then_some(names)
}

fn top_projection(plan: &LogicalPlan) -> Option<&datafusion::logical_expr::Projection> {
    match plan {
        LogicalPlan::Projection(p) => Some(p),
        LogicalPlan::Sort(s) => top_projection(&s.input),
        LogicalPlan::Limit(l) => top_projection(&l.input),
        LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(input)) => {
            top_projection(input)
        }
        _ => None,
    }
}

fn name_of(expr: &Expr, input: &LogicalPlan) -> String {
    match expr {
        // `count(*)` is planned as `count(Int64(1)) AS count(*)`: an alias that reads like an
        // expression over a computed column is DataFusion's, not the query's.
        Expr::Alias(a)
            if a.name.contains('(')
                && matches!(a.expr.as_ref(), Expr::Column(c) if computed_by(input, &c.name).is_some()) =>
        {
            name_of(&a.expr, input)
        }
        Expr::Alias(a) if a.name.starts_with(UNNAMED) => name_of(&a.expr, input),
        Expr::Alias(a) => a.name.clone(),
        // DataFusion names what it computed with aliases of its own (`count(Int64(1)) AS
        // count(*)`): the name comes from the expression under them.
        Expr::Column(c) => computed_by(input, &c.name)
            .map(|e| name_of(unaliased(e), input))
            .unwrap_or_else(|| c.name.clone()),
        // An operator the pipeline wrote as a function is still an operator.
        Expr::ScalarFunction(f) if [INTERVAL_MUL, CONTAINS].contains(&f.func.name()) => {
            "?column?".into()
        }
        Expr::ScalarFunction(f) => f.func.name().to_string(),
        Expr::AggregateFunction(f) => f.func.name().to_string(),
        Expr::WindowFunction(w) => w.fun.name().to_string(),
        Expr::Cast(c) => name_of(&c.expr, input),
        Expr::TryCast(c) => name_of(&c.expr, input),
        Expr::Case(_) => "case".into(),
        _ => "?column?".into(),
    }
}

fn unaliased(mut expr: &Expr) -> &Expr {
    while let Expr::Alias(a) = expr {
        expr = &a.expr;
    }
    expr
}

/// The aggregate or window expression that produced column `name` below a projection (through
/// HAVING filters and ordering).
fn computed_by<'a>(plan: &'a LogicalPlan, name: &str) -> Option<&'a Expr> {
    match plan {
        LogicalPlan::Aggregate(a) => a
            .aggr_expr
            .iter()
            .find(|e| e.schema_name().to_string() == name),
        LogicalPlan::Window(w) => w
            .window_expr
            .iter()
            .find(|e| e.schema_name().to_string() == name)
            .or_else(|| computed_by(&w.input, name)),
        LogicalPlan::Filter(f) => computed_by(&f.input, name),
        LogicalPlan::Sort(s) => computed_by(&s.input, name),
        _ => None,
    }
}
