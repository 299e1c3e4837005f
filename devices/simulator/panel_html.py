"""HTML of the simulated device's front panel (:mod:`devices.simulator.panel`).

Server-rendered pages, every dynamic value through :func:`e` (HTML escaping); htmx, vendored in
the repository and served by the device itself, refreshes the job status. No CDN, no inline
event handlers, so the Content-Security-Policy the panel sends can forbid inline scripts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from devices.simulator.panel_directory import PanelUser
from devices.simulator.panel_forms import FIELDS, SOURCE_LABELS, ProcessView, choices

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#eef1f4;color:#1d2733}
header{background:#23405f;color:#fff;padding:.6rem 1rem;display:flex;justify-content:space-between;
align-items:center}
header form{margin:0}
main{max-width:46rem;margin:1rem auto;background:#fff;padding:1rem 1.5rem;border-radius:.5rem}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}
input,select{font-size:1rem;padding:.3rem}
button{font-size:1rem;padding:.45rem 1.1rem;margin-top:.8rem}
.error{background:#fde2e1;color:#8a1c14;padding:.6rem;border-radius:.3rem}
.note{color:#4a5a6a;font-size:.9rem}
.locked{color:#4a5a6a}
ul.plain{list-style:none;padding:0}
ul.plain li{margin:.4rem 0}
table{border-collapse:collapse}
td,th{padding:.2rem .6rem;text-align:left;border-bottom:1px solid #dde}
"""


def e(value: object) -> str:
    return escape(str(value), quote=True)


@dataclass(frozen=True)
class Chrome:
    """What every page shows in its header."""

    device_name: str
    user: PanelUser | None = None
    csrf: str = ""


def page(chrome: Chrome, title: str, body: str) -> str:
    who = ""
    if chrome.user is not None:
        who = (
            '<form method="post" action="/panel/logout"><span data-testid="panel-user">%s</span> '
            '<input type="hidden" name="csrf" value="%s"><button type="submit">Sign out</button></form>'
            % (e(chrome.user.display_name), e(chrome.csrf))
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>%s · %s</title><style>%s</style>"
        '<script src="/panel/static/htmx.min.js"></script></head><body>'
        "<header><strong>%s</strong>%s</header><main><h1>%s</h1>%s</main></body></html>"
        % (e(title), e(chrome.device_name), STYLE, e(chrome.device_name), who, e(title), body)
    )


def error_box(message: str) -> str:
    return '<p class="error" role="alert" data-testid="panel-error">%s</p>' % e(message) if message else ""


def login_body(directory: str, message: str = "", username: str = "") -> str:
    return (
        '%s<form method="post" action="/panel/login">'
        '<label for="username">User name</label>'
        '<input id="username" name="username" autocomplete="username" maxlength="256" value="%s" autofocus>'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password"'
        ' maxlength="1024">'
        '<div><button type="submit">Sign in</button></div></form>'
        '<p class="note">Signs in with the %s, as a DSM device does.</p>'
        % (error_box(message), e(username), e(directory))
    )


def disabled_body(reason: str) -> str:
    return '<p class="error" data-testid="panel-disabled">%s</p>' % e(reason)


def home_body(
    user: PanelUser,
    destinations: Sequence[str],
    jobs: Iterable[tuple[str, str, str]],
    csrf: str,
    message: str = "",
) -> str:
    parts = [error_box(message), "<h2>Scan processes</h2>"]
    if user.processes:
        parts.append('<ul class="plain" data-testid="process-list">')
        for p in user.processes:
            parts.append('<li><a href="/panel/process/%s">%s</a></li>' % (e(p.guid), e(p.display_name)))
        parts.append("</ul>")
    else:
        parts.append(
            '<p data-testid="process-list-empty">No scan process is available to you on this device.</p>'
        )
    parts.append("<h2>Scan to a computer (WSD)</h2>")
    if destinations:
        options = "".join('<option value="%s">%s</option>' % (e(d), e(d)) for d in destinations)
        sources = "".join('<option value="%s">%s</option>' % (e(k), e(v)) for k, v in SOURCE_LABELS.items())
        parts.append(
            '<form method="post" action="/panel/wsd"><input type="hidden" name="csrf" value="%s">'
            '<label for="destination">Destination</label>'
            '<select id="destination" name="destination">%s</select>'
            '<label for="wsd_source">Paper source</label>'
            '<select id="wsd_source" name="input_source">%s</select>'
            '<div><button type="submit">Scan to computer</button></div></form>' % (e(csrf), options, sources)
        )
    else:
        parts.append('<p class="note">No computer has registered a scan destination with this device.</p>')
    rows = list(jobs)
    if rows:
        parts.append("<h2>Your scans</h2><table><tr><th>Scan process</th><th>State</th></tr>")
        for job_id, name, state in rows:
            parts.append(
                '<tr><td><a href="/panel/jobs/%s">%s</a></td><td>%s</td></tr>'
                % (e(job_id), e(name), e(state))
            )
        parts.append("</table>")
    return "".join(parts)


