"""scanprocesses.authoring: model ⇄ PSP, import, publish/unpublish (embedded directory), versions, rollback,
diff, drift, delete/archive, clone — each change audited, failures leave nothing half-done."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from core import secretbox
from devices.protocols import psp
from devices.protocols.namespaces import ODSM, PSP
from scanprocesses import authoring as scanprocesses
from tests.factories import (
    AuditEvent,
    ProcessDestination,
    ProcessState,
    ScanJobFactory,
    ScanProcess,
    ScanProcessFactory,
    ScanProcessVersion,
)

pytestmark = pytest.mark.django_db

ALL_KINDS: list[tuple[str, dict[str, Any]]] = [
    ("smb", {"uncs": ["\\\\files\\scans", "\\\\backup\\scans"]}),
    ("webdav", {"site_urls": ["https://sp.example.test/sites/docs"], "my_site": True}),
    ("email", {"addresses": ["a@example.test"], "send_to_scan_user": True, "can_add_addresses": True}),
    ("folder", {"path": "/srv/scans"}),
    ("http", {"url": "https://hooks.example.test/scan"}),
]


def with_secrets(p: ScanProcess) -> None:
    for d in p.destinations.all():
        if d.kind in ("smb", "webdav", "http"):
            d.username = "svc" if d.kind != "http" else ""
            d.secret = secretbox.seal("TopSecret-%s" % d.kind)
            d.save()


def test_to_psp_maps_every_destination_kind_and_keeps_secrets_out() -> None:
    p = ScanProcessFactory(
        display_name="All kinds", destinations=ALL_KINDS, locked_settings=["Format", "Resolution"], ocr=True
    )
    with_secrets(p)
    xml = scanprocesses.psp_xml(p)
    assert b"TopSecret" not in xml and b"fernet:" not in xml and b"svc" not in xml
    parsed = psp.from_xml(xml)
    assert parsed.scan_repository == "all-kinds.example.test"
    dialects = [flt.dialect for flt in parsed.instructions.filters]
    assert dialects == [
        psp.DIALECT_FILESHARE,
        psp.DIALECT_SHAREPOINT,
        psp.DIALECT_EMAIL,
        "urn:opendsm:2026:filter/folder",
        "urn:opendsm:2026:filter/http",
    ]
    first = parsed.instructions.filters[0]
    assert isinstance(first, psp.Filter) and isinstance(first.instructions, psp.FileShareConfig)
    assert first.instructions.share_uncs == ("\\\\files\\scans", "\\\\backup\\scans")
    assert parsed.locked_settings == {"Format", "Resolution"}
    root = etree.fromstring(xml)
    assert root.find(".//{%s}LockedSettings" % ODSM) is not None
    http = root.findall(".//{%s}Filter" % PSP)[4]
    assert http.find(".//{%s}URL" % ODSM).text == "https://hooks.example.test/scan"
    assert http.find(".//{%s}Authorization" % ODSM).text == "bearer"
    # canonical: building twice gives the same bytes, and parse→build is stable
    assert psp.to_xml(psp.from_xml(xml)) == xml == scanprocesses.psp_xml(p)


def test_psp_needs_a_server_and_a_destination() -> None:
    p = ScanProcessFactory(display_name="No server", scan_server=None)
    with pytest.raises(scanprocesses.ProcessError, match="scan server"):
        scanprocesses.psp_xml(p)
    q = ScanProcessFactory(display_name="No dest", destinations=[])
    with pytest.raises(scanprocesses.ProcessError, match="destination"):
        scanprocesses.psp_xml(q)


def test_export_then_import_reproduces_the_same_psp() -> None:
    p = ScanProcessFactory(
        display_name="Roundtrip",
        destinations=ALL_KINDS,
        locked_settings=["InputSource"],
        naming_template="{user}-{seq}",
    )
    xml = scanprocesses.psp_xml(p)
    copy, warnings = scanprocesses.import_process(xml, "admin", "Roundtrip copy")
    assert copy.state == ProcessState.DRAFT and copy.guid != p.guid
    assert copy.scan_server == p.scan_server
    assert copy.naming_template == "{user}-{seq}"
    assert scanprocesses.psp_xml(copy) == xml
    assert any("credentials" in w for w in warnings)
    assert AuditEvent.objects.filter(action="import", object_id=str(copy.pk)).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><x>&b;</x>', "refused"),
        (b"<psp:PostScanProcess xmlns:psp='%s'><psp:Scan" % PSP.encode(), "refused"),
        (b"<notapsp/>", "not a valid scan process"),
        (b"<a>" + b"x" * (4 * psp.MAX_PSP_CHARS + 10) + b"</a>", "over the limit"),
        (b"<a>" * 5000 + b"</a>" * 5000, "refused"),
    ],
)
def test_hostile_imports_are_refused_and_nothing_is_written(data: bytes, message: str) -> None:
    before = (ScanProcess.objects.count(), AuditEvent.objects.count())
    with pytest.raises(scanprocesses.ImportRefused, match=message):
        scanprocesses.import_process(data, "admin", "Hostile")
    assert (ScanProcess.objects.count(), AuditEvent.objects.count()) == before


def test_import_refuses_an_unsafe_naming_template_by_replacing_it() -> None:
    p = ScanProcessFactory(display_name="Template", naming_template="{root}-{seq}")
    xml = scanprocesses.psp_xml(p).replace(b"{root}-{seq}", b"../{root.__class__}")
    imported = scanprocesses.from_psp(xml)
    assert imported.process.naming_template == ScanProcess._meta.get_field("naming_template").default
    assert any("unsafe" in w for w in imported.warnings)


def test_publish_creates_immutable_versions_in_the_embedded_directory() -> None:
    from directory.backends import get_directory

    p = ScanProcessFactory(display_name="Publish me")
    v1 = scanprocesses.publish(p, "admin", "first")
    p.refresh_from_db()
    assert (v1.number, p.state, p.published_version) == (1, ProcessState.PUBLISHED, v1)
    copy = get_directory().read_published(str(p.guid))
    assert copy is not None and copy.psp_xml == v1.psp_xml == scanprocesses.psp_xml(p).decode()
    with pytest.raises(Exception, match="immutable"):
        v1.comment = "changed"
        v1.save()
    p.document_root_name = "Renamed"
    p.save()
    assert scanprocesses.has_unpublished_changes(p)
    v2 = scanprocesses.publish(p, "admin", "second")
    assert v2.number == 2
    lines = scanprocesses.diff(v1, v2)
    assert any(line.kind == "del" and "Publish me</psp:DocumentRootName>" in line.text for line in lines)
    assert any(line.kind == "add" and "Renamed</psp:DocumentRootName>" in line.text for line in lines)
    assert scanprocesses.diff(v2, v2) == []
    actions = list(AuditEvent.objects.filter(object_id=str(p.pk)).values_list("action", flat=True))
    assert actions.count("publish") == 2


def test_publish_error_leaves_no_version_and_no_state_change(monkeypatch: pytest.MonkeyPatch) -> None:
    from directory import backends as directory
    from directory.base import PSPObject, PublishError

    class Refusing:
        def publish(self, obj: PSPObject) -> None:
            raise PublishError("the directory is read-only today")

    p = ScanProcessFactory(display_name="Refused")
    monkeypatch.setattr(directory, "get_directory", lambda: Refusing())
    with pytest.raises(scanprocesses.ProcessError, match="read-only today"):
        scanprocesses.publish(p, "admin", "nope")
    p.refresh_from_db()
    assert p.state == ProcessState.DRAFT and p.published_version is None
    assert not ScanProcessVersion.objects.filter(process=p).exists()
    assert not AuditEvent.objects.filter(action="publish").exists()


def test_publish_refuses_unknown_allowed_groups_in_the_embedded_directory() -> None:
    p = ScanProcessFactory(display_name="Groups", allowed_groups=["no-such-group"])
    with pytest.raises(scanprocesses.ProcessError, match="no-such-group"):
        scanprocesses.publish(p, "admin")
    assert not p.versions.exists()


def test_unpublish_and_archive() -> None:
    from directory.backends import get_directory

    p = ScanProcessFactory(display_name="Lifecycle")
    scanprocesses.publish(p, "admin")
    scanprocesses.unpublish(p, "admin", "holiday")
    p.refresh_from_db()
    assert p.state == ProcessState.UNPUBLISHED
    assert get_directory().read_published(str(p.guid)) is None
    scanprocesses.publish(p, "admin")
    p.refresh_from_db()
    scanprocesses.archive(p, "admin")
    p.refresh_from_db()
    assert p.state == ProcessState.ARCHIVED
    assert get_directory().read_published(str(p.guid)) is None
    with pytest.raises(scanprocesses.ProcessError, match="archived"):
        scanprocesses.publish(p, "admin")
    scanprocesses.restore(p, "admin")
    p.refresh_from_db()
    assert p.state == ProcessState.UNPUBLISHED
    actions = set(AuditEvent.objects.filter(object_id=str(p.pk)).values_list("action", flat=True))
    assert {"publish", "unpublish", "archive", "restore"} <= actions


def test_the_process_state_changes_only_through_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each transition runs after the directory wrote (or removed) its copy, and finds the row as
    the previous transition left it: the directory never wrote the process's state itself."""
    from directory.models import PublishedPSP

    seen: list[tuple[str, str, bool]] = []
    move = ScanProcess._move

    def recording(self: ScanProcess, to: str, **fields: Any) -> None:
        stored = ScanProcess.objects.get(pk=self.pk)
        copied = PublishedPSP.objects.filter(guid=self.guid).exists()
        seen.append((stored.state, to, copied))
        move(self, to, **fields)

    monkeypatch.setattr(ScanProcess, "_move", recording)
    p = ScanProcessFactory(display_name="Only the model")
    v1 = scanprocesses.publish(p, "admin")
    stored = ScanProcess.objects.get(pk=p.pk)
    assert (stored.state, stored.published_version) == (ProcessState.PUBLISHED, v1)
    scanprocesses.unpublish(p, "admin")
    scanprocesses.publish(p, "admin")
    p.refresh_from_db()
    scanprocesses.archive(p, "admin")
    assert seen == [
        ("draft", "published", True),
        ("published", "unpublished", False),
        ("unpublished", "published", True),
        ("published", "archived", False),
    ]


