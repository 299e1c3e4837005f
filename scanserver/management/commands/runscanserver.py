"""``manage.py runscanserver``: the DSM scan server (``scanserver.serve``; uvicorn, TLS on 5362).

Production (TLS, device certificates issued by the enrollment CA, one worker per core)::

    manage.py runscanserver --host <address> --tls-cert /etc/opendsm/tls.crt \
        --tls-key /etc/opendsm/tls.key --device-ca /etc/opendsm/device-ca.crt --workers 2

Development: ``SMC_SCANSERVER_ALLOW_PLAIN_HTTP=1 manage.py runscanserver`` (127.0.0.1:5362).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scanserver import serve


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


class Command(BaseCommand):
    help = "Serve the DSM scan server endpoint (/ScanServer/<guid>) with uvicorn."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=serve.DEFAULT_PORT, help="default 5362")
        parser.add_argument("--tls-cert", help="the server certificate (PEM); without it, plain HTTP")
        parser.add_argument("--tls-key", help="its private key (PEM)")
        parser.add_argument(
            "--device-ca",
            help="CA file whose certificates devices may present (asked for, not required; "
            "devices without one use their token)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="processes sharing the port (one per core for throughput; default 1)",
        )
        parser.add_argument(
            "--proxy-headers",
            action="store_true",
            help="trust X-Forwarded-Proto/For from 127.0.0.1 (only behind a TLS-terminating proxy)",
        )
        parser.add_argument("--access-log", action="store_true", help="log every request line")

    def handle(self, *args: Any, **options: Any) -> None:
        opts = serve.Options(
            host=options["host"],
            port=options["port"],
            certfile=_path(options["tls_cert"]),
            keyfile=_path(options["tls_key"]),
            device_ca=_path(options["device_ca"]),
            workers=options["workers"],
            proxy_headers=options["proxy_headers"],
            access_log=options["access_log"],
        )
        problems = serve.check(opts)
        if problems:
            raise CommandError("; ".join(problems))
        # Workers re-import the app by name; they need the same settings module.
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smc.settings")
        serve.run(opts)
