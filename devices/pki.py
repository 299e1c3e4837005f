"""The device CA: client certificates a device presents to the scan server (DESIGN.md decision 2).

OpenDSM keeps its own small certificate authority for devices in ``<SMC_DATA_DIR>/pki/``
(directory mode 0700): ``device-ca.key`` (EC P-256, PEM, unencrypted, mode 0600 — the file
permission is its protection, as for ``secret_key``) and ``device-ca.crt`` (self-signed, 10
years). It is made the first time it is needed (:func:`ca_certificate_path`,
:func:`issue_device_certificate`), under a file lock so two processes never make two CAs. It
never overwrites a key: a key without its certificate is an error the admin resolves.

A device certificate (:func:`issue_device_certificate`) has an RSA 2048 key (what embedded TLS
stacks in scanners support most widely), subject CN = the device's name (cut to 64 characters),
a subjectAltName URI with the device's endpoint reference (``urn:uuid:...``), extendedKeyUsage
clientAuth only, and is valid for 825 days (never beyond the CA). The scan server does not
look at any of these: it trusts what chains to ``--device-ca`` and then maps the certificate's
SHA-256 fingerprint (of the DER encoding, :func:`certificate_sha256`) to the enrolled device —
so revoking a certificate is re-enrolling the device, which replaces the fingerprint.

A certificate the device already has (from the organisation's own CA) can be enrolled instead:
:func:`read_device_certificate` checks it is one a TLS server will accept from a client.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "device-ca.crt"
CA_KEY = "device-ca.key"
CA_NAME = "OpenDSM device CA"
CA_DAYS = 3650
DEVICE_DAYS = 825
CLOCK_SKEW = dt.timedelta(minutes=5)  # not-before is back-dated this much for devices whose clock lags


class CertificateError(ValueError):
    """A certificate (or the CA) that cannot be used; the message says why, for an admin."""


@dataclass(frozen=True)
class IssuedCertificate:
    """A new device certificate and its key (PEM). The key exists only here: show it once."""

    certificate_pem: str
    key_pem: str
    sha256: str
    not_after: dt.datetime


def pki_directory() -> Path:
    from django.conf import settings

    return Path(settings.DATA_DIR) / "pki"


# --------------------------------------------------------------------------------------------
# the CA


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` whole or not at all (temporary file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _make_ca(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # The key first: a crash in between leaves a key without a certificate, which is refused
    # below rather than silently replaced.
    _write_new(directory / CA_KEY, key_pem, 0o600)
    _write_new(directory / CA_CERT, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _ensure_ca(directory: Path) -> None:
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    if cert_path.is_file() and key_path.is_file():
        return
    with _locked(directory):
        if cert_path.is_file() and key_path.is_file():
            return
        if key_path.exists() or cert_path.exists():
            raise CertificateError(
                "the device CA in %s is incomplete (%s without %s): restore the missing file, or "
                "remove both to start a new CA (every device certificate it issued stops working)"
                % (
                    directory,
                    (key_path if key_path.exists() else cert_path).name,
                    (cert_path if key_path.exists() else key_path).name,
                )
            )
        _make_ca(directory)


def ca_certificate_path(directory: Path | None = None) -> Path:
    """The device CA certificate (PEM) to give ``runscanserver --device-ca``; made on first use."""
    directory = directory or pki_directory()
    _ensure_ca(directory)
    return directory / CA_CERT


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey]:
    _ensure_ca(directory)
    try:
        cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CertificateError("the device CA in %s cannot be read: %s" % (directory, exc)) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertificateError("the device CA key in %s is neither EC nor RSA" % directory)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise CertificateError("%s and %s in %s do not belong together" % (CA_KEY, CA_CERT, directory))
    return cert, key


# --------------------------------------------------------------------------------------------
# device certificates


def issue_device_certificate(
    name: str, endpoint_reference: str, *, directory: Path | None = None, days: int = DEVICE_DAYS
) -> IssuedCertificate:
    """A new client certificate and key for the device ``name`` / ``endpoint_reference``."""
    ca_cert, ca_key = _load_ca(directory or pki_directory())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    common_name = (name.strip() or endpoint_reference)[:64] or "OpenDSM device"
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if endpoint_reference.isascii() and ":" in endpoint_reference:  # a URI; urn:uuid for WSD devices
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(endpoint_reference)]), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return IssuedCertificate(
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        not_after=cert.not_valid_after_utc,
    )


def load_certificate(pem: str | bytes) -> x509.Certificate:
    """The first certificate in ``pem``; :class:`CertificateError` saying what the text is instead."""
    data = pem.encode("utf-8", "replace") if isinstance(pem, str) else pem
    if b"-----BEGIN CERTIFICATE-----" not in data:
        if b"PRIVATE KEY-----" in data:
            raise CertificateError("this is a private key, not a certificate: give the device's certificate")
        if data.startswith(b"\x30"):
            raise CertificateError(
                "this looks like a DER (binary) certificate: convert it to PEM "
                "(openssl x509 -inform der -in FILE -out FILE.pem)"
            )
        raise CertificateError("no PEM certificate found (expected a -----BEGIN CERTIFICATE----- block)")
    try:
        return x509.load_pem_x509_certificates(data)[0]
    except ValueError as exc:
        raise CertificateError(
            "the PEM certificate block cannot be decoded (is the file truncated or edited?)"
        ) from exc


def certificate_sha256(pem: str | bytes) -> str:
    """SHA-256 (hex) of the first certificate's DER encoding: what the scan server compares."""
    return load_certificate(pem).fingerprint(hashes.SHA256()).hex()


def read_device_certificate(pem: str | bytes) -> tuple[x509.Certificate, str]:
    """``(certificate, sha256)`` of a device's own certificate, refused (:class:`CertificateError`)
    when a TLS server would not accept it from a client: expired or not yet valid, a CA
    certificate, or an extendedKeyUsage without clientAuth. Whether it chains to the CA the scan
    server trusts (``--device-ca``) is for the admin to see to: the server's CA file may hold
    the organisation's CA next to OpenDSM's."""
    cert = load_certificate(pem)
    now = dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc < now:
        raise CertificateError("the certificate expired on %s" % cert.not_valid_after_utc.date())
    if cert.not_valid_before_utc > now + CLOCK_SKEW:
        raise CertificateError("the certificate is not valid before %s" % cert.not_valid_before_utc)
    with contextlib.suppress(x509.ExtensionNotFound):
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise CertificateError("this is a CA certificate, not a device's")
    with contextlib.suppress(x509.ExtensionNotFound):
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
            raise CertificateError(
                "the certificate does not allow TLS client authentication (extendedKeyUsage lacks clientAuth)"
            )
    return cert, cert.fingerprint(hashes.SHA256()).hex()
