"""``manage.py enroll_device --url http://127.0.0.1:<port>/device [--group NAME] [--server NAME]
[--issue-certificate OUT_DIR | --certificate PEM_FILE]``.

Reads the device's DPWS metadata and scanner configuration, creates or refreshes its row and
prints the bearer token it must present to the scan server — once; only its hash is kept.

``--issue-certificate OUT_DIR`` also issues a client certificate from the device CA
(:mod:`devices.pki`) and writes ``OUT_DIR/device.crt`` and ``OUT_DIR/device.key`` (both mode
0600; install them on the device, then delete them). ``--certificate PEM_FILE`` records the
certificate the device already has instead. Either way the scan server accepts the certificate
when it runs with ``--device-ca`` naming the CA that issued it (``manage.py device_ca`` prints
OpenDSM's). Re-enrolling replaces the token and the certificate: the old ones stop working.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devices.enrollment import EnrollmentError, enroll
from devices.models import DeviceGroup

MAX_PEM = 1024 * 1024


def _writable_dir(value: str) -> Path:
    path = Path(value)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError("--issue-certificate %s: %s" % (value, exc.strerror or exc)) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise CommandError("--issue-certificate %s: not a writable directory" % value)
    return path


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        os.fchmod(fd, 0o600)  # also when the file was there before
        out.write(text)


class Command(BaseCommand):
    help = (
        "Enroll a WSD/DSM device by its metadata URL and print its scan-server token (once); "
        "optionally issue or record its client certificate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="a device XAddr, e.g. http://10.0.0.5:5357/device")
        parser.add_argument("--group", help="device group name (created if missing)")
        parser.add_argument("--server", help="name of the scan server the device pushes to")
        cert = parser.add_mutually_exclusive_group()
        cert.add_argument(
            "--issue-certificate",
            metavar="OUT_DIR",
            help="issue a client certificate from the device CA; write device.crt and device.key here",
        )
        cert.add_argument(
            "--certificate",
            metavar="PEM_FILE",
            help="record the client certificate the device already has (PEM)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from devices.models import ScanServer

        out_dir = _writable_dir(options["issue_certificate"]) if options["issue_certificate"] else None
        pem = self._read_pem(options["certificate"]) if options["certificate"] else None
        group = DeviceGroup.objects.get_or_create(name=options["group"])[0] if options["group"] else None
        server = None
        if options["server"]:
            server = ScanServer.objects.filter(name=options["server"]).first()
            if server is None:
                raise CommandError("no scan server named %r" % options["server"])
        try:
            result = enroll(
                options["url"],
                group=group,
                server=server,
                issue_certificate=out_dir is not None,
                certificate=pem,
            )
        except EnrollmentError as exc:
            raise CommandError(str(exc)) from exc
        device = result.device
        self.stdout.write("enrolled %s (%s)" % (device.name, device.endpoint_reference))
        self.stdout.write("token: %s" % result.token)
        if result.certificate is not None and out_dir is not None:
            crt, key = out_dir / "device.crt", out_dir / "device.key"
            try:
                _write_secret(crt, result.certificate.certificate_pem)
                _write_secret(key, result.certificate.key_pem)
            except OSError as exc:
                raise CommandError(
                    "the device is enrolled, but its certificate could not be written (%s): "
                    "enroll it again" % exc
                ) from exc
            self.stdout.write("certificate: %s" % crt.resolve())
            self.stdout.write("key: %s" % key.resolve())
            self.stdout.write(
                "certificate sha256: %s (valid until %s)"
                % (result.certificate.sha256, result.certificate.not_after.date())
            )
        elif device.certificate_sha256:
            self.stdout.write("certificate sha256: %s" % device.certificate_sha256)

    def _read_pem(self, name: str) -> bytes:
        try:
            with open(name, "rb") as f:
                data = f.read(MAX_PEM + 1)
        except OSError as exc:
            raise CommandError("--certificate %s: %s" % (name, exc.strerror or exc)) from exc
        if len(data) > MAX_PEM:
            raise CommandError("--certificate %s: larger than 1 MB, not a certificate" % name)
        return data
