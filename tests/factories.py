"""The tests' one set of model factories (factory-boy): every model a test needs is built here.

This is also the one place the tests import model classes from (with the enums and errors that
live beside them): a test takes ``ScanJob``, ``JobState`` or ``ScanProcessFactory`` from this
module, so a model that moves to another app changes one import line here.

The shapes that take more than field values:

``ScanProcessFactory(destinations=[...])``
    the process's destinations in this order, each a ``scanprocesses.DestinationSpec`` or its
    fields (a dict of ``kind``, ``config``, ``username``, ``password``, or a tuple in that order);
    passwords are sealed with ``core.secretbox``. Without it: one SMB destination
    (``\\\\files\\scans``). Its scan server is ``srv-<name>`` at ``<name>.example.test`` unless given.
``ScanProcessFactory(published=True)``
    published the console's way, ``scanprocesses.publish`` (the configured directory, audited),
    so its version and PSP XML are the real ones. ``published__actor`` names who published.
``ScanProcessFactory(version="published")`` or ``version="draft"``
    one version row (``ScanProcessVersionFactory``, ``version__<field>`` for its fields), the
    process marked published in the database only (``ScanProcess.mark_published``) or left a
    draft: written to no directory, for the directory tests that publish it themselves.
``ScanProcessFactory(pipeline=True)``
    named as the pipeline tests expect their files: ``{root}-{job}-{seq}`` under root ``Scan``.
``ScanJobFactory(pages=[bytes, ...])``
    a pending job as the endpoint leaves it: one ``ScanPage`` per document, spooled under
    ``SCANSERVER_SPOOL_DIR`` with its sha256 (``pages__fmt`` for their format), then
    ``end_transfer()``. Without ``pages`` a job is still receiving.
``UserFactory(groups=[...], roles={...})``
    the user's Django groups, and its console roles (``core.roles.set_roles``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import factory
from django.conf import settings
from django.contrib.auth.models import Group, User
from factory.django import DjangoModelFactory, Password

from core import secretbox
from core.models import AuditEvent, ImmutableError
from core.roles import set_roles
from devices.models import (
    Device,
    DeviceEvent,
    DeviceGroup,
    DeviceState,
    ScanServer,
    Subscription,
    SubscriptionKind,
)
from devices.protocols import psp
from devices.protocols.xmlfields import canonical
from directory.models import DirectoryIdentity
from scanprocesses import authoring as scanprocesses
from scanprocesses.models import ProcessDestination, ProcessState, ScanProcess, ScanProcessVersion
from scanserver.models import (
    Delivery,
    DeliveryState,
    IllegalTransition,
    JobSource,
    JobState,
    OutputDocument,
    ScanJob,
    ScanPage,
)

__all__ = [
    "AuditEvent",
    "AuditEventFactory",
    "Delivery",
    "DeliveryFactory",
    "DeliveryState",
    "Device",
    "DeviceEvent",
    "DeviceEventFactory",
    "DeviceFactory",
    "DeviceGroup",
    "DeviceGroupFactory",
    "DeviceState",
    "DirectoryIdentity",
    "DirectoryIdentityFactory",
    "Group",
    "GroupFactory",
    "IllegalTransition",
    "ImmutableError",
    "JobSource",
    "JobState",
    "OutputDocument",
    "OutputDocumentFactory",
    "ProcessDestination",
    "ProcessDestinationFactory",
    "ProcessState",
    "ScanJob",
    "ScanJobFactory",
    "ScanPage",
    "ScanPageFactory",
    "ScanProcess",
    "ScanProcessFactory",
    "ScanProcessVersion",
    "ScanProcessVersionFactory",
    "ScanServer",
    "ScanServerFactory",
    "Subscription",
    "SubscriptionFactory",
    "SubscriptionKind",
    "User",
    "UserFactory",
]

DEFAULT_SHARE = "\\\\files\\scans"


# --------------------------------------------------------------------------- users and groups


class GroupFactory(DjangoModelFactory):
    class Meta:
        model = Group
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: "group-%d" % n)


class UserFactory(DjangoModelFactory):
    """A local user; the password is ``<username>-pw1!`` unless given (stored hashed)."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    class Params:
        superuser = factory.Trait(is_superuser=True, is_staff=True)

    username = factory.Sequence(lambda n: "user%d" % n)
    email = factory.LazyAttribute(lambda o: "%s@example.test" % o.username)
    password = Password(factory.LazyAttribute(lambda o: "%s-pw1!" % o.username))

    @factory.post_generation
    def groups(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            obj.groups.add(*extracted)

    @factory.post_generation
    def roles(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted is not None:
            set_roles(obj, set(extracted))


class DirectoryIdentityFactory(DjangoModelFactory):
    class Meta:
        model = DirectoryIdentity

    user = factory.SubFactory(UserFactory)
    sid = factory.Sequence(lambda n: "S-1-5-21-1-2-3-%d" % (5000 + n))
    dn = ""


class AuditEventFactory(DjangoModelFactory):
    class Meta:
        model = AuditEvent

    actor = "admin"
    action = "edit"
    object_type = "scanprocess"
    object_id = factory.Sequence(str)
    object_repr = factory.LazyAttribute(lambda o: "object %s" % o.object_id)
    detail = factory.LazyFunction(dict)


# --------------------------------------------------------------------------- devices


class DeviceGroupFactory(DjangoModelFactory):
    class Meta:
        model = DeviceGroup

    name = factory.Sequence(lambda n: "Device group %d" % n)


class DeviceFactory(DjangoModelFactory):
    """An enrolled device; ``configuration`` (a WS-Scan ``ScannerConfiguration``) becomes its
    ``capabilities_xml``. A bearer token is the model's own: ``device.issue_token()``."""

    class Meta:
        model = Device

    class Params:
        configuration = None

    endpoint_reference = factory.LazyFunction(lambda: "urn:uuid:%s" % uuid.uuid4())
    name = factory.Sequence(lambda n: "MFP-%d" % n)
    capabilities_xml = factory.LazyAttribute(
        lambda o: canonical(o.configuration.to_element()).decode() if o.configuration is not None else ""
    )


class SubscriptionFactory(DjangoModelFactory):
    class Meta:
        model = Subscription

    device = factory.SubFactory(DeviceFactory)
    kind = SubscriptionKind.STATUS


class DeviceEventFactory(DjangoModelFactory):
    class Meta:
        model = DeviceEvent

    device = factory.SubFactory(DeviceFactory)
    peer = "127.0.0.1:5000"
    kind = "scan_refused"
    detail = factory.LazyFunction(dict)


# --------------------------------------------------------------------------- scan processes


class ScanServerFactory(DjangoModelFactory):
    """A scan server, looked up by name when it exists already."""

    class Meta:
        model = ScanServer
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: "scan%d" % n)
    fqdn = factory.LazyAttribute(lambda o: "%s.example.test" % o.name)


def _destination_spec(spec: Any) -> scanprocesses.DestinationSpec:
    """A ``DestinationSpec`` as given, or made from its fields: a dict, or a tuple in field order."""
    if isinstance(spec, scanprocesses.DestinationSpec):
        return spec
    if isinstance(spec, Mapping):
        return scanprocesses.DestinationSpec(**spec)
    return scanprocesses.DestinationSpec(*spec)


class ScanProcessFactory(DjangoModelFactory):
    """A scan process that can be published: a real default ticket, a scan server, one SMB
    destination. The shapes with more (destinations, publishing, versions) are in the module
    docstring."""

    class Meta:
        model = ScanProcess
        skip_postgeneration_save = True

    class Params:
        pipeline = factory.Trait(document_root_name="Scan", naming_template="{root}-{job}-{seq}")

    display_name = factory.Sequence(lambda n: "Process %d" % n)
    ticket_xml = factory.LazyAttribute(
        lambda o: scanprocesses.ticket_to_xml(scanprocesses.default_ticket(o.display_name))
    )
    document_root_name = factory.LazyAttribute(lambda o: o.display_name)
    scan_server = factory.SubFactory(
        ScanServerFactory,
        name=factory.LazyAttribute(lambda o: "srv-%s" % o.factory_parent.display_name),
        fqdn=factory.LazyAttribute(
            lambda o: "%s.example.test" % o.factory_parent.display_name.lower().replace(" ", "-")
        ),
    )

    # Post-generation runs in this order: publishing sees the destinations and device groups.
    @factory.post_generation
    def destinations(obj: ScanProcess, create: bool, extracted: Any, **kwargs: Any) -> None:
        if not create:
            return
        specs = [{"kind": "smb", "config": {"uncs": [DEFAULT_SHARE]}}] if extracted is None else extracted
        for position, item in enumerate(specs):
            spec = _destination_spec(item)
            ProcessDestinationFactory(
                process=obj,
                position=position,
                kind=spec.kind,
                config=spec.config,
                username=spec.username,
                password=spec.password or "",
            )

    @factory.post_generation
    def allowed_device_groups(obj: ScanProcess, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            obj.allowed_device_groups.set(extracted)

    @factory.post_generation
    def published(
        obj: ScanProcess, create: bool, extracted: Any, actor: str = "test", comment: str = "", **kwargs: Any
    ) -> None:
        if create and extracted:
            scanprocesses.publish(obj, actor, comment)

    @factory.post_generation
    def version(obj: ScanProcess, create: bool, extracted: Any, **kwargs: Any) -> None:
        if not create or extracted is None:
            return
        if extracted not in ("published", "draft"):
            raise ValueError('version is "published" or "draft", not %r' % (extracted,))
        row = ScanProcessVersionFactory(process=obj, **kwargs)
        if extracted == "published":
            obj.mark_published(row)


class ProcessDestinationFactory(DjangoModelFactory):
    """One destination; ``password`` is stored sealed (``core.secretbox``), as the console does."""

    class Meta:
        model = ProcessDestination

    class Params:
        password = ""

    process = factory.SubFactory(ScanProcessFactory, destinations=[])
    kind = "folder"
    position = 0
    config = factory.LazyFunction(lambda: {"path": "/srv/scans"})
    username = ""
    secret = factory.LazyAttribute(lambda o: secretbox.seal(o.password))


def _version_psp_xml(process: ScanProcess, root_name: str, share: str) -> str:
    """The PSP of a version row made without publishing: the process's ticket, one file share."""
    document = psp.PostScanProcess(
        scan_repository=process.scan_server.fqdn if process.scan_server else "scan.example.test",
        scan_ticket=process.ticket_xml.encode("utf-8"),
        instructions=psp.PostScanInstructions(
            document_root_name=root_name,
            filters=(psp.Filter.of(psp.FileShareConfig(share_uncs=(share,))),),
            continue_on_error=True,
        ),
    )
    return psp.to_xml(document).decode("utf-8")


class ScanProcessVersionFactory(DjangoModelFactory):
    """The next version row of ``process``, not published anywhere (``ScanProcessFactory(
    published=True)`` is the real publication). ``document_root_name`` and ``share`` shape its PSP;
    its snapshot holds the name and groups the directories read."""

    class Meta:
        model = ScanProcessVersion

    class Params:
        document_root_name = factory.LazyAttribute(lambda o: o.process.document_root_name)
        share = "\\\\files.example.test\\scans"

    process = factory.SubFactory(ScanProcessFactory)
    number = factory.LazyAttribute(lambda o: o.process.versions.count() + 1)
    psp_xml = factory.LazyAttribute(lambda o: _version_psp_xml(o.process, o.document_root_name, o.share))
    settings_snapshot = factory.LazyAttribute(
        lambda o: {"display_name": o.process.display_name, "allowed_groups": list(o.process.allowed_groups)}
    )


# --------------------------------------------------------------------------- jobs


class ScanJobFactory(DjangoModelFactory):
    """A job of ``process`` (none unless given: then its PSP identifier is a placeholder) for a
    user the directory does not know; ``pages`` spools its documents (module docstring)."""

    class Meta:
        model = ScanJob
        skip_postgeneration_save = True

    process = None
    psp_identifier = factory.LazyAttribute(lambda o: str(o.process.guid) if o.process is not None else "X")
    user_name = "EXAMPLE\\alice"
    user_sid = "S-1-5-21-1-2-3-1001"

    @factory.post_generation
    def pages(obj: ScanJob, create: bool, extracted: Any, fmt: str = "jfif", **kwargs: Any) -> None:
        if not create or extracted is None:
            return
        folder = Path(settings.SCANSERVER_SPOOL_DIR) / str(obj.token)
        folder.mkdir(parents=True, exist_ok=True)
        for number, data in enumerate(extracted, start=1):
            path = folder / ("%04d.bin" % number)
            path.write_bytes(data)
            ScanPageFactory(job=obj, document_id=number, format=fmt, spool_path=str(path), data=data)
        obj.images_received = len(extracted)
        obj.save(update_fields=["images_received"])
        obj.end_transfer()


class _JobFileFactory(DjangoModelFactory):
    """A file row of a job (a spooled page, a built output): ``data``, written nowhere, gives
    its sha256 and size."""

    class Meta:
        abstract = True

    class Params:
        data = b"scanned bytes"

    job = factory.SubFactory(ScanJobFactory)
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.data).hexdigest())
    size = factory.LazyAttribute(lambda o: len(o.data))


class ScanPageFactory(_JobFileFactory):
    class Meta:
        model = ScanPage

    document_id = factory.Sequence(lambda n: n + 1)
    format = "jfif"
    spool_path = "/nonexistent/page.bin"


class OutputDocumentFactory(_JobFileFactory):
    class Meta:
        model = OutputDocument

    name = factory.Sequence(lambda n: "Scan-%d.pdf" % n)
    path = factory.LazyAttribute(lambda o: "/nonexistent/%s" % o.name)
    content_type = "application/pdf"


class DeliveryFactory(DjangoModelFactory):
    class Meta:
        model = Delivery

    job = factory.SubFactory(ScanJobFactory)
    kind = "folder"
    target = "/srv/scans"
    position = 0


def psp_of(process: ScanProcess, version: ScanProcessVersion | None = None) -> Any:
    """The ``PSPObject`` a directory is handed for ``version`` (default: the published one)."""
    return scanprocesses.psp_object(process, version if version is not None else process.published_version)
