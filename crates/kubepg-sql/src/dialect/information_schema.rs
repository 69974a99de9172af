//! `information_schema` as PostgreSQL presents it to clients. DataFusion's own names column types
//! after Arrow (`Utf8`, `Timestamp(Nanosecond, Some("UTC"))`), which Grafana's column picker,
//! Metabase and SQLAlchemy cannot use; this one says `text`, `timestamp with time zone`,
//! `jsonb`, and covers the current database only, as PostgreSQL does.
//!
//! Every resource table has the primary key `(_cluster, uid)` (`<table>_pkey`): no two
//! objects of one cluster share a uid. `table_constraints` and `key_column_usage` say so, for
//! Metabase's field sync and SQLAlchemy; nothing is ever written through it.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use super::types::{information_schema_name, pg_type};

const SCHEMA: &str = "information_schema";

/// The views this schema answers, each with its columns (all text unless named in `INT_COLUMNS`).
const VIEWS: &[(&str, &[&str])] = &[
    ("schemata", &["catalog_name", "schema_name", "schema_owner"]),
    (
        "tables",
        &["table_catalog", "table_schema", "table_name", "table_type"],
    ),
    (
        "columns",
        &[
            "table_catalog",
            "table_schema",
            "table_name",
            "column_name",
            "ordinal_position",
            "column_default",
            "is_nullable",
            "data_type",
            "character_maximum_length",
            "numeric_precision",
            "numeric_scale",
            "udt_catalog",
            "udt_schema",
            "udt_name",
            "is_identity",
            "is_generated",
            "is_updatable",
        ],
    ),
    (
        "views",
        &[
            "table_catalog",
            "table_schema",
            "table_name",
            "view_definition",
        ],
    ),
    (
        "table_constraints",
        &[
            "constraint_catalog",
            "constraint_schema",
            "constraint_name",
            "table_catalog",
            "table_schema",
            "table_name",
            "constraint_type",
            "is_deferrable",
            "initially_deferred",
            "enforced",
        ],
    ),
    (
        "key_column_usage",
        &[
            "constraint_catalog",
            "constraint_schema",
            "constraint_name",
            "table_catalog",
            "table_schema",
            "table_name",
            "column_name",
            "ordinal_position",
            "position_in_unique_constraint",
        ],
    ),
    (
        "routines",
        &[
            "routine_catalog",
            "routine_schema",
            "routine_name",
            "data_type",
        ],
    ),
];

/// The key columns of every resource table, in key order.
pub(super) const PRIMARY_KEY: [&str; 2] = ["_cluster", "uid"];

/// Whether `table` is a resource table, keyed by [`PRIMARY_KEY`].
pub(super) fn has_primary_key(table: &dyn TableProvider) -> bool {
    table.table_type() == TableType::Base
        && PRIMARY_KEY
            .iter()
            .all(|c| table.schema().field_with_name(c).is_ok())
}

const INT_COLUMNS: &[&str] = &[
    "ordinal_position",
    "position_in_unique_constraint",
    "character_maximum_length",
    "numeric_precision",
    "numeric_scale",
];

/// Replaces DataFusion's `information_schema` with this one for the session's catalog.
pub fn install(ctx: &SessionContext, catalog: &str) -> Result<()> {
    let home = ctx
        .catalog(catalog)
        .ok_or_else(|| DataFusionError::Plan(format!("no catalog {catalog}")))?;
    ctx.state_ref()
        .write()
        .config_mut()
        .options_mut()
        .catalog
        .information_schema = false;
    home.register_schema(
        SCHEMA,
        Arc::new(InformationSchema {
            catalog: catalog.to_string(),
            // Weak: the catalog owns this schema.
            home: Arc::downgrade(&home),
        }),
    )?;
    Ok(())
}

