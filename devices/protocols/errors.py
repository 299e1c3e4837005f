"""Errors shared by the protocol layer (PROTOCOL.md §4 faults start here).

A :class:`ProtocolError` means "this XML is not a message we accept": a missing required
element, a value outside its enumeration or range, a number that is not a number. It is a
``ValueError`` so callers that only know "bad input" still catch it; ``str(exc)`` is worded
to be put into a SOAP fault Reason as is.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """Well-formed XML that breaks the protocol's rules; the message says which rule, where."""
