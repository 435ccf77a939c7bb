"""The storage proxy's protection: a token on every call, TLS, and no unprotected bind off loopback."""

from __future__ import annotations

import datetime
import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from automl.storage import StorageUnavailable, get_storage
from automl.storage.proxy import TlsFiles, check_exposure, main, start_server

TOKEN = "s3cret-proxy-token"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _self_signed(out: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1/localhost, signed by its own key (the client trusts it as its CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = out / "proxy.crt", out / "proxy.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def tls_proxy(tmp_path: Path) -> Iterator[tuple[str, str]]:
    cert, key = _self_signed(tmp_path)
    port = _port()
    server = start_server(
        f"sqlite:///{tmp_path / 'behind.db'}", "127.0.0.1", port, threads=2, token=TOKEN, tls=TlsFiles(cert, key)
    )
    try:
        yield f"grpc://127.0.0.1:{port}", cert
    finally:
        server.stop(grace=None)


def _use(url: str) -> int:
    storage = get_storage(url, connect_timeout_s=3)
    study = optuna.create_study(storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    return len(study.trials)


def test_a_valid_client_works(tls_proxy: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    url, cert = tls_proxy
    monkeypatch.setenv("AUTOML_PROXY_CA", cert)
    monkeypatch.setenv("AUTOML_PROXY_TOKEN", TOKEN)
    assert _use(url) == 2


def test_a_client_without_the_token_is_refused(tls_proxy: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import grpc

    url, cert = tls_proxy
    monkeypatch.setenv("AUTOML_PROXY_CA", cert)
    for token in (None, "wrong-token"):
        if token is None:
            monkeypatch.delenv("AUTOML_PROXY_TOKEN", raising=False)
        else:
            monkeypatch.setenv("AUTOML_PROXY_TOKEN", token)
        with pytest.raises(grpc.RpcError) as err:
            _use(url)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_client_without_tls_is_refused_when_tls_is_on(
    tls_proxy: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _cert = tls_proxy
    monkeypatch.delenv("AUTOML_PROXY_CA", raising=False)  # a plain-text channel
    monkeypatch.setenv("AUTOML_PROXY_TOKEN", TOKEN)
    with pytest.raises(StorageUnavailable, match="cannot reach"):
        get_storage(url, connect_timeout_s=2)


def test_the_proxy_refuses_to_run_unprotected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tls = TlsFiles("c.pem", "k.pem")
    with pytest.raises(ValueError, match="needs a token"):
        check_exposure("127.0.0.1", None, None, insecure=False)
    with pytest.raises(ValueError, match="not loopback"):
        check_exposure("0.0.0.0", TOKEN, None, insecure=False)
    check_exposure("0.0.0.0", TOKEN, tls, insecure=False)
    check_exposure("127.0.0.1", TOKEN, None, insecure=False)
    check_exposure("0.0.0.0", None, None, insecure=True)
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["--storage", db, "--host", "0.0.0.0", "--port", str(_port())]) == 2
    assert "needs a token" in capsys.readouterr().err
