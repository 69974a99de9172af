//! Every resource table's primary key `(_cluster, uid)` as PostgreSQL's catalog shows a key:
//! a `<table>_pkey` unique btree index in `pg_class` and `pg_index`, its constraint in
//! `pg_constraint`, and `pg_get_indexdef` / `pg_get_constraintdef` describing them. SQLAlchemy's
//! `get_pk_constraint`, psql's `\d`, pgjdbc's `getPrimaryKeys` (Metabase's sync) and DBeaver's
//! data editor read a key from there; datafusion-pg-catalog shows none.
//!
//! `pg_constraint.conkey`/`confkey` and `pg_index.indkey` are arrays here, as clients unnest
//! them; datafusion-pg-catalog keeps its exported rows' arrays as text.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Builder, ListBuilder, StringArray, new_null_array,
};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TableType,
    TypeSignature, Volatility,
};
use datafusion::physical_plan::ExecutionPlan;

use super::catalog_rows::{int64, namespaces, relations_of, rows};
use super::information_schema::{PRIMARY_KEY, has_primary_key};

/// Where a table's key index and constraint are numbered: its own oid plus these.
/// datafusion-pg-catalog numbers relations upwards from 16384, one per schema and table, so the
/// ranges never meet.
const INDEX_OID: i64 = 1 << 30;
const CONSTRAINT_OID: i64 = (1 << 30) + (1 << 29);

/// btree, as PostgreSQL numbers its access methods.
const BTREE: i64 = 403;

/// The default collation and btree's operator class for text, as PostgreSQL numbers them.
const DEFAULT_COLLATION: i32 = 100;
const TEXT_OPS: i32 = 3126;

/// The `pg_catalog` tables that show keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyTable {
    Class,
    Index,
    Constraint,
}

impl KeyTable {
    pub(super) fn of(name: &str) -> Option<Self> {
        match name {
            "pg_class" => Some(Self::Class),
            "pg_index" => Some(Self::Index),
            "pg_constraint" => Some(Self::Constraint),
            _ => None,
        }
    }

    /// The columns this table shows as arrays (of int2 column numbers or of oids).
    fn array_columns(self) -> &'static [(&'static str, DataType)] {
        match self {
            Self::Class => &[],
            Self::Index => &[
                ("indkey", DataType::Int16),
                ("indcollation", DataType::Int32),
                ("indclass", DataType::Int32),
                ("indoption", DataType::Int16),
            ],
            Self::Constraint => &[("conkey", DataType::Int16), ("confkey", DataType::Int16)],
        }
    }

    /// Columns clients read that the exported table lacks, always NULL (no storage options,
    /// default privileges): pgjdbc and DBeaver read `relacl`, SQLAlchemy `reloptions`.
    fn added_columns(self) -> &'static [&'static str] {
        match self {
            Self::Class => &["reloptions", "relacl"],
            _ => &[],
        }
    }
}

/// A resource table, as one scan of the session's `pg_class` numbered it.
#[derive(Debug, Clone)]
struct Keyed {
    oid: i64,
    namespace: i64,
    schema: String,
    name: String,
    attnums: Vec<i16>,
}

/// What the session's catalog scans last found: the keyed tables by table oid (what
/// `pg_get_indexdef` and `pg_get_constraintdef` describe) and every relation's schema by oid
/// (what `pg_table_is_visible` reads).
#[derive(Debug, Default)]
pub(super) struct Keys {
    keyed: RwLock<HashMap<i64, Keyed>>,
    schemas: RwLock<HashMap<i64, String>>,
}

impl Keys {
    fn record(&self, keyed: &[Keyed], mut schemas: HashMap<i64, String>) {
        schemas.extend(keyed.iter().map(|k| (k.oid + INDEX_OID, k.schema.clone())));
        *self.schemas.write().unwrap_or_else(|e| e.into_inner()) = schemas;
        *self.keyed.write().unwrap_or_else(|e| e.into_inner()) =
            keyed.iter().map(|k| (k.oid, k.clone())).collect();
    }

    /// The schema of relation `oid`, if a scan of `pg_class` has shown it.
    pub(super) fn schema_of(&self, oid: i64) -> Option<String> {
        let map = self.schemas.read().unwrap_or_else(|e| e.into_inner());
        map.get(&oid).cloned()
    }

