"""HTTP webhook destination: one ``multipart/form-data`` POST per document.

``config``: ``{"url": "https://...", "ca_file": str, "verify_tls": true}``; the destination's
secret, when set, is sent as ``Authorization: Bearer <secret>``. Parts: ``metadata`` (JSON: job
token, user, process, document name, pages, size, sha256) and ``file``. ``Idempotency-Key`` is
``<job token>:<delivery id>:<sha256>`` so a receiver can drop the duplicate that a re-send after a
crash may produce (HTTP gives no way to check first). The receipt is ``verified`` when the
receiver answers with JSON whose ``sha256`` equals ours.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from scanprocesses.destinations import (
    INVALID_ARGS,
    UNKNOWN_ERROR,
    Credentials,
    DeliveryError,
    Receipt,
    receipt,
)

if TYPE_CHECKING:
    from scanserver.models import Delivery, OutputDocument

log = logging.getLogger(__name__)

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


def metadata(delivery: Delivery, output: OutputDocument) -> dict[str, Any]:
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
    delivery: Delivery, outputs: Sequence[OutputDocument], config: dict[str, Any], credentials: Credentials
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
