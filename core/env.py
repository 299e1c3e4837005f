"""Strict parsers for ``SMC_*`` environment variables.

Each helper reads one variable and either returns a typed value or raises
:class:`ImproperlyConfigured` naming the variable and what was wrong, so a bad value stops the
process at start with a message an operator can act on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "on"}
_FALSE = {"0", "false", "off"}


class Env:
    """A view over an environment mapping (``os.environ`` by default; tests pass a dict)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def text(self, name: str, default: str = "") -> str:
        value = self.raw(name)
        return default if value is None else value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured("%s must be one of 1/0, true/false, on/off; got %r" % (name, value))

    def number(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value, 10)
        except ValueError:
            raise ImproperlyConfigured("%s must be a whole number; got %r" % (name, value)) from None
        if minimum is not None and number < minimum or maximum is not None and number > maximum:
            raise ImproperlyConfigured(
                "%s must be between %s and %s; got %d" % (name, minimum, maximum, number)
            )
        return number

    def file_mode(self, name: str, default: int) -> int:
        """A permission mode as an octal string (``0640``, ``640`` or ``0o640``), 0..0o777: the
        permission bits only (no setuid/setgid/sticky, which a delivered file must not get)."""
        value = self.raw(name)
        if value is None:
            return default
        digits = value[2:] if value.lower().startswith("0o") else value
        if not digits or any(c not in "01234567" for c in digits):
            raise ImproperlyConfigured(
                "%s must be an octal permission mode such as 0640; got %r" % (name, value)
            )
        mode = int(digits, 8)
        if mode > 0o777:
            raise ImproperlyConfigured(
                "%s must be permission bits only (at most 0777, no setuid/setgid/sticky); got %r"
                % (name, value)
            )
        return mode

    def items(self, name: str, default: list[str] | None = None) -> list[str]:
        value = self.raw(name)
        if value is None:
            return list(default or [])
        return [item.strip() for item in value.split(",") if item.strip()]

    def seconds_by_key(self, name: str) -> dict[str, float]:
        """``key=seconds,key=seconds`` (e.g. ``build=2,deliver=0.5``) as a dict; unset is empty."""
        value = self.raw(name)
        found: dict[str, float] = {}
        for item in (value or "").split(","):
            if not item.strip():
                continue
            key, sep, seconds = item.partition("=")
            try:
                number = float(seconds)
            except ValueError:
                number = -1.0
            if not sep or not key.strip() or not number >= 0:
                raise ImproperlyConfigured(
                    "%s must be key=seconds pairs separated by commas; got %r" % (name, value)
                )
            found[key.strip()] = number
        return found

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() not in choices:
            raise ImproperlyConfigured("%s must be one of %s; got %r" % (name, ", ".join(choices), value))
        return value.lower()

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            raise ImproperlyConfigured(
                "%s must be a URL starting with %s; got %r"
                % (name, " or ".join(s + "://" for s in schemes), value)
            )
        if parts.scheme not in ("sqlite",) and not parts.hostname:
            raise ImproperlyConfigured("%s has no host name: %r" % (name, value))
        return value

    def file(self, name: str) -> str | None:
        value = self.raw(name)
        if value is not None and not os.path.isfile(value):
            raise ImproperlyConfigured("%s names %r, which is not a readable file" % (name, value))
        return value


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed ``SMC_DATABASE_URL``: ``postgres://user:pw@host:port/name`` or ``sqlite:///path``."""

    engine: str
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, variable: str, url: str) -> DatabaseURL:
        parts = urlsplit(url)
        if parts.scheme == "sqlite":
            # sqlite:////abs/path (absolute) or sqlite:///rel/path (relative), as elsewhere.
            path = unquote(parts.path)[1:]
            if not path:
                raise ImproperlyConfigured(
                    "%s: sqlite URL needs a path, e.g. sqlite:////var/lib/smc/db.sqlite3" % variable
                )
            return cls(engine="django.db.backends.sqlite3", name=path)
        if parts.scheme in ("postgres", "postgresql"):
            name = unquote(parts.path.lstrip("/"))
            if not name:
                raise ImproperlyConfigured(
                    "%s: PostgreSQL URL needs a database name after the host" % variable
                )
            try:
                port = str(parts.port or "")
            except ValueError:
                raise ImproperlyConfigured("%s: the port is not a number" % variable) from None
            options = tuple((k, v[-1]) for k, v in parse_qs(parts.query).items())
            return cls(
                engine="django.db.backends.postgresql",
                name=name,
                user=unquote(parts.username or ""),
                password=unquote(parts.password or ""),
                host=parts.hostname or "",
                port=port,
                options=options,
            )
        raise ImproperlyConfigured("%s must start with postgres:// or sqlite://; got %r" % (variable, url))

    def django(self) -> dict[str, object]:
        config: dict[str, object] = {"ENGINE": self.engine, "NAME": self.name}
        if self.engine.endswith("postgresql"):
            config.update(
                USER=self.user,
                PASSWORD=self.password,
                HOST=self.host,
                PORT=self.port,
                OPTIONS=dict(self.options),
                CONN_MAX_AGE=60,
                CONN_HEALTH_CHECKS=True,
            )
        return config