    fn table(&self, oid: i64, offset: i64) -> Option<Keyed> {
        let map = self.keyed.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(oid - offset)).cloned()
    }

    /// `CREATE UNIQUE INDEX pods_pkey ON public.pods USING btree (_cluster, uid)`, or with
    /// `column` > 0 that key column's name, as PostgreSQL's `pg_get_indexdef` answers.
    fn index_definition(&self, oid: i64, column: i64) -> Option<String> {
        let keyed = self.table(oid, INDEX_OID)?;
        if column > 0 {
            return PRIMARY_KEY.get(column as usize - 1).map(|c| c.to_string());
        }
        Some(format!(
            "CREATE UNIQUE INDEX {}_pkey ON {}.{} USING btree ({})",
            keyed.name,
            keyed.schema,
            keyed.name,
            PRIMARY_KEY.join(", ")
        ))
    }

    fn constraint_definition(&self, oid: i64) -> Option<String> {
        self.table(oid, CONSTRAINT_OID)
            .map(|_| format!("PRIMARY KEY ({})", PRIMARY_KEY.join(", ")))
    }
}

/// `pg_class`, `pg_index` or `pg_constraint` with the keys of the session's resource tables.
#[derive(Debug)]
pub(super) struct WithKeys {
    pub(super) table: KeyTable,
    pub(super) inner: Arc<dyn TableProvider>,
    pub(super) class: Arc<dyn TableProvider>,
    pub(super) namespace: Arc<dyn TableProvider>,
    pub(super) home: Weak<dyn CatalogProvider>,
    pub(super) keys: Arc<Keys>,
}

impl WithKeys {
    /// Every resource table of the session's catalog with its oid and key columns' numbers,
    /// and every relation's schema by oid.
    async fn keyed(&self, state: &dyn Session) -> Result<(Vec<Keyed>, HashMap<i64, String>)> {
        let mut schemas = HashMap::new();
        let Some(home) = self.home.upgrade() else {
            return Ok((vec![], schemas));
        };
        let namespaces = namespaces(&self.namespace, state).await?;
        let mut out = Vec::new();
        for (oid, space, name) in relations_of(&self.class, state).await? {
            let Some(schema) = namespaces.get(&space) else {
                continue;
            };
            schemas.insert(oid, schema.clone());
            let Some(provider) = home.schema(schema) else {
                continue;
            };
            let Some(table) = provider.table(&name).await? else {
                continue;
            };
            if !has_primary_key(table.as_ref()) {
                continue;
            }
            let fields = table.schema();
            let attnums = PRIMARY_KEY
                .iter()
                .map(|c| fields.index_of(c).map(|i| i as i16 + 1))
                .collect::<std::result::Result<_, _>>()?;
            out.push(Keyed {
                oid,
                namespace: space,
                schema: schema.clone(),
                name,
                attnums,
            });
        }
        Ok((out, schemas))
    }

    /// The table's rows (array columns as arrays) followed by one row per key.
    async fn rows(&self, state: &dyn Session) -> Result<RecordBatch> {
        let (keyed, schemas) = self.keyed(state).await?;
        self.keys.record(&keyed, schemas);
        let schema = self.schema();
        let mut batches = Vec::new();
        for batch in rows(&self.inner, state).await? {
            batches.push(self.reshape(&batch, &keyed, &schema)?);
        }
        let added: Vec<HashMap<&str, ScalarValue>> =
            keyed.iter().map(|k| self.key_row(k)).collect();
        batches.push(rows_batch(&schema, &added)?);
        Ok(concat_batches(&schema, &batches)?)
    }

