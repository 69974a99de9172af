//! The one settings registry of a session. Every setting a client can name is defined here —
//! PostgreSQL's (as PostgreSQL 16 reports them for a read-only server), kubepg's own
//! (`kubepg.*`, [`kubepg::KubepgSettings`]) and the query engine's (`datafusion.*`) — with its
//! type, default and how it is shown; `SET`, `SHOW`, `SHOW ALL`, `RESET`, `current_setting()`,
//! `set_config()` and `pg_settings` all read and write through [`SessionSettings`], so they
//! always agree.
//!
//! kubepg's and DataFusion's values live in the session's DataFusion config, where scans and
//! the planner read them; PostgreSQL's live here. Names with a dot that no one defines are
//! custom settings, as in PostgreSQL (`SET myapp.tenant = 'a'`).

pub mod kubepg;
mod units;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use datafusion::execution::{FunctionRegistry, SessionState};

pub use kubepg::{Consistency, KubepgSettings};
pub use units::{parse_duration, show_duration};

use crate::error::{Error, Result};
use crate::sqlstate::SqlState;

/// Where a setting comes from, which decides where its value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Postgres,
    Kubepg,
    DataFusion,
    /// A dotted name no one defines, kept as given.
    Custom,
}

/// How a PostgreSQL setting behaves.
#[derive(Debug, Clone, Copy)]
struct Definition {
    name: &'static str,
    default: &'static str,
    vartype: &'static str,
    unit: Option<&'static str>,
    category: &'static str,
    description: &'static str,
    /// Clients may read but not change it.
    read_only: bool,
    /// PostgreSQL reports every change to the client (GUC_REPORT, a ParameterStatus).
    reported: bool,
}

const fn pg(
    name: &'static str,
    default: &'static str,
    vartype: &'static str,
    category: &'static str,
    description: &'static str,
) -> Definition {
    Definition {
        name,
        default,
        vartype,
        unit: None,
        category,
        description,
        read_only: false,
        reported: false,
    }
}

const fn fixed(mut d: Definition) -> Definition {
    d.read_only = true;
    d
}

const fn reported(mut d: Definition) -> Definition {
    d.reported = true;
    d
}

const CLIENT: &str = "Client Connection Defaults / Locale and Formatting";
const STATEMENT: &str = "Client Connection Defaults / Statement Behavior";
const PRESET: &str = "Preset Options";
const CONNECTION: &str = "Connections and Authentication";
const VERSION: &str = "Version and Platform Compatibility";

/// The version kubepg reports to clients, which pick their catalog queries by it.
pub const SERVER_VERSION: &str = "16.6";
pub const SERVER_VERSION_NUM: &str = "160006";

