"""Scan process rows for the directory and availability tests (helper module, no tests here)."""

from __future__ import annotations

from typing import Any

from lxml import etree

from devices.protocols import psp
from devices.protocols.namespaces import WSCN, qn

TICKET = etree.Element(qn(WSCN, "ScanTicket"), nsmap={"wscn": WSCN})
_job = etree.SubElement(TICKET, qn(WSCN, "JobDescription"))
etree.SubElement(_job, qn(WSCN, "JobName")).text = "Scan"
etree.SubElement(_job, qn(WSCN, "JobOriginatingUserName")).text = "user"
TICKET_XML = etree.tostring(TICKET, method="c14n")


def psp_xml(root_name: str = "Scan", share: str = r"\\files.example.test\scans") -> str:
    process = psp.PostScanProcess(
        scan_repository="scan.example.test",
        scan_ticket=TICKET_XML,
        instructions=psp.PostScanInstructions(
            document_root_name=root_name,
            filters=(psp.Filter.of(psp.FileShareConfig(share_uncs=(share,))),),
            continue_on_error=True,
        ),
    )
    return psp.to_xml(process).decode()


def make_process(name: str, groups: list[str], *, publish: bool = True, **fields: Any) -> Any:
    """A ScanProcess with one version; published in the database (not in any directory)."""
    from scanprocesses.models import ProcessState, ScanProcess

    process = ScanProcess.objects.create(
        display_name=name, ticket_xml=TICKET_XML.decode(), allowed_groups=groups, **fields
    )
    version = new_version(process)
    if publish:
        process.published_version = version
        process.state = ProcessState.PUBLISHED
        process.save()
    return process


def psp_of(process: Any, version: Any = None) -> Any:
    """The ``PSPObject`` a directory publishes for ``version`` (default: the published one)."""
    from scanprocesses.authoring import psp_object

    return psp_object(process, version if version is not None else process.published_version)


def new_version(process: Any, root_name: str = "Scan", share: str = r"\\files.example.test\scans") -> Any:
    from scanprocesses.models import ScanProcessVersion

    number = process.versions.count() + 1
    return ScanProcessVersion.objects.create(
        process=process,
        number=number,
        psp_xml=psp_xml(root_name, share),
        settings_snapshot={
            "display_name": process.display_name,
            "allowed_groups": list(process.allowed_groups),
        },
    )