    /// An exported row as this table shows it: arrays as arrays, keyed tables with an index.
    fn reshape(
        &self,
        batch: &RecordBatch,
        keyed: &[Keyed],
        schema: &SchemaRef,
    ) -> Result<RecordBatch> {
        let mut columns = batch.columns().to_vec();
        for (name, element) in self.table.array_columns() {
            let i = batch.schema().index_of(name)?;
            columns[i] = cast(
                &number_arrays(&cast(&columns[i], &DataType::Utf8)?),
                &list_of(element.clone()),
            )?;
        }
        for _ in self.table.added_columns() {
            columns.push(new_null_array(&list_of(DataType::Utf8), batch.num_rows()));
        }
        if self.table == KeyTable::Class {
            let keyed: HashSet<i64> = keyed.iter().map(|k| k.oid).collect();
            let oids = int64(batch, "oid")?;
            let i = batch.schema().index_of("relhasindex")?;
            let has = columns[i].as_boolean();
            let with_keys: datafusion::arrow::array::BooleanArray = oids
                .iter()
                .zip(has.iter())
                .map(|(oid, has)| {
                    Some(has.unwrap_or(false) || oid.is_some_and(|o| keyed.contains(&o)))
                })
                .collect();
            columns[i] = Arc::new(with_keys);
        }
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }

    /// The row `keyed`'s key adds to this table.
    fn key_row(&self, keyed: &Keyed) -> HashMap<&'static str, ScalarValue> {
        let int = |v: i64| ScalarValue::Int64(Some(v));
        let text = |v: &str| ScalarValue::Utf8(Some(v.to_string()));
        let yes = ScalarValue::Boolean(Some(true));
        let no = ScalarValue::Boolean(Some(false));
        let list = |values: Vec<ScalarValue>, element: DataType| {
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &element))
        };
        let keys = list(
            keyed
                .attnums
                .iter()
                .map(|a| ScalarValue::Int16(Some(*a)))
                .collect(),
            DataType::Int16,
        );
        let each = |v: ScalarValue| vec![v; keyed.attnums.len()];
        let name = format!("{}_pkey", keyed.name);
        let count = int(keyed.attnums.len() as i64);
        match self.table {
            KeyTable::Class => HashMap::from([
                ("oid", int(keyed.oid + INDEX_OID)),
                ("relname", text(&name)),
                ("relnamespace", int(keyed.namespace)),
                ("relam", int(BTREE)),
                ("relfilenode", int(keyed.oid + INDEX_OID)),
                ("relpersistence", text("p")),
                ("relkind", text("i")),
                ("relnatts", count),
                ("relispopulated", yes),
                ("relreplident", text("n")),
            ]),
            KeyTable::Index => HashMap::from([
                ("indexrelid", int(keyed.oid + INDEX_OID)),
                ("indrelid", int(keyed.oid)),
                ("indnatts", count.clone()),
                ("indnkeyatts", count),
                ("indisunique", yes.clone()),
                ("indisprimary", yes.clone()),
                ("indimmediate", yes.clone()),
                ("indisvalid", yes.clone()),
                ("indisready", yes.clone()),
                ("indislive", yes),
                ("indkey", keys),
                (
                    "indcollation",
                    list(
                        each(ScalarValue::Int32(Some(DEFAULT_COLLATION))),
                        DataType::Int32,
                    ),
                ),
                (
                    "indclass",
                    list(each(ScalarValue::Int32(Some(TEXT_OPS))), DataType::Int32),
                ),
                (
                    "indoption",
                    list(each(ScalarValue::Int16(Some(0))), DataType::Int16),
                ),
            ]),
            KeyTable::Constraint => HashMap::from([
                ("oid", int(keyed.oid + CONSTRAINT_OID)),
                ("conname", text(&name)),
                ("connamespace", int(keyed.namespace)),
                ("contype", text("p")),
                ("condeferrable", no.clone()),
                ("condeferred", no),
                ("convalidated", yes.clone()),
                ("conrelid", int(keyed.oid)),
                ("conindid", int(keyed.oid + INDEX_OID)),
                ("confupdtype", text(" ")),
                ("confdeltype", text(" ")),
                ("confmatchtype", text(" ")),
                ("conislocal", yes.clone()),
                ("connoinherit", yes),
                ("conkey", keys),
            ]),
        }
    }
}

fn list_of(element: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(element, true)))
}

/// Text arrays as PostgreSQL prints them (`{1,2}`, an int2vector's `1 2`) as arrays of
/// numbers, cast to the column's element type after.
fn number_arrays(text: &ArrayRef) -> ArrayRef {
    let mut builder = ListBuilder::new(Int64Builder::new());
    for value in text.as_string::<i32>().iter() {
        match value {
            None => builder.append_null(),
            Some(v) => {
                for n in v
                    .split(|c: char| !(c.is_ascii_digit() || c == '-'))
                    .filter_map(|n| n.parse::<i64>().ok())
                {
                    builder.values().append_value(n);
                }
                builder.append(true);
            }
        }
    }
    Arc::new(builder.finish())
}

