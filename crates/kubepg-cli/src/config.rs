//! The YAML config file (`--config`). Its keys are the long flag names of the command being run;
//! a value stands in for the flag's `KUBEPG_*` variable when that variable is unset, which gives
//! the documented order: flags > environment > config file > defaults.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use clap::CommandFactory;
use serde_json::Value;

/// The environment assignments `path` stands for, for subcommand `command` of `C`.
pub fn assignments<C: CommandFactory>(
    path: &Path,
    command: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let values: BTreeMap<String, Value> = if text.trim().is_empty() {
        BTreeMap::new()
    } else {
        serde_saphyr::from_str(&text).with_context(|| {
            format!("{}: expected a map of flag names to values", path.display())
        })?
    };
    let root = C::command();
    let sub = root
        .find_subcommand(command)
        .with_context(|| format!("no command {command}"))?;
    let mut out = Vec::new();
    for (key, value) in values {
        let flag = key.replace('_', "-");
        let arg = sub
            .get_arguments()
            .chain(root.get_arguments())
            .find(|a| a.get_long() == Some(flag.as_str()) && flag != "config")
            .with_context(|| {
                format!(
                    "{}: unknown key {key:?} for `kubepg {}`",
                    path.display(),
                    sub.get_name()
                )
            })?;
        let Some(env) = arg.get_env() else {
            bail!(
                "{}: {key:?} can only be given on the command line",
                path.display()
            );
        };
        let delimiter = arg.get_value_delimiter().unwrap_or(',').to_string();
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Array(items) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(&delimiter),
            other => other.to_string(),
        };
        out.push((env.to_string_lossy().into_owned(), text));
    }
    Ok(out)
}
