"""Optuna's gRPC storage proxy in front of PostgreSQL: ``python -m automl.storage_proxy``.

For hundreds to thousands of workers: each worker keeps one gRPC channel to the proxy
(``storage: grpc://host:port`` in the study config) instead of its own database connections,
and the proxy talks to PostgreSQL through one bounded connection pool. PostgreSQL's
``max_connections`` (100 by default) then bounds the proxy's pool, not the number of workers.

    python -m automl.storage_proxy --storage postgresql+psycopg://user@db:5432/optuna --port 13000

The backend URL may instead come from ``AUTOML_PROXY_STORAGE`` (keeps a password off the
command line). The proxy is stateless apart from Optuna's read cache: run it as a long-lived
service (see docker/README.md), restart it at will; workers retry while it is away.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import optuna

log = logging.getLogger("automl.storage_proxy")


def backend_storage(url: str, pool_size: int) -> optuna.storages.BaseStorage:
    """The proxy's storage: an RDB storage with a bounded, self-healing pool, wrapped in Optuna's read cache."""
    from automl.study import StorageUnavailable, redact

    if url.startswith("grpc://"):
        raise ValueError("the proxy's backend must be a database URL, not another proxy")
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        engine_kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=60, connect_args={"connect_timeout": 10})
    try:
        rdb = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    except Exception as err:
        raise StorageUnavailable(f"cannot open study storage {redact(url)}: {type(err).__name__}: {err}") from None
    return optuna.storages.get_storage(rdb)  # Optuna's _CachedStorage: finished trials are served from memory


def start_server(url: str, host: str = "127.0.0.1", port: int = 13000, threads: int = 16) -> Any:
    """Start the proxy in this process and return the running ``grpc.Server`` (``.stop(grace)`` ends it)."""
    from optuna.storages._grpc.server import make_server

    server = make_server(backend_storage(url, threads), host, port, ThreadPoolExecutor(max_workers=threads))
    server.start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m automl.storage_proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=os.environ.get("AUTOML_PROXY_STORAGE"), help="backend database URL")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for a cluster)")
    parser.add_argument("--port", type=int, default=13000)
    parser.add_argument("--threads", type=int, default=16, help="server threads = database connections")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not args.storage:
        parser.error("give --storage or set AUTOML_PROXY_STORAGE")
    from automl.study import StorageError, redact

    try:
        server = start_server(args.storage, args.host, args.port, args.threads)
    except (StorageError, ValueError) as err:
        print(f"automl.storage_proxy: {err}", file=sys.stderr)
        return 2
    log.info("storage proxy for %s listening on grpc://%s:%d", redact(args.storage), args.host, args.port)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop(grace=5).wait()
    log.info("storage proxy stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
