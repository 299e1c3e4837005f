"""An existing installation upgrades with ``manage.py migrate`` and loses nothing.

The test database is taken back to today's schema (``OLD_LEAVES``), filled through the historical
models of that state with a realistic installation, then migrated forward to the latest migrations
with a new executor. Every row must come through with every field value, every foreign key and
many-to-many link must still point at the same rows (now in the models' new apps, ``LABELS``),
and the embedded directory's ``PUBLISHED_PSP`` table must hold the published process.
"""

from __future__ import annotations

import hashlib
import sys
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as live_apps
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.graph import MigrationGraph

# Where every model checked here lives today (key) and after the app move (value). Whoever lands
# the move's migrations adjusts names here, and only here.
LABELS: dict[str, str] = {
    "smc.AuditEvent": "core.AuditEvent",
    "smc.DirectoryIdentity": "directory.DirectoryIdentity",
    "scanserver.ScanServer": "devices.ScanServer",
    "smc.ScanProcess": "scanprocesses.ScanProcess",
    "smc.ScanProcessVersion": "scanprocesses.ScanProcessVersion",
    "smc.ProcessDestination": "scanprocesses.ProcessDestination",
    "devices.Device": "devices.Device",
    "devices.DeviceGroup": "devices.DeviceGroup",
    "devices.Subscription": "devices.Subscription",
    "devices.DeviceEvent": "devices.DeviceEvent",
    "scanserver.ScanJob": "scanserver.ScanJob",
    "scanserver.ScanPage": "scanserver.ScanPage",
    "scanserver.OutputDocument": "scanserver.OutputDocument",
    "scanserver.Delivery": "scanserver.Delivery",
    "auth.User": "auth.User",
}
# New with the move: the embedded directory's copy of each published process, filled by its migration.
PUBLISHED_PSP = "directory.PublishedPSP"

# Today's schema: the leaf migration of each of the project's apps before the move.
OLD_LEAVES: list[tuple[str, str]] = [
    ("smc", "0001_initial"),
    ("devices", "0005_device_credential_indexes"),
    ("scanserver", "0003_delivery_destination_job_warnings"),
]

ModelOf = Callable[[str], Any]


def at(day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, micro, tzinfo=UTC)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


SERVER_HQ = uuid.UUID("6f1c0d3e-2b7a-4c39-9a51-3e8f0c4d2a10")
SERVER_BRANCH = uuid.UUID("0b9e4a77-5d21-4f0e-8c3a-7a6d1e2f9b04")
INVOICES = uuid.UUID("3d2f6a1b-9c84-4e57-b0a3-58e1c7d9f260")
CONTRACTS = uuid.UUID("a41e7c09-63d2-4b8f-9e15-0c7b2d4f8a93")
ONBOARDING = uuid.UUID("c8b05d3f-1e6a-47c2-a9d4-2f3e6b8c0d17")
JOB_PUSH = uuid.UUID("11111111-2222-4333-8444-555555555501")
JOB_PULL = uuid.UUID("11111111-2222-4333-8444-555555555502")
JOB_ABORTED = uuid.UUID("11111111-2222-4333-8444-555555555503")
ALICE_SID = "S-1-5-21-1004336348-1177238915-682003330-1103"
INVOICE_GROUPS = [
    "cn=finance,ou=groups,dc=example,dc=test",
    "cn=opendsm-operators,ou=groups,dc=example,dc=test",
]


def psp_xml(guid: uuid.UUID, name: str, number: int) -> str:
    return (
        '<psp:PostScanProcess xmlns:psp="http://schemas.microsoft.com/windows/2008/02/imaging/postscan/psp">'
        "<psp:PostScanProcessIdentifier>%s</psp:PostScanProcessIdentifier>"
        "<psp:DisplayName>%s</psp:DisplayName><psp:Version>%d</psp:Version>"
        "</psp:PostScanProcess>" % (guid, name, number)
    )


# --------------------------------------------------------------------------------- migrations


