//! Every frame a client sends is checked before pgwire decodes it.
//!
//! pgwire's decoders trust the lengths inside a frame: a Bind whose parameter lengths run past
//! its end, a message shorter than its own header or an empty SASL response panic the
//! connection task, and a Query whose text holds a NUL is cut there, the rest of the frame
//! then read as further messages (`SELECT 1\0` followed by a second complete Query runs both).
//! pgwire also buffers whatever a frame's header claims, up to 1 GiB. [`Frames`] sits between
//! the socket and pgwire's codec: it hands on only whole frames whose structure it has checked,
//! refuses a frame larger than the configured bound as soon as its header arrives, and fails
//! the read with a [`FrameError`] otherwise, which the connection answers with a FATAL.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use kubepg_sql::SqlState;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::auth_exchange::AuthExchange;

/// The largest startup packet PostgreSQL accepts.
const MAX_STARTUP_BYTES: usize = 10_000;

/// The request codes of untyped packets other than a startup message.
const CANCEL_REQUEST: i32 = 80_877_102;
const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;

/// Why a client's frame was refused: the connection ends with a FATAL of this code.
#[derive(Debug)]
pub struct FrameError {
    pub state: SqlState,
    pub message: String,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FrameError {}

impl FrameError {
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self {
            state: SqlState::ProtocolViolation,
            message: message.into(),
        }
    }

    /// The frame error inside an I/O error a read of [`Frames`] returned.
    pub fn of(e: &io::Error) -> Option<&FrameError> {
        e.get_ref().and_then(|inner| inner.downcast_ref())
    }
}

/// A client stream that yields only checked, whole frames.
pub struct Frames<S> {
    inner: S,
    /// Read from the client, not yet checked.
    pending: BytesMut,
    /// Checked, for pgwire to read.
    ready: BytesMut,
    /// Past the startup packet: every frame starts with its type byte.
    typed: bool,
    max_message_bytes: usize,
    failed: bool,
    /// What the server asked for during authentication: a password message is checked as the
    /// message it must be.
    auth: AuthExchange,
}

impl<S> Frames<S> {
    /// `already` holds bytes read before this stream took over (after an SSLRequest).
    pub fn new(inner: S, already: BytesMut, max_message_bytes: usize) -> Self {
        Self {
            inner,
            pending: already,
            ready: BytesMut::new(),
            typed: false,
            max_message_bytes,
            failed: false,
            auth: AuthExchange::default(),
        }
    }

    /// Moves every whole frame at the front of `pending` to `ready`, checked.
    fn cut(&mut self) -> Result<(), FrameError> {
        loop {
            let header = if self.typed { 5 } else { 4 };
            if self.pending.len() < header {
                return Ok(());
            }
            let kind = self.typed.then(|| self.pending[0]);
            let at = header - 4;
            let length = i32::from_be_bytes(self.pending[at..header].try_into().unwrap_or([0; 4]));
            let limit = if self.typed {
                self.max_message_bytes
            } else {
                MAX_STARTUP_BYTES
            };
            if length < 4 || (!self.typed && length < 8) {
                return Err(FrameError::malformed(format!(
                    "invalid message length {length}"
                )));
            }
            let length = length as usize;
            if length > limit {
                return Err(FrameError {
                    state: SqlState::ProgramLimitExceeded,
                    message: format!(
                        "message of {length} bytes is larger than this server accepts ({limit} bytes)"
                    ),
                });
            }
            let total = at + length;
            if self.pending.len() < total {
                self.pending.reserve(total - self.pending.len());
                return Ok(());
            }
            let body = &self.pending[header..total];
            match kind {
                Some(kind) => {
                    check_typed(kind, body)?;
                    if kind == b'p' {
                        self.auth.check_response(body)?;
                    }
                }
                None => self.typed = check_untyped(body)?,
            }
            let frame = self.pending.split_to(total);
            self.ready.extend_from_slice(&frame);
        }
    }
}

