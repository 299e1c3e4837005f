"""Headless Chromium authors a scan process end to end in the embedded directory: create with a
live file-name preview, publish, see it published in the list, edit, republish, read the diff,
roll back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_authors_publishes_edits_diffs_and_rolls_back(
    page: Any, live_server: Any, cast: dict[str, Any], artifacts_dir: Path
) -> None:
    from tests.factories import ProcessState, ScanProcess, ScanServerFactory

    ScanServerFactory(name="Scan server 1", fqdn="scan1.example.test")
    base = live_server.url
    page.goto(base + "/login/")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("admin-local-pw1!")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Scan processes").click()
    page.get_by_role("link", name="Add a scan process").click()
    page.get_by_label("Display name").fill("Expense reports")
    page.get_by_label("DocumentRootName").fill("Expenses")
    template = page.get_by_label("File name template")
    template.fill("")
    template.press_sequentially("{root}-{user}-{seq}")
    preview = page.get_by_test_id("naming-preview")
    preview.filter(has_text="Expenses-alice-1.pdf").wait_for()
    template.fill("")
    template.press_sequentially("../{user}")
    page.get_by_test_id("naming-preview").filter(has_text="path separator").wait_for()
    template.fill("")
    template.press_sequentially("{root}-{date:%Y%m%d}-{seq}")
    page.get_by_label("Image format").select_option("pdf-a")
    page.get_by_label("Resolution (dpi)").select_option("300")
    page.get_by_role("button", name="Add a destination").click()
    page.locator("select[name=dest-0-kind]").select_option("smb")
    page.locator("textarea[name=dest-0-targets]").fill("\\\\files\\expenses")
    page.locator("input[name=dest-0-username]").fill("svc-scan")
    page.locator("input[name=dest-0-password]").fill("Share-Pw-1!")
    page.screenshot(path=str(artifacts_dir / "process-editor.png"), full_page=True)
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name="Expense reports").wait_for()
    assert "Share-Pw-1!" not in page.content()

    page.get_by_role("link", name="Publish…", exact=True).click()
    page.get_by_label("Comment").fill("first release")
    page.get_by_role("button", name="Publish", exact=True).click()
    page.get_by_text("Published version 1.", exact=True).wait_for()
    assert page.get_by_test_id("process-state").inner_text() == "Published"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Scan processes").click()
    assert page.get_by_test_id("state-expense-reports").inner_text() == "Published"
    page.screenshot(path=str(artifacts_dir / "process-list-published.png"), full_page=True)

    page.get_by_role("link", name="Expense reports").click()
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("DocumentRootName").fill("Travel expenses")
    page.get_by_role("button", name="Save").click()
    page.get_by_test_id("unpublished-changes").wait_for()
    page.get_by_role("link", name="Publish…", exact=True).click()
    page.get_by_role("button", name="Publish", exact=True).click()
    page.get_by_text("Published version 2.", exact=True).wait_for()

    page.get_by_role("link", name="Versions", exact=True).click()
    diff = page.get_by_test_id("diff")
    assert "Travel expenses" in diff.inner_text() and "Expenses</psp:DocumentRootName>" in diff.inner_text()
    page.screenshot(path=str(artifacts_dir / "process-versions-diff.png"), full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Roll back to v1").click()
    page.get_by_text("Restored the settings of version 1").wait_for()
    page.get_by_test_id("unpublished-changes").wait_for()
    page.screenshot(path=str(artifacts_dir / "process-rolled-back.png"), full_page=True)

    process = ScanProcess.objects.get(display_name="Expense reports")
    assert process.document_root_name == "Expenses"
    assert process.state == ProcessState.PUBLISHED and process.published_version.number == 2
