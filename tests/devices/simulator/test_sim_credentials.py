"""What a simulated device presents to a scan server: the client certificate options (one
certificate per device, files checked at start) and the credentials each device is given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devices import pki
from devices.simulator import control, push, run
from devices.simulator.run import SimulatorConfig, SimulatorThread


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    issued = pki.issue_device_certificate("MFP", "urn:uuid:sim", directory=tmp_path / "pki")
    for n in (1, 2):
        (tmp_path / ("device%d.crt" % n)).write_text(issued.certificate_pem)
        (tmp_path / ("device%d.key" % n)).write_text(issued.key_pem)
    return tmp_path / "device1.crt", tmp_path / "device1.key"


def test_one_certificate_is_one_device(pair: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = pair
    assert SimulatorConfig(count=1, client_cert=str(cert), client_key=str(key)).problems() == []
    shared = SimulatorConfig(count=2, client_cert=str(cert), client_key=str(key))
    assert [p for p in shared.problems() if "put {n}" in p] == [
        "--client-cert names one device's file; with --count 2 put {n} (the device number) in the path",
        "--client-key names one device's file; with --count 2 put {n} (the device number) in the path",
    ]
    numbered = SimulatorConfig(
        count=2, client_cert=str(tmp_path / "device{n}.crt"), client_key=str(tmp_path / "device{n}.key")
    )
    assert numbered.problems() == []
    assert numbered.credentials(1, "urn:uuid:x").client_cert == str(tmp_path / "device2.crt")
    three = SimulatorConfig(count=3, client_cert=str(tmp_path / "device{n}.crt"))
    assert three.problems() == ["--client-cert %s: no such file" % (tmp_path / "device3.crt")]
    assert SimulatorConfig(client_key=str(key)).problems() == ["--client-key needs --client-cert"]


def test_the_command_line_refuses_a_missing_certificate(tmp_path: Path) -> None:
    args = run.build_parser().parse_args(["--client-cert", str(tmp_path / "nope.crt"), "--no-discovery"])
    with pytest.raises(SystemExit, match="no such file"):
        run.run_args(args)


def test_each_running_device_carries_its_credentials(pair: tuple[Path, Path], tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    config = SimulatorConfig(
        count=2,
        base_port=0,
        discovery=False,
        client_cert=str(tmp_path / "device{n}.crt"),
        client_key=str(tmp_path / "device{n}.key"),
        device_tokens=str(tokens),
    )
    with SimulatorThread(config) as sim:
        first, second = sim.devices
        tokens.write_text(json.dumps({second.device.identity.endpoint: "token-2"}))
        creds = [d.server.app[control.CREDENTIALS_KEY] for d in sim.devices]
    assert [c.client_cert for c in creds] == [str(tmp_path / "device1.crt"), str(tmp_path / "device2.crt")]
    assert creds[0].headers() == {}, "no token in the file for device 1"
    assert creds[1].headers() == {"Authorization": "Bearer token-2"}, "read at each push, not at start"


def test_credentials_load_the_certificate_into_a_fresh_context(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = pair
    context = push.Credentials(str(cert), str(key)).tls_context(verify=False)
    assert context.verify_mode.name == "CERT_NONE"
    with pytest.raises(push.PushError, match="client certificate .*missing.crt cannot be loaded"):
        push.Credentials(str(tmp_path / "missing.crt")).tls_context()
    with pytest.raises(push.PushError, match="client certificate"):
        push.Credentials(str(cert), str(tmp_path / "device1.crt")).tls_context()  # not the key
    with pytest.raises(push.PushError, match="the CA file .* cannot be loaded"):
        push.Credentials().tls_context(verify=str(tmp_path / "no-ca.pem"))
