"""What the simulated device's front panel needs of a directory: plain Python, no Django.

A DSM device signs a user in (PROTOCOL.md §2.3 steps 1–4) and, in the same step, learns the scan
processes that user may use at this device: :class:`PanelDirectory` answers
:meth:`~PanelDirectory.sign_in` with a :class:`PanelUser` (user name, SID, usable processes as
``(guid, display name, PSP XML)``) or raises a :class:`PanelSignInError` whose message the panel
shows as it is. The processes come with the sign-in, not from a later call, because the real
thing reads them bound to the directory *as the user* (:mod:`devices.simulator.panel_ldap`):
only the sign-in has the password.

The simulator does not choose a directory. The program that starts it injects one
:class:`PanelServices` (``run.start(config, services)``): which directory each device's panel
uses and how a PSP's ``psp:ScanRepository`` becomes a WS-DSP URL. ``manage.py
simulate_devices`` injects the console's (database users or LDAP, OpenDSM's device-group rule,
the registered scan servers: ``smc.simulation``); ``python -m devices.simulator`` injects an LDAP
directory built from its ``--ldap-*`` options, or nothing, and then the panel is switched off.
Every call blocks: the panel runs it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

MAX_USERNAME = 256
MAX_PASSWORD = 1024

#: Shown by a panel nobody gave a directory.
NO_DIRECTORY = (
    "The front panel needs a directory: run the simulator with `manage.py simulate_devices` "
    "(embedded or LDAP directory) or pass --ldap-uri and --ldap-user-base (LDAP only)."
)


class PanelSignInError(Exception):
    """Sign-in failed; the message is shown on the panel as it is."""


class BadCredentials(PanelSignInError):
    pass


class DirectoryUnavailable(PanelSignInError):
    pass


@dataclass(frozen=True)
class PanelProcess:
    guid: str
    display_name: str
    psp_xml: bytes


@dataclass(frozen=True)
class PanelUser:
    username: str
    sid: str
    display_name: str
    processes: tuple[PanelProcess, ...]

    def process(self, guid: str) -> PanelProcess | None:
        return next((p for p in self.processes if p.guid == guid), None)


class PanelDirectory(Protocol):
    """One device's view of the directory (the device is fixed when the directory is made)."""

    #: Shown on the panel: "embedded directory" or the LDAP URI.
    description: str

    def sign_in(self, username: str, password: str) -> PanelUser:
        """The user with the processes usable at this device; :class:`PanelSignInError` if refused."""
        ...


#: ``(username, processes the directory showed) -> processes the device may offer``.
Availability = Callable[[str, list[PanelProcess]], list[PanelProcess]]


@dataclass(frozen=True)
class PanelServices:
    """What the program that starts the simulator gives every device's panel."""

    #: The device's endpoint (``urn:uuid:...``) -> the directory its panel signs users in with.
    directory_for: Callable[[str], PanelDirectory]
    #: ``fqdn -> WS-DSP endpoint URL`` of a scan server (blocking; None: only ``--scan-server-url``).
    resolve_server: Callable[[str], str | None] | None = None


def check_credentials_shape(username: str, password: str) -> None:
    """Refuse what no directory should see: empty (an anonymous bind!), huge or NUL-laden values."""
    if not username.strip() or not password:
        raise BadCredentials("Enter your user name and password.")
    if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD or "\0" in username + password:
        raise BadCredentials("User name or password refused.")
