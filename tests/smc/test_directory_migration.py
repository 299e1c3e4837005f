"""directory 0002: the embedded directory's PublishedPSP table is filled from the processes that
were published (the embedded directory's copies before it had a table of its own)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("directory", "0001_initial")]
AFTER = [("directory", "0002_publishedpsp")]


def migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate ``directory`` to ``targets`` (the other apps stay at their latest migration); the
    historical apps of the state reached."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "directory"]
    return executor.loader.project_state([*others, *targets]).apps


@pytest.fixture
def before() -> Iterator[Any]:
    apps = migrate(BEFORE)
    try:
        yield apps
    finally:  # every other test needs the table, whatever happened here
        migrate(AFTER)


def test_published_processes_fill_published_psp(before: Any) -> None:
    ScanServer = before.get_model("devices", "ScanServer")
    ScanProcess = before.get_model("scanprocesses", "ScanProcess")
    ScanProcessVersion = before.get_model("scanprocesses", "ScanProcessVersion")
    server = ScanServer.objects.create(name="s1", fqdn="scan1.example.test")

    def process(name: str, state: str, groups: list[str], **fields: Any) -> Any:
        return ScanProcess.objects.create(
            guid=uuid.uuid4(),
            display_name=name,
            ticket_xml="<t/>",
            allowed_groups=groups,
            state=state,
            **fields,
        )

    def version(p: Any, number: int, snapshot: dict[str, Any]) -> Any:
        return ScanProcessVersion.objects.create(
            process=p,
            number=number,
            psp_xml="<psp %s %d/>" % (p.display_name, number),
            settings_snapshot=snapshot,
        )

    # Published; the version recorded the name and groups as they were at publication.
    invoices = process("Invoices renamed", "published", ["Everyone"], scan_server=server)
    version(invoices, 1, {})
    v2 = version(invoices, 2, {"display_name": "Invoices", "allowed_groups": ["Finance"]})
    invoices.published_version = v2
    invoices.save()
    # Published by a version that recorded nothing: the process's own values; no scan server.
    bare = process("Bare", "published", ["Staff"])
    bare.published_version = version(bare, 1, {})
    bare.save()
    # Not in the directory: unpublished (even with a published version), and a draft.
    gone = process("Gone", "unpublished", ["Staff"])
    gone.published_version = version(gone, 1, {})
    gone.save()
    process("Draft", "draft", ["Staff"])
    process("Published without a version", "published", ["Staff"])

    after = migrate(AFTER)
    rows = {
        str(row.guid): (row.display_name, row.psp_xml, row.allowed_groups, row.server_name)
        for row in after.get_model("directory", "PublishedPSP").objects.all()
    }
    assert rows == {
        str(invoices.guid): ("Invoices", "<psp Invoices renamed 2/>", ["Finance"], "scan1.example.test"),
        str(bare.guid): ("Bare", "<psp Bare 1/>", ["Staff"], ""),
    }
    # The embedded directory reads them as it read the processes before.
    from directory.backends import EmbeddedDirectory

    copy = EmbeddedDirectory().read_published(invoices.guid)
    assert copy is not None and copy.display_name == "Invoices" and copy.allowed_groups == {"Finance"}
    assert copy.psp_xml == "<psp Invoices renamed 2/>" and copy.server_name == "scan1.example.test"
    # Reversible: back to 0001 drops the table's rows (and the table), forward fills it again.
    migrate(BEFORE)
    again = migrate(AFTER)
    assert again.get_model("directory", "PublishedPSP").objects.count() == 2