def _under(path: str, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(root.resolve())


def project_apps() -> set[str]:
    """Labels of the project's own apps (packages of this repository, not of the environment)."""
    base = Path(settings.BASE_DIR)
    environment = {Path(sys.prefix), Path(sys.base_prefix)}
    return {
        config.label
        for config in live_apps.get_app_configs()
        if _under(config.path, base) and not any(_under(config.path, root) for root in environment)
    }


def today_targets(graph: MigrationGraph) -> list[tuple[str, str]]:
    """Today's leaves: the project's apps as ``OLD_LEAVES`` lists them, every other app's (Django's
    own) at its latest."""
    ours = project_apps()
    return OLD_LEAVES + sorted(leaf for leaf in graph.leaf_nodes() if leaf[0] not in ours)


def migrate_to_today() -> Any:
    """Take the database back to today's schema; return that state's historical apps.

    ``executor.migrate(OLD_LEAVES)`` alone would not do: it only unapplies later migrations *of
    the same apps*, and the move's first migrations in the new apps (which the old apps' later
    migrations depend on) would stay applied, their data migrations never to run again. So every
    applied migration that is not part of today's schema is unapplied, dependents first.
    """
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    for node in OLD_LEAVES:
        assert node in graph.nodes, "today's leaf %s.%s is not in the migration graph" % node
    targets = today_targets(graph)
    today = set().union(*(graph.forwards_plan(target) for target in targets))
    applied = {node for node in executor.loader.applied_migrations if node in graph.nodes}
    backwards: list[tuple[str, str]] = []
    for node in sorted(applied - today):
        for dependent in graph.backwards_plan(node):
            if dependent in applied and dependent not in backwards:
                backwards.append(dependent)
    if backwards:
        executor.migrate(targets, plan=[(graph.nodes[node], True) for node in backwards])
    executor = MigrationExecutor(connection)
    executor.migrate(targets)  # whatever of today's schema is missing (nothing, normally)
    executor = MigrationExecutor(connection)
    now_applied = {node for node in executor.loader.applied_migrations if node in graph.nodes}
    assert now_applied == today, "not at today's schema: %s" % sorted(now_applied ^ today)
    return executor.loader.project_state(targets).apps


def migrate_to_latest() -> Any:
    """``manage.py migrate``: a new executor, the graph as the code has it, every leaf."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(leaves)
    assert MigrationExecutor(connection).migration_plan(leaves) == [], "unapplied migrations remain"
    return executor.loader.project_state(leaves).apps


# ------------------------------------------------------------------------- today's installation


def build_installation(old: ModelOf) -> None:
    """A realistic installation, written through today's historical models."""
    ScanServer = old("scanserver.ScanServer")
    hq = ScanServer.objects.create(
        guid=SERVER_HQ,
        name="scan-hq",
        fqdn="scan-hq.example.test",
        port=5362,
        use_tls=True,
        enabled=True,
        description="Head office scan server",
        last_seen=at(2, 8, 59, 58, 123456),
        state="Idle",
    )
    branch = ScanServer.objects.create(
        guid=SERVER_BRANCH,
        name="scan-branch",
        fqdn="scan-branch.example.test",
        port=15362,
        use_tls=False,
        enabled=False,
        description="",
        last_seen=None,
        state="Stopped",
    )

    DeviceGroup = old("devices.DeviceGroup")
    finance = DeviceGroup.objects.create(name="Finance", description="3rd floor, accounts payable")
    reception = DeviceGroup.objects.create(name="Reception", description="")
    warehouse = DeviceGroup.objects.create(name="Warehouse", description="Dock 4 — Überseestraße")

    Device = old("devices.Device")
    common: dict[str, Any] = dict(
        manufacturer="Example Corp", model_name="MFP 5000", firmware_version="2.4.1"
    )
    mfp_finance = Device.objects.create(
        endpoint_reference="urn:uuid:5b1e9a6c-0d4f-4a8e-b3c2-7e9f1a2d3c01",
        name="mfp-finance-1",
        xaddrs=["https://mfp-finance-1.example.test:5358/wsd"],
        scan_service_url="https://mfp-finance-1.example.test:5358/wsd/scan",
        serial_number="EX5000-0001",
        location="3rd floor",
        capabilities_xml="<wscn:ScannerConfiguration>finance</wscn:ScannerConfiguration>",
        capabilities={"adf": True, "duplex": True, "resolutions": [200, 300, 600]},
        state="Idle",
        state_reasons=["None"],
        last_seen=at(2, 9, 1, 2, 345678),
        group=finance,
        scan_server=hq,
        enabled=True,
        enrolled_at=at(1, 10),
        token_hash=sha("token mfp-finance-1"),
        certificate_sha256=sha("certificate mfp-finance-1"),
        **common,
    )
    mfp_reception = Device.objects.create(
        endpoint_reference="urn:uuid:5b1e9a6c-0d4f-4a8e-b3c2-7e9f1a2d3c02",
        name="mfp-reception",
        xaddrs=["https://mfp-reception.example.test:5358/wsd", "http://[2001:db8::12]:5357/wsd"],
        scan_service_url="https://mfp-reception.example.test:5358/wsd/scan",
        serial_number="EX5000-0002",
        location="Ground floor",
        capabilities={"adf": False, "platen": True},
        state="Processing",
        state_reasons=["MediaJam"],
        last_seen=at(2, 9, 2),
        group=reception,
        scan_server=hq,
        enabled=True,
        enrolled_at=at(1, 10, 30),
        token_hash=sha("token mfp-reception"),
        certificate_sha256=sha("certificate mfp-reception"),
        **common,
    )
    Device.objects.create(
        endpoint_reference="urn:uuid:5b1e9a6c-0d4f-4a8e-b3c2-7e9f1a2d3c03",
        name="mfp-dock",
        xaddrs=[],
        group=warehouse,
        scan_server=branch,
        state="offline",
        enabled=False,
        enrolled_at=at(1, 11),
        token_hash=sha("token mfp-dock"),
        certificate_sha256="",
    )
    Device.objects.create(  # discovered, not enrolled yet: no group, no server, no credentials
        endpoint_reference="urn:uuid:5b1e9a6c-0d4f-4a8e-b3c2-7e9f1a2d3c04",
        name="unknown printer",
        state="unknown",
        enrolled_at=at(1, 12),
    )

    Subscription = old("devices.Subscription")
    Subscription.objects.create(
        device=mfp_finance,
        kind="status",
        identifier="uuid:7d0c1f2e-3a4b-4c5d-8e6f-708192a3b4c5",
        manager_url="https://mfp-finance-1.example.test:5358/wsd/subscriptions",
        expires_at=at(3, 9),
        destinations=[],
        sink_key="k" * 64,
        created_at=at(2, 9),
        last_error="",
    )
    Subscription.objects.create(
        device=mfp_reception,
        kind="scan_available",
        identifier="uuid:7d0c1f2e-3a4b-4c5d-8e6f-708192a3b4c6",
        manager_url="https://mfp-reception.example.test:5358/wsd/subscriptions",
        expires_at=at(3, 9, 30),
        destinations=[
            {
                "client_context": "ctx-1",
                "display_name": "Invoices",
                "token": "tok-1",
                "process": str(INVOICES),
            }
        ],
        sink_key="s" * 64,
        created_at=at(2, 9, 30),
        last_error="Renew refused: subscription expired",
    )

    DeviceEvent = old("devices.DeviceEvent")
    DeviceEvent.objects.create(
        device=mfp_finance, peer="", at=at(2, 9, 5), kind="state", detail={"from": "Processing", "to": "Idle"}
    )
    DeviceEvent.objects.create(
        device=mfp_reception, peer="", at=at(2, 9, 6), kind="jam", detail={"reasons": ["MediaJam"]}
    )
    DeviceEvent.objects.create(
        device=None, peer="198.51.100.23", at=at(2, 9, 7), kind="unknown_caller", detail={"path": "/dsp"}
    )

    User = old("auth.User")
    alice = User.objects.create(
        username="alice",
        email="alice@example.test",
        first_name="Alice",
        last_name="Åberg",
        password="md5$salt$0123456789abcdef0123456789abcdef",
        is_staff=True,
        is_active=True,
        date_joined=at(1, 9),
        last_login=at(2, 8, 30),
    )
    User.objects.create(username="bob", email="", password="!unusable", date_joined=at(1, 9, 5))
    old("smc.DirectoryIdentity").objects.create(
        user=alice, sid=ALICE_SID, dn="uid=alice,ou=people,dc=example,dc=test"
    )

    ScanProcess = old("smc.ScanProcess")
    Version = old("smc.ScanProcessVersion")
    Destination = old("smc.ProcessDestination")

    def process(guid: uuid.UUID, name: str, server: Any, groups: list[Any], **fields: Any) -> Any:
        p = ScanProcess.objects.create(
            guid=guid,
            display_name=name,
            ticket_xml="<wscn:ScanTicket><wscn:JobDescription><wscn:JobName>%s</wscn:JobName>"
            "</wscn:JobDescription></wscn:ScanTicket>" % name,
            scan_server=server,
            created_at=at(1, 14),
            **fields,
        )
        p.allowed_device_groups.set(groups)
        return p

    def versions(p: Any) -> list[Any]:
        return [
            Version.objects.create(
                process=p,
                number=number,
                psp_xml=psp_xml(p.guid, p.display_name, number),
                settings_snapshot={"display_name": p.display_name, "ocr": p.ocr, "number": number},
                created_by="alice",
                created_at=at(1 + number, 15),
                comment="version %d of %s" % (number, p.display_name),
            )
            for number in (1, 2)
        ]

    invoices = process(
        INVOICES,
        "Invoices",
        hq,
        [finance, reception],
        description="Supplier invoices to AP",
        document_root_name="Invoice",
        continue_on_error=False,
        naming_template="{root}-{user}-{date:%Y%m%d}-{seq}",
        output_format="pdfa",
        ocr=True,
        allow_device_file_name_change=True,
        allow_device_file_path_change=False,
        locked_settings=["ColorProcessing", "Resolution"],
        allowed_groups=INVOICE_GROUPS,
        state="draft",
        created_by="alice",
    )
    contracts = process(
        CONTRACTS,
        "Contracts",
        hq,
        [reception],
        document_root_name="Contract",
        output_format="tiff",
        allowed_groups=["cn=legal,ou=groups,dc=example,dc=test"],
        state="draft",
        created_by="alice",
    )
    onboarding = process(
        ONBOARDING,
        "HR Onboarding",
        branch,
        [warehouse],
        allowed_groups=["HR"],
        state="draft",
        created_by="bob",
    )
    invoice_v1, invoice_v2 = versions(invoices)
    contract_v1, contract_v2 = versions(contracts)
    versions(onboarding)  # never published: whatever versions it has, it is no directory entry
    # Published, with its newest version; unpublished, keeping the version it had (as
    # ScanProcess.mark_unpublished does): only the state says what is in the directory.
    ScanProcess.objects.filter(pk=invoices.pk).update(state="published", published_version=invoice_v2)
    ScanProcess.objects.filter(pk=contracts.pk).update(state="unpublished", published_version=contract_v2)

    smb = Destination.objects.create(
        process=invoices,
        kind="smb",
        position=0,
        config={"uncs": ["\\\\files.example.test\\invoices\\incoming"]},
        username="EXAMPLE\\svc-scan",
        secret="sealed:v1:Zm9vYmFyYmF6",
    )
    mail = Destination.objects.create(
        process=invoices,
        kind="email",
        position=1,
        config={"to": ["ap@example.test"], "subject": "Scanned invoice {name}"},
        username="",
        secret="",
    )
    webdav = Destination.objects.create(
        process=contracts,
        kind="webdav",
        position=0,
        config={"url": "https://sharepoint.example.test/sites/legal/Shared Documents"},
        username="svc-legal@example.test",
        secret="sealed:v1:cXV4cXV1eA==",
    )
    Destination.objects.create(
        process=onboarding, kind="folder", position=0, config={"path": "/srv/scans/hr"}
    )

    Job = old("scanserver.ScanJob")
    Page = old("scanserver.ScanPage")
    Output = old("scanserver.OutputDocument")
    Delivery = old("scanserver.Delivery")
    push = Job.objects.create(
        token=JOB_PUSH,
        source="dsp",
        server=hq,
        device=mfp_finance,
        user_sid=ALICE_SID,
        user_name="alice",
        process=invoices,
        process_version=invoice_v2,
        psp_identifier=str(INVOICES),
        psp_display_name="Invoices",
        instructions_xml="<psp:PostScanInstructions>push</psp:PostScanInstructions>",
        document_root_name="Invoice",
        state="completed",
        state_reasons=[],
        images_received=2,
        created_at=at(2, 10, 0, 0, 1),
        last_activity_at=at(2, 10, 0, 30),
        ended_at=at(2, 10, 0, 20),
        completed_at=at(2, 10, 0, 31),
        error="",
        warnings=["OCR unavailable: a plain PDF was delivered"],
    )
    pull = Job.objects.create(
        token=JOB_PULL,
        source="wsd",
        server=hq,
        device=mfp_reception,
        user_sid="",
        user_name="",
        process=invoices,
        process_version=invoice_v1,
        psp_identifier=str(INVOICES),
        psp_display_name="Invoices",
        instructions_xml="",
        document_root_name="Invoice",
        state="needs_attention",
        state_reasons=["DeliveryFailed"],
        images_received=1,
        created_at=at(2, 11),
        last_activity_at=at(2, 11, 5),
        ended_at=at(2, 11, 1),
        completed_at=None,
        error="delivery to the file share failed: STATUS_ACCESS_DENIED",
        warnings=["page 1 was rotated", "scanned at 200 dpi instead of 300"],
    )
    aborted = Job.objects.create(
        token=JOB_ABORTED,
        source="dsp",
        server=hq,
        device=mfp_reception,
        user_sid=ALICE_SID,
        user_name="alice",
        process=contracts,
        process_version=contract_v1,
        psp_identifier=str(CONTRACTS),
        psp_display_name="Contracts",
        state="aborted",
        images_received=1,
        created_at=at(2, 12),
        last_activity_at=at(2, 12, 10),
        error="the device stopped sending pages",
        warnings=[],
    )
    # Times from the job's place in this list, never its pk: sequences differ between databases.
    for n, (job, documents) in enumerate(((push, 2), (pull, 1), (aborted, 1)), start=1):
        for document in range(1, documents + 1):
            Page.objects.create(
                job=job,
                document_id=document,
                format="jfif",
                content_type="image/jpeg",
                spool_path="spool/%s/%d.jpg" % (job.token, document),
                sha256=sha("%s page %d" % (job.token, document)),
                size=123_456 + document,
                width=2480,
                height=3508 if document == 1 else None,
                received_at=at(2, 10 + n, document),
            )
    for n, job in enumerate((push, pull), start=1):
        Output.objects.create(
            job=job,
            name="Invoice-%s.pdf" % job.token,
            path="out/%s/Invoice.pdf" % job.token,
            content_type="application/pdf",
            sha256=sha("%s output" % job.token),
            size=9_876_543_210,
            pages=job.images_received,
            created_at=at(2, 13, n),
        )
    receipt = [
        {"name": "Invoice.pdf", "where": "\\\\files\\invoices", "size": 1, "sha256": "ab", "verified": True}
    ]
    deliveries: list[tuple[Any, Any, dict[str, Any]]] = [
        (push, smb, dict(state="delivered", attempts=1, receipt=receipt)),
        (push, mail, dict(state="delivered", attempts=2, last_error="421 try again later")),
        (
            pull,
            smb,
            dict(
                state="failed",
                attempts=5,
                next_attempt_at=at(2, 12),
                last_error="STATUS_ACCESS_DENIED",
                filter_state_reason="AccessDenied",
            ),
        ),
        (pull, mail, dict(state="pending", attempts=0, next_attempt_at=at(2, 11, 30))),
        (aborted, webdav, dict(state="canceled", attempts=0)),
        # planned from a destination since removed from the process: the link is gone already
        (aborted, None, dict(state="canceled", attempts=0, dialect="http://example.test/webhook")),
    ]
    for position, (job, destination, fields) in enumerate(deliveries):
        Delivery.objects.create(
            job=job,
            destination=destination,
            kind=destination.kind if destination else "http",
            target="target %d" % position,
            position=position,
            created_at=at(2, 14, position),
            **fields,
        )

    AuditEvent = old("smc.AuditEvent")
    for minute, (action, obj_type, obj, detail) in enumerate(
        [
            ("create", "scanprocess", invoices, {}),
            (
                "publish",
                "scanprocess",
                invoices,
                {"version": 2, "changes": {"state": ["draft", "published"]}},
            ),
            (
                "unpublish",
                "scanprocess",
                contracts,
                {"comment": "", "changes": {"state": ["published", "unpublished"]}},
            ),
            ("enroll", "device", mfp_finance, {"certificate": sha("certificate mfp-finance-1")[:16]}),
            ("edit", "devicegroup", warehouse, {"changes": {"description": ["", "Dock 4 — Überseestraße"]}}),
        ]
    ):
        AuditEvent.objects.create(
            at=at(2, 16, minute),
            actor="alice",
            action=action,
            object_type=obj_type,
            object_id=str(obj.pk),
            object_repr=getattr(obj, "display_name", None) or obj.name,
            detail=detail,
        )


# The rows build_installation writes: the snapshot must hold exactly these before the upgrade.
EXPECTED_COUNTS = {
    "smc.AuditEvent": 5,
    "smc.DirectoryIdentity": 1,
    "scanserver.ScanServer": 2,
    "smc.ScanProcess": 3,
    "smc.ScanProcessVersion": 6,
    "smc.ProcessDestination": 4,
    "devices.Device": 4,
    "devices.DeviceGroup": 3,
    "devices.Subscription": 2,
    "devices.DeviceEvent": 3,
    "scanserver.ScanJob": 3,
    "scanserver.ScanPage": 4,
    "scanserver.OutputDocument": 2,
    "scanserver.Delivery": 6,
    "auth.User": 2,
}


# ------------------------------------------------------------------------------------ snapshots


def rows(model: Any, fields: Iterable[Any]) -> dict[Any, dict[str, Any]]:
    """Every row of ``model``, keyed by primary key, with the values of ``fields`` (attnames)."""
    names = [field.attname for field in fields]
    pk = model._meta.pk.attname
    assert pk in names
    return {row[pk]: row for row in model.objects.values(*names)}


def m2m_links(model: Any, fields: Iterable[Any]) -> dict[str, set[tuple[Any, Any]]]:
    """Each many-to-many field's (row pk, related pk) pairs."""
    return {
        field.name: set(
            model.objects.filter(**{"%s__isnull" % field.name: False}).values_list("pk", field.name)
        )
        for field in fields
    }


def snapshot(old: ModelOf) -> dict[str, Any]:
    taken: dict[str, Any] = {}
    for label in LABELS:
        model = old(label)
        taken[label] = {
            "fields": list(model._meta.concrete_fields),
            "m2m": list(model._meta.local_many_to_many),
            "rows": rows(model, model._meta.concrete_fields),
            "links": m2m_links(model, model._meta.local_many_to_many),
        }
    return taken


def get_model(apps: Any, label: str) -> Any | None:
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def new_model_of(new_apps: Any) -> ModelOf:
    """The migrated state's model for an old label; it must be installed too, on the same table."""

    def model(old_label: str) -> Any:
        label = LABELS[old_label]
        found = get_model(new_apps, label)
        if found is None:
            pytest.fail(
                "%s (was %s) is not in the migrated state: have the move's migrations landed?"
                % (label, old_label)
            )
        live = get_model(live_apps, label)
        if live is None:
            pytest.fail("%s is in the migrated state but no such model is installed" % label)
        assert live._meta.db_table == found._meta.db_table, label
        return found

    return model


def check_every_row(before: dict[str, Any], new: ModelOf, new_apps: Any) -> None:
    """Each old row, field by field, and each old link, at the same primary keys."""
    for old_label, taken in before.items():
        new_label = LABELS[old_label]
        model = new(old_label)
        if new_label != old_label:  # moved, not copied: one model per table
            assert get_model(new_apps, old_label) is None, "%s is still in the migrated state" % old_label
        fields = same_fields(old_label, model, taken["fields"])
        m2m = same_fields(old_label, model, taken["m2m"])
        lost = differences(taken["rows"], rows(model, fields))
        assert not lost, "%s after the upgrade:\n  %s" % (new_label, "\n  ".join(lost))
        after = m2m_links(model, m2m)
        for name, pairs in taken["links"].items():
            assert after[name] == pairs, "%s.%s: lost %s, gained %s" % (
                new_label,
                name,
                sorted(pairs - after[name]),
                sorted(after[name] - pairs),
            )


def differences(before: dict[Any, dict[str, Any]], after: dict[Any, dict[str, Any]]) -> list[str]:
    """What changed between two ``rows()``, one line per lost row, new row or changed value."""
    found = ["row %r is gone: %r" % (pk, before[pk]) for pk in before.keys() - after.keys()]
    found += ["row %r is new: %r" % (pk, after[pk]) for pk in after.keys() - before.keys()]
    for pk in before.keys() & after.keys():
        found += [
            "row %r: %s was %r, is %r" % (pk, name, value, after[pk][name])
            for name, value in before[pk].items()
            if after[pk][name] != value
        ]
    return sorted(found)


def same_fields(old_label: str, model: Any, old_fields: list[Any]) -> list[Any]:
    """The new model's fields of the old fields' names: same columns, relations to the same
    models (under their new labels; a model LABELS does not name stays where it was)."""
    fields = []
    for old_field in old_fields:
        field = model._meta.get_field(old_field.name)
        where = "%s.%s" % (old_label, old_field.name)
        assert (field.attname, field.column, field.many_to_many) == (
            old_field.attname,
            old_field.column,
            old_field.many_to_many,
        ), where
        if old_field.is_relation:
            target = old_field.related_model._meta.label
            assert field.related_model._meta.label == LABELS.get(target, target), where
        fields.append(field)
    return fields


def check_links(new: ModelOf) -> None:
    """The links followed through the new models, against the names they were written with."""
    jobs = new("scanserver.ScanJob").objects.all()
    assert {
        j.token: (
            j.source,
            j.process.guid,
            (j.process_version.process.display_name, j.process_version.number),
            j.server.name,
            j.device.name,
            j.warnings,
            j.error,
        )
        for j in jobs
    } == {
        JOB_PUSH: (
            "dsp",
            INVOICES,
            ("Invoices", 2),
            "scan-hq",
            "mfp-finance-1",
            ["OCR unavailable: a plain PDF was delivered"],
            "",
        ),
        JOB_PULL: (
            "wsd",
            INVOICES,
            ("Invoices", 1),
            "scan-hq",
            "mfp-reception",
            ["page 1 was rotated", "scanned at 200 dpi instead of 300"],
            "delivery to the file share failed: STATUS_ACCESS_DENIED",
        ),
        JOB_ABORTED: (
            "dsp",
            CONTRACTS,
            ("Contracts", 1),
            "scan-hq",
            "mfp-reception",
            [],
            "the device stopped sending pages",
        ),
    }
    assert sorted(
        (
            d.job.token,
            d.position,
            d.state,
            d.destination and (d.destination.process.display_name, d.destination.kind, d.destination.config),
        )
        for d in new("scanserver.Delivery").objects.all()
    ) == [
        (
            JOB_PUSH,
            0,
            "delivered",
            ("Invoices", "smb", {"uncs": ["\\\\files.example.test\\invoices\\incoming"]}),
        ),
        (
            JOB_PUSH,
            1,
            "delivered",
            ("Invoices", "email", {"to": ["ap@example.test"], "subject": "Scanned invoice {name}"}),
        ),
        (
            JOB_PULL,
            2,
            "failed",
            ("Invoices", "smb", {"uncs": ["\\\\files.example.test\\invoices\\incoming"]}),
        ),
        (
            JOB_PULL,
            3,
            "pending",
            ("Invoices", "email", {"to": ["ap@example.test"], "subject": "Scanned invoice {name}"}),
        ),
        (
            JOB_ABORTED,
            4,
            "canceled",
            ("Contracts", "webdav", {"url": "https://sharepoint.example.test/sites/legal/Shared Documents"}),
        ),
        (JOB_ABORTED, 5, "canceled", None),
    ]
    assert sorted(
        (d.process.display_name, d.position, d.kind, d.username, d.secret)
        for d in new("smc.ProcessDestination").objects.all()
    ) == [
        ("Contracts", 0, "webdav", "svc-legal@example.test", "sealed:v1:cXV4cXV1eA=="),
        ("HR Onboarding", 0, "folder", "", ""),
        ("Invoices", 0, "smb", "EXAMPLE\\svc-scan", "sealed:v1:Zm9vYmFyYmF6"),
        ("Invoices", 1, "email", "", ""),
    ]
    assert sorted(
        (p.job.token, p.document_id, p.sha256) for p in new("scanserver.ScanPage").objects.all()
    ) == [
        (JOB_PUSH, 1, sha("%s page 1" % JOB_PUSH)),
        (JOB_PUSH, 2, sha("%s page 2" % JOB_PUSH)),
        (JOB_PULL, 1, sha("%s page 1" % JOB_PULL)),
        (JOB_ABORTED, 1, sha("%s page 1" % JOB_ABORTED)),
    ]
    assert sorted((o.job.token, o.size, o.pages) for o in new("scanserver.OutputDocument").objects.all()) == [
        (JOB_PUSH, 9_876_543_210, 2),
        (JOB_PULL, 9_876_543_210, 1),
    ]
    assert {
        d.name: (
            d.scan_server and d.scan_server.name,
            d.group and d.group.name,
            d.token_hash,
            d.certificate_sha256,
        )
        for d in new("devices.Device").objects.all()
    } == {
        "mfp-finance-1": ("scan-hq", "Finance", sha("token mfp-finance-1"), sha("certificate mfp-finance-1")),
        "mfp-reception": (
            "scan-hq",
            "Reception",
            sha("token mfp-reception"),
            sha("certificate mfp-reception"),
        ),
        "mfp-dock": ("scan-branch", "Warehouse", sha("token mfp-dock"), ""),
        "unknown printer": (None, None, "", ""),
    }
    assert sorted((s.device.name, s.kind) for s in new("devices.Subscription").objects.all()) == [
        ("mfp-finance-1", "status"),
        ("mfp-reception", "scan_available"),
    ]
    assert sorted(
        (e.kind, e.device and e.device.name, e.peer) for e in new("devices.DeviceEvent").objects.all()
    ) == [
        ("jam", "mfp-reception", ""),
        ("state", "mfp-finance-1", ""),
        ("unknown_caller", None, "198.51.100.23"),
    ]
    assert {
        p.guid: (
            p.display_name,
            p.state,
            p.scan_server.name,
            sorted(g.name for g in p.allowed_device_groups.all()),
            p.allowed_groups,
            p.published_version and (p.published_version.process.guid, p.published_version.number),
            sorted((v.number, v.psp_xml) for v in new("smc.ScanProcessVersion").objects.filter(process=p)),
        )
        for p in new("smc.ScanProcess").objects.all()
    } == {
        INVOICES: (
            "Invoices",
            "published",
            "scan-hq",
            ["Finance", "Reception"],
            INVOICE_GROUPS,
            (INVOICES, 2),
            [(1, psp_xml(INVOICES, "Invoices", 1)), (2, psp_xml(INVOICES, "Invoices", 2))],
        ),
        CONTRACTS: (
            "Contracts",
            "unpublished",
            "scan-hq",
            ["Reception"],
            ["cn=legal,ou=groups,dc=example,dc=test"],
            (CONTRACTS, 2),
            [(1, psp_xml(CONTRACTS, "Contracts", 1)), (2, psp_xml(CONTRACTS, "Contracts", 2))],
        ),
        ONBOARDING: (
            "HR Onboarding",
            "draft",
            "scan-branch",
            ["Warehouse"],
            ["HR"],
            None,
            [(1, psp_xml(ONBOARDING, "HR Onboarding", 1)), (2, psp_xml(ONBOARDING, "HR Onboarding", 2))],
        ),
    }
    assert [(i.user.username, i.sid) for i in new("smc.DirectoryIdentity").objects.all()] == [
        ("alice", ALICE_SID)
    ]
    assert [(e.action, e.object_repr, e.detail) for e in new("smc.AuditEvent").objects.order_by("at")] == [
        ("create", "Invoices", {}),
        ("publish", "Invoices", {"version": 2, "changes": {"state": ["draft", "published"]}}),
        ("unpublish", "Contracts", {"comment": "", "changes": {"state": ["published", "unpublished"]}}),
        ("enroll", "mfp-finance-1", {"certificate": sha("certificate mfp-finance-1")[:16]}),
        ("edit", "Warehouse", {"changes": {"description": ["", "Dock 4 — Überseestraße"]}}),
    ]


def check_published_psp(new_apps: Any) -> None:
    """The migration copied the one published process (its published version's XML) and
    neither the unpublished one nor the draft."""
    PublishedPSP = get_model(new_apps, PUBLISHED_PSP)
    if PublishedPSP is None:
        pytest.fail("%s is not in the migrated state: have the move's migrations landed?" % PUBLISHED_PSP)
    assert list(
        PublishedPSP.objects.order_by("display_name").values(
            "guid", "display_name", "psp_xml", "allowed_groups"
        )
    ) == [
        {
            "guid": INVOICES,
            "display_name": "Invoices",
            "psp_xml": psp_xml(INVOICES, "Invoices", 2),
            "allowed_groups": INVOICE_GROUPS,
        }
    ]


# -------------------------------------------------------------------------------------- the test


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_installation_upgrades_and_loses_nothing() -> None:
    # Step 5 in ``finally``: whatever fails, the schema is left at the leaves for the tests after
    # this one (pytest-django then flushes the rows).
    try:
        old_apps = migrate_to_today()  # 1. today's schema
        old_models = {m._meta.label for m in old_apps.get_models() if m._meta.app_label in project_apps()}
        assert old_models <= LABELS.keys(), "LABELS misses %s" % sorted(old_models - LABELS.keys())

        def old(label: str) -> Any:
            return old_apps.get_model(label)

        build_installation(old)  # 2. today's installation, read back as it is stored
        before = snapshot(old)
        assert {label: len(taken["rows"]) for label, taken in before.items()} == EXPECTED_COUNTS
        assert len(before["smc.ScanProcess"]["links"]["allowed_device_groups"]) == 4

        new_apps = migrate_to_latest()  # 3. the upgrade
        new = new_model_of(new_apps)  # 4. nothing lost
        check_every_row(before, new, new_apps)
        check_links(new)
        check_published_psp(new_apps)
    finally:
        migrate_to_latest()