def test_the_embedded_directory_keeps_its_own_copy() -> None:
    from directory.models import PublishedPSP

    p = ScanProcessFactory(display_name="Own copy", allowed_groups=[])
    v1 = scanprocesses.publish(p, "admin")
    row = PublishedPSP.objects.get(guid=p.guid)
    assert (row.display_name, row.psp_xml, row.allowed_groups, row.server_name) == (
        "Own copy",
        v1.psp_xml,
        [],
        "own-copy.example.test",
    )
    scanprocesses.unpublish(p, "admin")
    assert not PublishedPSP.objects.filter(guid=p.guid).exists()
    scanprocesses.publish(p, "admin")
    p.refresh_from_db()
    pk = p.pk
    scanprocesses.delete(p, "admin")
    assert not PublishedPSP.objects.filter(guid=p.guid).exists()
    assert not ScanProcess.objects.filter(pk=pk).exists()


def test_psp_object_is_the_version_as_published() -> None:
    p = ScanProcessFactory(display_name="As published")
    v1 = scanprocesses.publish(p, "admin")
    p.refresh_from_db()
    p.display_name = "Renamed draft"
    p.save()
    obj = scanprocesses.psp_object(p, v1)
    assert (obj.guid, obj.display_name, obj.psp_xml, obj.version) == (
        str(p.guid),
        "As published",
        v1.psp_xml,
        1,
    )
    assert obj.allowed_groups == tuple(v1.settings_snapshot["allowed_groups"])
    assert obj.server_name == p.scan_server.fqdn
    # A version that recorded no settings takes the process's own.
    bare = ScanProcessVersion.objects.create(process=p, number=2, psp_xml=v1.psp_xml)
    assert scanprocesses.psp_object(p, bare).display_name == "Renamed draft"
    other = ScanProcessFactory(display_name="Other")
    with pytest.raises(scanprocesses.ProcessError, match="another process"):
        scanprocesses.psp_object(other, v1)


