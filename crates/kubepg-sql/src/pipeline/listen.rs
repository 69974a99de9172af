//! LISTEN and UNLISTEN: each channel of a session follows one table's changes through the watch
//! cache and turns them into notifications, which the front end delivers while the client is
//! idle (a PostgreSQL connection's message loop does).
//!
//! A channel is named `table[/namespace][?label-selector]` (quoted, since `/` and `?` are not
//! identifier characters): `LISTEN pods`, `LISTEN "pods/default"`,
//! `LISTEN "deployments?app=web,tier!=db"`. The table is any name a query could use for it;
//! the clusters are those of the connection's database. Every ADDED, MODIFIED or DELETED object
//! becomes one notification on that channel with a JSON payload: type, cluster, table,
//! namespace, name, uid, resource_version and, for MODIFIED, the table columns that changed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::sql::sqlparser::ast::{Ident, Statement};
use kubepg_kube::selector::LabelSelector;
use kubepg_kube::watch::{Change, ChangeKind};
use kubepg_kube::{ListRequest, ResourceInfo, WatchCache};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

use super::hook::Hook;
use super::outcome::{Described, Outcome};
use super::session::KubeSession;
use super::state::{MAX_CHANNELS, Notification, lock};
use crate::convert::Converter;
use crate::definition::{Rows, TableDef};
use crate::error::{Error, Result};
use crate::observe::EngineObserver;
use crate::scan::ScanTarget;
use crate::sqlstate::SqlState;
use crate::table::KubeTable;

/// The longest wait before following a table again after the cache dropped it; a table that
/// stayed followed this long starts again from the shortest wait.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What a channel name asks for.
#[derive(Debug, Clone, PartialEq)]
struct Channel {
    table: String,
    namespace: Option<String>,
    labels: LabelSelector,
}

/// A channel as PostgreSQL names it: unquoted identifiers fold to lower case.
fn channel_name(ident: &Ident) -> String {
    match ident.quote_style {
        None => ident.value.to_lowercase(),
        Some(_) => ident.value.clone(),
    }
}

fn parse_channel(name: &str) -> Result<Channel> {
    let invalid = |why: String| {
        Error::refused(
            SqlState::InvalidName,
            format!(
                "invalid channel name \"{name}\": {why} (expected table[/namespace][?label-selector])"
            ),
        )
    };
    let (path, selector) = match name.split_once('?') {
        Some((p, s)) => (p, Some(s)),
        None => (name, None),
    };
    let (table, namespace) = match path.split_once('/') {
        Some((t, ns)) if !ns.is_empty() && !ns.contains('/') => (t, Some(ns.to_string())),
        Some(_) => return Err(invalid("bad namespace".into())),
        None => (path, None),
    };
    if table.is_empty() {
        return Err(invalid("no table".into()));
    }
    let labels = match selector {
        Some(s) => LabelSelector::parse(s).map_err(|e| invalid(e.to_string()))?,
        None => LabelSelector::default(),
    };
    Ok(Channel {
        table: table.to_string(),
        namespace,
        labels,
    })
}

/// `LISTEN channel`: returns once every cluster's table is followed (its first list in), so
/// that every change after LISTEN returns is notified (if the cache later drops the table, a
/// RESYNC notification marks what went unseen). Listening again is a no-op. A cluster that
/// cannot be followed (its identity may not watch the table) is left out with a warning while
/// others can be; when none can, LISTEN fails with its error.
async fn listen(session: &KubeSession, channel: &str) -> Result<()> {
    let listeners = &session.listeners;
    {
        let channels = lock(&listeners.channels);
        if channels.contains_key(channel) {
            return Ok(());
        }
        if channels.len() >= MAX_CHANNELS {
            return Err(Error::refused(
                SqlState::ConfigurationLimitExceeded,
                format!("too many LISTEN channels on this connection (at most {MAX_CHANNELS})"),
            ));
        }
    }
    let wanted = parse_channel(channel)?;
    let watched = session.watched(&wanted.table).await?;
    let watch = session.pool.watch.clone();
    let mut tasks = JoinSet::new();
    let mut failed = Vec::new();
    for target in watched.targets {
        let receiver = match watch.subscribe(&target.source, &target.resource).await {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                failed.push(e);
                continue;
            }
        };
        let follow = Follow {
            channel: channel.to_string(),
            wanted: wanted.clone(),
            diff: watched
                .def
                .column_diff(target.source.cluster(), &target.resource),
            def: watched.def.clone(),
            target,
            watch: watch.clone(),
            sender: listeners.sender.clone(),
            observer: listeners.observer.clone(),
        };
        tasks.spawn(follow.run(receiver));
    }
    if tasks.is_empty() && !failed.is_empty() {
        return Err(Error::Kube(failed.remove(0)));
    }
    for e in failed {
        let cluster = e.cluster().unwrap_or("?").to_string();
        session.warnings.push(format!(
            "LISTEN {channel}: cluster {cluster} is not followed: {e}"
        ));
    }
    lock(&listeners.channels).insert(channel.to_string(), tasks);
    Ok(())
}