/// PostgreSQL's settings, with the values PostgreSQL 16 has on a read-only server.
/// `statement_timeout`'s default is the server's configuration, not this table's.
const POSTGRES: &[Definition] = &[
    reported(pg(
        "application_name",
        "",
        "string",
        "Reporting and Logging / What to Log",
        "Sets the application name to be reported in statistics and logs.",
    )),
    pg(
        "bytea_output",
        "hex",
        "enum",
        STATEMENT,
        "Sets the output format for bytea.",
    ),
    reported(pg(
        "client_encoding",
        "UTF8",
        "string",
        CLIENT,
        "Sets the client's character set encoding.",
    )),
    pg(
        "client_min_messages",
        "notice",
        "enum",
        STATEMENT,
        "Sets the message levels that are sent to the client.",
    ),
    reported(pg(
        "DateStyle",
        "ISO, MDY",
        "string",
        CLIENT,
        "Sets the display format for date and time values.",
    )),
    pg(
        "default_transaction_isolation",
        "read committed",
        "enum",
        STATEMENT,
        "Sets the transaction isolation level of each new transaction.",
    ),
    reported(fixed(pg(
        "default_transaction_read_only",
        "on",
        "bool",
        STATEMENT,
        "Sets the default read-only status of new transactions.",
    ))),
    pg(
        "extra_float_digits",
        "1",
        "integer",
        CLIENT,
        "Sets the number of digits displayed for floating-point values.",
    ),
    Definition {
        unit: Some("ms"),
        ..pg(
            "idle_in_transaction_session_timeout",
            "0",
            "integer",
            STATEMENT,
            "Sets the maximum allowed idle time between queries, when in a transaction.",
        )
    },
    reported(fixed(pg(
        "integer_datetimes",
        "on",
        "bool",
        PRESET,
        "Shows whether datetimes are integer based.",
    ))),
    reported(pg(
        "IntervalStyle",
        "postgres",
        "enum",
        CLIENT,
        "Sets the display format for interval values.",
    )),
    reported(fixed(pg(
        "is_superuser",
        "off",
        "bool",
        PRESET,
        "Shows whether the current user is a superuser.",
    ))),
    pg(
        "lc_messages",
        "C",
        "string",
        CLIENT,
        "Sets the language in which messages are displayed.",
    ),
    pg(
        "lc_monetary",
        "C",
        "string",
        CLIENT,
        "Sets the locale for formatting monetary amounts.",
    ),
    pg(
        "lc_numeric",
        "C",
        "string",
        CLIENT,
        "Sets the locale for formatting numbers.",
    ),
    pg(
        "lc_time",
        "C",
        "string",
        CLIENT,
        "Sets the locale for formatting date and time values.",
    ),
    Definition {
        unit: Some("ms"),
        ..pg(
            "lock_timeout",
            "0",
            "integer",
            STATEMENT,
            "Sets the maximum allowed duration of any wait for a lock.",
        )
    },
    fixed(pg(
        "max_identifier_length",
        "63",
        "integer",
        PRESET,
        "Shows the maximum identifier length.",
    )),
    fixed(pg(
        "max_index_keys",
        "32",
        "integer",
        PRESET,
        "Shows the maximum number of index keys.",
    )),
    fixed(pg(
        "max_connections",
        "100",
        "integer",
        CONNECTION,
        "Sets the maximum number of concurrent connections.",
    )),
    pg(
        "search_path",
        "\"$user\", public",
        "string",
        STATEMENT,
        "Sets the schema search order for names that are not schema-qualified.",
    ),
    reported(fixed(pg(
        "server_encoding",
        "UTF8",
        "string",
        PRESET,
        "Shows the server (database) character set encoding.",
    ))),
    reported(fixed(pg(
        "server_version",
        SERVER_VERSION,
        "string",
        PRESET,
        "Shows the server version.",
    ))),
    fixed(pg(
        "server_version_num",
        SERVER_VERSION_NUM,
        "integer",
        PRESET,
        "Shows the server version as an integer.",
    )),
    reported(pg(
        "standard_conforming_strings",
        "on",
        "bool",
        VERSION,
        "Causes '...' strings to treat backslashes literally.",
    )),
    Definition {
        unit: Some("ms"),
        ..pg(
            "statement_timeout",
            "0",
            "integer",
            STATEMENT,
            "Sets the maximum allowed duration of any statement.",
        )
    },
    reported(pg(
        "TimeZone",
        "UTC",
        "string",
        CLIENT,
        "Sets the time zone for displaying and interpreting time stamps.",
    )),
    pg(
        "transaction_isolation",
        "read committed",
        "string",
        STATEMENT,
        "Sets the current transaction's isolation level.",
    ),
    fixed(pg(
        "transaction_read_only",
        "on",
        "bool",
        STATEMENT,
        "Sets the current transaction's read-only status.",
    )),
];

fn definition(name: &str) -> Option<&'static Definition> {
    POSTGRES.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// One setting as `SHOW ALL` and `pg_settings` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingRow {
    pub name: String,
    pub setting: String,
    pub unit: Option<&'static str>,
    pub category: String,
    pub description: String,
    /// `user` (a client may change it) or `internal` (read-only), as in `pg_settings.context`.
    pub context: &'static str,
    pub vartype: &'static str,
    /// `default`, `client` (the startup packet), `session` (a SET).
    pub source: &'static str,
    pub boot_val: String,
    pub reset_val: String,
}

/// A setting whose value changed, for the front end: PostgreSQL tells clients of reported
/// settings (ParameterStatus), and pgwire formats values after some of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub name: String,
    pub value: String,
    pub reported: bool,
}

