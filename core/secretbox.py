"""Encryption at rest for destination credentials (DESIGN.md "Secrets stay secret").

Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from ``SMC_SECRET_BOX_KEY`` if set, else
from ``SECRET_KEY``. Values are stored as ``fernet:<token>``; the console never shows them back.
Rotating the key means re-entering the credentials (a decrypt failure says so, it never guesses).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

PREFIX = "fernet:"


class SecretUnreadable(Exception):
    """The stored secret was encrypted with another key; re-enter the credential."""


def _fernet() -> Fernet:
    material = getattr(settings, "SECRET_BOX_KEY", "") or settings.SECRET_KEY
    key = hashlib.sha256(("opendsm-secret-box:" + material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(plaintext: str) -> str:
    if not plaintext:
        return ""
    return PREFIX + _fernet().encrypt(plaintext.encode()).decode()


def unseal(stored: str) -> str:
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        raise SecretUnreadable("stored secret is not in the expected format")
    try:
        return _fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("stored secret was sealed with another key; re-enter the credential") from None
