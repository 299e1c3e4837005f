"""Headless Chromium authors a scan process with the console pointed at a real slapd (the project's
schema, ACL and writer account): the group comes from the directory search, publishing writes the
directory, and the device's own query — a one-level search under cn=PSPs,cn=System,<base> BOUND
AS A USER — finds the published msImaging-PSPString for a member of the allowed group and nothing
for a user outside it. Then edit, diff, roll back, re-publish: the directory copy follows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ldap
import pytest

from tests import services
from tests.conftest import PASSWORDS
from tests.smc.test_directory_openldap import (  # noqa: F401 (fixtures)
    ADMINS,
    CONTAINER,
    config,
    psp_slapd,
)

pytestmark = [pytest.mark.browser, pytest.mark.ldap, pytest.mark.django_db(transaction=True)]


def seen_by(slapd: services.Slapd, user: str) -> dict[str, str]:
    """displayName -> msImaging-PSPString of every scan process ``user`` can read, as a device
    searching with that user's credentials sees them."""
    conn = ldap.initialize(slapd.uri)
    try:
        conn.simple_bind_s("uid=%s,ou=people,%s" % (user, services.SUFFIX), PASSWORDS[user])
        found = conn.search_s(
            CONTAINER,
            ldap.SCOPE_ONELEVEL,
            "(objectClass=msImaging-PostScanProcess)",
            ["displayName", "msImaging-PSPString"],
        )
    finally:
        conn.unbind_s()
    return {
        attrs["displayName"][0].decode(): attrs["msImaging-PSPString"][0].decode()
        for _dn, attrs in found
        if "displayName" in attrs and "msImaging-PSPString" in attrs
    }


def published_xml(number: int) -> str:
    from tests.factories import ScanProcessVersion

    return ScanProcessVersion.objects.get(process__display_name="Expense reports", number=number).psp_xml


def test_author_publish_and_find_it_in_openldap_as_a_group_member(
    page: Any,
    live_server: Any,
    cast: dict[str, Any],
    settings: Any,
    config: Any,  # noqa: F811
    psp_slapd: services.Slapd,  # noqa: F811
    artifacts_dir: Path,
) -> None:
    from tests.factories import ProcessState, ScanProcess, ScanServerFactory

    settings.LDAP = config
    ScanServerFactory(name="Scan server 1", fqdn="scan1.example.test")
    base = live_server.url
    page.goto(base + "/login/")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("admin-local-pw1!")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")

    page.goto(base + "/scan-processes/new/")
    page.get_by_label("Display name").fill("Expense reports")
    page.get_by_label("DocumentRootName").fill("Expenses")
    # Duplex with a back side of its own: the back-side block appears only for ADFDuplex.
    back = page.get_by_test_id("back-side")
    assert not back.is_visible()
    page.get_by_label("Input source").select_option("ADFDuplex")
    back.wait_for(state="visible")
    page.get_by_label("Resolution (dpi)").select_option("300")
    page.locator("input[name=t-mh_resolution]").check()
    page.get_by_label("Back side same as front").uncheck()
    page.get_by_label("Back side dpi").select_option("150")
    # The allowed group is picked from the directory search.
    page.locator("#group-search").press_sequentially("opendsm-adm")
    page.locator("[data-add-group]").first.click()
    assert page.locator("textarea[name=allowed_groups]").input_value() == ADMINS
    page.get_by_role("button", name="Add a destination").click()
    page.locator("select[name=dest-0-kind]").select_option("smb")
    page.locator("textarea[name=dest-0-targets]").fill("\\\\files\\expenses")
    page.screenshot(path=str(artifacts_dir / "process-ldap-editor.png"), full_page=True)
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name="Expense reports").wait_for()

    page.get_by_role("link", name="Publish…", exact=True).click()
    page.get_by_label("Comment").fill("first release")
    page.get_by_role("button", name="Publish", exact=True).click()
    page.get_by_text("Published version 1.", exact=True).wait_for()
    page.get_by_text("The directory holds published version 1.").wait_for()

    v1 = published_xml(1)
    assert "Expenses</psp:DocumentRootName>" in v1 and "MediaBack" in v1 and 'MustHonor="true"' in v1
    # alice is a direct member of opendsm-admins, nick a nested one; oscar and nora are not.
    assert seen_by(psp_slapd, "alice").get("Expense reports") == v1
    assert seen_by(psp_slapd, "nick").get("Expense reports") == v1
    assert "Expense reports" not in seen_by(psp_slapd, "nora")
    assert "Expense reports" not in seen_by(psp_slapd, "oscar")
    page.screenshot(path=str(artifacts_dir / "process-ldap-published.png"), full_page=True)

    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("DocumentRootName").fill("Travel expenses")
    page.get_by_role("button", name="Save").click()
    page.get_by_test_id("unpublished-changes").wait_for()
    page.get_by_role("link", name="Publish…", exact=True).click()
    page.get_by_role("button", name="Publish", exact=True).click()
    page.get_by_text("Published version 2.", exact=True).wait_for()
    v2 = published_xml(2)
    assert seen_by(psp_slapd, "alice").get("Expense reports") == v2 != v1
    assert "Travel expenses</psp:DocumentRootName>" in v2

    page.get_by_role("link", name="Versions", exact=True).click()
    diff = page.get_by_test_id("diff").inner_text()
    assert "Travel expenses" in diff and "Expenses</psp:DocumentRootName>" in diff
    page.screenshot(path=str(artifacts_dir / "process-ldap-diff.png"), full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Roll back to v1").click()
    page.get_by_text("Restored the settings of version 1").wait_for()
    page.get_by_test_id("unpublished-changes").wait_for()
    # A rollback is an edit: the directory still holds version 2 until it is published.
    assert seen_by(psp_slapd, "alice").get("Expense reports") == v2

    page.get_by_role("link", name="Publish…", exact=True).click()
    page.get_by_label("Comment").fill("back to the first release")
    page.get_by_role("button", name="Publish", exact=True).click()
    page.get_by_text("Published version 3.", exact=True).wait_for()
    page.get_by_text("The directory holds published version 3.").wait_for()
    v3 = published_xml(3)
    assert v3 == v1
    assert seen_by(psp_slapd, "alice").get("Expense reports") == v3
    assert "Expense reports" not in seen_by(psp_slapd, "nora")
    page.screenshot(path=str(artifacts_dir / "process-ldap-republished.png"), full_page=True)

    process = ScanProcess.objects.get(display_name="Expense reports")
    assert process.state == ProcessState.PUBLISHED and process.published_version.number == 3
