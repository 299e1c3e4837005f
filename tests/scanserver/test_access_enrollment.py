"""Enrollment against a simulated device: metadata + capabilities in, a token out (shown once),
and that token is what the scan server accepts — re-enrolling revokes the old one."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from devices.enrollment import EnrollmentError, enroll
from devices.simulator.run import SimulatorConfig, SimulatorThread
from scanserver import access
from tests.factories import Device


@pytest.fixture
def device_url() -> Iterator[str]:
    thread = SimulatorThread(SimulatorConfig(count=1, base_port=0, discovery=False, adf_pages=0))
    with thread as simulation:
        yield simulation.devices[0].server.device_url


def test_enroll_reads_the_device_and_issues_a_token(db: None, device_url: str) -> None:
    result = enroll(device_url)
    device, token = result.device, result.token
    assert result.certificate is None and device.certificate_sha256 == ""
    assert device.endpoint_reference.startswith("urn:uuid:")
    assert device.scan_service_url.endswith("/scan") and device.manufacturer
    assert "ScannerConfiguration" in device.capabilities_xml
    assert token not in device.token_hash and Device.for_token(token) == device
    headers: dict[str, Any] = {"authorization": "Bearer " + token}
    assert access.authenticate_device(headers, {}) == device

    again_result = enroll(device_url)
    again, new_token = again_result.device, again_result.token
    assert again.pk == device.pk and Device.objects.count() == 1
    assert access.authenticate_device(headers, {}) is None, "re-enrolling revokes the old token"
    assert Device.for_token(new_token) == device


def test_enroll_device_command_prints_the_token_once(db: None, device_url: str) -> None:
    out = io.StringIO()
    call_command("enroll_device", "--url", device_url, "--group", "floor 2", stdout=out)
    token = out.getvalue().split("token: ", 1)[1].strip()
    device = Device.objects.get()
    assert Device.for_token(token) == device and device.group is not None and device.group.name == "floor 2"


def test_enroll_refuses_what_is_not_a_device(db: None) -> None:
    with pytest.raises(EnrollmentError):
        enroll("http://127.0.0.1:9/device")
