"""The dry run's test write per destination (issue 5 §4) against real servers the tests start
(tests/scanserver/servers.py): a folder, Samba smbd (right and wrong password), SMTP with
STARTTLS + AUTH, WebDAV, a webhook, and destinations that are down or never answer."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from core import secretbox
from scanprocesses import authoring as scanprocesses
from scanprocesses import ticketeditor
from tests import services
from tests.factories import ProcessDestination, ScanProcessFactory
from tests.scanserver import servers

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Row:
    kind: str
    ok: bool
    html: str


def destination_rows(html: str) -> list[Row]:
    table = html[html.index('data-testid="dry-run-destinations"') :]
    table = table[: table.index("</table>")]
    return [
        Row(kind, ok == "true", body)
        for kind, ok, body in re.findall(r'<tr data-kind="(\w+)" data-ok="(\w+)">(.*?)</tr>', table, re.S)
    ]


@pytest.fixture
def admin(cast: dict[str, Any]) -> Client:
    client = Client()
    client.force_login(cast["admin"])
    return client


@pytest.fixture
def samba(tmp_path: Path) -> Iterator[servers.Smbd]:
    with servers.smbd(tmp_path / "smb") as server:
        yield server


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts connections and never says a word (an SMTP server that hangs)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_every_destination_is_tried_against_real_servers_and_the_page_shows_each_result(
    admin: Client, samba: servers.Smbd, tmp_path: Path
) -> None:
    folder = tmp_path / "scans"
    with (
        servers.smtp(tmp_path / "smtp") as mail,
        servers.webdav(tmp_path / "dav") as dav,
        servers.receiver() as hook,
    ):
        specs = [
            scanprocesses.DestinationSpec("folder", {"path": str(folder)}),
            scanprocesses.DestinationSpec(
                "smb",
                {"uncs": [samba.unc + "\\dry"], "port": samba.port},
                servers.SMB_USER,
                servers.SMB_PASSWORD,
            ),
            scanprocesses.DestinationSpec(
                "smb", {"uncs": [samba.unc], "port": samba.port}, servers.SMB_USER, "not-the-password"
            ),
            scanprocesses.DestinationSpec(
                "email",
                {
                    "addresses": ["team@example.test"],
                    "smtp_host": "127.0.0.1",
                    "smtp_port": mail.port,
                    "starttls": True,
                    "ca_file": str(mail.ca_file),
                    "from": "scanner@example.test",
                },
                "mailer",
                "mail-pw-1!",
            ),
            scanprocesses.DestinationSpec(
                "webdav", {"site_urls": [dav.url + "sites/team/Docs/"]}, dav.user, dav.password
            ),
            scanprocesses.DestinationSpec("http", {"url": hook.url}, "", hook.token),
            scanprocesses.DestinationSpec(
                "email",
                {
                    "addresses": ["a@example.test"],
                    "smtp_host": "127.0.0.1",
                    "smtp_port": services.free_port(),
                },
            ),
        ]
        process = ScanProcessFactory(display_name="Dry destinations", destinations=specs)
        response = admin.post(reverse("process_dry_run", args=[process.guid]))
        assert response.status_code == 200
        rows = destination_rows(response.content.decode())
        assert [r.kind for r in rows] == ["folder", "smb", "smb", "email", "webdav", "http", "email"]
        folder_row, smb_ok, smb_bad, mail_ok, dav_row, hook_row, mail_down = rows

        assert folder_row.ok and "wrote and removed a test file in %s" % folder in folder_row.html
        assert folder.is_dir() and list(folder.iterdir()) == []

        assert smb_ok.ok and "wrote and removed" in smb_ok.html
        assert (samba.share_dir / "dry").is_dir() and list((samba.share_dir / "dry").iterdir()) == []
        assert not smb_bad.ok and "FileShareAccessDenied" in smb_bad.html
        assert "not-the-password" not in response.content.decode()

        assert mail_ok.ok and "sent a test message to team@example.test" in mail_ok.html
        assert mail.logins == ["mailer"]
        ((rcpts, message),) = mail.messages
        assert rcpts == ["team@example.test"] and message["Subject"] == "OpenDSM destination test"

        assert dav_row.ok and "wrote and removed" in dav_row.html
        assert (dav.root / "sites" / "team" / "Docs").is_dir()
        assert list((dav.root / "sites" / "team" / "Docs").iterdir()) == []

        assert hook_row.ok and "HTTP 200" in hook_row.html
        (item,) = hook.received
        assert item["metadata"] == {"test": True} and "content" not in item

        assert not mail_down.ok and "InvalidSMTPServer" in mail_down.html


def test_wrong_password_and_good_password_on_the_same_share(samba: servers.Smbd) -> None:
    good = scanprocesses.DestinationSpec(
        "smb", {"uncs": [samba.unc], "port": samba.port}, servers.SMB_USER, servers.SMB_PASSWORD
    )
    bad = scanprocesses.DestinationSpec(
        "smb", {"uncs": [samba.unc], "port": samba.port}, servers.SMB_USER, "wrong-password"
    )
    process = ScanProcessFactory(display_name="Two shares", destinations=[bad, good])
    first, second = ticketeditor.try_destinations(process.destinations.order_by("position"))
    assert (first.ok, first.reason) == (False, "FileShareAccessDenied")
    assert samba.unc in first.message
    assert (second.ok, second.reason) == (True, "") and "wrote and removed" in second.message
    assert list(samba.share_dir.iterdir()) == []


def test_a_destination_that_never_answers_is_bounded_by_the_timeout() -> None:
    with silent_listener() as port:
        process = ScanProcessFactory(
            display_name="Hanging",
            destinations=[
                scanprocesses.DestinationSpec(
                    "email", {"addresses": ["a@example.test"], "smtp_host": "127.0.0.1", "smtp_port": port}
                )
            ],
        )
        (row,) = ticketeditor.try_destinations(process.destinations.all(), timeout=0.5)
    assert not row.ok and row.message == "no answer within 0.5 s" and row.reason == "UnknownError"


def test_broken_configuration_and_unreadable_secret_are_rows_not_errors(admin: Client) -> None:
    process = ScanProcessFactory(
        display_name="Broken",
        destinations=[
            scanprocesses.DestinationSpec("smb", {"uncs": []}),
            scanprocesses.DestinationSpec("http", {"url": "http://127.0.0.1:%d/hook" % services.free_port()}),
        ],
    )
    ProcessDestination.objects.filter(process=process, position=1).update(
        secret=secretbox.PREFIX + "sealed-with-another-key"
    )
    response = admin.post(reverse("process_dry_run", args=[process.guid]))
    assert response.status_code == 200
    no_unc, unreadable = destination_rows(response.content.decode())
    assert not no_unc.ok and "has no UNC path" in no_unc.html and "InvalidArgs" in no_unc.html
    assert not unreadable.ok and "InvalidArgs" in unreadable.html and "re-enter" in unreadable.html


def test_a_process_without_destinations_says_so(admin: Client) -> None:
    process = ScanProcessFactory(display_name="Nowhere", destinations=[])
    response = admin.post(reverse("process_dry_run", args=[process.guid]))
    assert response.status_code == 200
    assert "The process has no destination." in response.content.decode()
