"""``${VAR}`` references in a study config: which variables may be named, and their expansion.

A config keeps its references unexpanded (that is what is written to the run's folder, the study
storage and MLflow); a URL is expanded only where it is used (:attr:`StudyConfig.storage_url`,
:attr:`StudyConfig.mlflow_uri`). Only names starting with ``AUTOML_`` may be named, or the names
the operator lists in ``AUTOML_ALLOWED_ENV_VARS`` (comma- or space-separated): a study author
cannot read the metadata DB's connection or Airflow's JWT secret into a URL they point elsewhere.
"""

from __future__ import annotations

import os
import re

from automl.redact import has_credential

ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
PREFIX = "AUTOML_"
ALLOW_LIST_VAR = "AUTOML_ALLOWED_ENV_VARS"


def allowed_names() -> set[str]:
    """The operator's extra allowed names (``AUTOML_ALLOWED_ENV_VARS``)."""
    return {n for n in re.split(r"[,\s]+", os.environ.get(ALLOW_LIST_VAR, "")) if n}


def refs(value: str) -> list[str]:
    return ENV_RE.findall(value)


def check_refs(value: str) -> None:
    """ValueError naming a reference to a variable that may not be named, or a literal credential."""
    extra = allowed_names()
    bad = [n for n in refs(value) if not (n.startswith(PREFIX) or n in extra)]
    if bad:
        raise ValueError(
            f"refers to environment variable(s) {bad}: only names starting with {PREFIX!r} (or listed by the "
            f"operator in {ALLOW_LIST_VAR}) may be used"
        )
    if has_credential(ENV_RE.sub("", value)):  # a reference in a password's place is how it should be
        raise ValueError(
            "holds a credential in clear text: put it in an environment variable and write ${AUTOML_...} "
            "(or use an Airflow connection: storage_conn_id / tracking_conn_id)"
        )


def expand(value: str) -> str:
    """The value with its references replaced by the variables' values (ValueError if one is unset)."""
    check_refs(value)

    def repl(m: re.Match[str]) -> str:
        if m.group(1) not in os.environ:
            raise ValueError(f"refers to environment variable {m.group(1)}, which is not set")
        return os.environ[m.group(1)]

    return ENV_RE.sub(repl, value)
