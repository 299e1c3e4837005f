"""Scan-process pages: roles (admin writes; operator and auditor read; POST refused), the editor's
validation (ticket values, groups, naming traversal, hostile import) with nothing partly written,
publishing through the embedded directory, versions/diff/rollback, dry run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lxml.html
import pytest
from django.test import Client
from django.urls import reverse

from core import secretbox
from scanprocesses import authoring as scanprocesses
from tests.factories import (
    AuditEvent,
    DeviceFactory,
    DeviceGroupFactory,
    GroupFactory,
    ProcessState,
    ScanJobFactory,
    ScanProcess,
    ScanProcessFactory,
    ScanServerFactory,
)
from tests.smc.scanner_configs import configuration

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin(cast: dict[str, Any]) -> Client:
    return client_for(cast["admin"])


def form_data(**overrides: Any) -> dict[str, Any]:
    server = ScanServerFactory(name="editor-srv", fqdn="editor.example.test")
    data: dict[str, Any] = {
        "display_name": "Contracts",
        "description": "",
        "scan_server": str(server.pk),
        "document_root_name": "Contract",
        "naming_template": "{root}-{date:%Y%m%d}-{seq}",
        "output_format": "pdf",
        "continue_on_error": "on",
        "allowed_groups": "",
        "t-job_name": "Contracts",
        "t-format": "pdf-a",
        "t-input_source": "ADF",
        "t-content_type": "Text",
        "t-front_color": "Grayscale8",
        "t-resolution": "300",
        "t-size_mode": "size",
        "t-paper": "",
        "t-unit": "mm",
        "t-width": "210",
        "t-height": "297",
        "t-rotation": "",
        "dest-TOTAL_FORMS": "2",
        "dest-INITIAL_FORMS": "0",
        "dest-MIN_NUM_FORMS": "0",
        "dest-MAX_NUM_FORMS": "1000",
        "dest-0-kind": "smb",
        "dest-0-targets": "\\\\files\\contracts",
        "dest-0-username": "svc-scan",
        "dest-0-password": "S3cret-Share!",
        "dest-1-kind": "http",
        "dest-1-targets": "https://hooks.example.test/in",
        "dest-1-password": "bearer-token-xyz",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --------------------------------------------------------------------------- roles


@pytest.mark.parametrize("role", ["admin", "operator", "auditor"])
def test_every_role_reads_list_detail_versions_and_export(cast: dict[str, Any], role: str) -> None:
    p = ScanProcessFactory(display_name="Readable")
    scanprocesses.publish(p, "admin")
    client = client_for(cast[role])
    for url in (
        reverse("scan_processes"),
        reverse("process_detail", args=[p.guid]),
        reverse("process_versions", args=[p.guid]),
        reverse("process_export", args=[p.guid]),
    ):
        assert client.get(url).status_code == 200, url
    assert "Readable" in client.get(reverse("scan_processes")).content.decode()


def test_outsider_and_anonymous_are_kept_out(cast: dict[str, Any]) -> None:
    assert client_for(cast["outsider"]).get(reverse("scan_processes")).status_code == 403
    response = Client().get(reverse("scan_processes"))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("role", ["operator", "auditor"])
def test_read_only_roles_get_403_on_every_change(cast: dict[str, Any], role: str) -> None:
    p = ScanProcessFactory(display_name="Protected")
    v1 = scanprocesses.publish(p, "admin")
    client = client_for(cast[role])
    before = (ScanProcess.objects.count(), AuditEvent.objects.count())
    posts = [
        reverse("process_create"),
        reverse("process_edit", args=[p.guid]),
        reverse("process_publish", args=[p.guid]),
        reverse("process_unpublish", args=[p.guid]),
        reverse("process_delete", args=[p.guid]),
        reverse("process_archive", args=[p.guid]),
        reverse("process_clone", args=[p.guid]),
        reverse("process_rollback", args=[p.guid, v1.number]),
        reverse("process_import"),
        reverse("process_dry_run", args=[p.guid]),
        reverse("process_adopt_directory", args=[p.guid]),
    ]
    for url in posts:
        assert client.post(url, form_data(display_name="Hacked")).status_code == 403, url
    assert client.get(reverse("process_create")).status_code == 403
    assert client.get(reverse("process_group_search"), {"q": "x"}).status_code == 403
    assert (ScanProcess.objects.count(), AuditEvent.objects.count()) == before
    p.refresh_from_db()
    assert p.state == ProcessState.PUBLISHED and p.display_name == "Protected"


def test_read_only_pages_hide_the_change_buttons(cast: dict[str, Any]) -> None:
    p = ScanProcessFactory(display_name="Buttons")
    html = client_for(cast["operator"]).get(reverse("process_detail", args=[p.guid])).content.decode()
    assert reverse("process_edit", args=[p.guid]) not in html
    admin_html = client_for(cast["admin"]).get(reverse("process_detail", args=[p.guid])).content.decode()
    assert reverse("process_edit", args=[p.guid]) in admin_html


# --------------------------------------------------------------------------- editor


def test_admin_creates_a_process_with_ticket_and_sealed_credentials(admin: Client) -> None:
    response = admin.post(reverse("process_create"), form_data())
    assert response.status_code == 302, response.content.decode()[:3000]
    p = ScanProcess.objects.get(display_name="Contracts")
    ticket = scanprocesses.ticket_of(p)
    dp = ticket.document_parameters
    assert dp is not None and dp.format == "pdf-a" and dp.input_source == "ADF"
    assert dp.input_size is not None and dp.input_size.input_media_size is not None
    assert (dp.input_size.input_media_size.width, dp.input_size.input_media_size.height) == (8268, 11693)
    assert dp.front.resolution is not None and dp.front.resolution.width == 300
    smb, http = p.destinations.order_by("position")
    assert smb.config == {"uncs": ["\\\\files\\contracts"]} and smb.username == "svc-scan"
    assert secretbox.unseal(smb.secret) == "S3cret-Share!"
    assert secretbox.unseal(http.secret) == "bearer-token-xyz"
    event = AuditEvent.objects.get(action="create")
    assert "S3cret" not in str(event.detail) and "bearer-token" not in str(event.detail)
    edit = admin.get(reverse("process_edit", args=[p.guid])).content.decode()
    assert "S3cret-Share!" not in edit and "bearer-token-xyz" not in edit and "fernet:" not in edit
    assert 'placeholder="unchanged"' in edit


def test_blank_password_keeps_the_credential_on_edit(admin: Client) -> None:
    admin.post(reverse("process_create"), form_data())
    p = ScanProcess.objects.get(display_name="Contracts")
    smb, http = p.destinations.order_by("position")
    data = form_data(
        **{
            "document_root_name": "Changed",
            "dest-INITIAL_FORMS": "2",
            "dest-0-existing_id": str(smb.pk),
            "dest-0-password": "",
            "dest-1-existing_id": str(http.pk),
            "dest-1-password": "",
        }
    )
    response = admin.post(reverse("process_edit", args=[p.guid]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    smb2, http2 = p.destinations.order_by("position")
    assert (
        secretbox.unseal(smb2.secret) == "S3cret-Share!"
        and secretbox.unseal(http2.secret) == "bearer-token-xyz"
    )


def assert_refused(admin: Client, data: dict[str, Any], message: str) -> None:
    before = (ScanProcess.objects.count(), AuditEvent.objects.count())
    response = admin.post(reverse("process_create"), data)
    assert response.status_code == 400
    assert message in response.content.decode(), response.content.decode()[:4000]
    assert (ScanProcess.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"t-compression_quality_factor": "500"}, "less than or equal to 100"),
        ({"t-format": "exe"}, "Select a valid choice"),
        ({"t-rotation": "45"}, "Select a valid choice"),
        ({"t-exposure_mode": "manual", "t-contrast": "5000"}, "less than or equal to 1000"),
        ({"t-film_scan_mode": "ColorSlideFilm"}, "FilmScanMode only applies"),
        ({"t-size_mode": "size", "t-width": "", "t-height": ""}, "give a width and a height"),
    ],
)
def test_invalid_ticket_values_are_refused(admin: Client, overrides: dict[str, str], message: str) -> None:
    assert_refused(admin, form_data(**overrides), message)


def test_unknown_groups_are_refused_and_known_ones_accepted(admin: Client) -> None:
    assert_refused(
        admin, form_data(allowed_groups="staff\nno-such-group"), "unknown group: staff, no-such-group"
    )
    GroupFactory(name="staff")
    response = admin.post(reverse("process_create"), form_data(allowed_groups="staff"))
    assert response.status_code == 302
    assert ScanProcess.objects.get().allowed_groups == ["staff"]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("../{user}", "path separator"),
        ("{root}/{user}", "path separator"),
        ("{root.__class__}", "unknown placeholder"),
        ("{0}", "unknown placeholder"),
        ("{user!r}", "conversions are not allowed"),
    ],
)
def test_unsafe_naming_templates_are_refused(admin: Client, template: str, message: str) -> None:
    assert_refused(admin, form_data(naming_template=template), message)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dest-0-targets": "C:\\scans"}, "is not a UNC path"),
        ({"dest-0-targets": "\\\\srv\\share\\..\\..\\etc"}, "is not a UNC path"),
        ({"dest-0-kind": "folder", "dest-0-targets": "/srv/../etc"}, "without &#x27;..&#x27;"),
        ({"dest-1-targets": "https://user:pw@hooks.example.test/"}, "must not contain credentials"),
        ({"dest-0-kind": "email", "dest-0-targets": "not-an-address"}, "is not an e-mail address"),
        ({"dest-0-kind": "", "dest-0-targets": "x"}, "choose what kind"),
    ],
)
def test_invalid_destinations_are_refused(admin: Client, overrides: dict[str, str], message: str) -> None:
    assert_refused(admin, form_data(**overrides), message)


def _field_errors(page: str, name: str) -> list[str]:
    """The error lines shown inside the field of the editor whose input is called ``name``."""
    root = lxml.html.fromstring(page)
    (field,) = root.xpath(
        '//div[contains(concat(" ", @class, " "), " field ")][.//*[@name=$name]]', name=name
    )
    return [e.text_content() for e in field.xpath('.//div[@class="error"]')]


def _row_errors(page: str, index: int) -> list[str]:
    """The errors of destination row ``index`` that belong to no field."""
    root = lxml.html.fromstring(page)
    (row,) = root.xpath(
        '//div[contains(concat(" ", @class, " "), " dest ")][.//*[@name=$name]]', name="dest-%d-kind" % index
    )
    return [e.text_content() for e in row.xpath('./div[@class="error"]')]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"dest-0-kind": "folder", "dest-0-targets": "scans"}, "dest-0-targets", "absolute path"),
        ({"dest-0-targets": "C:\\scans"}, "dest-0-targets", "is not a UNC path"),
        ({"dest-0-kind": "email", "dest-0-targets": "nobody"}, "dest-0-targets", "is not an e-mail address"),
        ({"dest-0-kind": "webdav", "dest-0-targets": ""}, "dest-0-targets", "or choose MySite"),
        ({"dest-1-targets": "hooks.example.test/in"}, "dest-1-targets", "is not an http(s) URL"),
    ],
)
def test_a_kinds_message_is_shown_next_to_its_field(
    admin: Client, overrides: dict[str, str], field: str, message: str
) -> None:
    response = admin.post(reverse("process_create"), form_data(**overrides))
    assert response.status_code == 400
    page = response.content.decode()
    errors = _field_errors(page, field)
    assert len(errors) == 1 and message in errors[0], errors
    assert not _row_errors(page, int(field.split("-")[1]))
    assert not ScanProcess.objects.exists()


def test_a_row_without_a_kind_says_so_for_the_row(admin: Client) -> None:
    response = admin.post(reverse("process_create"), form_data(**{"dest-1-kind": ""}))
    assert response.status_code == 400
    page = response.content.decode()
    assert ["choose what kind of destination this is"] == _row_errors(page, 1)
    assert not _field_errors(page, "dest-1-targets") and not _row_errors(page, 0)


def test_add_destination_button_adds_a_row_without_saving(admin: Client) -> None:
    response = admin.post(reverse("process_create"), form_data(_add_destination="1"))
    assert response.status_code == 200
    assert 'name="dest-2-kind"' in response.content.decode()
    assert not ScanProcess.objects.exists()


def test_removed_destination_rows_are_dropped(admin: Client) -> None:
    response = admin.post(reverse("process_create"), form_data(**{"dest-1-DELETE": "on"}))
    assert response.status_code == 302
    assert [d.kind for d in ScanProcess.objects.get().destinations.all()] == ["smb"]


def test_ticket_choices_follow_the_assigned_devices_and_warn_per_device(admin: Client) -> None:
    group = DeviceGroupFactory(name="Floor 2")
    DeviceFactory(
        name="MFP-A", group=group, configuration=configuration(formats=("jfif", "pdf-a"), dpi=(150, 300))
    )
    DeviceFactory(name="MFP-B", group=group, configuration=configuration(formats=("jfif",), dpi=(200,)))
    data = form_data(**{"allowed_device_groups": str(group.pk), "t-resolution": "300"})
    response = admin.post(reverse("process_create"), data)
    assert response.status_code == 302
    p = ScanProcess.objects.get()
    page = admin.get(reverse("process_edit", args=[p.guid])).content.decode()
    assert "MFP-A, MFP-B" in page
    assert '<option value="tiff-multi-g4"' not in page and '<option value="pdf-a"' in page
    assert '<option value="1200"' not in page and '<option value="200"' in page
    warnings = page[page.index('data-testid="device-warnings"') :]
    warnings = warnings[: warnings.index("</div>")]
    assert "MFP-B" in warnings and "pdf-a is not supported" in warnings and "MFP-A" not in warnings


def test_all_spec_values_are_offered_without_devices(admin: Client) -> None:
    page = admin.get(reverse("process_create")).content.decode()
    for value in ("tiff-multi-g4", "xps", "RGBa64", "Film", "BlackandWhiteNegativeFilm", "Halftone"):
        assert '<option value="%s"' % value in page


def test_naming_preview_renders_live_or_explains(cast: dict[str, Any]) -> None:
    client = client_for(cast["operator"])
    url = reverse("process_naming_preview")
    ok = client.get(
        url, {"naming_template": "{root}-{user}-{seq}", "document_root_name": "Inv"}
    ).content.decode()
    assert "Inv-alice-1.pdf" in ok
    bad = client.get(url, {"naming_template": "{root.__class__}"}).content.decode()
    assert "unknown placeholder" in bad


def test_group_search_lists_directory_groups(admin: Client) -> None:
    GroupFactory(name="finance-scanners")
    html = admin.get(reverse("process_group_search"), {"q": "finance"}).content.decode()
    assert 'data-add-group="finance-scanners"' in html


# --------------------------------------------------------------------------- actions


def test_publish_unpublish_through_the_pages(admin: Client) -> None:
    from directory.backends import get_directory

    p = ScanProcessFactory(display_name="Publishable")
    assert "Publish Publishable" in admin.get(reverse("process_publish", args=[p.guid])).content.decode()
    response = admin.post(reverse("process_publish", args=[p.guid]), {"comment": "go live"})
    assert response.status_code == 302
    p.refresh_from_db()
    assert p.state == ProcessState.PUBLISHED and p.published_version.comment == "go live"
    assert get_directory().read_published(str(p.guid)) is not None
    listing = admin.get(reverse("scan_processes"), {"state": "published"}).content.decode()
    assert "Publishable" in listing and "v1" in listing
    admin.post(reverse("process_unpublish", args=[p.guid]), {"comment": ""})
    p.refresh_from_db()
    assert p.state == ProcessState.UNPUBLISHED


def test_publish_failure_is_a_message_not_a_500(admin: Client) -> None:
    p = ScanProcessFactory(display_name="Broken", destinations=[])
    response = admin.post(reverse("process_publish", args=[p.guid]), {"comment": ""}, follow=True)
    assert response.status_code == 200
    assert "Not published: add at least one destination" in response.content.decode()
    assert not p.versions.exists()


def test_versions_diff_and_rollback_pages(admin: Client) -> None:
    p = ScanProcessFactory(display_name="Versioned")
    v1 = scanprocesses.publish(p, "admin")
    p.document_root_name = "Second"
    p.save()
    scanprocesses.publish(p, "admin")
    page = admin.get(reverse("process_versions", args=[p.guid]), {"a": 1, "b": 2}).content.decode()
    assert 'class="diff-del"' in page and "Second" in page
    response = admin.post(reverse("process_rollback", args=[p.guid, v1.number]))
    assert response.status_code == 302
    p.refresh_from_db()
    assert p.document_root_name == "Versioned"
    detail = admin.get(reverse("process_detail", args=[p.guid])).content.decode()
    assert 'data-testid="unpublished-changes"' in detail


def test_delete_confirmation_refuses_when_jobs_exist_and_offers_archive(admin: Client) -> None:
    p = ScanProcessFactory(display_name="In use")
    ScanJobFactory(process=p)
    page = admin.get(reverse("process_delete", args=[p.guid])).content.decode()
    assert "Archive instead" in page
    admin.post(reverse("process_delete", args=[p.guid]))
    assert ScanProcess.objects.filter(pk=p.pk).exists()
    admin.post(reverse("process_archive", args=[p.guid]))
    p.refresh_from_db()
    assert p.state == ProcessState.ARCHIVED
    q = ScanProcessFactory(display_name="Free")
    assert admin.post(reverse("process_delete", args=[q.guid])).status_code == 302
    assert not ScanProcess.objects.filter(pk=q.pk).exists()


def test_clone_and_export_import(admin: Client) -> None:
    p = ScanProcessFactory(display_name="Template process")
    response = admin.post(reverse("process_clone", args=[p.guid]))
    assert response.status_code == 302
    assert ScanProcess.objects.filter(display_name="Copy of Template process").exists()
    xml = admin.get(reverse("process_export", args=[p.guid]))
    assert xml["Content-Type"].startswith("application/xml")
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("p.xml", xml.content, content_type="application/xml")
    response = admin.post(reverse("process_import"), {"file": upload, "display_name": "Imported one"})
    assert response.status_code == 302
    imported = ScanProcess.objects.get(display_name="Imported one")
    assert scanprocesses.psp_xml(imported) == xml.content


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
            "Import refused: the XML was refused",
        ),
        (b"<a>" * 10000 + b"</a>" * 10000, "Import refused: the XML was refused"),
        (b"x" * (scanprocesses.MAX_IMPORT_BYTES + 1), "over the limit"),
        (b"<hello/>", "not a valid scan process"),
    ],
)
def test_hostile_uploads_are_refused_with_a_message(admin: Client, content: bytes, message: str) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    before = (ScanProcess.objects.count(), AuditEvent.objects.count())
    upload = SimpleUploadedFile("evil.xml", content, content_type="application/xml")
    response = admin.post(reverse("process_import"), {"file": upload})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert (ScanProcess.objects.count(), AuditEvent.objects.count()) == before


@pytest.fixture
def simulated_device() -> Iterator[str]:
    from devices.simulator.run import SimulatorConfig, SimulatorThread

    thread = SimulatorThread(SimulatorConfig(count=1, base_port=0, discovery=False, adf_pages=0))
    with thread as sim:
        yield sim.devices[0].server.scan_url


def test_dry_run_reports_each_device_and_survives_unreachable_ones(
    admin: Client, simulated_device: str
) -> None:
    from tests import services

    group = DeviceGroupFactory(name="Dry")
    DeviceFactory(
        name="Simulated", group=group, configuration=configuration(), scan_service_url=simulated_device
    )
    DeviceFactory(
        name="Gone",
        group=group,
        configuration=configuration(),
        scan_service_url="http://127.0.0.1:%d/scan" % services.free_port(),
    )
    DeviceFactory(name="Unknown address", group=group, configuration=configuration())
    p = ScanProcessFactory(display_name="Dry run")
    p.allowed_device_groups.add(group)
    response = admin.post(reverse("process_dry_run", args=[p.guid]))
    assert response.status_code == 200
    html = response.content.decode()
    rows = html[html.index('data-testid="dry-run"') :]
    assert "Gone" in rows and "unreachable" in rows
    assert "no scan service address" in rows
    simulated = rows[rows.index("Simulated") : rows.index("</tr>", rows.index("Simulated"))]
    assert "accepted" in simulated or "would change settings" in simulated
