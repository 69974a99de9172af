//! PostgreSQL's `information_schema._pg_expandarray(a)`: a set-returning function giving each
//! element of `a` with its position, as the composite `(x, n)`. pgjdbc's getPrimaryKeys and
//! Metabase's describe-indexes call it in a select list and read `(… ).n` and `(keys).x`.
//! DataFusion has no set-returning functions but `unnest`, so the statement pipeline writes
//! `_pg_expandarray(a)` as `unnest(pg_expandarray_elements(a))`: this function makes the list
//! of `{x, n}` structs, which unnest turns into rows in step with any other set-returning
//! call of the select list, as PostgreSQL runs them.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, ListArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use super::call;

/// The name the statement pipeline calls.
pub const ELEMENTS: &str = "pg_expandarray_elements";

pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(ExpandArray {
        signature: Signature::any(1, Volatility::Immutable),
    }));
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ExpandArray {
    signature: Signature,
}

fn element_fields(element: &DataType) -> Fields {
    Fields::from(vec![
        Field::new("x", element.clone(), true),
        Field::new("n", DataType::Int32, false),
    ])
}

fn element_type(input: &DataType) -> Result<&DataType> {
    match input {
        DataType::List(field) => Ok(field.data_type()),
        DataType::Null => Ok(&DataType::Null),
        other => exec_err!("function _pg_expandarray(anyarray) does not take {other}"),
    }
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        ELEMENTS
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let fields = element_fields(element_type(&args[0])?);
        Ok(DataType::new_list(DataType::Struct(fields), true))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (scalar, rows) = call::rows(&args);
        call::answer(expand(&args.args[0].to_array(rows)?)?, scalar)
    }
}

/// Each list of `input` as the list of its elements paired with their 1-based positions.
fn expand(input: &ArrayRef) -> Result<ArrayRef> {
    let element = element_type(input.data_type())?.clone();
    if element == DataType::Null {
        let fields = element_fields(&element);
        let item = Field::new_list_field(DataType::Struct(fields), true);
        return Ok(datafusion::arrow::array::new_null_array(
            &DataType::List(Arc::new(item)),
            input.len(),
        ));
    }
    let lists = input.as_list::<i32>();
    let values = lists.values().clone();
    // Positions run over the values buffer, which a sliced array shares with rows outside
    // it: those values get 0 and are never read.
    let mut positions = vec![0i32; values.len()];
    for row in 0..lists.len() {
        let (start, end) = (
            lists.value_offsets()[row] as usize,
            lists.value_offsets()[row + 1] as usize,
        );
        for (n, position) in positions[start..end].iter_mut().enumerate() {
            *position = n as i32 + 1;
        }
    }
    let fields = element_fields(&element);
    let structs = StructArray::try_new(
        fields.clone(),
        vec![values, Arc::new(Int32Array::from(positions))],
        None,
    )?;
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Struct(fields), true)),
        lists.offsets().clone(),
        Arc::new(structs),
        lists.nulls().cloned(),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Int16Type;

    #[test]
    fn elements_are_paired_with_their_positions_per_row() {
        let input: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int16Type, _, _>(vec![
            Some(vec![Some(9), Some(4)]),
            None,
            Some(vec![Some(7)]),
        ]));
        let out = expand(&input.slice(0, 3)).unwrap();
        let out = out.as_list::<i32>();
        assert!(out.is_null(1));
        let first = out.value(0);
        let first = first.as_struct();
        assert_eq!(
            first
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                .values(),
            &[1, 2]
        );
        let third = out.value(2);
        let third = third.as_struct();
        assert_eq!(third.column(0).as_primitive::<Int16Type>().values(), &[7]);
        assert_eq!(
            third
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                .values(),
            &[1]
        );
    }
}
