//! Failed logins by client address, and the wait they earn: after a few wrong passwords from
//! one address, each new connection from it waits before it is served, doubling up to a bound,
//! so that guessing passwords is slow while other addresses are served at full speed. A
//! successful login from the address forgets its failures.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Failures an address may have before its connections wait.
const FREE_FAILURES: u32 = 3;
/// The first wait, doubled with each further failure.
const FIRST_WAIT: Duration = Duration::from_millis(500);
const MAX_WAIT: Duration = Duration::from_secs(8);
/// An address whose last failure is this old starts again from nothing.
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Addresses remembered at once: past it, the stalest half is forgotten.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug, Default)]
pub struct Logins {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Logins {
    /// How long a new connection from `ip` waits before it is served.
    pub fn wait(&self, ip: IpAddr) -> Duration {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        match failures.get(&ip) {
            Some((count, last)) if last.elapsed() < FORGET_AFTER && *count > FREE_FAILURES => {
                let doublings = (*count - FREE_FAILURES - 1).min(16);
                (FIRST_WAIT * 2u32.pow(doublings)).min(MAX_WAIT)
            }
            _ => Duration::ZERO,
        }
    }

    pub fn failed(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= MAX_ADDRESSES && !failures.contains_key(&ip) {
            let mut ages: Vec<Instant> = failures.values().map(|(_, last)| *last).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            failures.retain(|_, (_, last)| *last > cutoff);
        }
        let now = Instant::now();
        let entry = failures.entry(ip).or_insert((0, now));
        if now - entry.1 >= FORGET_AFTER {
            entry.0 = 0;
        }
        entry.0 += 1;
        entry.1 = now;
    }

    pub fn succeeded(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_grow_per_address_after_a_few_failures_and_a_success_forgets_them() {
        let logins = Logins::default();
        let (bad, good): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..FREE_FAILURES {
            logins.failed(bad);
        }
        assert_eq!(logins.wait(bad), Duration::ZERO);
        logins.failed(bad);
        assert_eq!(logins.wait(bad), FIRST_WAIT);
        logins.failed(bad);
        assert_eq!(logins.wait(bad), FIRST_WAIT * 2);
        for _ in 0..20 {
            logins.failed(bad);
        }
        assert_eq!(logins.wait(bad), MAX_WAIT);
        assert_eq!(
            logins.wait(good),
            Duration::ZERO,
            "other addresses are not slowed"
        );
        tokio::time::advance(FORGET_AFTER).await;
        assert_eq!(
            logins.wait(bad),
            Duration::ZERO,
            "old failures are forgotten"
        );
        for _ in 0..10 {
            logins.failed(bad);
        }
        logins.succeeded(bad);
        assert_eq!(logins.wait(bad), Duration::ZERO);
    }
}
