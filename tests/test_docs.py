"""The user's documents: README.md stays short, the generated config reference and schema are current and
complete, and every link in README.md and docs/*.md stays inside the repository and points at a file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "scripts" / "config_reference.py"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# [text](target) and ![alt](target), and reference definitions "[label]: target"
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")


def _links(path: Path) -> list[str]:
    text = _CODE_SPAN.sub("", _FENCE.sub("", path.read_text(encoding="utf-8")))
    return _INLINE_LINK.findall(text) + _REF_LINK.findall(text)


def _generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_readme_is_at_most_15000_bytes():
    size = (ROOT / "README.md").stat().st_size
    assert size <= 15_000, f"README.md is {size} bytes; move detail into docs/"


def test_documents_exist():
    for name in ("architecture.md", "benchmarks.md", "operations.md", "config-reference.md"):
        assert (ROOT / "docs" / name).is_file(), name
    assert (ROOT / "docs" / "study-config.schema.json").is_file()


def test_config_reference_and_schema_are_up_to_date():
    result = _generator("--check")
    assert result.returncode == 0, f"stale generated docs; run `make docs`:\n{result.stderr}"


def test_the_check_names_a_stale_file(tmp_path):
    """--check is not a no-op: a copy of the repository's generator with an edited reference fails, naming it."""
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    (copy / "docs").mkdir()
    (copy / "scripts" / "config_reference.py").write_text(GENERATOR.read_text(encoding="utf-8"), encoding="utf-8")
    for name in ("config-reference.md", "study-config.schema.json"):
        (copy / "docs" / name).write_text((ROOT / "docs" / name).read_text(encoding="utf-8"), encoding="utf-8")
    (copy / "docs" / "study-config.schema.json").write_text("{}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(copy / "scripts" / "config_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 1, result.stderr
    assert "docs/study-config.schema.json" in result.stderr
    assert "config-reference.md" not in result.stderr


def test_every_config_field_has_a_description():
    result = _generator("--strict")
    assert result.returncode == 0, f"fields without a description (or stale docs):\n{result.stderr}"


def test_the_reference_names_every_nested_field():
    reference = (ROOT / "docs" / "config-reference.md").read_text(encoding="utf-8")
    for path in (
        "budget.n_trials",
        "dataset.tables.<name>.path",
        "dataset.relationships[].parent",
        "multi_objective.objectives[].name",
        "features.leakage.threshold",
        "executor.gpus",
    ):
        assert f"| `{path}` |" in reference, path


def test_no_document_refers_outside_the_repository():
    for doc in DOCUMENTS:
        assert "../shared/DESIGN.md" not in doc.read_text(encoding="utf-8"), doc.name
        for target in _links(doc):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
                continue
            resolved = (doc.parent / target.split("#", 1)[0]).resolve()
            assert resolved == ROOT or ROOT in resolved.parents, f"{doc.name}: link {target} leaves the repository"


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_a_file_that_exists(doc):
    missing = []
    for target in _links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            continue
        if not (doc.parent / target.split("#", 1)[0]).exists():
            missing.append(target)
    assert not missing, f"{doc.name}: links to missing files: {missing}"


@pytest.mark.parametrize("study", sorted((ROOT / "dags" / "studies").glob("*.yaml")), ids=lambda p: p.name)
def test_study_files_name_the_schema_and_satisfy_it(study):
    text = study.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../../docs/study-config.schema.json"
    schema = json.loads((ROOT / "docs" / "study-config.schema.json").read_text(encoding="utf-8"))
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(text))]
    assert not errors, errors
