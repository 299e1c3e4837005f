"""Sign-in against a real throwaway slapd: roles from (nested) groups, refusals, TLS, outages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from core.roles import user_roles
from tests import services
from tests.conftest import PASSWORDS, ldap_config, use_directory
from tests.factories import User

pytestmark = [pytest.mark.ldap, pytest.mark.django_db]


def login(client: Client, username: str, password: str | None = None) -> Any:
    return client.post("/login/", {"username": username, "password": password or PASSWORDS[username]})


@pytest.mark.parametrize(
    ("username", "roles"),
    [("alice", {"admin"}), ("oscar", {"operator"}), ("audrey", {"auditor"}), ("nick", {"admin"})],
)
def test_role_comes_from_directory_groups(
    directory: Any, client: Client, username: str, roles: set[str]
) -> None:
    response = login(client, username)
    assert response.status_code == 302, response.content[:500]
    user = User.objects.get(username=username)
    assert set(user_roles(user)) == roles
    assert user.email == "%s@example.test" % username
    page = client.get("/")
    assert page.status_code == 200


def test_nested_group_member_is_admin(directory: Any, client: Client) -> None:
    # nick is in scan-helpers, which is a member of opendsm-admins: membership through nesting counts.
    assert login(client, "nick").status_code == 302
    assert client.get("/audit/").status_code == 200


def test_user_in_no_role_group_is_refused_with_a_clear_message(directory: Any, client: Client) -> None:
    response = login(client, "nora")
    assert response.status_code == 200
    assert b"not a member of any OpenDSM role group" in response.content
    assert "_auth_user_id" not in client.session


def test_wrong_password_gets_the_generic_message(directory: Any, client: Client) -> None:
    response = login(client, "alice", "wrong")
    assert response.status_code == 200
    assert b"Please enter a correct" in response.content
    assert b"role group" not in response.content


def test_removal_from_the_group_takes_the_role_away(
    directory: Any, client: Client, slapd: services.Slapd
) -> None:
    assert login(client, "oscar").status_code == 302
    slapd.ldapmodify(
        "dn: cn=opendsm-operators,ou=groups,dc=example,dc=test\nchangetype: modify\nadd: member\n"
        "member: uid=nora,ou=people,dc=example,dc=test\n"
    )
    try:
        nora = Client()
        assert login(nora, "nora").status_code == 302
        assert user_roles(User.objects.get(username="nora")) == {"operator"}
    finally:
        slapd.ldapmodify(
            "dn: cn=opendsm-operators,ou=groups,dc=example,dc=test\nchangetype: modify\ndelete: member\n"
            "member: uid=nora,ou=people,dc=example,dc=test\n"
        )
    again = Client()
    assert login(again, "nora").status_code == 200
    assert user_roles(User.objects.get(username="nora")) == frozenset()


def test_directory_down_is_a_message_not_a_500(settings: Any, slapd: services.Slapd, client: Client) -> None:
    dead = "ldap://127.0.0.1:%d/" % services.free_port()
    use_directory(settings, ldap_config(slapd, uri=dead, timeout=1))
    response = login(client, "alice")
    assert response.status_code == 200
    assert b"cannot be reached right now" in response.content


def test_local_admin_still_signs_in_while_the_directory_is_down(
    settings: Any, slapd: services.Slapd, cast: Any
) -> None:
    use_directory(settings, ldap_config(slapd, uri="ldap://127.0.0.1:%d/" % services.free_port(), timeout=1))
    client = Client()
    assert client.post("/login/", {"username": "admin", "password": "admin-local-pw1!"}).status_code == 302


def test_ldaps_with_the_ca_file(settings: Any, slapd: services.Slapd, client: Client) -> None:
    use_directory(settings, ldap_config(slapd, uri=slapd.ldaps_uri, ca_file=str(slapd.tls.ca_cert)))
    assert login(client, "alice").status_code == 302


def test_starttls_with_the_ca_file(settings: Any, slapd: services.Slapd, client: Client) -> None:
    use_directory(settings, ldap_config(slapd, start_tls=True, ca_file=str(slapd.tls.ca_cert)))
    assert login(client, "audrey").status_code == 302


def test_ldaps_with_an_untrusted_certificate_is_refused_clearly(
    settings: Any, slapd: services.Slapd, client: Client
) -> None:
    use_directory(settings, ldap_config(slapd, uri=slapd.ldaps_uri, ca_file=str(slapd.tls.other_ca_cert)))
    response = login(client, "alice")
    assert response.status_code == 200
    assert b"cannot be reached right now" in response.content
    assert b"certificate" in response.content.lower()


def test_healthz_reports_the_directory(directory: Any, client: Client) -> None:
    body = client.get("/healthz").json()
    assert body["checks"]["directory"]["ok"] is True
    assert body["checks"]["directory"]["detail"].startswith("ldap://127.0.0.1:")
