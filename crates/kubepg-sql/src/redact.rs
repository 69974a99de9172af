//! Secret values never leave kubepg unless the operator opts in: the keys of `data` and
//! `stringData` stay visible, their values are replaced, and the last-applied annotation (which
//! holds the whole secret) is dropped.

use serde_json::Value;

pub const REDACTED: &str = "<redacted>";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether objects of this resource carry secret values.
pub fn is_secret(group: &str, plural: &str) -> bool {
    group.is_empty() && plural == "secrets"
}

pub fn redact_secret(object: &mut Value) {
    for field in ["data", "stringData"] {
        if let Some(map) = object.get_mut(field).and_then(Value::as_object_mut) {
            for v in map.values_mut() {
                *v = Value::String(REDACTED.to_string());
            }
        }
    }
    if let Some(annotations) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_are_replaced_and_keys_kept() {
        let mut s = json!({"data": {"password": "aHVudGVyMg=="}, "stringData": {"token": "x"},
            "metadata": {"annotations": {LAST_APPLIED: "{...}", "team": "web"}}});
        redact_secret(&mut s);
        assert_eq!(s["data"]["password"], REDACTED);
        assert_eq!(s["stringData"]["token"], REDACTED);
        assert_eq!(s["metadata"]["annotations"], json!({"team": "web"}));
    }
}