/// One session's settings.
#[derive(Debug)]
pub struct SessionSettings {
    /// PostgreSQL's defaults, with this server's `statement_timeout`.
    defaults: BTreeMap<&'static str, String>,
    /// What the client changed (PostgreSQL settings and custom ones), and where it came from.
    values: RwLock<BTreeMap<String, (String, &'static str)>>,
    /// What the client's startup packet set: what RESET returns those settings to.
    startup: RwLock<BTreeMap<String, String>>,
    /// `kubepg.*` values as the session started (the engine's defaults and the SQL user's
    /// identity mapping): what RESET returns them to.
    kubepg_defaults: RwLock<BTreeMap<String, String>>,
    /// The session's DataFusion state, where `kubepg.*` and `datafusion.*` live. Weak: the
    /// state holds this registry (through `current_setting()`).
    state: RwLock<Weak<parking_lot::RwLock<SessionState>>>,
    /// Settings changed since the front end last asked.
    changed: Mutex<Vec<Changed>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

impl SessionSettings {
    /// The settings of a new session whose `statement_timeout` starts at `statement_timeout`.
    pub fn new(statement_timeout: Duration) -> Self {
        let mut defaults: BTreeMap<&'static str, String> = POSTGRES
            .iter()
            .map(|d| (d.name, d.default.to_string()))
            .collect();
        defaults.insert("statement_timeout", show_duration(statement_timeout));
        Self {
            defaults,
            values: RwLock::default(),
            startup: RwLock::default(),
            kubepg_defaults: RwLock::default(),
            state: RwLock::new(Weak::new()),
            changed: Mutex::default(),
        }
    }

    /// Binds the registry to its session's DataFusion state and takes the `kubepg.*` values
    /// the session starts with as what RESET returns to.
    pub fn attach(&self, ctx: &datafusion::prelude::SessionContext) {
        *write(&self.state) = ctx.state_weak_ref();
        *write(&self.kubepg_defaults) = ctx
            .state()
            .config_options()
            .entries()
            .into_iter()
            .filter(|e| e.key.starts_with("kubepg."))
            .map(|e| (e.key, e.value.unwrap_or_default()))
            .collect();
    }

    /// DataFusion reads the session's zone from its own option (`now()`, `::timestamptz`,
    /// strings cast to timestamps), so `TimeZone` is mirrored there whenever it changes (the
    /// engine sets it when it makes the session).
    fn engine_time_zone(&self) {
        let zone = self.time_zone().engine_name();
        if let Some(state) = read(&self.state).upgrade() {
            let mut state = state.write();
            state.config_mut().options_mut().execution.time_zone = Some(zone);
            refresh_functions(&mut state);
        }
    }

    /// The session's `TimeZone`, for printing timestamps.
    pub fn time_zone(&self) -> crate::time_zone::SessionZone {
        self.get("TimeZone")
            .ok()
            .and_then(|v| crate::time_zone::SessionZone::parse(&v))
            .unwrap_or_else(crate::time_zone::SessionZone::utc)
    }

    /// Which store a name belongs to.
    pub fn family(name: &str) -> Family {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("kubepg.") {
            Family::Kubepg
        } else if lower.starts_with("datafusion.") {
            Family::DataFusion
        } else if definition(name).is_some() || !lower.contains('.') {
            Family::Postgres
        } else {
            Family::Custom
        }
    }

    /// The name as PostgreSQL spells it (`datestyle` → `DateStyle`).
    pub fn canonical(name: &str) -> String {
        match definition(name) {
            Some(d) => d.name.to_string(),
            None => name.to_ascii_lowercase(),
        }
    }

    /// Takes the settings a client sent in its startup packet (pgjdbc sends
    /// `extra_float_digits`, psql `application_name`); names a client may not set are ignored,
    /// as PostgreSQL ignores what it reports anyway.
    pub fn apply_startup<'a>(&self, parameters: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (name, value) in parameters {
            if let Some(d) = definition(name)
                && !d.read_only
                && let Ok(value) = normalize(d, value)
            {
                write(&self.startup).insert(d.name.to_string(), value.clone());
                write(&self.values).insert(d.name.to_string(), (value, "client"));
            }
        }
    }

    fn with_state<T>(&self, f: impl FnOnce(&SessionState) -> T) -> Option<T> {
        let state = read(&self.state).upgrade()?;
        let state = state.read();
        Some(f(&state))
    }

    fn engine_value(&self, key: &str) -> Option<String> {
        self.with_state(|s| {
            s.config_options()
                .entries()
                .into_iter()
                .find(|e| e.key == key)
                .map(|e| e.value.unwrap_or_default())
        })
        .flatten()
    }

