//! Planning a query through the read-only guard and executing it into rows named as
//! PostgreSQL names them: what the pipeline does with every statement no hook owns, and what
//! the cursor and COPY hooks do with the query they hold.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_functions_json::JSON_UNION_DATA_TYPE;
use datafusion_functions_json::udfs::json_union_to_text_udf;
use futures::StreamExt;

use super::names;
use super::outcome::{Columns, Described, Outcome, Rows};
use super::session::KubeSession;
use crate::columns::PG_TYPE_KEY;
use crate::error::{Error, Result};

impl KubeSession {
    /// The logical plan of one query, after the read-only guard accepted it.
    pub(crate) async fn logical_plan(&self, statement: Statement) -> Result<LogicalPlan> {
        let statement = DfStatement::Statement(Box::new(statement));
        crate::guard::check(&statement)?;
        let state = self.ctx.state();
        let plan = off_task(move || {
            tokio::runtime::Handle::current()
                .block_on(state.statement_to_plan(statement))
                .map_err(|e| super::missing_table::explain(&state, e))
        })
        .await?;
        datafusion::prelude::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .verify_plan(&plan)?;
        client_columns(plan)
    }

    /// Executes a planned query into rows named as PostgreSQL names them.
    pub(crate) async fn query(
        &self,
        plan: LogicalPlan,
        columns: Option<Columns>,
    ) -> Result<Outcome> {
        let command = match &plan {
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) => "EXPLAIN",
            _ => "SELECT",
        };
        let columns = match columns {
            Some(c) => c,
            None => postgres_columns(&plan),
        };
        let df = self.ctx.execute_logical_plan(plan).await?;
        // Optimizing and physical planning are CPU work too; the stream then runs on the
        // runtime, where the statement's deadline and a cancel reach it between batches.
        let stream = off_task(move || {
            tokio::runtime::Handle::current()
                .block_on(df.execute_stream())
                .map_err(Error::from)
        })
        .await?;
        Ok(Outcome::Rows(Rows {
            columns,
            batches: stream.map(|b| b.map_err(Error::from)).boxed(),
            command,
            deadline: None,
        }))
    }
}

/// The parameters and columns of a planned query.
/// `plan` with every column in a type PostgreSQL clients read: datafusion-functions-json's
/// `->` and `json_get()` answer a union of JSON types, which no client can read (PostgreSQL's
/// `->` answers jsonb), so they become jsonb text; decimals wider than 38 digits have no
/// encoder in arrow-pg, so they become their text. The columns keep the names PostgreSQL
/// gives them.
fn client_columns(plan: LogicalPlan) -> Result<LogicalPlan> {
    let schema = plan.schema().clone();
    let unreadable =
        |t: &DataType| *t == *JSON_UNION_DATA_TYPE || matches!(t, DataType::Decimal256(..));
    if !schema.fields().iter().any(|f| unreadable(f.data_type())) {
        return Ok(plan);
    }
    let names = names::postgres_names(&plan)
        .unwrap_or_else(|| schema.fields().iter().map(|f| f.name().clone()).collect());
    let jsonb = datafusion::common::metadata::FieldMetadata::from(
        std::collections::BTreeMap::from([(PG_TYPE_KEY.to_string(), "jsonb".to_string())]),
    );
    let exprs = schema.iter().zip(names).map(|((qualifier, field), name)| {
        let column = Expr::Column(datafusion::common::Column::from((qualifier, field)));
        match field.data_type() {
            t if *t == *JSON_UNION_DATA_TYPE => json_union_to_text_udf()
                .call(vec![column])
                .alias_with_metadata(name, Some(jsonb.clone())),
            DataType::Decimal256(..) => {
                datafusion::logical_expr::cast(column, DataType::Utf8).alias(name)
            }
            _ => column.alias(name),
        }
    });
    Ok(LogicalPlanBuilder::from(plan).project(exprs)?.build()?)
}

/// `work` on the blocking pool: CPU-bound work that must not hold a runtime thread, that a
/// deadline can abandon (its result is dropped when it comes), and whose deep recursion gets
/// the pool's large stacks. A panic in it is kubepg's bug, answered as one (XX000), and the
/// session goes on.
pub(crate) async fn off_task<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(Error::refused(
            crate::SqlState::InternalError,
            format!("the statement stopped: {e}"),
        ))
    })
}

pub(crate) fn describe_plan(plan: &LogicalPlan) -> Result<Described> {
    let casts = placeholder_casts(plan);
    let typed: Vec<(usize, Option<DataType>)> = plan
        .get_parameter_types()?
        .into_iter()
        .filter_map(|(k, v)| {
            let cast = casts.get(&k).cloned();
            k.trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .filter(|i| *i > 0)
                .map(|i| (i, v.or(cast)))
        })
        .collect();
    // By number, not by rank: `$n` is the client's n-th value even where the plan lost
    // `$1`..`$m` (datafusion-pg-catalog blanks subqueries of catalog queries, SQLAlchemy's
    // get_columns through psycopg 3); a lost one is described as unknown.
    let mut parameters = vec![None; typed.iter().map(|(i, _)| *i).max().unwrap_or(0)];
    for (i, t) in typed {
        parameters[i - 1] = t;
    }
    Ok(Described {
        parameters,
        columns: Some(postgres_columns(plan)),
    })
}

/// The type each parameter is cast to where it appears as `$n::type`: DataFusion infers a
/// parameter's type from what it is compared with, not from a cast, and PostgreSQL describes
/// `$1::int8` as int8 (asyncpg then sends an int, not text). `$1::jsonb`, written as
/// `jsonb($1)`, is text: an untyped value that looks like `{…}` would be read as an array.
fn placeholder_casts(plan: &LogicalPlan) -> std::collections::HashMap<String, DataType> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::expr::{Cast, Placeholder, ScalarFunction, TryCast};
    let mut casts = std::collections::HashMap::new();
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                let typed = match e {
                    Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
                        Some((expr.as_ref(), field.data_type().clone()))
                    }
                    Expr::ScalarFunction(ScalarFunction { func, args })
                        if func.name() == crate::dialect::jsonb::JSONB && args.len() == 1 =>
                    {
                        Some((&args[0], DataType::Utf8))
                    }
                    _ => None,
                };
                if let Some((Expr::Placeholder(Placeholder { id, field: None }), ty)) = typed {
                    casts.entry(id.clone()).or_insert(ty);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    casts
}

/// A plan's output schema with PostgreSQL's column names.
fn postgres_columns(plan: &LogicalPlan) -> Columns {
    let schema = plan.schema().as_arrow();
    match names::postgres_names(plan) {
        Some(names) => Arc::new(Schema::new_with_metadata(
            schema
                .fields()
                .iter()
                .zip(names)
                .map(|(f, name)| f.as_ref().clone().with_name(name))
                .collect::<Vec<Field>>(),
            schema.metadata().clone(),
        )),
        None => Arc::new(schema.clone()),
    }
}
