//! Integer arithmetic as PostgreSQL does it: a result that does not fit its type is an error
//! (22003, "bigint out of range"), never a wrapped value. DataFusion's `+`, `-`, `*` and unary
//! minus wrap, and its planner offers no way to ask otherwise, so after type coercion this
//! analyzer rule turns them, on integer operands only, into functions that check.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Datum};
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::{Field, FieldRef};
use datafusion::common::DFSchema;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use super::call;
use crate::error::Error;
use crate::sqlstate::SqlState;

/// The analyzer rule; runs after DataFusion's type coercion.
#[derive(Debug)]
pub struct CheckedIntegers;

impl AnalyzerRule for CheckedIntegers {
    fn name(&self) -> &str {
        "kubepg_checked_integers"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let schema = merge_schema(&node.inputs());
            // The plan's columns keep their names: the rest of the plan refers to them so.
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let name = names.save(&expr);
                expr.transform_up(|e| checked(e, &schema))?
                    .map_data(|e| Ok(name.restore(e)))
            })
        })
        .map(|t| t.data)
    }
}

fn is_integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    )
}

fn checked(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let integer = |e: &Expr| e.get_type(schema).is_ok_and(|t| is_integer(&t));
    let op = match &expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if integer(left) && integer(right) => {
            match op {
                Operator::Plus => Op::Add,
                Operator::Minus => Op::Sub,
                Operator::Multiply => Op::Mul,
                _ => return Ok(Transformed::no(expr)),
            }
        }
        Expr::Negative(inner) if integer(inner) => Op::Neg,
        _ => return Ok(Transformed::no(expr)),
    };
    let args = match expr {
        Expr::BinaryExpr(BinaryExpr { left, right, .. }) => vec![*left, *right],
        Expr::Negative(inner) => vec![*inner],
        _ => unreachable!("matched above"),
    };
    Ok(Transformed::yes(Expr::ScalarFunction(
        ScalarFunction::new_udf(Arc::new(ScalarUDF::new_from_impl(Checked::new(op))), args),
    )))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Add,
    Sub,
    Mul,
    Neg,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Checked {
    op: Op,
    signature: Signature,
}

impl Checked {
    fn new(op: Op) -> Self {
        let arity = if op == Op::Neg { 1 } else { 2 };
        Self {
            op,
            signature: Signature::any(arity, Volatility::Immutable),
        }
    }
}

/// PostgreSQL's words for an integer type that overflowed.
fn out_of_range(t: &DataType) -> Error {
    let name = match t {
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint",
        DataType::Int32 | DataType::UInt16 => "integer",
        _ => "bigint",
    };
    Error::refused(
        SqlState::NumericValueOutOfRange,
        format!("{name} out of range"),
    )
}

impl ScalarUDFImpl for Checked {
    fn name(&self) -> &str {
        match self.op {
            Op::Add => "checked_add",
            Op::Sub => "checked_sub",
            Op::Mul => "checked_mul",
            Op::Neg => "checked_neg",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    /// Nullable as the operator is: when an operand is.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(
            self.name(),
            args.arg_fields[0].data_type().clone(),
            nullable,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (scalar, rows) = call::rows(&args);
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let t = arrays[0].data_type().clone();
        let left: &dyn Datum = &arrays[0];
        let result = match self.op {
            Op::Add => numeric::add(left, &arrays[1]),
            Op::Sub => numeric::sub(left, &arrays[1]),
            Op::Mul => numeric::mul(left, &arrays[1]),
            Op::Neg => numeric::neg(&arrays[0]),
        }
        .map_err(|_| out_of_range(&t).into_datafusion())?;
        call::answer(result, scalar)
    }
}
