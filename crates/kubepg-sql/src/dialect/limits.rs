//! What one function call may allocate. DataFusion's memory pool counts what operators hold
//! (sorts, joins, aggregations), not what a scalar function makes: `repeat('x', 500000000)`,
//! `array_repeat(1, 1e9)` or `range(1, 1e9)` would allocate gigabytes before anything could
//! refuse them, and take the whole server with them. These functions are wrapped so that a
//! call (one batch of rows) whose result would pass the query's memory is refused first, with
//! 53200 as a query past its memory is.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;

use super::call;
use crate::error::Error;
use crate::sqlstate::SqlState;

/// How many bytes a call's result would take, from its arguments (`rows` rows of them).
type Cost = fn(&[ColumnarValue], usize) -> Result<u64>;

/// The functions wrapped, and what their results cost.
const BOUNDED: &[(&str, Cost)] = &[
    ("repeat", repeat_cost),
    ("lpad", pad_cost),
    ("rpad", pad_cost),
    ("array_repeat", array_repeat_cost),
    ("range", range_cost),
    ("generate_series", range_cost),
];

/// Wraps the session's functions of [`BOUNDED`] so that one call may allocate `limit` bytes.
pub fn bound(ctx: &SessionContext, limit: u64) {
    for (name, cost) in BOUNDED {
        if let Some(inner) = ctx.state().scalar_functions().get(*name).cloned() {
            ctx.register_udf(ScalarUDF::new_from_impl(Bounded {
                inner,
                cost: *cost,
                limit,
            }));
        }
    }
}

#[derive(Debug)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    cost: Cost,
    limit: u64,
}

impl PartialEq for Bounded {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner && self.limit == other.limit
    }
}

impl Eq for Bounded {}

impl std::hash::Hash for Bounded {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.name().hash(state);
        self.limit.hash(state);
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.inner.return_type(args)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (_, rows) = call::rows(&args);
        let cost = (self.cost)(&args.args, rows)?;
        if cost > self.limit {
            return Err(Error::refused(
                SqlState::OutOfMemory,
                format!(
                    "{}() would make {cost} bytes, more than a query may use ({} bytes)",
                    self.inner.name(),
                    self.limit
                ),
            )
            .into_datafusion());
        }
        self.inner.invoke_with_args(args)
    }
}

/// Argument `i` as 64-bit integers, one per row (NULL for what is not a number).
fn ints(args: &[ColumnarValue], i: usize, rows: usize) -> Result<Vec<Option<i64>>> {
    let Some(arg) = args.get(i) else {
        return Ok(vec![None; rows]);
    };
    let array = arg.to_array(rows)?;
    let Ok(array) = cast(&array, &DataType::Int64) else {
        return Ok(vec![None; rows]);
    };
    Ok(array.as_primitive::<Int64Type>().iter().collect())
}

/// Argument `i`'s size in bytes per row, as it is held.
fn bytes_per_row(args: &[ColumnarValue], i: usize, rows: usize) -> Result<u64> {
    let Some(arg) = args.get(i) else { return Ok(0) };
    let array = arg.to_array(rows)?;
    Ok((array.to_data().get_slice_memory_size()? / rows.max(1)) as u64)
}

fn repeat_cost(args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let text = cast(&args[0].to_array(rows)?, &DataType::Utf8)?;
    let lengths = text
        .as_string::<i32>()
        .iter()
        .map(|s| s.map_or(0, str::len) as u64);
    Ok(lengths
        .zip(ints(args, 1, rows)?)
        .map(|(len, n)| len.saturating_mul(n.unwrap_or(0).max(0) as u64))
        .fold(0, u64::saturating_add))
}

fn pad_cost(args: &[ColumnarValue], rows: usize) -> Result<u64> {
    // A fill character may take four bytes in UTF-8.
    Ok(ints(args, 1, rows)?
        .into_iter()
        .map(|n| (n.unwrap_or(0).max(0) as u64).saturating_mul(4))
        .fold(0, u64::saturating_add))
}

fn array_repeat_cost(args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let each = bytes_per_row(args, 0, rows)?.max(8);
    Ok(ints(args, 1, rows)?
        .into_iter()
        .map(|n| each.saturating_mul(n.unwrap_or(0).max(0) as u64))
        .fold(0, u64::saturating_add))
}

/// `range(stop)`, `range(start, stop[, step])` over integers (dates and timestamps are
/// bounded by the query's memory pool only when their rows are held).
fn range_cost(args: &[ColumnarValue], rows: usize) -> Result<u64> {
    if args.iter().any(|a| !a.data_type().is_integer()) {
        return Ok(0);
    }
    let (start, stop, step) = match args.len() {
        1 => (
            vec![Some(0); rows],
            ints(args, 0, rows)?,
            vec![Some(1); rows],
        ),
        2 => (
            ints(args, 0, rows)?,
            ints(args, 1, rows)?,
            vec![Some(1); rows],
        ),
        _ => (
            ints(args, 0, rows)?,
            ints(args, 1, rows)?,
            ints(args, 2, rows)?,
        ),
    };
    Ok(start
        .into_iter()
        .zip(stop)
        .zip(step)
        .map(|((a, b), s)| match (a, b, s) {
            (Some(a), Some(b), Some(s)) if s != 0 => {
                let span = (i128::from(b) - i128::from(a)) / i128::from(s);
                u64::try_from(span.max(0))
                    .unwrap_or(u64::MAX)
                    .saturating_mul(8)
            }
            _ => 0,
        })
        .fold(0, u64::saturating_add))
}
