//! PostgreSQL's system information and formatting functions that clients call in their
//! metadata queries (psql's `\dt+` and `\dT`, DBeaver's navigator, pgAdmin-style dashboards),
//! answered as they are on a server whose tables live elsewhere: there is no storage, no
//! standby, no tablespace and no comment, so sizes are 0, `pg_is_in_recovery()` is false, and
//! descriptions are NULL. datafusion-pg-catalog has none of them, or (`pg_total_relation_size`,
//! `pg_relation_size`) takes no `bigint` oid, which DBeaver passes. No session holds an advisory
//! lock, so `pg_advisory_unlock_all()`, which asyncpg's pool runs when a connection is released,
//! has nothing to release; it answers void, printed empty. kubepg's catalog holds no
//! expression trees (no defaults, index predicates or check constraints), so `pg_get_expr()`
//! has none to decompile: NULL stays NULL, which is how pgjdbc's getIndexInfo and Metabase's
//! describe-indexes tell a plain index from a partial one (datafusion-pg-catalog's answers
//! `''` for NULL).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarFunctionImplementation, ScalarUDF, ScalarUDFImpl,
    Signature, TypeSignature, Volatility, create_udf,
};
use datafusion::prelude::SessionContext;

pub fn register(ctx: &SessionContext) {
    let constant = |value: ScalarValue| -> ScalarFunctionImplementation {
        Arc::new(move |_| Ok(ColumnarValue::Scalar(value.clone())))
    };
    let functions: [(&str, Vec<DataType>, DataType, ScalarValue); 12] = [
        (
            "pg_is_in_recovery",
            vec![],
            DataType::Boolean,
            ScalarValue::Boolean(Some(false)),
        ),
        (
            "pg_type_is_visible",
            vec![DataType::Int64],
            DataType::Boolean,
            ScalarValue::Boolean(Some(true)),
        ),
        (
            "pg_tablespace_location",
            vec![DataType::Int64],
            DataType::Utf8,
            ScalarValue::Utf8(Some(String::new())),
        ),
        (
            "pg_database_size",
            vec![DataType::Utf8],
            DataType::Int64,
            ScalarValue::Int64(Some(0)),
        ),
        (
            "col_description",
            vec![DataType::Int64, DataType::Int64],
            DataType::Utf8,
            ScalarValue::Utf8(None),
        ),
        (
            "obj_description",
            vec![DataType::Int64, DataType::Utf8],
            DataType::Utf8,
            ScalarValue::Utf8(None),
        ),
        (
            "shobj_description",
            vec![DataType::Int64, DataType::Utf8],
            DataType::Utf8,
            ScalarValue::Utf8(None),
        ),
        (
            "pg_table_size",
            vec![DataType::Int64],
            DataType::Int64,
            ScalarValue::Int64(Some(0)),
        ),
        (
            "pg_indexes_size",
            vec![DataType::Int64],
            DataType::Int64,
            ScalarValue::Int64(Some(0)),
        ),
        (
            "pg_total_relation_size",
            vec![DataType::Int64],
            DataType::Int64,
            ScalarValue::Int64(Some(0)),
        ),
        (
            "pg_relation_size",
            vec![DataType::Int64],
            DataType::Int64,
            ScalarValue::Int64(Some(0)),
        ),
        (
            "pg_advisory_unlock_all",
            vec![],
            DataType::Utf8,
            ScalarValue::Utf8(Some(String::new())),
        ),
    ];
    for (name, args, result, value) in functions {
        ctx.register_udf(create_udf(
            name,
            args,
            result,
            Volatility::Stable,
            constant(value),
        ));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(GetExpr {
        signature: Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64, DataType::Boolean]),
            ],
            Volatility::Stable,
        ),
    }));
    ctx.register_udf(create_udf(
        "pg_size_pretty",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args| {
            map(args, |a| {
                a.as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.map(size_pretty))
                    .collect::<StringArray>()
            })
        }),
    ));
    ctx.register_udf(create_udf(
        "quote_literal",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args| {
            map(args, |a| {
                a.as_string::<i32>()
                    .iter()
                    .map(|v| v.map(quote_literal))
                    .collect::<StringArray>()
            })
        }),
    ));
}

/// `pg_get_expr(expr, relation[, pretty])`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct GetExpr {
    signature: Signature,
}

impl ScalarUDFImpl for GetExpr {
    fn name(&self) -> &str {
        "pg_get_expr"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(args.args[0].clone())
    }
}

/// Applies `f` to the one argument, as an array or as a scalar.
fn map(args: &[ColumnarValue], f: impl Fn(&ArrayRef) -> StringArray) -> Result<ColumnarValue> {
    let scalar = matches!(args[0], ColumnarValue::Scalar(_));
    let out: ArrayRef = Arc::new(f(&args[0].to_array(1)?));
    Ok(if scalar {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
    } else {
        ColumnarValue::Array(out)
    })
}

/// `pg_size_pretty(bigint)` as PostgreSQL 15 computes it: bytes below 10 kB, then each unit up
/// to PB while the value stays under 20 × 1024 − 1 of it, rounded half away from zero.
fn size_pretty(size: i64) -> String {
    // (name, limit, rounded, bits of the unit)
    const UNITS: [(&str, i64, bool, u32); 6] = [
        ("bytes", 10 * 1024, false, 0),
        ("kB", 20 * 1024 - 1, true, 10),
        ("MB", 20 * 1024 - 1, true, 20),
        ("GB", 20 * 1024 - 1, true, 30),
        ("TB", 20 * 1024 - 1, true, 40),
        ("PB", 20 * 1024 - 1, true, 50),
    ];
    let mut size = size;
    for (i, (name, limit, round, bits)) in UNITS.iter().enumerate() {
        let Some(next) = UNITS.get(i + 1) else {
            return format!("{} {name}", if *round { half_rounded(size) } else { size });
        };
        if size.unsigned_abs() < *limit as u64 {
            return format!("{} {name}", if *round { half_rounded(size) } else { size });
        }
        let shift = next.3 - bits - u32::from(next.2) + u32::from(*round);
        size /= 1i64 << shift;
    }
    unreachable!("the last unit returns")
}

fn half_rounded(x: i64) -> i64 {
    (x + if x < 0 { -1 } else { 1 }) / 2
}

/// `quote_literal(text)`: single quotes doubled; with a backslash, an `E''` string whose
/// backslashes are doubled too, as PostgreSQL writes it.
pub(super) fn quote_literal(s: &str) -> String {
    let body = s.replace('\'', "''");
    if s.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_postgresql_prints_them() {
        // PostgreSQL 15's regression values (dbsize.out) and edges checked against it.
        for (size, want) in [
            (10, "10 bytes"),
            (1000, "1000 bytes"),
            (1_000_000, "977 kB"),
            (1_000_000_000, "954 MB"),
            (1_000_000_000_000, "931 GB"),
            (1_000_000_000_000_000, "909 TB"),
            (10_239, "10239 bytes"),
            (10_240, "10 kB"),
            (-10_240, "-10 kB"),
            (10_485_247, "10239 kB"),
            (10_485_248, "10 MB"),
            (20_971_519, "20 MB"),
            (i64::MAX, "8192 PB"),
        ] {
            assert_eq!(size_pretty(size), want, "{size}");
        }
    }

    #[test]
    fn literals_are_quoted_as_postgresql_quotes_them() {
        assert_eq!(quote_literal("a'b"), "'a''b'");
        assert_eq!(quote_literal(r"a\b"), r"E'a\\b'");
        assert_eq!(quote_literal(""), "''");
    }
}
