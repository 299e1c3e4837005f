"""The simulated device's front panel: a web page at ``/panel/`` of each device (PROTOCOL.md §2.3).

What a user does at a DSM device, in a browser on the same machine (the panel answers loopback
callers only): sign in with directory credentials (steps 1–3, the :class:`PanelDirectory` the
program that starts the simulator injects, :mod:`devices.simulator.panel_directory`),
pick one of the scan processes the directory shows them, override the ticket settings the
process leaves unlocked (step 5, :mod:`devices.simulator.panel_forms`), choose platen / feeder /
duplex and a page count, and scan: the device pushes the job with WS-DSP
(:func:`devices.simulator.push.push_job`, steps 6–9) to the scan server named by the PSP's
``psp:ScanRepository``, presenting the device's client certificate (``--client-cert``) in the TLS
handshake and/or its enrollment token as ``Authorization: Bearer``.
Or the user picks a WSD destination a computer registered, which raises ScanAvailableEvent.

Job progress: the panel polls the scan server with WS-DSP ``GetPostScanJobElements`` (JobStatus)
until the job ends — WDD:ws-dsp-event-elements.md events would need a listener on the device,
and polling gives the same states with nothing to keep alive. Each state change is shown once,
in order; htmx refreshes the status every second and stops when the server answers HTTP 286.

Sessions are in memory (a random cookie per device port, HttpOnly, SameSite=Strict), every form
post carries the session's CSRF token, and bad input of any kind gets a page saying what was
wrong — never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from aiohttp import web

from devices.protocols import dsp, jobstatus, soap, transport
from devices.simulator import panel_html as html
from devices.simulator import push
from devices.simulator.control import _is_loopback
from devices.simulator.device import INPUT_SOURCES
from devices.simulator.panel_directory import (
    NO_DIRECTORY,
    PanelDirectory,
    PanelServices,
    PanelSignInError,
    PanelUser,
)
from devices.simulator.panel_forms import PanelInputError, ScanChoice, parse_scan_form, view_process

if TYPE_CHECKING:
    from devices.simulator.server import DeviceServer

log = logging.getLogger(__name__)

PREFIX = "/panel"
HTMX = Path(__file__).resolve().parents[2] / "static" / "vendor" / "htmx" / "htmx-2.0.11.min.js"
TERMINAL_STATES = frozenset({"Completed", "Aborted", "Canceled"})
MAX_SESSIONS = 200
MAX_JOBS = 200
STOP_POLLING = 286  # htmx stops an "every" trigger on this status
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass(frozen=True)
class PanelOptions:
    """How one device's panel signs users in and where it pushes."""

    directory: PanelDirectory | None = None
    disabled_reason: str = "The front panel is switched off."
    #: The device's enrollment token (read at every scan, so a re-enrollment needs no restart).
    token: Callable[[], str] = lambda: ""
    #: Push here instead of looking the PSP's ScanRepository up (the demo and tests).
    scan_server_url: str = ""
    #: ``fqdn -> WS-DSP endpoint URL`` (blocking; ``manage.py simulate_devices``: the ScanServer rows).
    resolve_server: Callable[[str], str | None] | None = None
    verify_tls: bool = True
    #: The device's client certificate and key (PEM files, read at every scan; '' for none).
    client_cert: str = ""
    client_key: str = ""
    #: An httpx transport for the pushes (None: the network; tests pass the scan server's ASGI app).
    transport: httpx.AsyncBaseTransport | None = None
    poll_interval: float = 0.5
    poll_timeout: float = 600.0
    session_idle: float = 900.0


@dataclass
class Session:
    user: PanelUser
    csrf: str
    seen: float


@dataclass
class PanelJob:
    job_id: str
    owner: str
    name: str
    state: str = "Scanning"
    done: bool = False
    ok: bool | None = None
    steps: list[tuple[str, str]] = field(default_factory=list)
    server_token: str = ""

    def step(self, text: str, state: str | None = None) -> None:
        if state is not None:
            self.state = state
        if not self.steps or self.steps[-1][1] != text:
            self.steps.append((datetime.now().strftime("%H:%M:%S"), text))

    def finish(self, state: str, ok: bool, text: str) -> None:
        self.step(text, state)
        self.done, self.ok = True, ok


