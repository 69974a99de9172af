"""Shared by the deployment tests: the chart renderer from scripts/, the value sets under test,
and RBAC rule matching."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import helm_render  # noqa: E402  (lives in scripts/, shared with scripts/render-deploy)

# The version of the test API server that scripts/test-cluster starts.
KUBE_VERSION = "v1.20.2"

# Every optional feature on, and a `config` map that tries to move the listener: the chart's own
# keys must win over it.
NON_DEFAULT: dict[str, Any] = {
    "replicaCount": 3,
    "networkPolicy": {
        "enabled": True,
        "metricsFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
    },
    "podDisruptionBudget": {"enabled": True},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "tls": {"secretName": "kubepg-tls", "required": True},
    "users": {"existingSecret": "kubepg-sql-users"},
    "identity": {
        "enabled": True,
        "mappings": {
            "alice": {"user": "alice@example.com", "groups": ["team-a"], "namespaces": ["team-a"]},
            "grafana": "self",
        },
    },
    "rbac": {"secrets": True},
    "config": {"strict": True, "max-connections": 7, "listen": "0.0.0.0:1"},
}


def by_kind(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        out.setdefault(obj["kind"], []).append(obj)
    return out


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects).get(kind, [])
    if len(found) != 1:
        raise AssertionError(f"expected one {kind}, found {len(found)}")
    return found[0]


def allows(role: dict[str, Any], group: str, resource: str, verb: str) -> bool:
    """Whether a ClusterRole grants `verb` on `resource` of API `group`, by RBAC's rules."""
    for rule in role.get("rules", []):
        if (
            (group in rule.get("apiGroups", []) or "*" in rule.get("apiGroups", []))
            and (resource in rule.get("resources", []) or "*" in rule.get("resources", []))
            and (verb in rule["verbs"] or "*" in rule["verbs"])
        ):
            return True
    return False


def verbs(role: dict[str, Any]) -> set[str]:
    return {verb for rule in role["rules"] for verb in rule["verbs"]}
