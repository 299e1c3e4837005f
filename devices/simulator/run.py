"""Run N simulated devices in one asyncio loop, and the command line that drives them.

:func:`start` brings up every device (HTTP server on its own 127.0.0.1 port, WS-Discovery
responder announcing Hello) and returns a :class:`Simulation`; :meth:`Simulation.stop` sends Bye
and closes everything. :func:`serve` is the long-running form the ``simulate_devices``
management command uses; :class:`SimulatorThread` runs the same :func:`start` in a background
thread for tests and scripts. :func:`main` is the whole command line; it needs no Django
(``python -m devices.simulator ...`` takes the same arguments as ``manage.py simulate_devices ...``,
plus the ``--ldap-*`` options of :mod:`devices.simulator.panel_ldap`).

Usage (``manage.py simulate_devices`` or ``python -m devices.simulator``)::

    simulate_devices --count 3 [--base-port 8700] [--seed opendsm] [--adf-pages 10]
                     [--retrieve-timeout 60] [--qr] [--no-discovery] [--interface 127.0.0.1]
                     [--no-panel] [--device-tokens FILE] [--scan-server-url URL] [--insecure]
                     [--client-cert FILE [--client-key FILE]]
                     [--ldap-uri URI --ldap-user-base DN ...]   (python -m devices.simulator only)
    simulate_devices status --device 2
    simulate_devices load --device 1 --pages 5
    simulate_devices fault --device 1 --fault jam|cover-open|clear|slow|drop
                     [--after-images N] [--bytes-per-second N]
    simulate_devices scan-available --device 1 --destination "Alice's PC"
    simulate_devices push --device 1 --server https://scan.example.test:5362/ScanServer/<guid>
                     --psp-xml process.xml --user-sid S-1-5-21-... [--psp-id GUID] [--pages 3]
                     [--format pdf-a] [--user-name alice] [--insecure]

The control actions POST JSON to ``http://127.0.0.1:<base-port + device - 1>/_control/...``
(or ``--control URL``); see :mod:`devices.simulator.control`.

Each device also serves its front panel at ``http://127.0.0.1:<port>/panel/``
(:mod:`devices.simulator.panel`). The simulator does not choose how the panel signs users in: the
program that starts it passes :func:`start` a :class:`~devices.simulator.panel_directory.PanelServices`.
``manage.py simulate_devices`` (``smc.simulation``) passes the console's directory (LDAP, or the
embedded one), OpenDSM's device-group rule and the registered scan servers; ``python -m
devices.simulator`` passes an LDAP directory built from its ``--ldap-*`` options (LDAP only, no
device-group rule, pass ``--scan-server-url``), or nothing, and then the panel says it is switched off.

How a device proves itself to the scan server (DESIGN.md decision 2): its client certificate
(``--client-cert``/``--client-key``, the files ``manage.py enroll_device --issue-certificate``
writes; with ``--count`` above 1 the paths must contain ``{n}``, the device number, since a
certificate belongs to one device) and/or its token (``--device-tokens``). The panel and the
``push`` control action present both; the files are read at every push. To trust a scan server
whose certificate is from a private CA, set ``SSL_CERT_FILE`` (or use ``--insecure`` in tests).

Identities are derived from ``seed`` and the device index (uuid5), so a restart keeps every
device's ``urn:uuid``, name and serial. Ports: ``base_port + index`` (``base_port=0``: each
device picks a free port). WS-Discovery multicast goes out on the one interface named
(loopback by default), never a default route.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.protocols.discovery_udp import DiscoveryResponder
from devices.protocols.namespaces import WSD_PORT
from devices.simulator import control, panel, panel_ldap, push
from devices.simulator.device import DEFAULT_RETRIEVE_TIMEOUT, Identity, ScanDevice
from devices.simulator.panel_directory import PanelServices
from devices.simulator.server import DeviceServer, ServerOptions

log = logging.getLogger(__name__)

DEFAULT_BASE_PORT = 8700
DEFAULT_SEED = "opendsm"


@dataclass(frozen=True)
class SimulatorConfig:
    count: int = 1
    seed: str = DEFAULT_SEED
    host: str = "127.0.0.1"
    base_port: int = DEFAULT_BASE_PORT
    adf_pages: int = 10
    retrieve_timeout: float = DEFAULT_RETRIEVE_TIMEOUT
    qr_codes: bool = False
    discovery: bool = True
    discovery_interface: str = "127.0.0.1"
    discovery_port: int = WSD_PORT
    discovery_delay: float = 0.5
    dsd_events: bool = False
    allow_remote_notify: bool = False
    names: tuple[str, ...] = field(default_factory=tuple)
    # The front panel (devices.simulator.panel): on unless switched off; tokens and URL for pushes.
    panel: bool = True
    device_tokens: str = ""
    scan_server_url: str = ""
    verify_tls: bool = True
    # The client certificate and key (PEM files) the devices push with; "{n}" = device number.
    client_cert: str = ""
    client_key: str = ""

    def problems(self) -> list[str]:
        """What is wrong with this configuration, in words for the command line."""
        problems = []
        if self.count < 1:
            problems.append("--count must be at least 1")
        if self.client_key and not self.client_cert:
            problems.append("--client-key needs --client-cert")
        for label, path in (("--client-cert", self.client_cert), ("--client-key", self.client_key)):
            if path and self.count > 1 and "{n}" not in path:
                problems.append(
                    "%s names one device's file; with --count %d put {n} (the device number) in the path"
                    % (label, self.count)
                )
        for index in range(self.count):
            for label, path in (("--client-cert", self.client_cert), ("--client-key", self.client_key)):
                if path and not Path(device_path(path, index)).is_file():
                    problems.append("%s %s: no such file" % (label, device_path(path, index)))
        return problems

    def credentials(self, index: int, endpoint: str) -> push.Credentials:
        """What device ``index`` (0-based) presents to the scan server."""
        return push.Credentials(
            client_cert=device_path(self.client_cert, index),
            client_key=device_path(self.client_key, index),
            token=panel.tokens_file_reader(self.device_tokens, endpoint)
            if self.device_tokens
            else push.no_token,
        )


def device_path(template: str, index: int) -> str:
    """``template`` with ``{n}`` replaced by the 1-based device number."""
    return template.replace("{n}", str(index + 1))


@dataclass
class RunningDevice:
    index: int
    device: ScanDevice
    server: DeviceServer
    responder: DiscoveryResponder | None = None

    def describe(self) -> dict[str, Any]:
        ident = self.device.identity
        return {
            "index": self.index + 1,
            "name": ident.name,
            "endpoint": ident.endpoint,
            "serial": ident.serial,
            "device_url": self.server.device_url,
            "scan_url": self.server.scan_url,
            "control_url": self.server.control_url,
            "panel_url": self.server.base_url + "/panel/",
        }


@dataclass
class Simulation:
    config: SimulatorConfig
    devices: list[RunningDevice]

    async def stop(self) -> None:
        """Bye on discovery, SubscriptionEnd to subscribers, close every port."""
        for running in self.devices:
            if running.responder is not None:
                with contextlib.suppress(Exception):
                    await running.responder.stop()
        await asyncio.gather(*(r.server.stop() for r in self.devices), return_exceptions=True)
        log.info("%d simulated device(s) stopped", len(self.devices))

    def describe(self) -> list[dict[str, Any]]:
        return [d.describe() for d in self.devices]


def make_device(config: SimulatorConfig, index: int) -> ScanDevice:
    overrides = {"name": config.names[index]} if index < len(config.names) else {}
    identity = Identity.from_seed(config.seed, index, **overrides)
    return ScanDevice(
        identity,
        retrieve_timeout=config.retrieve_timeout,
        adf_pages=config.adf_pages,
        qr_codes=config.qr_codes,
    )


async def start(config: SimulatorConfig, services: PanelServices | None = None) -> Simulation:
    """Start ``config.count`` devices; on any failure, stop what was started and re-raise.

    ``services``: how the devices' front panels sign users in and find scan servers (None: the
    panels are switched off, saying why).
    """
    problems = config.problems()
    if problems:
        raise ValueError("; ".join(problems))
    sim = Simulation(config, [])
    try:
        for index in range(config.count):
            device = make_device(config, index)
            port = config.base_port + index if config.base_port else 0
            options = ServerOptions(
                host=config.host,
                port=port,
                dsd_events=config.dsd_events,
                allow_remote_notify=config.allow_remote_notify,
            )
            server = DeviceServer(device, options)
            credentials = config.credentials(index, device.identity.endpoint)
            server.app[control.CREDENTIALS_KEY] = credentials
            if config.panel:
                panel.mount(
                    server,
                    panel.options_for(
                        device.identity.endpoint,
                        services,
                        tokens_file=config.device_tokens,
                        scan_server_url=config.scan_server_url,
                        verify_tls=config.verify_tls,
                        client_cert=credentials.client_cert,
                        client_key=credentials.client_key,
                    ),
                )
            await server.start()
            running = RunningDevice(index, device, server)
            sim.devices.append(running)
            if config.discovery:
                responder = DiscoveryResponder(
                    server.target_service(),
                    config.discovery_interface,
                    port=config.discovery_port,
                    max_reply_delay=config.discovery_delay,
                )
                await responder.start()  # sends Hello
                running.responder = responder
    except BaseException:
        await sim.stop()
        raise
    return sim


async def serve(
    config: SimulatorConfig,
    stop: asyncio.Event | None = None,
    out: Any = None,
    services: PanelServices | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM), then shut down cleanly with Bye."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    sim = await start(config, services)
    try:
        stream = out or sys.stdout
        stream.write(json.dumps({"devices": sim.describe()}, indent=2) + "\n")
        stream.flush()
        await stop.wait()
    finally:
        await sim.stop()


class SimulatorThread:
    """``with SimulatorThread(config[, services]) as sim:`` — devices running in a background event loop."""

    def __init__(self, config: SimulatorConfig, services: PanelServices | None = None) -> None:
        self.config = config
        self.services = services
        self.loop = asyncio.new_event_loop()
        self.simulation: Simulation | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="simulated-devices", daemon=True)

    def __enter__(self) -> Simulation:
        self._thread.start()
        try:
            self.simulation = self.call(start(self.config, self.services))
        except BaseException:
            self._shutdown_loop()
            raise
        return self.simulation

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run ``coro`` on the simulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __exit__(self, *exc: object) -> None:
        try:
            if self.simulation is not None:
                self.call(self.simulation.stop())
        finally:
            self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


# ---- command line ------------------------------------------------------------------------


def build_parser(prog: str = "simulate_devices") -> argparse.ArgumentParser:
    """The parser of ``python -m devices.simulator``: :func:`add_arguments` and the ``--ldap-*`` options."""
    parser = argparse.ArgumentParser(prog=prog, description="Simulated DSM / WS-Scan devices.")
    add_arguments(parser)
    panel_ldap.add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the command line; shared with the Django management command."""
    parser.add_argument(
        "action",
        nargs="?",
        default="run",
        choices=("run", "push", "scan-available", "status", "load", "fault"),
        help="run (default) starts devices; the others talk to a running device's control API",
    )
    parser.add_argument("--count", type=int, default=1, help="number of devices to run")
    parser.add_argument("--seed", default=DEFAULT_SEED, help="identity seed: same seed, same urn:uuid")
    parser.add_argument(
        "--base-port", type=int, default=DEFAULT_BASE_PORT, help="device N listens on base+N-1"
    )
    parser.add_argument("--adf-pages", type=int, default=10, help="sheets in each ADF at start")
    parser.add_argument("--retrieve-timeout", type=float, default=DEFAULT_RETRIEVE_TIMEOUT)
    parser.add_argument("--qr", action="store_true", help="print a QR code on every page")
    parser.add_argument("--no-discovery", action="store_true", help="no WS-Discovery responder")
    parser.add_argument("--interface", default="127.0.0.1", help="IPv4 address for WS-Discovery multicast")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="IPv4 address the devices' HTTP servers listen on (loopback, or a test namespace's address)",
    )
    parser.add_argument("--discovery-port", type=int, default=WSD_PORT)
    parser.add_argument("--dsd-events", action="store_true", help="write event bodies in the dsd namespace")
    parser.add_argument(
        "--device", type=int, default=1, help="which device (1-based) a control action targets"
    )
    parser.add_argument("--control", help="control URL of the device (default: from --base-port/--device)")
    parser.add_argument("--server", help="push: the scan server's WS-DSP URL")
    parser.add_argument("--psp-xml", type=Path, help="push: file with the psp:PostScanProcess XML")
    parser.add_argument("--psp-id", help="push: the scan process GUID (msImaging-PSPIdentifier)")
    parser.add_argument("--user-sid", help="push: the scanning user's SID (S-1-5-21-...)")
    parser.add_argument("--user-name", default="", help="push: the user name printed on pages")
    parser.add_argument("--pages", type=int, default=1, help="push: sheets to scan; load: sheets to add")
    parser.add_argument("--format", help="push: override the ticket's format (e.g. pdf-a)")
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="push and panel: do not verify the scan server's certificate",
    )
    parser.add_argument("--no-panel", action="store_true", help="no front panel at /panel/")
    parser.add_argument(
        "--device-tokens",
        default="",
        help='panel: JSON file {"<urn:uuid>": "<enrollment token>"} (manage.py demo_setup writes one)',
    )
    parser.add_argument(
        "--scan-server-url",
        default="",
        help="panel: push every scan to this WS-DSP URL instead of the PSP's ScanRepository's server",
    )
    parser.add_argument(
        "--client-cert",
        default="",
        help="panel and push: the device's client certificate (PEM; from enroll_device "
        "--issue-certificate); {n} in the path = device number",
    )
    parser.add_argument(
        "--client-key", default="", help="its private key (PEM; omit if it is in the certificate file)"
    )
    parser.add_argument("--destination", help="scan-available: the ClientDisplayName the user picks")
    parser.add_argument(
        "--fault",
        dest="fault_kind",
        choices=("jam", "cover-open", "clear", "slow", "drop"),
        help="fault: which",
    )
    parser.add_argument("--after-images", type=int, default=0, help="fault jam: jam after this many images")
    parser.add_argument("--bytes-per-second", type=int, help="fault slow: throttle (omit to restore)")


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        count=args.count,
        seed=args.seed,
        host=args.host,
        base_port=args.base_port,
        adf_pages=args.adf_pages,
        retrieve_timeout=args.retrieve_timeout,
        qr_codes=args.qr,
        discovery=not args.no_discovery,
        discovery_interface=args.interface,
        discovery_port=args.discovery_port,
        dsd_events=args.dsd_events,
        panel=not getattr(args, "no_panel", False),
        device_tokens=getattr(args, "device_tokens", "") or "",
        scan_server_url=getattr(args, "scan_server_url", "") or "",
        verify_tls=not getattr(args, "insecure", False),
        client_cert=getattr(args, "client_cert", "") or "",
        client_key=getattr(args, "client_key", "") or "",
    )