    /// The current value of `name`.
    pub fn get(&self, name: &str) -> Result<String> {
        let canonical = Self::canonical(name);
        match Self::family(name) {
            Family::Kubepg | Family::DataFusion => self
                .engine_value(&canonical)
                .ok_or(Error::UnknownSetting(canonical)),
            Family::Postgres | Family::Custom => read(&self.values)
                .get(&canonical)
                .map(|(v, _)| v.clone())
                .or_else(|| self.defaults.get(canonical.as_str()).cloned())
                .ok_or(Error::UnknownSetting(canonical)),
        }
    }

    /// `SET name = value`.
    pub fn set(&self, name: &str, value: &str) -> Result<()> {
        let canonical = Self::canonical(name);
        // application_name is cut to its length instead, as PostgreSQL does.
        if value.len() > MAX_VALUE_BYTES && canonical != "application_name" {
            return Err(Error::InvalidSetting {
                name: canonical,
                value: format!("{}…", value.chars().take(32).collect::<String>()),
                expected: "a value of at most 8 KiB",
            });
        }
        match Self::family(name) {
            Family::Kubepg | Family::DataFusion => {
                if Self::family(name) == Family::DataFusion {
                    engine_setting_allowed(&canonical, value)?;
                }
                let state = read(&self.state)
                    .upgrade()
                    .ok_or_else(|| Error::UnknownSetting(canonical.clone()))?;
                let mut state = state.write();
                state
                    .config_mut()
                    .options_mut()
                    .set(&canonical, value)
                    .map_err(|e| match Error::from(e) {
                        Error::DataFusion(e)
                            if crate::sqlstate(&e) == crate::SqlState::UndefinedObject =>
                        {
                            Error::UnknownSetting(canonical.clone())
                        }
                        Error::DataFusion(e) => Error::refused(
                            crate::SqlState::InvalidParameterValue,
                            format!("invalid value for parameter \"{canonical}\": {e}"),
                        ),
                        own => own,
                    })?;
                refresh_functions(&mut state);
                drop(state);
                self.changed(&canonical, self.get(&canonical)?);
            }
            Family::Postgres | Family::Custom => {
                let value = match definition(&canonical) {
                    Some(d) if d.read_only => return Err(Error::ReadOnlySetting(canonical)),
                    Some(d) => normalize(d, value)?,
                    None => value.to_string(),
                };
                write(&self.values).insert(canonical.clone(), (value.clone(), "session"));
                self.changed(&canonical, value);
                if canonical == "TimeZone" {
                    self.engine_time_zone();
                }
            }
        }
        Ok(())
    }

    /// `RESET name`: PostgreSQL's settings go back to their defaults, `kubepg.*` to the value
    /// the session started with.
    pub fn reset(&self, name: &str) -> Result<()> {
        let canonical = Self::canonical(name);
        match Self::family(name) {
            Family::Kubepg => {
                let start = read(&self.kubepg_defaults)
                    .get(&canonical)
                    .cloned()
                    .ok_or_else(|| Error::UnknownSetting(canonical.clone()))?;
                self.set(&canonical, &start)
            }
            Family::DataFusion => {
                let default = datafusion::config::ConfigOptions::new()
                    .entries()
                    .into_iter()
                    .find(|e| e.key == canonical)
                    .ok_or_else(|| Error::UnknownSetting(canonical.clone()))?;
                self.set(&canonical, &default.value.unwrap_or_default())
            }
            Family::Postgres | Family::Custom => {
                if definition(&canonical).is_some_and(|d| d.read_only) {
                    return Err(Error::ReadOnlySetting(canonical));
                }
                let start = read(&self.startup).get(&canonical).cloned();
                let before = write(&self.values).remove(&canonical);
                // A custom setting stays defined once set, empty, as in PostgreSQL.
                if Self::family(&canonical) == Family::Custom {
                    write(&self.values).insert(canonical.clone(), (String::new(), "default"));
                }
                if let Some(start) = start {
                    write(&self.values).insert(canonical.clone(), (start, "client"));
                }
                if before.is_some_and(|(_, source)| source == "session") {
                    let value = self.get(&canonical).unwrap_or_default();
                    self.changed(&canonical, value);
                }
                if canonical == "TimeZone" {
                    self.engine_time_zone();
                }
                Ok(())
            }
        }
    }