/// `rows` as a batch of `schema`: each column from its value in the row (cast to the column's
/// type), else NULL where the column allows it, else the type's zero (`0`, `false`, `''`).
fn rows_batch(schema: &SchemaRef, rows: &[HashMap<&str, ScalarValue>]) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let values = rows
                .iter()
                .map(|row| match row.get(field.name().as_str()) {
                    Some(v) => v.cast_to(field.data_type()),
                    None if field.is_nullable() => ScalarValue::try_from(field.data_type()),
                    None => ScalarValue::new_default(field.data_type()),
                })
                .collect::<Result<Vec<_>>>()?;
            if values.is_empty() {
                return Ok(datafusion::arrow::array::new_empty_array(field.data_type()));
            }
            ScalarValue::iter_to_array(values)
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

#[async_trait]
impl TableProvider for WithKeys {
    fn schema(&self) -> SchemaRef {
        let inner = self.inner.schema();
        let arrays = self.table.array_columns();
        let fields: Vec<Field> = inner
            .fields()
            .iter()
            .map(|f| match arrays.iter().find(|(name, _)| name == f.name()) {
                Some((name, element)) => Field::new(*name, list_of(element.clone()), true),
                None => f.as_ref().clone(),
            })
            .chain(
                self.table
                    .added_columns()
                    .iter()
                    .map(|name| Field::new(*name, list_of(DataType::Utf8), true)),
            )
            .collect();
        Arc::new(Schema::new_with_metadata(fields, inner.metadata().clone()))
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.rows(state).await?;
        MemTable::try_new(self.schema(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// `pg_get_indexdef(oid [, column, pretty])` and `pg_get_constraintdef(oid [, pretty])` for
/// the session's keys. Another oid's index definition is NULL, as PostgreSQL answers an oid
/// that is no index; its constraint definition stays datafusion-pg-catalog's empty text.
pub(super) fn functions(keys: &Arc<Keys>) -> [ScalarUDF; 2] {
    [
        ScalarUDF::new_from_impl(Definition {
            name: "pg_get_indexdef",
            signature: signature(&[1, 3]),
            keys: keys.clone(),
        }),
        ScalarUDF::new_from_impl(Definition {
            name: "pg_get_constraintdef",
            signature: signature(&[1, 2]),
            keys: keys.clone(),
        }),
    ]
}

/// An oid, then (by arity) `pretty`, or a column number and `pretty`.
fn signature(arities: &[usize]) -> Signature {
    let args = |n: usize| match n {
        1 => vec![DataType::Int64],
        2 => vec![DataType::Int64, DataType::Boolean],
        _ => vec![DataType::Int64, DataType::Int64, DataType::Boolean],
    };
    Signature::one_of(
        arities
            .iter()
            .map(|n| TypeSignature::Exact(args(*n)))
            .collect(),
        Volatility::Stable,
    )
}

#[derive(Debug)]
struct Definition {
    name: &'static str,
    signature: Signature,
    keys: Arc<Keys>,
}

impl PartialEq for Definition {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.keys, &other.keys)
    }
}

impl Eq for Definition {}

impl std::hash::Hash for Definition {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for Definition {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let oids = cast(&arrays[0], &DataType::Int64)?;
        let oids = oids.as_primitive::<Int64Type>();
        let columns = match (self.name, arrays.get(1)) {
            ("pg_get_indexdef", Some(c)) => Some(cast(c, &DataType::Int64)?),
            _ => None,
        };
        let out: StringArray = (0..rows)
            .map(|i| {
                if oids.is_null(i) {
                    return None;
                }
                let oid = oids.value(i);
                match self.name {
                    "pg_get_indexdef" => {
                        let column = columns
                            .as_ref()
                            .map(|c| c.as_primitive::<Int64Type>())
                            .map_or(0, |c| if c.is_null(i) { 0 } else { c.value(i) });
                        self.keys.index_definition(oid, column)
                    }
                    _ => self.keys.constraint_definition(oid).or(Some(String::new())),
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
