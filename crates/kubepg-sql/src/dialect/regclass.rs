//! `x::regclass` of a value computed in the query, as PostgreSQL reads it: a relation name
//! (`public.pods`, `"Mixed"`, or unqualified, found on the search path) is that relation's
//! oid, a number is the oid itself, and a name that is no relation is 42P01. Metabase's
//! describe-fields casts `format('%I.%I', schema, table)` so for every column.
//! datafusion-pg-catalog resolves only literal and parameter operands (into a subquery); the
//! statement pipeline writes every other regclass cast as `pg_regclass(x)`.
//!
//! The oids are those the session's `pg_class` hands out as it is read, so the function
//! reads it: an async function, because a table is read asynchronously.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, Int32Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::SchemaProvider;
use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use super::catalog_rows::{namespaces, relations_of};
use super::visibility::search_path;
use crate::error::Error;
use crate::settings::SessionSettings;
use crate::sqlstate::SqlState;

/// The name the statement pipeline calls.
pub const REGCLASS: &str = "pg_regclass";

/// Registers the session's `pg_regclass` over `pg_catalog`, datafusion-pg-catalog's schema.
pub(super) fn register(
    ctx: &SessionContext,
    pg_catalog: Arc<dyn SchemaProvider>,
    settings: Arc<SessionSettings>,
) {
    let function = RegClass {
        pg_catalog,
        settings,
        // Volatile: a stable or immutable call with constant arguments would be folded while
        // planning, and an async function can only run inside a plan.
        signature: Signature::any(1, Volatility::Volatile),
    };
    ctx.register_udf(AsyncScalarUDF::new(Arc::new(function)).into_scalar_udf());
}

#[derive(Debug)]
struct RegClass {
    pg_catalog: Arc<dyn SchemaProvider>,
    settings: Arc<SessionSettings>,
    signature: Signature,
}

impl PartialEq for RegClass {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.pg_catalog, &other.pg_catalog)
    }
}

impl Eq for RegClass {}

impl std::hash::Hash for RegClass {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        REGCLASS.hash(state);
    }
}

impl ScalarUDFImpl for RegClass {
    fn name(&self) -> &str {
        REGCLASS
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        // datafusion-pg-catalog's oids (and so its regclass) are int4.
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        datafusion::common::internal_err!("{REGCLASS} runs only as an async function")
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for RegClass {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = args.args[0].to_array(args.number_rows)?;
        if input.data_type().is_integer() {
            return Ok(ColumnarValue::Array(cast(&input, &DataType::Int32)?));
        }
        let names = cast(&input, &DataType::Utf8)?;
        let names = names.as_string::<i32>();
        if names.null_count() == names.len() {
            return Ok(ColumnarValue::Array(Arc::new(Int32Array::new_null(
                names.len(),
            ))));
        }
        let relations = self.relations().await?;
        let path = search_path(&self.settings.get("search_path").unwrap_or_default());
        let oids = names
            .iter()
            .map(|name| name.map(|n| resolve(n, &relations, &path)).transpose())
            .collect::<Result<Int32Array>>()?;
        Ok(ColumnarValue::Array(Arc::new(oids)))
    }
}

impl RegClass {
    /// Every relation's oid by (schema, name), as the session's `pg_class` numbers them.
    async fn relations(&self) -> Result<HashMap<(String, String), i64>> {
        let (Some(class), Some(namespace)) = (
            self.pg_catalog.table("pg_class").await?,
            self.pg_catalog.table("pg_namespace").await?,
        ) else {
            return Ok(HashMap::new());
        };
        // The catalog tables read nothing from the session but its batch size and memory
        // pool, so a bare state serves.
        let state = SessionStateBuilder::new().build();
        let schemas = namespaces(&namespace, &state).await?;
        Ok(relations_of(&class, &state)
            .await?
            .into_iter()
            .filter_map(|(oid, space, name)| Some(((schemas.get(&space)?.clone(), name), oid)))
            .collect())
    }
}

/// The oid `text::regclass` gives in PostgreSQL.
fn resolve(text: &str, relations: &HashMap<(String, String), i64>, path: &[String]) -> Result<i32> {
    let missing = || {
        Error::refused(
            SqlState::UndefinedTable,
            format!("relation \"{text}\" does not exist"),
        )
        .into_datafusion()
    };
    if let Ok(oid) = text.trim().parse::<i64>() {
        return Ok(oid as i32);
    }
    let parts = identifiers(text).ok_or_else(|| {
        Error::refused(
            SqlState::InvalidName,
            format!("invalid name syntax: \"{text}\""),
        )
        .into_datafusion()
    })?;
    let found = match parts.as_slice() {
        [name] => std::iter::once("pg_catalog")
            .chain(path.iter().map(String::as_str))
            .find_map(|schema| relations.get(&(schema.to_string(), name.clone()))),
        [.., schema, name] if parts.len() <= 3 => relations.get(&(schema.clone(), name.clone())),
        _ => None,
    };
    found.map(|oid| *oid as i32).ok_or_else(missing)
}

/// A dotted name split as PostgreSQL splits it: unquoted parts folded to lower case, quoted
/// ones kept as written (`""` standing for a quote); None when it is no name.
fn identifiers(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != '.') {
                part.extend(c.to_lowercase());
            }
            part = part.trim().to_string();
        }
        if part.is_empty() {
            return None;
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => continue,
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_fold_and_resolve_on_the_search_path() {
        assert_eq!(identifiers("public.Pods").unwrap(), ["public", "pods"]);
        assert_eq!(
            identifiers(r#""My ""x"".y"."Z""#).unwrap(),
            [r#"My "x".y"#, "Z"]
        );
        assert!(identifiers("a..b").is_none());
        assert!(identifiers(r#""open"#).is_none());
        let relations = HashMap::from([
            (("public".to_string(), "pods".to_string()), 7),
            (("kubepg".to_string(), "tables".to_string()), 9),
        ]);
        let path = ["public".to_string()];
        assert_eq!(resolve("pods", &relations, &path).unwrap(), 7);
        assert_eq!(resolve("kubepg.tables", &relations, &path).unwrap(), 9);
        assert_eq!(resolve("16384", &relations, &path).unwrap(), 16384);
        assert!(resolve("tables", &relations, &path).is_err());
    }
}
