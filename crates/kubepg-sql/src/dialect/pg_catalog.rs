//! kubepg's corrections to datafusion-pg-catalog's `pg_catalog`, as a wrapping schema:
//! - `pg_attribute`: it derives `atttypid` from the Arrow type alone, so kubepg's JSON columns
//!   (Utf8 marked `jsonb` in the field metadata) would be `text` to psql's `\d`, pgjdbc's
//!   `getColumns` and DBeaver, while their results say `jsonb`;
//! - `pg_settings`: the session's settings registry, which `SHOW ALL` and `current_setting()`
//!   read too (pgjdbc reads `max_index_keys` here before answering `getImportedKeys`);
//! - `pg_class`, `pg_index`, `pg_constraint`: every resource table's primary key
//!   (`primary_keys.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use super::catalog_rows::{int64, namespaces, relations_of, rows, strings};
use super::primary_keys::{self, KeyTable, Keys, WithKeys};
use super::{regclass, visibility};
use crate::columns::is_jsonb;
use crate::settings::SessionSettings;

/// Replaces the `pg_catalog` schema of `catalog` with the corrected one.
pub fn install(ctx: &SessionContext, catalog: &str, settings: Arc<SessionSettings>) -> Result<()> {
    let keys = Arc::new(Keys::default());
    let provider = ctx
        .catalog(catalog)
        .ok_or_else(|| DataFusionError::Plan(format!("no catalog {catalog}")))?;
    let inner = provider
        .schema("pg_catalog")
        .ok_or_else(|| DataFusionError::Plan("pg_catalog is not set up".into()))?;
    regclass::register(ctx, inner.clone(), settings.clone());
    provider.register_schema(
        "pg_catalog",
        Arc::new(PgCatalog {
            inner,
            home: Arc::downgrade(&provider),
            settings: settings.clone(),
            keys: keys.clone(),
        }),
    )?;
    for function in primary_keys::functions(&keys) {
        ctx.register_udf(function);
    }
    visibility::register(ctx, keys, settings);
    Ok(())
}

#[derive(Debug)]
struct PgCatalog {
    inner: Arc<dyn SchemaProvider>,
    /// The session's own catalog, whose tables carry the column metadata (weak: it owns this).
    home: Weak<dyn datafusion::catalog::CatalogProvider>,
    settings: Arc<SessionSettings>,
    keys: Arc<Keys>,
}

#[async_trait]
impl SchemaProvider for PgCatalog {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.extend(EMPTY_VIEWS.iter().map(|(name, _)| name.to_string()));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some((_, columns)) = EMPTY_VIEWS.iter().find(|(n, _)| *n == name) {
            return Ok(Some(empty_view(columns)?));
        }
        let table = self.inner.table(name).await?;
        if name == "pg_settings"
            && let Some(table) = table
        {
            return Ok(Some(self.pg_settings(table.schema())?));
        }
        if let Some(kind) = KeyTable::of(name) {
            let (Some(inner), Some(class), Some(namespace)) = (
                table,
                self.inner.table("pg_class").await?,
                self.inner.table("pg_namespace").await?,
            ) else {
                return Ok(None);
            };
            return Ok(Some(Arc::new(WithKeys {
                table: kind,
                inner,
                class,
                namespace,
                home: self.home.clone(),
                keys: self.keys.clone(),
            })));
        }
        if name != "pg_attribute" {
            return Ok(table);
        }
        let (Some(attribute), Some(class), Some(namespace)) = (
            table,
            self.inner.table("pg_class").await?,
            self.inner.table("pg_namespace").await?,
        ) else {
            return Ok(None);
        };
        Ok(Some(Arc::new(PgAttribute {
            attribute,
            class,
            namespace,
            home: self.home.clone(),
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        EMPTY_VIEWS.iter().any(|(n, _)| *n == name) || self.inner.table_exist(name)
    }
}

/// Catalog views datafusion-pg-catalog lacks that DBeaver's navigator reads, with PostgreSQL's
/// columns: kubepg has no row-level security policies and no extensions to install, so they
/// are empty, as on a PostgreSQL without either. `name` columns are text, as kubepg's are.
const EMPTY_VIEWS: &[(&str, &[(&str, &str)])] = &[
    (
        "pg_policies",
        &[
            ("schemaname", "text"),
            ("tablename", "text"),
            ("policyname", "text"),
            ("permissive", "text"),
            ("roles", "text[]"),
            ("cmd", "text"),
            ("qual", "text"),
            ("with_check", "text"),
        ],
    ),
    (
        "pg_available_extensions",
        &[
            ("name", "text"),
            ("default_version", "text"),
            ("installed_version", "text"),
            ("comment", "text"),
        ],
    ),
];

fn empty_view(columns: &[(&str, &str)]) -> Result<Arc<dyn TableProvider>> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, ty)| {
            let ty = match *ty {
                "text[]" => DataType::new_list(DataType::Utf8, true),
                _ => DataType::Utf8,
            };
            Field::new(*name, ty, true)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![]])?))
}

