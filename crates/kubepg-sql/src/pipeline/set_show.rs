//! `SET` (also `SET TIME ZONE`, `SET NAMES`, `SET SESSION CHARACTERISTICS`), `SHOW`, `SHOW ALL`,
//! `RESET`, `RESET ALL` and `DEALLOCATE`, over the session's settings registry
//! ([`crate::settings`]), which `current_setting()` and `pg_settings` read too.
//!
//! Written here rather than taken from datafusion-postgres's SET/SHOW hook, which answers
//! `SHOW` for a handful of names, has no RESET or current_setting, and reports DataFusion's
//! version.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ParamValues;
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, Reset, Set, Statement, TransactionMode, UnaryOperator, Value,
};

use super::hook::Hook;
use super::outcome::{Described, Effect, Outcome, computed, text_columns};
use super::session::KubeSession;
use crate::error::Result;
use crate::settings::SessionSettings;
use crate::time_zone::SessionZone;

pub struct SetShow;

/// The setting a `SHOW` names, by PostgreSQL's spelling (`SHOW TIME ZONE` is `TimeZone`);
/// `None` for `SHOW ALL`.
fn shown(variable: &[Ident]) -> Option<String> {
    let words: Vec<String> = variable
        .iter()
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["all"] => None,
        ["time", "zone"] => Some("TimeZone".into()),
        ["transaction", "isolation", "level"] => Some("transaction_isolation".into()),
        ["session", "authorization"] => Some("session_authorization".into()),
        _ => Some(SessionSettings::canonical(&words.join("."))),
    }
}

const SHOW_ALL: &[&str] = &["name", "setting", "description"];

#[async_trait]
impl Hook for SetShow {
    async fn describe(&self, statement: &Statement, _: &KubeSession) -> Option<Result<Described>> {
        let columns = match statement {
            Statement::ShowVariable { variable } => Some(match shown(variable) {
                None => text_columns(SHOW_ALL),
                Some(name) => text_columns(&[&name]),
            }),
            Statement::Set(_) | Statement::Reset(_) | Statement::Deallocate { .. } => None,
            _ => return None,
        };
        Some(Ok(Described {
            parameters: vec![],
            columns,
        }))
    }

    async fn run(
        &self,
        statement: &Statement,
        _params: Option<&ParamValues>,
        s: &KubeSession,
    ) -> Option<Result<Outcome>> {
        let settings = &s.settings;
        Some(match statement {
            Statement::Set(set) => set_statement(settings, set).map(|()| Outcome::command("SET")),
            Statement::ShowVariable { variable } => show(settings, variable),
            Statement::Reset(reset) => match &reset.reset {
                Reset::ALL => settings.reset_all(),
                Reset::ConfigurationParameter(name) => settings.reset(&name.to_string()),
            }
            .map(|()| Outcome::command("RESET")),
            // Prepared statements are the protocol layer's; it drops them by name.
            Statement::Deallocate { name, .. } => Ok(if name.value.eq_ignore_ascii_case("all") {
                Outcome::Command {
                    tag: "DEALLOCATE ALL".into(),
                    effect: Some(Effect::Deallocate(None)),
                }
            } else {
                Outcome::Command {
                    tag: "DEALLOCATE".into(),
                    effect: Some(Effect::Deallocate(Some(name.value.clone()))),
                }
            }),
            _ => return None,
        })
    }
}

fn set_statement(settings: &SessionSettings, set: &Set) -> Result<()> {
    match set {
        Set::SingleAssignment {
            variable, values, ..
        } => {
            let name = variable.to_string();
            if is_default(values) {
                settings.reset(&name)
            } else {
                let value = values.iter().map(value_text).collect::<Vec<_>>().join(", ");
                settings.set(&name, &value)
            }
        }
        Set::SetTimeZone { value, .. } => match value {
            Expr::Identifier(i)
                if i.value.eq_ignore_ascii_case("local")
                    || i.value.eq_ignore_ascii_case("default") =>
            {
                settings.reset("TimeZone")
            }
            _ => match hours_east(value).and_then(SessionZone::east_of_utc) {
                Some(zone) => settings.set("TimeZone", zone.shown()),
                None => settings.set("TimeZone", &value_text(value)),
            },
        },
        Set::SetNames { charset_name, .. } => {
            settings.set("client_encoding", &charset_name.to_string())
        }
        // The isolation level a session asks for is what it reads back (pgjdbc's
        // getTransactionIsolation after Metabase's setTransactionIsolation); every level is
        // the same here, reads of the clusters' current state. Other transaction modes: every
        // transaction is read-only, and the read-only guard refuses writes whatever the client
        // asked for.
        Set::SetTransaction {
            modes,
            session: true,
            ..
        } => {
            for mode in modes {
                if let TransactionMode::IsolationLevel(level) = mode {
                    let level = level.to_string().to_ascii_lowercase();
                    settings.set("default_transaction_isolation", &level)?;
                    settings.set("transaction_isolation", &level)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn show(settings: &SessionSettings, variable: &[Ident]) -> Result<Outcome> {
    let Some(name) = shown(variable) else {
        let rows = settings.rows();
        let column = |f: &dyn Fn(&crate::settings::SettingRow) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
        };
        let columns = text_columns(SHOW_ALL);
        let batch = RecordBatch::try_new(
            columns.clone(),
            vec![
                column(&|r| r.name.clone()),
                column(&|r| r.setting.clone()),
                column(&|r| r.description.clone()),
            ],
        )?;
        return Ok(computed(columns, vec![batch], "SHOW"));
    };
    let value = settings.get(&name)?;
    let columns = text_columns(&[&name]);
    let batch = RecordBatch::try_new(
        columns.clone(),
        vec![Arc::new(StringArray::from(vec![value])) as ArrayRef],
    )?;
    Ok(computed(columns, vec![batch], "SHOW"))
}

/// `SET TIME ZONE -5` (hours) or `SET TIME ZONE INTERVAL '+05:30' HOUR TO MINUTE`: seconds
/// east of Greenwich, unlike a zone string such as `'+05:30'`, which PostgreSQL reads as
/// POSIX does (west).
fn hours_east(value: &Expr) -> Option<i32> {
    let hours = |e: &Expr| match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse::<f64>().ok(),
            _ => None,
        },
        _ => None,
    };
    let seconds = match value {
        Expr::UnaryOp { op, expr } => {
            let h = hours(expr)?;
            match op {
                UnaryOperator::Minus => -h,
                UnaryOperator::Plus => h,
                _ => return None,
            }
        }
        Expr::Interval(interval) => {
            let Expr::Value(v) = interval.value.as_ref() else {
                return None;
            };
            let Value::SingleQuotedString(text) = &v.value else {
                return None;
            };
            let (sign, rest) = match text.trim().strip_prefix('-') {
                Some(rest) => (-1.0, rest),
                None => (1.0, text.trim().trim_start_matches('+')),
            };
            let mut parts = rest.split(':').map(|p| p.parse::<f64>().ok());
            let h = parts.next()??;
            let m = parts.next().flatten().unwrap_or(0.0);
            sign * (h + m / 60.0)
        }
        other => hours(other)?,
    } * 3600.0;
    (seconds.abs() <= 16.0 * 3600.0).then_some(seconds.round() as i32)
}

fn is_default(values: &[Expr]) -> bool {
    matches!(values, [Expr::Identifier(i)] if i.value.eq_ignore_ascii_case("default"))
}

/// A SET value as PostgreSQL stores it: quotes removed, identifiers and numbers as written.
fn value_text(value: &Expr) -> String {
    match value {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}