def _field(view: ProcessView, device: object, field: str, label: str, setting: str) -> str:
    current = view.value(field)
    if setting in view.locked:
        shown = SOURCE_LABELS.get(current, current) if field == "input_source" else current
        return (
            '<label>%s</label><span class="locked" data-testid="locked-%s">'
            "%s (locked by the scan process)</span>" % (e(label), e(field), e(shown))
        )
    if field == "quality":
        return (
            '<label for="%s">%s</label><input id="%s" name="%s" inputmode="numeric" maxlength="3" value="%s">'
            % (e(field), e(label), e(field), e(field), e(current))
        )
    options = []
    for value in choices(view, device, field):  # type: ignore[arg-type]
        text = SOURCE_LABELS.get(value, value) if field == "input_source" else value
        selected = " selected" if value == current else ""
        options.append('<option value="%s"%s>%s</option>' % (e(value), selected, e(text)))
    return '<label for="%s">%s</label><select id="%s" name="%s">%s</select>' % (
        e(field),
        e(label),
        e(field),
        e(field),
        "".join(options),
    )


def process_body(
    view: ProcessView, device: object, capacity: int, csrf: str, message: str = "", sheets: str = "1"
) -> str:
    fields = "".join(_field(view, device, field, label, setting) for setting, field, label in FIELDS)
    if view.allow_name_change:
        name = (
            '<label for="document_name">File name</label>'
            '<input id="document_name" name="document_name" maxlength="255" value="%s">'
            % e(view.document_root_name)
        )
    else:
        name = '<label>File name</label><span class="locked">%s</span>' % e(view.document_root_name)
    return (
        '%s<p class="note">Sent to scan server %s.</p>'
        '<form method="post" action="/panel/scan">'
        '<input type="hidden" name="csrf" value="%s"><input type="hidden" name="process" value="%s">'
        "%s%s"
        '<label for="sheets">Pages (sheets in the feeder; the platen takes one)</label>'
        '<input id="sheets" name="sheets" inputmode="numeric" maxlength="6" value="%s">'
        '<p class="note">The feeder holds up to %d sheets.</p>'
        '<div><button type="submit">Scan</button> <a href="/panel/">Back</a></div></form>'
        % (
            error_box(message),
            e(view.scan_repository),
            e(csrf),
            e(view.process.guid),
            fields,
            name,
            e(sheets),
            capacity,
        )
    )


def job_body(job_id: str, status_html: str) -> str:
    return (
        '<div id="job-status" hx-get="/panel/jobs/%s/status" hx-trigger="every 1s" hx-swap="innerHTML">'
        "%s</div>"
        '<p><a href="/panel/">Back to the scan processes</a></p>' % (e(job_id), status_html)
    )


def job_status(state: str, done: bool, ok: bool | None, steps: Sequence[tuple[str, str]]) -> str:
    cls = "" if not done else (' class="error"' if ok is False else "")
    items = "".join('<li><span class="note">%s</span> %s</li>' % (e(t), e(text)) for t, text in steps)
    return (
        '<p%s><strong data-testid="job-state">%s</strong>%s</p>'
        '<ul class="plain" data-testid="job-steps">%s</ul>'
        % (
            cls,
            e(state),
            "" if done else " …",
            items,
        )
    )