/// Checks an untyped packet's body; whether typed frames follow it.
fn check_untyped(body: &[u8]) -> Result<bool, FrameError> {
    let mut b = Body(body);
    let code = b.i32()?;
    match code {
        SSL_REQUEST | GSSENC_REQUEST => {
            b.end()?;
            Ok(false)
        }
        CANCEL_REQUEST => Ok(true),
        _ => {
            // key\0value\0 … \0
            loop {
                let key = b.cstring()?;
                if key.is_empty() {
                    break;
                }
                b.cstring()?;
            }
            b.end()?;
            Ok(true)
        }
    }
}

/// Checks the structure of a frontend message's body, for the types pgwire decodes by their
/// inner lengths.
fn check_typed(kind: u8, body: &[u8]) -> Result<(), FrameError> {
    let mut b = Body(body);
    match kind {
        // Query, CopyFail: one string that fills the frame.
        b'Q' | b'f' => {
            b.cstring()?;
        }
        // Parse: name, query, parameter type OIDs.
        b'P' => {
            b.cstring()?;
            b.cstring()?;
            let n = b.count()?;
            b.skip(n * 4)?;
        }
        // Bind: portal, statement, formats, values, result formats.
        b'B' => {
            b.cstring()?;
            b.cstring()?;
            let formats = b.count()?;
            b.skip(formats * 2)?;
            for _ in 0..b.count()? {
                let len = b.i32()?;
                if len > 0 {
                    b.skip(len as usize)?;
                } else if len < -1 {
                    return Err(FrameError::malformed(format!(
                        "invalid parameter length {len} in Bind"
                    )));
                }
            }
            let results = b.count()?;
            b.skip(results * 2)?;
        }
        // Execute: portal, row limit.
        b'E' => {
            b.cstring()?;
            b.i32()?;
        }
        // Describe, Close: 'S' or 'P', then a name.
        b'D' | b'C' => {
            let what = b.u8()?;
            if what != b'S' && what != b'P' {
                return Err(FrameError::malformed(format!(
                    "invalid {} target {:?}",
                    if kind == b'D' { "Describe" } else { "Close" },
                    what as char
                )));
            }
            b.cstring()?;
        }
        // Sync, Flush, Terminate, CopyDone carry nothing.
        b'S' | b'H' | b'X' | b'c' => {}
        // Password and SASL messages: never empty.
        b'p' => {
            if body.is_empty() {
                return Err(FrameError::malformed("empty password message"));
            }
            return Ok(());
        }
        // CopyData is opaque; any other type is pgwire's to refuse.
        _ => return Ok(()),
    }
    b.end()
}

/// A cursor over a frame's body whose reads fail instead of running past its end.
struct Body<'a>(&'a [u8]);

impl Body<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], FrameError> {
        if self.0.len() < n {
            return Err(FrameError::malformed(
                "message contents do not agree with its length",
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn skip(&mut self, n: usize) -> Result<(), FrameError> {
        self.take(n).map(|_| ())
    }

    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }

    fn i32(&mut self) -> Result<i32, FrameError> {
        let mut bytes = self.take(4)?;
        Ok(bytes.get_i32())
    }

    /// An Int16 count, which is never negative.
    fn count(&mut self) -> Result<usize, FrameError> {
        let mut bytes = self.take(2)?;
        let n = bytes.get_i16();
        usize::try_from(n).map_err(|_| FrameError::malformed(format!("invalid count {n}")))
    }

    fn cstring(&mut self) -> Result<&[u8], FrameError> {
        let Some(nul) = self.0.iter().position(|&b| b == 0) else {
            return Err(FrameError::malformed("unterminated string in message"));
        };
        let s = self.take(nul + 1)?;
        Ok(&s[..nul])
    }

    /// Nothing may follow the fields: a string with a NUL inside it ends here.
    fn end(&self) -> Result<(), FrameError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(FrameError::malformed(
                "message has bytes past its last field (a NUL inside a string?)",
            ))
        }
    }
}

