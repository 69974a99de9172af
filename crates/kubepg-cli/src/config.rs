//! The YAML config file (`--config`). Its keys are long flag names; a value stands in for the
//! flag's `KUBEPG_*` variable when that variable is unset, which gives the documented order:
//! flags > environment > config file > defaults. One file serves every command: keys only
//! another command takes are left alone, and `query:` / `serve:` sections hold one command's
//! own values.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use clap::CommandFactory;
use serde_json::Value;

/// What a config file says for one command.
pub struct Assignments {
    /// `KUBEPG_*` variables and their values.
    pub vars: Vec<(String, String)>,
    /// Keys only another command takes, left alone.
    pub ignored: Vec<String>,
}

/// The environment assignments `path` stands for, for subcommand `command` of `C`. Top-level
/// keys apply to every command that takes them; a key named after a command (`query:`,
/// `serve:`) holds a map for that command alone, which wins over the top level.
pub fn assignments<C: CommandFactory>(path: &Path, command: &str) -> anyhow::Result<Assignments> {
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
    let others: Vec<&clap::Command> = root
        .get_subcommands()
        .filter(|c| c.get_name() != command)
        .collect();
    let mut top = Vec::new();
    let mut section = Vec::new();
    for (key, value) in values {
        if key == command {
            let Value::Object(map) = value else {
                bail!(
                    "{}: {key:?} must be a map of that command's flags",
                    path.display()
                );
            };
            section.extend(map);
        } else if !others.iter().any(|c| c.get_name() == key) {
            top.push((key, value));
        }
    }
    let mut vars = BTreeMap::new();
    let mut ignored = Vec::new();
    for (key, value) in top.into_iter().chain(section) {
        let flag = key.replace('_', "-");
        let takes = |c: &clap::Command| {
            c.get_arguments()
                .any(|a| a.get_long() == Some(flag.as_str()))
        };
        let Some(arg) = sub
            .get_arguments()
            .chain(root.get_arguments())
            .find(|a| a.get_long() == Some(flag.as_str()) && flag != "config")
        else {
            if others.iter().any(|c| takes(c)) {
                ignored.push(key);
                continue;
            }
            bail!(
                "{}: unknown key {key:?} for `kubepg {}`",
                path.display(),
                sub.get_name()
            );
        };
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
        vars.insert(env.to_string_lossy().into_owned(), text);
    }
    Ok(Assignments {
        vars: vars.into_iter().collect(),
        ignored,
    })
}
