//! Functions that name types: `to_regtype(text)` (psycopg 3 looks types up with it, so
//! SQLAlchemy's psycopg dialect cannot connect without it) and `pg_typeof(any)`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, AsArray, Int32Array};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, create_udf,
};
use datafusion::prelude::SessionContext;
use postgres_types::Type;

use super::types::pg_type;

pub fn register(ctx: &SessionContext) {
    ctx.register_udf(create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(|args| {
            let scalar = matches!(args[0], ColumnarValue::Scalar(_));
            let names = args[0].to_array(1)?;
            let oids: Int32Array = names
                .as_string::<i32>()
                .iter()
                .map(|n| n.and_then(type_oid))
                .collect();
            let out: ArrayRef = Arc::new(oids);
            Ok(if scalar {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
            } else {
                ColumnarValue::Array(out)
            })
        }),
    ));
    ctx.register_udf(ScalarUDF::new_from_impl(TypeOf {
        signature: Signature::any(1, Volatility::Immutable),
    }));
}

/// The built-in types PostgreSQL knows, by name (`int4`, `_int4`), with the SQL spellings
/// `to_regtype` also reads.
static TYPES: LazyLock<HashMap<String, u32>> = LazyLock::new(|| {
    let mut names: HashMap<String, u32> = (0..10_000)
        .filter_map(Type::from_oid)
        .map(|t| (t.name().to_string(), t.oid()))
        .collect();
    for (alias, name) in [
        ("integer", "int4"),
        ("int", "int4"),
        ("smallint", "int2"),
        ("bigint", "int8"),
        ("boolean", "bool"),
        ("real", "float4"),
        ("double precision", "float8"),
        ("decimal", "numeric"),
        ("character varying", "varchar"),
        ("character", "bpchar"),
        ("char", "bpchar"),
        ("timestamp with time zone", "timestamptz"),
        ("timestamp without time zone", "timestamp"),
        ("time with time zone", "timetz"),
        ("time without time zone", "time"),
    ] {
        if let Some(oid) = names.get(name).copied() {
            names.insert(alias.to_string(), oid);
        }
    }
    names
});

/// `to_regtype(name)`: the type's oid, or NULL for a name no type has.
fn type_oid(name: &str) -> Option<i32> {
    let name = name.trim().to_ascii_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    let oid = match name.strip_suffix("[]") {
        Some(element) => {
            let element = Type::from_oid(*TYPES.get(element.trim())?)?;
            TYPES.get(&format!("_{}", element.name()))
        }
        None => TYPES.get(name),
    }?;
    i32::try_from(*oid).ok()
}

/// `pg_typeof(x)`: the type of its argument as PostgreSQL names it (`integer`, `jsonb`,
/// `timestamp with time zone`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct TypeOf {
    signature: Signature,
}

impl ScalarUDFImpl for TypeOf {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let field: &FieldRef = &args.arg_fields[0];
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(sql_name(
            &pg_type(field),
        )))))
    }
}

/// A type's name as `format_type()` prints it.
fn sql_name(t: &Type) -> String {
    if let postgres_types::Kind::Array(element) = t.kind() {
        return format!("{}[]", sql_name(element));
    }
    match *t {
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::BOOL => "boolean",
        Type::VARCHAR => "character varying",
        Type::BPCHAR => "character",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        Type::TIMESTAMP => "timestamp without time zone",
        Type::TIMETZ => "time with time zone",
        Type::TIME => "time without time zone",
        _ => t.name(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each expected oid is what PostgreSQL 15's `to_regtype` answers.
    #[test]
    fn type_names_resolve_as_in_postgresql() {
        assert_eq!(type_oid("jsonb"), Some(3802));
        assert_eq!(type_oid("Integer"), Some(23));
        assert_eq!(type_oid("pg_catalog.int8"), Some(20));
        assert_eq!(type_oid("text[]"), Some(1009));
        assert_eq!(type_oid("timestamp with time zone"), Some(1184));
        assert_eq!(type_oid("hstore"), None);
        assert_eq!(sql_name(&Type::INT4_ARRAY), "integer[]");
    }
}
