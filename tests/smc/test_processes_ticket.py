"""The ticket editor covers every ScanTicket field (PROTOCOL.md §3.3): a duplex back side of its
own, MustHonor flags, exact round trips (ticket -> form -> ticket); and drift compares group
identifiers normalized and survives a directory that is down."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from lxml import etree

from devices.protocols.namespaces import WSCN
from devices.protocols.wsscan import ticket as tk
from scanprocesses import authoring as scanprocesses
from smc.forms.ticket import MUST_HONOR, TicketForm
from tests.factories import AuditEvent, GroupFactory, ScanProcess, ScanProcessFactory
from tests.smc.test_processes_views import client_for, form_data

pytestmark = pytest.mark.django_db

NS = {"wscn": WSCN}
MH = "{%s}MustHonor" % WSCN


@pytest.fixture
def admin(cast: dict[str, Any]) -> Client:
    return client_for(cast["admin"])


def posted(initial: dict[str, Any]) -> dict[str, str]:
    """What a browser submits for a form showing ``initial`` unchanged (prefix t-)."""
    data = {}
    for key, value in initial.items():
        if value is True:
            data["t-" + key] = "on"
        elif value is False or value is None:
            continue
        else:
            data["t-" + key] = str(value)
    return data


def path_of(el: Any, stop: Any) -> str:
    parts = []
    while el is not stop:
        parts.append(etree.QName(el).localname)
        el = el.getparent()
    return "/".join(reversed(parts))


def round_trip(ticket: tk.ScanTicket) -> tk.ScanTicket:
    form = TicketForm(posted(TicketForm.initial_for(ticket)))
    assert form.is_valid(), form.errors
    return form.ticket


def rich_ticket(**dp: Any) -> tk.ScanTicket:
    values: dict[str, Any] = dict(
        format="pdf-a",
        compression_quality_factor=80,
        images_to_transfer=0,
        input_source="ADFDuplex",
        content_type="Mixed",
        input_size=tk.InputSize(document_size_auto_detect=False, input_media_size=tk.Size(8500, 11000)),
        exposure=tk.Exposure(settings=tk.ExposureSettings(contrast=10, brightness=-20, sharpness=3)),
        scaling=tk.Scaling(90, 110),
        rotation=180,
        media_sides=tk.MediaSides(
            front=tk.MediaSide(
                scan_region=tk.ScanRegion(width=8000, height=10000, x_offset=250, y_offset=500),
                color_processing="RGB24",
                resolution=tk.Resolution(300),
            ),
            back=tk.MediaSide(
                scan_region=tk.ScanRegion(width=4001, height=5003, x_offset=0, y_offset=7),
                color_processing="Grayscale8",
                resolution=tk.Resolution(150, 300),
            ),
        ),
    )
    values.update(dp)
    return tk.ScanTicket(
        tk.JobDescription("Duplex", "OpenDSM", "scans both sides"), tk.DocumentParameters(**values)
    )


# --------------------------------------------------------------------------- round trips


def test_duplex_with_its_own_back_side_round_trips_exactly() -> None:
    ticket = rich_ticket()
    again = round_trip(ticket)
    assert again == ticket
    xml = scanprocesses.ticket_to_xml(again)
    assert xml == scanprocesses.ticket_to_xml(ticket)
    back = ticket.document_parameters.media_sides.back  # type: ignore[union-attr]
    assert back is not None and back.resolution == tk.Resolution(150, 300)
    # 4001/1000 inch is not a whole 0.1 mm: the form falls back to inches rather than move it.
    assert TicketForm.initial_for(ticket)["unit"] == "in"
    assert TicketForm.initial_for(rich_ticket(media_sides=None))["unit"] == "mm"


def test_every_must_honor_flag_round_trips_and_appears_in_the_xml() -> None:
    base = rich_ticket(film_scan_mode=None)
    dp = base.document_parameters
    assert dp is not None
    for path in MUST_HONOR.values():
        if path != "FilmScanMode":
            dp = dp.with_flag(path, must_honor=True)
    ticket = tk.ScanTicket(base.job_description, dp)
    assert round_trip(ticket) == ticket
    root = etree.fromstring(scanprocesses.ticket_to_xml(round_trip(ticket)).encode())
    dp_el = root.find("{%s}DocumentParameters" % WSCN)
    flagged = {path_of(el, dp_el) for el in dp_el.iter() if el.get(MH) == "true"}
    assert flagged == set(MUST_HONOR.values()) - {"FilmScanMode"}


def test_flags_the_checkboxes_do_not_cover_are_carried_through() -> None:
    base = rich_ticket()
    assert base.document_parameters is not None
    dp = base.document_parameters.with_flag("InputSize", must_honor=True)
    dp = dp.with_flag("MediaSides/MediaBack/ColorProcessing", must_honor=True, used_default=False)
    ticket = tk.ScanTicket(base.job_description, dp)
    assert round_trip(ticket) == ticket
    # Removing the setting removes its flag; a forged carried-over flag is a form error.
    data = posted(TicketForm.initial_for(ticket))
    data["t-size_mode"] = ""
    form = TicketForm(data)
    assert form.is_valid(), form.errors
    assert form.ticket.document_parameters is not None
    assert form.ticket.document_parameters.flag("InputSize") == tk.Flags()
    data["t-kept_flags"] = '[["JobName", true, null, null]]'
    form = TicketForm(data)
    assert not form.is_valid() and "carried-over ticket flags are unreadable" in str(form.errors)


def test_film_flag_and_same_as_front_back_side_round_trip() -> None:
    film = rich_ticket(input_source="Film", film_scan_mode="ColorSlideFilm", media_sides=None)
    film = tk.ScanTicket(
        film.job_description, film.document_parameters.with_flag("FilmScanMode", must_honor=True)
    )  # type: ignore[union-attr]
    assert round_trip(film) == film
    same = rich_ticket(media_sides=tk.MediaSides(front=tk.MediaSide(resolution=tk.Resolution(600))))
    initial = TicketForm.initial_for(same)
    assert initial["back_same"] is True
    assert round_trip(same) == same


# --------------------------------------------------------------------------- the editor page


def duplex_data(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "t-input_source": "ADFDuplex",
        "t-resolution": "300",
        "t-back_color": "BlackAndWhite1",
        "t-back_resolution": "150",
        "t-back_region_x": "10",
        "t-back_region_y": "20",
        "t-back_region_width": "100",
        "t-back_region_height": "150",
        "t-mh_resolution": "on",
        "t-mh_input_source": "on",
        "t-mh_back_region_x": "on",
    }
    values.update(overrides)
    return form_data(**values)


def test_editor_saves_a_back_side_of_its_own_and_must_honor_flags(admin: Client) -> None:
    response = admin.post(reverse("process_create"), duplex_data())
    assert response.status_code == 302, response.content.decode()[:3000]
    p = ScanProcess.objects.get(display_name="Contracts")
    ticket = scanprocesses.ticket_of(p)
    dp = ticket.document_parameters
    assert dp is not None and dp.media_sides is not None and dp.media_sides.back is not None
    assert dp.front.resolution == tk.Resolution(300)
    back = dp.media_sides.back
    assert back.resolution == tk.Resolution(150) and back.color_processing == "BlackAndWhite1"
    assert back.scan_region == tk.ScanRegion(width=3937, height=5906, x_offset=394, y_offset=787)
    assert dp.front.scan_region is None
    root = etree.fromstring(p.ticket_xml.encode())
    assert root.xpath("//wscn:InputSource/@wscn:MustHonor", namespaces=NS) == ["true"]
    assert root.xpath("//wscn:MediaFront/wscn:Resolution/@wscn:MustHonor", namespaces=NS) == ["true"]
    assert root.xpath("//wscn:MediaBack//wscn:ScanRegionXOffset/@wscn:MustHonor", namespaces=NS) == ["true"]
    assert root.xpath("//wscn:MediaBack/wscn:Resolution/@wscn:MustHonor", namespaces=NS) == []
    # ...and the published PSP carries the same ticket.
    psp = scanprocesses.psp_xml(p).decode()
    assert 'MustHonor="true"' in psp and "BlackAndWhite1" in psp

    # The edit page shows what was saved; submitting it unchanged writes the same ticket.
    page = admin.get(reverse("process_edit", args=[p.guid])).content.decode()
    assert 'name="t-mh_input_source"' in page and "data-back-side" in page
    again = TicketForm(posted(TicketForm.initial_for(ticket)))
    assert again.is_valid(), again.errors
    assert scanprocesses.ticket_to_xml(again.ticket) == p.ticket_xml
    assert "MustHonor" in dict(
        admin.get(reverse("process_detail", args=[p.guid])).context["ticket"]  # type: ignore[index]
    )


def test_back_side_same_as_front_or_simplex_sends_no_media_back(admin: Client) -> None:
    admin.post(reverse("process_create"), duplex_data(**{"t-back_same": "on"}))
    dp = scanprocesses.ticket_of(ScanProcess.objects.get()).document_parameters
    assert dp is not None and dp.media_sides is not None and dp.media_sides.back is None
    ScanProcess.objects.all().delete()
    admin.post(
        reverse("process_create"), duplex_data(**{"t-input_source": "ADF", "t-mh_back_region_x": None})
    )
    dp = scanprocesses.ticket_of(ScanProcess.objects.get()).document_parameters
    assert dp is not None and dp.media_sides is not None and dp.media_sides.back is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"t-back_region_height": ""}, "a scan region needs a width and a height"),
        ({"t-back_region_width": "-5"}, "greater than or equal to 0"),
        ({"t-back_resolution": "333"}, "Select a valid choice"),
        ({"t-back_color": "Sepia"}, "Select a valid choice"),
        ({"t-back_resolution": "", "t-back_resolution_height": "300"}, "choose the horizontal resolution"),
        ({"t-back_region_x": ""}, "MustHonor needs a value"),
        ({"t-resolution": ""}, "MustHonor needs a value"),
    ],
)
def test_invalid_back_values_give_a_clear_error_and_write_nothing(
    admin: Client, overrides: dict[str, Any], message: str
) -> None:
    before = (ScanProcess.objects.count(), AuditEvent.objects.count())
    response = admin.post(reverse("process_create"), duplex_data(**overrides))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert (ScanProcess.objects.count(), AuditEvent.objects.count()) == before

    # Editing an existing process with the same mistake leaves its ticket as it was.
    p = ScanProcessFactory(display_name="Kept")
    kept = p.ticket_xml
    data = duplex_data(display_name="Kept", **overrides)
    assert admin.post(reverse("process_edit", args=[p.guid]), data).status_code == 400
    p.refresh_from_db()
    assert p.ticket_xml == kept


# --------------------------------------------------------------------------- drift


class _Directory:
    def __init__(self, real: Any, groups: frozenset[str] | None = None, down: bool = False) -> None:
        self.real, self.groups, self.down = real, groups, down

    def read_published(self, guid: str) -> Any:
        from directory.base import DirectoryError, PublishedCopy

        if self.down:
            raise DirectoryError("ldap://dc1.example.test:389 refused the connection")
        copy = self.real.read_published(guid)
        return PublishedCopy(copy.psp_xml, copy.display_name, self.groups or copy.allowed_groups)


def test_drift_compares_group_identifiers_normalized(monkeypatch: pytest.MonkeyPatch) -> None:
    from directory import backends as directory

    dn = "cn=Scan Staff,ou=Groups,dc=example,dc=test"
    GroupFactory(name=dn)
    p = ScanProcessFactory(display_name="Normalized", allowed_groups=[dn])
    scanprocesses.publish(p, "admin")
    p.refresh_from_db()
    real = directory.get_directory()
    as_ad_says = frozenset({"CN=scan staff, OU=groups, DC=EXAMPLE, DC=test"})
    monkeypatch.setattr(directory, "get_directory", lambda: _Directory(real, as_ad_says))
    assert scanprocesses.drift(p).status == "in_sync"
    other = frozenset({"CN=Other Staff,OU=Groups,DC=example,DC=test"})
    monkeypatch.setattr(directory, "get_directory", lambda: _Directory(real, other))
    result = scanprocesses.drift(p)
    assert result.status == "changed" and "allowed groups" in result.message


def test_directory_down_is_reported_on_the_detail_page_not_a_500(
    admin: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from directory import backends as directory

    p = ScanProcessFactory(display_name="Unreachable")
    scanprocesses.publish(p, "admin")
    p.refresh_from_db()
    monkeypatch.setattr(directory, "get_directory", lambda: _Directory(None, down=True))
    result = scanprocesses.drift(p)
    assert result.status == "unreachable" and not result.drifted
    response = admin.get(reverse("process_detail", args=[p.guid]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Directory unreachable" in page and "refused the connection" in page
    assert "The directory differs" not in page
    adopt = admin.post(reverse("process_adopt_directory", args=[p.guid]), follow=True)
    assert adopt.status_code == 200 and "Directory unreachable" in adopt.content.decode()


def test_edit_page_carries_uncovered_flags_in_a_hidden_field(admin: Client) -> None:
    ticket = rich_ticket(media_sides=None)
    assert ticket.document_parameters is not None
    flagged = tk.ScanTicket(
        ticket.job_description, ticket.document_parameters.with_flag("InputSize", must_honor=True)
    )
    p = ScanProcessFactory(display_name="Imported", ticket_xml=scanprocesses.ticket_to_xml(flagged))
    page = admin.get(reverse("process_edit", args=[p.guid])).content.decode()
    assert 'type="hidden" name="t-kept_flags"' in page and "InputSize" in page
