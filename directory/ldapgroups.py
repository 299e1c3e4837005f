"""Active Directory group membership through the in-chain matching rule.

``member:1.2.840.113556.1.4.1941:=<dn>`` (LDAP_MATCHING_RULE_IN_CHAIN) makes the domain
controller walk nested groups itself: one search returns every group the user belongs to,
however deep. OpenLDAP has no such rule; there django-auth-ldap's NestedGroupOfNamesType
walks the nesting with repeated searches.
"""

from __future__ import annotations

from typing import Any

from django_auth_ldap.config import LDAPGroupType
from ldap.filter import escape_filter_chars

IN_CHAIN = "1.2.840.113556.1.4.1941"


class ADInChainGroupType(LDAPGroupType):
    def user_groups(self, ldap_user: Any, group_search: Any) -> list[Any]:
        if ldap_user.dn is None:
            return []
        rule = "(member:%s:=%s)" % (IN_CHAIN, escape_filter_chars(ldap_user.dn))
        search = group_search.search_with_additional_term_string(rule)
        return [(dn, attrs) for dn, attrs in search.execute(ldap_user.connection) if dn is not None]

    def is_member(self, ldap_user: Any, group_dn: str) -> bool:
        if ldap_user.dn is None:
            return False
        rule = "(member:%s:=%s)" % (IN_CHAIN, escape_filter_chars(ldap_user.dn))
        try:
            found = ldap_user.connection.search_s(group_dn, self.ldap.SCOPE_BASE, rule, ["1.1"])
        except self.ldap.NO_SUCH_OBJECT:
            return False
        return any(dn is not None for dn, _attrs in found)
