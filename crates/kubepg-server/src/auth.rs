//! Who may connect: SQL users and their passwords, and how they prove them (SCRAM-SHA-256 by
//! default; md5 and cleartext for old clients; `trust` only on loopback).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::md5pass::hash_md5_password;
use datafusion_postgres::pgwire::api::auth::sasl::scram::gen_salted_password;
use datafusion_postgres::pgwire::api::auth::{AuthSource, LoginInfo, Password};
use datafusion_postgres::pgwire::error::PgWireResult;
use rand::Rng;

/// SCRAM iterations; PostgreSQL's default.
pub const SCRAM_ITERATIONS: usize = 4096;

/// How clients authenticate.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// No password: allowed only when listening on loopback.
    Trust,
    ScramSha256(Arc<Users>),
    Md5(Arc<Users>),
    Cleartext(Arc<Users>),
}

/// A SCRAM salt and the password salted with it.
type Verifier = (Vec<u8>, Vec<u8>);

/// SQL users and their passwords.
#[derive(Debug, Default)]
pub struct Users {
    passwords: HashMap<String, String>,
    /// Each user's SCRAM salt and salted password, made on first use: the 4096 PBKDF2 rounds
    /// are paid once per user, not by every connection attempt.
    verifiers: Mutex<HashMap<String, Verifier>>,
    /// The key of what unknown users are answered with (see [`Users::mock`]).
    mock_key: OnceLock<Vec<u8>>,
}

impl Users {
    /// Users from a map of user to password; empty names or passwords are refused.
    pub fn new(passwords: HashMap<String, String>) -> Result<Self, String> {
        if let Some(user) = passwords
            .iter()
            .find(|(u, p)| u.is_empty() || p.is_empty())
            .map(|(u, _)| u)
        {
            return Err(format!("empty user or password for {user:?}"));
        }
        Ok(Self {
            passwords,
            ..Default::default()
        })
    }

    /// `user:password` pairs separated by commas (the `KUBEPG_USERS` form).
    pub fn parse_pairs(s: &str) -> Result<Self, String> {
        Self::from_pairs(s.split(','))
    }

    /// `user:password` lines; blank lines and `#` comments are skipped.
    pub fn parse_lines(s: &str) -> Result<Self, String> {
        Self::from_pairs(s.lines().filter(|l| !l.trim_start().starts_with('#')))
    }

    /// Adds `other`'s users, replacing passwords of users both have.
    pub fn extend(&mut self, other: Users) {
        self.passwords.extend(other.passwords);
    }

    fn from_pairs<'a>(pairs: impl Iterator<Item = &'a str>) -> Result<Self, String> {
        let mut passwords = HashMap::new();
        for pair in pairs.map(str::trim).filter(|p| !p.is_empty()) {
            let (user, password) = pair
                .split_once(':')
                .ok_or_else(|| format!("expected user:password, got {pair:?}"))?;
            if user.is_empty() || password.is_empty() {
                return Err(format!("empty user or password in {pair:?}"));
            }
            passwords.insert(user.to_string(), password.to_string());
        }
        Ok(Self {
            passwords,
            ..Default::default()
        })
    }

    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }

    fn password(&self, login: &LoginInfo) -> Option<&str> {
        self.passwords
            .get(login.user().unwrap_or_default())
            .map(String::as_str)
    }

    /// What an unknown user is answered with, as PostgreSQL does: a salt and a verifier that
    /// stay the same for that name (so asking twice tells nothing) and that no password
    /// matches, so that the exchange runs to its end and fails there exactly as a wrong
    /// password does. Keyed by a random per-process key (HMAC-SHA-256: PBKDF2 of one round).
    fn mock(&self, user: &str, purpose: &[u8]) -> Vec<u8> {
        let key = self.mock_key.get_or_init(salt);
        gen_salted_password(user, &[key.as_slice(), purpose].concat(), 1)
    }

    /// `user`'s SCRAM salt and salted password; an unknown user's are [`Users::mock`]s.
    fn scram_verifier(&self, user: &str) -> Verifier {
        let Some(password) = self.passwords.get(user) else {
            return (
                self.mock(user, b"salt")[..16].to_vec(),
                self.mock(user, b"key"),
            );
        };
        let mut verifiers = self
            .verifiers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        verifiers
            .entry(user.to_string())
            .or_insert_with(|| {
                let salt = salt();
                let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
                (salt, salted)
            })
            .clone()
    }
}

fn salt() -> Vec<u8> {
    let mut salt = vec![0u8; 16];
    rand::rng().fill(&mut salt[..]);
    salt
}

/// What SCRAM verifies against: the salted password.
#[derive(Debug)]
pub struct ScramSource(pub Arc<Users>);

#[async_trait]
impl AuthSource for ScramSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let (salt, salted) = self.0.scram_verifier(login.user().unwrap_or_default());
        Ok(Password::new(Some(salt), salted))
    }
}

/// What md5 verifies against: the expected response to a fresh 4-byte salt.
#[derive(Debug)]
pub struct Md5Source(pub Arc<Users>);

#[async_trait]
impl AuthSource for Md5Source {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        let salt = salt()[..4].to_vec();
        // An unknown user gets a challenge like anyone's, and no answer can match it.
        let expected = match self.0.password(login) {
            Some(password) => hash_md5_password(user, password, &salt).into_bytes(),
            None => self.0.mock(user, b"md5"),
        };
        Ok(Password::new(Some(salt), expected))
    }
}

/// What cleartext authentication compares with.
#[derive(Debug)]
pub struct CleartextSource(pub Arc<Users>);

#[async_trait]
impl AuthSource for CleartextSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        let expected = match self.0.password(login) {
            Some(password) => password.as_bytes().to_vec(),
            // Not text, so that no cleartext password can equal it.
            None => [&[0xff], self.0.mock(user, b"cleartext").as_slice()].concat(),
        };
        Ok(Password::new(None, expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_pairs_parse_and_reject_malformed_entries() {
        let users = Users::parse_pairs("alice:s3cret, bob:pw").unwrap();
        assert!(!users.is_empty());
        assert!(Users::parse_pairs("alice").is_err());
        assert!(Users::parse_pairs("alice:").is_err());
    }

    fn login(user: &str) -> LoginInfo<'_> {
        LoginInfo::new(Some(user), None, "127.0.0.1".into())
    }

    #[tokio::test]
    async fn an_unknown_user_gets_a_salt_like_a_known_one_and_the_same_one_each_time() {
        let source = ScramSource(Arc::new(Users::parse_pairs("alice:s3cret").unwrap()));
        let known = source.get_password(&login("alice")).await.unwrap();
        let again = source.get_password(&login("alice")).await.unwrap();
        assert_eq!(known.salt(), again.salt(), "one verifier per user");
        let (a, b) = (
            source.get_password(&login("mallory")).await.unwrap(),
            source.get_password(&login("mallory")).await.unwrap(),
        );
        assert_eq!(a.salt(), b.salt());
        assert_eq!(a.password(), b.password());
        assert_eq!(a.salt().map(<[u8]>::len), known.salt().map(<[u8]>::len));
        assert_ne!(a.password(), known.password());
        let other = source.get_password(&login("trudy")).await.unwrap();
        assert_ne!(other.salt(), a.salt());
    }
}
