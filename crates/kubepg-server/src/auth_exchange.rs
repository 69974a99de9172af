//! A client's password-family messages, checked against what the server asked for.
//!
//! One message type (`p`) carries a password, a SASLInitialResponse or a SASLResponse; which
//! one follows only from the authentication request the server sent last. pgwire coerces the
//! frame into the one it expects and trusts its inner lengths (a SASLInitialResponse whose data
//! length runs past the frame panics the connection task), and its SCRAM verifies the proof
//! but not that the client-final message carries the server's nonce, which RFC 5802 requires.
//! The server's requests exist only in what pgwire writes, so [`AuthExchange`] reads the
//! server's messages as they are written, until authentication ends.

use bytes::Buf;

use crate::frames::FrameError;

/// Authentication request codes (the Int32 after an `R` message's length).
const AUTH_OK: i32 = 0;
const CLEARTEXT: i32 = 3;
const MD5: i32 = 5;
const SASL: i32 = 10;
const SASL_CONTINUE: i32 = 11;
/// An authentication message body worth keeping; a SASLContinue body is ~100 bytes.
const MAX_KEPT: usize = 4096;

/// The password-family message the server waits for.
#[derive(Debug, PartialEq)]
enum Expected {
    Password,
    SaslInitial,
    /// A SASLResponse carrying this nonce.
    SaslResponse(Vec<u8>),
}

#[derive(Default)]
pub struct AuthExchange {
    header: [u8; 5],
    header_len: usize,
    /// Body bytes of the current server message still to come.
    remaining: usize,
    /// The current message's body, when it is an authentication request.
    body: Option<Vec<u8>>,
    expected: Option<Expected>,
    /// Authentication is over: nothing more is read or checked.
    done: bool,
}

