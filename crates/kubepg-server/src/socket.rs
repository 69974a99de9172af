//! The message loop of one client socket.
//!
//! pgwire's own loop (`process_socket`) only writes to a client while answering one of its
//! messages, so it cannot deliver a notification to a client that sits idle after LISTEN. This
//! loop uses pgwire's TLS negotiation and per-message processing unchanged, and also waits on
//! the connection's notifications, sending them whenever the client is idle outside a
//! transaction (as PostgreSQL does), and on the idle-session timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use datafusion_postgres::pgwire::api::{
    ClientInfo, ErrorHandler, NoopHandler, PgWireConnectionState,
};
use datafusion_postgres::pgwire::error::PgWireError;
use datafusion_postgres::pgwire::messages::response::{NotificationResponse, TransactionStatus};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::pgwire::tokio::TlsAcceptor;
use datafusion_postgres::pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio_util::codec::{Framed, FramedParts};

use crate::connection::Connection;
use crate::errors::ErrorMapping;
use crate::frames::{FrameError, Frames};
use crate::pipeline::PreparedStatement;
use kubepg_sql::SqlState;
use kubepg_sql::pipeline::Notification;

/// What one connection may do: the server's bounds, per connection.
pub struct Limits {
    pub idle_timeout: Option<Duration>,
    pub auth_timeout: Duration,
    pub max_message_bytes: usize,
}

/// How long a client may leave notifications unread in its socket before it is closed: one
/// that LISTENs and stops reading must not hold a connection slot and its queue forever.
const NOTIFY_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