def control_url(args: argparse.Namespace) -> str:
    if args.control:
        return str(args.control).rstrip("/")
    return "http://127.0.0.1:%d/_control" % (args.base_port + args.device - 1)


def _control_call(url: str, payload: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    req = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310 - URL built from loopback config
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"{}")
        except ValueError:
            return exc.code, {"error": body.decode("utf-8", "replace")}


def control_payload(args: argparse.Namespace) -> tuple[str, dict[str, Any] | None]:
    """(path, JSON body) of the control call for a non-run action; raises SystemExit on bad args."""
    if args.action == "status":
        return "/status", None
    if args.action == "load":
        return "/adf", {"pages": args.pages}
    if args.action == "scan-available":
        if not args.destination:
            raise SystemExit("scan-available needs --destination NAME")
        return "/scan-available", {"destination": args.destination}
    if args.action == "fault":
        if not args.fault_kind:
            raise SystemExit("fault needs --fault jam|cover-open|clear|slow|drop")
        return "/fault", {
            "kind": args.fault_kind,
            "after_images": args.after_images,
            "bytes_per_second": args.bytes_per_second,
            "transfers": 1,
        }
    if args.action == "push":
        if not (args.server and args.psp_xml and args.user_sid):
            raise SystemExit("push needs --server URL --psp-xml FILE --user-sid SID")
        return "/push", {
            "server": args.server,
            "psp_xml": args.psp_xml.read_text(encoding="utf-8"),
            "psp_id": args.psp_id,
            "user_sid": args.user_sid,
            "user_name": args.user_name,
            "pages": args.pages,
            "format": args.format,
            "verify": not args.insecure,
        }
    raise SystemExit("unknown action %s" % args.action)


def main(argv: Sequence[str] | None = None, out: Any = None) -> int:
    """The command line without Django; returns the process exit status. The panels sign users in
    with the LDAP directory the ``--ldap-*`` options name (none: the panels are switched off)."""
    args = build_parser().parse_args(argv)
    services = panel_ldap.services_from_args(args) if args.action == "run" else None
    return run_args(args, out=out, services=services)


def run_args(args: argparse.Namespace, out: Any = None, services: PanelServices | None = None) -> int:
    """Run devices (``services`` for their panels, see :func:`start`) or make one control call."""
    out = out or sys.stdout
    if args.action == "run":
        config = config_from_args(args)
        problems = config.problems()
        if problems:
            raise SystemExit("; ".join(problems))
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        asyncio.run(serve(config, out=out, services=services))
        return 0
    path, payload = control_payload(args)
    status, answer = _control_call(control_url(args) + path, payload)
    out.write(json.dumps(answer, indent=2) + "\n")
    return 0 if 200 <= status < 300 else 1


@contextlib.contextmanager
def running(config: SimulatorConfig, services: PanelServices | None = None) -> Iterator[Simulation]:
    """Context-manager shorthand for :class:`SimulatorThread`."""
    with SimulatorThread(config, services) as sim:
        yield sim
