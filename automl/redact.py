"""Hide secrets in URLs before they reach a log line or an error message (stdlib only).

:func:`redact` takes one URL, :func:`redact_text` any text (an error message that quotes a URL):
the user-info part of every ``scheme://user:password@host`` (a password without a user and an
``@`` inside a password included) and the value of secret-named query parameters
(``?password=``, ``&token=``, ...) become ``***``.
"""

from __future__ import annotations

import re

# scheme://userinfo@ : the user-info runs to the LAST '@' before the host ('@' may sit in a password)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#'\"]*@)")
_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pwd|pass|token|access_token|auth_token|secret|api_key|apikey|sslpassword)=)"
    r"[^&;#\s'\"]*",
    re.IGNORECASE,
)


def _userinfo(m: re.Match[str]) -> str:
    user, sep, _secret = m.group("userinfo")[:-1].partition(":")
    if not sep:  # a lone user-info part may be a token (https://TOKEN@host): hide it all
        return f"{m.group('scheme')}***@"
    return f"{m.group('scheme')}{user}:***@"


def redact_text(text: str) -> str:
    """Hide credentials in every URL inside ``text``."""
    return _SECRET_PARAM.sub(lambda m: m.group("key") + "***", _USERINFO.sub(_userinfo, text))


def has_credential(text: str) -> bool:
    """Whether ``text`` holds a password in a URL's user-info or a secret-named query parameter
    (a user name alone, as in ``postgresql://postgres@host/db``, or an empty password is not one)."""
    if any(len(m.group(0)) > len(m.group("key")) for m in _SECRET_PARAM.finditer(text)):
        return True  # a secret parameter with a value
    return any(m.group("userinfo")[:-1].partition(":")[2] for m in _USERINFO.finditer(text))


def redact(url: str) -> str:
    """Hide a password in a database URL for logs and errors."""
    return redact_text(url)
