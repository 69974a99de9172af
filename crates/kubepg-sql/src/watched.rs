//! A table's changes as LISTEN follows them: which clusters' watchable resources a table name
//! means in a session, and which of the table's columns a modification changed.

use std::sync::Arc;

use datafusion::common::ScalarValue;
use kubepg_kube::ResourceInfo;
use serde_json::Value;

use crate::convert::Converter;
use crate::engine::KubeSession;
use crate::error::{Error, Result};
use crate::scan::ScanTarget;
use crate::table::{KubeTable, Rows, TableDef};

/// The clusters in a session's scope whose resource a table name means, and the table.
#[derive(Debug)]
pub struct Watched {
    pub def: Arc<TableDef>,
    /// Only clusters whose source can watch (not snapshots).
    pub targets: Vec<ScanTarget>,
}

impl KubeSession {
    /// What `table` (a name, singular, short name or alias, as in a query) means for LISTEN.
    pub async fn watched(&self, table: &str) -> Result<Watched> {
        // Notifications come from the shared watch cache, which sees what kubepg's own
        // identity sees, not what an impersonated user may.
        if !self.may_read_shared_cache() {
            return Err(Error::Forbidden(format!(
                "LISTEN is not available to sessions acting as {}: notifications come from kubepg's own watches",
                self.identity.name()
            )));
        }
        let provider = self
            .ctx
            .table_provider(table)
            .await
            .map_err(|_| Error::UnknownTable(table.to_string()))?;
        let Some(kube) = provider.downcast_ref::<KubeTable>() else {
            return Err(Error::Unsupported(format!(
                "\"{table}\" is not a Kubernetes resource table; only those can be listened to"
            )));
        };
        let targets: Vec<ScanTarget> = kube
            .def
            .serving
            .iter()
            .filter(|(s, _)| kube.options.scope.iter().any(|c| c == s.cluster()))
            .filter(|(s, _)| s.can_watch())
            .map(|(s, r)| ScanTarget {
                source: s.clone(),
                resource: r.clone(),
            })
            .collect();
        if targets.is_empty() {
            return Err(Error::Unsupported(format!(
                "no cluster of this database can watch \"{table}\" (snapshots never change)"
            )));
        }
        Ok(Watched {
            def: kube.def.clone(),
            targets,
        })
    }
}

impl TableDef {
    /// The columns whose values differ between two versions of one object, in table order;
    /// `resource_version`, which every change moves, is left out. Empty for tables whose rows
    /// are not objects (containers).
    pub fn changed_columns(
        &self,
        cluster: &str,
        resource: &ResourceInfo,
        before: Value,
        after: Value,
    ) -> Vec<String> {
        if self.rows != Rows::Objects {
            return Vec::new();
        }
        let converter = Converter::new(
            &self.columns,
            self.columns.clone(),
            self.schema.clone(),
            cluster,
            &resource.api_version(),
            &resource.kind,
        );
        let Ok(batch) = converter.convert(&[before, after]) else {
            return Vec::new();
        };
        let differs = |i: usize| {
            let column = batch.column(i);
            match (
                ScalarValue::try_from_array(column, 0),
                ScalarValue::try_from_array(column, 1),
            ) {
                (Ok(a), Ok(b)) => a != b,
                _ => false,
            }
        };
        self.columns
            .iter()
            .enumerate()
            .filter(|(i, c)| c.name != "resource_version" && differs(*i))
            .map(|(_, c)| c.name.clone())
            .collect()
    }
}
