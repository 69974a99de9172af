//! The columns of every table: the common metadata columns in their fixed order, typed per-kind
//! columns, and the rest of the body as jsonb.
//!
//! A column knows its SQL type, how to read its value out of an object, and — when the API
//! server can filter on it — the field path to send in a field selector.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::Value;

/// Field metadata key marking the PostgreSQL type a column should be described as.
pub const PG_TYPE_KEY: &str = "kubepg.pg_type";

/// SQL types kubepg columns have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Text,
    Int,
    Float,
    Bool,
    Timestamp,
    Json,
    /// A CPU quantity as cores (float8).
    Cores,
    /// A memory or storage quantity as bytes (int8).
    Bytes,
}

impl ColType {
    pub fn arrow(self) -> DataType {
        match self {
            ColType::Text | ColType::Json => DataType::Utf8,
            ColType::Int | ColType::Bytes => DataType::Int64,
            ColType::Float | ColType::Cores => DataType::Float64,
            ColType::Bool => DataType::Boolean,
            ColType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }

    pub fn pg_name(self) -> &'static str {
        match self {
            ColType::Text => "text",
            ColType::Json => "jsonb",
            ColType::Int | ColType::Bytes => "int8",
            ColType::Float | ColType::Cores => "float8",
            ColType::Bool => "bool",
            ColType::Timestamp => "timestamptz",
        }
    }
}

/// How a column's value is read from an object.
#[derive(Debug, Clone)]
pub enum Getter {
    /// The cluster the object came from.
    Cluster,
    /// `apiVersion`, or the resource's when list items omit it.
    ApiVersion,
    /// `kind`, or the resource's when list items omit it.
    Kind,
    /// A value at a path of object keys and array indexes.
    Path(Vec<PathSeg>),
    /// The value at a path, or a default when absent (status counters Kubernetes omits at 0).
    PathOr(Vec<PathSeg>, Value),
    /// Computed from the whole object.
    Computed(fn(&Value) -> Value),
    /// Every top-level field not claimed by another column (kinds kubepg has no shape for).
    Rest,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

impl Getter {
    /// `Getter::Path` from a dotted path (`status.nodeInfo.kubeletVersion`).
    pub fn path(dotted: &str) -> Self {
        Getter::Path(segments(dotted))
    }

    fn path_or(dotted: &str, default: Value) -> Self {
        Getter::PathOr(segments(dotted), default)
    }
}

fn segments(dotted: &str) -> Vec<PathSeg> {
    dotted
        .split('.')
        .map(|k| PathSeg::Key(k.to_string()))
        .collect()
}

/// Follows `path` into `value`.
pub fn lookup<'a>(value: &'a Value, path: &[PathSeg]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, seg| match seg {
        PathSeg::Key(k) => v.get(k),
        PathSeg::Index(i) => v.get(*i),
    })
}

#[derive(Debug, Clone)]
pub struct ColumnSpec {
    pub name: String,
    pub ty: ColType,
    pub get: Getter,
    /// The field-selector path the API server evaluates exactly like this column, if any.
    pub field_path: Option<String>,
    /// Never NULL: the primary key's columns, which PostgreSQL makes NOT NULL and clients read
    /// as such (pg_attribute.attnotnull, information_schema's is_nullable, JDBC's NULLABLE).
    pub not_null: bool,
}

impl ColumnSpec {
    pub(crate) fn new(name: &str, ty: ColType, get: Getter) -> Self {
        Self {
            name: name.to_string(),
            ty,
            get,
            field_path: None,
            not_null: false,
        }
    }

    pub(crate) fn not_null(mut self) -> Self {
        self.not_null = true;
        self
    }

    pub(crate) fn with_field(mut self, path: &str) -> Self {
        self.field_path = Some(path.to_string());
        self
    }

    pub fn field(&self) -> Field {
        if self.ty == ColType::Json {
            return jsonb_field(&self.name, !self.not_null);
        }
        Field::new(&self.name, self.ty.arrow(), !self.not_null)
    }
}

/// A JSON text field that clients are told is jsonb.
pub fn jsonb_field(name: &str, nullable: bool) -> Field {
    Field::new(name, ColType::Json.arrow(), nullable)
        .with_metadata([(PG_TYPE_KEY.to_string(), ColType::Json.pg_name().to_string())].into())
}

/// Whether `field` is described to clients as jsonb ([`jsonb_field`]).
pub fn is_jsonb(field: &Field) -> bool {
    field
        .metadata()
        .get(PG_TYPE_KEY)
        .is_some_and(|t| t == ColType::Json.pg_name())
}

pub fn schema_of(columns: &[ColumnSpec]) -> SchemaRef {
    Arc::new(Schema::new(
        columns.iter().map(ColumnSpec::field).collect::<Vec<_>>(),
    ))
}

/// `camelCase` → `snake_case`, the way top-level fields become column names.
pub fn snake_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else {
            out.push(if c == '-' || c == '.' { '_' } else { c });
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

pub(crate) fn text(dotted: &str) -> ColumnSpec {
    ColumnSpec::new(
        &snake_case(dotted.rsplit('.').next().unwrap_or(dotted)),
        ColType::Text,
        Getter::path(dotted),
    )
}

pub(crate) fn col(name: &str, ty: ColType, dotted: &str) -> ColumnSpec {
    ColumnSpec::new(name, ty, Getter::path(dotted))
}

/// A counter Kubernetes omits while it is zero.
pub(crate) fn count(name: &str, dotted: &str) -> ColumnSpec {
    ColumnSpec::new(name, ColType::Int, Getter::path_or(dotted, Value::from(0)))
}

pub(crate) fn computed(name: &str, ty: ColType, f: fn(&Value) -> Value) -> ColumnSpec {
    ColumnSpec::new(name, ty, Getter::Computed(f))
}

pub(crate) fn with_field(c: ColumnSpec, path: &str) -> ColumnSpec {
    c.with_field(path)
}

pub(crate) fn rest() -> ColumnSpec {
    ColumnSpec::new("body", ColType::Json, Getter::Rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_fields_become_snake_case_columns() {
        assert_eq!(snake_case("nodeName"), "node_name");
        assert_eq!(snake_case("podIP"), "pod_ip");
        assert_eq!(snake_case("stringData"), "string_data");
        assert_eq!(snake_case("kubeletVersion"), "kubelet_version");
    }
}
