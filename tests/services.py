"""Throwaway real services for the test suite: slapd, PostgreSQL, Redis.

Everything binds to 127.0.0.1 on a free port, lives in a temporary directory and is stopped by
PID by whoever started it (fixtures use ``try/finally``). ``python -m tests.services ensure``
is what the README's test command uses to find (or start) PostgreSQL and Redis before pytest:
it prints ``KEY=value`` lines for the environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SBIN = ("/usr/sbin", "/usr/bin", "/usr/lib/postgresql/15/bin")


def which(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join([*SBIN, os.environ.get("PATH", "")]))
    if not found:
        raise RuntimeError("%s is not installed; run scripts/setup.sh" % name)
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for %s" % what)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a process we started (its own session): SIGTERM the group, then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


# --- TLS -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TLSFiles:
    ca_cert: Path
    cert: Path
    key: Path
    other_ca_cert: Path  # a CA that did not sign the server cert, for the negative test


def make_tls(directory: Path) -> TLSFiles:
    """A CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI."""
    openssl = which("openssl")
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=directory)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=OpenDSM Test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (directory / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    )
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        "server.crt",
        "-extfile",
        "ext.cnf",
    )
    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Unrelated CA",
        "-keyout",
        "other.key",
        "-out",
        "other.crt",
    )
    for name in ("server.key", "ca.key", "other.key"):
        (directory / name).chmod(0o600)
    return TLSFiles(
        directory / "ca.crt", directory / "server.crt", directory / "server.key", directory / "other.crt"
    )


# --- slapd ---------------------------------------------------------------------------------------
SUFFIX = "dc=example,dc=test"
ROOT_DN = "cn=admin,dc=example,dc=test"
ROOT_PW = "slapd-root-pw1!"
BIND_DN = "cn=smc-reader,ou=services,dc=example,dc=test"
BIND_PW = "smc-reader-pw1!"


@dataclass
class Slapd:
    """A running throwaway slapd with the project's test directory loaded."""

    directory: Path
    port: int
    tls_port: int
    tls: TLSFiles
    process: subprocess.Popen[bytes]

    @property
    def uri(self) -> str:
        return "ldap://127.0.0.1:%d/" % self.port

    @property
    def ldaps_uri(self) -> str:
        return "ldaps://127.0.0.1:%d/" % self.tls_port

    def ldapmodify(self, ldif: str) -> None:
        subprocess.run(
            [which("ldapmodify"), "-x", "-H", self.uri, "-D", ROOT_DN, "-w", ROOT_PW],
            input=ldif.encode(),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        stop_process(self.process)


SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
{extra_includes}
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}

database mdb
maxsize 104857600
suffix "{suffix}"
rootdn "{rootdn}"
rootpw {rootpw}
directory {dir}/data
overlay memberof
{extra_acl}
access to dn.base="" by * read
access to dn.base="cn=Subschema" by * read
access to attrs=userPassword by self read by anonymous auth by * none
access to * by users read by anonymous auth
"""


def start_slapd(
    workdir: Path,
    ldif: Path = HERE / "ldap" / "directory.ldif",
    extra_schemas: tuple[Path, ...] = (),
    extra_acl: str = "",
) -> Slapd:
    """``extra_acl``: slapd.conf ``access to`` lines placed before the default ones."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data").mkdir(exist_ok=True)
    tls = make_tls(workdir / "tls")
    conf = workdir / "slapd.conf"
    conf.write_text(
        SLAPD_CONF.format(
            dir=workdir,
            suffix=SUFFIX,
            rootdn=ROOT_DN,
            rootpw=ROOT_PW,
            ca=tls.ca_cert,
            cert=tls.cert,
            key=tls.key,
            extra_includes="\n".join("include %s" % p for p in extra_schemas),
            extra_acl=extra_acl,
        )
    )
    check = subprocess.run([which("slaptest"), "-f", str(conf), "-u"], capture_output=True, text=True)
    if check.returncode:
        raise RuntimeError("slaptest refused the configuration: %s" % check.stderr)
    port, tls_port = free_port(), free_port()
    urls = "ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/" % (port, tls_port)
    proc = subprocess.Popen(
        [which("slapd"), "-f", str(conf), "-h", urls, "-d", "0"],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "slapd.log", "wb"),
        start_new_session=True,
    )
    server = Slapd(workdir, port, tls_port, tls, proc)
    try:
        ldapsearch = which("ldapsearch")

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError("slapd exited: %s" % (workdir / "slapd.log").read_text()[-2000:])
            r = subprocess.run(
                [ldapsearch, "-x", "-H", server.uri, "-s", "base", "-b", "", "(objectClass=*)"],
                capture_output=True,
            )
            return r.returncode == 0

        wait_for(ready, "slapd on port %d" % port)
        subprocess.run(
            [which("ldapadd"), "-x", "-H", server.uri, "-D", ROOT_DN, "-w", ROOT_PW, "-f", str(ldif)],
            check=True,
            capture_output=True,
        )
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def slapd_running() -> Iterator[Slapd]:
    with tempfile.TemporaryDirectory(prefix="opendsm-slapd-") as tmp:
        server = start_slapd(Path(tmp))
        try:
            yield server
        finally:
            server.stop()


