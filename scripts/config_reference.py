"""Generate the study-config reference from the pydantic models: docs/config-reference.md and
docs/study-config.schema.json.

    python scripts/config_reference.py            # (re)write both files (`make docs`)
    python scripts/config_reference.py --check    # exit 1, naming each stale file, when either is out of date
    python scripts/config_reference.py --strict   # also exit 1 listing every field without a description

Every field of ``StudyConfig`` is walked recursively: nested models (``budget.n_trials``), optional models
(``multi_objective.pick``), lists of models (``dataset.relationships[].parent``) and dicts of models
(``dataset.tables.<name>.path``). One row per field: dotted path, type (with its bounds), default, description.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pydantic import BaseModel  # noqa: E402
from pydantic.fields import FieldInfo  # noqa: E402
from pydantic_core import PydanticUndefined  # noqa: E402

from automl.config import StudyConfig  # noqa: E402

REFERENCE = ROOT / "docs" / "config-reference.md"
SCHEMA = ROOT / "docs" / "study-config.schema.json"

#: annotated_types constraint attribute -> how the reference writes it
_BOUNDS = (
    ("gt", ">"),
    ("ge", ">="),
    ("lt", "<"),
    ("le", "<="),
    ("min_length", "min length"),
    ("max_length", "max length"),
    ("pattern", "pattern"),
)


@dataclass(frozen=True)
class Row:
    path: str
    type: str
    default: str
    description: str


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (typing.Union, types.UnionType)


def type_name(tp: Any) -> str:
    """A readable type: ``int``, ``str | None``, ``'drop' | 'fail'``, ``dict[str, TableConfig]``."""
    if tp is type(None):
        return "null"
    if get_origin(tp) is Annotated:
        return type_name(get_args(tp)[0])
    if get_origin(tp) is Literal:
        return " | ".join(json.dumps(a) for a in get_args(tp))
    if _is_union(tp):
        return " | ".join(type_name(a) for a in get_args(tp))
    origin = get_origin(tp)
    if origin is not None:
        args = ", ".join(type_name(a) for a in get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp)


def bounds(info: FieldInfo) -> str:
    parts = []
    for meta in info.metadata:
        for attr, word in _BOUNDS:
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{word} {value}")
    return ", ".join(parts)


def default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return ""
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return "(block defaults)"
    return json.dumps(value)


def _models_in(tp: Any) -> Iterator[tuple[str, type[BaseModel]]]:
    """(path suffix, model) for each model reachable from an annotation: ``""`` for the model itself or an
    optional one, ``"[]"`` for a list of models, ``".<name>"`` for a dict's values."""
    if get_origin(tp) is Annotated:
        yield from _models_in(get_args(tp)[0])
    elif _is_model(tp):
        yield "", tp
    elif _is_union(tp):
        for a in get_args(tp):
            yield from _models_in(a)
    elif get_origin(tp) in (list, tuple, set, frozenset):
        for a in get_args(tp):
            for suffix, m in _models_in(a):
                yield "[]" + suffix, m
    elif get_origin(tp) is dict:
        args = get_args(tp)
        if len(args) == 2:
            for suffix, m in _models_in(args[1]):
                yield ".<name>" + suffix, m


def walk(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[Row, FieldInfo]]:
    """Every field of ``model`` and of the models nested in it, depth first, in declaration order."""
    for name, info in model.model_fields.items():
        path = prefix + name
        tp = info.annotation
        kind = type_name(tp)
        extra = bounds(info)
        if extra:
            kind = f"{kind} ({extra})"
        desc = " ".join((info.description or "").split())
        yield Row(path, kind, default_text(info), desc), info
        for suffix, sub in _models_in(tp):
            yield from walk(sub, f"{path}{suffix}.")


def _cell(text: str) -> str:
    """Table-cell text: ``|`` escaped, RST double backticks as Markdown's, a tag-like ``<`` outside code spans as ``&lt;``."""
    parts = text.replace("``", "`").split("`")
    for i in range(0, len(parts), 2):  # even parts lie outside code spans
        parts[i] = re.sub(r"<(?=[A-Za-z/!?])", "&lt;", parts[i])  # only what could open an HTML tag
    return "`".join(parts).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def reference_markdown() -> str:
    rows = [row for row, _ in walk(StudyConfig)]
    out = [
        "# Study config reference",
        "",
        "<!-- Generated by `python scripts/config_reference.py` (`make docs`) from the pydantic models in",
        "     `automl.config`. Do not edit by hand: `tests/test_docs.py` fails when this file is stale. -->",
        "",
        "A study is one YAML file in `dags/studies/`, validated into `automl.config.StudyConfig`; check one with",
        "`automl validate FILE`. Unknown keys are errors. `${VAR}` in `storage`/`tracking_uri` names an environment",
        "variable (only `AUTOML_*` names, or those listed in `AUTOML_ALLOWED_ENV_VARS`): expanded where used, written",
        "unexpanded.",
        "The JSON schema of the same models is [study-config.schema.json](study-config.schema.json); editors with",
        "the YAML language server complete and check fields when a study's first line is",
        "`# yaml-language-server: $schema=../../docs/study-config.schema.json`.",
        "",
        "Paths are dotted: `budget.n_trials` is `n_trials` inside the `budget:` block; `[]` marks a list item",
        "(`dataset.relationships[].parent`), `<name>` a key of your choosing (`dataset.tables.<name>.path`).",
        "A block with `(block defaults)` may be left out; each of its fields then takes its own default.",
        "",
    ]
    sections: dict[str, list[Row]] = {}
    for row in rows:
        top = row.path.split(".", 1)[0].split("[", 1)[0]
        nested = "." in row.path or "[" in row.path
        sections.setdefault(top if nested or _is_block(row.path) else "", []).append(row)
    for title, section in sections.items():
        out.append(f"## {_code(title) if title else 'Top level'}")
        out.append("")
        doc = _section_doc(title)
        if doc:
            out += [doc.replace("``", "`"), ""]
        out.append("| field | type | default | description |")
        out.append("|---|---|---|---|")
        for r in section:
            default = r.default if r.default in ("required", "(block defaults)") else _code(r.default)
            out.append(f"| {_code(r.path)} | {_cell(r.type)} | {_cell(default)} | {_cell(r.description)} |")
        out.append("")
    return "\n".join(out)


def _is_block(path: str) -> bool:
    info = StudyConfig.model_fields.get(path)
    return info is not None and any(True for _ in _models_in(info.annotation))


def _section_doc(title: str) -> str:
    if not title:
        return " ".join((StudyConfig.__doc__ or "").split())
    info = StudyConfig.model_fields[title]
    docs = [" ".join((m.__doc__ or "").split()) for _, m in _models_in(info.annotation)]
    return " ".join(d for d in docs[:1] if d)


def schema_json() -> str:
    return json.dumps(StudyConfig.model_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def undocumented() -> list[str]:
    return [row.path for row, info in walk(StudyConfig) if not (info.description or "").strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file is stale")
    parser.add_argument("--strict", action="store_true", help="also fail on fields without a description")
    args = parser.parse_args(argv)
    wanted = {REFERENCE: reference_markdown(), SCHEMA: schema_json()}
    rc = 0
    if args.check or args.strict:
        for path, text in wanted.items():
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                print(f"stale: {path.relative_to(ROOT)} (run `make docs`)", file=sys.stderr)
                rc = 1
    else:
        for path, text in wanted.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path.relative_to(ROOT)}")
    if args.strict:
        missing = undocumented()
        if missing:
            print(f"{len(missing)} field(s) without a description:", file=sys.stderr)
            for field in missing:
                print(f"  {field}", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
