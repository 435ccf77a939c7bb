"""Optuna's gRPC storage proxy in front of PostgreSQL: ``python -m automl.storage.proxy``.

For hundreds to thousands of workers: each worker keeps one gRPC channel to the proxy
(``storage: grpc://host:port`` in the study config) instead of its own database connections,
and the proxy talks to PostgreSQL through one bounded connection pool. PostgreSQL's
``max_connections`` (100 by default) then bounds the proxy's pool, not the number of workers.

    python -m automl.storage.proxy --storage postgresql+psycopg://user@db:5432/optuna --port 13000

The backend URL may instead come from ``AUTOML_PROXY_STORAGE`` (keeps a password off the
command line). Clients need the token (``--token-file`` or ``AUTOML_PROXY_TOKEN``; clients send
``AUTOML_PROXY_TOKEN``), and off the loopback interface TLS too (``--tls-cert``/``--tls-key``,
optionally ``--tls-client-ca``); the proxy refuses to start unprotected unless ``--insecure``
(:mod:`automl.storage.proxy_auth`). The proxy is stateless apart from Optuna's read cache: run it as a long-lived
service (see docker/README.md), restart it at will; workers retry while it is away.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from automl.redact import redact
from automl.storage.client import EXTRAS_METHOD
from automl.storage.compat import get_trials_filtered, make_grpc_server, trials_reply
from automl.storage.errors import StorageError, StorageUnavailable
from automl.storage.fast_rdb import FastRDBStorage
from automl.storage.proxy_auth import TOKEN_ENV, TokenInterceptor, server_credentials

log = logging.getLogger("automl.storage.proxy")


def _extras_handler(storage: optuna.storages.BaseStorage) -> Any:
    """Serves :data:`automl.storage.client.EXTRAS_METHOD`."""
    import grpc  # ~70 ms, the server needs it anyway

    def trials_in_states(request: bytes, context: Any) -> bytes:
        req = json.loads(request)
        try:
            trials = get_trials_filtered(storage, req["study_id"], [TrialState[s] for s in req["states"]], set(), -1)
        except KeyError as err:
            context.abort(grpc.StatusCode.NOT_FOUND, str(err))
        return trials_reply(trials)

    service, method = EXTRAS_METHOD.strip("/").split("/")
    return grpc.method_handlers_generic_handler(
        service, {method: grpc.unary_unary_rpc_method_handler(trials_in_states)}
    )


def backend_storage(url: str, pool_size: int) -> optuna.storages.BaseStorage:
    """The proxy's storage: an RDB storage with a bounded, self-healing pool, wrapped in Optuna's read cache."""
    if url.startswith("grpc://"):
        raise ValueError("the proxy's backend must be a database URL, not another proxy")
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        engine_kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=60, connect_args={"connect_timeout": 10})
    try:
        rdb = FastRDBStorage(url, engine_kwargs=engine_kwargs)
    except Exception as err:
        raise StorageUnavailable(f"cannot open study storage {redact(url)}: {type(err).__name__}: {err}") from None
    return optuna.storages.get_storage(rdb)  # Optuna's _CachedStorage: finished trials are served from memory


def is_loopback(host: str) -> bool:
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class TlsFiles:
    """The server's certificate chain and key (PEM files), and optionally the CA that signs clients."""

    cert: str
    key: str
    client_ca: str | None = None


def check_exposure(host: str, token: str | None, tls: TlsFiles | None, insecure: bool) -> None:
    """ValueError unless the proxy is protected: a token always, and TLS too off the loopback interface."""
    if insecure:
        return
    if not token:
        raise ValueError(
            f"the proxy needs a token: --token-file FILE or {TOKEN_ENV} (clients send it from {TOKEN_ENV}); "
            "--insecure to run without"
        )
    if tls is None and not is_loopback(host):
        raise ValueError(
            f"listening on {host} (not loopback) needs TLS as well as the token: --tls-cert and --tls-key "
            "(optionally --tls-client-ca); --insecure to run without"
        )


