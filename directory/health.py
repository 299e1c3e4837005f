"""The directory's ``/healthz`` check, registered with ``core.health`` by ``DirectoryConfig.ready``."""

from __future__ import annotations

import ldap
from django.conf import settings


def probe() -> str:
    """What answers: the embedded database, or the LDAP URI once its root DSE could be read with
    the service account (raises on any failure; ``core.health`` reports it)."""
    config = settings.LDAP
    if not config.enabled:
        return "database (embedded default)"
    conn = ldap.initialize(config.uri)
    for option, value in config.connection_options().items():
        conn.set_option(option, value)
    if config.start_tls:
        conn.start_tls_s()
    try:
        if config.bind_dn:
            conn.simple_bind_s(config.bind_dn, config.bind_password)
        conn.search_s("", ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"])
    finally:
        conn.unbind_s()
    return str(config.uri)
