//! PostgreSQL's `like_escape(pattern, escape)`: a LIKE pattern written with another escape
//! character, as written with a backslash, the only escape DataFusion's LIKE takes. The
//! statement pipeline turns `x LIKE p ESCAPE '/'` into `x LIKE like_escape(p, '/')`, so a
//! pattern that is a bound parameter (SQLAlchemy's schema listing through psycopg 3) works
//! as a literal one does.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use super::call;
use crate::error::Error;
use crate::sqlstate::SqlState;

pub fn register(ctx: &SessionContext) {
    ctx.register_udf(create_udf(
        "like_escape",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(like_escape),
    ));
}

fn like_escape(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let patterns = cast(&arrays[0], &DataType::Utf8)?;
    let escapes = cast(&arrays[1], &DataType::Utf8)?;
    let (patterns, escapes) = (patterns.as_string::<i32>(), escapes.as_string::<i32>());
    let out = (0..patterns.len())
        .map(|i| {
            if patterns.is_null(i) || escapes.is_null(i) {
                return Ok(None);
            }
            let mut escape = escapes.value(i).chars();
            match (escape.next(), escape.next()) {
                (None, _) => Ok(Some(patterns.value(i).to_string())),
                (Some(e), None) => backslash_escaped(patterns.value(i), e).map(Some),
                _ => Err(invalid("invalid escape string")),
            }
        })
        .collect::<Result<StringArray>>()?;
    call::answer(Arc::new(out), scalar)
}

fn invalid(message: &str) -> datafusion::error::DataFusionError {
    Error::refused(SqlState::InvalidEscapeSequence, message).into_datafusion()
}

/// `pattern` written with `escape` as written with a backslash; a pattern ending in its
/// escape is refused, as PostgreSQL refuses it.
pub(crate) fn backslash_escaped(pattern: &str, escape: char) -> Result<String> {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == escape {
            let next = chars
                .next()
                .ok_or_else(|| invalid("LIKE pattern must not end with escape character"))?;
            out.push('\\');
            out.push(next);
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_escape_becomes_a_backslash() {
        assert_eq!(backslash_escaped(r"a\b//", '/').unwrap(), r"a\\b\/");
        assert_eq!(backslash_escaped("pg/_%", '/').unwrap(), r"pg\_%");
        assert!(backslash_escaped("a/", '/').is_err());
    }
}
