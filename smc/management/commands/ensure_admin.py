"""Create the first local administrator if there is none (used by the README's run command)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create a local superuser 'admin' with a random password if no superuser exists yet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password-file", required=True, help="where to write the generated password (mode 0600)"
        )
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["password_file"])
        if User.objects.filter(is_superuser=True).exists():
            if not path.exists():
                self.stdout.write("A local administrator exists already; its password is not stored here.")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(options["username"], "", password)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)
        self.stdout.write(
            "Created local administrator %r; password written to %s" % (options["username"], path)
        )