#[derive(Debug)]
struct InformationSchema {
    catalog: String,
    home: Weak<dyn CatalogProvider>,
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        VIEWS.iter().map(|(name, _)| name.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some((name, columns)) = VIEWS.iter().find(|(n, _)| *n == name) else {
            return Ok(None);
        };
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| {
                    let t = if INT_COLUMNS.contains(c) {
                        DataType::Int32
                    } else {
                        DataType::Utf8
                    };
                    Field::new(*c, t, true)
                })
                .collect::<Vec<_>>(),
        ));
        Ok(Some(Arc::new(View {
            name,
            schema,
            catalog: self.catalog.clone(),
            home: self.home.clone(),
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        VIEWS.iter().any(|(n, _)| *n == name)
    }
}

#[derive(Debug)]
struct View {
    name: &'static str,
    schema: SchemaRef,
    catalog: String,
    home: Weak<dyn CatalogProvider>,
}

/// One row under construction: a value per column, by column name.
type Row = Vec<(&'static str, Value)>;

#[derive(Clone)]
enum Value {
    Text(Option<String>),
    Int(Option<i32>),
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(Some(s.into()))
}

/// PostgreSQL's information_schema spelling of a column's type, and its `udt_name`.
fn type_names(field: &Field) -> (String, String) {
    let t = pg_type(field);
    (information_schema_name(&t).into(), t.name().to_string())
}

impl View {
    async fn rows(&self) -> Result<Vec<Row>> {
        let Some(home) = self.home.upgrade() else {
            return Ok(Vec::new());
        };
        let mut rows = Vec::new();
        let mut schemas = home.schema_names();
        schemas.sort();
        for schema_name in schemas {
            if self.name == "schemata" {
                rows.push(vec![
                    ("catalog_name", text(&self.catalog)),
                    ("schema_name", text(&schema_name)),
                    ("schema_owner", text("kubepg")),
                ]);
                continue;
            }
            if !matches!(
                self.name,
                "tables" | "columns" | "table_constraints" | "key_column_usage"
            ) {
                continue;
            }
            let Some(schema) = home.schema(&schema_name) else {
                continue;
            };
            let mut tables = schema.table_names();
            tables.sort();
            for table_name in tables {
                let Some(table) = schema.table(&table_name).await? else {
                    continue;
                };
                let base = [
                    ("table_catalog", text(&self.catalog)),
                    ("table_schema", text(&schema_name)),
                    ("table_name", text(&table_name)),
                ];
                if matches!(self.name, "table_constraints" | "key_column_usage") {
                    if has_primary_key(table.as_ref()) {
                        rows.extend(self.key_rows(&schema_name, &table_name));
                    }
                    continue;
                }
                if self.name == "tables" {
                    let kind = match table.table_type() {
                        TableType::View => "VIEW",
                        TableType::Temporary => "LOCAL TEMPORARY",
                        TableType::Base => "BASE TABLE",
                    };
                    let mut row: Row = base.into();
                    row.push(("table_type", text(kind)));
                    rows.push(row);
                    continue;
                }
                for (i, field) in table.schema().fields().iter().enumerate() {
                    let (data_type, udt) = type_names(field);
                    let mut row: Row = base.clone().into();
                    row.extend([
                        ("column_name", text(field.name())),
                        ("ordinal_position", Value::Int(Some(i as i32 + 1))),
                        (
                            "is_nullable",
                            text(if field.is_nullable() { "YES" } else { "NO" }),
                        ),
                        ("data_type", text(data_type)),
                        ("udt_catalog", text(&self.catalog)),
                        ("udt_schema", text("pg_catalog")),
                        ("udt_name", text(udt)),
                        ("is_identity", text("NO")),
                        ("is_generated", text("NEVER")),
                        ("is_updatable", text("NO")),
                    ]);
                    rows.push(row);
                }
            }
        }
        Ok(rows)
    }

    /// The primary key's rows of `table_constraints` (one) or `key_column_usage` (one per column).
    fn key_rows(&self, schema: &str, table: &str) -> Vec<Row> {
        let constraint = [
            ("constraint_catalog", text(&self.catalog)),
            ("constraint_schema", text(schema)),
            ("constraint_name", text(format!("{table}_pkey"))),
            ("table_catalog", text(&self.catalog)),
            ("table_schema", text(schema)),
            ("table_name", text(table)),
        ];
        if self.name == "table_constraints" {
            let mut row: Row = constraint.into();
            row.extend([
                ("constraint_type", text("PRIMARY KEY")),
                ("is_deferrable", text("NO")),
                ("initially_deferred", text("NO")),
                ("enforced", text("YES")),
            ]);
            return vec![row];
        }
        PRIMARY_KEY
            .iter()
            .enumerate()
            .map(|(i, column)| {
                let mut row: Row = constraint.clone().into();
                row.extend([
                    ("column_name", text(*column)),
                    ("ordinal_position", Value::Int(Some(i as i32 + 1))),
                ]);
                row
            })
            .collect()
    }

    fn batch(&self, rows: Vec<Row>) -> Result<RecordBatch> {
        let columns = self
            .schema
            .fields()
            .iter()
            .map(|field| {
                let values = rows.iter().map(|row| {
                    row.iter()
                        .find(|(name, _)| *name == field.name())
                        .map(|(_, v)| v)
                });
                match field.data_type() {
                    DataType::Int32 => Arc::new(
                        values
                            .map(|v| match v {
                                Some(Value::Int(i)) => *i,
                                _ => None,
                            })
                            .collect::<Int32Array>(),
                    ) as ArrayRef,
                    _ => Arc::new(
                        values
                            .map(|v| match v {
                                Some(Value::Text(s)) => s.clone(),
                                _ => None,
                            })
                            .collect::<StringArray>(),
                    ) as ArrayRef,
                }
            })
            .collect();
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

#[async_trait]
impl TableProvider for View {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.batch(self.rows().await?)?;
        MemTable::try_new(self.schema.clone(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}
