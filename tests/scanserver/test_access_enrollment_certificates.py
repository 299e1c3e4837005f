"""Enrollment with a client certificate: issued by the device CA (``--issue-certificate``) or the
device's own (``--certificate``); the stored fingerprint is what ``scanserver.access`` accepts,
and re-enrolling replaces it. Against a running simulated device, as the real command would be."""

from __future__ import annotations

import datetime as dt
import io
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.management import CommandError, call_command

from devices import pki
from devices.enrollment import EnrollmentError, enroll
from devices.simulator.run import SimulatorConfig, SimulatorThread
from scanserver import access
from tests.factories import Device, DeviceEvent


@pytest.fixture
def device_urls() -> Iterator[list[str]]:
    thread = SimulatorThread(SimulatorConfig(count=2, base_port=0, discovery=False, adf_pages=0))
    with thread as simulation:
        yield [d.server.device_url for d in simulation.devices]


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


def presenting(pem: str) -> dict[str, Any]:
    """The ASGI scope of a TLS connection whose client presented ``pem``."""
    return {"extensions": {"tls": {"client_cert_chain": [pem]}}}


def enroll_command(*args: str) -> str:
    out = io.StringIO()
    call_command("enroll_device", *args, stdout=out)
    return out.getvalue()


def printed(output: str, label: str) -> str:
    return output.split(label + ": ", 1)[1].split("\n", 1)[0].strip()


def own_certificate(*, days: int = 30, usage: Any = ExtendedKeyUsageOID.CLIENT_AUTH, ca: bool = False) -> str:
    """A self-signed certificate from outside OpenDSM (the organisation's PKI, say)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "own")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=60))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_issue_certificate_writes_the_pair_and_the_server_accepts_only_the_newest(
    db: None, data_dir: Path, device_urls: list[str], tmp_path: Path
) -> None:
    out_dir = tmp_path / "out" / "mfp1"
    output = enroll_command("--url", device_urls[0], "--issue-certificate", str(out_dir))
    crt, key = Path(printed(output, "certificate")), Path(printed(output, "key"))
    assert crt == (out_dir / "device.crt").resolve() and key == (out_dir / "device.key").resolve()
    for path in (crt, key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    device = Device.objects.get()
    pem = crt.read_text()
    assert (
        device.certificate_sha256 == pki.certificate_sha256(pem) == printed(output, "certificate sha256")[:64]
    )
    cert = x509.load_pem_x509_certificate(pem.encode())
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert private.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)
    ca_out = io.StringIO()
    call_command("device_ca", stdout=ca_out)
    ca_path = Path(ca_out.getvalue().strip())
    assert ca_path == data_dir / "pki" / "device-ca.crt"
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_path.read_bytes()))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [device.endpoint_reference]
    assert access.authenticate_device({}, presenting(pem)) == device
    event = DeviceEvent.objects.filter(device=device, kind="enrolled").get()
    assert (
        event.detail["certificate"] == "issued"
        and event.detail["certificate_sha256"] == device.certificate_sha256
    )

    enroll_command("--url", device_urls[0], "--issue-certificate", str(out_dir))
    assert crt.read_text() != pem, "the files are replaced"
    assert access.authenticate_device({}, presenting(pem)) is None, "the old certificate stops working"
    assert access.authenticate_device({}, presenting(crt.read_text())) == Device.objects.get()


def test_a_recorded_certificate_authenticates_until_the_device_is_enrolled_without_it(
    db: None, data_dir: Path, device_urls: list[str], tmp_path: Path
) -> None:
    pem = own_certificate()
    pem_file = tmp_path / "mfp.pem"
    pem_file.write_text(pem)
    output = enroll_command("--url", device_urls[0], "--certificate", str(pem_file))
    device = Device.objects.get()
    assert printed(output, "certificate sha256") == device.certificate_sha256 == pki.certificate_sha256(pem)
    assert "key: " not in output and not (data_dir / "pki").exists(), "recording needs no CA"
    assert access.authenticate_device({}, presenting(pem)) == device

    other = tmp_path / "other.pem"
    other.write_text(pem)
    with pytest.raises(CommandError, match="already enrolled for device"):
        enroll_command("--url", device_urls[1], "--certificate", str(other))
    assert Device.objects.count() == 1

    result = enroll(device_urls[0])  # re-enrolled with the token only: every old credential goes
    assert result.device.certificate_sha256 == ""
    assert access.authenticate_device({}, presenting(pem)) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no PEM certificate found"),
        (b"hello", "no PEM certificate found"),
        (b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", "private key, not a certificate"),
        (b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", "cannot be decoded"),
        (b"\x30\x82\x01\x0a\x02", "DER (binary) certificate"),
    ],
)
def test_a_bad_pem_is_refused_before_the_device_is_contacted(
    db: None, data_dir: Path, tmp_path: Path, content: bytes, message: str
) -> None:
    pem_file = tmp_path / "bad.pem"
    pem_file.write_bytes(content)
    # A URL nothing answers on: the certificate must be refused before any network call.
    with pytest.raises(CommandError, match="the device certificate is not usable: .*" + re.escape(message)):
        enroll_command("--url", "http://127.0.0.1:9/device", "--certificate", str(pem_file))
    assert not Device.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": -1}, "expired on"),
        ({"ca": True}, "CA certificate, not a device's"),
        ({"usage": ExtendedKeyUsageOID.SERVER_AUTH}, "lacks clientAuth"),
    ],
)
def test_a_certificate_a_tls_server_would_refuse_is_refused(
    db: None, tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(EnrollmentError, match=message):
        enroll("http://127.0.0.1:9/device", certificate=own_certificate(**kwargs))


def test_certificate_options_and_files(db: None, data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not allowed with"):
        enroll_command("--url", "http://x/", "--issue-certificate", str(tmp_path), "--certificate", "x.pem")
    with pytest.raises(CommandError, match="--certificate .*missing.pem: No such file"):
        enroll_command("--url", "http://x/", "--certificate", str(tmp_path / "missing.pem"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(CommandError, match="--issue-certificate .*a-file"):
        enroll_command("--url", "http://x/", "--issue-certificate", str(blocker / "sub"))
    with pytest.raises(EnrollmentError, match="not both"):
        enroll("http://x/", issue_certificate=True, certificate=own_certificate())
