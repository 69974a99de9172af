//! PostgreSQL's `regexp_split_to_array(text, pattern[, flags])`, which DataFusion lacks; the
//! statement pipeline writes `regexp_split_to_table(…)` (pgcli's start-up casing query) as
//! its unnest. As in PostgreSQL, a zero-length match at the start or the end of the string,
//! or right after another match, splits nothing; flag `i` matches case-insensitively.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;
use regex::{Regex, RegexBuilder};

use super::call;
use crate::error::Error;
use crate::sqlstate::SqlState;

/// The function the statement pipeline unnests for `regexp_split_to_table`.
pub const SPLIT_TO_ARRAY: &str = "regexp_split_to_array";

pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(SplitToArray {
        signature: Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8, DataType::Utf8]),
            ],
            Volatility::Immutable,
        ),
    }));
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SplitToArray {
    signature: Signature,
}

impl ScalarUDFImpl for SplitToArray {
    fn name(&self) -> &str {
        SPLIT_TO_ARRAY
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::new_list(DataType::Utf8, true))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (scalar, rows) = call::rows(&args);
        let texts = call::texts(&args, rows)?;
        let strings = texts[0].as_string::<i32>();
        let patterns = texts[1].as_string::<i32>();
        let flags = texts.get(2).map(|f| f.as_string::<i32>());
        let mut out = ListBuilder::new(StringBuilder::new())
            .with_field(Arc::new(Field::new_list_field(DataType::Utf8, true)));
        let mut compiled: Option<(String, String, Regex)> = None;
        for i in 0..rows {
            let flag = flags.map(|f| (!f.is_null(i)).then(|| f.value(i)));
            if strings.is_null(i) || patterns.is_null(i) || flag == Some(None) {
                out.append_null();
                continue;
            }
            let (pattern, flag) = (patterns.value(i), flag.flatten().unwrap_or(""));
            if !compiled
                .as_ref()
                .is_some_and(|(p, f, _)| p == pattern && f == flag)
            {
                compiled = Some((pattern.into(), flag.into(), regex(pattern, flag)?));
            }
            let (.., re) = compiled.as_ref().expect("compiled above");
            for part in split(strings.value(i), re) {
                out.values().append_value(part);
            }
            out.append(true);
        }
        call::answer(Arc::new(out.finish()), scalar)
    }
}

fn regex(pattern: &str, flags: &str) -> Result<Regex> {
    let mut builder = RegexBuilder::new(pattern);
    for flag in flags.chars() {
        match flag {
            'i' => builder.case_insensitive(true),
            'c' => builder.case_insensitive(false),
            _ => {
                return Err(Error::refused(
                    SqlState::InvalidParameterValue,
                    format!("invalid regular expression option: \"{flag}\""),
                )
                .into_datafusion());
            }
        };
    }
    builder.build().map_err(|e| {
        Error::refused(
            SqlState::InvalidRegularExpression,
            format!("invalid regular expression: {e}"),
        )
        .into_datafusion()
    })
}

fn split<'a>(text: &'a str, re: &Regex) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut previous_end = None;
    for m in re.find_iter(text) {
        let empty = m.start() == m.end();
        if empty && (m.start() == 0 || m.start() == text.len() || previous_end == Some(m.start())) {
            continue;
        }
        parts.push(&text[start..m.start()]);
        start = m.end();
        previous_end = Some(m.end());
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_postgresql_splits() {
        // PostgreSQL 15's documented examples (functions-matching).
        let words = regex(r"\s+", "").unwrap();
        assert_eq!(
            split("the quick brown fox", &words),
            ["the", "quick", "brown", "fox"]
        );
        let letters = regex(r"\s*", "").unwrap();
        assert_eq!(split("the fox", &letters), ["t", "h", "e", "f", "o", "x"]);
        assert_eq!(split("", &words), [""]);
        assert_eq!(split("aXbxc", &regex("x", "i").unwrap()), ["a", "b", "c"]);
        assert!(regex("(", "").is_err());
        assert!(regex("a", "q").is_err());
    }
}
