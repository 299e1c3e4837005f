"""Each destination end to end against a real server the test starts (tests/scanserver/servers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scanprocesses.destinations import Credentials, DeliveryError
from scanprocesses.destinations import smb as smb_dest
from scanprocesses.destinations import webdav as webdav_dest
from scanserver import tasks
from tests.factories import DeliveryState, JobState, ScanJobFactory, ScanProcessFactory, UserFactory
from tests.scanserver import servers
from tests.scanserver.scanfiles import page_bytes, sha

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager(settings: Any) -> Iterator[None]:
    conf = tasks.deliver.app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    settings.SCANSERVER_DELIVERY_BACKOFF = 0
    settings.SCANSERVER_DELIVERY_MAX_ATTEMPTS = 3
    try:
        yield
    finally:
        conf.task_always_eager, conf.task_eager_propagates = saved


def run(process: Any, pages: int = 2, **job_fields: Any) -> Any:
    job = ScanJobFactory(
        process=process, pages=[page_bytes(n, dpi=30) for n in range(1, pages + 1)], **job_fields
    )
    tasks.process_job.delay(job.pk)
    job.refresh_from_db()
    return job


# --------------------------------------------------------------------------- SMB


@pytest.fixture
def samba(tmp_path: Path) -> Iterator[servers.Smbd]:
    with servers.smbd(tmp_path / "smb") as server:
        yield server


def smb_process(samba: servers.Smbd, password: str = servers.SMB_PASSWORD, **fields: Any) -> Any:
    return ScanProcessFactory(
        pipeline=True,
        destinations=[
            {
                "kind": "smb",
                "config": {"uncs": [samba.unc + "\\team\\in"], "port": samba.port},
                "username": servers.SMB_USER,
                "password": password,
            }
        ],
        **fields,
    )


def test_smb_delivers_to_real_samba_and_verifies(eager: None, samba: servers.Smbd) -> None:
    job = run(smb_process(samba, output_format="jpeg"))
    assert job.state == JobState.COMPLETED, job.error
    (d,) = job.deliveries.all()
    files = sorted((samba.share_dir / "team" / "in").iterdir())
    assert [f.name for f in files] == ["Scan-%d-1.jpg" % job.pk, "Scan-%d-2.jpg" % job.pk]
    outputs = {o.name: o.sha256 for o in job.outputs.all()}
    assert {f.name: sha(f.read_bytes()) for f in files} == outputs
    assert all(r["verified"] for r in d.receipt) and d.receipt[0]["where"].startswith("\\\\127.0.0.1\\scans")


def test_smb_redelivery_recognises_its_own_files(eager: None, samba: servers.Smbd) -> None:
    job = run(smb_process(samba))
    (d,) = job.deliveries.all()
    config = {"uncs": [samba.unc + "\\team\\in"], "port": samba.port}
    again = smb_dest.deliver(
        d, list(job.outputs.all()), config, Credentials(servers.SMB_USER, servers.SMB_PASSWORD)
    )
    assert [r["where"] for r in again] == [r["where"] for r in d.receipt]
    assert len(list((samba.share_dir / "team" / "in").iterdir())) == 1


def test_smb_wrong_password_is_access_denied(eager: None, samba: servers.Smbd) -> None:
    job = run(smb_process(samba, password="wrong-password"))
    (d,) = job.deliveries.all()
    assert d.filter_state_reason == "FileShareAccessDenied"
    assert d.state in (DeliveryState.PENDING, DeliveryState.FAILED)


def test_smb_down_then_up(eager: None, samba: servers.Smbd) -> None:
    samba.stop()
    job = run(smb_process(samba))
    (d,) = job.deliveries.all()
    assert d.state == DeliveryState.PENDING and d.attempts == 1
    samba.start()
    assert tasks.deliver_due() == 1
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert len(list((samba.share_dir / "team" / "in").iterdir())) == 1


def test_smb_dry_run(samba: servers.Smbd) -> None:
    text = smb_dest.test_write(
        {"uncs": [samba.unc], "port": samba.port}, Credentials(servers.SMB_USER, servers.SMB_PASSWORD)
    )
    assert "wrote and removed" in text and list(samba.share_dir.iterdir()) == []


# --------------------------------------------------------------------------- SMTP


def test_email_with_starttls_and_auth_to_addresses_and_scanning_user(eager: None, tmp_path: Path) -> None:
    from directory.identity import identity_for

    user = UserFactory(username="carol", email="carol@example.test")
    with servers.smtp(tmp_path / "smtp") as server:
        process = ScanProcessFactory(
            pipeline=True,
            destinations=[
                {
                    "kind": "email",
                    "config": {
                        "addresses": ["team@example.test"],
                        "send_to_scan_user": True,
                        "smtp_host": "127.0.0.1",
                        "smtp_port": server.port,
                        "starttls": True,
                        "ca_file": str(server.ca_file),
                        "from": "scanner@example.test",
                    },
                    "username": "mailer",
                    "password": "mail-pw-1!",
                }
            ],
        )
        job = run(process, user_sid=identity_for(user), user_name="carol")
        assert job.state == JobState.COMPLETED, [d.last_error for d in job.deliveries.all()]
        assert server.logins == ["mailer"]
        ((rcpts, message),) = server.messages
    assert sorted(rcpts) == ["carol@example.test", "team@example.test"]
    (output,) = job.outputs.all()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == output.name
    assert sha(attachment.get_content()) == output.sha256


def test_email_unknown_user_is_a_clear_error(eager: None, tmp_path: Path) -> None:
    process = ScanProcessFactory(
        pipeline=True,
        destinations=[
            {"kind": "email", "config": {"send_to_scan_user": True, "smtp_host": "127.0.0.1", "smtp_port": 1}}
        ],
    )
    job = run(process, user_sid="S-1-5-21-9-9-9-4242")
    (d,) = job.deliveries.all()
    assert d.state == DeliveryState.FAILED and d.filter_state_reason == "UnableToSendEmail"
    assert "not in the directory" in d.last_error


def test_email_server_down_is_invalid_smtp_server(eager: None) -> None:
    from tests import services

    process = ScanProcessFactory(
        pipeline=True,
        destinations=[
            {
                "kind": "email",
                "config": {
                    "addresses": ["a@example.test"],
                    "smtp_host": "127.0.0.1",
                    "smtp_port": services.free_port(),
                },
            }
        ],
    )
    job = run(process)
    (d,) = job.deliveries.all()
    assert d.state == DeliveryState.PENDING and d.filter_state_reason == "InvalidSMTPServer"


# --------------------------------------------------------------------------- WebDAV


def test_webdav_put_mkcol_and_read_back(eager: None, tmp_path: Path) -> None:
    with servers.webdav(tmp_path / "dav") as dav:
        process = ScanProcessFactory(
            pipeline=True,
            destinations=[
                {
                    "kind": "webdav",
                    "config": {"site_urls": [dav.url + "sites/team/Shared Documents/"]},
                    "username": dav.user,
                    "password": dav.password,
                }
            ],
        )
        job = run(process)
        assert job.state == JobState.COMPLETED, [d.last_error for d in job.deliveries.all()]
        (output,) = job.outputs.all()
        stored = dav.root / "sites" / "team" / "Shared Documents" / output.name
        assert sha(stored.read_bytes()) == output.sha256
        (d,) = job.deliveries.all()
        assert d.receipt[0]["verified"] is True and d.receipt[0]["size"] == output.size
        # re-delivery finds its own document; a foreign file under the name gets a suffix
        again = webdav_dest.deliver(
            d,
            [output],
            {"site_urls": [dav.url + "sites/team/Shared Documents/"]},
            Credentials(dav.user, dav.password),
        )
        assert again[0]["where"] == d.receipt[0]["where"]
        stored.write_bytes(b"edited by someone")
        third = webdav_dest.deliver(
            d,
            [output],
            {"site_urls": [dav.url + "sites/team/Shared Documents/"]},
            Credentials(dav.user, dav.password),
        )
        assert third[0]["where"].endswith("%20%282%29.pdf") and stored.read_bytes() == b"edited by someone"


def test_webdav_wrong_password_is_sharepoint_access_denied(eager: None, tmp_path: Path) -> None:
    with servers.webdav(tmp_path / "dav") as dav:
        with pytest.raises(DeliveryError) as info:
            webdav_dest.test_write({"site_urls": [dav.url]}, Credentials(dav.user, "nope"))
    assert info.value.reason == "SharePointAccessDenied"


# --------------------------------------------------------------------------- HTTP webhook


def test_webhook_multipart_with_bearer_and_retry(eager: None) -> None:
    with servers.receiver() as hook:
        hook.fail_next = 1  # first attempt gets 503
        process = ScanProcessFactory(
            pipeline=True,
            destinations=[{"kind": "http", "config": {"url": hook.url}, "password": hook.token}],
        )
        job = run(process)
        (d,) = job.deliveries.all()
        assert d.state == DeliveryState.PENDING and "503" in d.last_error
        assert tasks.deliver_due() == 1
        job.refresh_from_db()
        assert job.state == JobState.COMPLETED
        (item,) = hook.received
    (output,) = job.outputs.all()
    assert item["content"] and sha(item["content"]) == output.sha256
    assert item["metadata"]["job"] == str(job.token) and item["metadata"]["sha256"] == output.sha256
    assert item["metadata"]["pages"] == 2 and item["filename"] == output.name
    assert item["headers"]["Idempotency-Key"].startswith(str(job.token))
    d.refresh_from_db()
    assert d.receipt[0]["verified"] is True


def test_webhook_without_token_is_refused(eager: None) -> None:
    with servers.receiver() as hook:
        process = ScanProcessFactory(
            pipeline=True, destinations=[{"kind": "http", "config": {"url": hook.url}}]
        )
        job = run(process)
    (d,) = job.deliveries.all()
    assert d.state == DeliveryState.FAILED and "401" in d.last_error
    assert httpx  # the client library the destination uses


def test_smb_wrong_password_after_a_good_one_is_still_refused(samba: servers.Smbd) -> None:
    """smbclient's default cache keys sessions by server and user name only; ours is per credential."""
    config = {"uncs": [samba.unc], "port": samba.port}
    assert "wrote and removed" in smb_dest.test_write(
        config, Credentials(servers.SMB_USER, servers.SMB_PASSWORD)
    )
    with pytest.raises(DeliveryError) as refused:
        smb_dest.test_write(config, Credentials(servers.SMB_USER, "wrong-" + servers.SMB_PASSWORD))
    assert refused.value.reason == "FileShareAccessDenied"
