"""Directory (AD / OpenLDAP) configuration from ``SMC_LDAP_*`` variables.

The configuration is an immutable value object (:class:`LDAPConfig`); settings.py turns it
into django-auth-ldap's ``AUTH_LDAP_*`` settings, and tests build one directly to point the
console at a throwaway ``slapd``.

Variables:
``SMC_LDAP_URI`` (ldap:// or ldaps://; unset = no directory, users live in the database),
``SMC_LDAP_FLAVOR`` (``ad`` or ``openldap``), ``SMC_LDAP_BIND_DN`` / ``SMC_LDAP_BIND_PASSWORD``
(service account used to find users and groups), ``SMC_LDAP_USER_BASE``, ``SMC_LDAP_USER_ATTR``
(default ``sAMAccountName`` on AD, ``uid`` on OpenLDAP), ``SMC_LDAP_GROUP_BASE`` (default: the
user base), ``SMC_LDAP_ADMIN_GROUP`` / ``SMC_LDAP_OPERATOR_GROUP`` / ``SMC_LDAP_AUDITOR_GROUP``
(group DNs; nested membership counts), ``SMC_LDAP_START_TLS``, ``SMC_LDAP_CA_FILE``,
``SMC_LDAP_TIMEOUT`` (seconds). Publishing scan processes (``directory.backends``):
``SMC_LDAP_WRITE_BIND_DN`` / ``SMC_LDAP_WRITE_BIND_PASSWORD`` (an account allowed to create and
change objects under ``CN=PSPs,CN=System``; default: the bind account), ``SMC_LDAP_PSP_BASE``
(the naming context holding ``CN=System``; default: the server's ``defaultNamingContext``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from core.env import Env

FLAVORS = ("ad", "openldap")


@dataclass(frozen=True)
class LDAPConfig:
    uri: str = ""
    flavor: str = "ad"
    bind_dn: str = ""
    bind_password: str = ""
    user_base: str = ""
    user_attr: str = "sAMAccountName"
    group_base: str = ""
    admin_group: str = ""
    operator_group: str = ""
    auditor_group: str = ""
    start_tls: bool = False
    ca_file: str = ""
    timeout: int = 5
    write_bind_dn: str = ""
    write_bind_password: str = ""
    psp_base: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.uri)

    def role_groups(self) -> dict[str, str]:
        """Role name → group DN, for the roles that have a group configured."""
        pairs = {"admin": self.admin_group, "operator": self.operator_group, "auditor": self.auditor_group}
        return {role: dn for role, dn in pairs.items() if dn}

    def connection_options(self) -> dict[Any, Any]:
        import ldap

        options: dict[Any, Any] = {
            ldap.OPT_REFERRALS: 0,
            ldap.OPT_NETWORK_TIMEOUT: self.timeout,
            ldap.OPT_TIMEOUT: self.timeout,
            ldap.OPT_PROTOCOL_VERSION: 3,
        }
        if self.uri.startswith("ldaps://") or self.start_tls:
            options[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
            if self.ca_file:
                options[ldap.OPT_X_TLS_CACERTFILE] = self.ca_file
            # Must come last: makes libldap build a TLS context from the options above.
            options[ldap.OPT_X_TLS_NEWCTX] = 0
        return options

    def django_settings(self) -> dict[str, Any]:
        if not self.enabled:
            return {}
        import ldap
        from django_auth_ldap.config import GroupOfNamesType, LDAPSearch, NestedGroupOfNamesType

        from directory.ldapgroups import ADInChainGroupType

        group_filter = "(objectClass=group)" if self.flavor == "ad" else "(objectClass=groupOfNames)"
        group_type: Any = ADInChainGroupType() if self.flavor == "ad" else NestedGroupOfNamesType()
        _ = GroupOfNamesType  # the non-nested type is deliberately not used: nested groups count.
        return {
            "AUTH_LDAP_SERVER_URI": self.uri,
            "AUTH_LDAP_BIND_DN": self.bind_dn,
            "AUTH_LDAP_BIND_PASSWORD": self.bind_password,
            "AUTH_LDAP_START_TLS": self.start_tls,
            "AUTH_LDAP_CONNECTION_OPTIONS": self.connection_options(),
            "AUTH_LDAP_USER_SEARCH": LDAPSearch(
                self.user_base, ldap.SCOPE_SUBTREE, "(%s=%%(user)s)" % self.user_attr
            ),
            "AUTH_LDAP_GROUP_SEARCH": LDAPSearch(
                self.group_base or self.user_base, ldap.SCOPE_SUBTREE, group_filter
            ),
            "AUTH_LDAP_GROUP_TYPE": group_type,
            "AUTH_LDAP_USER_ATTR_MAP": {"first_name": "givenName", "last_name": "sn", "email": "mail"},
            "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
            "AUTH_LDAP_FIND_GROUP_PERMS": False,
            "AUTH_LDAP_CACHE_TIMEOUT": 0,
        }


def ldap_settings(env: Env) -> LDAPConfig:
    """Read and check the ``SMC_LDAP_*`` variables; unset URI means no directory."""
    uri = env.url("SMC_LDAP_URI", ("ldap", "ldaps"))
    if not uri:
        stray = sorted(k for k in env.environ if k.startswith("SMC_LDAP_") and env.raw(k) is not None)
        if stray:
            raise ImproperlyConfigured(
                "%s set but SMC_LDAP_URI is not: set SMC_LDAP_URI too" % ", ".join(stray)
            )
        return LDAPConfig()
    flavor = env.choice("SMC_LDAP_FLAVOR", FLAVORS, "ad")
    user_base = env.text("SMC_LDAP_USER_BASE")
    if not user_base:
        raise ImproperlyConfigured(
            "SMC_LDAP_USER_BASE must be set when SMC_LDAP_URI is (e.g. DC=example,DC=test)"
        )
    admin_group = env.text("SMC_LDAP_ADMIN_GROUP")
    if not admin_group:
        raise ImproperlyConfigured(
            "SMC_LDAP_ADMIN_GROUP must be set when SMC_LDAP_URI is: nobody could administer"
        )
    for name in (
        "SMC_LDAP_ADMIN_GROUP",
        "SMC_LDAP_OPERATOR_GROUP",
        "SMC_LDAP_AUDITOR_GROUP",
        "SMC_LDAP_USER_BASE",
        "SMC_LDAP_PSP_BASE",
    ):
        value = env.text(name)
        if value and "=" not in value:
            raise ImproperlyConfigured(
                "%s must be a distinguished name (CN=...,DC=...); got %r" % (name, value)
            )
    return LDAPConfig(
        uri=uri,
        flavor=flavor,
        bind_dn=env.text("SMC_LDAP_BIND_DN"),
        bind_password=env.text("SMC_LDAP_BIND_PASSWORD"),
        user_base=user_base,
        user_attr=env.text("SMC_LDAP_USER_ATTR", "sAMAccountName" if flavor == "ad" else "uid"),
        group_base=env.text("SMC_LDAP_GROUP_BASE", user_base),
        admin_group=admin_group,
        operator_group=env.text("SMC_LDAP_OPERATOR_GROUP"),
        auditor_group=env.text("SMC_LDAP_AUDITOR_GROUP"),
        start_tls=env.flag("SMC_LDAP_START_TLS", False),
        ca_file=env.file("SMC_LDAP_CA_FILE") or "",
        timeout=env.number("SMC_LDAP_TIMEOUT", 5, minimum=1, maximum=120),
        write_bind_dn=env.text("SMC_LDAP_WRITE_BIND_DN"),
        write_bind_password=env.text("SMC_LDAP_WRITE_BIND_PASSWORD"),
        psp_base=env.text("SMC_LDAP_PSP_BASE"),
    )
