"""The Dockerfile passes hadolint and builds the image kubepg's chart expects."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from support import ROOT

HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or "hadolint"


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HADOLINT, "--no-color", str(dockerfile)], capture_output=True, text=True, check=False
    )


class DockerfileTest(unittest.TestCase):
    def test_hadolint_has_no_findings(self) -> None:
        result = hadolint(ROOT / "Dockerfile")
        self.assertEqual(result.stdout + result.stderr, "")
        self.assertEqual(result.returncode, 0)

    def test_hadolint_reports_a_bad_dockerfile(self) -> None:
        # Guards the test above against a hadolint that checks nothing.
        with tempfile.TemporaryDirectory() as tmp:
            bad = Path(tmp) / "Dockerfile"
            bad.write_text("FROM debian\nRUN apt-get update && apt-get install -y curl\n")
            result = hadolint(bad)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("DL3006", result.stdout)  # untagged base image

    def test_runtime_stage_is_distroless_nonroot_serving_both_ports(self) -> None:
        lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
        final = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
        self.assertEqual(final[0], "FROM gcr.io/distroless/cc-debian12:nonroot")
        self.assertIn("USER 65532:65532", final)
        self.assertIn("EXPOSE 5432 9187", final)
        self.assertIn('ENTRYPOINT ["kubepg", "serve"]', final)
        build = next(line for line in lines if "cargo build" in line)
        self.assertIn("cargo build --release --locked -p kubepg-cli --bin kubepg", build)

    def test_dockerignore_keeps_build_output_and_git_out_of_the_context(self) -> None:
        ignored = (ROOT / ".dockerignore").read_text().split()
        for entry in ("target", ".git"):
            self.assertIn(entry, ignored)


if __name__ == "__main__":
    unittest.main()
