//! Who may connect: SQL users and their passwords, and how they prove them (SCRAM-SHA-256 by
//! default; md5 and cleartext for old clients; `trust` only on loopback).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::md5pass::hash_md5_password;
use datafusion_postgres::pgwire::api::auth::sasl::scram::gen_salted_password;
use datafusion_postgres::pgwire::api::auth::{AuthSource, LoginInfo, Password};
use datafusion_postgres::pgwire::error::PgWireResult;
use rand::Rng;

use crate::errors::invalid_password;

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

/// SQL users and their passwords.
#[derive(Debug, Default)]
pub struct Users {
    passwords: HashMap<String, String>,
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
        Ok(Self { passwords })
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
        Ok(Self { passwords })
    }

    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }

    fn password(&self, login: &LoginInfo) -> PgWireResult<&str> {
        let user = login.user().unwrap_or_default();
        self.passwords
            .get(user)
            .map(String::as_str)
            // The same answer as a wrong password: nothing tells which users exist.
            .ok_or_else(|| invalid_password(user))
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
        let password = self.0.password(login)?;
        let salt = salt();
        let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
        Ok(Password::new(Some(salt), salted))
    }
}

/// What md5 verifies against: the expected response to a fresh 4-byte salt.
#[derive(Debug)]
pub struct Md5Source(pub Arc<Users>);

#[async_trait]
impl AuthSource for Md5Source {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let password = self.0.password(login)?;
        let salt = salt()[..4].to_vec();
        let expected = hash_md5_password(login.user().unwrap_or_default(), password, &salt);
        Ok(Password::new(Some(salt), expected.into_bytes()))
    }
}

/// What cleartext authentication compares with.
#[derive(Debug)]
pub struct CleartextSource(pub Arc<Users>);

#[async_trait]
impl AuthSource for CleartextSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        Ok(Password::new(
            None,
            self.0.password(login)?.as_bytes().to_vec(),
        ))
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
}
