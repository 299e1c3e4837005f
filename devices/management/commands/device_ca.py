"""``manage.py device_ca``: print the path of the device CA certificate (made on first use).

It is what the scan server is given so it accepts the client certificates ``enroll_device
--issue-certificate`` issues::

    manage.py runscanserver ... --device-ca "$(manage.py device_ca)"

A scan server on another machine needs a copy of that file only — never ``device-ca.key``.
``--verbosity 2`` adds the CA's subject, SHA-256 fingerprint and expiry on stderr.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes
from django.core.management.base import BaseCommand, CommandError

from devices import pki


class Command(BaseCommand):
    help = "Print the path of the device CA certificate (for runscanserver --device-ca); made on first use."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            path = pki.ca_certificate_path()
            cert = pki.load_certificate(path.read_bytes())
        except (pki.CertificateError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(path))
        if options["verbosity"] >= 2:
            self.stderr.write(
                "%s, sha256 %s, valid until %s"
                % (
                    cert.subject.rfc4514_string(),
                    cert.fingerprint(hashes.SHA256()).hex(),
                    cert.not_valid_after_utc.date(),
                )
            )
