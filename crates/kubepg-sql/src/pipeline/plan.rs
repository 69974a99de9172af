//! Planning a query through the read-only guard and executing it into rows named as
//! PostgreSQL names them: what the pipeline does with every statement no hook owns, and what
//! the cursor and COPY hooks do with the query they hold.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use futures::StreamExt;

use super::names;
use super::outcome::{Columns, Described, Outcome, Rows};
use super::session::KubeSession;
use crate::error::{Error, Result};

impl KubeSession {
    /// The logical plan of one query, after the read-only guard accepted it.
    pub(crate) async fn logical_plan(&self, statement: Statement) -> Result<LogicalPlan> {
        let statement = DfStatement::Statement(Box::new(statement));
        crate::guard::check(&statement)?;
        let plan = self.ctx.state().statement_to_plan(statement).await?;
        datafusion::prelude::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .verify_plan(&plan)?;
        Ok(plan)
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
        let stream = df.execute_stream().await?;
        Ok(Outcome::Rows(Rows {
            columns,
            batches: stream.map(|b| b.map_err(Error::from)).boxed(),
            command,
            deadline: None,
        }))
    }
}

/// The parameters and columns of a planned query.
pub(crate) fn describe_plan(plan: &LogicalPlan) -> Result<Described> {
    let mut parameters: Vec<(usize, Option<DataType>)> = plan
        .get_parameter_types()?
        .into_iter()
        .filter_map(|(k, v)| {
            k.trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .map(|i| (i, v))
        })
        .collect();
    parameters.sort_by_key(|(i, _)| *i);
    Ok(Described {
        parameters: parameters.into_iter().map(|(_, t)| t).collect(),
        columns: Some(postgres_columns(plan)),
    })
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
