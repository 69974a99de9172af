//! LISTEN and UNLISTEN: each channel of a session follows one table's changes through the watch
//! cache and turns them into notifications, which the connection's message loop
//! ([`crate::socket`]) delivers while the client is idle.
//!
//! A channel is named `table[/namespace][?label-selector]` (quoted, since `/` and `?` are not
//! identifier characters): `LISTEN pods`, `LISTEN "pods/default"`,
//! `LISTEN "deployments?app=web,tier!=db"`. The table is any name a query could use for it;
//! the clusters are those of the connection's database. Every ADDED, MODIFIED or DELETED object
//! becomes one notification on that channel with a JSON payload: type, cluster, table,
//! namespace, name, uid, resource_version and, for MODIFIED, the table columns that changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kubepg_kube::selector::LabelSelector;
use kubepg_kube::watch::{Change, ChangeKind};
use kubepg_kube::{ListRequest, WatchCache};
use kubepg_sql::KubeSession;
use kubepg_sql::scan::ScanTarget;
use kubepg_sql::table::TableDef;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

use crate::errors::{to_pgwire, user_error};
use crate::health::Metrics;
use datafusion_postgres::pgwire::error::PgWireResult;

/// Notifications a connection may have waiting before new ones are dropped (and counted): a
/// client that never reads its socket must not hold memory without bound.
const QUEUE: usize = 10_000;

/// The longest wait before following a table again after the cache dropped it; a table that
/// stayed followed this long starts again from the shortest wait.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Channels one connection may listen on: each may pin a watch of a whole table.
const MAX_CHANNELS: usize = 64;

/// One notification for the client.
#[derive(Debug)]
pub struct Notification {
    pub channel: String,
    pub payload: String,
}

/// What a channel name asks for.
#[derive(Debug, Clone, PartialEq)]
struct Channel {
    table: String,
    namespace: Option<String>,
    labels: LabelSelector,
}

/// A channel as PostgreSQL names it: unquoted identifiers fold to lower case.
pub fn channel_name(ident: &datafusion::sql::sqlparser::ast::Ident) -> String {
    match ident.quote_style {
        None => ident.value.to_lowercase(),
        Some(_) => ident.value.clone(),
    }
}

fn parse_channel(name: &str) -> PgWireResult<Channel> {
    let invalid = |why: String| {
        user_error(
            "42602",
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

/// The channels of one connection and where their notifications go.
pub struct Listeners {
    sender: mpsc::Sender<Notification>,
    /// Taken once by the connection's message loop.
    receiver: Mutex<Option<mpsc::Receiver<Notification>>>,
    /// Per channel, the tasks following its clusters; dropping them stops the tasks.
    channels: Mutex<HashMap<String, JoinSet<()>>>,
    metrics: Arc<Metrics>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Listeners {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        Self {
            sender,
            receiver: Mutex::new(Some(receiver)),
            channels: Mutex::default(),
            metrics,
        }
    }

    pub fn take_receiver(&self) -> Option<mpsc::Receiver<Notification>> {
        lock(&self.receiver).take()
    }

    /// `LISTEN channel`: returns once every cluster's table is followed (its first list in),
    /// so that every change after LISTEN returns is notified (if the cache later drops the
    /// table, a RESYNC notification marks what went unseen). Listening again is a no-op.
    pub async fn listen(
        &self,
        session: &KubeSession,
        watch: &WatchCache,
        channel: &str,
    ) -> PgWireResult<()> {
        {
            let channels = lock(&self.channels);
            if channels.contains_key(channel) {
                return Ok(());
            }
            if channels.len() >= MAX_CHANNELS {
                return Err(user_error(
                    "53400",
                    format!("too many LISTEN channels on this connection (at most {MAX_CHANNELS})"),
                ));
            }
        }
        let wanted = parse_channel(channel)?;
        let watched = session.watched(&wanted.table).await.map_err(to_pgwire)?;
        let mut tasks = JoinSet::new();
        for target in watched.targets {
            let receiver = watch
                .subscribe(&target.source, &target.resource)
                .await
                .map_err(|e| to_pgwire(kubepg_sql::Error::Kube(e)))?;
            let Some(receiver) = receiver else { continue };
            let follow = Follow {
                channel: channel.to_string(),
                wanted: wanted.clone(),
                def: watched.def.clone(),
                target,
                watch: watch.clone(),
                sender: self.sender.clone(),
                metrics: self.metrics.clone(),
            };
            tasks.spawn(follow.run(receiver));
        }
        lock(&self.channels).insert(channel.to_string(), tasks);
        Ok(())
    }

    /// `UNLISTEN channel`; `*` stops every channel.
    pub fn unlisten(&self, channel: &str) {
        let mut channels = lock(&self.channels);
        if channel == "*" {
            channels.clear();
        } else {
            channels.remove(channel);
        }
    }
}

/// One channel following one cluster's table.
struct Follow {
    channel: String,
    wanted: Channel,
    def: Arc<TableDef>,
    target: ScanTarget,
    watch: WatchCache,
    sender: mpsc::Sender<Notification>,
    metrics: Arc<Metrics>,
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
                        self.metrics.notifications_dropped.inc_by(missed);
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
                if self.sender.is_closed() {
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

    fn deliver(&self, payload: String) {
        let notification = Notification {
            channel: self.channel.clone(),
            payload,
        };
        match self.sender.try_send(notification) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.notifications_dropped.inc();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
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
            "cluster": change.table.cluster,
            "table": self.def.name,
            "namespace": (!change.namespace.is_empty()).then_some(&change.namespace),
            "name": change.name,
            "uid": change.uid,
            "resource_version": change.resource_version,
        });
        if change.kind == ChangeKind::Modified
            && let Some(before) = before
        {
            payload["changed"] = json!(self.def.changed_columns(
                &change.table.cluster,
                &self.target.resource,
                before,
                after
            ));
        }
        Some(payload.to_string())
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
