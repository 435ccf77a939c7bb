"""Storage errors, and which of them are worth retrying."""

from __future__ import annotations


class StorageError(RuntimeError):
    """The study storage cannot be reached or used."""


class StorageUnavailable(StorageError):
    """The study storage (database or proxy) could not be reached; workers retry this."""


def is_transient(err: BaseException) -> bool:
    """A storage error worth retrying: the database or the proxy is (briefly) unreachable.

    Looks through the exception chain: Optuna wraps SQLAlchemy errors in StorageInternalError,
    and the gRPC proxy turns a backend failure into an RPC error.
    """
    import sqlalchemy.exc

    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
            return True
        if isinstance(e, sqlalchemy.exc.DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, StorageUnavailable):
            return True
        if type(e).__module__.startswith("psycopg") and type(e).__name__ in ("OperationalError", "InterfaceError"):
            return True
        code = getattr(e, "code", None)
        if callable(code) and type(e).__module__.startswith("grpc"):
            try:
                name = code().name
            except Exception:
                name = ""
            # UNKNOWN: the proxy's backend raised (e.g. PostgreSQL went away behind it)
            if name in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "UNKNOWN", "INTERNAL", "ABORTED", "CANCELLED"):
                return True
        e = e.__cause__ or e.__context__
    return False
