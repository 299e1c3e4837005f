"""E-mail destination (psp ``emlf:EmailConfig``): the documents as attachments over SMTP.

``config``: ``{"addresses": [...], "send_to_scan_user": bool, "can_add_addresses": bool,
"smtp_host": str, "smtp_port": int, "starttls": bool, "ssl": bool, "from": str, "ca_file": str,
"max_bytes": int}`` — the device's instructions may replace ``addresses`` and
``send_to_scan_user`` where the process allows it (``can_add_addresses``); the SMTP keys
default to Django's ``EMAIL_HOST``/``EMAIL_PORT``/``EMAIL_USE_TLS``/``EMAIL_USE_SSL``/
``DEFAULT_FROM_EMAIL``. The destination's username/password, when set, are used for SMTP AUTH
(after STARTTLS: credentials never cross the network in clear when ``starttls`` is on).

The scanning user's address comes from the directory (``resolve_sid(job.user_sid).email``); a user
without one is a clear error (UnableToSendEmail), not a silent skip. Mail cannot be read back, so
receipts are ``verified: false``; the Message-ID is derived from the job and delivery so that a
re-send after a crash carries the same id (mail clients fold duplicates by it).
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings

from devices.protocols import psp
from scanprocesses.destinations.base import (
    INVALID_ARGS,
    INVALID_SMTP_SERVER,
    TARGETS,
    UNABLE_TO_SEND_EMAIL,
    Credentials,
    Delivery,
    DeliveryError,
    Document,
    Receipt,
    invalid,
    lines,
    receipt,
    strings,
    targets_field,
)

log = logging.getLogger(__name__)

DIALECT = psp.DIALECT_EMAIL
NEEDS_CREDENTIAL = False  # SMTP defaults come from the settings; a login is optional
SERIAL_TESTS = False  # test messages may go out alongside other tests

FIELDS: dict[str, forms.Field] = {
    TARGETS: targets_field("Addresses", "addresses (one per line)"),
    "send_to_scan_user": forms.BooleanField(required=False, label="Send to the scanning user"),
    "can_add_addresses": forms.BooleanField(required=False, label="User may add addresses"),
}

_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def initial(config: dict[str, Any]) -> dict[str, Any]:
    """The form values showing ``config`` (the inverse of :func:`clean_config`)."""
    return {
        TARGETS: "\n".join(config.get("addresses", [])),
        "send_to_scan_user": bool(config.get("send_to_scan_user")),
        "can_add_addresses": bool(config.get("can_add_addresses")),
    }


def clean_config(data: dict[str, Any]) -> dict[str, Any]:
    """The config of the form's cleaned ``data``; ValidationError next to the field otherwise."""
    addresses = lines(data.get(TARGETS))
    for address in addresses:
        if not _EMAIL.match(address):
            raise invalid("%r is not an e-mail address" % address)
    if not addresses and not data.get("send_to_scan_user"):
        raise invalid("give an address or send to the scanning user")
    return {
        "addresses": addresses,
        "send_to_scan_user": bool(data.get("send_to_scan_user")),
        "can_add_addresses": bool(data.get("can_add_addresses")),
    }


def to_filter(config: dict[str, Any], has_secret: bool = False) -> psp.AnyFilter:
    return psp.Filter.of(
        psp.EmailConfig(
            send_to_scan_user=bool(config.get("send_to_scan_user")),
            addresses=strings(config, "addresses"),
            can_add_addresses=bool(config.get("can_add_addresses")),
        )
    )


def from_filter(item: psp.AnyFilter) -> dict[str, Any]:
    if not (isinstance(item, psp.Filter) and isinstance(item.instructions, psp.EmailConfig)):
        raise TypeError("not an e-mail filter: %s" % item.dialect)
    i = item.instructions
    return {
        "addresses": list(i.addresses),
        "send_to_scan_user": bool(i.send_to_scan_user),
        "can_add_addresses": bool(i.can_add_addresses),
    }


def apply_instructions(config: dict[str, Any], item: psp.AnyFilter) -> dict[str, Any]:
    """``config`` with the recipients the device's filter names (already checked against the
    process); ``send_to_scan_user`` only when the device says."""
    out = dict(config)
    if isinstance(item, psp.Filter) and isinstance(item.instructions, psp.EmailConfig):
        out["addresses"] = list(item.instructions.addresses)
        if item.instructions.send_to_scan_user is not None:
            out["send_to_scan_user"] = item.instructions.send_to_scan_user
    return out


def target_text(config: dict[str, Any]) -> str:
    text = ", ".join(config.get("addresses") or [])
    if config.get("send_to_scan_user"):
        text = text + " + scanning user" if text else "the scanning user"
    return text


def describe(config: dict[str, Any]) -> str:
    text = ", ".join(strings(config, "addresses")) + (
        " + scanning user" if config.get("send_to_scan_user") else ""
    )
    if config.get("can_add_addresses"):
        text += " (user may add addresses)"
    return text


TIMEOUT = 30
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "host": str(config.get("smtp_host") or getattr(settings, "EMAIL_HOST", "localhost")),
        "port": int(config.get("smtp_port") or getattr(settings, "EMAIL_PORT", 25) or 25),
        "starttls": bool(config.get("starttls", getattr(settings, "EMAIL_USE_TLS", False))),
        "ssl": bool(config.get("ssl", getattr(settings, "EMAIL_USE_SSL", False))),
        "from": str(config.get("from") or getattr(settings, "DEFAULT_FROM_EMAIL", "opendsm@localhost")),
        "ca_file": str(config.get("ca_file") or ""),
        "max_bytes": int(config.get("max_bytes") or DEFAULT_MAX_BYTES),
    }