impl PgCatalog {
    /// `pg_settings` with the shape datafusion-pg-catalog gives it and the session's values.
    fn pg_settings(&self, schema: SchemaRef) -> Result<Arc<dyn TableProvider>> {
        let rows = self.settings.rows();
        let text = |f: &dyn Fn(&crate::settings::SettingRow) -> Option<String>| -> ArrayRef {
            Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
        };
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                let column = match field.name().as_str() {
                    "name" => text(&|r| Some(r.name.clone())),
                    "setting" => text(&|r| Some(r.setting.clone())),
                    "unit" => text(&|r| r.unit.map(String::from)),
                    "category" => text(&|r| Some(r.category.clone())),
                    "short_desc" => text(&|r| Some(r.description.clone())),
                    "context" => text(&|r| Some(r.context.to_string())),
                    "vartype" => text(&|r| Some(r.vartype.to_string())),
                    "source" => text(&|r| Some(r.source.to_string())),
                    "boot_val" => text(&|r| Some(r.boot_val.clone())),
                    "reset_val" => text(&|r| Some(r.reset_val.clone())),
                    _ => return Ok(new_null_array(field.data_type(), rows.len())),
                };
                cast(&column, field.data_type())
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

#[derive(Debug)]
struct PgAttribute {
    attribute: Arc<dyn TableProvider>,
    class: Arc<dyn TableProvider>,
    namespace: Arc<dyn TableProvider>,
    home: Weak<dyn datafusion::catalog::CatalogProvider>,
}

impl PgAttribute {
    /// (schema, table, column) of every jsonb column in the session's catalog.
    async fn jsonb_columns(&self) -> Result<HashSet<(String, String, String)>> {
        let mut out = HashSet::new();
        let Some(home) = self.home.upgrade() else {
            return Ok(out);
        };
        for schema_name in home.schema_names() {
            let Some(schema) = home.schema(&schema_name) else {
                continue;
            };
            if schema_name == "pg_catalog" {
                continue;
            }
            for table_name in schema.table_names() {
                let Some(table) = schema.table(&table_name).await? else {
                    continue;
                };
                for field in table.schema().fields() {
                    if is_jsonb(field) {
                        out.insert((
                            schema_name.clone(),
                            table_name.clone(),
                            field.name().clone(),
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    async fn corrected(&self, state: &dyn Session) -> Result<Vec<RecordBatch>> {
        let jsonb = self.jsonb_columns().await?;
        let namespaces = namespaces(&self.namespace, state).await?;
        let mut relations = HashMap::new();
        for (oid, space, name) in relations_of(&self.class, state).await? {
            if let Some(schema) = namespaces.get(&space) {
                relations.insert(oid, (schema.clone(), name));
            }
        }
        let text = i64::from(postgres_types::Type::TEXT.oid());
        let json = i64::from(postgres_types::Type::JSONB.oid());
        let mut out = Vec::new();
        for batch in rows(&self.attribute, state).await? {
            let relids = int64(&batch, "attrelid")?;
            let names = strings(&batch, "attname")?;
            let types = int64(&batch, "atttypid")?;
            let corrected: Int64Array = types
                .iter()
                .zip(relids.iter())
                .zip(names)
                .map(|((typ, relid), name)| {
                    match (typ, relid.and_then(|r| relations.get(&r)), name) {
                        (Some(t), Some((schema, table)), Some(name))
                            if t == text
                                && jsonb.contains(&(
                                    schema.clone(),
                                    table.clone(),
                                    name.clone(),
                                )) =>
                        {
                            Some(json)
                        }
                        (typ, _, _) => typ,
                    }
                })
                .collect();
            let index = batch.schema().index_of("atttypid")?;
            let original = batch.column(index).data_type().clone();
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            columns[index] = cast(&(Arc::new(corrected) as ArrayRef), &original)?;
            out.push(RecordBatch::try_new(batch.schema(), columns)?);
        }
        Ok(out)
    }
}

#[async_trait]
impl TableProvider for PgAttribute {
    fn schema(&self) -> SchemaRef {
        self.attribute.schema()
    }

    fn table_type(&self) -> TableType {
        self.attribute.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batches = self.corrected(state).await?;
        MemTable::try_new(self.schema(), vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}
