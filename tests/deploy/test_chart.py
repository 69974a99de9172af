"""`helm lint` and offline renders of helm/kubepg, with default and non-default values, checked
object by object."""

from __future__ import annotations

import re
import unittest
from typing import Any

import yaml

from support import KUBE_VERSION, NON_DEFAULT, allows, by_kind, helm_render, one, verbs

READ = {"get", "list", "watch"}


def config_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(one(objects, "ConfigMap")["data"]["config.yaml"])
    return config


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (only,) = pod_spec(objects)["containers"]
    return only


def mounted_files(objects: list[dict[str, Any]]) -> dict[str, tuple[str, str, str]]:
    """Path in the container -> (source kind, source name, key) of every projected file."""
    spec = pod_spec(objects)
    mounts = {m["name"]: m["mountPath"] for m in container(objects)["volumeMounts"]}
    files = {}
    for volume in spec["volumes"]:
        for source in volume.get("projected", {}).get("sources", []):
            kind, ref = next(iter(source.items()))
            for item in ref["items"]:
                path = f"{mounts[volume['name']]}/{item['path']}"
                files[path] = (kind, ref["name"], item["key"])
    return files


class ValuesTest(unittest.TestCase):
    # Passed through verbatim as Kubernetes fields, documented by Kubernetes.
    VERBATIM = ("resources", "livenessProbe", "readinessProbe")

    def test_every_value_has_a_comment(self) -> None:
        lines = (helm_render.CHART / "values.yaml").read_text().splitlines()
        parent = ""
        undocumented = []
        for i, line in enumerate(lines):
            match = re.match(r"^( {0,2})([A-Za-z][\w-]*):", line)
            if not match:
                continue
            indent, key = match.groups()
            if not indent:
                parent = key
            elif parent in self.VERBATIM:
                continue
            if not lines[i - 1].lstrip().startswith("#"):
                undocumented.append(key if not indent else f"{parent}.{key}")
        self.assertEqual(undocumented, [])


class LintTest(unittest.TestCase):
    def assert_clean(self, report: dict[str, Any]) -> None:
        problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
        self.assertEqual(problems, [])
        self.assertEqual(report["errors"], [])
        self.assertEqual(report["total_charts_linted"], 1)

    def test_default_values_lint_clean(self) -> None:
        self.assert_clean(helm_render.lint(kube_version=KUBE_VERSION))

    def test_non_default_values_lint_clean(self) -> None:
        self.assert_clean(helm_render.lint(NON_DEFAULT, kube_version=KUBE_VERSION))

    def test_lint_reports_a_broken_value(self) -> None:
        # Guards the tests above against a linter that renders nothing.
        report = helm_render.lint({"fullnameOverride": "Bad_Name"}, kube_version=KUBE_VERSION)
        self.assertTrue(any('"Bad_Name"' in e for e in report["errors"]), report["errors"])


class DefaultRenderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.objects = helm_render.render(kube_version=KUBE_VERSION)

    def test_renders_exactly_the_core_objects(self) -> None:
        self.assertEqual(
            sorted(by_kind(self.objects)),
            ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Service", "ServiceAccount"],
        )
        for obj in self.objects:
            if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
                self.assertEqual(obj["metadata"]["namespace"], "kubepg", obj["kind"])

    def test_cluster_role_reads_everything_but_secrets(self) -> None:
        role = one(self.objects, "ClusterRole")
        self.assertEqual(verbs(role), READ)
        self.assertFalse(allows(role, "", "secrets", "get"))
        self.assertFalse(allows(role, "", "secrets", "list"))
        for group, resource in [
            ("", "pods"), ("", "nodes"), ("", "configmaps"), ("", "events"), ("apps", "deployments"),
            ("batch", "jobs"), ("apiextensions.k8s.io", "customresourcedefinitions"),
            ("rbac.authorization.k8s.io", "clusterroles"), ("networking.k8s.io", "ingresses"),
        ]:
            for verb in sorted(READ):
                self.assertTrue(allows(role, group, resource, verb), (group, resource, verb))
        self.assertFalse(allows(role, "", "users", "impersonate"))

    def test_binding_gives_the_role_to_the_service_account(self) -> None:
        binding = one(self.objects, "ClusterRoleBinding")
        account = one(self.objects, "ServiceAccount")
        self.assertEqual(binding["roleRef"]["name"], one(self.objects, "ClusterRole")["metadata"]["name"])
        self.assertEqual(
            binding["subjects"],
            [{"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "kubepg"}],
        )
        self.assertEqual(pod_spec(self.objects)["serviceAccountName"], account["metadata"]["name"])

    def test_pod_runs_locked_down_as_65532(self) -> None:
        pod = pod_spec(self.objects)["securityContext"]
        self.assertEqual(pod["runAsNonRoot"], True)
        self.assertEqual(pod["runAsUser"], 65532)
        self.assertEqual(pod["seccompProfile"], {"type": "RuntimeDefault"})
        sc = container(self.objects)["securityContext"]
        self.assertEqual(sc["runAsNonRoot"], True)
        self.assertEqual(sc["runAsUser"], 65532)
        self.assertEqual(sc["readOnlyRootFilesystem"], True)
        self.assertEqual(sc["allowPrivilegeEscalation"], False)
        self.assertEqual(sc["capabilities"], {"drop": ["ALL"]})
        self.assertEqual(sc["seccompProfile"], {"type": "RuntimeDefault"})

    def test_probes_and_ports(self) -> None:
        c = container(self.objects)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports, {"postgres": 5432, "metrics": 9187})
        self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "metrics"})
        self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "metrics"})
        self.assertEqual(c["args"], ["--config", "/etc/kubepg/config.yaml"])
        self.assertIn("memory", c["resources"]["limits"])
        service = one(self.objects, "Service")
        self.assertEqual(
            {(p["port"], p["targetPort"]) for p in service["spec"]["ports"]},
            {(5432, "postgres"), (9187, "metrics")},
        )
        template_labels = one(self.objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
        self.assertLessEqual(service["spec"]["selector"].items(), template_labels.items())

    def test_config_file_matches_the_pod(self) -> None:
        config = config_of(self.objects)
        self.assertEqual(
            set(config),
            {"listen", "health-listen", "in-cluster", "cache-dir", "auth", "max-connections",
             "statement-timeout", "idle-timeout", "query-memory-mb", "shutdown-grace"},
        )
        # No users: kubepg trusts loopback only, so the chart keeps it there (port-forward).
        self.assertEqual(config["listen"], "127.0.0.1:5432")
        self.assertEqual(config["health-listen"], "0.0.0.0:9187")
        self.assertIs(config["in-cluster"], True)
        self.assertEqual(config["auth"], "scram")
        self.assertEqual(config["max-connections"], 100)
        self.assertLess(config["shutdown-grace"], pod_spec(self.objects)["terminationGracePeriodSeconds"])
        self.assertEqual(
            mounted_files(self.objects),
            {"/etc/kubepg/config.yaml": ("configMap", "kubepg", "config.yaml")},
        )
        volumes = {v["name"]: v for v in pod_spec(self.objects)["volumes"]}
        cache = next(m for m in container(self.objects)["volumeMounts"] if m["mountPath"] == config["cache-dir"])
        self.assertIn("emptyDir", volumes[cache["name"]])

    def test_notes_tell_how_to_connect_through_port_forward(self) -> None:
        notes = helm_render.render_manifests(kube_version=KUBE_VERSION)["kubepg/templates/NOTES.txt"]
        self.assertIn("kubectl -n kubepg port-forward service/kubepg 5432:5432", notes)
        self.assertIn('psql "host=127.0.0.1 port=5432', notes)


class NonDefaultRenderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.objects = helm_render.render(NON_DEFAULT, kube_version=KUBE_VERSION)

    def test_optional_objects_are_rendered(self) -> None:
        kinds = by_kind(self.objects)
        self.assertEqual(one(self.objects, "Deployment")["spec"]["replicas"], 3)
        for kind in ("NetworkPolicy", "PodDisruptionBudget", "ServiceMonitor"):
            self.assertEqual(len(kinds.get(kind, [])), 1, kind)
        # users.existingSecret: the chart must not create a Secret of its own.
        self.assertNotIn("Secret", kinds)

    def test_pod_disruption_budget_api_follows_the_kubernetes_version(self) -> None:
        self.assertEqual(one(self.objects, "PodDisruptionBudget")["apiVersion"], "policy/v1beta1")
        newer = helm_render.render(NON_DEFAULT, kube_version="v1.21.0")
        self.assertEqual(one(newer, "PodDisruptionBudget")["apiVersion"], "policy/v1")

    def test_cluster_role_adds_secrets_and_impersonation_but_no_writes(self) -> None:
        role = one(self.objects, "ClusterRole")
        self.assertEqual(verbs(role), READ | {"impersonate"})
        self.assertTrue(allows(role, "", "secrets", "list"))
        self.assertTrue(allows(role, "example.com", "widgets", "watch"))
        for resource in ("users", "groups", "serviceaccounts"):
            self.assertTrue(allows(role, "", resource, "impersonate"), resource)
        impersonation = [r for r in role["rules"] if "impersonate" in r["verbs"]]
        self.assertEqual(impersonation, [{"apiGroups": [""], "resources": ["users", "groups", "serviceaccounts"], "verbs": ["impersonate"]}])
        self.assertFalse(allows(role, "", "pods", "impersonate"))

    def test_config_has_tls_users_identities_and_extra_keys(self) -> None:
        config = config_of(self.objects)
        self.assertEqual(config["listen"], "0.0.0.0:5432")  # the chart's key beats `config`
        self.assertIs(config["strict"], True)
        self.assertEqual(config["max-connections"], 7)
        self.assertIs(config["tls-required"], True)
        # The map kubepg reads as its `identities` key, exactly as given.
        self.assertEqual(config["identities"], NON_DEFAULT["identity"]["mappings"])
        files = mounted_files(self.objects)
        self.assertEqual(files[config["users-file"]], ("secret", "kubepg-sql-users", "users.yaml"))
        self.assertEqual(files[config["tls-cert"]], ("secret", "kubepg-tls", "tls.crt"))
        self.assertEqual(files[config["tls-key"]], ("secret", "kubepg-tls", "tls.key"))

    def test_network_policy_admits_only_the_two_ports(self) -> None:
        policy = one(self.objects, "NetworkPolicy")
        self.assertEqual(policy["spec"]["policyTypes"], ["Ingress"])
        ports = [rule["ports"][0]["port"] for rule in policy["spec"]["ingress"]]
        self.assertEqual(ports, ["postgres", "metrics"])
        self.assertEqual(policy["spec"]["ingress"][1]["from"], NON_DEFAULT["networkPolicy"]["metricsFrom"])

    def test_service_monitor_scrapes_metrics(self) -> None:
        monitor = one(self.objects, "ServiceMonitor")
        self.assertEqual(monitor["apiVersion"], "monitoring.coreos.com/v1")
        self.assertEqual(monitor["metadata"]["labels"]["release"], "prometheus")
        self.assertEqual(monitor["spec"]["endpoints"], [{"port": "metrics", "path": "/metrics", "interval": "30s"}])
        self.assertLessEqual(
            monitor["spec"]["selector"]["matchLabels"].items(),
            one(self.objects, "Service")["metadata"]["labels"].items(),
        )

    def test_inline_users_become_a_secret(self) -> None:
        users = {"grafana": "s3cret", "bob": 1234}
        objects = helm_render.render({"users": {"users": users}}, kube_version=KUBE_VERSION)
        secret = one(objects, "Secret")
        self.assertEqual(
            yaml.safe_load(secret["stringData"]["users.yaml"]), {"grafana": "s3cret", "bob": "1234"}
        )
        config = config_of(objects)
        self.assertEqual(
            mounted_files(objects)[config["users-file"]],
            ("secret", secret["metadata"]["name"], "users.yaml"),
        )
        self.assertNotIn("identities", config)
        self.assertNotIn("tls-cert", config)


if __name__ == "__main__":
    unittest.main()