/// LISTEN and UNLISTEN; NOTIFY is refused, since the channels are Kubernetes' changes and no
/// one else's.
pub struct Listen;

#[async_trait]
impl Hook for Listen {
    async fn describe(&self, statement: &Statement, _: &KubeSession) -> Option<Result<Described>> {
        matches!(
            statement,
            Statement::LISTEN { .. } | Statement::UNLISTEN { .. } | Statement::NOTIFY { .. }
        )
        .then(|| Ok(Described::default()))
    }

    async fn run(
        &self,
        statement: &Statement,
        _params: Option<&ParamValues>,
        s: &KubeSession,
    ) -> Option<Result<Outcome>> {
        Some(match statement {
            Statement::LISTEN { channel } => listen(s, &channel_name(channel))
                .await
                .map(|()| Outcome::command("LISTEN")),
            Statement::UNLISTEN { channel } => {
                s.listeners.unlisten(&channel_name(channel));
                Ok(Outcome::command("UNLISTEN"))
            }
            Statement::NOTIFY { .. } => Err(Error::ReadOnly(
                "NOTIFY is not available: kubepg's channels carry Kubernetes changes (LISTEN table[/namespace][?selector])".into(),
            )),
            _ => return None,
        })
    }
}

/// One channel following one cluster's table.
struct Follow {
    channel: String,
    wanted: Channel,
    def: Arc<TableDef>,
    /// Made once: every MODIFIED names its changed columns through it.
    diff: Option<ColumnDiff>,
    target: ScanTarget,
    watch: WatchCache,
    sender: Option<mpsc::Sender<Notification>>,
    observer: Option<Arc<dyn EngineObserver>>,
}