def _tls_context(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file or None)


def scan_user_address(user_sid: str) -> str:
    from directory.backends import get_directory

    user = get_directory().resolve_sid(user_sid) if user_sid else None
    if user is None:
        raise DeliveryError(
            "the scanning user (%s) is not in the directory; cannot mail them" % (user_sid or "no SID"),
            UNABLE_TO_SEND_EMAIL,
            retryable=False,
        )
    if not user.email:
        raise DeliveryError(
            "the scanning user %s has no e-mail address" % user.username, UNABLE_TO_SEND_EMAIL, False
        )
    return str(user.email)


def recipients(delivery: Delivery, config: dict[str, Any]) -> list[str]:
    found = [str(a).strip() for a in config.get("addresses") or [] if str(a).strip()]
    if config.get("send_to_scan_user"):
        found.append(scan_user_address(delivery.job.user_sid))
    unique = list(dict.fromkeys(found))
    if not unique:
        raise DeliveryError("the e-mail destination has no recipient", INVALID_ARGS, retryable=False)
    for address in unique:
        if "@" not in address or any(c in address for c in "\r\n<>,;"):
            raise DeliveryError("%r is not an e-mail address" % address, INVALID_ARGS, retryable=False)
    return unique


def _connect(opts: dict[str, Any], credentials: Credentials) -> smtplib.SMTP:
    try:
        if opts["ssl"]:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                opts["host"], opts["port"], timeout=TIMEOUT, context=_tls_context(opts["ca_file"])
            )
        else:
            client = smtplib.SMTP(opts["host"], opts["port"], timeout=TIMEOUT)
        client.ehlo()
        if opts["starttls"]:
            client.starttls(context=_tls_context(opts["ca_file"]))
            client.ehlo()
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        raise DeliveryError(
            "cannot talk to the SMTP server %s:%d: %s" % (opts["host"], opts["port"], exc),
            INVALID_SMTP_SERVER,
        ) from exc
    if credentials.username:
        try:
            client.login(credentials.username, credentials.password)
        except smtplib.SMTPAuthenticationError as exc:
            client.close()
            raise DeliveryError("SMTP login refused: %s" % exc, INVALID_SMTP_SERVER, retryable=False) from exc
        except (OSError, smtplib.SMTPException) as exc:
            client.close()
            raise DeliveryError("SMTP login failed: %s" % exc, INVALID_SMTP_SERVER) from exc
    return client


def build_message(
    delivery: Delivery, outputs: Sequence[Document], sender: str, to: list[str], max_bytes: int
) -> EmailMessage:
    job = delivery.job
    total = sum(o.size for o in outputs)
    if total > max_bytes:
        raise DeliveryError(
            "the documents are %d bytes; the mail limit is %d" % (total, max_bytes),
            UNABLE_TO_SEND_EMAIL,
            False,
        )
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = "Scan: %s" % (job.document_root_name or job.psp_display_name or "document")
    msg["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2] or "opendsm.invalid"
    msg["Message-ID"] = "<scan-%s-%d@%s>" % (job.token, delivery.pk, domain)
    lines = ["Scanned by %s." % (job.user_name or "a user"), ""]
    lines += ["%s (%d bytes, sha256 %s)" % (o.name, o.size, o.sha256) for o in outputs]
    msg.set_content("\n".join(lines))
    for output in outputs:
        maintype, _, subtype = output.content_type.partition("/")
        msg.add_attachment(
            Path(output.path).read_bytes(),
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=output.name,
        )
    return msg


def deliver(
    delivery: Delivery, outputs: Sequence[Document], config: dict[str, Any], credentials: Credentials
) -> list[Receipt]:
    opts = _settings(config)
    to = recipients(delivery, config)
    msg = build_message(delivery, outputs, opts["from"], to, opts["max_bytes"])
    client = _connect(opts, credentials)
    try:
        refused = client.send_message(msg, from_addr=opts["from"], to_addrs=to)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            "every recipient was refused: %s" % exc.recipients, UNABLE_TO_SEND_EMAIL, False
        ) from exc
    except (TimeoutError, OSError, smtplib.SMTPException) as exc:
        raise DeliveryError("sending the mail failed: %s" % exc, UNABLE_TO_SEND_EMAIL) from exc
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
    accepted = [a for a in to if a not in refused]
    where = "smtp://%s:%d to %s" % (opts["host"], opts["port"], ", ".join(accepted))
    log.info("mailed %d documents of job %s to %s", len(outputs), delivery.job.token, ", ".join(accepted))
    return [
        receipt(o.name, where, o.size, o.sha256, False, message_id=msg["Message-ID"], refused=sorted(refused))
        for o in outputs
    ]


def test_write(config: dict[str, Any], credentials: Credentials) -> str:
    opts = _settings(config)
    to = [str(a).strip() for a in config.get("addresses") or [] if str(a).strip()]
    client = _connect(opts, credentials)
    try:
        if to:
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = opts["from"], ", ".join(to), "OpenDSM destination test"
            msg.set_content("This is a test message from the OpenDSM console.")
            client.send_message(msg)
            return "sent a test message to %s via %s:%d" % (", ".join(to), opts["host"], opts["port"])
        client.noop()
        return "connected to %s:%d (no fixed address to send a test message to)" % (
            opts["host"],
            opts["port"],
        )
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError("test message failed: %s" % exc, UNABLE_TO_SEND_EMAIL) from exc
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
