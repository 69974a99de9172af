//! Session settings as PostgreSQL clients expect them: `SET` (also `SET TIME ZONE`, `SET
//! SESSION CHARACTERISTICS`), `SHOW`, `SHOW ALL`, `RESET`, `RESET ALL`, `DISCARD ALL`,
//! `DEALLOCATE`, and `current_setting()` over the same values; also `SAVEPOINT`,
//! `RELEASE` and `ROLLBACK TO`, which have nothing to undo on a read-only server.
//!
//! Written here rather than taken from datafusion-postgres's SET/SHOW hook, which answers
//! `SHOW` for a handful of names, has no RESET or current_setting, and reports DataFusion's
//! version. The formatting settings pgwire reads (DateStyle, IntervalStyle, bytea_output,
//! extra_float_digits) are mirrored into the connection's metadata; `kubepg.*` and
//! `datafusion.*` names are the DataFusion session's own options, and `RESET` returns a
//! `kubepg.*` setting to its value at the start of the session (the SQL user's identity mapping
//! gives `kubepg.namespaces` its own).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    ColumnarValue, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{DiscardObject, Expr, Reset, Set, Statement, Value};
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::results::{
    DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag,
};
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::startup::ParameterStatus;

use crate::compat::{SERVER_VERSION, SERVER_VERSION_NUM};
use crate::errors::{to_pgwire, user_error};

/// Settings PostgreSQL reports to the client whenever they change (GUC_REPORT).
const REPORTED: &[&str] = &[
    "application_name",
    "client_encoding",
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
];

/// Settings a client may read but not change.
const READ_ONLY: &[&str] = &[
    "server_version",
    "server_version_num",
    "server_encoding",
    "integer_datetimes",
    "max_identifier_length",
    "max_index_keys",
    "is_superuser",
    "transaction_read_only",
    "default_transaction_read_only",
];

/// Names pgwire's formatting reads from the connection metadata, by setting.
const FORMATTING: &[(&str, &str)] = &[
    ("DateStyle", "datestyle"),
    ("IntervalStyle", "intervalstyle"),
    ("bytea_output", "bytea_output"),
    ("extra_float_digits", "extra_float_digits"),
];

/// One connection's settings: PostgreSQL 16's defaults for a read-only server, and what the
/// client changed.
#[derive(Debug)]
pub struct Settings {
    defaults: BTreeMap<String, String>,
    values: RwLock<BTreeMap<String, String>>,
    /// `kubepg.*` settings as the session started (the engine's defaults and the SQL user's
    /// identity mapping), which RESET returns to.
    session_defaults: RwLock<BTreeMap<String, String>>,
}

impl Settings {
    pub fn new(statement_timeout: Duration) -> Self {
        let defaults = [
            ("application_name", ""),
            ("bytea_output", "hex"),
            ("client_encoding", "UTF8"),
            ("client_min_messages", "notice"),
            ("DateStyle", "ISO, MDY"),
            ("default_transaction_isolation", "read committed"),
            ("default_transaction_read_only", "on"),
            ("extra_float_digits", "1"),
            ("idle_in_transaction_session_timeout", "0"),
            ("integer_datetimes", "on"),
            ("IntervalStyle", "postgres"),
            ("is_superuser", "off"),
            ("lock_timeout", "0"),
            ("max_identifier_length", "63"),
            ("max_index_keys", "32"),
            ("search_path", "\"$user\", public"),
            ("server_encoding", "UTF8"),
            ("server_version", SERVER_VERSION),
            ("server_version_num", SERVER_VERSION_NUM),
            ("standard_conforming_strings", "on"),
            ("TimeZone", "UTC"),
            ("transaction_isolation", "read committed"),
            ("transaction_read_only", "on"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([(
            "statement_timeout".to_string(),
            show_duration(statement_timeout),
        )])
        .collect();
        Self {
            defaults,
            values: RwLock::new(BTreeMap::new()),
            session_defaults: RwLock::new(BTreeMap::new()),
        }
    }

    /// The canonical spelling of a setting name (`datestyle` → `DateStyle`).
    fn canonical(&self, name: &str) -> String {
        self.defaults
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| name.to_ascii_lowercase())
    }

    /// Takes the settings a client sent in its startup packet (pgjdbc sends
    /// `extra_float_digits`, psql `application_name`, libpq users `options`-free `DateStyle`).
    pub fn apply_startup(&self, parameters: &std::collections::HashMap<String, String>) {
        let mut values = self.values.write().unwrap_or_else(|p| p.into_inner());
        for (name, value) in parameters {
            let name = self.canonical(name);
            if self.defaults.contains_key(&name) && !READ_ONLY.contains(&name.as_str()) {
                values.insert(name, value.clone());
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        let name = self.canonical(name);
        let values = self.values.read().unwrap_or_else(|p| p.into_inner());
        values
            .get(&name)
            .or_else(|| self.defaults.get(&name))
            .cloned()
    }

    pub fn all(&self) -> BTreeMap<String, String> {
        let mut all = self.defaults.clone();
        all.extend(
            self.values
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        );
        all
    }

    /// The statement timeout now in force; `None` when disabled.
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.get("statement_timeout")
            .and_then(|v| parse_duration(&v))
            .filter(|d| !d.is_zero())
    }

    /// Registers `current_setting(name [, missing_ok])` over these settings.
    pub fn register(self: &Arc<Self>, ctx: &SessionContext) {
        *self
            .session_defaults
            .write()
            .unwrap_or_else(|p| p.into_inner()) = ctx
            .state()
            .config_options()
            .entries()
            .into_iter()
            .filter(|e| e.key.starts_with("kubepg."))
            .filter_map(|e| Some((e.key, e.value?)))
            .collect();
        ctx.register_udf(ScalarUDF::new_from_impl(CurrentSetting {
            settings: self.clone(),
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
                ],
                Volatility::Stable,
            ),
        }));
    }