impl Follow {
    async fn run(self, mut receiver: broadcast::Receiver<Arc<Change>>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let followed = tokio::time::Instant::now();
            loop {
                match receiver.recv().await {
                    Ok(change) => {
                        if let Some(payload) = self.payload(&change) {
                            self.deliver(payload);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(channel = %self.channel, missed, "LISTEN fell behind the watch; changes were missed");
                        self.dropped(missed);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
            // The cache dropped the table (memory bound, or its watch ended): follow it again
            // once it is back, without hammering a cluster that keeps failing, nor two
            // listened tables that do not fit the cache together evicting each other.
            if followed.elapsed() >= MAX_BACKOFF {
                backoff = Duration::from_secs(1);
            }
            loop {
                if self.sender.as_ref().is_none_or(mpsc::Sender::is_closed) {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                match self
                    .watch
                    .subscribe(&self.target.source, &self.target.resource)
                    .await
                {
                    Ok(Some(r)) => {
                        receiver = r;
                        // What changed while the table was not followed is not known one by
                        // one: the client is told to read the table again.
                        self.deliver(
                            json!({
                                "type": "RESYNC",
                                "cluster": self.target.source.cluster(),
                                "table": self.def.name,
                            })
                            .to_string(),
                        );
                        break;
                    }
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(channel = %self.channel, error = %e, "LISTEN: following the table again failed; retrying");
                    }
                }
            }
        }
    }

    fn dropped(&self, n: u64) {
        if let Some(o) = &self.observer {
            o.notifications_dropped(n);
        }
    }

    fn deliver(&self, payload: String) {
        let Some(sender) = &self.sender else { return };
        let notification = Notification {
            channel: self.channel.clone(),
            payload,
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = sender.try_send(notification) {
            self.dropped(1);
        }
    }

    /// The payload of `change` when the channel selects the object (before or after it).
    fn payload(&self, change: &Change) -> Option<String> {
        let after: Value = serde_json::from_slice(&change.object).ok()?;
        let before: Option<Value> = change
            .previous
            .as_ref()
            .and_then(|p| serde_json::from_slice(p).ok());
        let request = ListRequest {
            namespace: self.wanted.namespace.clone(),
            labels: self.wanted.labels.clone(),
            ..ListRequest::default()
        };
        let namespaced = self.target.resource.namespaced;
        if !request.selects(namespaced, &after)
            && !before
                .as_ref()
                .is_some_and(|b| request.selects(namespaced, b))
        {
            return None;
        }
        let mut payload = json!({
            "type": change.kind.as_str(),
            "cluster": change.key.cluster,
            "table": self.def.name,
            "namespace": (!change.namespace.is_empty()).then_some(&change.namespace),
            "name": change.name,
            "uid": change.uid,
            "resource_version": change.resource_version,
        });
        if change.kind == ChangeKind::Modified
            && let Some(before) = before
        {
            let changed = self
                .diff
                .as_ref()
                .map_or_else(Vec::new, |d| d.changed(before, after));
            payload["changed"] = json!(changed);
        }
        Some(payload.to_string())
    }
}

/// The clusters in a session's scope whose resource a table name means, and the table.
#[derive(Debug)]
struct Watched {
    def: Arc<TableDef>,
    /// Only clusters whose source can watch (not snapshots).
    targets: Vec<ScanTarget>,
}

impl KubeSession {
    /// What `table` (a name, singular, short name or alias, as in a query) means for LISTEN.
    async fn watched(&self, table: &str) -> Result<Watched> {
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

/// Tells which of a table's columns differ between two versions of one object.
#[derive(Debug)]
struct ColumnDiff {
    converter: Converter,
    names: Vec<String>,
}

impl TableDef {
    /// How modifications of `resource`'s objects in `cluster` are compared, column by column;
    /// `None` for tables whose rows are not objects (containers).
    fn column_diff(&self, cluster: &str, resource: &ResourceInfo) -> Option<ColumnDiff> {
        (self.rows == Rows::Objects).then(|| ColumnDiff {
            converter: Converter::new(
                &self.columns,
                self.columns.clone(),
                self.schema.clone(),
                cluster,
                &resource.api_version(),
                &resource.kind,
            ),
            names: self.columns.iter().map(|c| c.name.clone()).collect(),
        })
    }
}

impl ColumnDiff {
    /// The columns whose values differ, in table order; `resource_version`, which every change
    /// moves, is left out.
    fn changed(&self, before: Value, after: Value) -> Vec<String> {
        let Ok(batch) = self.converter.convert(&[before, after]) else {
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
        self.names
            .iter()
            .enumerate()
            .filter(|(i, name)| *name != "resource_version" && differs(*i))
            .map(|(_, name)| name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        let c = parse_channel("pods").unwrap();
        assert_eq!((c.table.as_str(), c.namespace), ("pods", None));
        assert!(c.labels.is_empty());
        let c = parse_channel("pods/default?app=web,tier!=db").unwrap();
        assert_eq!(
            (c.table.as_str(), c.namespace.as_deref()),
            ("pods", Some("default"))
        );
        assert_eq!(c.labels, LabelSelector::parse("app=web,tier!=db").unwrap());
        let c = parse_channel("deployments?app in (a,b)").unwrap();
        assert_eq!(c.namespace, None);
        for bad in [
            "",
            "/default",
            "pods/",
            "pods/a/b",
            "pods?app=(",
            "?app=web",
        ] {
            let e = parse_channel(bad).unwrap_err();
            assert!(e.to_string().contains("invalid channel name"), "{bad}: {e}");
        }
    }
}
