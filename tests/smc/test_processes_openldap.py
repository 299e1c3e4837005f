"""The console's publish/drift/unpublish against OpenLDAP (DIR's schema, ACL and writer account):
the version written is the one read back, drift in the directory is detected and can be adopted,
and the Publish page works with the directory configured."""

from __future__ import annotations

from typing import Any

import ldap
import pytest
from django.test import Client
from django.urls import reverse

from scanprocesses import authoring as scanprocesses
from tests import services
from tests.factories import ProcessState, ScanProcessFactory
from tests.smc.test_directory_openldap import (  # noqa: F401 (fixtures)
    ADMINS,
    CONTAINER,
    config,
    psp_slapd,
    root_modify,
)

pytestmark = pytest.mark.ldap


@pytest.fixture
def ldap_settings(settings: Any, config: Any) -> Any:  # noqa: F811
    settings.LDAP = config
    return config


def test_publish_drift_adopt_and_unpublish_in_openldap(
    ldap_settings: Any,
    psp_slapd: services.Slapd,  # noqa: F811
) -> None:
    from directory.backends import get_directory

    p = ScanProcessFactory(display_name="LDAP invoices", allowed_groups=[ADMINS])
    v1 = scanprocesses.publish(p, "admin", "to ldap")
    p.refresh_from_db()
    copy = get_directory().read_published(str(p.guid))
    assert copy is not None and copy.psp_xml == v1.psp_xml
    assert scanprocesses.drift(p).status == "in_sync"

    tampered = v1.psp_xml.replace("LDAP invoices</psp:DocumentRootName>", "Tampered</psp:DocumentRootName>")
    root_modify(
        psp_slapd,
        "CN=%s,%s" % (p.guid, CONTAINER),
        [(ldap.MOD_REPLACE, "msImaging-PSPString", [tampered.encode()])],
    )
    drift = scanprocesses.drift(p)
    assert drift.status == "changed" and any("Tampered" in line.text for line in drift.lines)

    scanprocesses.adopt(p, get_directory().read_published(str(p.guid)).psp_xml, "admin")  # type: ignore[union-attr]
    p.refresh_from_db()
    assert p.document_root_name == "Tampered"
    v2 = scanprocesses.publish(p, "admin", "adopted")
    p.refresh_from_db()
    assert scanprocesses.drift(p).status == "in_sync" and v2.psp_xml == tampered

    scanprocesses.unpublish(p, "admin")
    p.refresh_from_db()
    assert p.state == ProcessState.UNPUBLISHED
    assert get_directory().read_published(str(p.guid)) is None


def test_publish_page_with_openldap(ldap_settings: Any, cast: dict[str, Any]) -> None:
    from directory.backends import get_directory

    p = ScanProcessFactory(display_name="LDAP page", allowed_groups=[ADMINS])
    client = Client()
    client.force_login(cast["admin"])
    response = client.post(reverse("process_publish", args=[p.guid]), {"comment": "via page"}, follow=True)
    assert "Published version 1." in response.content.decode()
    assert get_directory().read_published(str(p.guid)) is not None
    detail = client.get(reverse("process_detail", args=[p.guid])).content.decode()
    assert "The directory holds published version 1." in detail
