//! PostgreSQL's access privilege inquiry functions (`has_table_privilege`,
//! `has_any_column_privilege`, `has_column_privilege`, `has_schema_privilege`,
//! `has_database_privilege`) as they answer for kubepg's SQL user: a login role that may read
//! and do nothing else. datafusion-pg-catalog answers true for every privilege, so Metabase's
//! privilege sync recorded update, insert and delete rights on every table.
//!
//! As in PostgreSQL the privilege argument (the last) may list several, comma-separated, and
//! the answer is whether any of them is held; `WITH GRANT OPTION` is never held, and a name
//! that is no privilege of the object's kind is 22023.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;

use super::call;
use crate::error::Error;
use crate::sqlstate::SqlState;

/// A function, its argument counts, the privileges of its object kind and those the user holds.
type Inquiry = (
    &'static str,
    &'static [usize],
    &'static [&'static str],
    &'static [&'static str],
);

const FUNCTIONS: [Inquiry; 5] = [
    (
        "has_table_privilege",
        &[2, 3],
        &[
            "select",
            "insert",
            "update",
            "delete",
            "truncate",
            "references",
            "trigger",
            "maintain",
        ],
        &["select"],
    ),
    (
        "has_any_column_privilege",
        &[2, 3],
        &["select", "insert", "update", "references"],
        &["select"],
    ),
    (
        "has_column_privilege",
        &[3, 4],
        &["select", "insert", "update", "references"],
        &["select"],
    ),
    (
        "has_schema_privilege",
        &[2, 3],
        &["create", "usage"],
        &["usage"],
    ),
    (
        "has_database_privilege",
        &[2, 3],
        &["create", "connect", "temporary", "temp"],
        &["connect"],
    ),
];

pub fn register(ctx: &SessionContext) {
    for (name, arities, known, held) in FUNCTIONS {
        ctx.register_udf(ScalarUDF::new_from_impl(HasPrivilege {
            name,
            known,
            held,
            signature: Signature::one_of(
                arities.iter().map(|n| TypeSignature::Any(*n)).collect(),
                Volatility::Stable,
            ),
        }));
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct HasPrivilege {
    name: &'static str,
    known: &'static [&'static str],
    held: &'static [&'static str],
    signature: Signature,
}

impl ScalarUDFImpl for HasPrivilege {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (scalar, rows) = call::rows(&args);
        let last = args.args.last().expect("the signature has arguments");
        let privileges = cast(&last.to_array(rows)?, &DataType::Utf8)?;
        let privileges = privileges.as_string::<i32>();
        let out = (0..rows)
            .map(|i| {
                if privileges.is_null(i) {
                    return Ok(None);
                }
                self.holds(privileges.value(i)).map(Some)
            })
            .collect::<Result<BooleanArray>>()?;
        call::answer(Arc::new(out), scalar)
    }
}

impl HasPrivilege {
    /// Whether the user holds any privilege `list` names.
    fn holds(&self, list: &str) -> Result<bool> {
        let mut any = false;
        for entry in list.split(',') {
            let entry = entry.trim().to_ascii_lowercase();
            let (privilege, grant_option) = match entry.strip_suffix("with grant option") {
                Some(p) => (p.trim_end(), true),
                None => (entry.as_str(), false),
            };
            if !self.known.contains(&privilege) {
                return Err(Error::refused(
                    SqlState::InvalidParameterValue,
                    format!("unrecognized privilege type: \"{}\"", entry.trim()),
                )
                .into_datafusion());
            }
            any |= !grant_option && self.held.contains(&privilege);
        }
        Ok(any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> HasPrivilege {
        let (name, _, known, held) = FUNCTIONS[0];
        HasPrivilege {
            name,
            known,
            held,
            signature: Signature::any(2, Volatility::Stable),
        }
    }

    #[test]
    fn only_reading_is_held() {
        let t = table();
        assert!(t.holds("SELECT").unwrap());
        assert!(!t.holds("update").unwrap());
        assert!(t.holds("INSERT, select").unwrap());
        assert!(!t.holds("SELECT WITH GRANT OPTION").unwrap());
        assert!(t.holds("fly").is_err());
    }
}
