"""The device CA (devices.pki): made once and safely, certificates a TLS server accepts from a
client (checked with the openssl CLI too), fingerprints equal to what the scan server computes."""

from __future__ import annotations

import hashlib
import ssl
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devices import pki
from tests import services

EPR = "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def test_the_ca_is_made_on_first_use_private_and_only_once(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    path = pki.ca_certificate_path(directory)
    assert path == directory / "device-ca.crt"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "device-ca.key").stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate(path.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert (
        ca.subject == ca.issuer
        and ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == pki.CA_NAME
    )
    ca.verify_directly_issued_by(ca)
    first = (path.read_bytes(), (directory / "device-ca.key").read_bytes())
    pki.ca_certificate_path(directory)
    pki.issue_device_certificate("MFP", EPR, directory=directory)
    assert (path.read_bytes(), (directory / "device-ca.key").read_bytes()) == first


def test_processes_racing_to_make_the_ca_make_one(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    issued: list[pki.IssuedCertificate] = []
    errors: list[BaseException] = []

    def issue() -> None:
        try:
            issued.append(pki.issue_device_certificate("MFP", EPR, directory=directory))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=issue) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(issued) == 8
    ca = x509.load_pem_x509_certificate((directory / "device-ca.crt").read_bytes())
    for one in issued:  # all signed by the one CA that was kept
        x509.load_pem_x509_certificate(one.certificate_pem.encode()).verify_directly_issued_by(ca)


def test_an_incomplete_ca_is_an_error_not_a_new_ca(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    pki.ca_certificate_path(directory)
    (directory / "device-ca.crt").unlink()
    key = (directory / "device-ca.key").read_bytes()
    with pytest.raises(pki.CertificateError, match="incomplete .*device-ca.key without device-ca.crt"):
        pki.issue_device_certificate("MFP", EPR, directory=directory)
    assert (directory / "device-ca.key").read_bytes() == key


def test_a_device_certificate_is_a_tls_client_certificate_for_that_device(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    issued = pki.issue_device_certificate("Floor 2 MFP " + "x" * 100, EPR, directory=directory)
    cert = x509.load_pem_x509_certificate(issued.certificate_pem.encode())
    ca = x509.load_pem_x509_certificate(pki.ca_certificate_path(directory).read_bytes())
    cert.verify_directly_issued_by(ca)
    common_name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common_name == ("Floor 2 MFP " + "x" * 100)[:64]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [EPR]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == pki.DEVICE_DAYS
    assert issued.not_after == cert.not_valid_after_utc
    key = serialization.load_pem_private_key(issued.key_pem.encode(), password=None)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)
    # What the scan server computes from the ASGI TLS extension (scanserver.access).
    der = ssl.PEM_cert_to_DER_cert(issued.certificate_pem)
    assert issued.sha256 == hashlib.sha256(der).hexdigest() == pki.certificate_sha256(issued.certificate_pem)
    # OpenSSL's own judgement, strict mode, for the TLS-client purpose.
    (tmp_path / "device.crt").write_text(issued.certificate_pem)
    check = subprocess.run(
        [
            services.which("openssl"),
            "verify",
            "-x509_strict",
            "-purpose",
            "sslclient",
            "-CAfile",
            str(directory / "device-ca.crt"),
            str(tmp_path / "device.crt"),
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_device_certificate_never_outlives_its_ca(tmp_path: Path) -> None:
    issued = pki.issue_device_certificate("MFP", EPR, directory=tmp_path, days=pki.CA_DAYS * 2)
    ca = x509.load_pem_x509_certificate((tmp_path / "device-ca.crt").read_bytes())
    assert issued.not_after == ca.not_valid_after_utc


def test_an_endpoint_reference_that_is_no_uri_gets_no_san(tmp_path: Path) -> None:
    issued = pki.issue_device_certificate("MFP", "not a uri", directory=tmp_path)
    cert = x509.load_pem_x509_certificate(issued.certificate_pem.encode())
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_the_fingerprint_of_a_chain_is_the_first_certificates(tmp_path: Path) -> None:
    issued = pki.issue_device_certificate("MFP", EPR, directory=tmp_path)
    chain = issued.certificate_pem + (tmp_path / "device-ca.crt").read_text()
    assert pki.certificate_sha256(chain) == issued.sha256
    assert pki.read_device_certificate(chain)[1] == issued.sha256


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no PEM certificate found"),
        ("-----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END RSA PRIVATE KEY-----\n", "private key"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "cannot be decoded"),
    ],
)
def test_what_is_not_a_certificate_says_what_it_is(text: str, message: str) -> None:
    with pytest.raises(pki.CertificateError, match=message):
        pki.certificate_sha256(text)


def test_the_ca_certificate_is_not_a_device_certificate(tmp_path: Path) -> None:
    with pytest.raises(pki.CertificateError, match="CA certificate"):
        pki.read_device_certificate(pki.ca_certificate_path(tmp_path).read_text())


def test_the_default_directory_is_in_the_data_dir(settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path / "data"
    assert pki.ca_certificate_path() == tmp_path / "data" / "pki" / "device-ca.crt"
