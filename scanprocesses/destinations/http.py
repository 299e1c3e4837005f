"""HTTP webhook destination (OpenDSM dialect :data:`DIALECT`, ``odsm:HttpConfig``): one
``multipart/form-data`` POST per document.

``config``: ``{"url": "https://...", "ca_file": str, "verify_tls": true}``; the destination's
secret, when set, is sent as ``Authorization: Bearer <secret>``. Parts: ``metadata`` (JSON: job
token, user, process, document name, pages, size, sha256) and ``file``. ``Idempotency-Key`` is
``<job token>:<delivery id>:<sha256>`` so a receiver can drop the duplicate that a re-send after a
crash may produce (HTTP gives no way to check first). The receipt is ``verified`` when the
receiver answers with JSON whose ``sha256`` equals ours. A device cannot change the URL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from django import forms

from devices.protocols import psp
from scanprocesses.destinations.base import (
    INVALID_ARGS,
    TARGETS,
    UNKNOWN_ERROR,
    Credentials,
    Delivery,
    DeliveryError,
    Document,
    Receipt,
    check_http_url,
    odsm_instructions,
    odsm_values,
    one_target,
    receipt,
    targets_field,
)

log = logging.getLogger(__name__)

DIALECT = psp.DIALECT_HTTP
NEEDS_CREDENTIAL = True  # a PSP never carries the token: it is entered on the edit page
SERIAL_TESTS = False  # test posts may run alongside others

FIELDS: dict[str, forms.Field] = {
    TARGETS: targets_field("Webhook URL", "a webhook URL"),
}


def initial(config: dict[str, Any]) -> dict[str, Any]:
    """The form values showing ``config`` (the inverse of :func:`clean_config`)."""
    return {TARGETS: str(config.get("url", ""))}


def clean_config(data: dict[str, Any]) -> dict[str, Any]:
    """The config of the form's cleaned ``data``; ValidationError next to the field otherwise."""
    url = one_target(data, "an HTTP destination needs exactly one URL")
    check_http_url(url, "webhook URL")
    return {"url": url}


def to_filter(config: dict[str, Any], has_secret: bool = False) -> psp.AnyFilter:
    values = [("URL", str(config.get("url", "")))]
    if has_secret:
        # Says that a bearer token is stored for this filter position, never the token.
        values.append(("Authorization", "bearer"))
    return psp.UnknownFilter(dialect=DIALECT, raw=odsm_instructions("HttpConfig", values))


def from_filter(item: psp.AnyFilter) -> dict[str, Any]:
    return {"url": odsm_values(item, "HttpConfig").get("URL", "")}


def apply_instructions(config: dict[str, Any], item: psp.AnyFilter) -> dict[str, Any]:
    return dict(config)  # the webhook is the process's: a device does not choose it


def target_text(config: dict[str, Any]) -> str:
    return str(config.get("url", ""))


def describe(config: dict[str, Any]) -> str:
    return target_text(config)


TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def _client(config: dict[str, Any], credentials: Credentials) -> tuple[httpx.Client, str]:
    url = str(config.get("url") or "")
    if not url.startswith(("http://", "https://")):
        raise DeliveryError("the webhook destination needs an http(s) URL", INVALID_ARGS, retryable=False)
    verify: bool | str = bool(config.get("verify_tls", True))
    if config.get("ca_file"):
        verify = str(config["ca_file"])
    headers = {"Authorization": "Bearer %s" % credentials.password} if credentials.password else {}
    return httpx.Client(verify=verify, timeout=TIMEOUT, headers=headers, follow_redirects=False), url


def _error(resp: httpx.Response, url: str) -> DeliveryError:
    retryable = resp.status_code >= 500 or resp.status_code in (408, 425, 429)
    return DeliveryError(
        "POST %s: HTTP %d %s" % (url, resp.status_code, resp.reason_phrase), UNKNOWN_ERROR, retryable
    )


def metadata(delivery: Delivery, output: Document) -> dict[str, Any]:
    job = delivery.job
    return {
        "job": str(job.token),
        "user": job.user_name,
        "user_sid": job.user_sid,
        "process": job.psp_display_name or (job.process.display_name if job.process is not None else ""),
        "process_id": job.psp_identifier,
        "name": output.name,
        "content_type": output.content_type,
        "pages": output.pages,
        "size": output.size,
        "sha256": output.sha256,
    }


def deliver(
    delivery: Delivery, outputs: Sequence[Document], config: dict[str, Any], credentials: Credentials
) -> list[Receipt]:
    client, url = _client(config, credentials)
    receipts: list[Receipt] = []
    with client:
        for output in outputs:
            meta = json.dumps(metadata(delivery, output))
            key = "%s:%d:%s" % (delivery.job.token, delivery.pk, output.sha256)
            try:
                with open(output.path, "rb") as fh:
                    resp = client.post(
                        url,
                        files={
                            "metadata": (None, meta, "application/json"),
                            "file": (output.name, fh, output.content_type),
                        },
                        headers={"Idempotency-Key": key},
                    )
            except httpx.HTTPError as exc:
                raise DeliveryError("POST %s: %s" % (url, exc), UNKNOWN_ERROR) from exc
            if resp.status_code >= 300:
                raise _error(resp, url)
            verified = False
            try:
                verified = resp.json().get("sha256") == output.sha256
            except (ValueError, AttributeError):
                pass
            log.info("posted %s to %s (HTTP %d)", output.name, url, resp.status_code)
            receipts.append(
                receipt(output.name, url, output.size, output.sha256, verified, status=resp.status_code)
            )
    return receipts


def test_write(config: dict[str, Any], credentials: Credentials) -> str:
    client, url = _client(config, credentials)
    with client:
        try:
            resp = client.post(
                url,
                files={"metadata": (None, json.dumps({"test": True}), "application/json")},
                headers={"Idempotency-Key": "opendsm-test"},
            )
        except httpx.HTTPError as exc:
            raise DeliveryError("POST %s: %s" % (url, exc), UNKNOWN_ERROR) from exc
    if resp.status_code >= 300:
        raise _error(resp, url)
    return "posted a test message to %s (HTTP %d)" % (url, resp.status_code)
