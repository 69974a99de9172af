//! What the pipeline's steps hand each other and the front end: a statement prepared and
//! described, and what running it did ([`Outcome`]: a command tag, or rows as a stream of
//! record batches).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::Statement;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::time::Instant;

use crate::error::Result;

/// A result's columns, named as PostgreSQL names them; a column's field metadata says when it
/// is jsonb.
pub type Columns = SchemaRef;

/// Record batches as they are computed, with kubepg's errors.
pub type Batches = BoxStream<'static, Result<RecordBatch>>;

/// Rows on their way to the client.
pub struct Rows {
    pub columns: Columns,
    pub batches: Batches,
    /// The command tag's word: `SELECT`, `FETCH`, `SHOW`, `EXPLAIN`.
    pub command: &'static str,
    /// When the statement's `statement_timeout` runs out: the batches end there, and a front
    /// end that cannot write them (a client that stops reading) stops there too.
    pub deadline: Option<Instant>,
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("columns", &self.columns)
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

/// What a statement did, for the front end to send.
#[derive(Debug)]
pub enum Outcome {
    /// No statement at all (an empty query string).
    Empty,
    /// A command: its tag, and what the protocol layer must do besides.
    Command {
        tag: String,
        effect: Option<Effect>,
    },
    Rows(Rows),
    /// `COPY … TO STDOUT`: the rows, and how to write them.
    Copy {
        rows: Rows,
        format: CopyFormat,
    },
}

/// What a command asks of the protocol layer beyond its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `DISCARD ALL`: drop every prepared statement and portal of the connection.
    DiscardAll,
    /// `DEALLOCATE name`; `None` for `DEALLOCATE ALL`.
    Deallocate(Option<String>),
}

impl Outcome {
    pub(crate) fn command(tag: impl Into<String>) -> Self {
        Outcome::Command {
            tag: tag.into(),
            effect: None,
        }
    }
}

/// What the protocol layer needs of a statement before it runs (the extended protocol's
/// Describe): its parameters and the columns it will return.
#[derive(Debug, Clone, Default)]
pub struct Described {
    /// `$1`, `$2`, … in order, with the types inferred for them (`None`: unknown).
    pub parameters: Vec<Option<DataType>>,
    /// `None`: the statement returns no rows.
    pub columns: Option<Columns>,
}

/// A statement parsed and, if it is a query, planned: the extended protocol's prepared
/// statement, and each statement of a simple query on its way through.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub statement: Statement,
    /// The statement as the statement log shows it (string literals masked).
    pub logged: String,
    pub described: Described,
    /// The plan of a query; `None` for statements a hook answers.
    pub(crate) plan: Option<LogicalPlan>,
}

/// How rows are written.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyFormat {
    Text {
        delimiter: char,
        null: String,
    },
    Csv {
        delimiter: char,
        null: String,
        header: bool,
    },
}

/// Text columns with the given names, for what hooks answer (SHOW).
pub(crate) fn text_columns(names: &[&str]) -> Columns {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// Rows of already-computed batches.
pub(crate) fn computed(
    columns: Columns,
    batches: Vec<RecordBatch>,
    command: &'static str,
) -> Outcome {
    Outcome::Rows(Rows {
        columns,
        batches: futures::stream::iter(batches.into_iter().map(Ok)).boxed(),
        command,
        deadline: None,
    })
}
