//! Functions where kubepg answers as PostgreSQL 16 rather than as DataFusion: `version()`, the
//! connected user as `session_user`/`user`, `current_setting()` and `set_config()` over the
//! settings registry, and `single_row_value()`, the aggregate the parser wraps scalar
//! subqueries in.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, TypeSignature, Volatility, create_udf,
};
use datafusion::prelude::SessionContext;

use crate::error::Error;
use crate::settings::{SERVER_VERSION, SessionSettings};
use crate::sqlstate::SqlState;

/// The aggregate a scalar subquery's value is wrapped in (see [`crate::pipeline`]'s parser).
pub const SINGLE_ROW_VALUE: &str = "single_row_value";

fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (kubepg {}) on {}-linux, compiled by rustc",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )
}

/// Registers the functions of this module for a session of `user`.
pub fn register(ctx: &SessionContext, user: &str, settings: Arc<SessionSettings>) {
    // datafusion-pg-catalog answers `postgres` whoever connected; PostgreSQL names the user.
    for name in ["session_user", "user"] {
        let user = user.to_string();
        ctx.register_udf(create_udf(
            name,
            vec![],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(user.clone()))))),
        ));
    }
    let version = version_string();
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                version.clone(),
            ))))
        }),
    ));
    // psql's `\df` and pgjdbc's getFunctions. kubepg's own functions are not in pg_proc, so
    // these only ever describe the built-in entries it copies from PostgreSQL, whose signatures
    // it does not keep: visible, with unknown (NULL) result and arguments.
    ctx.register_udf(create_udf(
        "pg_function_is_visible",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))),
    ));
    for name in ["pg_get_function_result", "pg_get_function_arguments"] {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Int64],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
        ));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(CurrentSetting {
        settings: settings.clone(),
        signature: Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
            ],
            Volatility::Stable,
        ),
    }));
    ctx.register_udf(ScalarUDF::new_from_impl(SetConfig {
        settings,
        signature: Signature::exact(
            vec![DataType::Utf8, DataType::Utf8, DataType::Boolean],
            Volatility::Volatile,
        ),
    }));
    ctx.register_udaf(AggregateUDF::new_from_impl(SingleRowValue {
        signature: Signature::any(1, Volatility::Immutable),
    }));
}

/// Compares registry-backed functions by the registry they read.
macro_rules! by_settings {
    ($t:ty) => {
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                Arc::ptr_eq(&self.settings, &other.settings)
            }
        }

        impl Eq for $t {}

        impl std::hash::Hash for $t {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                Arc::as_ptr(&self.settings).hash(state);
            }
        }
    };
}

/// `current_setting(name [, missing_ok])`: one function for both arities, which `create_udf`
/// cannot express.
#[derive(Debug)]
struct CurrentSetting {
    settings: Arc<SessionSettings>,
    signature: Signature,
}

by_settings!(CurrentSetting);

fn strings(arg: &ColumnarValue, rows: usize) -> Result<StringArray> {
    let array = arg.clone().into_array(rows)?;
    let array = datafusion::arrow::compute::cast(&array, &DataType::Utf8)?;
    Ok(datafusion::common::cast::as_string_array(&array)?.clone())
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let missing_ok = matches!(
            args.args.get(1),
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        );
        let names = strings(&args.args[0], args.number_rows)?;
        let values = names
            .iter()
            .map(|name| match name {
                None => Ok(None),
                Some(name) => match self.settings.get(name) {
                    Ok(v) => Ok(Some(v)),
                    Err(Error::UnknownSetting(_)) if missing_ok => Ok(None),
                    Err(e) => Err(e.into_datafusion()),
                },
            })
            .collect::<Result<StringArray>>()?;
        Ok(ColumnarValue::Array(Arc::new(values) as ArrayRef))
    }
}

/// `set_config(name, value, is_local)`: a SET inside a query, answering the new value.
/// `is_local` (until the end of the transaction) is treated as the session, as kubepg's
/// transactions change nothing else.
#[derive(Debug)]
struct SetConfig {
    settings: Arc<SessionSettings>,
    signature: Signature,
}

by_settings!(SetConfig);

impl ScalarUDFImpl for SetConfig {
    fn name(&self) -> &str {
        "set_config"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let names = strings(&args.args[0], args.number_rows)?;
        let values = strings(&args.args[1], args.number_rows)?;
        let out = names
            .iter()
            .zip(values.iter())
            .map(|(name, value)| match (name, value) {
                (Some(name), value) => {
                    let value = value.unwrap_or_default();
                    self.settings
                        .set(name, value)
                        .and_then(|()| self.settings.get(name))
                        .map(Some)
                        .map_err(Error::into_datafusion)
                }
                (None, _) => Err(Error::refused(
                    SqlState::NullValueNotAllowed,
                    "SET requires parameter name",
                )
                .into_datafusion()),
            })
            .collect::<Result<StringArray>>()?;
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

/// `single_row_value(x)`: the one value of its group, NULL of none, and PostgreSQL's 21000 for
/// more than one (a scalar subquery that returns several rows).
#[derive(Debug, PartialEq, Eq, Hash)]
struct SingleRowValue {
    signature: Signature,
}

impl AggregateUDFImpl for SingleRowValue {
    fn name(&self) -> &str {
        SINGLE_ROW_VALUE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                "value",
                args.return_field.data_type().clone(),
                true,
            )),
            Arc::new(Field::new("rows", DataType::UInt64, false)),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SingleRow {
            value: ScalarValue::try_from(args.return_field.data_type())?,
            rows: 0,
        }))
    }
}

#[derive(Debug)]
struct SingleRow {
    value: ScalarValue,
    rows: u64,
}

fn more_than_one() -> DataFusionError {
    Error::refused(
        SqlState::CardinalityViolation,
        "more than one row returned by a subquery used as an expression",
    )
    .into_datafusion()
}

impl SingleRow {
    fn take(&mut self, value: ScalarValue, rows: u64) -> Result<()> {
        self.rows += rows;
        if self.rows > 1 {
            return Err(more_than_one());
        }
        if rows == 1 {
            self.value = value;
        }
        Ok(())
    }
}

impl Accumulator for SingleRow {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let column = &values[0];
        for i in 0..column.len() {
            self.take(ScalarValue::try_from_array(column, i)?, 1)?;
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = datafusion::common::cast::as_uint64_array(&states[1])?;
        for i in 0..rows.len() {
            self.take(ScalarValue::try_from_array(&states[0], i)?, rows.value(i))?;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            self.value.clone(),
            ScalarValue::UInt64(Some(self.rows)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.value.clone())
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.value.size() - size_of_val(&self.value)
    }
}
