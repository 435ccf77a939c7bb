"""Who may talk to the storage proxy: a shared token in gRPC metadata, and TLS (both ends).

Server: ``--token-file`` (or ``AUTOML_PROXY_TOKEN``) and ``--tls-cert``/``--tls-key`` (optional
``--tls-client-ca``: clients must then present a certificate it signed). Every RPC without the
token is answered ``UNAUTHENTICATED``; the token is compared in constant time.

Client (the workers, the sensor, the CLI): ``AUTOML_PROXY_TOKEN``; ``AUTOML_PROXY_CA`` (the CA
that signed the proxy's certificate: TLS is used when it is set); ``AUTOML_PROXY_CLIENT_CERT``
and ``AUTOML_PROXY_CLIENT_KEY`` for a proxy that checks clients. The token stays in the
environment: never in the storage URL, a config or a command line.
"""

from __future__ import annotations

import collections
import hmac
import os
from pathlib import Path
from typing import Any

import grpc

TOKEN_ENV = "AUTOML_PROXY_TOKEN"
CA_ENV = "AUTOML_PROXY_CA"
CLIENT_CERT_ENV = "AUTOML_PROXY_CLIENT_CERT"
CLIENT_KEY_ENV = "AUTOML_PROXY_CLIENT_KEY"
_HEADER = "authorization"
_OPTIONS = [("grpc.max_receive_message_length", -1)]


class TokenInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Refuse every call whose ``authorization`` metadata is not ``Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

        def deny(request: Any, context: Any) -> None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"the storage proxy needs a valid token ({TOKEN_ENV})")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        for key, value in details.invocation_metadata or ():
            if key == _HEADER and hmac.compare_digest(str(value).encode(), self._expected):
                return continuation(details)
        return self._deny


def server_credentials(cert: str, key: str, client_ca: str | None = None) -> Any:
    """TLS for the server: its certificate chain and key; with ``client_ca``, clients must show a certificate."""
    ca = Path(client_ca).read_bytes() if client_ca else None
    return grpc.ssl_server_credentials(
        [(Path(key).read_bytes(), Path(cert).read_bytes())], root_certificates=ca, require_client_auth=ca is not None
    )


class _Details(
    collections.namedtuple(
        "_Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")
    ),
    grpc.ClientCallDetails,  # type: ignore[misc]
):
    pass


class _TokenMetadata(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, token: str) -> None:
        self._header = (_HEADER, f"Bearer {token}")

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = [*(details.metadata or ()), self._header]
        new = _Details(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready, details.compression
        )
        return continuation(new, request)


def client_channel(host: str, port: int) -> Any:
    """A channel to the proxy as the environment says: TLS when ``AUTOML_PROXY_CA`` is set, the token if given."""
    address = f"{host}:{port}"
    ca = os.environ.get(CA_ENV)
    if ca:
        cert, key = os.environ.get(CLIENT_CERT_ENV), os.environ.get(CLIENT_KEY_ENV)
        creds = grpc.ssl_channel_credentials(
            root_certificates=Path(ca).read_bytes(),
            private_key=Path(key).read_bytes() if key else None,
            certificate_chain=Path(cert).read_bytes() if cert else None,
        )
        channel = grpc.secure_channel(address, creds, options=_OPTIONS)
    else:
        channel = grpc.insecure_channel(address, options=_OPTIONS)
    token = os.environ.get(TOKEN_ENV)
    return grpc.intercept_channel(channel, _TokenMetadata(token)) if token else channel
