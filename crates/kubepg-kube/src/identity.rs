//! A Kubernetes identity kubepg may act as on behalf of a SQL user: Kubernetes impersonation
//! (`Impersonate-User`, `Impersonate-Group`), so that the identity's own RBAC decides what its
//! requests return. kubepg's own credentials must be allowed the `impersonate` verb on users
//! (and groups, when groups are given).

use std::fmt;

/// A user and its groups, as the API server's authorizer sees them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    /// `alice@example.com`, or `system:serviceaccount:NAMESPACE:NAME` for a service account.
    pub user: String,
    /// Extra groups; the API server adds `system:authenticated` itself.
    pub groups: Vec<String>,
}

impl Identity {
    pub fn new(user: impl Into<String>, groups: Vec<String>) -> Self {
        Self {
            user: user.into(),
            groups,
        }
    }

    /// Whether `text` can travel in an `Impersonate-*` header: not empty, visible ASCII or
    /// spaces only (what an HTTP header value takes), no leading or trailing space.
    pub fn valid_name(text: &str) -> bool {
        !text.is_empty()
            && text.trim() == text
            && text.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
    }
}

/// `user=alice groups=team-a,team-b` (no `groups=` when there are none): how logs and
/// messages name the identity.
impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user={}", self.user)?;
        if !self.groups.is_empty() {
            write!(f, " groups={}", self.groups.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Identity;

    #[test]
    fn an_identity_shows_its_user_and_groups() {
        assert_eq!(Identity::new("alice", vec![]).to_string(), "user=alice");
        assert_eq!(
            Identity::new("alice", vec!["a".into(), "b".into()]).to_string(),
            "user=alice groups=a,b"
        );
    }

    #[test]
    fn names_must_fit_a_header() {
        assert!(Identity::valid_name("system:serviceaccount:team-a:reader"));
        assert!(Identity::valid_name("Alice Smith"));
        for bad in ["", " alice", "alice\n", "al\u{e9}", "a\tb"] {
            assert!(!Identity::valid_name(bad), "{bad:?}");
        }
    }
}
