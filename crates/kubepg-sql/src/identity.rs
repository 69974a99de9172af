//! Who a session's Kubernetes requests are made as, and what follows from that: the operator's
//! mapping from SQL user to Kubernetes identity ([`IdentityMap`]), and per session the identity
//! and the namespaces it starts limited to ([`SessionIdentity`]).
//!
//! A SQL user either shares kubepg's own identity (its kubeconfig user or service account) or
//! is impersonated as a Kubernetes user and groups, whose RBAC then decides every LIST its
//! queries make. kubepg's shared watch cache is filled with kubepg's own identity, so only
//! sessions that share it may read the cache: [`SessionIdentity::may_read_shared_cache`] is
//! the one place that rule lives.

use std::collections::BTreeMap;

use kubepg_kube::Identity;
use serde_json::Value;

/// The identity one session acts as, and the `kubepg.namespaces` it starts with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionIdentity {
    /// `None`: kubepg's own identity.
    pub impersonate: Option<Identity>,
    /// Namespaces the session's scans list when a query names none (empty: every namespace).
    /// A convenience for users whose RBAC stops at namespaces, not a permission: the session
    /// may change it with `SET kubepg.namespaces`, and RBAC still decides.
    pub namespaces: Vec<String>,
}

impl SessionIdentity {
    /// Whether this session may read what kubepg's shared watch cache holds: cached scans,
    /// `kubepg.tables`, `kubepg.changes`, and anything else fed by the cache (notifications
    /// of changes included). The cache lists and watches with kubepg's own identity, so its
    /// objects are what kubepg may see, not what an impersonated user may: only sessions that
    /// share kubepg's identity read it.
    pub fn may_read_shared_cache(&self) -> bool {
        self.impersonate.is_none()
    }

    /// How logs and messages name the identity: `kubepg` (its own), or `user=… groups=…`.
    pub fn name(&self) -> String {
        match &self.impersonate {
            None => "kubepg".to_string(),
            Some(identity) => identity.to_string(),
        }
    }
}

/// SQL user → [`SessionIdentity`], as the operator configured it (`--identities`,
/// `--identities-file`). Users it does not name get the `"*"` entry, or kubepg's own identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityMap {
    users: BTreeMap<String, SessionIdentity>,
    /// The `"*"` entry: every SQL user the map does not name.
    default: Option<SessionIdentity>,
}

/// The key whose entry applies to SQL users the map does not name.
pub const ANY_USER: &str = "*";

impl IdentityMap {
    /// The map from its YAML/JSON form: SQL user names to `null` or `self` (kubepg's own
    /// identity), or to a map of `user` (the Kubernetes user to impersonate), `groups` (only
    /// with `user`) and `namespaces` (the session's default `kubepg.namespaces`). Anything else
    /// is an error naming the entry.
    pub fn from_value(value: &Value) -> Result<Self, String> {
        let entries = match value {
            Value::Null => return Ok(Self::default()),
            Value::Object(entries) => entries,
            _ => return Err("expected a map of SQL user names to identities".into()),
        };
        let mut map = Self::default();
        for (sql_user, entry) in entries {
            if sql_user.is_empty() {
                return Err("an empty SQL user name".into());
            }
            let identity = entry_of(entry).map_err(|e| format!("{sql_user}: {e}"))?;
            if sql_user == ANY_USER {
                map.default = Some(identity);
            } else {
                map.users.insert(sql_user.clone(), identity);
            }
        }
        Ok(map)
    }

