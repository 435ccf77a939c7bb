"""Hide secrets in URLs before they reach a log line or an error message (stdlib only)."""

from __future__ import annotations

import re


def redact(url: str) -> str:
    """Hide a password in a database URL for logs and errors."""
    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", url)