impl AuthExchange {
    /// Follows bytes the server wrote to the client.
    pub fn written(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.done {
            if self.header_len < self.header.len() {
                let n = (self.header.len() - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
                self.header_len += n;
                bytes = &bytes[n..];
                if self.header_len == self.header.len() {
                    self.begin();
                }
                continue;
            }
            let n = self.remaining.min(bytes.len());
            if let Some(body) = &mut self.body {
                body.extend_from_slice(&bytes[..n]);
            }
            self.remaining -= n;
            bytes = &bytes[n..];
            if self.remaining == 0 {
                self.end();
            }
        }
    }

    fn begin(&mut self) {
        let mut length = &self.header[1..];
        self.remaining = usize::try_from(length.get_i32())
            .unwrap_or(4)
            .saturating_sub(4);
        self.body = (self.header[0] == b'R' && self.remaining <= MAX_KEPT)
            .then(|| Vec::with_capacity(self.remaining));
        if self.remaining == 0 {
            self.end();
        }
    }

    fn end(&mut self) {
        self.header_len = 0;
        match self.header[0] {
            b'R' => {
                let body = self.body.take().unwrap_or_default();
                let (mut code, rest) = body.split_at(body.len().min(4));
                if code.len() < 4 {
                    return;
                }
                self.expected = match code.get_i32() {
                    AUTH_OK => {
                        self.done = true;
                        None
                    }
                    CLEARTEXT | MD5 => Some(Expected::Password),
                    SASL => Some(Expected::SaslInitial),
                    SASL_CONTINUE => Some(Expected::SaslResponse(nonce(rest).to_vec())),
                    _ => None,
                };
            }
            // An ErrorResponse during startup ends the connection.
            b'E' => self.done = true,
            _ => {}
        }
    }

    /// Checks a client's password-family message as the one the server asked for.
    pub fn check_response(&mut self, body: &[u8]) -> Result<(), FrameError> {
        if self.done {
            return Ok(());
        }
        match self.expected.take() {
            None => Err(FrameError::malformed(
                "password message before the server asked for one",
            )),
            Some(Expected::Password) => {
                let nul = body.iter().position(|&b| b == 0);
                if nul == Some(body.len() - 1) {
                    Ok(())
                } else {
                    Err(FrameError::malformed(
                        "invalid password message: not one string",
                    ))
                }
            }
            Some(Expected::SaslInitial) => sasl_initial(body),
            Some(Expected::SaslResponse(expected)) => {
                if nonce(body) == expected.as_slice() {
                    Ok(())
                } else {
                    Err(FrameError::malformed(
                        "invalid SCRAM response: nonce does not match",
                    ))
                }
            }
        }
    }
}

/// A SASLInitialResponse: the mechanism's name, then Int32 n and n bytes (-1: none).
fn sasl_initial(body: &[u8]) -> Result<(), FrameError> {
    let invalid = || FrameError::malformed("invalid SASLInitialResponse message");
    let nul = body.iter().position(|&b| b == 0).ok_or_else(invalid)?;
    let mut rest = &body[nul + 1..];
    if rest.len() < 4 {
        return Err(invalid());
    }
    let n = rest.get_i32();
    if (n == -1 && rest.is_empty()) || usize::try_from(n).is_ok_and(|n| n == rest.len()) {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// The `r=` attribute of a SCRAM message (empty when it has none).
fn nonce(message: &[u8]) -> &[u8] {
    message
        .split(|&b| b == b',')
        .find_map(|attr| attr.strip_prefix(b"r="))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubepg_sql::SqlState;

    fn auth(code: i32, rest: &[u8]) -> Vec<u8> {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(rest);
        let mut m = vec![b'R'];
        m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        m.extend_from_slice(&body);
        m
    }

    const SERVER_FIRST: &[u8] = b"r=clientNONCEserverNONCE,s=c2FsdA==,i=4096";

    fn initial(data: &[u8]) -> Vec<u8> {
        let mut m = b"SCRAM-SHA-256\0".to_vec();
        m.extend_from_slice(&(data.len() as i32).to_be_bytes());
        m.extend_from_slice(data);
        m
    }

    #[test]
    fn the_client_final_must_carry_the_servers_nonce() {
        let mut exchange = AuthExchange::default();
        // Written in pieces, as a socket may take it.
        for chunk in auth(SASL, b"SCRAM-SHA-256\0\0").chunks(3) {
            exchange.written(chunk);
        }
        exchange
            .check_response(&initial(b"n,,n=,r=clientNONCE"))
            .unwrap();
        for chunk in auth(SASL_CONTINUE, SERVER_FIRST).chunks(7) {
            exchange.written(chunk);
        }
        let e = exchange
            .check_response(b"c=biws,r=clientNONCEforged,p=cHJvb2Y=")
            .unwrap_err();
        assert_eq!(e.state, SqlState::ProtocolViolation);

        exchange.written(&auth(SASL_CONTINUE, SERVER_FIRST));
        exchange
            .check_response(b"c=biws,r=clientNONCEserverNONCE,p=cHJvb2Y=")
            .unwrap();
    }

    #[test]
    fn each_password_message_has_the_shape_of_what_was_asked() {
        let refused = |asked: i32, body: &[u8]| {
            let mut exchange = AuthExchange::default();
            exchange.written(&auth(asked, b"SCRAM-SHA-256\0\0"));
            exchange.check_response(body).is_err()
        };
        assert!(!refused(SASL, &initial(b"n,,n=,r=x")));
        assert!(refused(SASL, b"SCRAM-SHA-256\0\x00\x00\x00\x09short"));
        assert!(refused(SASL, b"SCRAM-SHA-256\0\x00\x00"));
        assert!(refused(SASL, b"SCRAM-SHA-256"));
        assert!(!refused(MD5, b"md5abc\0"));
        assert!(refused(CLEARTEXT, b"secret"));
        assert!(refused(CLEARTEXT, b"se\0cret\0"));
        // Nothing asked yet: a client that did not wait.
        assert!(AuthExchange::default().check_response(b"secret\0").is_err());
    }

    #[test]
    fn nothing_is_checked_after_authentication() {
        let mut exchange = AuthExchange::default();
        exchange.written(&auth(AUTH_OK, b""));
        exchange.written(&auth(SASL_CONTINUE, SERVER_FIRST));
        exchange.check_response(b"anything").unwrap();
    }
}
