//! kubepg's own session settings (`kubepg.*`), kept where every scan reads them: the session's
//! DataFusion config, as a config extension. The registry ([`super`]) is how clients reach
//! them; new settings are fields of [`KubepgSettings`].

use std::fmt;
use std::str::FromStr;

use std::any::Any;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::{DataFusionError, Result};

use crate::error::Error;

/// Where a query's rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consistency {
    /// Every query lists from the API server.
    #[default]
    Live,
    /// Queries read the watch cache (the first one of a table waits for its first list);
    /// snapshots read the snapshot either way.
    Cached,
}

impl FromStr for Consistency {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "live" => Ok(Consistency::Live),
            "cached" => Ok(Consistency::Cached),
            _ => Err(Error::InvalidSetting {
                name: "kubepg.consistency".into(),
                value: s.to_string(),
                expected: "'live' or 'cached'",
            }),
        }
    }
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consistency::Live => "live",
            Consistency::Cached => "cached",
        })
    }
}

/// kubepg's session settings (`SET kubepg.<name> = ...`).
///
/// Written out rather than with DataFusion's `extensions_options!`, whose entries leave out the
/// `kubepg.` prefix, so that `SHOW kubepg.x` (through `information_schema.df_settings`) would
/// find nothing.
#[derive(Debug, Clone, Default)]
pub struct KubepgSettings {
    /// `live`: every query lists from the API server; `cached`: queries read the watch cache.
    pub consistency: Consistency,
    /// The namespaces scans of namespaced tables are limited to (empty: all): a query that
    /// names none lists each of these instead of the whole cluster, and one that names others
    /// gets no rows from them. `SET kubepg.namespaces = 'a,b'`; `''` for all.
    pub namespaces: Vec<String>,
}

const CONSISTENCY: &str = "consistency";
const NAMESPACES: &str = "namespaces";

/// `a, b,c` → `[a, b, c]`; empty parts dropped; each must be a namespace name.
fn parse_namespaces(value: &str) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !crate::identity::valid_namespace(part) {
            return Err(Error::InvalidSetting {
                name: "kubepg.namespaces".into(),
                value: value.to_string(),
                expected: "a comma-separated list of namespace names, or '' for all",
            });
        }
        if !out.iter().any(|n| n == part) {
            out.push(part.to_string());
        }
    }
    Ok(out)
}

impl ConfigExtension for KubepgSettings {
    const PREFIX: &'static str = "kubepg";
}

impl ExtensionOptions for KubepgSettings {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    /// `key` comes without the prefix.
    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            CONSISTENCY => {
                self.consistency = value
                    .parse()
                    .map_err(|e: Error| DataFusionError::External(Box::new(e)))?;
                Ok(())
            }
            NAMESPACES => {
                self.namespaces = parse_namespaces(value)
                    .map_err(|e: Error| DataFusionError::External(Box::new(e)))?;
                Ok(())
            }
            // DataFusion's wording for an unknown key, which sqlstate() maps to 42704.
            _ => Err(DataFusionError::Configuration(format!(
                "Config value \"{key}\" not found on {}",
                Self::PREFIX
            ))),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![
            ConfigEntry {
                key: format!("{}.{CONSISTENCY}", Self::PREFIX),
                value: Some(self.consistency.to_string()),
                description: "live: every query lists from the API server; cached: queries read the watch cache",
            },
            ConfigEntry {
                key: format!("{}.{NAMESPACES}", Self::PREFIX),
                value: Some(self.namespaces.join(",")),
                description: "namespaces scans of namespaced tables are limited to, comma-separated; empty: all",
            },
        ]
    }
}

impl KubepgSettings {
    /// The settings a session starts with.
    pub fn new(consistency: Consistency) -> Self {
        Self {
            consistency,
            namespaces: Vec::new(),
        }
    }

    /// The same settings, limited to `namespaces` (empty: all).
    pub fn with_namespaces(mut self, namespaces: Vec<String>) -> Self {
        self.namespaces = namespaces;
        self
    }

    /// The settings of a session's config, or the defaults when it has none.
    pub fn of(options: &datafusion::config::ConfigOptions) -> Self {
        options
            .extensions
            .get::<KubepgSettings>()
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqlState;
    use datafusion::config::ConfigOptions;

    fn options() -> ConfigOptions {
        let mut o = ConfigOptions::new();
        o.extensions.insert(KubepgSettings::new(Consistency::Live));
        o
    }

    #[test]
    fn consistency_is_set_by_name_and_shown_as_entered() {
        let mut o = options();
        o.set("kubepg.consistency", "CACHED").unwrap();
        assert_eq!(KubepgSettings::of(&o).consistency, Consistency::Cached);
        let entry = o
            .entries()
            .into_iter()
            .find(|e| e.key == "kubepg.consistency")
            .unwrap();
        assert_eq!(entry.value.as_deref(), Some("cached"));
    }

    #[test]
    fn namespaces_are_a_comma_list_shown_as_one_and_emptied_by_an_empty_string() {
        let mut o = options();
        o.set("kubepg.namespaces", " team-a,team-b ,, team-a")
            .unwrap();
        assert_eq!(KubepgSettings::of(&o).namespaces, ["team-a", "team-b"]);
        let shown = |o: &ConfigOptions| {
            o.entries()
                .into_iter()
                .find(|e| e.key == "kubepg.namespaces")
                .and_then(|e| e.value)
        };
        assert_eq!(shown(&o).as_deref(), Some("team-a,team-b"));
        let bad = o.set("kubepg.namespaces", "team-a,Team_B").unwrap_err();
        assert_eq!(
            crate::sqlstate(&bad),
            SqlState::InvalidParameterValue,
            "{bad}"
        );
        assert_eq!(KubepgSettings::of(&o).namespaces, ["team-a", "team-b"]);
        o.set("kubepg.namespaces", "").unwrap();
        assert!(KubepgSettings::of(&o).namespaces.is_empty());
        assert_eq!(shown(&o).as_deref(), Some(""));
    }

    #[test]
    fn a_bad_value_or_name_is_refused_with_a_sqlstate() {
        let mut o = options();
        let bad = o.set("kubepg.consistency", "eventual").unwrap_err();
        assert_eq!(
            crate::sqlstate(&bad),
            SqlState::InvalidParameterValue,
            "{bad}"
        );
        let unknown = o.set("kubepg.nope", "1").unwrap_err();
        assert_eq!(
            crate::sqlstate(&unknown),
            SqlState::UndefinedObject,
            "{unknown}"
        );
        assert_eq!(KubepgSettings::of(&o).consistency, Consistency::Live);
    }
}
