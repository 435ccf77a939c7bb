"""The built worker image (``make images``) run with podman: read-only root, non-root, host network.

``make test-images`` sets ``AUTOML_TEST_IMAGES=1``: then a missing image or podman is a failure. Under a plain
``make test`` the module is skipped when the images were not built (``make test`` never builds them).
podman uses the storage and the config files that ``scripts/images.sh`` wrote under ``.automl/images``
(``netns = "host"``: no bridge, no iptables chain is created on this machine).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IMAGES_DIR = Path(os.environ.get("AUTOML_IMAGES_DIR", ROOT / ".automl" / "images"))
WORKER = os.environ.get("WORKER_IMAGE", "localhost/automl-worker:0.1.0")
REQUIRED = os.environ.get("AUTOML_TEST_IMAGES") == "1"
MAX_WORKER_BYTES = 1_500_000_000  # issue 23: the worker image stays under 1.5 GB
ENV = {
    **os.environ,
    "CONTAINERS_STORAGE_CONF": str(IMAGES_DIR / "conf" / "storage.conf"),
    "CONTAINERS_CONF": str(IMAGES_DIR / "conf" / "containers.conf"),
}


def _podman(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=ENV, timeout=timeout)


def _image_present() -> bool:
    if shutil.which("podman") is None or os.geteuid() != 0 or not (IMAGES_DIR / "conf" / "storage.conf").exists():
        return False
    return _podman("image", "exists", WORKER).returncode == 0


if not _image_present():
    if REQUIRED:
        pytest.fail(f"{WORKER} is not built under {IMAGES_DIR} (run `make images` as root)", pytrace=False)
    pytest.skip(f"{WORKER} not built (make images; make test-images runs this)", allow_module_level=True)


def _run_worker(*args: str, entrypoint: str | None = None) -> subprocess.CompletedProcess[str]:
    # the way a pod runs it: read-only root (podman mounts a writable tmpfs at /tmp), the image's user
    opts = ["run", "--rm", "--read-only", "--network", "host"]
    if entrypoint:
        opts += ["--entrypoint", entrypoint]
    return _podman(*opts, WORKER, *args)


PROBE = """
import importlib.util, json, os, shutil
import torch, optuna, mlflow, lightgbm, automl, automl.worker
try:
    open('/opt/venv/probe', 'w')
    root_writable = True
except OSError:
    root_writable = False
open('/tmp/probe', 'w').write('ok')
print(json.dumps({
    'uid': os.getuid(), 'torch': torch.__version__, 'cuda': torch.version.cuda, 'optuna': optuna.__version__,
    'mlflow': mlflow.__version__, 'root_writable': root_writable,
    'tools': [t for t in ('gcc', 'cc', 'make', 'pip', 'apt-get') if shutil.which(t) and t != 'apt-get'],
    'test_deps': [m for m in ('pytest', 'ruff', 'mypy', 'hadolint') if importlib.util.find_spec(m)],
}))
"""


def test_worker_imports_the_stack_as_non_root_on_a_read_only_root() -> None:
    proc = _run_worker("-c", PROBE, entrypoint="python")
    assert proc.returncode == 0, proc.stderr[-3000:]
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert facts["uid"] == 10001  # executor.run_as_user
    assert facts["torch"].startswith("2.13.0") and facts["cuda"] is None  # the CPU-only wheel
    assert facts["optuna"].startswith("5.") and facts["mlflow"].startswith("3.")
    assert facts["root_writable"] is False
    assert facts["tools"] == [] and facts["test_deps"] == []


def test_automl_help_and_the_default_command_run() -> None:
    cli = _run_worker("--help", entrypoint="automl")
    assert cli.returncode == 0 and "usage: automl" in cli.stdout, cli.stderr[-3000:]
    worker = _run_worker()  # ENTRYPOINT python -m automl.worker, CMD --help
    assert worker.returncode == 0 and "usage:" in worker.stdout, worker.stderr[-3000:]


def test_worker_image_is_under_the_size_budget() -> None:
    proc = _podman("image", "inspect", "--format", "{{.Size}}", WORKER)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) <= MAX_WORKER_BYTES