impl<S> Frames<S> {
    /// Follows the first `n` bytes of `bufs`, which the server wrote; before the startup
    /// packet they are one-byte answers to SSL and GSSAPI requests, not messages.
    fn wrote(&mut self, bufs: &[io::IoSlice<'_>], mut n: usize) {
        if !self.typed {
            return;
        }
        for buf in bufs {
            let part = n.min(buf.len());
            self.auth.written(&buf[..part]);
            n -= part;
            if n == 0 {
                return;
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Frames<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.failed {
                return Poll::Ready(Ok(()));
            }
            if let Err(e) = this.cut() {
                // Nothing more is read from this client: the error is its last word.
                this.failed = true;
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
            }
            if !this.ready.is_empty() {
                continue;
            }
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // End of stream: a partial frame is dropped with the connection.
                Poll::Ready(Ok(())) if read.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => this.pending.extend_from_slice(read.filled()),
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Frames<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            this.wrote(&[io::IoSlice::new(buf)], n);
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = written {
            this.wrote(bufs, n);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn typed(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut f = vec![kind];
        f.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    fn startup() -> Vec<u8> {
        let mut body = 196_608i32.to_be_bytes().to_vec();
        body.extend_from_slice(b"user\0kubepg\0\0");
        let mut f = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        f.extend_from_slice(&body);
        f
    }

    /// What pgwire would read from `bytes`, or the frame error.
    async fn read(bytes: Vec<u8>) -> Result<Vec<u8>, FrameError> {
        let mut frames = Frames::new(&bytes[..], BytesMut::new(), 1 << 20);
        let mut out = Vec::new();
        match frames.read_to_end(&mut out).await {
            Ok(_) => Ok(out),
            Err(e) => Err(FrameError::of(&e).map_or_else(
                || FrameError::malformed(e.to_string()),
                |f| FrameError {
                    state: f.state,
                    message: f.message.clone(),
                },
            )),
        }
    }

    #[tokio::test]
    async fn well_formed_frames_pass_unchanged() {
        let mut bytes = startup();
        bytes.extend(typed(b'Q', b"SELECT 1\0"));
        bytes.extend(typed(b'P', b"\0SELECT $1\0\x00\x01\x00\x00\x00\x17"));
        bytes.extend(typed(
            b'B',
            b"\0\0\x00\x00\x00\x02\x00\x00\x00\x011\xff\xff\xff\xff\x00\x00",
        ));
        bytes.extend(typed(b'E', b"\0\x00\x00\x00\x00"));
        bytes.extend(typed(b'S', b""));
        assert_eq!(read(bytes.clone()).await.unwrap(), bytes);
    }

    #[tokio::test]
    async fn malformed_frames_are_protocol_violations() {
        for (what, frame) in [
            (
                "a NUL inside a query",
                typed(b'Q', b"SELECT 1\0Q\0\0\0\x0dSELECT 2\0"),
            ),
            ("an unterminated query", typed(b'Q', b"SELECT 1")),
            (
                "a Bind value past the end",
                typed(b'B', b"\0\0\x00\x00\x00\x01\x00\x00\x00\x09ab\x00\x00"),
            ),
            ("a negative Bind count", typed(b'B', b"\0\0\xff\xff")),
            ("a short Execute", typed(b'E', b"\0\x00")),
            ("an empty SASL response", typed(b'p', b"")),
            ("a Describe of nothing", typed(b'D', b"X\0")),
            ("a length below its header", b"Q\x00\x00\x00\x02".to_vec()),
        ] {
            let mut bytes = startup();
            bytes.extend(frame);
            let e = read(bytes).await.expect_err(what);
            assert_eq!(e.state, SqlState::ProtocolViolation, "{what}: {e}");
        }
        let e = read(b"\x00\x00\x00\x02".to_vec()).await.unwrap_err();
        assert_eq!(e.state, SqlState::ProtocolViolation);
    }

    #[tokio::test]
    async fn a_frame_past_the_bound_is_refused_from_its_header() {
        let mut bytes = startup();
        bytes.extend(b"Q\x40\x00\x00\x00");
        let e = read(bytes).await.unwrap_err();
        assert_eq!(e.state, SqlState::ProgramLimitExceeded, "{e}");
        let huge = [&20_000i32.to_be_bytes()[..], &[0; 16]].concat();
        let e = read(huge).await.unwrap_err();
        assert_eq!(e.state, SqlState::ProgramLimitExceeded, "{e}");
    }
}