    /// `RESET ALL` (and `DISCARD ALL`): every setting the session changed goes back.
    pub fn reset_all(&self) -> Result<()> {
        let kubepg: Vec<(String, String)> = read(&self.kubepg_defaults)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, start) in kubepg {
            if self.get(&name).ok().as_ref() != Some(&start) {
                self.set(&name, &start)?;
            }
        }
        let changed: Vec<String> = read(&self.values)
            .iter()
            .filter(|(_, (_, source))| *source == "session")
            .map(|(name, _)| name.clone())
            .collect();
        for name in changed {
            self.reset(&name)?;
        }
        Ok(())
    }

    fn changed(&self, name: &str, value: String) {
        lock(&self.changed).push(Changed {
            name: name.to_string(),
            value,
            reported: definition(name).is_some_and(|d| d.reported),
        });
    }

    /// The settings changed since the last call, oldest first.
    pub fn take_changed(&self) -> Vec<Changed> {
        std::mem::take(&mut *lock(&self.changed))
    }

    /// The statement timeout now in force; `None` when disabled.
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.get("statement_timeout")
            .ok()
            .and_then(|v| parse_duration(&v).ok())
            .filter(|d| !d.is_zero())
    }

    /// Every setting, sorted by name, as `SHOW ALL` and `pg_settings` list them.
    pub fn rows(&self) -> Vec<SettingRow> {
        let values = read(&self.values).clone();
        let mut rows: Vec<SettingRow> = POSTGRES
            .iter()
            .map(|d| {
                let boot = self.defaults.get(d.name).cloned().unwrap_or_default();
                let (setting, source) = values
                    .get(d.name)
                    .cloned()
                    .unwrap_or_else(|| (boot.clone(), "default"));
                SettingRow {
                    name: d.name.to_string(),
                    setting,
                    unit: d.unit,
                    category: d.category.to_string(),
                    description: d.description.to_string(),
                    context: if d.read_only { "internal" } else { "user" },
                    vartype: d.vartype,
                    source,
                    boot_val: boot.clone(),
                    reset_val: boot,
                }
            })
            .collect();
        for (name, (setting, source)) in values.iter().filter(|(n, _)| definition(n).is_none()) {
            rows.push(SettingRow {
                name: name.clone(),
                setting: setting.clone(),
                unit: None,
                category: "Customized Options".into(),
                description: String::new(),
                context: "user",
                vartype: "string",
                source,
                boot_val: String::new(),
                reset_val: String::new(),
            });
        }
        let kubepg_defaults = read(&self.kubepg_defaults).clone();
        let engine_defaults: BTreeMap<String, String> = datafusion::config::ConfigOptions::new()
            .entries()
            .into_iter()
            .map(|e| (e.key, e.value.unwrap_or_default()))
            .collect();
        let entries = self
            .with_state(|s| s.config_options().entries())
            .unwrap_or_default();
        for e in entries {
            let value = e.value.unwrap_or_default();
            let (category, boot) = if e.key.starts_with("kubepg.") {
                ("kubepg", kubepg_defaults.get(&e.key).cloned())
            } else {
                ("DataFusion", engine_defaults.get(&e.key).cloned())
            };
            let boot = boot.unwrap_or_default();
            rows.push(SettingRow {
                source: if value == boot { "default" } else { "session" },
                name: e.key,
                setting: value,
                unit: None,
                category: category.into(),
                description: e.description.to_string(),
                context: "user",
                vartype: "string",
                boot_val: boot.clone(),
                reset_val: boot,
            });
        }
        rows.sort_by(|a, b| {
            a.name
                .to_ascii_lowercase()
                .cmp(&b.name.to_ascii_lowercase())
        });
        rows
    }
}

/// The longest value a setting takes: a reported one travels in a ParameterStatus message.
const MAX_VALUE_BYTES: usize = 8192;

/// The most partitions a query may plan with: each holds its own hash tables and buffers, so
/// thousands multiply a query's memory past what its pool can see.
const MAX_TARGET_PARTITIONS: usize = 64;

/// The largest batch a query may work in: batches are held whole, outside the memory pool.
const MAX_BATCH_SIZE: usize = 1 << 16;

/// Engine settings a session may not change, or not past a bound: the operator's memory and
/// catalog settings, and those that multiply what a query holds.
fn engine_setting_allowed(name: &str, value: &str) -> Result<()> {
    if name.starts_with("datafusion.runtime.") || name.starts_with("datafusion.catalog.") {
        return Err(Error::refused(
            SqlState::InsufficientPrivilege,
            format!("{name} is the server's, set by its operator"),
        ));
    }
    let bound = match name {
        "datafusion.execution.target_partitions" => MAX_TARGET_PARTITIONS,
        "datafusion.execution.batch_size" => MAX_BATCH_SIZE,
        _ => return Ok(()),
    };
    match value.trim().parse::<usize>() {
        Ok(n) if n > bound => Err(Error::refused(
            SqlState::InvalidParameterValue,
            format!("{name} may be at most {bound}: larger values multiply what one query holds"),
        )),
        _ => Ok(()),
    }
}

