"""SharePoint / WebDAV destination (psp ``spf:SharePointConfig``): HTTP PUT with basic auth.

``config``: ``{"site_urls": ["https://host/sites/x/Shared Documents/Scans/", ...], "my_site": bool,
"ca_file": str, "verify_tls": true}`` — each URL is a folder (collection); the device's
instructions may replace ``site_urls`` where the process allows it. Missing folders are made with MKCOL.
A document is PUT with ``If-None-Match: *`` (RFC 7232: never replace an existing resource); a
taken name whose bytes are ours (same sha256, found by GET) counts as delivered, any other gets
the next `` (n)`` suffix. After the PUT the document is read back (GET) and its size and sha256
compared, so ``verified`` in the receipt means the server holds exactly our bytes.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from django import forms

from devices.protocols import psp
from scanprocesses.destinations.base import (
    ACCESS_DENIED_SHAREPOINT,
    INVALID_ARGS,
    OUT_OF_SPACE_SHAREPOINT,
    TARGETS,
    UNKNOWN_ERROR,
    Credentials,
    Delivery,
    DeliveryError,
    Document,
    Receipt,
    check_http_url,
    free_name,
    invalid,
    lines,
    receipt,
    strings,
    targets_field,
    username_field,
)

log = logging.getLogger(__name__)

DIALECT = psp.DIALECT_SHAREPOINT
NEEDS_CREDENTIAL = True  # a PSP never carries the password: it is entered on the edit page
SERIAL_TESTS = False  # test writes may run alongside others

FIELDS: dict[str, forms.Field] = {
    TARGETS: targets_field("Site URLs", "site URLs (one per line)"),
    "my_site": forms.BooleanField(required=False, label="Save to the user's MySite"),
    "username": username_field(),
}


def initial(config: dict[str, Any]) -> dict[str, Any]:
    """The form values showing ``config`` (the inverse of :func:`clean_config`)."""
    return {TARGETS: "\n".join(config.get("site_urls", [])), "my_site": bool(config.get("my_site"))}


def clean_config(data: dict[str, Any]) -> dict[str, Any]:
    """The config of the form's cleaned ``data``; ValidationError next to the field otherwise."""
    urls = lines(data.get(TARGETS))
    for url in urls:
        check_http_url(url, "site URL")
    if not urls and not data.get("my_site"):
        raise invalid("give a SharePoint site URL or choose MySite")
    return {"site_urls": urls, "my_site": bool(data.get("my_site"))}


def to_filter(config: dict[str, Any], has_secret: bool = False) -> psp.AnyFilter:
    return psp.Filter.of(
        psp.SharePointConfig(
            save_to_my_site=bool(config.get("my_site")), site_urls=strings(config, "site_urls")
        )
    )


def from_filter(item: psp.AnyFilter) -> dict[str, Any]:
    if not (isinstance(item, psp.Filter) and isinstance(item.instructions, psp.SharePointConfig)):
        raise TypeError("not a SharePoint filter: %s" % item.dialect)
    i = item.instructions
    return {"site_urls": list(i.site_urls), "my_site": bool(i.save_to_my_site)}


def apply_instructions(config: dict[str, Any], item: psp.AnyFilter) -> dict[str, Any]:
    """``config`` with the sites the device's filter names (already checked against the process)."""
    out = dict(config)
    if isinstance(item, psp.Filter) and isinstance(item.instructions, psp.SharePointConfig):
        out["site_urls"] = list(item.instructions.site_urls)
    return out


def target_text(config: dict[str, Any]) -> str:
    return "; ".join(config.get("site_urls") or [])


def describe(config: dict[str, Any]) -> str:
    return ", ".join(strings(config, "site_urls")) + (" + MySite" if config.get("my_site") else "")


TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def _status_error(resp: httpx.Response, what: str) -> DeliveryError:
    text = "%s: HTTP %d %s" % (what, resp.status_code, resp.reason_phrase)
    if resp.status_code in (401, 403):
        return DeliveryError(text, ACCESS_DENIED_SHAREPOINT, retryable=False)
    if resp.status_code == 507:
        return DeliveryError(text, OUT_OF_SPACE_SHAREPOINT)
    retryable = resp.status_code >= 500 or resp.status_code in (408, 409, 423, 429)
    return DeliveryError(text, UNKNOWN_ERROR, retryable=retryable)


