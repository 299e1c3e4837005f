from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.env import DatabaseURL, Env
from directory.ldapconf import ldap_settings

ROOT = Path(__file__).resolve().parents[2]


def test_bool_is_strict() -> None:
    env = Env({"A": "true", "B": "0", "C": "yes"})
    assert env.flag("A") is True
    assert env.flag("B") is False
    assert env.flag("MISSING", True) is True
    with pytest.raises(ImproperlyConfigured, match="C must be one of"):
        env.flag("C")


def test_int_range_and_garbage() -> None:
    env = Env({"N": "12", "BAD": "12a", "BIG": "500"})
    assert env.number("N", 1) == 12
    with pytest.raises(ImproperlyConfigured, match="BAD must be a whole number"):
        env.number("BAD", 1)
    with pytest.raises(ImproperlyConfigured, match="BIG must be between 1 and 120"):
        env.number("BIG", 1, minimum=1, maximum=120)


def test_file_mode_is_octal_permission_bits() -> None:
    env = Env({"A": "0640", "B": "750", "C": "0o600", "D": "0648", "E": "04755", "F": "rw-r-----"})
    assert env.file_mode("A", 0o600) == 0o640
    assert env.file_mode("B", 0o600) == 0o750
    assert env.file_mode("C", 0o644) == 0o600
    assert env.file_mode("MISSING", 0o640) == 0o640
    with pytest.raises(ImproperlyConfigured, match="D must be an octal permission mode"):
        env.file_mode("D", 0o640)
    with pytest.raises(ImproperlyConfigured, match="E must be permission bits only"):
        env.file_mode("E", 0o640)
    with pytest.raises(ImproperlyConfigured, match="F must be an octal permission mode"):
        env.file_mode("F", 0o640)


def test_database_url() -> None:
    pg = DatabaseURL.parse("X", "postgres://u:p%40ss@db.example:5433/scans?sslmode=require")
    assert (pg.user, pg.password, pg.host, pg.port, pg.name) == ("u", "p@ss", "db.example", "5433", "scans")
    assert pg.django()["OPTIONS"] == {"sslmode": "require"}
    assert DatabaseURL.parse("X", "sqlite:////tmp/x.db").name == "/tmp/x.db"
    with pytest.raises(ImproperlyConfigured, match="X must start with"):
        DatabaseURL.parse("X", "mysql://h/db")
    with pytest.raises(ImproperlyConfigured, match="needs a database name"):
        DatabaseURL.parse("X", "postgres://h/")


def test_ldap_settings_require_the_essentials() -> None:
    assert not ldap_settings(Env({})).enabled
    with pytest.raises(ImproperlyConfigured, match="SMC_LDAP_URI is not"):
        ldap_settings(Env({"SMC_LDAP_USER_BASE": "dc=x"}))
    with pytest.raises(ImproperlyConfigured, match="SMC_LDAP_URI must be a URL"):
        ldap_settings(Env({"SMC_LDAP_URI": "http://dc1"}))
    with pytest.raises(ImproperlyConfigured, match="SMC_LDAP_USER_BASE must be set"):
        ldap_settings(Env({"SMC_LDAP_URI": "ldap://dc1"}))
    with pytest.raises(ImproperlyConfigured, match="SMC_LDAP_ADMIN_GROUP must be set"):
        ldap_settings(Env({"SMC_LDAP_URI": "ldap://dc1", "SMC_LDAP_USER_BASE": "dc=x"}))
    with pytest.raises(ImproperlyConfigured, match="SMC_LDAP_ADMIN_GROUP must be a distinguished name"):
        ldap_settings(
            Env(
                {"SMC_LDAP_URI": "ldap://dc1", "SMC_LDAP_USER_BASE": "dc=x", "SMC_LDAP_ADMIN_GROUP": "admins"}
            )
        )
    with pytest.raises(ImproperlyConfigured, match="SMC_LDAP_CA_FILE names"):
        ldap_settings(
            Env(
                {
                    "SMC_LDAP_URI": "ldaps://dc1",
                    "SMC_LDAP_USER_BASE": "dc=x",
                    "SMC_LDAP_ADMIN_GROUP": "cn=a,dc=x",
                    "SMC_LDAP_CA_FILE": "/nonexistent/ca.pem",
                }
            )
        )
    ad = ldap_settings(
        Env({"SMC_LDAP_URI": "ldap://dc1", "SMC_LDAP_USER_BASE": "dc=x", "SMC_LDAP_ADMIN_GROUP": "cn=a,dc=x"})
    )
    assert (ad.flavor, ad.user_attr) == ("ad", "sAMAccountName")
    ol = ldap_settings(
        Env(
            {
                "SMC_LDAP_URI": "ldap://h",
                "SMC_LDAP_FLAVOR": "openldap",
                "SMC_LDAP_USER_BASE": "dc=x",
                "SMC_LDAP_ADMIN_GROUP": "cn=a,dc=x",
            }
        )
    )
    assert ol.user_attr == "uid"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SMC_DEBUG", "yes", "SMC_DEBUG must be one of"),
        ("SMC_DATABASE_URL", "mysql://x/y", "SMC_DATABASE_URL must be a URL starting with"),
        ("SMC_REDIS_URL", "localhost:6379", "SMC_REDIS_URL must be a URL starting with"),
        ("SMC_LDAP_TIMEOUT", "soon", "SMC_LDAP_URI is not"),
    ],
)
def test_bad_value_stops_the_process_naming_the_variable(
    name: str, value: str, message: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMC_")}
    env.update({name: value, "SMC_DATA_DIR": str(tmp_path)})
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_embedded_default_boots_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMC_")}
    env["SMC_DATA_DIR"] = str(tmp_path)
    code = (
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'],"
        " s.CELERY_TASK_ALWAYS_EAGER, s.LDAP.enabled, s.AUTHENTICATION_BACKENDS)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "smc.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split()[:4] == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "True",
        "False",
    ]
    assert "DirectoryBackend" not in result.stdout
