"""Study storage URLs: which kinds a config accepts, and the default."""

from __future__ import annotations

import os
import re

from automl.paths import state_dir

STORAGE_SCHEMES = ("sqlite", "postgresql", "mysql", "grpc")


def check_storage_url(url: str) -> None:
    """Raise ValueError unless ``url`` is an Optuna RDB URL or ``grpc://host:port`` (the storage proxy)."""
    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    if scheme not in STORAGE_SCHEMES:
        raise ValueError(f"must be a URL starting with one of {[s + '://' for s in STORAGE_SCHEMES]}")
    if scheme == "grpc":
        grpc_address(url)


def grpc_address(url: str) -> tuple[str, int]:
    """``grpc://host:port`` -> (host, port)."""
    m = re.fullmatch(r"grpc://([^:/]+|\[[0-9a-fA-F:]+\]):(\d{1,5})/?", url)
    if not m or not 0 < int(m.group(2)) < 65536:
        raise ValueError("a storage proxy URL must be grpc://host:port")
    return m.group(1), int(m.group(2))


def default_storage_url() -> str:
    """The study storage of a config that names none: ``$AUTOML_STORAGE``, else SQLite in the state folder."""
    return os.environ.get("AUTOML_STORAGE") or f"sqlite:///{state_dir() / 'optuna.db'}"
