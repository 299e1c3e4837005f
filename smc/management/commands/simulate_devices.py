"""``manage.py simulate_devices``: :func:`devices.simulator.run.run_args` with the console injected.

Every option and all behaviour live in :mod:`devices.simulator.run` (which also runs without Django
as ``python -m devices.simulator``); this command adds what the simulator must not import: the
front panels sign users in with the console's directory (LDAP, or the users in the database),
apply OpenDSM's device-group rule and find the registered scan servers (:mod:`smc.simulation`).
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devices.simulator import run
from smc.simulation import panel_services


class Command(BaseCommand):
    help = "Run simulated DSM/WS-Scan devices, or drive a running one (push, scan-available, fault, ...)."

    def add_arguments(self, parser: CommandParser) -> None:
        run.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        status = run.run_args(argparse.Namespace(**options), out=self.stdout, services=panel_services())
        if status:
            raise CommandError("the device refused the request (see the answer above)")
