"""Every object of the chart (default and non-default values) and of deploy/ is accepted by a
real Kubernetes 1.20.2 API server (server-side dry run), and deploy/ matches the chart."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path
from typing import Any

import yaml

from support import KUBE_VERSION, NON_DEFAULT, ROOT, helm_render

DRY_RUN = "(server dry run)"

# Just enough of the Prometheus Operator's CRD for the API server to serve ServiceMonitors.
SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {
            "kind": "ServiceMonitor",
            "listKind": "ServiceMonitorList",
            "plural": "servicemonitors",
            "singular": "servicemonitor",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubepg"}}


def identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


class DeploySyncTest(unittest.TestCase):
    def test_deploy_dir_is_the_chart_default_render(self) -> None:
        built = subprocess.run(
            ["kubectl", "kustomize", str(ROOT / "deploy")], capture_output=True, text=True, check=True
        ).stdout
        actual = {identity(o): o for o in yaml.safe_load_all(built) if o}
        expected = {identity(o): o for o in helm_render.deploy_objects()}
        hint = "deploy/ is out of date: run scripts/render-deploy"
        self.assertEqual(sorted(actual), sorted(expected), hint)
        for key, obj in expected.items():
            self.assertEqual(actual[key], obj, f"{key}: {hint}")
        written = {p.name for p in (ROOT / "deploy").glob("*.yaml")}
        self.assertEqual(written, set(helm_render.deploy_files()), hint)

    def test_deploy_dir_has_no_helm_traces(self) -> None:
        text = "".join(p.read_text() for p in (ROOT / "deploy").glob("*.yaml"))
        for trace in ("helm.sh/chart", "app.kubernetes.io/managed-by", "checksum/"):
            self.assertNotIn(trace, text)
        namespaces = {o["metadata"].get("namespace") for o in helm_render.deploy_objects()}
        self.assertEqual(namespaces, {None, "kubepg"})


class ApiServerDryRunTest(unittest.TestCase):
    """One test API server for the class: scripts/test-cluster up, always down afterwards."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = Path(tempfile.mkdtemp(prefix="kubepg-deploy-test-"))
        # Its own directory, so that clusters of concurrently running Rust tests are left alone;
        # --owner-pid tears it down even if this process dies before tearDownClass.
        cls.cluster_dir = cls.dir / "cluster"
        try:
            up = subprocess.run(
                [str(ROOT / "scripts" / "test-cluster"), "up", "--dir", str(cls.cluster_dir),
                 "--owner-pid", str(os.getpid())],
                capture_output=True, text=True, check=True,
            )
            cls.kubeconfig = up.stdout.strip().splitlines()[-1]
            cls.apply([NAMESPACE, SERVICE_MONITOR_CRD])
            cls.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                        "crd/servicemonitors.monitoring.coreos.com")
            # kubectl caches discovery; a fresh cache sees the new CRD.
            shutil.rmtree(cls.dir / "kubectl-cache", ignore_errors=True)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        subprocess.run(
            [str(ROOT / "scripts" / "test-cluster"), "down", "--dir", str(cls.cluster_dir)],
            capture_output=True, check=False,
        )
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def kubectl(cls, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", "--kubeconfig", cls.kubeconfig, "--cache-dir", str(cls.dir / "kubectl-cache"), *args],
            input=stdin, capture_output=True, text=True, check=check,
        )

    @classmethod
    def apply(cls, objects: list[dict[str, Any]]) -> None:
        cls.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))

    def assert_dry_run_accepts(self, objects: list[dict[str, Any]], *source: str) -> None:
        args = source or ("-f", "-")
        stdin = None if source else yaml.safe_dump_all(objects)
        result = self.kubectl("apply", "--dry-run=server", *args, stdin=stdin, check=False)
        self.assertEqual(result.returncode, 0, result.stderr)
        accepted = [line for line in result.stdout.splitlines() if line.endswith(DRY_RUN)]
        self.assertEqual(len(accepted), len(objects), result.stdout)
        for obj in objects:
            self.assertTrue(
                any(f"/{obj['metadata']['name']} " in line and obj["kind"].lower() in line for line in accepted),
                f"{obj['kind']} {obj['metadata']['name']} not in:\n{result.stdout}",
            )

    def test_default_render_is_accepted(self) -> None:
        self.assert_dry_run_accepts(helm_render.render(kube_version=KUBE_VERSION))

    def test_non_default_render_is_accepted(self) -> None:
        objects = helm_render.render(NON_DEFAULT, kube_version=KUBE_VERSION)
        self.assertEqual(len(objects), 9)
        self.assert_dry_run_accepts(objects)

    def test_inline_users_render_is_accepted(self) -> None:
        objects = helm_render.render({"users": {"users": {"grafana": "s3cret"}}}, kube_version=KUBE_VERSION)
        self.assertIn("Secret", {o["kind"] for o in objects})
        self.assert_dry_run_accepts(objects)

    def test_deploy_dir_is_accepted(self) -> None:
        self.assert_dry_run_accepts(helm_render.deploy_objects(), "-k", str(ROOT / "deploy"))

    def test_server_rejects_what_1_20_does_not_serve(self) -> None:
        # Guards the tests above against a dry run that accepts anything: the PodDisruptionBudget
        # rendered for Kubernetes 1.21 is policy/v1, which this 1.20.2 server does not serve.
        objects = helm_render.render(NON_DEFAULT, kube_version="v1.21.0")
        result = self.kubectl("apply", "--dry-run=server", "-f", "-",
                              stdin=yaml.safe_dump_all(objects), check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('no matches for kind "PodDisruptionBudget" in version "policy/v1"', result.stderr)


if __name__ == "__main__":
    unittest.main()