    /// A plan with the columns `statement` answers with, for Describe in the extended protocol;
    /// `None` when the statement is not a settings statement.
    pub fn describe(statement: &Statement) -> Option<LogicalPlan> {
        let columns = match statement {
            Statement::ShowVariable { variable } if is_all(variable) => {
                vec!["name", "setting", "description"]
            }
            Statement::ShowVariable { .. } => vec!["setting"],
            Statement::Set(_)
            | Statement::Reset(_)
            | Statement::Discard { .. }
            | Statement::Deallocate { .. }
            | Statement::LISTEN { .. }
            | Statement::UNLISTEN { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Rollback {
                savepoint: Some(_), ..
            } => vec![],
            _ => return None,
        };
        let schema = datafusion::common::DFSchema::from_unqualified_fields(
            columns
                .into_iter()
                .map(|c| datafusion::arrow::datatypes::Field::new(c, DataType::Utf8, true))
                .collect(),
            Default::default(),
        )
        .ok()?;
        Some(LogicalPlan::EmptyRelation(
            datafusion::logical_expr::EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(schema),
            },
        ))
    }

    /// Runs `statement` when it is a settings statement.
    pub async fn execute<C: HookClient + ?Sized>(
        &self,
        client: &mut C,
        ctx: &SessionContext,
        statement: &Statement,
    ) -> Option<PgWireResult<Response>> {
        let result = match statement {
            Statement::Set(set) => self.set(client, ctx, set).await,
            Statement::ShowVariable { variable } => self.show(ctx, variable),
            Statement::Reset(reset) => match &reset.reset {
                Reset::ALL => self.reset_all(client, ctx).await.map(|()| tag("RESET")),
                Reset::ConfigurationParameter(name) => self
                    .reset(client, ctx, &name.to_string())
                    .await
                    .map(|()| tag("RESET")),
            },
            Statement::Discard { object_type } => {
                if matches!(object_type, DiscardObject::ALL) {
                    if let Err(e) = self.reset_all(client, ctx).await {
                        return Some(Err(e));
                    }
                    HookClient::portal_store(client).clear_portals();
                }
                Ok(tag(&format!("DISCARD {object_type}")))
            }
            // Prepared statements by protocol name; pgwire's store cannot list its statements,
            // so DEALLOCATE ALL leaves them to be replaced by name or dropped with the connection.
            Statement::Deallocate { name, .. } => {
                if !name.value.eq_ignore_ascii_case("all") {
                    HookClient::portal_store(client).rm_statement(&name.value);
                }
                Ok(tag("DEALLOCATE"))
            }
            Statement::Savepoint { .. } => Ok(tag("SAVEPOINT")),
            Statement::ReleaseSavepoint { .. } => Ok(tag("RELEASE")),
            Statement::Rollback {
                savepoint: Some(_), ..
            } => Ok(tag("ROLLBACK")),
            _ => return None,
        };
        Some(result)
    }