# --- PostgreSQL and Redis ---------------------------------------------------------------------
def _start_postgres(base: Path) -> str:
    """Start a throwaway cluster (initdb refuses root, so it runs as the postgres user)."""
    port = free_port()
    data = base / "pgdata"
    base.mkdir(parents=True, exist_ok=True)
    shutil.chown(base, "postgres")
    runuser = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*runuser, which("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *runuser,
            which("pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(base / "pg.log"),
            "-o",
            "-h 127.0.0.1 -p %d -k %s -c fsync=off" % (port, base),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    return "postgres://postgres@127.0.0.1:%d/opendsm" % port


def ensure() -> dict[str, str]:
    """Find PostgreSQL and Redis on their usual local ports, or start throwaway ones."""
    env: dict[str, str] = {}
    if os.environ.get("SMC_DATABASE_URL"):
        env["SMC_DATABASE_URL"] = os.environ["SMC_DATABASE_URL"]
    elif port_open(5432):
        env["SMC_DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/opendsm"
    else:
        base = Path(tempfile.mkdtemp(prefix="opendsm-pg-"))
        env["SMC_DATABASE_URL"] = _start_postgres(base)
        env["OPENDSM_TEST_PG_DIR"] = str(base)
    if os.environ.get("SMC_REDIS_URL"):
        env["SMC_REDIS_URL"] = os.environ["SMC_REDIS_URL"]
    elif port_open(6379):
        env["SMC_REDIS_URL"] = "redis://127.0.0.1:6379/9"
    else:
        base = Path(tempfile.mkdtemp(prefix="opendsm-redis-"))
        port = free_port()
        subprocess.run(
            [
                which("redis-server"),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--pidfile",
                str(base / "redis.pid"),
                "--dir",
                str(base),
            ],
            check=True,
            capture_output=True,
        )
        wait_for(lambda: port_open(port), "redis on port %d" % port)
        env["SMC_REDIS_URL"] = "redis://127.0.0.1:%d/9" % port
        env["OPENDSM_TEST_REDIS_PIDFILE"] = str(base / "redis.pid")
    return env


def teardown() -> None:
    """Stop what :func:`ensure` started (the test command calls this from its exit trap)."""
    pg = os.environ.get("OPENDSM_TEST_PG_DIR")
    if pg:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                which("pg_ctl"),
                "-D",
                str(Path(pg) / "pgdata"),
                "-m",
                "fast",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(pg, ignore_errors=True)
    pidfile = os.environ.get("OPENDSM_TEST_REDIS_PIDFILE")
    if pidfile and os.path.exists(pidfile):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(Path(pidfile).read_text().strip()), signal.SIGTERM)
        shutil.rmtree(os.path.dirname(pidfile), ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["ensure"]:
        for key, value in ensure().items():
            sys.stdout.write("%s=%s\n" % (key, value))
    elif sys.argv[1:] == ["teardown"]:
        teardown()
    else:
        sys.stderr.write("usage: python -m tests.services ensure|teardown\n")
        sys.exit(2)
