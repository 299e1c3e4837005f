"""A throwaway Samba Active Directory domain controller for the directory tests.

Provisioning takes about ten seconds, so it happens once per session: ``samba_dc`` provisions
``EXAMPLE.TEST`` into a temporary directory, starts ``samba -F`` in its own session (LDAP on the
fixed ports 389/636 of 127.0.0.1 — one DC per machine), creates the test users and nested groups
with ``samba-tool`` and stops the DC by process group at the end. Simple binds over plain LDAP
are allowed (``ldap server require strong auth = no``): nothing leaves 127.0.0.1.

Cast (passwords "<name>-Pw1!"): alice ∈ Scan Finance; nick ∈ Scan Helpers ∈ Scan Finance ∈
Scan Everyone (two levels of nesting); bob ∈ Scan Everyone; nora in no scan group; smcreader
is a plain user for the console's read-only service bind.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import services

REALM = "EXAMPLE.TEST"
DOMAIN = "EXAMPLE"
BASE = "DC=example,DC=test"
ADMIN_PW = "Adm1n-Samba-pw!"
ADMIN_DN = "CN=Administrator,CN=Users,%s" % BASE
USERS = ("alice", "bob", "nick", "nora", "smcreader")
GROUPS = {
    # group: members (users or groups) — order matters: a group is created before it is used
    "Scan Helpers": ("nick",),
    "Scan Finance": ("alice", "Scan Helpers"),
    "Scan Everyone": ("bob", "Scan Finance"),
}


def password(user: str) -> str:
    return "%s-Pw1!" % user


def user_dn(user: str) -> str:
    return "CN=%s,CN=Users,%s" % (user, BASE)


def group_dn(group: str) -> str:
    return "CN=%s,CN=Users,%s" % (group, BASE)


@dataclass
class SambaDC:
    directory: Path
    process: subprocess.Popen[bytes]
    conf: Path
    created: list[str] = field(default_factory=list)

    uri = "ldap://127.0.0.1:389/"
    base = BASE
    admin_dn = ADMIN_DN
    admin_password = ADMIN_PW

    def tool(self, *args: str) -> str:
        result = subprocess.run(
            [services.which("samba-tool"), *args, "-s", str(self.conf)],
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise RuntimeError("samba-tool %s failed: %s" % (" ".join(args), result.stderr[-2000:]))
        return result.stdout

    def stop(self) -> None:
        services.stop_process(self.process)


def _edit_conf(conf: Path, directory: Path) -> None:
    text = conf.read_text()
    # In smb.conf the last occurrence wins; drop provision's own lines for what we set.
    text = re.sub(r"(?m)^\s*server services\s*=.*\n", "", text)
    extra = {
        "server services": "ldap, cldap, kdc",
        "ldap server require strong auth": "no",
        "pid directory": directory / "run",
        "ncalrpc dir": directory / "run" / "ncalrpc",
        "winbindd socket directory": directory / "run" / "winbindd",
        "ntp signd socket directory": directory / "run" / "ntp_signd",
        "log file": directory / "log" / "samba.log",
        "cache directory": directory / "cache",
        "dsdb:schema update allowed": "false",
    }
    lines = "".join("\t%s = %s\n" % (key, value) for key, value in extra.items())
    text = text.replace("[global]\n", "[global]\n" + lines, 1)
    conf.write_text(text)


def start_samba_dc(directory: Path) -> SambaDC:
    if services.port_open(389):
        raise RuntimeError("something already listens on 127.0.0.1:389; one DC per machine")
    subprocess.run(
        [
            services.which("samba-tool"),
            "domain",
            "provision",
            "--targetdir=%s" % directory,
            "--realm=%s" % REALM,
            "--domain=%s" % DOMAIN,
            "--server-role=dc",
            "--dns-backend=NONE",
            "--use-rfc2307",
            "--adminpass=%s" % ADMIN_PW,
            "--host-name=dc1",
            "--option=interfaces=127.0.0.1",
            "--option=bind interfaces only=yes",
        ],
        check=True,
        capture_output=True,
    )
    for sub in ("log", "run", "cache"):
        (directory / sub).mkdir(exist_ok=True)
    conf = directory / "etc" / "smb.conf"
    _edit_conf(conf, directory)
    proc = subprocess.Popen(
        [services.which("samba"), "-s", str(conf), "-F"],
        stdout=open(directory / "log" / "stdout.log", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    dc = SambaDC(directory, proc, conf)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(
                    "samba exited: %s" % (directory / "log" / "stdout.log").read_text()[-2000:]
                )
            return services.port_open(389)

        services.wait_for(ready, "samba LDAP on 127.0.0.1:389", timeout=60)
        dc.tool("domain", "passwordsettings", "set", "--complexity=off", "--min-pwd-length=4")
        for user in USERS:
            dc.tool("user", "create", user, password(user), "--given-name", user.title())
        for group, members in GROUPS.items():
            dc.tool("group", "add", group)
            dc.tool("group", "addmembers", group, ",".join(members))
    except BaseException:
        dc.stop()
        raise
    return dc


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    dc = start_samba_dc(tmp_path_factory.mktemp("samba"))
    try:
        yield dc
    finally:
        dc.stop()
