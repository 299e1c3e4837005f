"""``manage.py register_scan_server NAME FQDN [--port 5362] [--plain-http]``: create or update the
ScanServer row of this scan server and print its endpoint URL (what psp:ScanRepository and the
devices' push target name). Run the server with ``SMC_SCANSERVER_GUID`` set to the printed GUID
when the database holds more than one scan server."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from devices.models import ScanServer


class Command(BaseCommand):
    help = "Register (or update) this DSM scan server and print its endpoint URL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("fqdn", help="host name devices use to reach this server")
        parser.add_argument("--port", type=int, default=5362)
        parser.add_argument("--plain-http", action="store_true", help="development only: http://")

    def handle(self, *args: Any, **options: Any) -> None:
        server, created = ScanServer.objects.update_or_create(
            name=options["name"],
            defaults={"fqdn": options["fqdn"], "port": options["port"], "use_tls": not options["plain_http"]},
        )
        self.stdout.write("%s scan server %s" % ("registered" if created else "updated", server.name))
        self.stdout.write("SMC_SCANSERVER_GUID=%s" % server.guid)
        self.stdout.write(server.endpoint_url)