def test_delete_is_refused_while_jobs_reference_the_process() -> None:
    p = ScanProcessFactory(display_name="Used")
    ScanJobFactory(process=p)
    with pytest.raises(scanprocesses.ProcessInUse, match="archive"):
        scanprocesses.delete(p, "admin")
    assert ScanProcess.objects.filter(pk=p.pk).exists()
    q = ScanProcessFactory(display_name="Unused")
    pk = q.pk
    scanprocesses.delete(q, "admin")
    assert not ScanProcess.objects.filter(pk=pk).exists()
    assert AuditEvent.objects.get(action="delete").object_id == str(pk)


def test_rollback_restores_fields_destinations_and_credentials() -> None:
    p = ScanProcessFactory(display_name="Rollback", destinations=ALL_KINDS[:1])
    with_secrets(p)
    sealed = p.destinations.get().secret
    v1 = scanprocesses.publish(p, "admin")
    specs = [scanprocesses.DestinationSpec("email", {"addresses": ["b@example.test"]})]
    p.document_root_name = "Changed"
    p.naming_template = "{user}-{seq}"
    scanprocesses.save_process(p, specs, [], "admin")
    scanprocesses.publish(p, "admin")
    scanprocesses.rollback(p, v1, "admin")
    p.refresh_from_db()
    assert (p.document_root_name, p.naming_template) == ("Rollback", v1.settings_snapshot["naming_template"])
    dest = p.destinations.get()
    assert (dest.kind, dest.secret) == ("smb", sealed)
    assert scanprocesses.psp_xml(p).decode() == v1.psp_xml
    assert p.state == ProcessState.PUBLISHED and scanprocesses.has_unpublished_changes(p)
    event = AuditEvent.objects.get(action="rollback")
    assert event.detail["version"] == 1 and "document_root_name" in event.detail["changes"]


