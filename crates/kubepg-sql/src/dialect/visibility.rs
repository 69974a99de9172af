//! `pg_table_is_visible(oid)` as PostgreSQL answers it: whether the relation's schema is on
//! the session's `search_path` (or is `pg_catalog`, always searched). datafusion-pg-catalog's
//! answers true for every relation, so SQLAlchemy's `get_table_names()` listed kubepg's own
//! `kubepg.clusters` among the tables of `public`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use super::primary_keys::Keys;
use crate::settings::SessionSettings;

/// Registers the session's `pg_table_is_visible`, reading relations' schemas from what its
/// `pg_class` scans found; an oid no scan has shown is NULL, as PostgreSQL answers an oid
/// that is no relation.
pub(super) fn register(ctx: &SessionContext, keys: Arc<Keys>, settings: Arc<SessionSettings>) {
    ctx.register_udf(create_udf(
        "pg_table_is_visible",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let path = search_path(&settings.get("search_path").unwrap_or_default());
            let oids = ColumnarValue::values_to_arrays(args)?;
            let oids = cast(&oids[0], &DataType::Int64)?;
            let oids = oids.as_primitive::<Int64Type>();
            let visible: BooleanArray = (0..oids.len())
                .map(|i| {
                    if oids.is_null(i) {
                        return None;
                    }
                    let schema = keys.schema_of(oids.value(i))?;
                    Some(schema == "pg_catalog" || path.contains(&schema))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(visible)))
        }),
    ));
}

/// The schemas a `search_path` value names (`"$user", public` → `public`).
pub(super) fn search_path(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty() && s != "$user")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::search_path;

    #[test]
    fn search_path_names_its_schemas() {
        assert_eq!(search_path(r#""$user", public"#), ["public"]);
        assert_eq!(search_path("kubepg,public"), ["kubepg", "public"]);
    }
}
