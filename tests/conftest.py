"""Shared pytest fixtures: where the built `octet` tool is, and the repo's scripts."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))


@pytest.fixture(scope="session")
def octet_cli():
    build = os.environ.get("OCTET_BUILD_DIR", os.path.join(REPO, "build"))
    path = os.path.join(build, "octet")
    if not os.path.exists(path):
        pytest.fail(f"{path} not found: build first (scripts/build.sh) or set OCTET_BUILD_DIR")
    return path


@pytest.fixture(scope="session")
def run_octet(octet_cli):
    """run_octet(*args) -> CompletedProcess; raises with stderr when the tool fails."""
    def run(*args, check=True):
        proc = subprocess.run([octet_cli, *map(str, args)], capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"octet {' '.join(map(str, args))} failed ({proc.returncode}): {proc.stderr}")
        return proc
    return run


SAMPLE_MODELS = ["lenet", "resnet", "mobilenetv2"]