def test_edit_audit_shows_field_diff_but_never_secrets() -> None:
    p = ScanProcessFactory(display_name="Audited", destinations=ALL_KINDS[:1])
    existing = p.destinations.get()
    spec = scanprocesses.DestinationSpec(
        "smb", {"uncs": ["\\\\files\\other"]}, "svc", password="Hunter2-secret", existing_id=existing.pk
    )
    p.document_root_name = "New root"
    scanprocesses.save_process(p, [spec], [], "admin")
    event = AuditEvent.objects.get(action="edit")
    text = str(event.detail)
    assert "Hunter2-secret" not in text and "fernet:" not in text
    assert event.detail["changes"]["document_root_name"] == ["Audited", "New root"]
    assert event.detail["changes"]["secret"] == ["(changed)", "(changed)"]
    assert secretbox.unseal(p.destinations.get().secret) == "Hunter2-secret"
    # blank password keeps the stored credential
    keep = scanprocesses.DestinationSpec(
        "smb", {"uncs": ["\\\\files\\other"]}, "svc", existing_id=p.destinations.get().pk
    )
    scanprocesses.save_process(p, [keep], [], "admin")
    assert secretbox.unseal(p.destinations.get().secret) == "Hunter2-secret"


def test_save_refuses_unsafe_naming_templates_and_writes_nothing() -> None:
    p = ScanProcessFactory(display_name="Unsafe")
    p.naming_template = "../../{user}"
    with pytest.raises(scanprocesses.ProcessError, match="naming template"):
        scanprocesses.save_process(p, [], [], "admin")
    p.refresh_from_db()
    assert p.naming_template != "../../{user}"
    assert not AuditEvent.objects.filter(action="edit").exists()


def test_clone_copies_settings_and_sealed_credentials_as_a_draft() -> None:
    p = ScanProcessFactory(display_name="Original", destinations=ALL_KINDS)
    with_secrets(p)
    scanprocesses.publish(p, "admin")
    copy = scanprocesses.clone(p, "admin")
    assert copy.display_name == "Copy of Original" and copy.state == ProcessState.DRAFT
    assert [d.kind for d in copy.destinations.all()] == [k for k, _ in ALL_KINDS]
    assert [d.secret for d in copy.destinations.all()] == [d.secret for d in p.destinations.all()]
    assert scanprocesses.clone(p, "admin").display_name == "Copy of Original (2)"


def test_drift_detects_a_changed_or_missing_directory_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    from directory import backends as directory
    from directory.base import PublishedCopy

    p = ScanProcessFactory(display_name="Drifty")
    v1 = scanprocesses.publish(p, "admin")
    p.refresh_from_db()
    assert scanprocesses.drift(p).status == "in_sync"

    real = directory.get_directory()
    tampered = v1.psp_xml.replace("Drifty</psp:DocumentRootName>", "Tampered</psp:DocumentRootName>")

    class Drifted:
        def read_published(self, guid: str) -> Any:
            copy = real.read_published(guid)
            return PublishedCopy(tampered, copy.display_name, copy.allowed_groups)

    monkeypatch.setattr(directory, "get_directory", lambda: Drifted())
    result = scanprocesses.drift(p)
    assert result.status == "changed" and result.drifted
    assert any("Tampered" in line.text for line in result.lines)

    class Empty:
        def read_published(self, guid: str) -> Any:
            return None

    monkeypatch.setattr(directory, "get_directory", lambda: Empty())
    assert scanprocesses.drift(p).status == "missing"


def test_adopt_takes_the_directory_copy_as_an_edit() -> None:
    p = ScanProcessFactory(display_name="Adopt", destinations=ALL_KINDS[:1])
    with_secrets(p)
    sealed = p.destinations.get().secret
    v1 = scanprocesses.publish(p, "admin")
    tampered = v1.psp_xml.replace("Adopt</psp:DocumentRootName>", "FromDirectory</psp:DocumentRootName>")
    scanprocesses.adopt(p, tampered, "admin")
    p.refresh_from_db()
    assert p.document_root_name == "FromDirectory"
    assert p.destinations.get().secret == sealed


def test_published_instructions_match_the_version() -> None:
    p = ScanProcessFactory(display_name="Instr")
    v1 = scanprocesses.publish(p, "admin")
    instructions = scanprocesses.published_instructions(v1)
    assert instructions.document_root_name == "Instr"
    assert instructions.filters[0].dialect == psp.DIALECT_FILESHARE


def test_destination_rows_are_replaced_in_order() -> None:
    p = ScanProcessFactory(display_name="Order", destinations=ALL_KINDS[:2])
    specs = [
        scanprocesses.DestinationSpec("folder", {"path": "/srv/a"}),
        scanprocesses.DestinationSpec("email", {"addresses": ["x@example.test"]}),
    ]
    scanprocesses.save_process(p, specs, [], "admin")
    assert list(ProcessDestination.objects.filter(process=p).values_list("kind", "position")) == [
        ("folder", 0),
        ("email", 1),
    ]