    async fn set<C: HookClient + ?Sized>(
        &self,
        client: &mut C,
        ctx: &SessionContext,
        set: &Set,
    ) -> PgWireResult<Response> {
        match set {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = variable.to_string();
                if is_default(values) {
                    self.reset(client, ctx, &name).await?;
                } else {
                    let value = values.iter().map(value_text).collect::<Vec<_>>().join(", ");
                    self.assign(client, ctx, &name, value).await?;
                }
            }
            Set::SetTimeZone { value, .. } => {
                self.assign(client, ctx, "TimeZone", value_text(value))
                    .await?;
            }
            Set::SetNames { charset_name, .. } => {
                self.assign(client, ctx, "client_encoding", charset_name.to_string())
                    .await?;
            }
            // Transaction modes and session characteristics: every transaction is read-only,
            // and the read-only guard refuses writes whatever the client asked for.
            _ => {}
        }
        Ok(tag("SET"))
    }

    async fn assign<C: HookClient + ?Sized>(
        &self,
        client: &mut C,
        ctx: &SessionContext,
        name: &str,
        value: String,
    ) -> PgWireResult<()> {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("kubepg.") || lower.starts_with("datafusion.") {
            let state = ctx.state_ref();
            let mut state = state.write();
            return state
                .config_mut()
                .options_mut()
                .set(&lower, &value)
                .map_err(setting_error);
        }
        let name = self.canonical(name);
        if READ_ONLY.contains(&name.as_str()) {
            return Err(user_error(
                "55P02",
                format!("parameter \"{name}\" cannot be changed"),
            ));
        }
        let value = match name.as_str() {
            "statement_timeout" => {
                let timeout = parse_duration(&value).ok_or_else(|| {
                    user_error(
                        "22023",
                        format!("invalid value for parameter \"statement_timeout\": \"{value}\""),
                    )
                })?;
                show_duration(timeout)
            }
            "client_encoding"
                if !matches!(
                    value.to_ascii_uppercase().as_str(),
                    "UTF8" | "UTF-8" | "UNICODE"
                ) =>
            {
                return Err(user_error(
                    "0A000",
                    format!(
                        "kubepg speaks UTF8 only; cannot switch client_encoding to \"{value}\""
                    ),
                ));
            }
            "client_encoding" => "UTF8".to_string(),
            _ => value,
        };
        self.values
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), value);
        self.publish(client, &name).await
    }

    async fn reset<C: HookClient + ?Sized>(
        &self,
        client: &mut C,
        ctx: &SessionContext,
        name: &str,
    ) -> PgWireResult<()> {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("kubepg.") {
            let default = self
                .session_defaults
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&lower)
                .cloned()
                .ok_or_else(|| unrecognized(&lower))?;
            return self.assign(client, ctx, &lower, default).await;
        }
        let name = self.canonical(name);
        self.values
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&name);
        self.publish(client, &name).await
    }

    async fn reset_all<C: HookClient + ?Sized>(
        &self,
        client: &mut C,
        ctx: &SessionContext,
    ) -> PgWireResult<()> {
        let kubepg: Vec<(String, String)> = self
            .session_defaults
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .into_iter()
            .collect();
        for (name, default) in kubepg {
            self.assign(client, ctx, &name, default).await?;
        }
        let changed: Vec<String> =
            std::mem::take(&mut *self.values.write().unwrap_or_else(|p| p.into_inner()))
                .into_keys()
                .collect();
        for name in changed {
            self.publish(client, &name).await?;
        }
        Ok(())
    }

    /// Makes the current value of `name` visible where it acts: pgwire's value formatting and,
    /// for reported settings, a ParameterStatus to the client.
    async fn publish<C: HookClient + ?Sized>(
        &self,
        client: &mut C,
        name: &str,
    ) -> PgWireResult<()> {
        let value = self.get(name).unwrap_or_default();
        if let Some((_, key)) = FORMATTING.iter().find(|(n, _)| *n == name) {
            client.metadata_mut().insert(key.to_string(), value.clone());
        }
        if REPORTED.contains(&name) {
            client
                .send_message(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    name.to_string(),
                    value,
                )))
                .await?;
        }
        Ok(())
    }

    fn show(
        &self,
        ctx: &SessionContext,
        variable: &[datafusion::sql::sqlparser::ast::Ident],
    ) -> PgWireResult<Response> {
        if is_all(variable) {
            let rows = self
                .all()
                .into_iter()
                .map(|(name, value)| vec![name, value, String::new()])
                .collect();
            return rows_response(&["name", "setting", "description"], rows);
        }
        let words: Vec<String> = variable
            .iter()
            .map(|i| i.value.to_ascii_lowercase())
            .collect();
        let name = match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["time", "zone"] => "TimeZone".to_string(),
            ["transaction", "isolation", "level"] => "transaction_isolation".to_string(),
            _ => words.join("."),
        };
        if name.starts_with("kubepg.") || name.starts_with("datafusion.") {
            let options = ctx.state().config_options().entries();
            return match options.into_iter().find(|e| e.key == name) {
                Some(entry) => rows_response(&[&name], vec![vec![entry.value.unwrap_or_default()]]),
                None => Err(unrecognized(&name)),
            };
        }
        match self.get(&name) {
            Some(value) => rows_response(&[&self.canonical(&name)], vec![vec![value]]),
            None => Err(unrecognized(&name)),
        }
    }
}

