"""Suite-wide fixtures: the throwaway directory, the fixed cast of users, headless Chromium.

Protocol tests under tests/devices/protocols run without Django too (``-p no:django``), so
nothing here imports Django at module level.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import services

# Playwright's sync API runs an event loop in the test thread; ORM calls made by fixtures and
# assertions in browser tests would otherwise be refused as "async unsafe".
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORDS = {name: "%s-pw1!" % name for name in ("alice", "oscar", "audrey", "nick", "nora")}
GROUPS_BASE = "ou=groups,dc=example,dc=test"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API leaves an event loop in the main thread, after
    which asyncio-based tests could no longer start their own."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.Slapd]:
    server = services.start_slapd(tmp_path_factory.mktemp("slapd"))
    try:
        yield server
    finally:
        server.stop()


def ldap_config(slapd: services.Slapd, **overrides: Any) -> Any:
    from directory.ldapconf import LDAPConfig

    values: dict[str, Any] = dict(
        uri=slapd.uri,
        flavor="openldap",
        bind_dn=services.BIND_DN,
        bind_password=services.BIND_PW,
        user_base="ou=people,dc=example,dc=test",
        user_attr="uid",
        group_base=GROUPS_BASE,
        admin_group="cn=opendsm-admins,%s" % GROUPS_BASE,
        operator_group="cn=opendsm-operators,%s" % GROUPS_BASE,
        auditor_group="cn=opendsm-auditors,%s" % GROUPS_BASE,
        timeout=3,
    )
    values.update(overrides)
    return LDAPConfig(**values)


def use_directory(settings: Any, config: Any) -> None:
    """Point the console at ``config`` for one test (pytest-django restores settings after)."""
    settings.LDAP = config
    settings.AUTHENTICATION_BACKENDS = [
        "directory.ldapauth.DirectoryBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    for key, value in config.django_settings().items():
        setattr(settings, key, value)


@pytest.fixture
def directory(settings: Any, slapd: services.Slapd) -> Any:
    config = ldap_config(slapd)
    use_directory(settings, config)
    return config


@pytest.fixture
def cast(db: None) -> dict[str, Any]:
    """Local users, one per role plus an outsider with none (the embedded-directory cast)."""
    from tests.factories import UserFactory

    return {
        name: UserFactory(username=name, password="%s-local-pw1!" % name, roles=roles)
        for name, roles in (
            ("admin", {"admin"}),
            ("operator", {"operator"}),
            ("auditor", {"auditor"}),
            ("outsider", set()),
        )
    }


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    # `playwright install` cannot download browsers here: use Debian's Chromium.
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "var" / "test-artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path
