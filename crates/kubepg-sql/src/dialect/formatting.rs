//! `format()` as PostgreSQL defines it: `%s`, `%I` (an identifier, quoted when it must be),
//! `%L` (a literal), `%%`, with argument positions (`%2$s`) and widths (`%-10s`). Metabase's
//! column sync builds type names and `regclass` inputs with it; DataFusion has none.
//!
//! `quote_ident()` too: datafusion-pg-catalog's leaves upper-case and non-ASCII names bare,
//! which then fold to other names; PostgreSQL quotes every name that is not lower-case ASCII
//! letters, digits and underscores. Its reserved-word check is kept.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::quote_ident_udf::create_quote_ident_udf;

use super::admin_functions::quote_literal;

pub fn register(ctx: &SessionContext) {
    let quote_ident = ScalarUDF::new_from_impl(QuoteIdent {
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        reserved: create_quote_ident_udf(),
    });
    ctx.register_udf(quote_ident.clone());
    ctx.register_udf(ScalarUDF::new_from_impl(Format {
        signature: Signature::variadic_any(Volatility::Stable),
        quote_ident,
    }));
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct QuoteIdent {
    signature: Signature,
    /// datafusion-pg-catalog's `quote_ident()`, for which lower-case names are reserved words.
    reserved: ScalarUDF,
}

impl ScalarUDFImpl for QuoteIdent {
    fn name(&self) -> &str {
        "quote_ident"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let names = args.args[0].to_array(rows)?;
        let checked = self.reserved.invoke_with_args(args)?.to_array(rows)?;
        let checked = checked.as_string::<i32>();
        let out: StringArray = names
            .as_string::<i32>()
            .iter()
            .zip(checked.iter())
            .map(|(name, checked)| {
                let name = name?;
                let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                Some(if plain {
                    checked?.to_string()
                } else {
                    format!("\"{}\"", name.replace('"', "\"\""))
                })
            })
            .collect();
        let array: ArrayRef = Arc::new(out);
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
        } else {
            ColumnarValue::Array(array)
        })
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Format {
    signature: Signature,
    /// `quote_ident()`, so that `%I` quotes exactly as it does.
    quote_ident: ScalarUDF,
}

fn invalid(message: String) -> DataFusionError {
    DataFusionError::Execution(message)
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let texts: Vec<StringArray> = args
            .args
            .iter()
            .map(|a| {
                let array = a.to_array(rows)?;
                Ok(cast(&array, &DataType::Utf8)?.as_string::<i32>().clone())
            })
            .collect::<Result<_>>()?;
        let Some((template, values)) = texts.split_first() else {
            return Err(invalid("format() needs a format string".into()));
        };
        let identifiers = |i: usize| -> Result<StringArray> {
            let quoted = self.quote_ident.invoke_with_args(ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(Arc::new(values[i].clone()))],
                arg_fields: vec![Arc::new(datafusion::arrow::datatypes::Field::new(
                    "ident",
                    DataType::Utf8,
                    true,
                ))],
                number_rows: rows,
                return_field: Arc::new(datafusion::arrow::datatypes::Field::new(
                    "quote_ident",
                    DataType::Utf8,
                    true,
                )),
                config_options: args.config_options.clone(),
            })?;
            Ok(quoted.to_array(rows)?.as_string::<i32>().clone())
        };
        let needs_identifiers = template.iter().flatten().any(|t| t.contains('I'));
        let quoted: Vec<Option<StringArray>> = (0..values.len())
            .map(|i| needs_identifiers.then(|| identifiers(i)).transpose())
            .collect::<Result<_>>()?;
        let mut out = StringBuilder::with_capacity(rows, rows * 16);
        for row in 0..rows {
            if template.is_null(row) {
                out.append_null();
                continue;
            }
            out.append_value(format_row(template.value(row), |i, kind| {
                let value = values
                    .get(i)
                    .ok_or_else(|| invalid("too few arguments for format()".into()))?;
                let text = (!value.is_null(row)).then(|| value.value(row));
                Ok(match kind {
                    'I' => match (&quoted[i], text) {
                        (Some(q), Some(_)) => q.value(row).to_string(),
                        _ => {
                            return Err(invalid(
                                "null values cannot be formatted as an SQL identifier".into(),
                            ));
                        }
                    },
                    'L' => text.map_or_else(|| "NULL".to_string(), quote_literal),
                    _ => text.unwrap_or_default().to_string(),
                })
            })?);
        }
        let array: ArrayRef = Arc::new(out.finish());
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
        } else {
            ColumnarValue::Array(array)
        })
    }
}

/// One row's result: `value(argument index, 's' | 'I' | 'L')` gives each argument's text.
fn format_row(
    template: &str,
    mut value: impl FnMut(usize, char) -> Result<String>,
) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let mut position = None;
        if chars.peek() == Some(&'$') {
            chars.next();
            let n: usize = digits.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                invalid("format specifies argument 0, but arguments are numbered from 1".into())
            })?;
            position = Some(n - 1);
            digits.clear();
        }
        let left = digits.is_empty() && chars.peek() == Some(&'-');
        if left {
            chars.next();
        }
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let kind = chars
            .next()
            .ok_or_else(|| invalid("unterminated format() type specifier".into()))?;
        if !matches!(kind, 's' | 'I' | 'L') {
            return Err(invalid(format!(
                "unrecognized format() type specifier \"{kind}\""
            )));
        }
        let index = position.unwrap_or(next);
        next = index + 1;
        let text = value(index, kind)?;
        let width: usize = digits.parse().unwrap_or(0);
        let pad = width.saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&text);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(template: &str, args: &[&str]) -> Result<String> {
        format_row(template, |i, kind| {
            let v = args
                .get(i)
                .ok_or_else(|| invalid("too few arguments for format()".into()))?;
            Ok(if kind == 'L' {
                quote_literal(v)
            } else {
                v.to_string()
            })
        })
    }

    /// Each expected text is what PostgreSQL 15 answers.
    #[test]
    fn formats_as_postgresql_does() {
        assert_eq!(run("%s-%s", &["a", "b"]).unwrap(), "a-b");
        assert_eq!(run("%2$s %1$s %s", &["a", "b"]).unwrap(), "b a b");
        assert_eq!(run("[%5s|%-5s]", &["ab", "cd"]).unwrap(), "[   ab|cd   ]");
        assert_eq!(run("%L and 100%%", &["it's"]).unwrap(), "'it''s' and 100%");
        assert!(run("%s %s", &["a"]).is_err());
        assert!(run("%x", &["a"]).is_err());
    }
}
