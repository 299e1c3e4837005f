"""Bounds of what a device sends, checked against the columns it goes into, before any write.

Everything a device puts on the wire that the scan server stores (a DocumentId, a Format, a MIME
part's Content-Type, a SID, a DocumentRootName, ...) is checked here first, so an out-of-range
value is a SOAP Sender fault naming the field — never a database error (an ``OverflowError`` on
SQLite, a ``DataError`` on PostgreSQL) after the part was already moved into the spool.

The limits are read from the model fields themselves: a ``CharField``'s ``max_length`` and, for
integer fields, the range Django documents for the field type
(``BaseDatabaseOperations.integer_field_ranges``: PostgreSQL's and most databases' column
widths). SQLite stores wider integers, but the same range is enforced on every database so a
value accepted in development cannot overflow in production. DocumentId is 1-based (DESIGN.md
decision 4), so its lower bound is 1, not the column's 0.
"""

from __future__ import annotations

import logging

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations

from devices.protocols import dsp, mtom, soap
from scanserver.models import ScanJob, ScanPage

logger = logging.getLogger(__name__)

FIRST_DOCUMENT_ID = 1  # DESIGN.md decision 4: DocumentIds count from 1


def int_range(model: type[models.Model], field: str) -> tuple[int, int]:
    """The (minimum, maximum) an integer column of ``model`` holds on every supported database."""
    column = model._meta.get_field(field)
    assert isinstance(column, models.Field), "%s.%s is not a column" % (model.__name__, field)
    internal = column.get_internal_type()
    low, high = BaseDatabaseOperations.integer_field_ranges[internal]
    return low, high


def max_length(model: type[models.Model], field: str) -> int:
    """The ``max_length`` of a character column of ``model``."""
    column = model._meta.get_field(field)
    length = column.max_length if isinstance(column, models.Field) else None
    assert isinstance(length, int), "%s.%s has no max_length" % (model.__name__, field)
    return length


DOCUMENT_ID_RANGE = (FIRST_DOCUMENT_ID, int_range(ScanPage, "document_id")[1])
SIZE_RANGE = int_range(ScanPage, "size")
MAX_FORMAT = max_length(ScanPage, "format")
MAX_CONTENT_TYPE = max_length(ScanPage, "content_type")
MAX_USER_SID = max_length(ScanJob, "user_sid")
MAX_USER_NAME = max_length(ScanJob, "user_name")
MAX_DISPLAY_NAME = max_length(ScanJob, "psp_display_name")
MAX_PSP_IDENTIFIER = max_length(ScanJob, "psp_identifier")
MAX_DOCUMENT_ROOT_NAME = max_length(ScanJob, "document_root_name")


def refuse(field: str, reason: str, fault: tuple[str, str] = dsp.FAULT_INVALID_ARGS) -> soap.SoapFault:
    """The Sender fault for a value out of bounds, with its log line."""
    logger.warning("refused %s from the wire: %s", field, reason)
    return soap.SoapFault.sender(fault, "%s %s" % (field, reason))


def check_int(
    field: str, value: int, bounds: tuple[int, int], fault: tuple[str, str] = dsp.FAULT_INVALID_ARGS
) -> int:
    low, high = bounds
    if not low <= value <= high:
        raise refuse(field, "must be between %d and %d, not %d" % (low, high, value), fault)
    return value


def check_str(field: str, value: str, limit: int, fault: tuple[str, str] = dsp.FAULT_INVALID_ARGS) -> str:
    if len(value) > limit:
        raise refuse(field, "is %d characters, over the limit of %d" % (len(value), limit), fault)
    return value


def check_document(document_id: int, fmt: str, part: mtom.SpooledPart) -> None:
    """A document (SendImage, or a WSD RetrieveImage) fits its ScanPage row."""
    check_int("DocumentId", document_id, DOCUMENT_ID_RANGE)
    check_str("Format", fmt, MAX_FORMAT)
    check_str("the MIME part's Content-Type", part.content_type, MAX_CONTENT_TYPE)
    check_int("the MIME part's size", part.size, SIZE_RANGE)


def check_create(req: dsp.CreatePostScanJobRequest) -> None:
    """A CreatePostScanJob's device-sent values fit their ScanJob columns."""
    check_str("UserIdentifier", req.user_identifier, MAX_USER_SID)
    check_str("DocumentRootName", req.instructions.document_root_name, MAX_DOCUMENT_ROOT_NAME)


def check_job_names(user_name: str, display_name: str) -> None:
    """Names resolved for a new job (directory user, process display name) fit their columns."""
    check_str("the user name", user_name, MAX_USER_NAME)
    check_str("the scan process's display name", display_name, MAX_DISPLAY_NAME)
