//! A table that does not exist, named as the query wrote it, with the nearest tables there are.
//!
//! DataFusion names a missing table by its resolved path (`table 'kubepg.public.podz' not
//! found`), which points at kubepg's internals; PostgreSQL says `relation "podz" does not exist`.
//! Columns get DataFusion's own "did you mean"; tables get none, so kubepg adds it.

use datafusion::common::utils::datafusion_strsim::levenshtein;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;

use crate::error::Error;
use crate::sqlstate::SqlState;

/// Schemas whose tables a mistyped name may have meant.
const SCHEMAS: &[&str] = &["public", "kubepg"];

/// `e` as PostgreSQL words a missing table, or `e` unchanged.
pub fn explain(state: &SessionState, e: DataFusionError) -> Error {
    let path = match e.find_root() {
        DataFusionError::Plan(msg) => msg
            .strip_prefix("table '")
            .and_then(|m| m.strip_suffix("' not found"))
            .map(str::to_string),
        _ => None,
    };
    let Some(path) = path else {
        return e.into();
    };
    let catalog_name = &state.config_options().catalog.default_catalog;
    let written = path
        .strip_prefix(&format!("{catalog_name}.public."))
        .or_else(|| path.strip_prefix(&format!("{catalog_name}.")))
        .unwrap_or(&path);
    let mut candidates = Vec::new();
    if let Some(catalog) = state.catalog_list().catalog(catalog_name) {
        for schema in SCHEMAS {
            if let Some(s) = catalog.schema(schema) {
                candidates.extend(s.table_names().into_iter().map(|t| match *schema {
                    "public" => t,
                    other => format!("{other}.{t}"),
                }));
            }
        }
    }
    let mut message = format!("relation \"{written}\" does not exist");
    let near = nearest(written, &candidates);
    if !near.is_empty() {
        message.push_str(&format!("; did you mean {}?", near.join(", ")));
    }
    Error::refused(SqlState::UndefinedTable, message)
}

/// Up to three names within a few edits of `name`, nearest first.
fn nearest(name: &str, candidates: &[String]) -> Vec<String> {
    let name = name.to_ascii_lowercase();
    let bound = (name.chars().count() / 3).max(2);
    let mut near: Vec<(usize, &String)> = candidates
        .iter()
        .map(|c| (levenshtein(&name, c), c))
        .filter(|(d, _)| *d <= bound)
        .collect();
    near.sort();
    near.into_iter().take(3).map(|(_, c)| c.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::nearest;

    #[test]
    fn a_mistyped_name_suggests_the_nearest_tables() {
        let tables: Vec<String> = [
            "pods",
            "nodes",
            "podtemplates",
            "kubepg.tables",
            "deployments",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(nearest("podz", &tables), ["pods"]);
        assert_eq!(nearest("node", &tables), ["nodes", "pods"]);
        assert_eq!(nearest("deploymnets", &tables), ["deployments"]);
        assert_eq!(nearest("kubepg.table", &tables), ["kubepg.tables"]);
        assert!(nearest("widgets", &tables).is_empty());
    }
}
