"""The wheel: installed into a fresh virtualenv, its dependency ranges hold for the tested lock, and Airflow's
plugin manager finds the plugin through the package's ``airflow.plugins`` entry point (no plugins folder).

Offline and quick: the wheel is built without build isolation and installed with ``--no-deps --no-index``;
the fresh virtualenv (no system site-packages) sees the already-installed dependencies through a ``.pth``
line naming a folder of links to the project virtualenv's site-packages, less the checkout's own editable
install (its metadata and finder), so the package and its entry point come from the wheel only.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHECK = r"""
import json, sys, importlib.metadata as md
from packaging.requirements import Requirement
from packaging.version import Version

dist = md.distribution("airflow-automl")
unmet = []
for line in dist.requires or []:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue  # an extra's requirement
    try:
        installed = md.version(req.name)
    except md.PackageNotFoundError:
        unmet.append(f"{req} (not installed)")
        continue
    if not req.specifier.contains(Version(installed), prereleases=True):
        unmet.append(f"{req} (installed {installed})")
from airflow import plugins_manager
plugins, errors = plugins_manager._get_plugins()
import automl, automl_airflow.automl_plugin as ap
print(json.dumps({
    "dist_files": str(dist.locate_file("")),
    "entry_points": [ep.value for ep in dist.entry_points if ep.group == "airflow.plugins"],
    "unmet": unmet,
    "plugins": {p.name: type(p.source).__name__ for p in plugins},
    "errors": errors,
    "automl": automl.__file__,
    "plugin_module": ap.__file__,
}))
"""


def test_the_wheel_installs_into_a_fresh_venv_and_airflow_finds_its_plugin(tmp_path: Path) -> None:
    # built from a copy of the sources: an in-tree build would leave build/ and *.egg-info in the checkout
    src = tmp_path / "src"
    for name in ("pyproject.toml", "README.md"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("automl", "feature_engineering", "plugins/automl_airflow"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("airflow_automl-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = {n for n in zf.namelist() if n.endswith(".py")}
    sources = {str(p.relative_to(ROOT)) for d in ("automl", "feature_engineering") for p in (ROOT / d).rglob("*.py")}
    sources |= {f"automl_airflow/{p.name}" for p in (ROOT / "plugins" / "automl_airflow").glob("*.py")}
    assert sources - in_wheel == set(), "modules missing from the wheel"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    env = {  # nothing of the checkout or the project's virtualenv on the path but what the .pth adds below
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AIRFLOW__CORE__PLUGINS_FOLDER", "VIRTUAL_ENV")
    }
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    # the dependencies: the project virtualenv's packages, less this project's own (editable) install, whose
    # entry point would register the plugin a second time
    deps = tmp_path / "deps"
    deps.mkdir()
    for folder in map(Path, site.getsitepackages()):
        for entry in folder.iterdir():
            if not entry.name.startswith(("airflow_automl", "__editable__")) and not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    (purelib / "project_deps.pth").write_text(f"{deps}\n")
    plugins = tmp_path / "no_plugins"  # no plugins folder: the entry point alone must register the plugin
    plugins.mkdir()
    env |= {
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    res = subprocess.run([str(py), "-c", CHECK], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["entry_points"] == ["automl_airflow.automl_plugin:AutoMLPlugin"]
    assert out["unmet"] == [], "the dependency ranges exclude the installed (tested) versions"
    assert out["plugins"] == {"automl": "EntryPointSource"} and out["errors"] == {}
    for key in ("automl", "plugin_module"):  # imported from the installed wheel, not from the checkout
        assert out[key].startswith(str(purelib)), out


def test_every_dependency_range_admits_its_pin_in_constraints_txt() -> None:
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, _, version = line.split(";")[0].partition("==")
            pins[canonicalize_name(name.strip())] = Version(version.strip())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["k8s"]]
    # torch (installed first, from the CPU wheel: make install) and the build tool setuptools are not in the lock
    unpinned = [str(r) for r in reqs if canonicalize_name(r.name) not in pins and r.name not in ("torch", "setuptools")]
    outside = [
        f"{r} vs =={pins[canonicalize_name(r.name)]}"
        for r in reqs
        if canonicalize_name(r.name) in pins
        and not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)
    ]
    assert unpinned == [] and outside == []
    assert all(r.specifier and not str(r.specifier).startswith("==") for r in reqs if r.name != "setuptools"), (
        "dependencies are ranges; the exact lock is constraints.txt"
    )
