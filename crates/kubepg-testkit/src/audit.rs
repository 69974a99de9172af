//! Reading a test API server's audit log: the proof of which requests a client made.
//!
//! The servers log every request at `Metadata` level, one JSON event per line, written before
//! the response completes (`--audit-log-mode=blocking`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Deserialize;

/// One completed API request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// One id per request, shared by its stages.
    #[serde(rename = "auditID", default)]
    pub audit_id: String,
    pub verb: String,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    pub user: AuditUser,
    #[serde(default)]
    pub impersonated_user: Option<AuditUser>,
    #[serde(default)]
    pub user_agent: String,
    #[serde(default)]
    pub response_status: Option<AuditStatus>,
    pub stage: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditUser {
    pub username: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditStatus {
    #[serde(default)]
    pub code: u16,
}

impl AuditEvent {
    /// The request path without the query string.
    pub fn path(&self) -> &str {
        self.request_uri
            .split_once('?')
            .map_or(&self.request_uri, |(p, _)| p)
    }

    /// A decoded query parameter of the request URI.
    pub fn query_param(&self, key: &str) -> Option<String> {
        let (_, query) = self.request_uri.split_once('?')?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    pub fn code(&self) -> u16 {
        self.response_status.as_ref().map_or(0, |s| s.code)
    }
}

const WAIT_POLLS: u32 = 250;
const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// A position in the log, so a test reads only the requests made after it.
#[derive(Debug, Clone, Copy)]
pub struct Mark(u64);

#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn mark(&self) -> Mark {
        Mark(std::fs::metadata(&self.path).map_or(0, |m| m.len()))
    }

    /// Completed requests since `mark` (the `ResponseComplete` stage of each).
    pub fn since(&self, mark: Mark) -> Result<Vec<AuditEvent>> {
        Ok(self
            .events_since(mark)?
            .into_iter()
            .filter(|e| e.stage == "ResponseComplete")
            .collect())
    }

    /// Every stage logged since `mark`.
    fn events_since(&self, mark: Mark) -> Result<Vec<AuditEvent>> {
        let bytes =
            std::fs::read(&self.path).with_context(|| format!("reading {:?}", self.path))?;
        let start = usize::try_from(mark.0)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let text = String::from_utf8_lossy(&bytes[start..]);
        let mut events = Vec::new();
        for line in text.lines() {
            // A line still being written by the server is completed on the next read.
            if let Ok(event) = serde_json::from_str::<AuditEvent>(line) {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// Every request since `mark`, including long-running ones still open (a watch is logged
    /// when its response starts and again when it ends; it is listed once, at its start).
    pub fn requests_since(&self, mark: Mark) -> Result<Vec<AuditEvent>> {
        let mut seen = std::collections::HashSet::new();
        Ok(self
            .events_since(mark)?
            .into_iter()
            .filter(|e| seen.insert(e.audit_id.clone()))
            .collect())
    }

    /// The requests since `mark`, once one matching `pred` is among them.
    ///
    /// The server writes a request's event while its response completes, so a client can see
    /// the response a moment before the event; this polls until it is there.
    pub async fn wait_for(
        &self,
        mark: Mark,
        pred: impl Fn(&AuditEvent) -> bool,
    ) -> Result<Vec<AuditEvent>> {
        for _ in 0..WAIT_POLLS {
            if let Some(events) = self.matched(mark, &pred)? {
                return Ok(events);
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
        self.not_seen()
    }

    /// [`AuditLog::wait_for`] for tests without a runtime.
    pub fn wait_for_blocking(
        &self,
        mark: Mark,
        pred: impl Fn(&AuditEvent) -> bool,
    ) -> Result<Vec<AuditEvent>> {
        for _ in 0..WAIT_POLLS {
            if let Some(events) = self.matched(mark, &pred)? {
                return Ok(events);
            }
            std::thread::sleep(WAIT_POLL);
        }
        self.not_seen()
    }

    fn matched(
        &self,
        mark: Mark,
        pred: &impl Fn(&AuditEvent) -> bool,
    ) -> Result<Option<Vec<AuditEvent>>> {
        let events = self.since(mark)?;
        Ok(events.iter().any(pred).then_some(events))
    }

    fn not_seen(&self) -> Result<Vec<AuditEvent>> {
        anyhow::bail!("the expected request never appeared in {:?}", self.path)
    }
}
