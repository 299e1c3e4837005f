"""``manage.py demo_setup``: everything the README's "Try it" needs, created once, safe to re-run.

* a local ScanServer ``127.0.0.1:<port>`` on plain HTTP (the demo's scan server runs with
  ``SMC_SCANSERVER_ALLOW_PLAIN_HTTP``; DESIGN.md decision 1 keeps HTTPS for everything else);
* the simulated devices ``simulate_devices`` will run (same seed, same ``urn:uuid``), enrolled
  with a bearer token each; the tokens go to a JSON file the simulator reads
  (``--device-tokens``), and a token is re-issued only when the file no longer matches;
* a user ``demo`` in the group ``Scanning users`` (password generated once, written 0600 like the
  admin's);
* the published scan process "Scan to folder" (ticket: feeder, colour, 150 dpi, JPEG pages; output
  PDF into ``<data dir>/scans``) allowed for that group, published through the console's
  ``scanprocesses.authoring`` so it is exactly what an administrator would have made.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from devices.protocols.wsscan import ticket as tk
from devices.simulator.device import Identity
from devices.simulator.run import DEFAULT_BASE_PORT, DEFAULT_SEED

GROUP = "Scanning users"
USERNAME = "demo"
PROCESS = "Scan to folder"
SERVER_NAME = "Local demo scan server"
ACTOR = "demo_setup"


def demo_ticket() -> tk.ScanTicket:
    # JPEG pages: the scan server builds the PDF (it accepts images only, never PDF pages).
    return tk.ScanTicket(
        job_description=tk.JobDescription(PROCESS, "OpenDSM"),
        document_parameters=tk.DocumentParameters(
            format="jfif",
            input_source="ADF",
            content_type="Auto",
            input_size=tk.InputSize(input_media_size=tk.Size(8268, 11693)),
            media_sides=tk.MediaSides(
                front=tk.MediaSide(color_processing="RGB24", resolution=tk.Resolution(150))
            ),
        ),
    )


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    path.chmod(0o600)


class Command(BaseCommand):
    help = "Create the local demo: scan server, enrolled simulated devices, user 'demo', 'Scan to folder'."

    def add_arguments(self, parser: CommandParser) -> None:
        data = Path(settings.DATA_DIR)
        parser.add_argument(
            "--scan-server-port", type=int, default=int(os.environ.get("SMC_SCANSERVER_PORT", 5362))
        )
        parser.add_argument("--devices", type=int, default=3, help="simulated devices to enroll")
        parser.add_argument("--seed", default=DEFAULT_SEED, help="the simulator's identity seed")
        parser.add_argument(
            "--base-port", type=int, default=DEFAULT_BASE_PORT, help="the simulator's base port"
        )
        parser.add_argument("--password-file", default=str(data / "demo-password"))
        parser.add_argument("--tokens-file", default=str(data / "simulator-tokens.json"))
        parser.add_argument("--scans-dir", default=str(data / "scans"))

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["devices"] <= 50:
            raise CommandError("--devices must be between 1 and 50")
        scans = Path(options["scans_dir"]).resolve()
        scans.mkdir(parents=True, exist_ok=True)
        with transaction.atomic():
            server = self._scan_server(options["scan_server_port"])
            tokens = self._devices(server, options)
            password = self._user(Path(options["password_file"]))
            process = self._process(server, scans)
        self.stdout.write("Scan server:  %s" % server.endpoint_url)
        for line in tokens:
            self.stdout.write(line)
        self.stdout.write(
            "Demo user:    %s (%s)"
            % (
                USERNAME,
                "password written to %s" % options["password_file"] if password else "password unchanged",
            )
        )
        self.stdout.write("Scan process: %s (PDF into %s), %s" % (process.display_name, scans, process.state))

    def _scan_server(self, port: int) -> Any:
        from devices.models import ScanServer

        server, _ = ScanServer.objects.update_or_create(
            name=SERVER_NAME, defaults={"fqdn": "127.0.0.1", "port": port, "use_tls": False}
        )
        return server

    def _devices(self, server: Any, options: dict[str, Any]) -> list[str]:
        from devices.models import Device

        path = Path(options["tokens_file"])
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stored = {}
        stored = stored if isinstance(stored, dict) else {}
        tokens: dict[str, str] = {}
        lines = []
        for index in range(options["devices"]):
            ident = Identity.from_seed(options["seed"], index)
            base = "http://127.0.0.1:%d" % (options["base_port"] + index)
            device, _ = Device.objects.get_or_create(
                endpoint_reference=ident.endpoint, defaults={"name": ident.name}
            )
            device.name = device.name or ident.name
            device.xaddrs = [base + "/device"]
            device.scan_service_url = base + "/scan"
            device.manufacturer, device.model_name = ident.manufacturer, ident.model
            device.serial_number, device.firmware_version = ident.serial, ident.firmware
            device.scan_server = server
            device.enabled = True
            token = stored.get(ident.endpoint)
            if not isinstance(token, str) or not device.token_matches(token):
                token = device.issue_token()
            device.save()
            tokens[ident.endpoint] = token
            lines.append("Device %d:     %s — panel %s/panel/" % (index + 1, ident.name, base))
        _write_secret(path, json.dumps(tokens, indent=2) + "\n")
        return lines

    def _user(self, password_file: Path) -> str:
        group, _ = Group.objects.get_or_create(name=GROUP)
        user = User.objects.filter(username=USERNAME).first()
        password = ""
        if user is None or not password_file.exists():
            password = secrets.token_urlsafe(9)
            if user is None:
                user = User.objects.create_user(USERNAME, "", password, first_name="Demo", last_name="User")
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            _write_secret(password_file, password + "\n")
        user.groups.add(group)
        return password

    def _process(self, server: Any, scans: Path) -> Any:
        from scanprocesses import authoring as scanprocesses
        from scanprocesses.models import OutputFormat, ProcessState, ScanProcess

        process = ScanProcess.objects.filter(display_name=PROCESS).first()
        if process is not None and process.state == ProcessState.PUBLISHED:
            return process  # published already: an administrator may have changed it since
        if process is None:
            process = ScanProcess(display_name=PROCESS)
        process.description = "The README's demo: PDF files into %s" % scans
        process.ticket_xml = scanprocesses.ticket_to_xml(demo_ticket())
        process.scan_server = server
        process.document_root_name = "Scan"
        process.output_format = OutputFormat.PDF
        process.allowed_groups = [GROUP]
        if process.state == ProcessState.ARCHIVED:
            scanprocesses.restore(process, ACTOR)
        destinations = [scanprocesses.DestinationSpec("folder", {"path": str(scans)})]
        try:
            scanprocesses.save_process(process, destinations, [], ACTOR)
            scanprocesses.publish(process, ACTOR, "demo_setup")
        except scanprocesses.ProcessError as exc:
            raise CommandError("cannot publish %r: %s" % (PROCESS, exc)) from None
        process.refresh_from_db()
        return process
