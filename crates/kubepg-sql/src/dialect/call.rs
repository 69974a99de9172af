//! The shape of a scalar function call: DataFusion passes constant arguments as scalars, and
//! a call whose arguments are all scalars computes one row and answers a scalar, so constant
//! folding sees a constant.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};

/// Whether every argument is a scalar, and the number of rows the call computes.
pub(super) fn rows(args: &ScalarFunctionArgs) -> (bool, usize) {
    let scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    (scalar, if scalar { 1 } else { args.number_rows })
}

/// Every argument as text, `rows` long.
pub(super) fn texts(args: &ScalarFunctionArgs, rows: usize) -> Result<Vec<ArrayRef>> {
    args.args
        .iter()
        .map(|a| Ok(cast(&a.to_array(rows)?, &DataType::Utf8)?))
        .collect()
}

/// `out` as the call's answer: its one value when the arguments were all scalars.
pub(super) fn answer(out: ArrayRef, scalar: bool) -> Result<ColumnarValue> {
    Ok(if scalar {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
    } else {
        ColumnarValue::Array(out)
    })
}
