"""scanserver.serve without a server process: option checks, the uvicorn arguments, and the ASGI
TLS extension read from real asyncio connections (plain, TLS without and with a client certificate)."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from pathlib import Path
from typing import Any

import pytest

from devices import pki
from scanserver import serve
from tests import services


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> services.TLSFiles:
    return services.make_tls(tmp_path_factory.mktemp("tls"))


def test_check_accepts_a_complete_tls_setup(tls: services.TLSFiles) -> None:
    options = serve.Options(certfile=tls.cert, keyfile=tls.key, device_ca=tls.ca_cert, workers=2)
    assert serve.check(options) == []
    assert serve.check(serve.Options()) == [], "plain HTTP (development) is a valid setup"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"keyfile": None}, "give both --tls-cert and --tls-key"),
        ({"certfile": None, "keyfile": None}, "--device-ca needs TLS"),
        ({"device_ca": Path("/nonexistent/ca.crt")}, "--device-ca /nonexistent/ca.crt: no such file"),
        ({"certfile": Path("/nonexistent/tls.crt")}, "--tls-cert /nonexistent/tls.crt: no such file"),
        ({"workers": 0}, "--workers must be at least 1"),
        ({"port": 70000}, "--port must be 1..65535"),
    ],
)
def test_check_names_what_is_wrong(tls: services.TLSFiles, changes: dict[str, Any], problem: str) -> None:
    values: dict[str, Any] = {"certfile": tls.cert, "keyfile": tls.key, "device_ca": tls.ca_cert, **changes}
    assert any(p.startswith(problem) for p in serve.check(serve.Options(**values)))


def test_uvicorn_asks_for_client_certificates_only_with_a_device_ca(tls: services.TLSFiles) -> None:
    with_ca = serve.uvicorn_config(serve.Options(certfile=tls.cert, keyfile=tls.key, device_ca=tls.ca_cert))
    assert with_ca["ssl_cert_reqs"] == ssl.CERT_OPTIONAL and with_ca["ssl_ca_certs"] == str(tls.ca_cert)
    assert with_ca["http"] == serve.PROTOCOL and with_ca["ssl_certfile"] == str(tls.cert)
    without = serve.uvicorn_config(serve.Options(certfile=tls.cert, keyfile=tls.key))
    assert "ssl_cert_reqs" not in without and "ssl_ca_certs" not in without


async def _extension_seen(server_ssl: ssl.SSLContext | None, client_ssl: ssl.SSLContext | None) -> Any:
    """Open one real connection and return ``tls_extension`` of the server side's transport."""
    seen: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.set_result(serve.tls_extension(writer.transport))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ssl)
    port = server.sockets[0].getsockname()[1]
    try:
        _, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ssl, server_hostname="127.0.0.1" if client_ssl else None
        )
        result = await asyncio.wait_for(seen, 10)
        writer.close()
        return result
    finally:
        server.close()
        await server.wait_closed()


def _server_context(tls: services.TLSFiles, device_ca: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # as uvicorn makes it
    context.load_cert_chain(tls.cert, tls.key)
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(device_ca)
    return context


async def test_tls_extension_of_a_plain_connection_is_none() -> None:
    assert await _extension_seen(None, None) is None


async def test_tls_extension_without_and_with_a_client_certificate(
    tls: services.TLSFiles, tmp_path: Path
) -> None:
    issued = pki.issue_device_certificate("MFP", "urn:uuid:tls-extension", directory=tmp_path / "pki")
    server_ssl = _server_context(tls, tmp_path / "pki" / "device-ca.crt")
    client_ssl = ssl.create_default_context(cafile=str(tls.ca_cert))

    anonymous = await _extension_seen(server_ssl, client_ssl)
    assert anonymous["client_cert_chain"] == [] and anonymous["tls_version"] in (0x0303, 0x0304)

    (tmp_path / "device.crt").write_text(issued.certificate_pem)
    (tmp_path / "device.key").write_text(issued.key_pem)
    client_ssl.load_cert_chain(tmp_path / "device.crt", tmp_path / "device.key")
    presented = await _extension_seen(server_ssl, client_ssl)
    (pem,) = presented["client_cert_chain"]
    assert hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest() == issued.sha256