/// `current_setting()`: one function for both arities, which `create_udf` cannot express.
#[derive(Debug)]
struct CurrentSetting {
    settings: Arc<Settings>,
    signature: Signature,
}

impl PartialEq for CurrentSetting {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.settings, &other.settings)
    }
}

impl Eq for CurrentSetting {}

impl std::hash::Hash for CurrentSetting {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.settings).hash(state);
    }
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let args = args.args;
        let missing_ok = matches!(
            args.get(1),
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        );
        let lookup = |name: Option<&str>| -> datafusion::error::Result<Option<String>> {
            let Some(name) = name else { return Ok(None) };
            match self.settings.get(name) {
                Some(v) => Ok(Some(v)),
                None if missing_ok => Ok(None),
                None => Err(datafusion::error::DataFusionError::Plan(format!(
                    "unrecognized configuration parameter \"{name}\""
                ))),
            }
        };
        match &args[0] {
            ColumnarValue::Scalar(s) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(lookup(
                s.try_as_str().flatten(),
            )?))),
            ColumnarValue::Array(a) => {
                let names = datafusion::common::cast::as_string_array(a)?;
                let values = names
                    .iter()
                    .map(lookup)
                    .collect::<datafusion::error::Result<StringArray>>()?;
                Ok(ColumnarValue::Array(Arc::new(values) as ArrayRef))
            }
        }
    }
}

/// kubepg's own settings refuse a value with their own error and SQLSTATE; anything else
/// DataFusion refuses is an invalid value.
fn setting_error(e: datafusion::error::DataFusionError) -> PgWireError {
    match kubepg_sql::Error::from(e) {
        kubepg_sql::Error::DataFusion(e) => user_error("22023", e.to_string()),
        own => to_pgwire(own),
    }
}

fn unrecognized(name: &str) -> PgWireError {
    user_error(
        "42704",
        format!("unrecognized configuration parameter \"{name}\""),
    )
}

fn is_all(variable: &[datafusion::sql::sqlparser::ast::Ident]) -> bool {
    matches!(variable, [v] if v.value.eq_ignore_ascii_case("all"))
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

/// `5000`, `'5s'`, `'1min'`, `'250ms'`, `'1h'`: a bare number is milliseconds, as in PostgreSQL.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let ms = match unit.trim() {
        "" | "ms" => n,
        "s" => n * 1000,
        "min" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// A duration the way `SHOW` prints it: the largest whole unit.
fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0".into(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}min", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

fn tag(name: &str) -> Response {
    Response::Execution(Tag::new(name))
}

fn rows_response(columns: &[&str], rows: Vec<Vec<String>>) -> PgWireResult<Response> {
    let fields = Arc::new(
        columns
            .iter()
            .map(|c| FieldInfo::new(c.to_string(), None, None, Type::TEXT, FieldFormat::Text))
            .collect::<Vec<_>>(),
    );
    let mut encoded = Vec::with_capacity(rows.len());
    for row in rows {
        let mut encoder = DataRowEncoder::new(fields.clone());
        for value in row {
            encoder.encode_field(&Some(value))?;
        }
        encoded.push(Ok(encoder.take_row()));
    }
    Ok(Response::Query(QueryResponse::new(
        fields,
        futures::stream::iter(encoded),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_postgresql_and_show_in_the_largest_whole_unit() {
        assert_eq!(parse_duration("5000"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2min"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(show_duration(Duration::from_secs(300)), "5min");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(show_duration(Duration::ZERO), "0");
    }
}
