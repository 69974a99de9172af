//! Where kubepg answers as PostgreSQL 16 rather than as DataFusion: `version()`, the version
//! numbers `SHOW` reports, the connected user as `session_user`/`current_user`, and `information_schema._pg_expandarray` for pgjdbc's key and index
//! metadata.

use std::sync::Arc;

use datafusion::arrow::array::StructArray;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, create_udf,
};
use datafusion::prelude::SessionContext;

pub const SERVER_VERSION: &str = "16.6";
pub const SERVER_VERSION_NUM: &str = "160006";

fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (kubepg {}) on {}-linux, compiled by rustc",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )
}

/// Registers `version()`, `session_user` and `user` answering like PostgreSQL.
pub fn register(ctx: &SessionContext, user: &str) {
    // datafusion-pg-catalog answers `postgres` whoever connected; PostgreSQL names the user.
    for name in ["session_user", "user"] {
        let user = user.to_string();
        ctx.register_udf(create_udf(
            name,
            vec![],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(user.clone()))))),
        ));
    }
    let version = version_string();
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                version.clone(),
            ))))
        }),
    ));
    // psql's `\df` and pgjdbc's getFunctions. kubepg's own functions are not in pg_proc, so
    // these only ever describe the built-in entries it copies from PostgreSQL, whose signatures
    // it does not keep: visible, with unknown (NULL) result and arguments.
    ctx.register_udf(create_udf(
        "pg_function_is_visible",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))),
    ));
    for name in ["pg_get_function_result", "pg_get_function_arguments"] {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Int64],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
        ));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(ExpandArray {
        signature: Signature::any(1, Volatility::Immutable),
    }));
}

/// `_pg_expandarray(array)`: in PostgreSQL a set-returning function of `(x, n)` rows that pgjdbc
/// applies to `pg_index.indkey` for getPrimaryKeys and getIndexInfo. Kubernetes objects have
/// no keys or indexes, so `pg_index` is empty and no row ever reaches it; it exists so those
/// queries plan and answer with no rows, as PostgreSQL does for a table without keys.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExpandArray {
    signature: Signature,
}

fn expanded_fields() -> Fields {
    Fields::from(vec![
        Field::new("x", DataType::Int32, true),
        Field::new("n", DataType::Int32, true),
    ])
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        "_pg_expandarray"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Struct(expanded_fields()))
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        Ok(ColumnarValue::Array(Arc::new(StructArray::new_null(
            expanded_fields(),
            args.number_rows,
        ))))
    }
}