/// A PostgreSQL setting's value as PostgreSQL stores it, or why it is not one.
fn normalize(d: &Definition, value: &str) -> Result<String> {
    let invalid = |expected: &'static str| Error::InvalidSetting {
        name: d.name.to_string(),
        value: value.to_string(),
        expected,
    };
    match (d.name, d.vartype) {
        // As PostgreSQL does (NAMEDATALEN - 1).
        ("application_name", _) => Ok(value
            .chars()
            .scan(0, |bytes, c| {
                *bytes += c.len_utf8();
                (*bytes <= 63).then_some(c)
            })
            .collect()),
        (_, "integer") if d.unit == Some("ms") => parse_duration(value)
            .map(show_duration)
            .map_err(|_| invalid("a duration such as 5000, '5s', '2min' or '1h'")),
        ("extra_float_digits", _) => match value.trim().parse::<i32>() {
            Ok(n) if (-15..=3).contains(&n) => Ok(n.to_string()),
            _ => Err(invalid("an integer from -15 to 3")),
        },
        ("client_encoding", _) => {
            if matches!(
                value.trim().to_ascii_uppercase().as_str(),
                "UTF8" | "UTF-8" | "UNICODE"
            ) {
                Ok("UTF8".into())
            } else {
                Err(Error::Unsupported(format!(
                    "kubepg speaks UTF8 only; cannot switch client_encoding to \"{value}\""
                )))
            }
        }
        ("TimeZone", _) => crate::time_zone::SessionZone::parse(value)
            .map(|z| z.shown().to_string())
            .ok_or_else(|| invalid("a time zone name such as UTC or Europe/Paris, or an offset")),
        ("DateStyle", _) => date_style(value).ok_or_else(|| {
            invalid("an output style (ISO, SQL, Postgres, German) and/or an order (MDY, DMY, YMD)")
        }),
        ("IntervalStyle", _) => {
            let v = value.trim().to_ascii_lowercase();
            if matches!(
                v.as_str(),
                "postgres" | "postgres_verbose" | "sql_standard" | "iso_8601"
            ) {
                Ok(v)
            } else {
                Err(invalid(
                    "postgres, postgres_verbose, sql_standard or iso_8601",
                ))
            }
        }
        (_, "bool") => match value.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "1" | "t" | "y" => Ok("on".into()),
            "off" | "false" | "no" | "0" | "f" | "n" => Ok("off".into()),
            _ => Err(invalid("a Boolean value")),
        },
        _ => Ok(value.to_string()),
    }
}

/// Functions that read the engine's options when they are made (`now()` takes its zone so)
/// are made again after an option changes, as DataFusion's own `SET` does.
fn refresh_functions(state: &mut SessionState) {
    let options = state.config().options().clone();
    let updated: Vec<_> = state
        .scalar_functions()
        .values()
        .filter_map(|f| f.inner().with_updated_config(&options))
        .collect();
    for function in updated {
        // Registering replaces a function of the same name; it cannot fail for a name the
        // state already holds.
        let _ = state.register_udf(Arc::new(function));
    }
}

/// `DateStyle` as PostgreSQL normalizes it: `iso` → `ISO, MDY`, `dmy` → `ISO, DMY`.
fn date_style(value: &str) -> Option<String> {
    let (mut style, mut order) = ("ISO", "MDY");
    for part in value.split(',').map(|p| p.trim().to_ascii_uppercase()) {
        match part.as_str() {
            "ISO" => style = "ISO",
            "SQL" => style = "SQL",
            "POSTGRES" => style = "Postgres",
            "GERMAN" => style = "German",
            "MDY" | "US" | "NONEURO" | "NONEUROPEAN" => order = "MDY",
            "DMY" | "EURO" | "EUROPEAN" => order = "DMY",
            "YMD" => order = "YMD",
            _ => return None,
        }
    }
    Some(format!("{style}, {order}"))
}

#[cfg(test)]
mod tests;
