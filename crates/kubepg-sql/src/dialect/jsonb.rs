//! jsonb values and containment, which DataFusion lacks: `x::jsonb` (and `::json`) is
//! `jsonb(x)`, a checked, normalised jsonb text (22P02 for text that is not JSON, as
//! PostgreSQL's input function answers); `a @> b` and `a <@ b` over JSON text (`labels @>
//! '{"app": "web"}'`) are `jsonb_contains`, with PostgreSQL's containment rules. Over arrays the
//! operators stay DataFusion's (`array_has_all`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::BinaryOperator;
use serde_json::Value;

use super::call;
use crate::columns::jsonb_field;
use crate::error::Error;
use crate::jsonb_text::jsonb_text;
use crate::sqlstate::SqlState;

/// The function the statement pipeline writes `x::jsonb` as.
pub const JSONB: &str = "jsonb";
/// The function `@>` and `<@` over JSON text are planned as.
pub const CONTAINS: &str = "jsonb_contains";

pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(Jsonb {
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
    }));
    ctx.register_udf(contains_udf());
}

/// Plans `@>` and `<@` over JSON text; registered on the session state beside the planners
/// DataFusion's array functions bring.
pub fn planner() -> Arc<dyn ExprPlanner> {
    Arc::new(Containment)
}

fn contains_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Contains {
        signature: Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Immutable),
    })
}

fn not_json(e: serde_json::Error) -> datafusion::error::DataFusionError {
    Error::refused(
        SqlState::InvalidTextRepresentation,
        format!("invalid input syntax for type json: {e}"),
    )
    .into_datafusion()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Jsonb {
    signature: Signature,
}

impl ScalarUDFImpl for Jsonb {
    fn name(&self) -> &str {
        JSONB
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    /// Described to clients as jsonb, as kubepg's JSON columns are.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(jsonb_field(self.name(), nullable)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (scalar, rows) = call::rows(&args);
        let texts = call::texts(&args, rows)?;
        let text = texts[0].as_string::<i32>();
        let mut out = StringBuilder::with_capacity(rows, text.value_data().len());
        for v in text.iter() {
            match v {
                Some(v) => out.append_value(jsonb_text(
                    &serde_json::from_str::<Value>(v).map_err(not_json)?,
                )),
                None => out.append_null(),
            }
        }
        call::answer(Arc::new(out.finish()), scalar)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Contains {
    signature: Signature,
}

impl ScalarUDFImpl for Contains {
    fn name(&self) -> &str {
        CONTAINS
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (scalar, rows) = call::rows(&args);
        let texts = call::texts(&args, rows)?;
        let (outer, inner) = (texts[0].as_string::<i32>(), texts[1].as_string::<i32>());
        // The right side is most often one literal: parsed once.
        let mut parsed: Option<(String, Value)> = None;
        let mut out = BooleanBuilder::with_capacity(rows);
        for i in 0..rows {
            if outer.is_null(i) || inner.is_null(i) {
                out.append_null();
                continue;
            }
            if parsed
                .as_ref()
                .is_none_or(|(text, _)| text != inner.value(i))
            {
                let value = serde_json::from_str(inner.value(i)).map_err(not_json)?;
                parsed = Some((inner.value(i).to_string(), value));
            }
            let outer: Value = serde_json::from_str(outer.value(i)).map_err(not_json)?;
            let inner = &parsed.as_ref().expect("parsed above").1;
            out.append_value(contains(&outer, inner, true));
        }
        call::answer(Arc::new(out.finish()), scalar)
    }
}

/// PostgreSQL's jsonb containment: an object contains an object whose every key it has with
/// a contained value; an array contains an array whose every element some element of it
/// contains (order and repeats aside); scalars contain equal scalars; and, at the top level
/// only, an array contains a scalar that is one of its elements.
fn contains(outer: &Value, inner: &Value, top: bool) -> bool {
    match (outer, inner) {
        (Value::Object(o), Value::Object(i)) => i
            .iter()
            .all(|(k, v)| o.get(k).is_some_and(|ov| contains(ov, v, false))),
        (Value::Array(o), Value::Array(i)) => i.iter().all(|v| {
            o.iter().any(|ov| match (ov, v) {
                (Value::Array(_) | Value::Object(_), _) => contains(ov, v, false),
                _ => scalar_eq(ov, v),
            })
        }),
        (Value::Array(o), v) if top && !v.is_object() => o.iter().any(|ov| scalar_eq(ov, v)),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        (o, i) => scalar_eq(o, i),
    }
}

/// Numbers compare by value (`1` and `1.0` are one jsonb number), the rest by equality.
fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[derive(Debug)]
struct Containment;

impl ExprPlanner for Containment {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let text = |e: &Expr| {
            e.get_type(schema).is_ok_and(|t| {
                matches!(
                    t,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
                )
            })
        };
        let (outer, inner) = match expr.op {
            BinaryOperator::AtArrow => (&expr.left, &expr.right),
            BinaryOperator::ArrowAt => (&expr.right, &expr.left),
            _ => return Ok(PlannerResult::Original(expr)),
        };
        if !(text(outer) && text(inner)) {
            return Ok(PlannerResult::Original(expr));
        }
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::new(contains_udf()), vec![outer.clone(), inner.clone()]),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containment_follows_postgresql() {
        let yes = |a: Value, b: Value| assert!(contains(&a, &b, true), "{a} @> {b}");
        let no = |a: Value, b: Value| assert!(!contains(&a, &b, true), "not {a} @> {b}");
        yes(json!({"app": "web", "tier": "fe"}), json!({"app": "web"}));
        yes(json!({"app": "web"}), json!({}));
        no(json!({"app": "web"}), json!({"app": "db"}));
        yes(json!([1, 2, 3]), json!([3, 1, 1]));
        yes(json!([1, [2, 3]]), json!([[3]]));
        yes(json!(["a", "b"]), json!("a"));
        no(json!({"a": ["x"]}), json!({"a": "x"}));
        yes(json!({"n": 1}), json!({"n": 1.0}));
        yes(
            json!({"spec": {"containers": [{"name": "web", "image": "nginx"}]}}),
            json!({"spec": {"containers": [{"name": "web"}]}}),
        );
        no(json!([{"a": 1}]), json!({"a": 1}));
    }
}
