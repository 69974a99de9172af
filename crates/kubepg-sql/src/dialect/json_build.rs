//! `json_build_object(k, v, …)` and `jsonb_build_object(k, v, …)`, which datafusion-functions-json
//! lacks: an object from alternating keys and values, each value as `to_json` makes it (text a
//! string, numbers and booleans themselves, NULL null, a jsonb column's value embedded as JSON).
//! As in PostgreSQL, `json_build_object` keeps the arguments' order and prints `"k" : v`;
//! `jsonb_build_object` is a jsonb (the last of repeated keys wins, keys in jsonb's order).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Float64Type, Int64Type, UInt64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::prelude::SessionContext;
use serde_json::{Map, Value};

use super::call;
use crate::columns::{is_jsonb, jsonb_field};
use crate::error::Error;
use crate::jsonb_text::jsonb_text;
use crate::sqlstate::SqlState;

pub fn register(ctx: &SessionContext) {
    for (name, jsonb) in [("json_build_object", false), ("jsonb_build_object", true)] {
        ctx.register_udf(ScalarUDF::new_from_impl(BuildObject {
            name,
            jsonb,
            signature: Signature::variadic_any(Volatility::Immutable),
        }));
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct BuildObject {
    name: &'static str,
    jsonb: bool,
    signature: Signature,
}

impl ScalarUDFImpl for BuildObject {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    /// Described as jsonb (kubepg has no separate json type), never NULL.
    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(jsonb_field(self.name, false)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return Err(Error::refused(
                SqlState::InvalidParameterValue,
                "argument list must have even number of elements",
            )
            .into_datafusion());
        }
        let (scalar, rows) = call::rows(&args);
        let arrays = args
            .args
            .iter()
            .map(|a| normalized(&a.to_array(rows)?))
            .collect::<Result<Vec<_>>>()?;
        let embedded: Vec<bool> = args.arg_fields.iter().map(|f| is_jsonb(f)).collect();
        let mut out = StringBuilder::new();
        for row in 0..rows {
            let mut pairs = Vec::with_capacity(arrays.len() / 2);
            for (i, pair) in arrays.chunks(2).enumerate() {
                if pair[0].is_null(row) {
                    return Err(Error::refused(
                        SqlState::NullValueNotAllowed,
                        format!("argument {} cannot be null", 2 * i + 1),
                    )
                    .into_datafusion());
                }
                let key = match to_json(&pair[0], row, false)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                pairs.push((key, to_json(&pair[1], row, embedded[2 * i + 1])?));
            }
            out.append_value(if self.jsonb {
                jsonb_text(&Value::Object(pairs.into_iter().collect::<Map<_, _>>()))
            } else {
                json_text(&pairs)
            });
        }
        call::answer(Arc::new(out.finish()), scalar)
    }
}

/// PostgreSQL's json object text: the pairs in order, `"k" : v`.
fn json_text(pairs: &[(String, Value)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{} : {}",
                jsonb_text(&Value::String(k.clone())),
                jsonb_text(v)
            )
        })
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// `array` as one of the types [`to_json`] reads: booleans, 64-bit numbers, or text.
fn normalized(array: &ArrayRef) -> Result<ArrayRef> {
    let to = match array.data_type() {
        DataType::Boolean => return Ok(array.clone()),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => DataType::Int64,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            DataType::UInt64
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => DataType::Float64,
        _ => DataType::Utf8,
    };
    Ok(cast(array, &to)?)
}

/// One value of a [`normalized`] array as `to_json` gives it.
fn to_json(array: &ArrayRef, row: usize, embedded_json: bool) -> Result<Value> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt64 => Value::from(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Float64 => {
            let v = array.as_primitive::<Float64Type>().value(row);
            // PostgreSQL writes a non-finite number as a string.
            serde_json::Number::from_f64(v)
                .map_or_else(|| Value::String(v.to_string()), Value::Number)
        }
        _ => {
            let text = array.as_string::<i32>().value(row);
            match embedded_json
                .then(|| serde_json::from_str(text).ok())
                .flatten()
            {
                Some(json) => json,
                None => Value::String(text.to_string()),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_keeps_the_arguments_order_and_spacing() {
        let pairs = vec![
            ("b".to_string(), json!(1)),
            ("a".to_string(), json!({"x": [true, null]})),
        ];
        assert_eq!(json_text(&pairs), r#"{"b" : 1, "a" : {"x": [true, null]}}"#);
    }
}
