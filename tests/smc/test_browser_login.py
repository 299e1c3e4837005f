"""Headless Chromium (Debian's) signs in through the real login page against the real slapd."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORDS

pytestmark = [pytest.mark.browser, pytest.mark.ldap, pytest.mark.django_db(transaction=True)]


def sign_in(page: Any, base_url: str, username: str) -> None:
    page.goto(base_url + "/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORDS[username])
    page.get_by_role("button", name="Sign in").click()


def test_ldap_admin_signs_in_and_sees_every_section(
    page: Any, live_server: Any, directory: Any, artifacts_dir: Path
) -> None:
    sign_in(page, live_server.url, "alice")
    page.wait_for_url(live_server.url + "/")
    assert page.get_by_test_id("signed-in-user").inner_text() == "Alice Admin"
    nav = page.get_by_role("navigation", name="Main")
    for label in ("Dashboard", "Devices", "Scan processes", "Jobs", "Scan servers", "Audit"):
        assert nav.get_by_role("link", name=label).is_visible()
    assert page.get_by_text("Administrator").is_visible()
    page.screenshot(path=str(artifacts_dir / "browser-admin-dashboard.png"))
    nav.get_by_role("link", name="Audit").click()
    page.wait_for_url(live_server.url + "/audit/")
    assert page.get_by_role("heading", name="Audit").is_visible()


def test_user_with_no_role_is_refused_in_the_browser(
    page: Any, live_server: Any, directory: Any, artifacts_dir: Path
) -> None:
    sign_in(page, live_server.url, "nora")
    error = page.get_by_test_id("login-error")
    error.wait_for()
    assert "not a member of any OpenDSM role group" in error.inner_text()
    assert page.url.startswith(live_server.url + "/login/")
    page.screenshot(path=str(artifacts_dir / "browser-norole-refused.png"))
    page.goto(live_server.url + "/")
    assert "/login/" in page.url
