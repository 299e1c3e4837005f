"""``manage.py simulate_devices``: a thin wrapper over :func:`devices.simulator.run.run_args`.

All behaviour (and every option) lives in :mod:`devices.simulator.run`, which also runs without
Django as ``python -m devices.simulator``.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devices.simulator import run


class Command(BaseCommand):
    help = "Run simulated DSM/WS-Scan devices, or drive a running one (push, scan-available, fault, ...)."

    def add_arguments(self, parser: CommandParser) -> None:
        run.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        status = run.run_args(argparse.Namespace(**options), out=self.stdout)
        if status:
            raise CommandError("the device refused the request (see the answer above)")