def tokens_file_reader(path: str | Path, endpoint: str) -> Callable[[], str]:
    """Read this device's token from a JSON file ``{"<urn:uuid>": "<token>"}`` (``demo_setup`` writes it)."""

    def read() -> str:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ""
        value = data.get(endpoint, "") if isinstance(data, dict) else ""
        return value if isinstance(value, str) else ""

    return read


def options_for(
    endpoint: str,
    services: PanelServices | None,
    *,
    tokens_file: str = "",
    scan_server_url: str = "",
    verify_tls: bool = True,
    client_cert: str = "",
    client_key: str = "",
) -> PanelOptions:
    """The options ``run.start`` mounts for device ``endpoint``: the directory ``services`` give it
    (None: no directory, the panel says it is switched off and why)."""
    return PanelOptions(
        directory=services.directory_for(endpoint) if services is not None else None,
        disabled_reason=NO_DIRECTORY if services is None else PanelOptions.disabled_reason,
        token=tokens_file_reader(tokens_file, endpoint) if tokens_file else (lambda: ""),
        scan_server_url=scan_server_url,
        resolve_server=services.resolve_server if services is not None else None,
        verify_tls=verify_tls,
        client_cert=client_cert,
        client_key=client_key,
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PANEL_KEY: web.AppKey[Panel] = web.AppKey("panel")
FORM_KEY: web.RequestKey[dict[str, Any]] = web.RequestKey("panel_form", dict)
SESSION_KEY: web.RequestKey[Session | None] = web.RequestKey("panel_session")


class Panel:
    def __init__(self, server: DeviceServer, options: PanelOptions) -> None:
        self.server = server
        self.options = options
        self.sessions: dict[str, Session] = {}
        self.jobs: dict[str, PanelJob] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    # ---- plumbing ------------------------------------------------------------------------

    @property
    def cookie(self) -> str:
        # Cookies ignore ports: one name per device, so two panels on 127.0.0.1 keep their sessions.
        return "opendsm_panel_%d" % self.server.port

    def chrome(self, session: Session | None = None) -> html.Chrome:
        return html.Chrome(
            self.server.device.identity.name,
            session.user if session else None,
            session.csrf if session else "",
        )

    def respond(
        self, title: str, body: str, session: Session | None = None, status: int = 200
    ) -> web.Response:
        return web.Response(
            text=html.page(self.chrome(session), title, body),
            status=status,
            content_type="text/html",
            headers={
                "Content-Security-Policy": CSP,
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    def session(self, request: web.Request) -> Session | None:
        token = request.cookies.get(self.cookie, "")
        found = self.sessions.get(token) if token else None
        now = time.monotonic()
        if found is not None and now - found.seen > self.options.session_idle:
            del self.sessions[token]
            return None
        if found is not None:
            found.seen = now
        return found

    def guard(self, handler: Handler, *, signed_in: bool = False, post: bool = False) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not _is_loopback(request.remote):
                return web.Response(status=403, text="the panel answers loopback callers only")
            if self.options.directory is None and request.path != PREFIX + "/static/htmx.min.js":
                return self.respond(
                    "Front panel", html.disabled_body(self.options.disabled_reason), status=503
                )
            try:
                form: dict[str, Any] = {}
                if post:
                    form = await self._form(request)
                session = self.session(request)
                if signed_in and session is None:
                    raise web.HTTPSeeOther(PREFIX + "/")
                if post and signed_in:
                    assert session is not None
                    if not secrets.compare_digest(str(form.get("csrf", "")), session.csrf):
                        return self.respond(
                            "Front panel",
                            html.error_box("The form expired; open the page again."),
                            session,
                            status=403,
                        )
                request[FORM_KEY] = form
                request[SESSION_KEY] = session
                return await handler(request)
            except web.HTTPException:
                raise
            except PanelInputError as exc:
                return self.respond(
                    "Front panel", html.error_box(str(exc)), self.session(request), status=400
                )
            except Exception:  # a bug must still give the user a page, not a traceback
                log.exception("panel: %s %s failed", request.method, request.path)
                return self.respond(
                    "Front panel", html.error_box("Something went wrong on the device."), status=500
                )

        return guarded

    async def _form(self, request: web.Request) -> dict[str, Any]:
        if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raise PanelInputError("The form was not sent as a form.")
        origin = request.headers.get("Origin")
        if origin and origin not in ("null", "%s://%s" % (request.scheme, request.host)):
            raise PanelInputError("The form came from another site.")
        try:
            data = await request.post()
        except (ValueError, web.HTTPRequestEntityTooLarge):
            raise PanelInputError("The form is too large.") from None
        form: dict[str, Any] = {}
        for key in data:
            value = data.get(key)
            if not isinstance(value, str):
                raise PanelInputError("Files cannot be sent to the panel.")
            form[key] = value
        return form

    def add_routes(self, app: web.Application) -> None:
        app[PANEL_KEY] = self
        app.router.add_get(PREFIX, self.guard(self.redirect_home))
        app.router.add_get(PREFIX + "/", self.guard(self.home))
        app.router.add_get(PREFIX + "/static/htmx.min.js", self.guard(self.htmx))
        app.router.add_post(PREFIX + "/login", self.guard(self.login, post=True))
        app.router.add_post(PREFIX + "/logout", self.guard(self.logout, signed_in=True, post=True))
        app.router.add_get(PREFIX + "/process/{guid}", self.guard(self.process_page, signed_in=True))
        app.router.add_post(PREFIX + "/scan", self.guard(self.scan, signed_in=True, post=True))
        app.router.add_post(PREFIX + "/wsd", self.guard(self.wsd, signed_in=True, post=True))
        app.router.add_get(PREFIX + "/jobs/{job}", self.guard(self.job_page, signed_in=True))
        app.router.add_get(PREFIX + "/jobs/{job}/status", self.guard(self.job_fragment, signed_in=True))
        app.on_cleanup.append(self._cleanup)

    async def _cleanup(self, app: web.Application) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # ---- pages ---------------------------------------------------------------------------

    async def redirect_home(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPSeeOther(PREFIX + "/")

    async def htmx(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(
            HTMX, headers={"Content-Type": "text/javascript", "Cache-Control": "max-age=3600"}
        )

    def _home(self, session: Session, message: str = "", status: int = 200) -> web.Response:
        events = self.server.events
        destinations = sorted({d.display_name for d in events.destinations()}) if events else []
        mine = [
            (j.job_id, j.name, j.state)
            for j in reversed(self.jobs.values())
            if j.owner == session.user.username
        ]
        body = html.home_body(session.user, destinations, mine[:10], session.csrf, message)
        return self.respond("Scan", body, session, status)

    async def home(self, request: web.Request) -> web.StreamResponse:
        session: Session | None = request[SESSION_KEY]
        if session is None:
            assert self.options.directory is not None
            return self.respond("Sign in", html.login_body(self.options.directory.description))
        return self._home(session)

    async def login(self, request: web.Request) -> web.StreamResponse:
        form: dict[str, Any] = request[FORM_KEY]
        directory = self.options.directory
        assert directory is not None
        username = str(form.get("username", ""))[:300]
        password = str(form.get("password", ""))
        try:
            user = await asyncio.to_thread(directory.sign_in, username, password)
        except PanelSignInError as exc:
            body = html.login_body(directory.description, str(exc), username.strip()[:256])
            return self.respond("Sign in", body, status=401)
        if len(self.sessions) >= MAX_SESSIONS:
            oldest = min(self.sessions, key=lambda k: self.sessions[k].seen)
            del self.sessions[oldest]
        token = secrets.token_urlsafe(32)
        self.sessions[token] = Session(user, secrets.token_urlsafe(24), time.monotonic())
        log.info("panel of %s: %s signed in", self.server.device.identity.name, user.username)
        response = web.HTTPSeeOther(PREFIX + "/")
        response.set_cookie(self.cookie, token, path=PREFIX, httponly=True, samesite="Strict")
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        self.sessions.pop(request.cookies.get(self.cookie, ""), None)
        response = web.HTTPSeeOther(PREFIX + "/")
        response.del_cookie(self.cookie, path=PREFIX)
        raise response

    @staticmethod
    def _signed_in(request: web.Request) -> Session:
        session = request[SESSION_KEY]
        assert session is not None  # the guard sends anyone else to the sign-in page
        return session

    def _process(self, session: Session, guid: str) -> Any:
        process = session.user.process(guid)
        if process is None:
            raise PanelInputError("That scan process is not available to you on this device.")
        return view_process(process)

    def _process_response(
        self, session: Session, view: Any, message: str = "", sheets: str = "1"
    ) -> web.Response:
        body = html.process_body(
            view,
            self.server.device,
            self.server.device.capabilities.adf_capacity,
            session.csrf,
            message,
            sheets,
        )
        return self.respond(view.process.display_name, body, session, 400 if message else 200)

    async def process_page(self, request: web.Request) -> web.StreamResponse:
        session = self._signed_in(request)
        return self._process_response(session, self._process(session, request.match_info["guid"]))

    async def scan(self, request: web.Request) -> web.StreamResponse:
        session = self._signed_in(request)
        form: dict[str, Any] = request[FORM_KEY]
        view = self._process(session, str(form.get("process", "")))
        try:
            choice = parse_scan_form(form, view, self.server.device)
            url = await self._server_url(choice.scan_repository)
        except PanelInputError as exc:
            return self._process_response(session, view, str(exc), str(form.get("sheets", "1"))[:6])
        job = PanelJob(secrets.token_urlsafe(9), session.user.username, choice.process.display_name)
        self._remember(job)
        job.step(
            "Scanning %d sheet(s) from the %s" % (choice.sheets, choice.settings.input_source), "Scanning"
        )
        task = asyncio.ensure_future(self._run(job, choice, session.user, url))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        raise web.HTTPSeeOther("%s/jobs/%s" % (PREFIX, job.job_id))

    async def _server_url(self, fqdn: str) -> str:
        if self.options.scan_server_url:
            return self.options.scan_server_url
        if self.options.resolve_server is not None:
            try:
                url = await asyncio.to_thread(self.options.resolve_server, fqdn)
            except Exception:
                log.exception("panel: looking up scan server %s failed", fqdn)
                url = None
            if url:
                return url
        raise PanelInputError("This device does not know the scan server %s; ask your administrator." % fqdn)

    def _remember(self, job: PanelJob) -> None:
        while len(self.jobs) >= MAX_JOBS:
            self.jobs.pop(next(iter(self.jobs)))
        self.jobs[job.job_id] = job

    async def wsd(self, request: web.Request) -> web.StreamResponse:
        session = self._signed_in(request)
        form: dict[str, Any] = request[FORM_KEY]
        destination = str(form.get("destination", ""))
        source = str(form.get("input_source", "ADF"))
        events = self.server.events
        known = {d.display_name for d in events.destinations()} if events else set()
        if destination not in known:
            return self._home(session, "That destination is no longer registered with this device.", 400)
        if source not in INPUT_SOURCES:
            return self._home(session, "Choose the platen or the feeder.", 400)
        event = self.server.device.request_scan(destination, source)
        job = PanelJob(secrets.token_urlsafe(9), session.user.username, "Scan to %s" % destination)
        self._remember(job)
        job.finish(
            "Requested",
            True,
            "ScanAvailableEvent sent (%s); the computer now fetches the scan" % event.scan_identifier,
        )
        raise web.HTTPSeeOther("%s/jobs/%s" % (PREFIX, job.job_id))

    def _job(self, request: web.Request) -> PanelJob:
        session = self._signed_in(request)
        job = self.jobs.get(request.match_info["job"])
        if job is None or job.owner != session.user.username:
            raise PanelInputError("No such scan.")
        return job

    async def job_page(self, request: web.Request) -> web.StreamResponse:
        job = self._job(request)
        status = html.job_status(job.state, job.done, job.ok, job.steps)
        return self.respond(job.name, html.job_body(job.job_id, status), request[SESSION_KEY])

    async def job_fragment(self, request: web.Request) -> web.StreamResponse:
        job = self._job(request)
        return web.Response(
            text=html.job_status(job.state, job.done, job.ok, job.steps),
            status=STOP_POLLING if job.done else 200,
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )

    # ---- the scan ------------------------------------------------------------------------

    def credentials(self) -> push.Credentials:
        return push.Credentials(self.options.client_cert, self.options.client_key, self.options.token)

    def _client(self) -> httpx.AsyncClient:
        return self.credentials().client(
            verify=self.options.verify_tls, timeout=60.0, transport=self.options.transport
        )

    async def _run(self, job: PanelJob, choice: ScanChoice, user: PanelUser, url: str) -> None:
        settings = replace(
            choice.settings, user=user.username[:255], job_name=choice.process.display_name[:255]
        )
        request = push.PushRequest(
            url, user.sid, choice.psp_identifier, choice.instructions, settings, choice.sheets
        )
        try:
            try:
                http = self._client()
            except push.PushError as exc:  # the device's certificate files are unreadable
                job.finish("Failed", False, "The scan was not sent: %s" % exc)
                return
            async with http as client:
                try:
                    result = await push.push_job(self.server.device, request, client=client)
                except push.PushError as exc:
                    job.finish("Failed", False, "The scan was not sent: %s" % exc)
                    return
                except ValueError as exc:  # a malformed SID or instructions the protocol refuses
                    job.finish("Failed", False, "The scan was not sent: %s" % exc)
                    return
                job.server_token = result.job_token
                job.step(
                    "Sent %d document(s) to the scan server (job %s)"
                    % (len(result.documents), result.job_token),
                    "Sent",
                )
                await self._follow(job, client, url)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the panel must always reach an end state
            log.exception("panel job %s failed", job.job_id)
            job.finish("Failed", False, "The scan failed: %s" % exc)

    async def _follow(self, job: PanelJob, client: httpx.AsyncClient, url: str) -> None:
        """Poll GetPostScanJobElements(JobStatus) until the job ends; show each new state."""
        deadline = time.monotonic() + self.options.poll_timeout
        failures = 0
        while time.monotonic() < deadline:
            try:
                status = await job_status(client, url, job.server_token)
                failures = 0
            except (soap.SoapFault, transport.TransportError, ValueError) as exc:
                failures += 1
                if failures >= 10:
                    job.finish("Unknown", False, "The scan server stopped answering: %s" % exc)
                    return
                await asyncio.sleep(self.options.poll_interval)
                continue
            if status is not None:
                text = "Scan server: %s" % status.state
                reasons = [r for r in status.state_reasons if r and r != "None"]
                if reasons:
                    text += " (%s)" % ", ".join(reasons)
                if status.state in TERMINAL_STATES:
                    job.finish(status.state, status.state == "Completed", text)
                    return
                job.step(text, status.state)
            await asyncio.sleep(self.options.poll_interval)
        job.finish("Unknown", False, "No final state from the scan server yet; see the console's job list.")


async def job_status(client: httpx.AsyncClient, url: str, token: str) -> jobstatus.JobStatus | None:
    """WS-DSP ``GetPostScanJobElements`` asking for the JobStatus of ``token``."""
    request = dsp.GetPostScanJobElementsRequest(job_token=token, requested=(dsp.NAME_JOB_STATUS,))
    envelope = soap.build_envelope(soap.Headers(action=request.action, to=url), dsp.to_element(request))
    answer = await transport.post_soap_async(url, envelope, client=client)
    if answer.body is None:
        raise ValueError("empty answer")
    message = dsp.from_element(answer.body)
    if not isinstance(message, dsp.GetPostScanJobElementsResponse):
        raise ValueError("unexpected answer %s" % type(message).__name__)
    for element in message.elements:
        if element.valid and isinstance(element.content, jobstatus.JobStatus):
            return element.content
    return None


def mount(server: DeviceServer, options: PanelOptions) -> Panel:
    """Add the panel's routes to ``server``'s application (before ``server.start()``)."""
    panel = Panel(server, options)
    panel.add_routes(server.app)
    return panel
