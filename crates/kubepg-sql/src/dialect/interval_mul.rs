//! PostgreSQL's `interval * number` (`interval_mul`), which DataFusion cannot plan at all:
//! Superset's epoch conversion (`timestamp 'epoch' + col * interval '1 second'`) and the
//! everyday `now() - 7 * interval '1 day'`. The statement pipeline writes a product with an
//! interval literal as `interval_mul(interval, n)`. Fractions cascade as in PostgreSQL: a
//! month's fraction becomes days of 30, a day's fraction seconds, rounded to microseconds.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, IntervalMonthDayNanoArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit,
};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use super::call;
use crate::error::Error;
use crate::sqlstate::SqlState;

/// The name the statement pipeline calls, PostgreSQL's own.
pub const INTERVAL_MUL: &str = "interval_mul";

const DAYS_PER_MONTH: f64 = 30.0;
const SECONDS_PER_DAY: f64 = 86_400.0;

pub fn register(ctx: &SessionContext) {
    let interval = DataType::Interval(IntervalUnit::MonthDayNano);
    ctx.register_udf(create_udf(
        INTERVAL_MUL,
        vec![interval.clone(), DataType::Float64],
        interval,
        Volatility::Immutable,
        Arc::new(invoke),
    ));
}

fn invoke(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let spans = arrays[0].as_primitive::<IntervalMonthDayNanoType>();
    let factors = cast(&arrays[1], &DataType::Float64)?;
    let factors = factors.as_primitive::<Float64Type>();
    let out = (0..spans.len())
        .map(|i| {
            if spans.is_null(i) || factors.is_null(i) {
                return Ok(None);
            }
            multiply(spans.value(i), factors.value(i)).map(Some)
        })
        .collect::<Result<IntervalMonthDayNanoArray>>()?;
    call::answer(Arc::new(out), scalar)
}

/// Rounded to microseconds, PostgreSQL's TSROUND.
fn to_micros(x: f64) -> f64 {
    (x * 1e6).round_ties_even() / 1e6
}

fn multiply(span: IntervalMonthDayNano, factor: f64) -> Result<IntervalMonthDayNano> {
    let out_of_range = || {
        Error::refused(SqlState::DatetimeFieldOverflow, "interval out of range").into_datafusion()
    };
    let fits = |x: f64| x.is_finite() && x >= i32::MIN as f64 && x <= i32::MAX as f64;
    let months = span.months as f64 * factor;
    let days = span.days as f64 * factor;
    if !fits(months) || !fits(days) {
        return Err(out_of_range());
    }
    let (out_months, mut out_days) = (months as i32, days as i32);
    let month_remainder_days = to_micros((months - out_months as f64) * DAYS_PER_MONTH);
    let mut seconds = to_micros(
        (days - out_days as f64 + month_remainder_days - month_remainder_days.trunc())
            * SECONDS_PER_DAY,
    );
    if seconds.abs() >= SECONDS_PER_DAY {
        let whole = (seconds / SECONDS_PER_DAY).trunc();
        out_days = out_days
            .checked_add(whole as i32)
            .ok_or_else(out_of_range)?;
        seconds -= whole * SECONDS_PER_DAY;
    }
    out_days = out_days
        .checked_add(month_remainder_days.trunc() as i32)
        .ok_or_else(out_of_range)?;
    let micros = ((span.nanoseconds / 1000) as f64 * factor + seconds * 1e6).round_ties_even();
    if !micros.is_finite() || micros.abs() >= (i64::MAX / 1000) as f64 {
        return Err(out_of_range());
    }
    Ok(IntervalMonthDayNano::new(
        out_months,
        out_days,
        micros as i64 * 1000,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn products_cascade_fractions_as_postgresql_does() {
        // Values checked against PostgreSQL 15's interval arithmetic.
        let second = IntervalMonthDayNano::new(0, 0, SECOND);
        assert_eq!(
            multiply(second, 7.0).unwrap(),
            IntervalMonthDayNano::new(0, 0, 7 * SECOND)
        );
        // '1 mon' * 1.5 = '1 mon 15 days'
        assert_eq!(
            multiply(IntervalMonthDayNano::new(1, 0, 0), 1.5).unwrap(),
            IntervalMonthDayNano::new(1, 15, 0)
        );
        // '1 day' * 0.5 = '12:00:00'
        assert_eq!(
            multiply(IntervalMonthDayNano::new(0, 1, 0), 0.5).unwrap(),
            IntervalMonthDayNano::new(0, 0, 12 * 3600 * SECOND)
        );
        // '1 day 2 hours' * -2 = '-2 days -04:00:00'
        assert_eq!(
            multiply(IntervalMonthDayNano::new(0, 1, 2 * 3600 * SECOND), -2.0).unwrap(),
            IntervalMonthDayNano::new(0, -2, -4 * 3600 * SECOND)
        );
        assert!(multiply(IntervalMonthDayNano::new(1, 0, 0), 1e12).is_err());
    }
}
