"""``manage.py enroll_device --url http://127.0.0.1:<port>/device [--group NAME] [--server NAME]``.

Reads the device's DPWS metadata and scanner configuration, creates or refreshes its row and
prints the bearer token it must present to the scan server — once; only its hash is kept.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devices.enrollment import EnrollmentError, enroll
from devices.models import DeviceGroup


class Command(BaseCommand):
    help = "Enroll a WSD/DSM device by its metadata URL and print its scan-server token (once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="a device XAddr, e.g. http://10.0.0.5:5357/device")
        parser.add_argument("--group", help="device group name (created if missing)")
        parser.add_argument("--server", help="name of the scan server the device pushes to")

    def handle(self, *args: Any, **options: Any) -> None:
        from scanserver.models import ScanServer

        group = DeviceGroup.objects.get_or_create(name=options["group"])[0] if options["group"] else None
        server = None
        if options["server"]:
            server = ScanServer.objects.filter(name=options["server"]).first()
            if server is None:
                raise CommandError("no scan server named %r" % options["server"])
        try:
            device, token = enroll(options["url"], group=group, server=server)
        except EnrollmentError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("enrolled %s (%s)" % (device.name, device.endpoint_reference))
        self.stdout.write("token: %s" % token)
