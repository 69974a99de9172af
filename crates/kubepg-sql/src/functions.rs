//! SQL functions kubepg adds: the JSON operators and functions (`->`, `->>`, `?`,
//! `json_get_*`, from datafusion-functions-json), `k8s_quantity` and `labels_match`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanBuilder, Float64Builder, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use kubepg_kube::selector::LabelSelector;

use crate::quantity;

pub fn register(ctx: &mut SessionContext) -> Result<()> {
    datafusion_functions_json::register_all(ctx)?;
    ctx.register_udf(create_udf(
        "k8s_quantity",
        vec![DataType::Utf8],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(k8s_quantity),
    ));
    ctx.register_udf(create_udf(
        "labels_match",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(labels_match),
    ));
    Ok(())
}

fn strings(arg: &ColumnarValue, rows: usize) -> Result<StringArray> {
    let array = arg.clone().into_array(rows)?;
    let array = cast(&array, &DataType::Utf8)?;
    array
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("expected a text argument".into()))
}

fn rows(args: &[ColumnarValue]) -> usize {
    args.iter()
        .find_map(|a| match a {
            ColumnarValue::Array(a) => Some(a.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1)
}

/// `k8s_quantity('500m')` → 0.5, `k8s_quantity('1Gi')` → 1073741824; NULL for non-quantities.
fn k8s_quantity(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let n = rows(args);
    let input = strings(&args[0], n)?;
    let mut out = Float64Builder::with_capacity(n);
    for v in input.iter() {
        out.append_option(v.and_then(quantity::parse));
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
}

/// `labels_match(labels, 'app=web,tier in (a,b),!legacy')`: Kubernetes selector semantics.
fn labels_match(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let n = rows(args);
    let labels = strings(&args[0], n)?;
    let selectors = strings(&args[1], n)?;
    let mut out = BooleanBuilder::with_capacity(n);
    let mut cached: Option<(String, LabelSelector)> = None;
    for i in 0..n {
        if selectors.is_null(i) {
            out.append_null();
            continue;
        }
        let text = selectors.value(i);
        if cached.as_ref().is_none_or(|(t, _)| t != text) {
            // A bad selector is the caller's (22023), as a bad `labelSelector` is to the API.
            let parsed =
                LabelSelector::parse(text).map_err(|e| crate::Error::Kube(e).into_datafusion())?;
            cached = Some((text.to_string(), parsed));
        }
        let Some((_, selector)) = &cached else {
            continue;
        };
        let map = if labels.is_null(i) {
            None
        } else {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(labels.value(i)).ok()
        };
        out.append_value(selector.matches(map.as_ref()));
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
}