def start_server(
    url: str,
    host: str = "127.0.0.1",
    port: int = 13000,
    threads: int = 16,
    *,
    token: str | None = None,
    tls: TlsFiles | None = None,
    insecure: bool = False,
) -> Any:
    """Start the proxy in this process and return the running ``grpc.Server`` (``.stop(grace)`` ends it).

    Raises ValueError when it would be unprotected (see :func:`check_exposure`) unless ``insecure``.
    """
    check_exposure(host, token, tls, insecure)
    storage = backend_storage(url, threads)
    creds = server_credentials(tls.cert, tls.key, tls.client_ca) if tls else None
    server = make_grpc_server(
        storage,
        host,
        port,
        ThreadPoolExecutor(max_workers=threads),
        interceptors=(TokenInterceptor(token),) if token else (),
        credentials=creds,
    )
    server.add_generic_rpc_handlers((_extras_handler(storage),))
    server.start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m automl.storage.proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=os.environ.get("AUTOML_PROXY_STORAGE"), help="backend database URL")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for a cluster)")
    parser.add_argument("--port", type=int, default=13000)
    parser.add_argument("--threads", type=int, default=16, help="server threads = database connections")
    parser.add_argument("--token-file", help=f"file holding the clients' token (else ${TOKEN_ENV})")
    parser.add_argument("--tls-cert", help="the server's certificate chain (PEM)")
    parser.add_argument("--tls-key", help="the server's private key (PEM)")
    parser.add_argument("--tls-client-ca", help="CA certificate (PEM): clients must present a certificate it signed")
    parser.add_argument(
        "--insecure", action="store_true", help="run without token and TLS checks (a trusted network only)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes sharing the port (SO_REUSEPORT): the proxy is CPU-bound Python, one core each",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not args.storage:
        parser.error("give --storage or set AUTOML_PROXY_STORAGE")
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("give --tls-cert and --tls-key together")
    token = Path(args.token_file).read_text().strip() if args.token_file else os.environ.get(TOKEN_ENV)
    tls = TlsFiles(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None
    try:
        check_exposure(args.host, token, tls, args.insecure)
    except ValueError as err:
        print(f"automl.storage.proxy: {err}", file=sys.stderr)
        return 2
    if args.processes > 1:
        return _serve_processes(args)
    try:
        server = start_server(
            args.storage, args.host, args.port, args.threads, token=token, tls=tls, insecure=args.insecure
        )
    except (StorageError, ValueError) as err:
        print(f"automl.storage.proxy: {err}", file=sys.stderr)
        return 2
    log.info(
        "storage proxy for %s listening on grpc://%s:%d (token %s, TLS %s)",
        redact(args.storage),
        args.host,
        args.port,
        "required" if token else "off",
        ("with client certificates" if tls.client_ca else "on") if tls else "off",
    )
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop(grace=5).wait()
    log.info("storage proxy stopped")
    return 0


def _serve_processes(args: argparse.Namespace) -> int:
    """N single-process proxies on one port; the kernel spreads client connections over them.

    Safe because each proxy caches only what cannot change (finished trials) and reads the rest
    from the database, exactly as N separate Optuna clients would."""
    import subprocess

    cmd = [sys.executable, "-m", "automl.storage.proxy", "--host", args.host, "--port", str(args.port)]
    cmd += ["--threads", str(args.threads)]
    for flag in ("token_file", "tls_cert", "tls_key", "tls_client_ca"):
        if getattr(args, flag):
            cmd += ["--" + flag.replace("_", "-"), getattr(args, flag)]
    if args.insecure:
        cmd.append("--insecure")
    env = {**os.environ, "AUTOML_PROXY_STORAGE": args.storage}
    children = [subprocess.Popen(cmd, env=env) for _ in range(args.processes)]

    def stop(*_: object) -> None:
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    codes = [c.wait() for c in children]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