def _folder_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DeliveryError("%r is not an http(s) URL" % url, INVALID_ARGS, retryable=False)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    if any(seg in (".", "..") for seg in path.split("/")):
        raise DeliveryError("URL %r contains . or .. segments" % url, INVALID_ARGS, retryable=False)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _client(config: dict[str, Any], credentials: Credentials) -> httpx.Client:
    verify: bool | str = bool(config.get("verify_tls", True))
    if config.get("ca_file"):
        verify = str(config["ca_file"])
    auth = httpx.BasicAuth(credentials.username, credentials.password) if credentials.username else None
    return httpx.Client(auth=auth, verify=verify, timeout=TIMEOUT, follow_redirects=False)


def _ensure_folder(client: httpx.Client, folder: str) -> None:
    resp = client.request("PROPFIND", folder, headers={"Depth": "0"})
    if resp.status_code in (200, 207):
        return
    if resp.status_code != 404:
        raise _status_error(resp, "PROPFIND %s" % folder)
    parts = urlsplit(folder)
    segments = [s for s in parts.path.split("/") if s]
    for depth in range(1, len(segments) + 1):
        url = urlunsplit((parts.scheme, parts.netloc, "/" + "/".join(segments[:depth]) + "/", "", ""))
        made = client.request("MKCOL", url)
        if made.status_code not in (201, 405):  # 405: it exists already
            raise _status_error(made, "MKCOL %s" % url)


def _sha_of(client: httpx.Client, url: str) -> str | None:
    digest = hashlib.sha256()
    with client.stream("GET", url) as resp:
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise _status_error(resp, "GET %s" % url)
        for block in resp.iter_bytes():
            digest.update(block)
    return digest.hexdigest()


def _put(client: httpx.Client, folder: str, output: Document) -> Receipt:
    for _ in range(100):
        chosen, already = free_name(output.name, lambda n: _sha_of(client, folder + quote(n)), output.sha256)
        url = folder + quote(chosen)
        if already:
            break
        with open(output.path, "rb") as fh:
            resp = client.put(
                url,
                content=fh,
                headers={
                    "If-None-Match": "*",
                    "Content-Type": output.content_type,
                    "Content-Length": str(output.size),
                },
            )
        if resp.status_code == 412:
            continue  # taken between our check and the PUT
        if resp.status_code not in (200, 201, 204):
            raise _status_error(resp, "PUT %s" % url)
        break
    else:
        raise DeliveryError("no free name for %s in %s" % (output.name, folder), UNKNOWN_ERROR)
    digest = _sha_of(client, url)
    if digest != output.sha256:
        raise DeliveryError("%s reads back with sha256 %s" % (url, digest), UNKNOWN_ERROR)
    log.info("delivered %s to %s%s", output.name, url, " (already there)" if already else "")
    return receipt(output.name, url, output.size, output.sha256, True)


def _folders(config: dict[str, Any]) -> list[str]:
    urls = [str(u) for u in config.get("site_urls") or [] if str(u).strip()]
    if not urls:
        raise DeliveryError(
            "the SharePoint/WebDAV destination has no site URL", INVALID_ARGS, retryable=False
        )
    return [_folder_url(u) for u in urls]


def deliver(
    delivery: Delivery, outputs: Sequence[Document], config: dict[str, Any], credentials: Credentials
) -> list[Receipt]:
    receipts: list[Receipt] = []
    with _client(config, credentials) as client:
        for folder in _folders(config):
            try:
                _ensure_folder(client, folder)
                for output in outputs:
                    receipts.append(_put(client, folder, output))
            except httpx.HTTPError as exc:
                raise DeliveryError("%s: %s" % (folder, exc), UNKNOWN_ERROR) from exc
    return receipts


def test_write(config: dict[str, Any], credentials: Credentials) -> str:
    done = []
    with _client(config, credentials) as client:
        for folder in _folders(config):
            url = folder + ".opendsm-test-%s" % uuid.uuid4().hex
            try:
                _ensure_folder(client, folder)
                resp = client.put(url, content=b"OpenDSM destination test\n", headers={"If-None-Match": "*"})
                if resp.status_code not in (200, 201, 204):
                    raise _status_error(resp, "PUT %s" % url)
                gone = client.delete(url)
                if gone.status_code not in (200, 204):
                    raise _status_error(gone, "DELETE %s" % url)
            except httpx.HTTPError as exc:
                raise DeliveryError("%s: %s" % (folder, exc), UNKNOWN_ERROR) from exc
            done.append(folder)
    return "wrote and removed a test file in %s" % ", ".join(done)