    /// Adds `other`'s entries, replacing those of users both name.
    pub fn extend(&mut self, other: IdentityMap) {
        self.users.extend(other.users);
        if other.default.is_some() {
            self.default = other.default;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.default.is_none()
    }

    /// Whether any entry impersonates (so kubepg's credentials need the `impersonate` verb).
    pub fn impersonates(&self) -> bool {
        self.users
            .values()
            .chain(&self.default)
            .any(|i| i.impersonate.is_some())
    }

    /// The identity a session of `sql_user` acts as.
    pub fn get(&self, sql_user: &str) -> SessionIdentity {
        self.users
            .get(sql_user)
            .or(self.default.as_ref())
            .cloned()
            .unwrap_or_default()
    }
}

fn entry_of(entry: &Value) -> Result<SessionIdentity, String> {
    let fields = match entry {
        Value::Null => return Ok(SessionIdentity::default()),
        Value::String(s) if s == "self" => return Ok(SessionIdentity::default()),
        Value::Object(fields) => fields,
        other => {
            return Err(format!(
                "expected self, null or a map of user, groups, namespaces; got {other}"
            ));
        }
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "user" | "groups" | "namespaces"))
    {
        return Err(format!(
            "unknown key {unknown:?} (expected user, groups, namespaces)"
        ));
    }
    let user = match fields.get("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) if Identity::valid_name(u) => Some(u.clone()),
        Some(other) => {
            return Err(format!(
                "user must be a Kubernetes user name (printable ASCII), got {other}"
            ));
        }
    };
    let groups = strings(fields.get("groups"), "groups")?;
    if let Some(bad) = groups.iter().find(|g| !Identity::valid_name(g)) {
        return Err(format!(
            "group {bad:?} is not a Kubernetes group name (printable ASCII)"
        ));
    }
    let namespaces = strings(fields.get("namespaces"), "namespaces")?;
    if let Some(bad) = namespaces.iter().find(|n| !valid_namespace(n)) {
        return Err(format!("{bad:?} is not a namespace name"));
    }
    let impersonate = match (user, groups.is_empty()) {
        (Some(user), _) => Some(Identity::new(user, groups)),
        (None, true) => None,
        (None, false) => {
            return Err("groups need a user: Kubernetes impersonates groups of a user".into());
        }
    };
    Ok(SessionIdentity {
        impersonate,
        namespaces,
    })
}

fn strings(value: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("{what} must be a list of names, got {other}")),
            })
            .collect(),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(other) => Err(format!("{what} must be a list of names, got {other}")),
    }
}

/// A namespace name as Kubernetes takes it: a DNS label (RFC 1123), lowercase alphanumerics
/// and `-`, at most 63 characters, alphanumeric at both ends.
pub fn valid_namespace(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn users_map_to_their_identity_the_rest_to_the_default_or_kubepg() {
        let map = IdentityMap::from_value(&json!({
            "alice": {"user": "alice@example.com", "groups": ["team-a"], "namespaces": ["team-a"]},
            "admin": "self",
            "ops": null,
            "carol": {"namespaces": ["shop"]},
        }))
        .unwrap();
        let alice = map.get("alice");
        assert_eq!(
            alice.impersonate,
            Some(Identity::new("alice@example.com", vec!["team-a".into()]))
        );
        assert_eq!(alice.namespaces, ["team-a"]);
        assert!(!alice.may_read_shared_cache());
        assert_eq!(alice.name(), "user=alice@example.com groups=team-a");
        for shared in ["admin", "ops", "nobody"] {
            assert_eq!(map.get(shared), SessionIdentity::default(), "{shared}");
            assert!(map.get(shared).may_read_shared_cache());
            assert_eq!(map.get(shared).name(), "kubepg");
        }
        assert_eq!(map.get("carol").namespaces, ["shop"]);
        assert!(map.get("carol").may_read_shared_cache());
        assert!(map.impersonates());

        let mut fenced = IdentityMap::from_value(&json!({"*": {"user": "nobody"}})).unwrap();
        fenced.extend(map);
        assert_eq!(
            fenced.get("stranger").impersonate,
            Some(Identity::new("nobody", vec![]))
        );
        assert_eq!(fenced.get("admin"), SessionIdentity::default());
    }

    #[test]
    fn a_bad_entry_is_refused_with_its_user_named() {
        for (value, message) in [
            (json!(["alice"]), "expected a map"),
            (json!({"alice": "someone"}), "alice: expected self"),
            (json!({"alice": {"usr": "a"}}), "alice: unknown key \"usr\""),
            (json!({"alice": {"user": ""}}), "alice: user must be"),
            (json!({"alice": {"user": 7}}), "alice: user must be"),
            (
                json!({"alice": {"groups": ["g"]}}),
                "alice: groups need a user",
            ),
            (
                json!({"alice": {"user": "a", "groups": [1]}}),
                "alice: groups must be a list",
            ),
            (
                json!({"alice": {"user": "a", "namespaces": ["Team_A"]}}),
                "alice: \"Team_A\" is not a namespace name",
            ),
        ] {
            let err = IdentityMap::from_value(&value).unwrap_err();
            assert!(err.starts_with(message), "{value}: {err}");
        }
    }

    #[test]
    fn namespace_names_are_dns_labels() {
        for good in ["a", "team-a", "x1", &"a".repeat(63)] {
            assert!(valid_namespace(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!valid_namespace(bad), "{bad}");
        }
    }
}
