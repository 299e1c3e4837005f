"""The console shell with the local (embedded-directory) cast: menus, 403, health."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

MENU = ["Dashboard", "Devices", "Scan processes", "Jobs", "Scan servers", "Audit"]


def signed_in(name: str) -> Client:
    client = Client()
    assert client.login(username=name, password="%s-local-pw1!" % name)
    return client


def menu_of(client: Client) -> list[str]:
    html = client.get("/").content.decode()
    nav = html.split('aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    return [label for label in MENU if ">%s</a>" % label in nav]


def test_anonymous_is_sent_to_login(client: Client) -> None:
    response = client.get("/devices/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/devices/")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("admin", MENU), ("operator", MENU[:-1]), ("auditor", MENU)],
)
def test_menus_follow_the_role(cast: Any, name: str, expected: list[str]) -> None:
    assert menu_of(signed_in(name)) == expected


def test_operator_gets_the_403_page_on_audit(cast: Any) -> None:
    response = signed_in("operator").get("/audit/")
    assert response.status_code == 403
    assert b"Your role does not allow this page." in response.content
    assert b"Access denied" in response.content


def test_user_without_role_sees_403_everywhere(cast: Any) -> None:
    client = signed_in("outsider")
    for url in ("/", "/devices/", "/jobs/"):
        assert client.get(url).status_code == 403


def test_local_superuser_is_an_admin(db: None) -> None:
    from tests.factories import UserFactory

    UserFactory(username="root", password="root-local-pw1!", superuser=True)
    client = Client()
    assert client.post("/login/", {"username": "root", "password": "root-local-pw1!"}).status_code == 302
    assert menu_of(client) == MENU


def test_logout_needs_post_and_ends_the_session(cast: Any) -> None:
    client = signed_in("admin")
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_healthz_is_json_and_public(client: Client) -> None:
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body["checks"]) == {"database", "broker", "directory"}
    assert body["checks"]["database"]["ok"] is True
    assert response.status_code == (200 if body["status"] == "ok" else 503)


def test_healthz_says_503_when_the_broker_is_down(client: Client, settings: Any) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


def test_vendored_assets_are_served_locally(client: Client) -> None:
    html = Client().get("/login/").content.decode()
    assert "/static/vendor/htmx/htmx-2.0.11.min.js" in html
    assert "http://" not in html.split("<body", 1)[0] and "https://" not in html.split("<body", 1)[0]
