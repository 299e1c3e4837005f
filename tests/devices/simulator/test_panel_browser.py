"""Headless Chromium at the simulated device's front panel: sign in, pick a process, scan, see the
job end — htmx (served by the device itself) refreshing the status until the scan server says
Completed. Scan server: SERVER's ASGI app in-process (see panelworld)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from panelworld import PASSWORD, World, make_world, panel_device

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def eager() -> Iterator[None]:
    from smc.celery import app

    conf = app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    try:
        yield
    finally:
        conf.task_always_eager, conf.task_eager_propagates = saved


def test_sign_in_at_the_panel_and_scan_to_folder(
    page: Any, tmp_path: Path, eager: None, artifacts_dir: Path
) -> None:
    world: World = make_world(tmp_path)
    with panel_device(world) as server:
        page.goto(server.base_url + "/panel/")
        page.get_by_label("User name").fill("demo")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        assert "User name or password refused." in page.get_by_test_id("panel-error").inner_text()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        assert page.get_by_test_id("panel-user").inner_text() == "Demo User"
        links = page.get_by_test_id("process-list").get_by_role("link")
        assert links.all_inner_texts() == ["Locked colour", "Scan to folder"]
        page.get_by_role("link", name="Scan to folder").click()
        page.get_by_label("Paper source").select_option("ADF")
        page.get_by_label("Pages").fill("3")
        page.screenshot(path=str(artifacts_dir / "panel-process-form.png"))
        page.get_by_role("button", name="Scan").click()
        page.wait_for_url(re.compile(r".*/panel/jobs/.*"))
        state = page.get_by_test_id("job-state")
        state.filter(has_text=re.compile("^(Completed|Failed|Aborted|Unknown)$")).wait_for(timeout=60000)
        page.screenshot(path=str(artifacts_dir / "panel-job-completed.png"))
        assert state.inner_text() == "Completed", page.get_by_test_id("job-steps").inner_text()
    pdfs = list(world.scans.glob("*.pdf"))
    assert len(pdfs) == 1 and pdfs[0].read_bytes().startswith(b"%PDF-")