enum Next {
    Message(Option<Result<PgWireFrontendMessage, PgWireError>>),
    Notify(Notification),
    Stop,
    /// The server ends the session and tells the client why, as PostgreSQL does.
    Terminate(SqlState, &'static str),
}

/// Serves one client until it leaves, breaks the protocol, stays idle past `idle_timeout`, or
/// `terminate` turns true.
pub async fn serve(
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    conn: Connection,
    peer: SocketAddr,
    limits: Limits,
    starting: OwnedSemaphorePermit,
    mut terminate: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let Limits {
        idle_timeout,
        auth_timeout,
        max_message_bytes,
    } = limits;
    // Held until authentication is over: it counts the connections still in startup.
    let mut starting = Some(starting);
    let wait = conn.logins.wait(peer.ip());
    if !wait.is_zero() {
        tracing::info!(%peer, ms = wait.as_millis() as u64, "slowing a client after failed logins");
        tokio::time::sleep(wait).await;
    }
    let startup = tokio::time::sleep(auth_timeout);
    tokio::pin!(startup);
    let negotiated = tokio::select! {
        () = &mut startup => return Ok(()),
        negotiated = negotiate_tls::<PreparedStatement>(socket, tls) => negotiated?,
    };
    // A client that opened with direct TLS while no certificate is configured.
    let Some(socket) = negotiated else {
        return Ok(());
    };
    let parts = socket.into_parts();
    let mut checked = FramedParts::new(
        Frames::new(parts.io, parts.read_buf, max_message_bytes),
        parts.codec,
    );
    checked.write_buf = parts.write_buf;
    let mut socket = Framed::from_parts(checked);
    let Connection {
        startup: startup_handler,
        queries,
        cancel,
        mut notifications,
        activity,
        metrics,
        logins,
    } = conn;
    let queries = Arc::new(queries);
    // kubepg serves no COPY FROM: pgwire's no-op copy handler refuses it.
    let copy = Arc::new(NoopHandler);

    // Whether the last message the client sent ends an exchange (a simple query, a Sync, a
    // startup message): between Parse/Bind/Execute and their Sync, pgwire's state is already
    // ReadyForQuery, but the client is in the middle of an implicit transaction.
    let mut at_ready = true;
    loop {
        let in_startup = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        // Out of startup: authenticated (ready for queries), or refused (a FATAL was sent).
        if !in_startup
            && starting.take().is_some()
            && matches!(socket.state(), PgWireConnectionState::ReadyForQuery)
        {
            logins.succeeded(peer.ip());
        }
        let idle = at_ready
            && matches!(socket.state(), PgWireConnectionState::ReadyForQuery)
            && matches!(socket.transaction_status(), TransactionStatus::Idle);
        let next = tokio::select! {
            biased;
            message = socket.next() => Next::Message(message),
            () = &mut startup, if in_startup => {
                tracing::info!(%peer, seconds = auth_timeout.as_secs(), "closing a connection that did not authenticate in time");
                Next::Stop
            }
            Some(n) = notifications.recv(), if idle => Next::Notify(n),
            () = activity.idle_for(idle_timeout.unwrap_or_default()), if idle_timeout.is_some() && !in_startup => {
                tracing::info!(%peer, seconds = idle_timeout.unwrap_or_default().as_secs(), "closing an idle connection");
                Next::Terminate(SqlState::IdleSessionTimeout, "terminating connection due to idle-session timeout")
            }
            _ = terminate.wait_for(|t| *t), if !in_startup => {
                Next::Terminate(SqlState::AdminShutdown, "terminating connection due to administrator command")
            }
        };
        match next {
            Next::Message(Some(Err(PgWireError::IoError(e)))) if FrameError::of(&e).is_some() => {
                let refused = FrameError::of(&e).map(|f| (f.state, f.message.clone()));
                if let Some((state, message)) = refused {
                    tracing::info!(%peer, sqlstate = %state, %message, "refused a client's message");
                    // `true`: no ReadyForQuery after a FATAL; pgwire then closes the socket.
                    process_error(&mut socket, crate::errors::fatal(state, message), true).await?;
                }
                break;
            }
            Next::Terminate(state, message) => {
                process_error(
                    &mut socket,
                    crate::errors::fatal(state, message.into()),
                    true,
                )
                .await?;
                break;
            }
            Next::Stop | Next::Message(None) | Next::Message(Some(Err(_))) => break,
            // The client is leaving; some (asyncpg) wait for the server to close first.
            Next::Message(Some(Ok(PgWireFrontendMessage::Terminate(_)))) => break,
            Next::Message(Some(Ok(message))) => {
                at_ready = matches!(message, PgWireFrontendMessage::Sync(_))
                    || !message.is_extended_query();
                let extended_protocol = match socket.state() {
                    PgWireConnectionState::CopyInProgress(extended) => extended,
                    _ => message.is_extended_query(),
                };
                if let Err(mut e) = process_message(
                    message,
                    &mut socket,
                    startup_handler.clone(),
                    queries.clone(),
                    queries.clone(),
                    copy.clone(),
                    cancel.clone(),
                )
                .await
                {
                    ErrorMapping.on_error(&socket, &mut e);
                    // After a FATAL, PostgreSQL sends nothing more: no ReadyForQuery.
                    let fatal = matches!(&e, PgWireError::UserError(info) if info.is_fatal());
                    if matches!(&e, PgWireError::UserError(info) if info.code == SqlState::InvalidPassword.code())
                    {
                        logins.failed(peer.ip());
                    }
                    process_error(&mut socket, e, extended_protocol || fatal).await?;
                }
            }
            Next::Notify(first) => {
                let (pid, _) = socket.pid_and_secret_key();
                let mut pending = vec![first];
                while let Ok(n) = notifications.try_recv() {
                    pending.push(n);
                }
                let sent = pending.len() as u64;
                let write = async {
                    for n in pending {
                        socket
                            .feed(PgWireBackendMessage::NotificationResponse(
                                NotificationResponse::new(pid, n.channel, n.payload),
                            ))
                            .await?;
                    }
                    socket.flush().await
                };
                match tokio::time::timeout(NOTIFY_WRITE_TIMEOUT, write).await {
                    Ok(written) => written?,
                    Err(_) => {
                        tracing::warn!(%peer, "closing a connection that does not read its notifications");
                        break;
                    }
                }
                metrics.notifications.inc_by(sent);
            }
        }
    }
    Ok(())
}
